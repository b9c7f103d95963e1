//! An initialised app: `init` at creation, `call` per request, `shutdown` at the end.
//!
//! Owns the host table and host data given to the app, and the rule that an app without
//! `NSGI_APP_THREAD_SAFE` is never entered by two threads at once (every call into it takes one
//! lock). It does not know about HTTP.

use super::callbacks::host_api;
use super::handle::{self, Serving};
use super::load::AppModule;
use super::observe::{Observer, RequestId};
use super::request_state::HostShared;
use super::validate::ResponseHeadLimits;
use crate::sys::{
    NSGI_E_PANIC, NSGI_ENV_MULTIPROCESS, NSGI_ENV_MULTITHREAD, NSGI_INIT_ARGS_V1_0_SIZE, NSGI_OK, nsgi_body,
    nsgi_bytes, nsgi_environ, nsgi_header, nsgi_host_api, nsgi_init_args, nsgi_status,
};
use core::ffi::c_void;
use core::fmt;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How an app instance is set up.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Name of this instance (for logs and `init_args.mount_name`).
    pub mount_name: String,
    /// Mount prefix, becomes SCRIPT_NAME; empty for the root.
    pub script_name: String,
    /// The app's own configuration (opaque to the host; JSON text by convention).
    pub config: Vec<u8>,
    /// Flat key/value options.
    pub options: Vec<(String, String)>,
    /// The host may call the app from several threads at once.
    pub multithread: bool,
    /// Other processes serve the same app.
    pub multiprocess: bool,
    /// The most calls the host will make at once.
    pub max_concurrency: u32,
    /// How large a response head `start_response` accepts (past it: `NSGI_E_TOO_LARGE`).
    pub response_head_limits: ResponseHeadLimits,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            mount_name: "app".to_owned(),
            script_name: String::new(),
            config: Vec::new(),
            options: Vec::new(),
            multithread: false,
            multiprocess: false,
            max_concurrency: 1,
            response_head_limits: ResponseHeadLimits::default(),
        }
    }
}

