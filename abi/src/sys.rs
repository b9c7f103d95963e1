//! The raw NSGI v1 C ABI: `#[repr(C)]` types, constants and function-pointer tables.
//!
//! This module is the single source of truth for `abi/include/nsgi.h`, which cbindgen generates
//! from it (a test fails when the committed header is stale). It holds data definitions only:
//! no behaviour, no allocation, no `unsafe` code beyond the `Sync` promise for static descriptors.
//!
//! Rules every item here follows (see `docs/abi.md`):
//! - every struct except the frozen [`nsgi_bytes`] and [`nsgi_header`] starts with a
//!   `uint32_t struct_size` (the descriptor starts with `magic`, then versions, then
//!   `struct_size`); fields are only ever appended;
//! - no `bool`, no Rust `enum`, no non-nullable function pointer crosses the boundary: flags are
//!   `u32`, status codes are `i32`, function pointers are `Option<unsafe extern "C" fn>`;
//! - every buffer is a borrowed [`nsgi_bytes`] whose owner and lifetime are documented.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_void};

/// Major version of the ABI. A host loads only apps built for the same major.
pub const NSGI_ABI_MAJOR: u16 = 1;
/// Minor version of the ABI. Minors only append; any minor of the same major loads.
pub const NSGI_ABI_MINOR: u16 = 0;
/// Magic cookie at the head of [`nsgi_app_descriptor`]: the bytes `"NSGI"` read as a
/// little-endian `uint32_t`.
pub const NSGI_APP_MAGIC: u32 = 0x4947_534E;
/// Name of the symbol every v1 app exports: `const nsgi_app_descriptor *nsgi_app_entry_v1(void)`.
pub const NSGI_ENTRY_SYMBOL_V1: &str = "nsgi_app_entry_v1";

/// Status code returned by every fallible ABI function. Zero and positive values are success
/// codes; negative values are errors. Values are fixed forever and only ever appended.
pub type nsgi_status = i32;

/// Success.
pub const NSGI_OK: nsgi_status = 0;
/// The body iterator is exhausted (returned by `next`; not an error).
pub const NSGI_DONE: nsgi_status = 1;
/// A bad argument: malformed status line or header, NULL where not allowed.
pub const NSGI_E_INVAL: nsgi_status = -1;
/// A call-order violation: `write` before `start_response` or outside `call`, a second
/// `start_response` without `exc_info`, use after `close`.
pub const NSGI_E_STATE: nsgi_status = -2;
/// `start_response` with `exc_info` after the response headers were sent.
pub const NSGI_E_HEADERS_SENT: nsgi_status = -3;
/// The client went away or the transport failed.
pub const NSGI_E_IO: nsgi_status = -4;
/// An allocation failed.
pub const NSGI_E_NOMEM: nsgi_status = -5;
/// An environ key or an extension is absent.
pub const NSGI_E_NOT_FOUND: nsgi_status = -6;
/// The feature is not provided by this host or app.
pub const NSGI_E_UNSUPPORTED: nsgi_status = -7;
/// A host limit was exceeded (e.g. a response head with more headers or bytes than the host
/// accepts, refused by `start_response`).
pub const NSGI_E_TOO_LARGE: nsgi_status = -8;
/// The callee caught a panic. The code that panicked is never run on the same state again: a
/// panicked body is poisoned; the Rust SDK replaces a panicked app value with a fresh one.
pub const NSGI_E_PANIC: nsgi_status = -9;
/// A generic application failure.
pub const NSGI_E_APP: nsgi_status = -10;
/// A host internal failure, including a panic caught in a host callback.
pub const NSGI_E_INTERNAL: nsgi_status = -11;
/// Codes from -1 to this value are reserved for the ABI; apps may use lower values for their own
/// errors (they are handled like [`NSGI_E_APP`]).
pub const NSGI_E_RESERVED_MIN: nsgi_status = -999;

/// App flag: `call`, `next` and `close` may run concurrently for different requests.
pub const NSGI_APP_THREAD_SAFE: u32 = 1 << 0;
/// App flag: the app was built with `panic = "abort"`; a panic in it ends the whole process.
pub const NSGI_APP_PANIC_ABORT: u32 = 1 << 1;

/// Environ flag (`wsgi.multithread`): the host may call the app from several threads at once.
pub const NSGI_ENV_MULTITHREAD: u32 = 1 << 0;
/// Environ flag (`wsgi.multiprocess`): other processes serve the same app concurrently.
pub const NSGI_ENV_MULTIPROCESS: u32 = 1 << 1;
/// Environ flag (`wsgi.run_once`): the app is called once in this process (always 0 here).
pub const NSGI_ENV_RUN_ONCE: u32 = 1 << 2;

