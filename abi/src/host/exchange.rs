//! One request's life cycle on the host side: call → start_response → next … → close.
//!
//! [`RequestSlot`] is the reusable per-request state the app sees as its opaque `nsgi_request`
//! (status and headers it started, bytes it wrote, the rules it broke). [`Exchange`] drives one
//! request through it and hands the response out as [`Step`]s; it enforces the PEP 3333 rules at
//! run time (a C app can break any of them), turns every breach into a [`Violation`], and calls
//! the body's `close` exactly once on every path — including when it is dropped early.
//! It never touches the network.

use super::callbacks::HostShared;
use super::environ::Environ;
use super::handle::{Serving, fresh_token};
use super::instance::AppInstance;
use super::observe::{CallPhase, NextResult, Observer, RequestEnd, RequestId};
use super::validate::{HeadTooLarge, Problem};
use crate::sys::{NSGI_BODY_VTABLE_V1_0_SIZE, NSGI_DONE, NSGI_E_PANIC, NSGI_OK, nsgi_body, nsgi_bytes, nsgi_status};
use core::fmt;
use std::io::{BufRead, Write};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// Most bytes past the declared Content-Length that a draining exchange pulls before it stops.
const DRAIN_LIMIT_BYTES: u64 = 1 << 20;

/// A rule of the ABI that the app broke (or, for [`Violation::AppError`], an error it reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The body produced data, or ended, before any successful start_response.
    NoStartResponse,
    /// start_response was called again without exc_info.
    StartResponseTwice,
    /// start_response was called outside `call`/`next`.
    StartResponseOutOfTurn,
    /// The status line was refused.
    InvalidStatus(Problem),
    /// A header was refused.
    InvalidHeader {
        /// The header name, lossily decoded.
        name: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// The app's Content-Length header is not a number.
    InvalidContentLength,
    /// The head passed to start_response is past the host's response head limits (refused with
    /// `NSGI_E_TOO_LARGE`).
    HeadTooLarge(HeadTooLarge),
    /// start_response got a NULL pointer where it needs data.
    NullArgument(&'static str),
    /// write() was called before start_response.
    WriteBeforeStart,
    /// write() was called from inside the body's `next` (write is for `call` only).
    WriteInsideNext,
    /// The app went on producing data after start_response reported NSGI_E_HEADERS_SENT.
    ContinuedAfterHeadersSent,
    /// The app aborted the response after an error once the headers were out (exc_info path).
    AbortedAfterHeadersSent,
    /// `call` returned this error status.
    CallFailed(nsgi_status),
    /// `call` returned NSGI_OK without a usable body (NULL vtable, `next` or `close`).
    InvalidBody(&'static str),
    /// `next` returned a chunk with a NULL pointer and a non-zero length.
    NullChunk,
    /// `next` returned this error status.
    NextFailed(nsgi_status),
    /// `next` returned a positive status this host does not know.
    NextUnknownStatus(nsgi_status),
    /// The body ended before the declared Content-Length was sent (never for a HEAD request, or
    /// a 1xx, 204 or 304 response with no body at all: RFC 9110 §8.6, §9.3.2).
    BodyTooShort {
        /// Declared length.
        declared: u64,
        /// Bytes produced.
        sent: u64,
    },
    /// The body produced more than the declared Content-Length; the excess was dropped
    /// (a warning: the response itself is intact). Never for a HEAD request, whose body is
    /// dropped whole.
    BodyTooLong {
        /// Declared length.
        declared: u64,
    },
    /// A request function got a handle that is not the request its thread is serving: NULL,
    /// another request's, or one kept past its `close`. The host refused the call
    /// (`NSGI_E_INVAL` for NULL, else `NSGI_E_STATE`) and the response goes on: a warning to the
    /// host, an error (N8) to a checker.
    RequestHandleRefused {
        /// The host function the app called.
        function: &'static str,
        /// The handle was NULL.
        null: bool,
    },
}

impl Violation {
    /// False only for breaches the host repairs without harm to the response.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Violation::BodyTooLong { .. } | Violation::RequestHandleRefused { .. }
        )
    }

    /// True for a `start_response` call the host refused without storing anything: the app may
    /// correct itself with another call (`docs/abi.md` §7.1), and then the refusal no longer fails
    /// the response.
    pub fn is_refused_start(&self) -> bool {
        matches!(
            self,
            Violation::InvalidStatus(_)
                | Violation::InvalidHeader { .. }
                | Violation::InvalidContentLength
                | Violation::HeadTooLarge(_)
                | Violation::NullArgument(_)
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NoStartResponse => {
                f.write_str("the body produced data or ended before start_response was called")
            }
            Violation::StartResponseTwice => f.write_str("start_response called a second time without exc_info"),
            Violation::StartResponseOutOfTurn => f.write_str("start_response called outside call/next"),
            Violation::InvalidStatus(problem) => write!(f, "invalid status: {problem}"),
            Violation::InvalidHeader { name, problem } => write!(f, "invalid header {name:?}: {problem}"),
            Violation::InvalidContentLength => f.write_str("Content-Length header is not a decimal number"),
            Violation::HeadTooLarge(detail) => write!(f, "response head too large: {detail}"),
            Violation::NullArgument(what) => write!(f, "start_response got a NULL {what}"),
            Violation::WriteBeforeStart => f.write_str("write() called before start_response"),
            Violation::WriteInsideNext => f.write_str("write() called from inside the body's next()"),
            Violation::ContinuedAfterHeadersSent => {
                f.write_str("app went on after start_response with exc_info returned NSGI_E_HEADERS_SENT")
            }
            Violation::AbortedAfterHeadersSent => f.write_str("app aborted the response after its headers were sent"),
            Violation::CallFailed(NSGI_E_PANIC) => f.write_str("app panicked in call (NSGI_E_PANIC)"),
            Violation::CallFailed(code) => write!(f, "call returned error {code}"),
            Violation::InvalidBody(what) => write!(f, "call returned NSGI_OK with an invalid body: {what}"),
            Violation::NullChunk => f.write_str("next returned a chunk with a NULL pointer and a non-zero length"),
            Violation::NextFailed(NSGI_E_PANIC) => f.write_str("app panicked in next (NSGI_E_PANIC)"),
            Violation::NextFailed(code) => write!(f, "next returned error {code}"),
            Violation::NextUnknownStatus(code) => write!(f, "next returned unknown status {code}"),
            Violation::BodyTooShort { declared, sent } => {
                write!(
                    f,
                    "body ended after {sent} bytes but Content-Length declared {declared}"
                )
            }
            Violation::BodyTooLong { declared } => {
                write!(
                    f,
                    "body went past its Content-Length of {declared} bytes; the excess was dropped"
                )
            }
            Violation::RequestHandleRefused { function, null: true } => {
                write!(f, "{function} got a NULL request handle")
            }
            Violation::RequestHandleRefused { function, null: false } => write!(
                f,
                "{function} got a request handle that is not the request this thread is serving \
                 (another request's, or one kept past its close)"
            ),
        }
    }
}

