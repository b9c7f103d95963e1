//! One client connection: its buffers, its request framing state, its timeouts.
//!
//! Owns the life of a socket from accept to close: reading (into the worker's shared scratch
//! buffer first, so an idle connection holds no buffers), framing requests out of the bytes with
//! the `http` layer, receiving bodies (spilled to disk past `--body-buffer-size`), handing
//! complete requests in order (pipelining) to the [`Responder`] inline or to the [`Pool`],
//! writing responses with back-pressure (no reading while output is pending or a request is
//! with the app) — a response that ends in a file body goes out with sendfile after its head
//! —, `Expect: 100-continue`, and closing — lingering after an error so the client
//! reads the error response instead of a reset.

use crate::http::{
    BodyDecoder, CONTINUE_100, Framing, Limits, OwnedHead, ParseError, Parsed, RequestHead, complete_request_line,
    header_slots, parse_head,
};
use crate::http::{CHUNK_END, LAST_CHUNK};
use crate::serve::parked::{ParkedResponse, RequestInput};
use crate::serve::pool::{Flow, Pool};
use crate::serve::protocol::Protocol;
use crate::serve::pump::{Delivered, FileTail};
use crate::serve::respond::{After, Answer, Responder};
use crate::serve::spill::BodyBuf;
use crate::serve::stream::Stream;
use crate::settings::serving::{HEADER_SLOTS, SpillPolicy, Timeouts};
use crate::site::environ::Endpoints;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How much to read at a time into a connection's own buffer.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// How long a closing connection keeps draining the client's unread bytes.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// When the server drains, how long an idle keep-alive connection may still bring one more
/// request (answered with `Connection: close`) before it is closed. Closing idle connections at
/// once would race with clients that are sending their next request right then.
const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);
/// A deadline that never comes in practice.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the worker shares with every connection while handling one event.
pub(crate) struct Shared<'w> {
    /// The apps and the loop thread's request resources (inline calls, canned errors).
    pub(crate) responder: &'w mut Responder,
    /// The app threads, with `--threads N`; `None` calls the app on the loop thread.
    pub(crate) pool: Option<&'w mut Pool>,
    /// Where large request bodies go.
    pub(crate) spill: &'w SpillPolicy,
    /// How long a request may stay with the app (`--timeout`), for pooled calls.
    pub(crate) app_timeout: Option<Duration>,
    /// Requests answered by this worker so far (for `--max-requests`).
    pub(crate) served: &'w mut u64,
    /// Where reads land first (always at its full length; never empty).
    pub(crate) scratch: &'w mut Vec<u8>,
    /// Where responses are written before going to the socket.
    pub(crate) out: &'w mut Vec<u8>,
    /// Request limits.
    pub(crate) limits: &'w Limits,
    /// Timeouts.
    pub(crate) timeouts: &'w Timeouts,
    /// The server is stopping: finish the current request, then close.
    pub(crate) draining: bool,
}

/// Where the connection is in reading requests.
#[derive(Debug)]
enum ReadState {
    /// Between requests, or inside a head not yet complete.
    Head,
    /// The head is parsed and saved here; the body is arriving into `Conn::body` through the
    /// decoder of its framing.
    Body(BodyDecoder, Box<OwnedHead>),
}

/// How the connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    /// Keep serving.
    No,
    /// Send what is queued, then close gracefully.
    AfterWrite,
    /// Output is flushed and the write side shut: drain input until EOF or the deadline.
    Lingering,
    /// Close now.
    Now,
}

/// A client connection.
pub(crate) struct Conn {
    stream: Stream,
    info: Endpoints,
    /// What the connection speaks: HTTP/1.1, or uwsgi (one request, then close).
    protocol: Protocol,
    /// Unique among the worker's connections (slab slots are reused; pool jobs name this).
    id: u64,
    /// The connection's slot in the event loop's slab (its token).
    slab_index: usize,
    /// Unprocessed input (only when a request head spans reads).
    rbuf: Vec<u8>,
    /// Unsent output.
    wbuf: Vec<u8>,
    wpos: usize,
    /// A file body to send (sendfile) once `wbuf` is out; nothing is queued behind it.
    file: Option<FileTail>,
    /// Requests in `rbuf` wait only for a file body to go out (see [`Conn::serve_buffered`]).
    held_by_file: bool,
    /// Where the head of a request whose body spans reads is kept ([`ReadState::Body`] holds it
    /// while the body arrives): made the first time a body spans reads, then kept for the
    /// connection's next ones, so an idle connection (most of them) carries a pointer, not a
    /// head's buffers and spans.
    spare_head: Option<Box<OwnedHead>>,
    /// That request's body as it arrives (in memory, or spilled to a file).
    body: BodyBuf,
    read_state: ReadState,
    /// A request of this connection is with the pool since then (or since its last streamed
    /// part).
    with_app_since: Option<Instant>,
    /// Part of a pooled response was sent: a timeout can no longer answer 503.
    streamed: bool,
    /// The pool thread waiting for a streamed part to reach the client.
    flow: Option<Arc<Flow>>,
    /// A response of an app called inline, parked until the client takes what it was sent (or
    /// until the next turn of the event loop); see `crate::serve::parked`.
    parked: Option<Box<ParkedResponse>>,
    continue_sent: bool,
    closing: Closing,
    /// The last request asked to close the connection (`Connection: close`, or HTTP/1.0 without
    /// keep-alive) and nothing came after it: once the response is out, the socket can be
    /// closed at once, without lingering (see [`Conn::start_linger`]).
    client_closes: bool,
    /// A request has started arriving (for the header timeout).
    request_started: bool,
    /// The current request is a `HEAD` (as far as its first bytes tell): error responses to it
    /// carry no body.
    head_request: bool,
    /// When the current request's first byte arrived (the access log's `%t`); only read from the
    /// clock when there is an access log, the epoch otherwise.
    received: SystemTime,
    deadline: Instant,
    /// The readiness the socket is registered for; `None` before it is registered (a new
    /// connection is read once before, see `Server::accept`).
    interest: Option<mio::Interest>,
}

