//! Exporting an app: the descriptor, the `init`/`call`/`shutdown` trampolines, and the macros.
//!
//! This module owns the bridge from the host's `extern "C"` calls to [`App`]'s methods. The
//! trampolines are generic functions here; [`export_app!`](crate::export_app) and
//! [`app_descriptor!`](crate::app_descriptor) only name the app type, building a `static`
//! descriptor in the app's crate (where `cfg!(panic = "unwind")` and the crate name are known).
//! Every trampoline checks its pointers, catches panics (logging them through the host), and never
//! lets one cross the boundary. An app whose `call` panicked is replaced by a fresh one: `App::init`
//! runs again with a copy of the original arguments, and the panicked value is never touched
//! again (it is leaked, not dropped).

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use super::error;
use super::host::{Host, Level, RawRequest};
use super::init::InitArgs;
use super::panic::catch;
use super::request::Request;
use super::response::StartResponse;
use super::{App, SDK_INFO};
use crate::sys::{
    self, nsgi_app_descriptor, nsgi_body, nsgi_bytes, nsgi_environ, nsgi_header, nsgi_host_api, nsgi_init_args,
    nsgi_request, nsgi_status,
};

/// Name used when neither [`App::NAME`] nor the crate name is known.
const FALLBACK_NAME: &str = "nsgi-app";

/// Exports `$app` (a type implementing [`App`](crate::app::App)) as this library's NSGI app.
///
/// Expands to the one symbol a v1 app library exports,
/// `#[unsafe(no_mangle)] pub extern "C" fn nsgi_app_entry_v1() -> *const nsgi_app_descriptor`,
/// returning the static descriptor [`app_descriptor!`](crate::app_descriptor) builds. Use it
/// once per `cdylib` crate (a second use is a duplicate-symbol error).
///
/// ```
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
///
/// struct Hello;
///
/// impl App for Hello {
///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
///         Ok(Hello)
///     }
///
///     fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         Ok(start.start("200 OK", &[("Content-Type", "text/plain")])?.body("Hello, World!"))
///     }
/// }
///
/// nsgi::export_app!(Hello);
/// ```
#[macro_export]
macro_rules! export_app {
    ($app:ty) => {
        /// The NSGI v1 entry point: returns this library's static app descriptor.
        #[unsafe(no_mangle)]
        pub extern "C" fn nsgi_app_entry_v1() -> *const $crate::sys::nsgi_app_descriptor {
            $crate::app_descriptor!($app)
        }
    };
}

/// Evaluates to `&'static nsgi_app_descriptor` for `$app` without exporting a symbol.
///
/// A host binary uses it to link an app directly (no library to load); tests use it to drive an
/// app through the ABI. The descriptor's name is [`App::NAME`](crate::app::App::NAME), or the
/// name of the crate invoking the macro when that is empty.
///
/// ```
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
/// use nsgi::sys;
///
/// struct Builtin;
///
/// impl App for Builtin {
///     const NAME: &'static str = "builtin";
///     const THREAD_SAFE: bool = false;
///
///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
///         Ok(Builtin)
///     }
///
///     fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         Ok(start.start("204 No Content", &[])?.finish())
///     }
/// }
///
/// let descriptor: &'static sys::nsgi_app_descriptor = nsgi::app_descriptor!(Builtin);
/// assert_eq!(descriptor.abi_major, sys::NSGI_ABI_MAJOR);
/// assert_eq!(descriptor.flags & sys::NSGI_APP_THREAD_SAFE, 0);
/// assert!(descriptor.init.is_some() && descriptor.call.is_some());
/// ```
#[macro_export]
macro_rules! app_descriptor {
    ($app:ty) => {{
        static NSGI_APP_DESCRIPTOR: $crate::sys::nsgi_app_descriptor = $crate::app::__private::descriptor::<$app>(
            match ::core::option_env!("CARGO_PKG_NAME") {
                ::core::option::Option::Some(name) => name,
                ::core::option::Option::None => "",
            },
            ::core::cfg!(panic = "unwind"),
        );
        &NSGI_APP_DESCRIPTOR
    }};
}

