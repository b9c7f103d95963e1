//! The one fake host for tests that drive an app through the raw ABI without the host SDK (the
//! app SDK's end-to-end tests, the C samples' smoke tests, the broken-app fixtures): a
//! `nsgi_host_api` table whose functions record what the app did.
//!
//! [`FakeTable`] owns the table and the [`FakeHost`] behind `host_data` (log lines). The app's
//! opaque `nsgi_request` is a pointer to a [`FakeRequest`] the test owns: the request functions
//! read its input and record start_response calls, writes and the error stream into it.
//! `start_response` answers as the real host does, in the same order: out-of-turn calls
//! (`NSGI_E_STATE`, `NSGI_E_HEADERS_SENT`) first, then the SDK's own status and header rules
//! (`nsgi::host::validate`, `NSGI_E_INVAL`). It never checks the rules a real host enforces
//! on the body (Content-Length, ...): the tests that use it assert those themselves.

use nsgi::host::validate::{check_header, check_status};
use nsgi::sys::{
    NSGI_E_HEADERS_SENT, NSGI_E_INVAL, NSGI_E_NOT_FOUND, NSGI_E_STATE, NSGI_EXC_INFO_V1_0_SIZE,
    NSGI_HOST_API_V1_0_SIZE, NSGI_OK, nsgi_bytes, nsgi_exc_info, nsgi_header, nsgi_host_api, nsgi_request, nsgi_status,
};
use std::ffi::c_void;
use std::ptr;
use std::sync::Mutex;

/// One log line: (level, logged during a request, message).
pub type LogLine = (i32, bool, String);

/// A header as the fake host copied it: (name, value).
pub type Header = (Vec<u8>, Vec<u8>);

/// `host_data`: what the host's thread-safe functions record.
#[derive(Default)]
pub struct FakeHost {
    logs: Mutex<Vec<LogLine>>,
}

/// Where the request is, as the test driving it says: `write` inside `next` is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Inside `call` (the default).
    #[default]
    Call,
    /// Inside the body's `next`.
    Next,
    /// Anywhere else (between calls, in `close`).
    Other,
}

/// A call of a request function, in the order the app made them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    /// `start_response`, with what it answered.
    StartResponse {
        /// The status line, as given.
        status: Vec<u8>,
        /// The headers, as given.
        headers: Vec<Header>,
        /// An `exc_info` was given.
        exc_info: bool,
        /// What the fake host answered.
        result: nsgi_status,
    },
    /// `write`, with what it answered.
    Write {
        /// The test had set [`Phase::Next`].
        in_next: bool,
        /// What the fake host answered.
        result: nsgi_status,
    },
}

/// What `nsgi_request *` points to: the request's input, and what the app did with it.
#[derive(Default)]
pub struct FakeRequest {
    /// The request body `input_read` serves.
    pub input: Vec<u8>,
    /// How much of `input` was read.
    pub input_pos: usize,
    /// Most bytes one `input_read` returns (0 = no limit): exercises short reads.
    pub max_read: usize,
    /// Set by the test around `next`.
    pub phase: Phase,
    /// When set, `start_response` records the call and answers this, storing nothing.
    pub start_response_answer: Option<nsgi_status>,
    /// Calls of `input_read`.
    pub input_calls: usize,
    /// Calls of `start_response`.
    pub start_calls: usize,
    /// The [`phase`](Self::phase) of each `start_response` call: `Next` for an app that starts
    /// its response lazily, from inside the body's first `next`.
    pub start_phases: Vec<Phase>,
    /// `start_response` and `write` calls, in order (a test may drain it).
    pub calls: Vec<HostCall>,
    /// The stored status line.
    pub status: Option<String>,
    /// The stored headers.
    pub headers: Vec<(String, String)>,
    /// (type name, message) of every `exc_info` given to `start_response`.
    pub exc_info: Vec<(String, String)>,
    /// A non-empty `write` (or, set by the test, chunk) went out: headers are committed.
    pub headers_sent: bool,
    /// `start_response` with `exc_info` came after the headers were sent.
    pub aborted: bool,
    /// Bytes written with `write`.
    pub written: Vec<u8>,
    /// Bytes written to the error stream.
    pub errors: Vec<u8>,
    /// Calls of `errors_flush`.
    pub flushes: usize,
}