/// Why a response could not be completed. When `head_emitted` is false nothing reached the
/// client yet and a server answers 500; otherwise it must abort the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFailure {
    /// The first fatal violation.
    pub violation: Violation,
    /// Whether a [`Step::Head`] was already handed out.
    pub head_emitted: bool,
}

impl fmt::Display for ResponseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.violation)?;
        if self.head_emitted {
            f.write_str(" (after the response headers were sent)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResponseFailure {}

/// Bytes an app wrote with `write()` during `call`, handed to the host as they are written
/// (see [`AppInstance::call_streaming_writes`]): the head with the first of them.
#[derive(Debug)]
pub struct WrittenPart<'s> {
    /// The response head, with the first part only.
    pub head: Option<ResponseHead<'s>>,
    /// The bytes (within the declared Content-Length; may be empty with the head).
    pub data: &'s [u8],
}

/// Where a host takes written bytes during `call`: returns false when the client is gone, and
/// the app's `write` then answers `NSGI_E_IO`.
pub type WrittenSink<'w> = &'w mut dyn FnMut(WrittenPart<'_>) -> bool;

/// Where the request is in its life cycle, as host callbacks see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No request, or closed: every request function answers NSGI_E_STATE.
    Idle,
    /// Inside the app's `call`.
    InCall,
    /// Between two calls into the app (the host is sending).
    Between,
    /// Inside the body's `next`.
    InNext,
    /// Inside the body's `close`.
    InClose,
}

/// A stored response header: ranges into [`RequestState::header_data`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderSpan {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
}

