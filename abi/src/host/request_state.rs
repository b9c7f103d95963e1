//! The state of one request as both sides of the ABI see it: [`RequestSlot`] (reusable storage,
//! the app's opaque `nsgi_request`), the [`RequestState`] behind it (phase, stored head, written
//! bytes, violations), the [`ResponseHead`] view of it, and the per-instance [`HostShared`] data.
//! The host callbacks (`callbacks.rs`) and the driver (`exchange.rs`) both import this module
//! and it imports neither. It never calls into an app.

use super::environ::Environ;
use super::observe::{CallPhase, Observer, RequestId};
use super::validate::ResponseHeadLimits;
use super::violation::Violation;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// Per-instance host data behind `host_data`: the mount name for log lines, the messages an
/// app logs during `init` (so an init failure can say why), and the response head limits.
pub(crate) struct HostShared {
    pub(crate) mount: String,
    pub(crate) head_limits: ResponseHeadLimits,
    pub(crate) init_log: Mutex<Option<Vec<String>>>,
}

/// Bytes an app wrote with `write()` during `call`, handed to the host as they are written
/// (see [`AppInstance::call_streaming_writes`](crate::host::AppInstance::call_streaming_writes)): the head with the first of them.
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

/// Where the response head stands, as the app sees it. One value instead of three flags
/// (stored, sent, aborted): headers are sent only after a head is stored, and the response is
/// aborted only after they are sent, so the other combinations cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadState {
    /// No start_response has succeeded yet.
    NotStarted,
    /// A start_response succeeded (a later one with exc_info may still replace the head).
    Stored,
    /// A non-empty write() or chunk went out: the headers are committed.
    Sent,
    /// start_response with exc_info came after the headers were sent: the response is broken.
    AbortedAfterSent,
}

impl HeadState {
    /// A start_response succeeded.
    pub(crate) fn is_stored(self) -> bool {
        self != HeadState::NotStarted
    }

    /// The headers are committed (sent, or sent and then aborted).
    pub(crate) fn is_sent(self) -> bool {
        matches!(self, HeadState::Sent | HeadState::AbortedAfterSent)
    }

    /// start_response with exc_info came after the headers were sent.
    pub(crate) fn is_aborted(self) -> bool {
        self == HeadState::AbortedAfterSent
    }
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
    /// Stored, sent, aborted: where the head stands.
    pub(crate) head_state: HeadState,
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

    pub(crate) fn first_fatal(&self) -> Option<&Violation> {
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
                head_state: HeadState::NotStarted,
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
        s.head_state = HeadState::NotStarted;
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
