//! The host's function table, and every call the SDK makes through it.
//!
//! This module owns [`Host`] (the handle to the `nsgi_host_api` given to `init`, with logging)
//! and `RawRequest` (the request pointer plus the table, used by the request-scoped wrappers).
//! All calls into host functions live here. None is made unless the table's `struct_size`
//! covers the field and the function pointer is non-NULL; a missing function is reported as
//! `NSGI_E_UNSUPPORTED`, never a crash. The table is read once, at `init`.

use std::ffi::c_void;
use std::fmt;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::{Arc, PoisonError, RwLock};

use super::error::HostError;
use crate::sys::{
    self, nsgi_body, nsgi_bytes, nsgi_errors_flush_fn, nsgi_errors_write_fn, nsgi_exc_info, nsgi_file_body_fn,
    nsgi_header, nsgi_host_api, nsgi_input_read_fn, nsgi_log_fn, nsgi_request, nsgi_start_response_fn, nsgi_status,
    nsgi_write_fn,
};

/// How important a log line is; mapped to the host's `NSGI_LOG_*` levels.
///
/// ```
/// use nsgi::app::Level;
///
/// assert!(Level::Error < Level::Debug);
/// assert_eq!(Level::Warn.to_raw(), nsgi::sys::NSGI_LOG_WARN);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something looks wrong.
    Warn,
    /// Normal operation worth recording.
    Info,
    /// Detail for debugging.
    Debug,
    /// Fine-grained tracing.
    Trace,
}

impl Level {
    /// The ABI value (`NSGI_LOG_*`).
    pub const fn to_raw(self) -> i32 {
        match self {
            Level::Error => sys::NSGI_LOG_ERROR,
            Level::Warn => sys::NSGI_LOG_WARN,
            Level::Info => sys::NSGI_LOG_INFO,
            Level::Debug => sys::NSGI_LOG_DEBUG,
            Level::Trace => sys::NSGI_LOG_TRACE,
        }
    }
}

/// A handle to the host that loaded the app: its log and its ABI version.
///
/// [`InitArgs::host`](super::InitArgs::host) and [`Request::host`](super::Request::host) lend
/// it. It is cheap to clone, and a clone may be kept in the app and used from any thread (the
/// host's log is thread-safe). Once the app has been shut down, the host's table may be gone:
/// from then on a kept handle silently drops log lines instead of calling into freed memory.
///
/// ```
/// use nsgi::app::{App, Error, Host, InitArgs, Level, Request, Response, StartResponse};
///
/// struct Audited {
///     host: Host,
/// }
///
/// impl App for Audited {
///     fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
///         let (major, minor) = args.host().abi_version();
///         args.host().log(Level::Info, &format!("host speaks NSGI {major}.{minor}"));
///         Ok(Audited { host: args.host().clone() })
///     }
///
///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         self.host.log(Level::Debug, req.path_info());
///         Ok(start.start("204 No Content", &[])?.finish())
///     }
/// }
/// # let _ = nsgi::app_descriptor!(Audited);
/// ```
#[derive(Clone)]
pub struct Host {
    shared: Arc<Shared>,
}

/// The table as read at `init`, and whether it may still be used.
struct Shared {
    table: Table,
    /// `false` once the app has been shut down. Held for reading during every log call, so
    /// that shutdown (which takes it for writing) waits for calls in flight on other threads.
    live: RwLock<bool>,
}

/// The fields of `nsgi_host_api` that the host's `struct_size` covers; absent ones are `None`.
#[derive(Clone, Copy)]
struct Table {
    abi_major: u16,
    abi_minor: u16,
    host_data: *mut c_void,
    log: Option<nsgi_log_fn>,
    input_read: Option<nsgi_input_read_fn>,
    errors_write: Option<nsgi_errors_write_fn>,
    errors_flush: Option<nsgi_errors_flush_fn>,
    start_response: Option<nsgi_start_response_fn>,
    write: Option<nsgi_write_fn>,
    file_body: Option<nsgi_file_body_fn>,
}

// SAFETY: the table is immutable after `init`. Its functions are either `[thread-safe]` (`log`,
// used with `host_data`) or `[request]`, and the request ones are only reachable through
// `RawRequest`, which is neither `Send` nor `Sync` and so stays on the thread the host called.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

/// Size of every function-pointer field of `nsgi_host_api` (`Option<fn>` is pointer-sized).
const FN_FIELD: usize = size_of::<Option<unsafe extern "C" fn()>>();