/// The state behind the app's `nsgi_request` handle (which is a token, not its address: see
/// [`handle`](super::handle)).
pub(crate) struct RequestState {
    pub(crate) phase: Phase,
    pub(crate) status: Vec<u8>,
    pub(crate) status_code: u16,
    pub(crate) header_data: Vec<u8>,
    pub(crate) headers: Vec<HeaderSpan>,
    pub(crate) content_length: Option<u64>,
    /// A start_response succeeded.
    pub(crate) head_stored: bool,
    /// The app's view: a non-empty write() or chunk went out, so headers are committed.
    pub(crate) headers_sent: bool,
    /// start_response with exc_info came after the headers were sent.
    pub(crate) aborted: bool,
    /// The last start_response was refused (its violation stays fatal until a later call succeeds).
    pub(crate) refusal_pending: bool,
    /// Bytes from write() not yet handed out.
    pub(crate) pending: Vec<u8>,
    /// The host's sink for written bytes, during `call` only.
    pub(crate) written_sink: Option<*mut (dyn FnMut(WrittenPart<'_>) -> bool + 'static)>,
    /// Bytes handed to `written_sink` so far.
    pub(crate) written_flushed: u64,
    /// The head went to `written_sink`.
    pub(crate) written_head_out: bool,
    /// `written_sink` said the client is gone: `write` answers `NSGI_E_IO`.
    pub(crate) client_gone: bool,
    pub(crate) violations: Vec<Violation>,
    pub(crate) input: Option<*mut (dyn BufRead + 'static)>,
    pub(crate) errors: Option<*mut (dyn Write + 'static)>,
    pub(crate) environ: *const Environ,
    pub(crate) shared: *const HostShared,
    pub(crate) file_body_supported: bool,
    /// This request's id within its instance.
    pub(crate) id: RequestId,
    /// The token the app holds as this request's handle (see [`handle`](super::handle)); 0
    /// between requests.
    pub(crate) handle_token: usize,
    /// The instance's observer, if any (set for the request's life only).
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

impl RequestState {
    pub(crate) fn violate(&mut self, violation: Violation) {
        if violation.is_refused_start() {
            self.refusal_pending = true;
        }
        if let Some(observer) = &self.observer {
            observer.violation(self.id, &violation);
        }
        self.violations.push(violation);
    }

    /// Hands the written bytes to the host's sink, if it gave one (the head with the first);
    /// false once the client is gone.
    pub(crate) fn flush_written(&mut self) -> bool {
        let Some(sink) = self.written_sink else {
            return true;
        };
        if self.client_gone {
            return false;
        }
        let mut len = self.pending.len();
        if let Some(declared) = self.content_length {
            let room = declared.saturating_sub(self.written_flushed);
            if len as u64 > room {
                if !self.violations.contains(&Violation::BodyTooLong { declared }) {
                    self.violate(Violation::BodyTooLong { declared });
                }
                len = room as usize;
            }
        }
        if len == 0 && self.written_head_out {
            self.pending.clear();
            return true;
        }
        let head = (!self.written_head_out).then(|| self.head());
        // SAFETY: the sink was installed by `Exchange::begin` for the app's `call` only (it is
        // removed before `begin` returns, and `begin` outlives no borrow of it); write() runs
        // inside that call, on the calling thread.
        let sink = unsafe { &mut *sink };
        let delivered = sink(WrittenPart {
            head,
            data: &self.pending[..len],
        });
        self.written_head_out = true;
        self.written_flushed += len as u64;
        self.pending.clear();
        self.client_gone = !delivered;
        delivered
    }

    /// The observer, if one watches this request.
    pub(crate) fn observer(&self) -> Option<&dyn Observer> {
        self.observer.as_deref()
    }

    /// The current phase as observers see it.
    pub(crate) fn call_phase(&self) -> CallPhase {
        match self.phase {
            Phase::InCall => CallPhase::Call,
            Phase::InNext => CallPhase::Next,
            Phase::InClose => CallPhase::Close,
            Phase::Idle | Phase::Between => CallPhase::Outside,
        }
    }

    fn first_fatal(&self) -> Option<&Violation> {
        self.violations
            .iter()
            .find(|v| v.is_fatal() && (self.refusal_pending || !v.is_refused_start()))
    }

    pub(crate) fn head(&self) -> ResponseHead<'_> {
        ResponseHead {
            status: &self.status,
            status_code: self.status_code,
            data: &self.header_data,
            spans: &self.headers,
            content_length: self.content_length,
        }
    }
}

/// Reusable storage for one request at a time. Keep one per connection or per thread: its
/// buffers keep their capacity, so steady-state requests do not allocate here.
pub struct RequestSlot {
    pub(crate) state: RequestState,
}

// SAFETY: the raw pointers inside are set only while an `Exchange` borrows the slot (and point to
// values that outlive that borrow); between requests they are cleared, and the slot is only ever
// used by one thread at a time through `&mut`.
unsafe impl Send for RequestSlot {}

impl Default for RequestSlot {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestSlot {
    /// An empty slot.
    pub fn new() -> RequestSlot {
        RequestSlot {
            state: RequestState {
                phase: Phase::Idle,
                status: Vec::with_capacity(64),
                status_code: 0,
                header_data: Vec::with_capacity(512),
                headers: Vec::with_capacity(16),
                content_length: None,
                head_stored: false,
                headers_sent: false,
                aborted: false,
                refusal_pending: false,
                pending: Vec::new(),
                written_sink: None,
                written_flushed: 0,
                written_head_out: false,
                client_gone: false,
                violations: Vec::new(),
                input: None,
                errors: None,
                environ: core::ptr::null(),
                shared: core::ptr::null(),
                file_body_supported: true,
                id: RequestId(0),
                handle_token: 0,
                observer: None,
            },
        }
    }

    pub(crate) fn reset(&mut self) {
        let s = &mut self.state;
        s.phase = Phase::Idle;
        s.status.clear();
        s.status_code = 0;
        s.header_data.clear();
        s.headers.clear();
        s.content_length = None;
        s.head_stored = false;
        s.headers_sent = false;
        s.aborted = false;
        s.refusal_pending = false;
        s.pending.clear();
        s.written_sink = None;
        s.written_flushed = 0;
        s.written_head_out = false;
        s.client_gone = false;
        s.violations.clear();
        s.input = None;
        s.errors = None;
        s.environ = core::ptr::null();
        s.shared = core::ptr::null();
        s.handle_token = 0;
        s.observer = None;
    }
}

/// The response head an app started: status and headers, validated and copied.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHead<'s> {
    status: &'s [u8],
    status_code: u16,
    data: &'s [u8],
    spans: &'s [HeaderSpan],
    content_length: Option<u64>,
}

impl<'s> ResponseHead<'s> {
    /// The status line as the app gave it, e.g. `200 OK`.
    pub fn status(&self) -> &'s [u8] {
        self.status
    }

    /// The status line as text (it was validated, so it is ASCII apart from the reason phrase).
    pub fn status_str(&self) -> std::borrow::Cow<'s, str> {
        String::from_utf8_lossy(self.status)
    }

    /// The numeric status code.
    pub fn status_code(&self) -> u16 {
        self.status_code
    }

    /// The headers in the order the app gave them.
    pub fn headers(&self) -> impl Iterator<Item = (&'s [u8], &'s [u8])> + Clone + 's {
        let data = self.data;
        self.spans.iter().map(move |span| {
            (
                &data[span.name.0 as usize..span.name.1 as usize],
                &data[span.value.0 as usize..span.value.1 as usize],
            )
        })
    }

    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.spans.len()
    }

    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'s [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The app's Content-Length, if it declared one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
}