impl Conn {
    /// A newly accepted connection.
    pub(crate) fn new(
        stream: Stream,
        info: Endpoints,
        protocol: Protocol,
        id: u64,
        slab_index: usize,
        timeouts: &Timeouts,
    ) -> Conn {
        Conn {
            stream,
            info,
            protocol,
            id,
            slab_index,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            file: None,
            held_by_file: false,
            spare_head: None,
            body: BodyBuf::new(),
            read_state: ReadState::Head,
            with_app_since: None,
            streamed: false,
            flow: None,
            parked: None,
            continue_sent: false,
            closing: Closing::No,
            client_closes: false,
            request_started: false,
            head_request: false,
            received: SystemTime::UNIX_EPOCH,
            deadline: Instant::now() + timeouts.header,
            interest: None,
        }
    }

    /// The readiness the socket is registered for, if it is registered.
    pub(crate) fn interest(&self) -> Option<mio::Interest> {
        self.interest
    }

    /// Records a new registration.
    pub(crate) fn set_interest(&mut self, interest: mio::Interest) {
        self.interest = Some(interest);
    }

    /// The socket, for (re)registration.
    pub(crate) fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Both ends of the connection (its `Display` names the peer in log lines).
    pub(crate) fn info(&self) -> &Endpoints {
        &self.info
    }

    /// The connection's unique id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// True while a request of this connection is with the pool or its response is parked:
    /// it counts as served only once it ends.
    pub(crate) fn has_request_in_flight(&self) -> bool {
        self.with_app_since.is_some() || self.parked.is_some()
    }

    /// True when a parked response can go on at once (its client took everything sent so far):
    /// the event loop gives it its next turn without waiting for an event.
    pub(crate) fn wants_turn(&self) -> bool {
        self.parked.is_some() && !self.wants_write() && self.closing == Closing::No
    }

    /// True when output is waiting for the socket to become writable.
    pub(crate) fn wants_write(&self) -> bool {
        self.wpos < self.wbuf.len() || self.file.is_some()
    }

    /// True when the connection should be dropped.
    pub(crate) fn is_done(&self) -> bool {
        self.closing == Closing::Now
    }