impl Host {
    /// Reads the host table, keeping only the fields its `struct_size` covers.
    ///
    /// # Safety
    /// `api` must be non-NULL and point to a host table whose first `struct_size` bytes are
    /// valid, unchanging and, with `host_data`, usable until [`Host::revoke`] is called.
    pub(crate) unsafe fn from_raw(api: *const nsgi_host_api) -> Host {
        // SAFETY: the caller promises a valid table; `struct_size` is its first field.
        let size = unsafe { ptr::addr_of!((*api).struct_size).read() } as usize;
        macro_rules! field {
            ($name:ident, $size:expr, $default:expr) => {
                if size >= offset_of!(nsgi_host_api, $name) + $size {
                    // SAFETY: `struct_size` covers this field, so it lies within the valid part
                    // of the table; reading it by value makes no reference past that part.
                    unsafe { ptr::addr_of!((*api).$name).read() }
                } else {
                    $default
                }
            };
        }
        let table = Table {
            abi_major: field!(abi_major, size_of::<u16>(), 0),
            abi_minor: field!(abi_minor, size_of::<u16>(), 0),
            host_data: field!(host_data, size_of::<*mut c_void>(), ptr::null_mut()),
            log: field!(log, FN_FIELD, None),
            input_read: field!(input_read, FN_FIELD, None),
            errors_write: field!(errors_write, FN_FIELD, None),
            errors_flush: field!(errors_flush, FN_FIELD, None),
            start_response: field!(start_response, FN_FIELD, None),
            write: field!(write, FN_FIELD, None),
            file_body: field!(file_body, FN_FIELD, None),
        };
        Host {
            shared: Arc::new(Shared {
                table,
                live: RwLock::new(true),
            }),
        }
    }

    /// Writes `msg` to the host log at `level`. Dropped when the host has no log function or
    /// the app has been shut down: logging never fails the app.
    pub fn log(&self, level: Level, msg: &str) {
        self.log_for(ptr::null_mut(), level, msg.as_bytes());
    }

    /// The ABI version the host speaks, `(major, minor)` (`wsgi.version` in PEP 3333 terms).
    pub fn abi_version(&self) -> (u16, u16) {
        (self.shared.table.abi_major, self.shared.table.abi_minor)
    }

    /// Writes a log line tagged with `req` (which may be NULL).
    pub(crate) fn log_for(&self, req: *mut nsgi_request, level: Level, msg: &[u8]) {
        let Some(log) = self.shared.table.log else { return };
        let live = self.shared.live.read().unwrap_or_else(PoisonError::into_inner);
        if *live {
            // SAFETY: the table is live (the read guard keeps shutdown from revoking it during
            // the call), `log` is `[thread-safe]` and takes any `req` or NULL, and `msg` is
            // borrowed for the duration of the call only.
            unsafe {
                log(
                    self.shared.table.host_data,
                    req,
                    level.to_raw(),
                    nsgi_bytes::from_slice(msg),
                )
            };
        }
    }

    /// Marks the table as gone: called once the app has been shut down, or failed to start.
    pub(crate) fn revoke(&self) {
        *self.shared.live.write().unwrap_or_else(PoisonError::into_inner) = false;
    }
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.abi_version();
        f.debug_struct("Host")
            .field("abi_version", &format_args!("{major}.{minor}"))
            .finish()
    }
}

/// The request being handled, for calling the host's `[request]` functions.
///
/// It is `Copy` but neither `Send` nor `Sync` (it holds a raw pointer), so it never leaves the
/// thread the host called `call` on, and its lifetime ties it to that call.
#[derive(Clone, Copy)]
pub(crate) struct RawRequest<'req> {
    ptr: NonNull<nsgi_request>,
    host: &'req Host,
}

impl<'req> RawRequest<'req> {
    /// # Safety
    /// `ptr` must be the request the host passed to the `call`, `next` or `close` running now on
    /// this thread, and `'req` must end before that call returns (abi.md §12: the `[request]`
    /// functions are usable only then; the handle itself lives until the body's `close`).
    pub(crate) unsafe fn new(ptr: NonNull<nsgi_request>, host: &'req Host) -> RawRequest<'req> {
        RawRequest { ptr, host }
    }

    /// The host this request belongs to.
    pub(crate) fn host(self) -> &'req Host {
        self.host
    }

    /// The host's request handle, to pass back to the host (or to a body's `next`).
    pub(crate) fn as_ptr(self) -> *mut nsgi_request {
        self.ptr.as_ptr()
    }

    /// Writes a log line tagged with this request.
    pub(crate) fn log(self, level: Level, msg: &str) {
        self.host.log_for(self.ptr.as_ptr(), level, msg.as_bytes());
    }