/// [`nsgi_environ::content_length`] when the host does not know the body's length: a request
/// without a body, or a chunked body a host streams as it arrives. (nsgi-gateway receives
/// chunked bodies whole, so it passes their length.)
pub const NSGI_NO_LENGTH: u64 = u64::MAX;
/// `length` argument of `file_body` meaning "to the end of the file".
pub const NSGI_FILE_TO_EOF: u64 = u64::MAX;
/// `file_body` flag: the host takes ownership of the descriptor instead of duplicating it (on
/// every path: a refused call closes it too).
pub const NSGI_FILE_TAKE_FD: u32 = 1 << 0;

/// Log level: an error.
pub const NSGI_LOG_ERROR: i32 = 1;
/// Log level: a warning.
pub const NSGI_LOG_WARN: i32 = 2;
/// Log level: information.
pub const NSGI_LOG_INFO: i32 = 3;
/// Log level: debugging detail.
pub const NSGI_LOG_DEBUG: i32 = 4;
/// Log level: fine tracing.
pub const NSGI_LOG_TRACE: i32 = 5;

/// A borrowed byte string. Frozen: never extended.
///
/// `ptr` may be NULL only when `len` is 0. The bytes are not NUL-terminated and not necessarily
/// UTF-8. Who owns them and for how long is stated wherever an `nsgi_bytes` appears.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_bytes {
    /// First byte, or NULL when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

/// A name/value pair: a response header, an environ variable or an init option. Frozen.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_header {
    /// The name.
    pub name: nsgi_bytes,
    /// The value.
    pub value: nsgi_bytes,
}

/// One request, owned by the host. Opaque to the app; valid from the start of `call` until the
/// body's `close` returns (or until `call` returns an error).
pub struct nsgi_request {
    _opaque: [u8; 0],
}

/// The request environ (PEP 3333 `environ`), owned by the host and immutable. Valid from the start
/// of `call` until the body's `close` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_environ {
    /// `sizeof(nsgi_environ)` as the host knows it.
    pub struct_size: u32,
    /// `NSGI_ENV_*` flags (the `wsgi.multithread` / `multiprocess` / `run_once` booleans).
    pub flags: u32,
    /// CGI variables (REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING, CONTENT_TYPE,
    /// CONTENT_LENGTH, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, REMOTE_ADDR, HTTP_*); names are
    /// unique.
    pub vars: *const nsgi_header,
    /// Number of entries in `vars`.
    pub n_vars: usize,
    /// `wsgi.url_scheme`: `http` or `https`.
    pub url_scheme: nsgi_bytes,
    /// The request body length, or [`NSGI_NO_LENGTH`] when it is not known in advance.
    pub content_length: u64,
}

/// PEP 3333 `exc_info`: passed to `start_response` by an app replacing its response after an
/// error. Owned by the app, read only during the call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_exc_info {
    /// `sizeof(nsgi_exc_info)` as the app knows it.
    pub struct_size: u32,
    /// An app-defined error code (an `nsgi_status` or the app's own).
    pub code: i32,
    /// The kind of error, for logs (Python's exception type).
    pub type_name: nsgi_bytes,
    /// A human-readable description, for logs.
    pub message: nsgi_bytes,
}

/// Pulls the next chunk of a body. Returns [`NSGI_OK`] with `*chunk_out` set, [`NSGI_DONE`] at
/// the end, or a negative error. The chunk is owned by the body and stays valid until the next
/// `next` or `close` call on it.
pub type nsgi_body_next_fn =
    unsafe extern "C" fn(state: *mut c_void, req: *mut nsgi_request, chunk_out: *mut nsgi_bytes) -> nsgi_status;

/// Releases a body (PEP 3333 `close()`). Called exactly once for every body a successful `call`
/// returned, on every path: end, error, client disconnect, shutdown.
pub type nsgi_body_close_fn = unsafe extern "C" fn(state: *mut c_void, req: *mut nsgi_request);

/// The functions of a body, usually a `static`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_body_vtable {
    /// `sizeof(nsgi_body_vtable)` as its author knows it.
    pub struct_size: u32,
    /// Pulls the next chunk. Required.
    pub next: Option<nsgi_body_next_fn>,
    /// Releases the body. Required.
    pub close: Option<nsgi_body_close_fn>,
}

/// A response body: the PEP 3333 iterable. Frozen pair of a vtable and its state.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_body {
    /// The functions; NULL when `call` failed.
    pub vtable: *const nsgi_body_vtable,
    /// Owned by whoever made the body (the app, or the host for `file_body`).
    pub state: *mut c_void,
}