/// `init` refused to create the instance.
#[derive(Debug)]
pub struct InitError {
    /// The app (library path or built-in name).
    pub origin: String,
    /// The status `init` returned.
    pub status: nsgi_status,
    /// What the app logged during `init`.
    pub messages: Vec<String>,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.status == NSGI_E_PANIC {
            "panicked".to_owned()
        } else {
            format!("failed ({})", self.status)
        };
        write!(f, "{}: app init {what}", self.origin)?;
        if let Some(last) = self.messages.last() {
            write!(f, ": {last}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InitError {}

/// A live app instance.
pub struct AppInstance {
    module: AppModule,
    app: *mut c_void,
    shared: Lent<HostShared>,
    api: Lent<nsgi_host_api>,
    serial: Option<Mutex<()>>,
    env_flags: u32,
    shut_down: bool,
    observer: Option<Arc<dyn Observer>>,
    last_request_id: AtomicU64,
}

// SAFETY: an app is either declared thread-safe (NSGI_APP_THREAD_SAFE: its `call`/`next`/`close`
// may run concurrently) or every call into it takes `serial`, so sharing the instance between
// threads never runs the app concurrently against its declaration. The host table and shared data
// are immutable apart from the init-log mutex.
unsafe impl Send for AppInstance {}
// SAFETY: see above.
unsafe impl Sync for AppInstance {}

impl AppInstance {
    /// Calls the app's `init`.
    pub fn init(module: &AppModule, options: &InitOptions) -> Result<AppInstance, InitError> {
        Self::init_with(module, options, None)
    }

    /// Calls the app's `init`, then reports every ABI interaction of every request to `observer`
    /// (see [`observe`](super::observe)). The observer never changes what the host does.
    pub fn init_observed(
        module: &AppModule,
        options: &InitOptions,
        observer: Arc<dyn Observer>,
    ) -> Result<AppInstance, InitError> {
        Self::init_with(module, options, Some(observer))
    }

    fn init_with(
        module: &AppModule,
        options: &InitOptions,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<AppInstance, InitError> {
        let shared = Lent::new(HostShared {
            mount: options.mount_name.clone(),
            head_limits: options.response_head_limits,
            init_log: Mutex::new(Some(Vec::new())),
        });
        let api = Lent::new(host_api(shared.as_ptr(), true));
        let thread_safe = module.thread_safe();
        let env_flags = if options.multithread && thread_safe {
            NSGI_ENV_MULTITHREAD
        } else {
            0
        } | if options.multiprocess { NSGI_ENV_MULTIPROCESS } else { 0 };
        let option_pairs: Vec<nsgi_header> = options
            .options
            .iter()
            .map(|(k, v)| nsgi_header {
                name: nsgi_bytes::from_slice(k.as_bytes()),
                value: nsgi_bytes::from_slice(v.as_bytes()),
            })
            .collect();
        let args = nsgi_init_args {
            struct_size: NSGI_INIT_ARGS_V1_0_SIZE,
            flags: env_flags,
            mount_name: nsgi_bytes::from_slice(options.mount_name.as_bytes()),
            script_name: nsgi_bytes::from_slice(options.script_name.as_bytes()),
            config: nsgi_bytes::from_slice(&options.config),
            options: if option_pairs.is_empty() {
                core::ptr::null()
            } else {
                option_pairs.as_ptr()
            },
            n_options: option_pairs.len(),
            max_concurrency: options.max_concurrency.max(1),
        };
        let mut app: *mut c_void = core::ptr::null_mut();
        let descriptor = module.descriptor();
        let status = match descriptor.init {
            // SAFETY: the app's own init with a host table and args that outlive the call, and an
            // out-pointer for its instance.
            Some(init) => unsafe { init(api.as_ptr(), &args, &mut app) },
            None => crate::sys::NSGI_E_UNSUPPORTED,
        };
        let messages = shared
            .get()
            .init_log
            .lock()
            .map(|mut log| log.take().unwrap_or_default())
            .unwrap_or_default();
        if status != NSGI_OK {
            return Err(InitError {
                origin: module.origin().display().to_string(),
                status,
                messages,
            });
        }
        Ok(AppInstance {
            module: *module,
            app,
            shared,
            api,
            serial: (!thread_safe).then(|| Mutex::new(())),
            env_flags,
            shut_down: false,
            observer,
            last_request_id: AtomicU64::new(0),
        })
    }

    /// The observer this instance reports to, if any.
    pub fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.as_ref()
    }

    /// A fresh request id.
    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId(self.last_request_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// The module this instance runs.
    pub fn module(&self) -> &AppModule {
        &self.module
    }

    /// The `NSGI_ENV_*` flags every request of this instance carries.
    pub fn env_flags(&self) -> u32 {
        self.env_flags
    }

    /// The instance's mount name.
    pub fn mount_name(&self) -> &str {
        &self.shared.get().mount
    }

    pub(crate) fn shared(&self) -> *const HostShared {
        self.shared.as_ptr()
    }

    pub(crate) fn invoke_call(
        &self,
        serving: Serving,
        environ: *const nsgi_environ,
        body: &mut nsgi_body,
    ) -> nsgi_status {
        let Some(call) = self.module.descriptor().call else {
            return crate::sys::NSGI_E_UNSUPPORTED;
        };
        let app = self.app;
        self.enter(serving, || {
            // SAFETY: the app's own call with its instance, a live request, a sealed environ that
            // outlives the request, and an out-pointer for the body.
            unsafe { call(app, serving.handle(), environ, body) }
        })
    }

    /// Runs `call_app`, one call into the app for `serving`'s request, under the serialisation
    /// lock (when the app needs it) with this thread serving that request, so that the request
    /// functions accept its handle and no other (see [`handle`](super::handle)).
    #[inline(always)]
    pub(crate) fn enter<T>(&self, serving: Serving, call_app: impl FnOnce() -> T) -> T {
        self.serialized(|| handle::serve(serving, call_app))
    }

    /// Runs `f` holding the serialisation lock when the app is not thread-safe.
    #[inline(always)]
    pub(crate) fn serialized<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard: Option<MutexGuard<'_, ()>> = self
            .serial
            .as_ref()
            .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        f()
    }

    /// Calls the app's `shutdown`. Every exchange must have ended (the borrow checker sees to it).
    pub fn shutdown(mut self) {
        self.shutdown_once();
    }

    fn shutdown_once(&mut self) {
        if self.shut_down {
            return;
        }
        self.shut_down = true;
        if let Some(shutdown) = self.module.descriptor().shutdown {
            let app = self.app;
            // SAFETY: the app's own shutdown with its instance; no request is in flight because
            // exchanges borrow the instance.
            self.serialized(|| unsafe { shutdown(app) });
        }
        // Keep the table alive until here: the app may use it during shutdown.
        let _ = &self.api;
    }
}

impl Drop for AppInstance {
    fn drop(&mut self) {
        self.shutdown_once();
    }
}

/// A heap value whose address is lent to the app (the host table, the host data): held by raw
/// pointer, so that moving the owner (as returning an [`AppInstance`] does) never invalidates
/// the pointer the app keeps, as moving a `Box` would under Rust's aliasing rules. Freed on drop.
struct Lent<T>(core::ptr::NonNull<T>);

impl<T> Lent<T> {
    fn new(value: T) -> Lent<T> {
        Lent(core::ptr::NonNull::from(Box::leak(Box::new(value))))
    }

    /// The address lent to the app.
    fn as_ptr(&self) -> *const T {
        self.0.as_ptr()
    }

    fn get(&self) -> &T {
        // SAFETY: allocated in `new` and freed only in `drop`; the app only ever reads through
        // the lent pointer (the host data's one mutable part is behind a `Mutex`).
        unsafe { self.0.as_ref() }
    }
}

impl<T> Drop for Lent<T> {
    fn drop(&mut self) {
        // SAFETY: made from a `Box` in `new` and freed only here; the owning instance has shut
        // the app down before its fields drop, so nothing uses the lent pointer any more.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}