/// The descriptor for `T`. `crate_name` and `panic_unwind` must be evaluated in the app's crate,
/// which is why the macros pass them in.
#[doc(hidden)]
pub const fn descriptor<T: App>(crate_name: &'static str, panic_unwind: bool) -> nsgi_app_descriptor {
    let name = if !T::NAME.is_empty() {
        T::NAME
    } else if !crate_name.is_empty() {
        crate_name
    } else {
        FALLBACK_NAME
    };
    let mut flags = 0;
    if T::THREAD_SAFE {
        flags |= sys::NSGI_APP_THREAD_SAFE;
    }
    if !panic_unwind {
        flags |= sys::NSGI_APP_PANIC_ABORT;
    }
    nsgi_app_descriptor {
        magic: sys::NSGI_APP_MAGIC,
        abi_major: sys::NSGI_ABI_MAJOR,
        abi_minor: sys::NSGI_ABI_MINOR,
        struct_size: sys::NSGI_APP_DESCRIPTOR_V1_0_SIZE,
        flags,
        name: nsgi_bytes::from_slice(name.as_bytes()),
        sdk_info: nsgi_bytes::from_slice(SDK_INFO.as_bytes()),
        init: Some(init_trampoline::<T>),
        call: Some(call_trampoline::<T>),
        shutdown: Some(shutdown_trampoline::<T>),
    }
}

/// What the host's `void *app` points to.
struct Instance<T> {
    /// The app value serving requests, from `Box::into_raw`. After a panic in `call` it is
    /// swapped for a fresh one; the value it replaces is leaked, never freed: other threads may
    /// still be inside its `call`, and a value a panic left half-changed is never touched again.
    app: AtomicPtr<T>,
    host: Host,
    /// A copy of `init`'s arguments, to make the fresh value with.
    init_args: SavedInitArgs,
    /// Held while a fresh value is being made, so one panic makes one.
    replacing: Mutex<()>,
    /// Making a fresh value failed: refuse every later request.
    poisoned: AtomicBool,
}

impl<T: App> Instance<T> {
    /// After a panic in `call` on `panicked`: makes a fresh app value (unless another thread
    /// already replaced that one) and says what happened, for the log.
    fn replace_after_panic(&self, panicked: *mut T) -> &'static str {
        let _guard = self.replacing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.poisoned.load(Ordering::Acquire) {
            return "the app refuses every later request (re-initialising it failed earlier)";
        }
        if self.app.load(Ordering::Acquire) != panicked {
            return "the app instance was already replaced by a fresh one";
        }
        let fresh = self.init_args.with_raw(|raw| {
            // SAFETY: `raw` and every buffer it points to are owned by `init_args` and live
            // until `with_raw` returns, which `args` does not outlive.
            let args = unsafe { InitArgs::new(raw, &self.host) };
            catch(|| T::init(&args).map_err(|e| error::chain(&*e)))
        });
        match fresh {
            Ok(Ok(app)) => {
                self.app.store(Box::into_raw(Box::new(app)), Ordering::Release);
                "initialised a fresh instance of the app for the next requests (App::init ran again)"
            }
            Ok(Err(message)) => {
                self.poisoned.store(true, Ordering::Release);
                self.host.log(
                    Level::Error,
                    &format!("re-initialising the app after a panic failed: {message}"),
                );
                "re-initialising the app failed: it refuses every later request"
            }
            Err(panic) => {
                self.poisoned.store(true, Ordering::Release);
                self.host.log(
                    Level::Error,
                    &format!("re-initialising the app after a panic panicked: {panic}"),
                );
                "re-initialising the app failed: it refuses every later request"
            }
        }
    }
}

/// The host's `nsgi_init_args`, copied out of host memory.
struct SavedInitArgs {
    flags: u32,
    mount_name: Vec<u8>,
    script_name: Vec<u8>,
    config: Vec<u8>,
    options: Vec<(Vec<u8>, Vec<u8>)>,
    max_concurrency: u32,
}

impl SavedInitArgs {
    fn copy(args: &InitArgs<'_>) -> SavedInitArgs {
        SavedInitArgs {
            flags: args.raw_flags(),
            mount_name: args.mount_name_bytes().to_vec(),
            script_name: args.script_name_bytes().to_vec(),
            config: args.config().to_vec(),
            options: args.options().map(|(k, v)| (k.to_vec(), v.to_vec())).collect(),
            max_concurrency: args.max_concurrency(),
        }
    }