/// Arguments of `init`, owned by the host and valid only during the `init` call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_init_args {
    /// `sizeof(nsgi_init_args)` as the host knows it.
    pub struct_size: u32,
    /// `NSGI_ENV_*` flags as they will apply to every request.
    pub flags: u32,
    /// Name of this app instance in the gateway configuration.
    pub mount_name: nsgi_bytes,
    /// The mount prefix (becomes SCRIPT_NAME); empty for the root.
    pub script_name: nsgi_bytes,
    /// The app's own configuration, opaque to the host (JSON text from the gateway config).
    pub config: nsgi_bytes,
    /// Flat key/value options from the gateway configuration.
    pub options: *const nsgi_header,
    /// Number of entries in `options`.
    pub n_options: usize,
    /// The most calls the host will make into this instance at once.
    pub max_concurrency: u32,
}

/// `[thread-safe]` Writes a line to the host log. `req` may be NULL.
pub type nsgi_log_fn =
    unsafe extern "C" fn(host_data: *mut c_void, req: *mut nsgi_request, level: i32, msg: nsgi_bytes);
/// `[request]` Looks up an environ variable; `*value_out` borrows host memory valid as long as the
/// environ. Returns [`NSGI_OK`] or [`NSGI_E_NOT_FOUND`].
pub type nsgi_environ_get_fn =
    unsafe extern "C" fn(req: *mut nsgi_request, key: nsgi_bytes, value_out: *mut nsgi_bytes) -> nsgi_status;
/// `[request]` `wsgi.input.read`: copies up to `cap` body bytes into `buf`; returns the count
/// (> 0), 0 at the end of the body, or a negative status.
pub type nsgi_input_read_fn = unsafe extern "C" fn(req: *mut nsgi_request, buf: *mut u8, cap: usize) -> i64;
/// `[request]` `wsgi.input.readline(cap)`: copies bytes up to and including the first `\n`, or
/// `cap` bytes; returns the count, 0 at the end of the body, or a negative status.
pub type nsgi_input_readline_fn = unsafe extern "C" fn(req: *mut nsgi_request, buf: *mut u8, cap: usize) -> i64;
/// `[request]` `wsgi.errors.write`: writes to the host's error log, tagged with the request.
pub type nsgi_errors_write_fn = unsafe extern "C" fn(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status;
/// `[request]` `wsgi.errors.flush`.
pub type nsgi_errors_flush_fn = unsafe extern "C" fn(req: *mut nsgi_request) -> nsgi_status;
/// `[request]` PEP 3333 `start_response(status, response_headers, exc_info)`. The host copies the
/// status and headers before returning. `exc_info` is NULL when absent. A head past the host's
/// limits (header count or bytes) is refused with `NSGI_E_TOO_LARGE`.
pub type nsgi_start_response_fn = unsafe extern "C" fn(
    req: *mut nsgi_request,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
    exc_info: *const nsgi_exc_info,
) -> nsgi_status;
/// `[request]` The `write()` callable: sends or buffers body bytes before returning. During `call`
/// only: from inside the body's `next` or `close` it returns `NSGI_E_STATE` and the response fails.
pub type nsgi_write_fn = unsafe extern "C" fn(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status;
/// `[request]` `wsgi.file_wrapper`: makes a host-owned body that sends `length` bytes of the file
/// `fd` from `offset` (sendfile where the transport allows).
pub type nsgi_file_body_fn = unsafe extern "C" fn(
    req: *mut nsgi_request,
    fd: i32,
    offset: u64,
    length: u64,
    flags: u32,
    body_out: *mut nsgi_body,
) -> nsgi_status;
/// `[thread-safe]` Looks up a host extension by its NUL-terminated id; NULL when absent.
pub type nsgi_get_extension_fn = unsafe extern "C" fn(host_data: *mut c_void, id: *const c_char) -> *const c_void;

/// The host's functions, passed to `init`. Owned by the host, valid from `init` until `shutdown`
/// returns. An app must check `struct_size` before using a field appended after v1.0, and must
/// treat a NULL function as "not provided".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_host_api {
    /// `sizeof(nsgi_host_api)` as the host knows it.
    pub struct_size: u32,
    /// ABI major the host speaks.
    pub abi_major: u16,
    /// ABI minor the host speaks.
    pub abi_minor: u16,
    /// Opaque host pointer passed back to `log` and `get_extension`.
    pub host_data: *mut c_void,
    /// Host log.
    pub log: Option<nsgi_log_fn>,
    /// Environ lookup by name.
    pub environ_get: Option<nsgi_environ_get_fn>,
    /// `wsgi.input.read`.
    pub input_read: Option<nsgi_input_read_fn>,
    /// `wsgi.input.readline`.
    pub input_readline: Option<nsgi_input_readline_fn>,
    /// `wsgi.errors.write`.
    pub errors_write: Option<nsgi_errors_write_fn>,
    /// `wsgi.errors.flush`.
    pub errors_flush: Option<nsgi_errors_flush_fn>,
    /// `start_response`.
    pub start_response: Option<nsgi_start_response_fn>,
    /// `write()`.
    pub write: Option<nsgi_write_fn>,
    /// `wsgi.file_wrapper`; NULL when unsupported.
    pub file_body: Option<nsgi_file_body_fn>,
    /// Extension lookup.
    pub get_extension: Option<nsgi_get_extension_fn>,
}

/// Creates an app instance. Runs on the host's control thread. On success writes the instance to
/// `*app_out` and returns [`NSGI_OK`]; on failure logs why through `host->log`.
pub type nsgi_app_init_fn = unsafe extern "C" fn(
    host: *const nsgi_host_api,
    args: *const nsgi_init_args,
    app_out: *mut *mut c_void,
) -> nsgi_status;
/// Handles one request (PEP 3333 `application(environ, start_response)`). On success fills
/// `*body_out` and returns [`NSGI_OK`]; on failure leaves `body_out->vtable` NULL, has released
/// everything it made, and returns a negative status.
pub type nsgi_app_call_fn = unsafe extern "C" fn(
    app: *mut c_void,
    req: *mut nsgi_request,
    environ: *const nsgi_environ,
    body_out: *mut nsgi_body,
) -> nsgi_status;
/// Destroys an app instance after every request has finished. Nothing is called afterwards.
pub type nsgi_app_shutdown_fn = unsafe extern "C" fn(app: *mut c_void);

/// What `nsgi_app_entry_v1` returns: a static description of the app.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct nsgi_app_descriptor {
    /// [`NSGI_APP_MAGIC`].
    pub magic: u32,
    /// [`NSGI_ABI_MAJOR`] the app was built against.
    pub abi_major: u16,
    /// [`NSGI_ABI_MINOR`] the app was built against.
    pub abi_minor: u16,
    /// `sizeof(nsgi_app_descriptor)` as the app knows it.
    pub struct_size: u32,
    /// `NSGI_APP_*` flags.
    pub flags: u32,
    /// The app's name (static).
    pub name: nsgi_bytes,
    /// Free-form build information for diagnostics (static), e.g. `nsgi-sdk 0.1.0` or `C`.
    pub sdk_info: nsgi_bytes,
    /// Creates an instance. Required.
    pub init: Option<nsgi_app_init_fn>,
    /// Handles a request. Required.
    pub call: Option<nsgi_app_call_fn>,
    /// Destroys an instance. Optional.
    pub shutdown: Option<nsgi_app_shutdown_fn>,
}