impl FakeRequest {
    /// The handle to pass to the app for this request.
    pub fn handle(&mut self) -> *mut nsgi_request {
        ptr::from_mut(self).cast()
    }

    /// Every `start_response` call: (status, headers, exc_info given, result).
    pub fn start_responses(&self) -> impl Iterator<Item = (&[u8], &[Header], bool, nsgi_status)> {
        self.calls.iter().filter_map(|call| match call {
            HostCall::StartResponse {
                status,
                headers,
                exc_info,
                result,
            } => Some((status.as_slice(), headers.as_slice(), *exc_info, *result)),
            HostCall::Write { .. } => None,
        })
    }
}

/// Copies an `nsgi_bytes` the app passed in (empty for NULL).
pub fn bytes(b: nsgi_bytes) -> Vec<u8> {
    if b.ptr.is_null() || b.len == 0 {
        return Vec::new();
    }
    // SAFETY: the ABI promises `len` readable bytes at a non-NULL `ptr` during the call.
    unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec()
}

fn text(b: nsgi_bytes) -> String {
    String::from_utf8_lossy(&bytes(b)).into_owned()
}

/// # Safety
/// `req` must point to a live `FakeRequest` not otherwise borrowed.
unsafe fn fake<'a>(req: *mut nsgi_request) -> &'a mut FakeRequest {
    // SAFETY: per the contract.
    unsafe { &mut *req.cast::<FakeRequest>() }
}

unsafe extern "C" fn fake_log(host_data: *mut c_void, req: *mut nsgi_request, level: i32, msg: nsgi_bytes) {
    // SAFETY: `host_data` is the table's `FakeHost`, alive while the table is.
    let host = unsafe { &*host_data.cast::<FakeHost>() };
    host.logs
        .lock()
        .expect("log lock")
        .push((level, !req.is_null(), text(msg)));
}

/// An `environ_get` that finds nothing (for apps that call it; the table has none by default).
///
/// # Safety
/// None needed: it reads and writes nothing. It is `unsafe extern "C"` to fit the table.
pub unsafe extern "C" fn environ_not_found(
    _req: *mut nsgi_request,
    _key: nsgi_bytes,
    _out: *mut nsgi_bytes,
) -> nsgi_status {
    NSGI_E_NOT_FOUND
}

/// `input_read`; also usable as `input_readline` for apps that need one (it ignores lines).
///
/// # Safety
/// `req` must point to a live [`FakeRequest`] not otherwise borrowed, and `buf` to `cap`
/// writable bytes, as the ABI promises for an app's call.
pub unsafe extern "C" fn fake_input_read(req: *mut nsgi_request, buf: *mut u8, cap: usize) -> i64 {
    // SAFETY: `req` is a `FakeRequest`; `buf` has `cap` writable bytes.
    let r = unsafe { fake(req) };
    r.input_calls += 1;
    let mut n = (r.input.len() - r.input_pos).min(cap);
    if r.max_read > 0 {
        n = n.min(r.max_read);
    }
    if n > 0 {
        // SAFETY: `n <= cap`, and `n` bytes are left in `input`.
        unsafe { ptr::copy_nonoverlapping(r.input[r.input_pos..].as_ptr(), buf, n) };
    }
    r.input_pos += n;
    n as i64
}