/// What the response does next, pulled by [`Exchange::next_step`].
#[derive(Debug)]
pub enum Step<'s> {
    /// The head, always first, with the first data. `data` is empty and `end` true when the body
    /// ended without data.
    Head {
        /// Status and headers.
        head: ResponseHead<'s>,
        /// The first body bytes (never empty unless `end`).
        data: &'s [u8],
        /// True when the body is complete.
        end: bool,
    },
    /// More body bytes (never empty), valid until the next call.
    Data(&'s [u8]),
    /// The response is complete and the body is closed.
    End,
}

/// The rest of a response that is a host file body (`file_body`), handed out by
/// [`Exchange::take_file`] so that the server sends it itself (sendfile) instead of iterating.
#[derive(Debug)]
pub struct FileStep<'s> {
    /// The head, when it was not handed out before (then the file is the whole body).
    pub head: Option<ResponseHead<'s>>,
    /// The file, borrowed: it closes with the body. Duplicate it to keep it past the next step.
    pub fd: BorrowedFd<'s>,
    /// Where the bytes to send start.
    pub offset: u64,
    /// How many bytes to send (never 0; already within the declared Content-Length).
    pub length: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Data may follow.
    Open,
    /// The body is closed; only `End` (or the stored failure) remains.
    Finished,
}

/// One request being answered by an app. Dropping it closes the body (a client that went away).
pub struct Exchange<'a> {
    instance: &'a AppInstance,
    slot: &'a mut RequestSlot,
    body: nsgi_body,
    closed: bool,
    stage: Stage,
    head_emitted: bool,
    /// Bytes handed out so far.
    sent: u64,
    /// `pending` was handed out and must be cleared on the next step.
    pending_out: bool,
    failure: Option<ResponseFailure>,
    /// `call` succeeded with a body whose `close` is owed.
    close_owed: bool,
    /// Times the body's `close` was called (1 at most; observers check it).
    close_calls: u32,
    /// `next` returned `NSGI_DONE`.
    body_done: bool,
    /// The host stopped pulling at the declared Content-Length.
    stopped_at_length: bool,
    /// Keep calling `next` past the declared Content-Length (discarding the excess).
    drain_past_length: bool,
    /// The request is a HEAD: its response may declare the Content-Length of the GET body and
    /// produce any number of bytes (none go out).
    head_request: bool,
    /// A file body's range was handed out ([`Exchange::take_file`]): the next step ends.
    file_handed: bool,
}