/// The signature of `nsgi_app_entry_v1`, the one symbol a v1 app exports. It must have no side
/// effects: it only returns a pointer to static data.
pub type nsgi_app_entry_fn = unsafe extern "C" fn() -> *const nsgi_app_descriptor;

// SAFETY: a descriptor is immutable static data: its pointers refer to static strings and its
// function pointers to code, so sharing a reference between threads cannot race.
unsafe impl Sync for nsgi_app_descriptor {}
// SAFETY: a body vtable holds only function pointers and an integer; it is immutable.
unsafe impl Sync for nsgi_body_vtable {}

/// `sizeof(nsgi_app_descriptor)` in ABI v1.0: the smallest descriptor a host accepts.
pub const NSGI_APP_DESCRIPTOR_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_app_descriptor>() as u32;
/// `sizeof(nsgi_host_api)` in ABI v1.0.
pub const NSGI_HOST_API_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_host_api>() as u32;
/// `sizeof(nsgi_environ)` in ABI v1.0.
pub const NSGI_ENVIRON_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_environ>() as u32;
/// `sizeof(nsgi_body_vtable)` in ABI v1.0.
pub const NSGI_BODY_VTABLE_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_body_vtable>() as u32;
/// `sizeof(nsgi_exc_info)` in ABI v1.0.
pub const NSGI_EXC_INFO_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_exc_info>() as u32;
/// `sizeof(nsgi_init_args)` in ABI v1.0.
pub const NSGI_INIT_ARGS_V1_0_SIZE: u32 = core::mem::size_of::<nsgi_init_args>() as u32;

impl nsgi_bytes {
    /// The empty byte string `{NULL, 0}`.
    pub const EMPTY: nsgi_bytes = nsgi_bytes {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows a Rust slice. The result is valid as long as the slice is.
    pub const fn from_slice(bytes: &[u8]) -> nsgi_bytes {
        nsgi_bytes {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }
}