    /// `wsgi.input.read`: fills the front of `buf`; 0 at the end of the body.
    pub(crate) fn input_read(self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.table().input_read.ok_or(HostError::unsupported("input_read"))?;
        // SAFETY: `[request]` function called on the request's thread during the request (see
        // `new`); the host writes at most `buf.len()` bytes into `buf`, which we own mutably.
        let n = unsafe { read(self.ptr.as_ptr(), buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(n) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("input_read returned {n} for a {}-byte buffer", buf.len()),
            )),
            Err(_) => Err(status_to_io("input_read", n)),
        }
    }

    /// `wsgi.errors.write`.
    pub(crate) fn errors_write(self, data: &[u8]) -> io::Result<()> {
        let write = self
            .table()
            .errors_write
            .ok_or(HostError::unsupported("errors_write"))?;
        // SAFETY: `[request]` function called during the request on its thread; `data` is
        // borrowed for the call only.
        let status = unsafe { write(self.ptr.as_ptr(), nsgi_bytes::from_slice(data)) };
        check_io("errors_write", status)
    }

    /// `wsgi.errors.flush`; a host without it has nothing to flush.
    pub(crate) fn errors_flush(self) -> io::Result<()> {
        let Some(flush) = self.table().errors_flush else {
            return Ok(());
        };
        // SAFETY: `[request]` function called during the request on its thread.
        let status = unsafe { flush(self.ptr.as_ptr()) };
        check_io("errors_flush", status)
    }

    /// `start_response(status, headers, exc_info)`; returns the host's status code.
    pub(crate) fn start_response(
        self,
        status: &[u8],
        headers: &[nsgi_header],
        exc_info: Option<&nsgi_exc_info>,
    ) -> nsgi_status {
        let Some(start) = self.table().start_response else {
            return sys::NSGI_E_UNSUPPORTED;
        };
        let exc_info = exc_info.map_or(ptr::null(), |e| e as *const nsgi_exc_info);
        // SAFETY: `[request]` function called during the request on its thread. `status`,
        // `headers` (and the bytes they point to) and `exc_info` are borrowed for the call; the
        // host copies what it keeps before returning.
        unsafe {
            start(
                self.ptr.as_ptr(),
                nsgi_bytes::from_slice(status),
                headers.as_ptr(),
                headers.len(),
                exc_info,
            )
        }
    }

    /// The `write()` callable; returns the host's status code.
    pub(crate) fn write(self, data: &[u8]) -> nsgi_status {
        let Some(write) = self.table().write else {
            return sys::NSGI_E_UNSUPPORTED;
        };
        // SAFETY: `[request]` function called during the request on its thread; `data` is
        // borrowed for the call, and the host sends or copies it before returning.
        unsafe { write(self.ptr.as_ptr(), nsgi_bytes::from_slice(data)) }
    }

    /// True when the host offers `file_body` (its function is not NULL).
    pub(crate) fn has_file_body(self) -> bool {
        self.table().file_body.is_some()
    }

    /// `file_body`: a host-made body sending `length` bytes of `fd` from `offset`. `Ok(None)`
    /// when the host does not offer it (NULL, or `NSGI_E_UNSUPPORTED`). The host duplicates a
    /// borrowed `fd`; an [`OwnedFd`] is handed over (`NSGI_FILE_TAKE_FD`) and is the host's
    /// whatever the answer, closed by it on a refusal.
    pub(crate) fn file_body(self, fd: FileFd<'_>, offset: u64, length: u64) -> Result<Option<nsgi_body>, HostError> {
        let Some(file_body) = self.table().file_body else {
            return Ok(None);
        };
        let mut body = nsgi_body {
            vtable: ptr::null(),
            state: ptr::null_mut(),
        };
        let (raw_fd, flags) = match fd {
            FileFd::Borrowed(fd) => (fd.as_raw_fd(), 0),
            FileFd::Owned(fd) => (fd.into_raw_fd(), sys::NSGI_FILE_TAKE_FD),
        };
        // SAFETY: `[request]` function called during the request on its thread; a borrowed fd is
        // open for the whole call and the host duplicates it (no TAKE_FD flag), an owned one is
        // handed over with TAKE_FD and not touched again here; `body` is a writable out-pointer.
        let status = unsafe { file_body(self.ptr.as_ptr(), raw_fd, offset, length, flags, &mut body) };
        match status {
            sys::NSGI_E_UNSUPPORTED => Ok(None),
            code if code < 0 => Err(HostError::from_code("file_body", code)),
            _ if body.vtable.is_null() => Err(HostError::from_code("file_body", sys::NSGI_E_INTERNAL)
                .with_detail("the host reported success but made no body".to_owned())),
            _ => Ok(Some(body)),
        }
    }

    fn table(self) -> &'req Table {
        &self.host.shared.table
    }
}

/// The descriptor passed to `file_body`: borrowed (the host duplicates it) or handed over.
pub(crate) enum FileFd<'fd> {
    Borrowed(BorrowedFd<'fd>),
    Owned(OwnedFd),
}

/// `Ok` for success codes (zero and positive), else the error as an `io::Error`.
fn check_io(operation: &'static str, status: nsgi_status) -> io::Result<()> {
    if status >= 0 {
        Ok(())
    } else {
        Err(HostError::from_code(operation, status).into())
    }
}

/// A negative `int64_t` status from an input function as an `io::Error`.
fn status_to_io(operation: &'static str, n: i64) -> io::Error {
    let code = nsgi_status::try_from(n).unwrap_or(sys::NSGI_E_INTERNAL);
    HostError::from_code(operation, code).into()
}