unsafe extern "C" fn fake_errors_write(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status {
    // SAFETY: `req` is a `FakeRequest`.
    unsafe { fake(req) }.errors.extend(bytes(data));
    NSGI_OK
}

unsafe extern "C" fn fake_errors_flush(req: *mut nsgi_request) -> nsgi_status {
    // SAFETY: `req` is a `FakeRequest`.
    unsafe { fake(req) }.flushes += 1;
    NSGI_OK
}

unsafe extern "C" fn fake_start_response(
    req: *mut nsgi_request,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
    exc_info: *const nsgi_exc_info,
) -> nsgi_status {
    // SAFETY: `req` is a `FakeRequest`.
    let r = unsafe { fake(req) };
    r.start_calls += 1;
    r.start_phases.push(r.phase);
    let status_bytes = bytes(status);
    let given: Vec<Header> = if n_headers == 0 {
        Vec::new()
    } else {
        assert!(
            !headers.is_null(),
            "start_response: NULL headers with n_headers {n_headers}"
        );
        // SAFETY: the ABI promises `n_headers` headers at `headers` during the call.
        let raw = unsafe { std::slice::from_raw_parts(headers, n_headers) };
        raw.iter().map(|h| (bytes(h.name), bytes(h.value))).collect()
    };
    if !exc_info.is_null() {
        // SAFETY: a non-NULL exc_info is valid during the call; its v1.0 fields are read only
        // when it says it has them.
        let exc = unsafe { *exc_info };
        if exc.struct_size >= NSGI_EXC_INFO_V1_0_SIZE {
            r.exc_info.push((text(exc.type_name), text(exc.message)));
        }
    }
    let result = if let Some(answer) = r.start_response_answer {
        answer
    } else if exc_info.is_null() && r.status.is_some() {
        NSGI_E_STATE
    } else if !exc_info.is_null() && r.headers_sent {
        r.aborted = true;
        NSGI_E_HEADERS_SENT
    } else if check_status(&status_bytes).is_err() || given.iter().any(|(n, v)| check_header(n, v).is_err()) {
        NSGI_E_INVAL
    } else {
        r.status = Some(String::from_utf8_lossy(&status_bytes).into_owned());
        r.headers = given
            .iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect();
        NSGI_OK
    };
    r.calls.push(HostCall::StartResponse {
        status: status_bytes,
        headers: given,
        exc_info: !exc_info.is_null(),
        result,
    });
    result
}

unsafe extern "C" fn fake_write(req: *mut nsgi_request, data: nsgi_bytes) -> nsgi_status {
    // SAFETY: `req` is a `FakeRequest`.
    let r = unsafe { fake(req) };
    let in_next = r.phase == Phase::Next;
    let result = if in_next || r.status.is_none() || r.aborted {
        NSGI_E_STATE
    } else {
        let data = bytes(data);
        r.headers_sent |= !data.is_empty();
        r.written.extend(data);
        NSGI_OK
    };
    r.calls.push(HostCall::Write { in_next, result });
    result
}

/// A fake host table; boxed so the pointer given to `init` stays put. The [`FakeHost`] is held
/// as the raw pointer `host_data` carries (so nothing else retags it), and freed on drop.
pub struct FakeTable {
    host: *mut FakeHost,
    api: Box<nsgi_host_api>,
}

impl Default for FakeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeTable {
    /// A table with `log`, `input_read`, `errors_write`, `errors_flush`, `start_response` and
    /// `write`; the other functions are NULL (set them with [`api_mut`](Self::api_mut)).
    pub fn new() -> FakeTable {
        let host: *mut FakeHost = Box::into_raw(Box::default());
        let api = Box::new(nsgi_host_api {
            struct_size: NSGI_HOST_API_V1_0_SIZE,
            abi_major: 1,
            abi_minor: 3,
            host_data: host.cast(),
            log: Some(fake_log),
            environ_get: None,
            input_read: Some(fake_input_read),
            input_readline: None,
            errors_write: Some(fake_errors_write),
            errors_flush: Some(fake_errors_flush),
            start_response: Some(fake_start_response),
            write: Some(fake_write),
            file_body: None,
            get_extension: None,
        });
        FakeTable { host, api }
    }

    /// The table to hand to the app's `init`.
    pub fn api(&self) -> &nsgi_host_api {
        &self.api
    }

    /// The table, to change before `init`.
    pub fn api_mut(&mut self) -> &mut nsgi_host_api {
        &mut self.api
    }

    /// Every line the app logged so far.
    pub fn logs(&self) -> Vec<LogLine> {
        // SAFETY: `host` is the live box made in `new`, freed only on drop.
        unsafe { &*self.host }.logs.lock().expect("log lock").clone()
    }

    /// The messages logged so far, one a line.
    pub fn log_text(&self) -> String {
        self.logs().iter().map(|(_, _, m)| format!("{m}\n")).collect()
    }
}

impl Drop for FakeTable {
    fn drop(&mut self) {
        // SAFETY: made by `Box::into_raw` in `new`; a test drops a `FakeTable` only after the app
        // instance that was given its table has shut down.
        drop(unsafe { Box::from_raw(self.host) });
    }
}