    /// Runs `f` with an `nsgi_init_args` pointing into this copy.
    fn with_raw<R>(&self, f: impl FnOnce(&nsgi_init_args) -> R) -> R {
        let options: Vec<nsgi_header> = self
            .options
            .iter()
            .map(|(name, value)| nsgi_header {
                name: nsgi_bytes::from_slice(name),
                value: nsgi_bytes::from_slice(value),
            })
            .collect();
        let raw = nsgi_init_args {
            struct_size: sys::NSGI_INIT_ARGS_V1_0_SIZE,
            flags: self.flags,
            mount_name: nsgi_bytes::from_slice(&self.mount_name),
            script_name: nsgi_bytes::from_slice(&self.script_name),
            config: nsgi_bytes::from_slice(&self.config),
            options: if options.is_empty() {
                ptr::null()
            } else {
                options.as_ptr()
            },
            n_options: options.len(),
            max_concurrency: self.max_concurrency,
        };
        f(&raw)
    }
}

/// `init`: reads the host table and the arguments, then runs [`App::init`].
///
/// # Safety
/// The host's side of the ABI contract for `init`: `host` and `args` valid as documented in
/// `sys`, `app_out` writable, or any of them NULL (refused with `NSGI_E_INVAL`).
unsafe extern "C" fn init_trampoline<T: App>(
    host: *const nsgi_host_api,
    args: *const nsgi_init_args,
    app_out: *mut *mut c_void,
) -> nsgi_status {
    if app_out.is_null() || host.is_null() {
        return sys::NSGI_E_INVAL;
    }
    // SAFETY: `app_out` is non-NULL and writable per the contract.
    unsafe { app_out.write(ptr::null_mut()) };
    // SAFETY: `host` is non-NULL, and the host keeps the table valid until `shutdown` returns;
    // we revoke our handle before that (in `shutdown`, or below when init fails).
    let host = unsafe { Host::from_raw(host) };
    // SAFETY: non-NULL `args` points to at least `struct_size`, its first field.
    let args_size = if args.is_null() {
        0
    } else {
        unsafe { args.cast::<u32>().read() }
    };
    if args_size < sys::NSGI_INIT_ARGS_V1_0_SIZE {
        host.log(
            Level::Error,
            "init refused: the init arguments are missing or too small",
        );
        host.revoke();
        return sys::NSGI_E_INVAL;
    }
    // SAFETY: `args` is non-NULL and its `struct_size` covers the whole v1.0 struct; the host
    // keeps it and its buffers valid during `init`, which `init_args` does not outlive.
    let init_args = unsafe { InitArgs::new(&*args, &host) };
    // The error is formatted inside `catch`: its `Display` is app code too.
    let outcome = catch(|| T::init(&init_args).map_err(|e| error::chain(&*e)));
    let saved = SavedInitArgs::copy(&init_args);
    match outcome {
        Ok(Ok(app)) => {
            let instance = Box::new(Instance {
                app: AtomicPtr::new(Box::into_raw(Box::new(app))),
                host,
                init_args: saved,
                replacing: Mutex::new(()),
                poisoned: AtomicBool::new(false),
            });
            // SAFETY: `app_out` is writable (checked above); the host owns the pointer until it
            // hands it back to `shutdown`.
            unsafe { app_out.write(Box::into_raw(instance).cast()) };
            sys::NSGI_OK
        }
        Ok(Err(message)) => {
            host.log(Level::Error, &format!("init failed: {message}"));
            host.revoke();
            sys::NSGI_E_APP
        }
        Err(panic) => {
            host.log(Level::Error, &format!("init panicked: {panic}"));
            host.revoke();
            sys::NSGI_E_PANIC
        }
    }
}