    /// True when no request is in progress and nothing is queued.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.read_state, ReadState::Head)
            && self.rbuf.is_empty()
            && !self.wants_write()
            && self.with_app_since.is_none()
            && self.parked.is_none()
    }

    /// When the current timeout expires.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Handles an expired deadline. Returns true when it was a request the app kept past
    /// `--timeout` (its answer is abandoned: the client gets a 503 and the connection closes).
    pub(crate) fn on_timeout(&mut self, shared: &mut Shared<'_>) -> bool {
        if let Some(flow) = self.flow.take() {
            // A streamed part the client does not take: the send timeout, not the app's fault.
            log::info!("{}: send timeout during a streamed response, closing", self.info);
            flow.finish(false);
            self.with_app_since = None;
            self.closing = Closing::Now;
            return false;
        }
        if self.abandon_parked(shared) {
            log::info!("{}: send timeout during a streamed response, closing", self.info);
            self.closing = Closing::Now;
            return false;
        }
        if self.with_app_since.take().is_some() {
            if self.streamed {
                log::error!(
                    "{}: the app stalled a streamed response past --timeout; aborting it",
                    self.info
                );
                self.closing = Closing::Now;
            } else {
                log::error!(
                    "{}: the app kept a request past --timeout; answering 503 and abandoning it",
                    self.info
                );
                // The request line went to the pool with the head: the access log shows `-`.
                shared
                    .responder
                    .refuse(shared.out, 503, self.head_request, &self.info, None, self.received);
                self.closing = Closing::AfterWrite;
                self.flush_out(shared);
            }
            return true;
        }
        match self.closing {
            Closing::Lingering | Closing::Now => self.closing = Closing::Now,
            _ if self.wants_write() => {
                log::debug!("{}: send timeout, closing", self.info);
                self.closing = Closing::Now;
            }
            _ if self.request_started => {
                log::info!("{}: request timed out while reading, answering 408", self.info);
                let line = match self.read_state {
                    ReadState::Head => complete_request_line(&self.rbuf),
                    ReadState::Body(_, ref head) => Some(head.request_line()),
                };
                shared
                    .responder
                    .refuse(shared.out, 408, self.head_request, &self.info, line, self.received);
                self.closing = Closing::AfterWrite;
                self.flush_out(shared);
            }
            _ => self.closing = Closing::Now,
        }
        false
    }

    /// The server started draining: an idle connection may bring one more request within a
    /// short grace (answered with `Connection: close`); a busy one closes after its response.
    pub(crate) fn on_drain(&mut self) {
        if self.is_idle() && self.closing == Closing::No && !self.request_started {
            self.deadline = self.deadline.min(Instant::now() + DRAIN_IDLE_GRACE);
        }
    }

    /// A request handed to the pool came back: send its response, then go on with the input.
    pub(crate) fn on_job_done(&mut self, out: &[u8], file: Option<FileTail>, after: After, shared: &mut Shared<'_>) {
        if self.with_app_since.take().is_none() {
            return; // abandoned after --timeout; the client was already answered
        }
        *shared.served += 1;
        self.streamed = false;
        self.apply(after);
        self.request_done(false, shared);
        self.queue_file(file);
        self.send(out, shared);
        if self.closing == Closing::No && !self.wants_write() {
            self.resume(shared);
        }
    }

    /// Reads and serves whatever the socket has.
    ///
    /// The socket is registered edge-triggered, so it must be read until nothing is left. A
    /// read that returns fewer bytes than asked for has emptied the socket's queue: bytes that
    /// come after it raise a new event. So a short read ends the loop (as nginx does), instead
    /// of a read that fails with `EAGAIN`: one system call fewer per request. The exception is
    /// `until_eof`: the client has already closed its side (the event said so, or it may have,
    /// unseen, while reading was paused), and no event will come for the end of the stream, so
    /// reading goes on until it is seen.
    pub(crate) fn on_readable(&mut self, shared: &mut Shared<'_>, until_eof: bool) {
        loop {
            match self.closing {
                Closing::Now => return,
                Closing::Lingering => return self.drain_input(shared),
                Closing::AfterWrite => return,
                Closing::No => {}
            }
            if self.wants_write() || self.with_app_since.is_some() || self.parked.is_some() {
                // Back-pressure: serve no more until the client takes what it was sent, or
                // while a request is with the app (responses go out in order).
                return;
            }
            let (read, asked) = if self.rbuf.is_empty() {
                let asked = shared.scratch.len();
                (self.read_into_scratch(shared), asked)
            } else {
                (self.read_into_rbuf(shared), READ_CHUNK_BYTES)
            };
            match read {
                Ok(0) => {
                    // The client closed its side; a partial request can never complete.
                    self.closing = if self.wants_write() {
                        Closing::AfterWrite
                    } else {
                        Closing::Now
                    };
                    return;
                }
                Ok(n) => {
                    self.flush_out(shared);
                    if self.held_by_file && !self.wants_write() {
                        // The file went out at once: serve the requests it held.
                        self.serve_buffered(shared);
                    }
                    if n < asked && !until_eof {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("{}: read error: {e}", self.info);
                    self.closing = Closing::Now;
                    return;
                }
            }
        }
    }

    /// Sends queued output; resumes reading once it is all gone.
    pub(crate) fn on_writable(&mut self, shared: &mut Shared<'_>) {
        self.write_pending(shared.timeouts);
        if self.wants_turn() {
            return self.on_turn(shared);
        }
        if self.closing == Closing::Now && self.abandon_parked(shared) {
            log::debug!("{}: the client went away during a parked response", self.info);
        }
        if !self.wants_write()
            && let Some(flow) = self.flow.take()
        {
            flow.finish(self.closing != Closing::Now);
            if let Some(timeout) = shared.app_timeout {
                self.deadline = Instant::now() + timeout;
            }
        }
        if !self.wants_write() {
            match self.closing {
                Closing::AfterWrite => self.start_linger(shared),
                Closing::No => self.resume(shared),
                _ => {}
            }
        }
    }

    /// Gives a parked response its next turn (see [`wants_turn`](Self::wants_turn)); once it
    /// ends, goes on with the input as after any response.
    pub(crate) fn on_turn(&mut self, shared: &mut Shared<'_>) {
        let Some(parked) = self.parked.take() else {
            return;
        };
        let wait = inline_send_wait(shared);
        let (resumed, client_gone) = pushing(&mut self.stream, &mut self.wbuf, &mut self.wpos, |push| {
            shared.responder.resume(parked, &self.info, shared.out, push, wait)
        });
        match resumed {
            Err(parked) => {
                self.parked = Some(parked);
                self.deadline = Instant::now() + shared.timeouts.send;
            }
            Ok(served) => {
                *shared.served += 1;
                self.apply(served.after);
                self.queue_file(shared.responder.take_file());
                if client_gone {
                    self.closing = Closing::Now;
                }
                self.request_done(false, shared);
                self.flush_out(shared);
                if self.closing == Closing::No && !self.wants_write() {
                    self.resume(shared);
                }
            }
        }
    }

    /// Ends the parked response, if there is one, as cut short: the app's body is closed and
    /// the access log records it. True when there was one.
    fn abandon_parked(&mut self, shared: &mut Shared<'_>) -> bool {
        let Some(parked) = self.parked.take() else {
            return false;
        };
        shared.responder.abandon(parked, &self.info);
        *shared.served += 1;
        true
    }

    /// A pool thread handed part of a streamed response: send it; the thread goes on once the
    /// client has taken it.
    pub(crate) fn on_partial(&mut self, flow: Arc<Flow>, shared: &mut Shared<'_>) {
        if self.with_app_since.is_none() || self.closing != Closing::No {
            flow.finish(false);
            return;
        }
        flow.take_part(shared.out);
        self.streamed = true;
        self.with_app_since = Some(Instant::now());
        if let Some(timeout) = shared.app_timeout {
            self.deadline = Instant::now() + timeout;
        }
        self.flush_out(shared);
        if self.is_done() {
            flow.finish(false);
        } else if self.wants_write() {
            self.flow = Some(flow);
        } else {
            flow.finish(true);
        }
    }

    /// Serves input that waited behind back-pressure, then reads on.
    fn resume(&mut self, shared: &mut Shared<'_>) {
        if !self.rbuf.is_empty() {
            self.serve_buffered(shared);
        }
        if self.closing == Closing::No && !self.wants_write() && self.with_app_since.is_none() {
            // Reading was paused: the client may have closed meanwhile, its event long gone.
            self.on_readable(shared, true);
        }
    }

    /// Serves the requests waiting in `rbuf`, again after each response that ended in a file
    /// and went out at once (such a response holds the requests behind it, see
    /// [`process`](Self::process)).
    fn serve_buffered(&mut self, shared: &mut Shared<'_>) {
        loop {
            let input = std::mem::take(&mut self.rbuf);
            let consumed = self.process(&input, shared);
            self.rbuf = input;
            if self.closing == Closing::No {
                self.rbuf.drain(..consumed);
            } else {
                self.rbuf.clear();
            }
            self.flush_out(shared);
            if !self.held_by_file || consumed == 0 || self.wants_write() || self.rbuf.is_empty() {
                return;
            }
        }
    }

    fn read_into_scratch(&mut self, shared: &mut Shared<'_>) -> io::Result<usize> {
        // The scratch buffer keeps its full length between uses, so reading into it costs no
        // allocation and no zeroing.
        let mut scratch = std::mem::take(shared.scratch);
        let result = self.stream.read(&mut scratch[..]);
        if let Ok(n) = result
            && n > 0
        {
            let consumed = self.process_input(&scratch[..n], shared);
            if consumed < n && self.closing == Closing::No {
                self.rbuf.extend_from_slice(&scratch[consumed..n]);
            }
        }
        *shared.scratch = scratch;
        result
    }

    fn read_into_rbuf(&mut self, shared: &mut Shared<'_>) -> io::Result<usize> {
        let start = self.rbuf.len();
        self.rbuf.resize(start + READ_CHUNK_BYTES, 0);
        let result = self.stream.read(&mut self.rbuf[start..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.rbuf.truncate(start + n);
        if n > 0 {
            let input = std::mem::take(&mut self.rbuf);
            let consumed = self.process_input(&input, shared);
            self.rbuf = input;
            if matches!(self.closing, Closing::No) {
                self.rbuf.drain(..consumed);
            } else {
                self.rbuf.clear();
            }
        }
        result
    }

    /// [`process`](Self::process) for bytes just read, with the deadline they start or extend:
    /// the header timeout from the first byte of a request, the body timeout from each read of a
    /// body. That deadline is only set when processing did not set a later one itself (a
    /// request served in full sets the keep-alive deadline), so the usual request costs one
    /// clock read, not two.
    fn process_input(&mut self, input: &[u8], shared: &mut Shared<'_>) -> usize {
        let timeout = match self.read_state {
            ReadState::Head if !self.request_started => {
                self.request_started = true;
                if shared.responder.apps().logs_access() {
                    self.received = SystemTime::now();
                }
                Some(shared.timeouts.header)
            }
            ReadState::Head => None,
            ReadState::Body(..) => Some(shared.timeouts.body),
        };
        let before = self.deadline;
        let consumed = self.process(input, shared);
        if let Some(timeout) = timeout
            && self.deadline == before
        {
            self.deadline = Instant::now() + timeout;
        }
        consumed
    }

    /// Frames and serves complete requests at the start of `input`; returns the bytes consumed
    /// (the rest is an incomplete head, or input that waits while a request is with the app).
    fn process(&mut self, input: &[u8], shared: &mut Shared<'_>) -> usize {
        let mut pos = 0;
        // A response ending in a file holds the requests after it until the file is out (its bytes
        // go straight from the file to the socket, so nothing can be queued behind them).
        while self.closing == Closing::No
            && self.with_app_since.is_none()
            && self.parked.is_none()
            && self.file.is_none()
            && pos < input.len()
        {
            let rest = &input[pos..];
            let state = std::mem::replace(&mut self.read_state, ReadState::Head);
            let step = match state {
                ReadState::Head => self.start_request(rest, shared),
                ReadState::Body(decoder, head) => self.continue_body(rest, decoder, head, shared),
            };
            match step {
                Progress::Served(consumed) => {
                    pos += consumed;
                    // Bytes after a request that asked to close: the client did not keep its
                    // word, so the close must linger for the response to survive.
                    self.client_closes &= pos == input.len();
                    self.request_done(pos < input.len(), shared);
                    if let Some(since) = self.with_app_since {
                        self.deadline = since + shared.app_timeout.unwrap_or(FAR_FUTURE);
                    }
                    if self.parked.is_some() {
                        // The response waits for the client (or its next turn).
                        self.deadline = Instant::now() + shared.timeouts.send;
                    }
                }
                Progress::Partial(consumed) => {
                    pos += consumed;
                    break;
                }
                Progress::Failed => {
                    pos = input.len();
                }
            }
        }
        self.held_by_file = self.file.is_some() && pos < input.len();
        pos
    }

    /// Resets the per-request state after a response; `more_input` says whether bytes of the
    /// next request are already here. When they are, that request arrived with them: its `%t`
    /// (read from the clock only when there is an access log) is now, not the last request's.
    fn request_done(&mut self, more_input: bool, shared: &Shared<'_>) {
        self.request_started = more_input || !self.rbuf.is_empty();
        self.continue_sent = false;
        if self.request_started && shared.responder.apps().logs_access() {
            self.received = SystemTime::now();
        }
        self.deadline = Instant::now()
            + if self.request_started {
                shared.timeouts.header
            } else {
                shared.timeouts.keep_alive
            };
    }

    fn start_request(&mut self, rest: &[u8], shared: &mut Shared<'_>) -> Progress {
        if self.protocol == Protocol::Uwsgi {
            return self.start_uwsgi_request(rest, shared);
        }
        self.head_request = crate::http::is_head_request(rest);
        let mut headers = header_slots::<HEADER_SLOTS>();
        let slots = shared.limits.max_headers.min(HEADER_SLOTS);
        let head = match parse_head(rest, &mut headers[..slots], shared.limits) {
            Ok(Parsed::Complete(head)) => head,
            Ok(Parsed::Partial) => return Progress::Partial(0),
            Err(error) => return self.reject(&error, rest, shared),
        };
        self.take_request(&head, rest, shared)
    }

    /// [`start_request`](Self::start_request) on a uwsgi connection: frames the packet (see
    /// `crate::uwsgi`); a packet refused closes the connection with one log line.
    fn start_uwsgi_request(&mut self, rest: &[u8], shared: &mut Shared<'_>) -> Progress {
        let limits = shared.limits;
        let packet_len = match crate::uwsgi::packet_len(rest, limits) {
            Ok(Some(len)) if rest.len() >= len => len,
            Ok(_) => return Progress::Partial(0),
            Err(error) => return self.refuse_packet(error, shared),
        };
        crate::uwsgi::with_head(&rest[..packet_len], limits, |framed| match framed {
            Ok(head) => {
                self.head_request = head.method == "HEAD";
                self.take_request(head, rest, shared)
            }
            Err(error) => self.refuse_packet(error, shared),
        })
    }

    fn refuse_packet(&mut self, error: crate::uwsgi::packet::PacketError, shared: &mut Shared<'_>) -> Progress {
        log::warn!("{}: bad uwsgi packet: {error}; closing the connection", self.info);
        match error.status() {
            Some(status) => {
                shared
                    .responder
                    .refuse(shared.out, status, self.head_request, &self.info, None, self.received);
                self.closing = Closing::AfterWrite;
            }
            None => self.closing = Closing::Now,
        }
        Progress::Failed
    }

    /// Takes the request whose head (framed from the start of `rest`) is `head`: serves it when
    /// its body is here, else saves the head and starts receiving the body.
    fn take_request(&mut self, head: &RequestHead<'_, '_>, rest: &[u8], shared: &mut Shared<'_>) -> Progress {
        let head_len = head.head_len;
        match head.framing {
            Framing::None => {
                self.serve_now(head, &[], shared);
                Progress::Served(head_len)
            }
            Framing::Length(length) if (rest.len() - head_len) as u64 >= length => {
                let end = head_len + length as usize;
                self.serve_now(head, &rest[head_len..end], shared);
                Progress::Served(end)
            }
            framing => {
                // The body spans reads: the head is kept, parsed, until it is complete.
                let expect_continue = head.expect_continue;
                let mut saved = self.spare_head.take().unwrap_or_default();
                saved.store(head);
                self.body.clear();
                match self.continue_body(&rest[head_len..], BodyDecoder::for_framing(framing), saved, shared) {
                    Progress::Partial(consumed) => {
                        self.await_body(expect_continue, shared);
                        Progress::Partial(head_len + consumed)
                    }
                    Progress::Served(consumed) => Progress::Served(head_len + consumed),
                    Progress::Failed => Progress::Failed,
                }
            }
        }
    }

    /// Takes body bytes from `rest` into the connection's body; serves the request whose saved
    /// head is `head` once the body is complete.
    fn continue_body(
        &mut self,
        rest: &[u8],
        mut decoder: BodyDecoder,
        head: Box<OwnedHead>,
        shared: &mut Shared<'_>,
    ) -> Progress {
        let progress = match decoder.decode(rest, self.body.mem_mut(), shared.limits) {
            Ok(progress) => progress,
            Err(error) => {
                log::info!("{}: bad request body: {error}", self.info);
                return self.refuse_body(error.status(), head, shared);
            }
        };
        if let Err(e) = self.body.settle(shared.spill) {
            log::error!("{}: cannot store the request body: {e}", self.info);
            return self.refuse_body(500, head, shared);
        }
        if !progress.done {
            self.read_state = ReadState::Body(decoder, head);
            return Progress::Partial(progress.consumed);
        }
        if let Err(e) = self.body.finish() {
            log::error!("{}: cannot store the request body: {e}", self.info);
            return self.refuse_body(500, head, shared);
        }
        self.serve_saved(head, shared);
        Progress::Served(progress.consumed)
    }

    /// Refuses the request whose body was arriving (`status`, logged by the caller); the
    /// connection closes after the error response.
    fn refuse_body(&mut self, status: u16, head: Box<OwnedHead>, shared: &mut Shared<'_>) -> Progress {
        let line = Some(head.request_line());
        shared
            .responder
            .refuse(shared.out, status, self.head_request, &self.info, line, self.received);
        self.spare_head = Some(head);
        self.closing = Closing::AfterWrite;
        Progress::Failed
    }

    /// Serves a request whose head and body are both in the input: inline, straight from the
    /// input bytes; pooled, copied into a job.
    fn serve_now(&mut self, head: &RequestHead<'_, '_>, body: &[u8], shared: &mut Shared<'_>) {
        self.client_closes = !head.keep_alive;
        match shared.pool.as_deref_mut() {
            None => {
                let mut input = body;
                self.answer_inline(head, &mut input, body.len() as u64, shared);
            }
            Some(pool) => {
                let mut job = pool.job();
                job.head.store(head);
                job.body.mem_mut().extend_from_slice(body);
                self.submit(job, shared);
            }
        }
    }

    /// Serves the request whose body spanned reads: its saved `head`, its body in `self.body`.
    fn serve_saved(&mut self, mut head: Box<OwnedHead>, shared: &mut Shared<'_>) {
        self.client_closes = !head.keep_alive();
        if let Some(pool) = shared.pool.as_deref_mut() {
            let mut job = pool.job();
            std::mem::swap(&mut job.head, &mut *head);
            std::mem::swap(&mut job.body, &mut self.body);
            self.spare_head = Some(head);
            return self.submit(job, shared);
        }
        let mut body = std::mem::take(&mut self.body);
        let body_len = body.len();
        head.with_view::<HEADER_SLOTS, _>(|view| self.answer_inline(view, &mut body.reader(), body_len, shared));
        body.clear();
        self.spare_head = Some(head);
        self.body = body;
    }

    /// Calls the app for `head` on the event loop's thread (`--threads 0`), whose body
    /// (`body_len` bytes) is read from `input`. The response goes to the socket as the app
    /// produces it; when the client does not keep up, it parks (see `crate::serve::parked`).
    fn answer_inline(
        &mut self,
        head: &RequestHead<'_, '_>,
        input: &mut dyn RequestInput,
        body_len: u64,
        shared: &mut Shared<'_>,
    ) {
        let wait = inline_send_wait(shared);
        let (answer, client_gone) = pushing(&mut self.stream, &mut self.wbuf, &mut self.wpos, |push| {
            shared.responder.respond_pushed(
                head,
                input,
                body_len,
                &self.info,
                shared.out,
                shared.draining,
                push,
                wait,
                self.received,
            )
        });
        match answer {
            Answer::Served(served) => {
                *shared.served += 1;
                self.apply(served.after);
                self.queue_file(shared.responder.take_file());
            }
            Answer::Parked(parked) => self.parked = Some(parked),
        }
        if client_gone {
            self.closing = Closing::Now;
        }
    }

    fn submit(&mut self, mut job: crate::serve::pool::Job, shared: &mut Shared<'_>) {
        job.conn = self.slab_index;
        job.conn_id = self.id;
        job.info = Some(self.info.clone());
        job.closing = shared.draining;
        job.received = self.received;
        self.with_app_since = Some(Instant::now());
        if let Some(pool) = shared.pool.as_deref_mut() {
            pool.submit(job);
        }
    }

    fn await_body(&mut self, expect_continue: bool, shared: &mut Shared<'_>) {
        if expect_continue && !self.continue_sent {
            shared.out.extend_from_slice(CONTINUE_100);
            self.continue_sent = true;
        }
        self.deadline = Instant::now() + shared.timeouts.body;
    }

    /// Refuses the request whose head starts `input`, for `error`.
    fn reject(&mut self, error: &ParseError, input: &[u8], shared: &mut Shared<'_>) -> Progress {
        log::info!("{}: bad request: {error}", self.info);
        let line = if error.is_about_request_line() {
            None
        } else {
            complete_request_line(input)
        };
        shared.responder.refuse(
            shared.out,
            error.status(),
            self.head_request,
            &self.info,
            line,
            self.received,
        );
        self.closing = Closing::AfterWrite;
        Progress::Failed
    }

    /// Queues the file that ends the response whose bytes are sent next.
    fn queue_file(&mut self, file: Option<FileTail>) {
        if file.is_some() {
            self.file = file;
        }
    }

    fn apply(&mut self, after: After) {
        match after {
            After::KeepAlive => {}
            After::Close | After::Abort => self.closing = Closing::AfterWrite,
        }
    }

    /// Moves the shared output into the socket, keeping what the socket does not take.
    fn flush_out(&mut self, shared: &mut Shared<'_>) {
        let out = std::mem::take(shared.out);
        self.send(&out, shared);
        *shared.out = out;
        shared.out.clear();
    }

    /// Sends `data` (after anything queued before it), queueing what the socket does not take.
    fn send(&mut self, data: &[u8], shared: &mut Shared<'_>) {
        if self.file.is_some() && self.wpos == self.wbuf.len() {
            // The bytes before a file: queued, then pushed with the file.
            self.wbuf.clear();
            self.wpos = 0;
            self.wbuf.extend_from_slice(data);
            self.write_pending(shared.timeouts);
            if self.wants_write() {
                self.deadline = Instant::now() + shared.timeouts.send;
            } else if self.closing == Closing::AfterWrite {
                self.start_linger(shared);
            }
            return;
        }
        if !data.is_empty() {
            if self.wants_write() {
                self.wbuf.extend_from_slice(data);
            } else {
                self.wbuf.clear();
                self.wpos = 0;
                // The close follows at once (see `start_linger`): the response may wait for it,
                // and leave with its FIN.
                let closes_next = self.closing == Closing::AfterWrite && self.client_closes;
                let written = if closes_next {
                    write_before_close(&mut self.stream, data)
                } else {
                    write_some(&mut self.stream, data)
                };
                match written {
                    Ok(written) => self.wbuf.extend_from_slice(&data[written..]),
                    Err(_) => self.closing = Closing::Now,
                }
            }
            if self.wants_write() {
                self.deadline = Instant::now() + shared.timeouts.send;
            }
        }
        if !self.wants_write() {
            self.release_write_buffer();
            if self.closing == Closing::AfterWrite {
                self.start_linger(shared);
            }
        }
    }

    fn write_pending(&mut self, timeouts: &Timeouts) {
        while self.wants_write() {
            if self.wpos == self.wbuf.len() {
                // Only the file is left.
                match self.send_file_part() {
                    Ok(true) => {
                        self.deadline = Instant::now() + timeouts.send;
                        continue;
                    }
                    Ok(false) => return,
                    Err(e) => {
                        log::debug!("{}: sending a file body failed: {e}", self.info);
                        self.file = None;
                        self.closing = Closing::Now;
                        return;
                    }
                }
            }
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => {
                    self.closing = Closing::Now;
                    return;
                }
                Ok(n) => {
                    self.wpos += n;
                    self.deadline = Instant::now() + timeouts.send;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.closing = Closing::Now;
                    return;
                }
            }
        }
        self.release_write_buffer();
        if !self.request_started && matches!(self.read_state, ReadState::Head) {
            self.deadline = Instant::now() + timeouts.keep_alive;
        }
    }

    /// Sends the next part of the queued file: with sendfile, or (where sendfile cannot serve
    /// the descriptor) by reading a block of it into `wbuf`. Once the file is out, its chunked
    /// framing's end goes into `wbuf`. `Ok(true)` when progress was made, `Ok(false)` when the
    /// socket is full.
    fn send_file_part(&mut self) -> io::Result<bool> {
        use crate::os::sendfile::{cannot_serve, send_file};
        use std::os::fd::AsFd;
        use std::os::unix::fs::FileExt;
        /// Most bytes one sendfile call is asked for (the kernel sends what fits the socket).
        const SENDFILE_STEP: u64 = 1 << 30;
        /// Size of one block read where sendfile cannot serve.
        const FALLBACK_BLOCK: u64 = 64 * 1024;
        let Some(tail) = self.file.as_mut() else {
            return Ok(true);
        };
        if tail.remaining == 0 {
            let chunked = tail.chunked;
            self.file = None;
            self.wbuf.clear();
            self.wpos = 0;
            if chunked {
                self.wbuf.extend_from_slice(CHUNK_END);
                self.wbuf.extend_from_slice(LAST_CHUNK);
            }
            return Ok(true);
        }
        let step = usize::try_from(tail.remaining.min(SENDFILE_STEP)).unwrap_or(1 << 20);
        let mut offset = tail.offset;
        let sent = match send_file(self.stream.as_fd(), tail.file.as_fd(), &mut offset, step) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended early")),
            Ok(sent) => sent as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) if cannot_serve(&e) => {
                // Plain reads: a block of the file goes through `wbuf` like any bytes.
                let block = usize::try_from(tail.remaining.min(FALLBACK_BLOCK)).unwrap_or(1 << 16);
                self.wbuf.clear();
                self.wpos = 0;
                self.wbuf.resize(block, 0);
                let read = loop {
                    match tail.file.read_at(&mut self.wbuf, tail.offset) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                self.wbuf.truncate(read);
                if read == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended early"));
                }
                read as u64
            }
            Err(e) => return Err(e),
        };
        tail.offset += sent;
        tail.remaining -= sent;
        Ok(true)
    }

    fn release_write_buffer(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = Vec::new();
        }
    }

    /// Closes after the response is out. A close with unread bytes in the socket makes the
    /// kernel send a reset, which can destroy the response before the client reads it, so the
    /// write side is shut and the input drained until the client closes too (or
    /// `LINGER_TIMEOUT`). When the client itself asked to close and sent nothing more, nothing
    /// is unread: the socket is closed at once (a FIN after the response), saving a shutdown, a
    /// read and a wake-up per connection.
    fn start_linger(&mut self, shared: &mut Shared<'_>) {
        if self.client_closes {
            self.closing = Closing::Now;
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        self.closing = Closing::Lingering;
        self.rbuf = Vec::new();
        self.deadline = Instant::now() + LINGER_TIMEOUT;
        self.drain_input(shared);
    }

    fn drain_input(&mut self, shared: &mut Shared<'_>) {
        let mut scratch = std::mem::take(shared.scratch);
        loop {
            match self.stream.read(&mut scratch[..]) {
                Ok(0) => {
                    self.closing = Closing::Now;
                    break;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closing = Closing::Now;
                    break;
                }
            }
        }
        *shared.scratch = scratch;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // A pool thread waiting for this connection to take a streamed part must not wait
        // forever: the client is gone.
        if let Some(flow) = self.flow.take() {
            flow.finish(false);
        }
    }
}

