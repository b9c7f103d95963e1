//! Observation hooks: a read-only view of every ABI interaction of every request.
//!
//! An [`Observer`] attached with [`AppInstance::init_observed`](super::AppInstance::init_observed)
//! is told about each call the host makes into the app (`call`, `next`, `close`) and each call the
//! app makes into the host's request functions (environ, input, errors, `start_response`,
//! `write`), with the arguments and the result, plus every [`Violation`] the host records and a
//! summary when the request ends. Conformance checkers (`nsgi-conformance`'s `Validator`) build
//! on it; it never changes what the host does.
//!
//! This module owns the event types only. It must never hand out anything that lets an observer
//! change a request: events are borrowed views, valid for the duration of the callback. Without
//! an observer the host pays one `Option` check per interaction.
//!
//! ```
//! use nsgi::host::observe::{Observer, RequestId, WriteCall};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! /// Counts the bytes apps push through `write()`.
//! #[derive(Default)]
//! struct WriteCounter(AtomicUsize);
//!
//! impl Observer for WriteCounter {
//!     fn write(&self, _req: RequestId, call: &WriteCall) {
//!         self.0.fetch_add(call.len, Ordering::Relaxed);
//!     }
//! }
//! ```

use super::environ::Environ;
use super::violation::{ResponseFailure, Violation};
use crate::app::raw::bytes_of;
use crate::sys::{nsgi_header, nsgi_status};
use core::fmt;

/// Identifies one request of one app instance: unique for the instance's lifetime, assigned in
/// call order starting at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which call into the app was running when the app called a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallPhase {
    /// Inside the app's `call`.
    Call,
    /// Inside the body's `next`.
    Next,
    /// Inside the body's `close`.
    Close,
    /// Between calls into the app (the host was not running app code for this request).
    Outside,
}

/// One `start_response` call, as the app made it.
#[derive(Clone, Copy, Debug)]
pub struct StartResponseCall<'a> {
    /// Where the app called it from.
    pub phase: CallPhase,
    /// The status bytes as passed.
    pub status: &'a [u8],
    pub(crate) headers: &'a [nsgi_header],
    /// The header count the app passed.
    pub n_headers: usize,
    /// The header array was NULL although `n_headers` was not 0.
    pub headers_null: bool,
    /// `exc_info->struct_size` when `exc_info` was not NULL.
    pub exc_info_size: Option<u32>,
    /// An earlier `start_response` had succeeded.
    pub head_stored_before: bool,
    /// Body bytes had already been committed (a non-empty `write` or chunk), so the headers count
    /// as sent.
    pub headers_sent_before: bool,
    /// What the host answered.
    pub result: nsgi_status,
}

impl<'a> StartResponseCall<'a> {
    /// The headers as passed, in order (empty when the array was NULL).
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        self.headers
            .iter()
            // SAFETY: only the host makes a `StartResponseCall`, from the app's own arguments while
            // its `start_response` call runs; `'a` ends with that call (abi.md §6).
            .map(|header| unsafe { (bytes_of(&header.name), bytes_of(&header.value)) })
    }
}

/// One `write()` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteCall {
    /// Where the app called it from.
    pub phase: CallPhase,
    /// The length the app passed.
    pub len: usize,
    /// The data pointer was NULL although `len` was not 0.
    pub data_null: bool,
    /// A successful `start_response` had been made before.
    pub head_stored: bool,
    /// What the host answered.
    pub result: nsgi_status,
}

/// One `errors_write` call (`wsgi.errors.write`).
#[derive(Clone, Copy, Debug)]
pub struct ErrorsWrite<'a> {
    /// The bytes written (empty when the pointer was NULL).
    pub data: &'a [u8],
    /// The data pointer was NULL although the length was not 0.
    pub data_null: bool,
    /// What the host answered.
    pub result: nsgi_status,
}

/// One `input_read` or `input_readline` call (`wsgi.input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRead {
    /// `input_readline` rather than `input_read`.
    pub line: bool,
    /// The capacity the app offered.
    pub requested: usize,
    /// The buffer pointer was NULL although the capacity was not 0.
    pub buf_null: bool,
    /// The byte count returned, or a negative status.
    pub returned: i64,
}

/// What one `next` call returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextResult {
    /// The status `next` returned.
    pub status: nsgi_status,
    /// The chunk length (meaningful when `status` is `NSGI_OK`).
    pub chunk_len: usize,
    /// The chunk pointer was NULL.
    pub chunk_null: bool,
}

/// How a request ended, reported once when its exchange is dropped.
#[derive(Clone, Copy, Debug)]
pub struct RequestEnd<'a> {
    /// `call` returned `NSGI_OK` with a body that has a `close` function, so exactly one `close`
    /// is owed.
    pub close_owed: bool,
    /// How many times the host called the body's `close`.
    pub close_calls: u32,
    /// `next` returned `NSGI_DONE`.
    pub body_done: bool,
    /// The host stopped pulling because the declared Content-Length had gone out.
    pub stopped_at_content_length: bool,
    /// A response head was handed to the server.
    pub head_emitted: bool,
    /// Body bytes handed to the server (at most the declared Content-Length).
    pub bytes_emitted: u64,
    /// Why the response failed, if it did.
    pub failure: Option<&'a ResponseFailure>,
}

/// Receives every ABI interaction of the requests of one app instance.
///
/// Every method has an empty default, so an observer implements only what it needs. Methods are
/// called on the thread running the request, while the app waits; they must be quick and must
/// not call into the app. Callbacks made from inside a host function run under that function's
/// panic guard: a panicking observer makes the host function fail with `NSGI_E_INTERNAL`.
#[allow(unused_variables)]
pub trait Observer: Send + Sync {
    /// The host is about to call the app's `call` with this environ.
    fn call_started(&self, req: RequestId, environ: &Environ) {}
    /// `call` returned `status`; `body_problem` says what is wrong with the body it returned
    /// (`None` when it is usable or when `call` failed).
    fn call_returned(&self, req: RequestId, status: nsgi_status, body_problem: Option<&'static str>) {}
    /// The app looked up an environ variable.
    fn environ_get(&self, req: RequestId, key: &[u8], found: bool) {}
    /// The app read from `wsgi.input`.
    fn input_read(&self, req: RequestId, read: &InputRead) {}
    /// The app wrote to `wsgi.errors`.
    fn errors_write(&self, req: RequestId, write: &ErrorsWrite<'_>) {}
    /// The app flushed `wsgi.errors`.
    fn errors_flush(&self, req: RequestId, result: nsgi_status) {}
    /// The app called `start_response`.
    fn start_response(&self, req: RequestId, call: &StartResponseCall<'_>) {}
    /// The app called `write()`.
    fn write(&self, req: RequestId, call: &WriteCall) {}
    /// The host is about to call the body's `next`.
    fn next_started(&self, req: RequestId) {}
    /// The body's `next` returned.
    fn next_returned(&self, req: RequestId, result: &NextResult) {}
    /// `length` bytes of a `file_body` go to the client without passing through `next` (the host
    /// sends them from the file itself, e.g. with sendfile).
    fn file_sent(&self, req: RequestId, length: u64) {}
    /// The host is about to call the body's `close`; `count` is 1 for the first call.
    fn close_called(&self, req: RequestId, count: u32) {}
    /// The host recorded a violation on the request.
    fn violation(&self, req: RequestId, violation: &Violation) {}
    /// The request is over: its exchange was dropped, and its body (if any) closed.
    fn request_ended(&self, req: RequestId, end: &RequestEnd<'_>) {}
}