/// `call`: wraps the request and runs [`App::call`], handing the body to the host.
///
/// # Safety
/// The host's side of the ABI contract for `call`: `app` from a successful `init` and not shut
/// down, `req` and `environ` valid until the body's `close` returns, `body_out` writable.
unsafe extern "C" fn call_trampoline<T: App>(
    app: *mut c_void,
    req: *mut nsgi_request,
    environ: *const nsgi_environ,
    body_out: *mut nsgi_body,
) -> nsgi_status {
    if body_out.is_null() {
        return sys::NSGI_E_INVAL;
    }
    let no_body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    // SAFETY: `body_out` is non-NULL and writable per the contract.
    unsafe { body_out.write(no_body) };
    // SAFETY: a non-NULL `app` is the `Instance<T>` our `init` made, alive until `shutdown`.
    let Some(instance) = (unsafe { app.cast::<Instance<T>>().as_ref() }) else {
        return sys::NSGI_E_INVAL;
    };
    if instance.poisoned.load(Ordering::Acquire) {
        instance.host.log_for(
            req,
            Level::Error,
            b"request refused: the app panicked earlier and could not be re-initialised",
        );
        return sys::NSGI_E_PANIC;
    }
    let Some(req) = NonNull::new(req) else {
        instance
            .host
            .log(Level::Error, "request refused: the request handle is NULL");
        return sys::NSGI_E_INVAL;
    };
    // SAFETY: a non-NULL `environ` points to at least its first field, `struct_size`.
    let environ_size = if environ.is_null() {
        0
    } else {
        unsafe { environ.cast::<u32>().read() }
    };
    if environ_size < sys::NSGI_ENVIRON_V1_0_SIZE {
        instance
            .host
            .log_for(req.as_ptr(), Level::Error, b"request refused: bad environ");
        return sys::NSGI_E_INVAL;
    }
    // SAFETY: `req` is the host's request, valid (with `environ`) until the body is closed,
    // and `raw` and everything made from it live only until this function returns.
    let raw = unsafe { RawRequest::new(req, &instance.host) };
    // SAFETY: `environ` is non-NULL, covers the v1.0 struct, and stays valid as above.
    let mut request = unsafe { Request::new(raw, &*environ) };
    let start = StartResponse::new(raw);
    let current = instance.app.load(Ordering::Acquire);
    // SAFETY: `current` came from `Box::into_raw` and is never freed while the instance lives
    // (a replaced value is leaked; the current one is freed only by `shutdown`).
    let app = unsafe { &*current };
    // The error is formatted inside `catch`: its `Display` is app code too.
    let outcome = catch(|| app.call(&mut request, start).map_err(|e| error::chain(&*e)));
    match outcome {
        Ok(Ok(response)) => {
            let body = response.into_body().into_raw(&instance.host);
            // SAFETY: `body_out` is writable; the host now owns the body and will close it.
            unsafe { body_out.write(body) };
            sys::NSGI_OK
        }
        Ok(Err(message)) => {
            raw.log(Level::Error, &format!("request failed: {message}"));
            sys::NSGI_E_APP
        }
        Err(panic) => {
            let next = instance.replace_after_panic(current);
            raw.log(Level::Error, &format!("request panicked: {panic}; {next}"));
            sys::NSGI_E_PANIC
        }
    }
}

/// `shutdown`: runs [`App::shutdown`] on the current app value, drops it and revokes the host
/// handle. An instance whose re-initialisation failed is leaked instead of being touched again.
///
/// # Safety
/// `app` is NULL or the `Instance<T>` our `init` made; nothing uses it afterwards.
unsafe extern "C" fn shutdown_trampoline<T: App>(app: *mut c_void) {
    if app.is_null() {
        return;
    }
    // SAFETY: `app` came from `Box::into_raw` in `init_trampoline::<T>`, and the host hands it
    // back exactly once, here.
    let instance = unsafe { Box::from_raw(app.cast::<Instance<T>>()) };
    let host = instance.host.clone();
    if instance.poisoned.load(Ordering::Acquire) {
        host.log(Level::Warn, "shutdown: the app panicked earlier; leaving it untouched");
        std::mem::forget(instance);
    } else if let Err(panic) = catch(move || {
        // SAFETY: the current value came from `Box::into_raw`; no call is running any more (the
        // host calls `shutdown` last), so this is its only user.
        let app = unsafe { Box::from_raw(instance.app.load(Ordering::Acquire)) };
        app.shutdown();
        drop(app);
        drop(instance);
    }) {
        host.log(Level::Error, &format!("shutdown panicked: {panic}"));
    }
    host.revoke();
}