/// What framing one request did.
enum Progress {
    /// A request was answered (or handed to the pool); this many input bytes belonged to it.
    Served(usize),
    /// The request is incomplete; this many input bytes were taken into it.
    Partial(usize),
    /// The request was refused; the connection closes after the error response.
    Failed,
}

/// How long an app called inline may wait for the client to take part of a large response: the
/// send timeout, but at most half of `--timeout`, since the worker's event loop (and so its
/// heartbeat to the supervisor) waits with it.
fn inline_send_wait(shared: &Shared<'_>) -> Duration {
    match shared.app_timeout {
        Some(app_timeout) => shared.timeouts.send.min(app_timeout / 2),
        None => shared.timeouts.send,
    }
}

/// Runs `respond` with the event loop's push over the connection's socket and queue (see
/// [`push_out`]); returns what it returned and whether the push found the client gone.
#[inline]
fn pushing<R>(
    stream: &mut Stream,
    wbuf: &mut Vec<u8>,
    wpos: &mut usize,
    respond: impl FnOnce(crate::serve::pump::Push<'_>) -> R,
) -> (R, bool) {
    let mut client_gone = false;
    let mut push = |out: &mut Vec<u8>, wait: Option<Duration>| {
        let delivered = push_out(stream, wbuf, wpos, out, wait);
        client_gone |= delivered == Delivered::Gone;
        delivered
    };
    let result = respond(&mut push);
    (result, client_gone)
}

/// The event loop's push for a response of an app called inline (see
/// [`Delivery::Pushed`](crate::serve::respond::Delivery)): sends `out` after the bytes the
/// connection has queued (`wbuf` from `wpos`), queues what the socket does not take, and empties
/// `out`. With `wait` (bytes the app writes during its call, which cannot park), it waits up to
/// `wait` for each bit of progress until everything is out, so that the worker never holds more
/// than a bounded part of such a response.
#[inline]
fn push_out(
    stream: &mut Stream,
    wbuf: &mut Vec<u8>,
    wpos: &mut usize,
    out: &mut Vec<u8>,
    wait: Option<Duration>,
) -> Delivered {
    let delivered = match wait {
        None if *wpos < wbuf.len() => {
            wbuf.extend_from_slice(out);
            Delivered::Queued
        }
        None => {
            wbuf.clear();
            *wpos = 0;
            // One write takes the usual part whole; only a part the socket split goes on.
            let first = match stream.write(out) {
                Ok(written) if written == out.len() => {
                    out.clear();
                    return Delivered::Taken;
                }
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => write_some(stream, &out[written..]).map(|more| written + more),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(_) => write_some(stream, out),
            };
            match first {
                Ok(written) if written == out.len() => Delivered::Taken,
                Ok(written) => {
                    wbuf.extend_from_slice(&out[written..]);
                    Delivered::Queued
                }
                Err(_) => Delivered::Gone,
            }
        }
        Some(wait) => {
            let sent = send_all_waiting(stream, &wbuf[*wpos..], wait) && send_all_waiting(stream, out, wait);
            wbuf.clear();
            *wpos = 0;
            if sent { Delivered::Taken } else { Delivered::Gone }
        }
    };
    out.clear();
    delivered
}

/// Sends all of `data`, waiting up to `wait` for each bit of progress; false when the client is
/// gone or took nothing for `wait`.
fn send_all_waiting(stream: &mut Stream, data: &[u8], wait: Duration) -> bool {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return false,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !matches!(
                    crate::os::fd::wait_writable(std::os::fd::AsFd::as_fd(stream), wait),
                    Ok(true)
                ) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// [`write_some`] for the last bytes before a close ([`Stream::write_before_close`] first; a
/// rest the socket did not take goes with plain writes, which push what waits).
fn write_before_close(stream: &mut Stream, data: &[u8]) -> io::Result<usize> {
    let first = loop {
        match stream.write_before_close(data) {
            Ok(0) if !data.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => break written,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    };
    if first == data.len() {
        return Ok(first);
    }
    Ok(first + write_some(stream, &data[first..])?)
}

/// Writes as much of `data` as the socket takes now.
fn write_some(stream: &mut Stream, data: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