impl<'a> Exchange<'a> {
    pub(crate) fn begin(
        instance: &'a AppInstance,
        slot: &'a mut RequestSlot,
        environ: &'a mut Environ,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
        written: Option<WrittenSink<'_>>,
    ) -> Exchange<'a> {
        slot.reset();
        let head_request = environ.get(b"REQUEST_METHOD") == Some(b"HEAD");
        let raw_environ = environ.seal();
        let state = &mut slot.state;
        // SAFETY (lifetime erasure): the pointers are cleared in `close_body` or in the next
        // reset(), both of which happen before `'a` ends — the exchange borrows them for `'a` and
        // closes on drop. Between those points only host callbacks for this request use them.
        state.input = Some(unsafe {
            core::mem::transmute::<*mut (dyn BufRead + 'a), *mut (dyn BufRead + 'static)>(input as *mut _)
        });
        // SAFETY: as above.
        state.errors = Some(unsafe {
            core::mem::transmute::<*mut (dyn Write + 'a), *mut (dyn Write + 'static)>(errors as *mut _)
        });
        state.environ = environ as *const Environ;
        state.shared = instance.shared();
        state.id = instance.next_request_id();
        state.handle_token = fresh_token();
        state.observer = instance.observer().cloned();
        if let Some(observer) = state.observer() {
            observer.call_started(state.id, environ);
        }
        state.phase = Phase::InCall;
        let mut body = nsgi_body {
            vtable: core::ptr::null(),
            state: core::ptr::null_mut(),
        };
        if let Some(written) = written {
            // SAFETY (lifetime erasure): the pointer is removed right after the call below, while
            // the borrow of `written` is still live; only write() during that call uses it.
            slot.state.written_sink = Some(unsafe {
                core::mem::transmute::<
                    *mut (dyn FnMut(WrittenPart<'_>) -> bool + '_),
                    *mut (dyn FnMut(WrittenPart<'_>) -> bool + 'static),
                >(written as *mut _)
            });
        }
        let status = instance.invoke_call(Serving::new(&mut slot.state), raw_environ, &mut body);
        slot.state.written_sink = None;
        slot.state.phase = Phase::Between;
        let (flushed, head_out) = (slot.state.written_flushed, slot.state.written_head_out);

        let mut exchange = Exchange {
            instance,
            slot,
            body,
            closed: true,
            stage: Stage::Open,
            head_emitted: head_out,
            sent: flushed,
            pending_out: false,
            failure: None,
            close_owed: false,
            close_calls: 0,
            body_done: false,
            stopped_at_length: false,
            drain_past_length: false,
            head_request,
            file_handed: false,
        };
        let body_problem = if status == NSGI_OK {
            exchange.body_problem()
        } else {
            None
        };
        if let Some(observer) = exchange.slot.state.observer() {
            observer.call_returned(exchange.slot.state.id, status, body_problem);
        }
        if status != NSGI_OK {
            // The app released its own state; a body it may have left behind is not ours to close.
            exchange.body.vtable = core::ptr::null();
            exchange.slot.state.violate(if exchange.slot.state.aborted {
                Violation::AbortedAfterHeadersSent
            } else {
                Violation::CallFailed(status)
            });
        } else if let Some(problem) = body_problem {
            exchange.slot.state.violate(Violation::InvalidBody(problem));
            // Close what can be closed.
            exchange.closed = exchange.close_fn().is_none();
            exchange.close_owed = !exchange.closed;
        } else {
            exchange.closed = false;
            exchange.close_owed = true;
        }
        exchange
    }

    fn body_problem(&self) -> Option<&'static str> {
        if self.body.vtable.is_null() {
            return Some("NULL vtable");
        }
        // SAFETY: non-NULL vtable pointer handed over by the app with a successful call; it must
        // stay valid until close (usually it is a static).
        let vtable = unsafe { &*self.body.vtable };
        if vtable.struct_size < NSGI_BODY_VTABLE_V1_0_SIZE {
            return Some("vtable struct_size smaller than v1.0");
        }
        if vtable.close.is_none() {
            return Some("NULL close");
        }
        if vtable.next.is_none() {
            return Some("NULL next");
        }
        None
    }

    fn close_fn(&self) -> Option<crate::sys::nsgi_body_close_fn> {
        if self.body.vtable.is_null() {
            return None;
        }
        // SAFETY: see body_problem; the size check passed or close is read within the v1.0 layout
        // that every vtable has.
        unsafe { (*self.body.vtable).close }
    }

    /// The request as the app sees it, for one call into the app (take it just before the call).
    fn serving(&mut self) -> Serving {
        Serving::new(&mut self.slot.state)
    }

    /// The response head, once the app has started it.
    pub fn head(&self) -> Option<ResponseHead<'_>> {
        self.slot.state.head_stored.then(|| self.slot.state.head())
    }

    /// This request's id within its app instance (the id observers see).
    pub fn request_id(&self) -> RequestId {
        self.slot.state.id
    }

    /// With `drain`, the exchange keeps calling `next` after the declared Content-Length has gone
    /// out, until the body ends, discarding the excess (and recording
    /// [`Violation::BodyTooLong`] if there is any). Off by default: a server stops pulling at the
    /// declared length. Conformance checkers turn it on to see a body that is too long even when
    /// the excess comes in a separate chunk.
    pub fn drain_past_content_length(&mut self, drain: bool) {
        self.drain_past_length = drain;
    }

    /// Every violation recorded so far, fatal or not.
    pub fn violations(&self) -> &[Violation] {
        &self.slot.state.violations
    }

    /// True once a [`Step::Head`] was handed out.
    pub fn head_emitted(&self) -> bool {
        self.head_emitted
    }

    /// Pulls the response forward: the head with the first data, then data, then [`Step::End`].
    /// After an `Err`, every later call returns the same `Err`; the body is already closed.
    pub fn next_step(&mut self) -> Result<Step<'_>, ResponseFailure> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        if self.pending_out {
            self.slot.state.pending.clear();
            self.pending_out = false;
        }
        if self.file_handed {
            // The server sent the file itself: the body is over.
            self.file_handed = false;
            self.close_body();
            self.stage = Stage::Finished;
        }
        if self.stage == Stage::Finished {
            return Ok(Step::End);
        }
        if let Some(failure) = self.check_fatal() {
            return Err(failure);
        }
        // Stop pulling once the declared length has gone out.
        if let Some(declared) = self.slot.state.content_length
            && self.head_emitted
            && self.sent >= declared
        {
            return self.stop_at_length();
        }
        loop {
            if !self.slot.state.pending.is_empty() {
                self.pending_out = true;
                return self.emit_pending();
            }
            match self.pull_chunk() {
                Pulled::Chunk(ptr, len) => {
                    if let Some(failure) = self.check_fatal() {
                        return Err(failure);
                    }
                    if !self.slot.state.pending.is_empty() {
                        // Data written before this chunk goes first; keep the chunk for later.
                        // (Only reachable through the WriteInsideNext violation, which is fatal.)
                        continue;
                    }
                    if len == 0 {
                        continue;
                    }
                    // SAFETY: the app returned a non-NULL pointer to `len` bytes it owns, valid
                    // until the next call into this body (which happens only after the caller has
                    // finished with the returned step).
                    let data = unsafe { core::slice::from_raw_parts(ptr, len) };
                    return self.emit(data);
                }
                Pulled::Done => return self.finish(),
                Pulled::Failed => {
                    return Err(self
                        .check_fatal()
                        .unwrap_or_else(|| self.fail(Violation::NextFailed(0))));
                }
            }
        }
    }

    /// When the rest of the response is a host file body (`file_body`), hands out its range
    /// (with the head, if not handed out yet) for the caller to send itself, e.g. with
    /// sendfile; the next [`next_step`](Self::next_step) then closes the body and returns
    /// [`Step::End`]. `Ok(None)` means: go on with `next_step` (not a file body, bytes written
    /// with `write()` go first, a HEAD request, a bodiless status, an empty file, a pipe). A
    /// file shorter than the declared Content-Length fails here, before anything is sent.
    #[inline]
    pub fn take_file(&mut self) -> Result<Option<FileStep<'_>>, ResponseFailure> {
        if !super::file_body::is_file_body(&self.body) {
            return Ok(None); // the usual case, decided by one comparison
        }
        self.take_file_range()
    }

    fn take_file_range(&mut self) -> Result<Option<FileStep<'_>>, ResponseFailure> {
        if self.stage == Stage::Finished || self.closed || self.file_handed || self.failure.is_some() {
            return Ok(None);
        }
        if self.pending_out {
            self.slot.state.pending.clear();
            self.pending_out = false;
        }
        let state = &self.slot.state;
        if self.head_request
            || self.drain_past_length
            || !state.pending.is_empty()
            || !state.head_stored
            || state.aborted
            || state.first_fatal().is_some()
            || self.is_bodiless_status()
        {
            return Ok(None);
        }
        let Some((offset, available)) = super::file_body::unread_range(&self.body) else {
            return Ok(None);
        };
        let mut length = available;
        if let Some(declared) = self.slot.state.content_length {
            let room = declared.saturating_sub(self.sent);
            if length > room {
                self.slot.state.violate(Violation::BodyTooLong { declared });
                length = room;
                self.stopped_at_length = true;
            } else if length < room {
                return Err(self.fail(Violation::BodyTooShort {
                    declared,
                    sent: self.sent + length,
                }));
            }
        }
        if length == 0 {
            return Ok(None);
        }
        self.body_done = !self.stopped_at_length;
        self.sent += length;
        self.file_handed = true;
        if let Some(observer) = self.slot.state.observer() {
            observer.file_sent(self.slot.state.id, length);
        }
        self.slot.state.headers_sent = true;
        let head = (!self.head_emitted).then(|| self.slot.state.head());
        self.head_emitted = true;
        let Some(fd) = super::file_body::descriptor(&self.body) else {
            return Ok(None); // unreachable: unread_range saw the same file body
        };
        Ok(Some(FileStep {
            head,
            fd,
            offset,
            length,
        }))
    }

    fn emit_pending(&mut self) -> Result<Step<'_>, ResponseFailure> {
        // Split borrows: take the pending bytes out through a raw view of the slot's buffer.
        let pending: *const [u8] = self.slot.state.pending.as_slice();
        // SAFETY: `pending` is not touched again until the next call to next_step (pending_out is
        // set, and the app is not called before then), so the slice stays valid for the returned
        // borrow of `self`.
        let data = unsafe { &*pending };
        self.emit(data)
    }

    fn emit<'s>(&'s mut self, data: &'s [u8]) -> Result<Step<'s>, ResponseFailure> {
        let state = &mut self.slot.state;
        if !state.head_stored {
            return Err(self.fail(Violation::NoStartResponse));
        }
        if state.aborted {
            return Err(self.fail(Violation::ContinuedAfterHeadersSent));
        }
        state.headers_sent = true;
        let mut data = data;
        if let Some(declared) = state.content_length {
            let room = declared.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                // A HEAD response sends no body at all: its excess is no breach.
                if !self.head_request {
                    state.violate(Violation::BodyTooLong { declared });
                }
                data = &data[..room as usize];
            }
        }
        self.sent += data.len() as u64;
        if self.head_emitted {
            if data.is_empty() {
                // Everything past the declared length was dropped.
                return self.stop_at_length();
            }
            return Ok(Step::Data(data));
        }
        if data.is_empty() {
            // A declared length of 0 with a non-empty chunk: the body is over.
            self.drain_excess()?;
            self.stopped_at_length = true;
            self.close_body();
            self.stage = Stage::Finished;
            self.head_emitted = true;
            return Ok(Step::Head {
                head: self.slot.state.head(),
                data: &[],
                end: true,
            });
        }
        self.head_emitted = true;
        Ok(Step::Head {
            head: self.slot.state.head(),
            data,
            end: false,
        })
    }

    /// The declared length has gone out: end the response (after draining the rest of the body
    /// when asked to).
    fn stop_at_length(&mut self) -> Result<Step<'_>, ResponseFailure> {
        self.drain_excess()?;
        self.stopped_at_length = true;
        self.close_body();
        self.stage = Stage::Finished;
        Ok(Step::End)
    }

    /// In drain mode, pulls the body to its end, dropping every byte and recording the excess.
    fn drain_excess(&mut self) -> Result<(), ResponseFailure> {
        if !self.drain_past_length {
            return Ok(());
        }
        let mut excess: u64 = 0;
        loop {
            match self.pull_chunk() {
                Pulled::Chunk(_, 0) => {}
                Pulled::Chunk(_, len) => {
                    let state = &mut self.slot.state;
                    if let Some(declared) = state.content_length
                        && !self.head_request
                        && !state.violations.contains(&Violation::BodyTooLong { declared })
                    {
                        state.violate(Violation::BodyTooLong { declared });
                    }
                    excess = excess.saturating_add(len as u64);
                    if excess > DRAIN_LIMIT_BYTES {
                        // An endless body: enough is known; stop as a server would.
                        return Ok(());
                    }
                }
                Pulled::Done => return Ok(()),
                Pulled::Failed => {
                    return Err(self
                        .check_fatal()
                        .unwrap_or_else(|| self.fail(Violation::NextFailed(0))));
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Step<'_>, ResponseFailure> {
        self.close_body();
        self.stage = Stage::Finished;
        if let Some(failure) = self.check_fatal() {
            return Err(failure);
        }
        let state = &self.slot.state;
        if !state.head_stored {
            return Err(self.fail(Violation::NoStartResponse));
        }
        if let Some(declared) = state.content_length
            && self.sent < declared
            && !self.head_request
            && !(declared > 0 && self.sent == 0 && self.is_bodiless_status())
        {
            return Err(self.fail(Violation::BodyTooShort {
                declared,
                sent: self.sent,
            }));
        }
        if self.head_emitted {
            return Ok(Step::End);
        }
        self.head_emitted = true;
        Ok(Step::Head {
            head: self.slot.state.head(),
            data: &[],
            end: true,
        })
    }

    /// 1xx, 204 and 304 responses carry no body whatever their Content-Length says.
    fn is_bodiless_status(&self) -> bool {
        let code = self.slot.state.status_code;
        (100..200).contains(&code) || code == 204 || code == 304
    }

    fn pull_chunk(&mut self) -> Pulled {
        if self.closed {
            return Pulled::Done;
        }
        // SAFETY: the body passed body_problem(), so the vtable is valid with a non-NULL next.
        let next = unsafe { (*self.body.vtable).next };
        let Some(next) = next else { return Pulled::Failed };
        let mut chunk = nsgi_bytes::EMPTY;
        self.slot.state.phase = Phase::InNext;
        let state_ptr = self.body.state;
        if let Some(observer) = self.slot.state.observer() {
            observer.next_started(self.slot.state.id);
        }
        let serving = self.serving();
        let status = self.instance.enter(serving, || {
            // SAFETY: the app's own next function with the state and request it was made for.
            unsafe { next(state_ptr, serving.handle(), &mut chunk) }
        });
        self.slot.state.phase = Phase::Between;
        if let Some(observer) = self.slot.state.observer() {
            let result = NextResult {
                status,
                chunk_len: chunk.len,
                chunk_null: chunk.ptr.is_null(),
            };
            observer.next_returned(self.slot.state.id, &result);
        }
        match status {
            NSGI_OK => {
                if chunk.ptr.is_null() && chunk.len != 0 {
                    self.fail(Violation::NullChunk);
                    return Pulled::Failed;
                }
                Pulled::Chunk(chunk.ptr, chunk.len)
            }
            NSGI_DONE => {
                self.body_done = true;
                Pulled::Done
            }
            code if code < 0 => {
                let violation = if self.slot.state.aborted && self.slot.state.headers_sent {
                    Violation::AbortedAfterHeadersSent
                } else {
                    Violation::NextFailed(code)
                };
                self.fail(violation);
                Pulled::Failed
            }
            code => {
                self.fail(Violation::NextUnknownStatus(code));
                Pulled::Failed
            }
        }
    }

    fn check_fatal(&mut self) -> Option<ResponseFailure> {
        let violation = self.slot.state.first_fatal()?.clone();
        Some(self.seal_failure(violation))
    }

    fn fail(&mut self, violation: Violation) -> ResponseFailure {
        self.slot.state.violate(violation.clone());
        self.seal_failure(violation)
    }

    fn seal_failure(&mut self, violation: Violation) -> ResponseFailure {
        self.close_body();
        self.stage = Stage::Finished;
        let failure = ResponseFailure {
            violation,
            head_emitted: self.head_emitted,
        };
        self.failure = Some(failure.clone());
        failure
    }

    fn close_body(&mut self) {
        if !self.closed {
            self.closed = true;
            if let Some(close) = self.close_fn() {
                self.close_calls += 1;
                if let Some(observer) = self.slot.state.observer() {
                    observer.close_called(self.slot.state.id, self.close_calls);
                }
                self.slot.state.phase = Phase::InClose;
                let state_ptr = self.body.state;
                let serving = self.serving();
                self.instance.enter(serving, || {
                    // SAFETY: the app's own close, called exactly once with its own state.
                    unsafe { close(state_ptr, serving.handle()) }
                });
            }
        }
        let state = &mut self.slot.state;
        state.phase = Phase::Idle;
        state.input = None;
        state.errors = None;
        state.environ = core::ptr::null();
    }

    /// Logs every violation recorded so far through the app's error stream tag (for hosts that
    /// want the messages without formatting them themselves).
    pub fn describe_violations(&self) -> impl Iterator<Item = String> + '_ {
        self.slot.state.violations.iter().map(|v| v.to_string())
    }

    /// The name the instance was mounted under.
    pub fn mount_name(&self) -> &str {
        self.instance.mount_name()
    }
}

enum Pulled {
    Chunk(*const u8, usize),
    Done,
    Failed,
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        self.close_body();
        if let Some(observer) = self.slot.state.observer.take() {
            let end = RequestEnd {
                close_owed: self.close_owed,
                close_calls: self.close_calls,
                body_done: self.body_done,
                stopped_at_content_length: self.stopped_at_length,
                head_emitted: self.head_emitted,
                bytes_emitted: self.sent,
                failure: self.failure.as_ref(),
            };
            observer.request_ended(self.slot.state.id, &end);
        }
    }
}
