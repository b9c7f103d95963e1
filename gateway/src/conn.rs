//! One client connection: its buffers, its request framing state, its timeouts.
//!
//! Owns the life of a socket from accept to close: reading (into the worker's shared scratch
//! buffer first, so an idle connection holds no buffers), framing requests out of the bytes with
//! the `http` layer, handing complete requests to the [`Responder`] in order (pipelining),
//! writing responses with back-pressure (no reading while output is pending), `Expect:
//! 100-continue`, and closing — lingering after an error so the client reads the error response
//! instead of a reset.

use crate::environ::ConnInfo;
use crate::http::{CONTINUE_100, ChunkedDecoder, Framing, Limits, ParseError, Parsed, parse_head};
use crate::respond::{After, Responder};
use mio::net::TcpStream;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Most header lines parsed from one request, whatever the configured limit.
pub const HEADER_SLOTS: usize = 256;
/// How much to read at a time into a connection's own buffer.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// How long a closing connection keeps draining the client's unread bytes.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// Timeouts of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the first byte of a request head to its end.
    pub header: Duration,
    /// Longest wait for the next bytes of a request body.
    pub body: Duration,
    /// Longest idle time between two requests on a kept-alive connection.
    pub keep_alive: Duration,
    /// Longest wait for the client to accept more response bytes.
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(30),
            body: Duration::from_secs(60),
            keep_alive: Duration::from_secs(15),
            send: Duration::from_secs(60),
        }
    }
}

/// What the worker shares with every connection while handling one event.
pub struct Shared<'w> {
    /// The app and request resources.
    pub responder: &'w mut Responder,
    /// Where reads land first (always at its full length; never empty).
    pub scratch: &'w mut Vec<u8>,
    /// Where responses are written before going to the socket.
    pub out: &'w mut Vec<u8>,
    /// Request limits.
    pub limits: &'w Limits,
    /// Timeouts.
    pub timeouts: &'w Timeouts,
    /// The server is stopping: finish the current request, then close.
    pub draining: bool,
}

/// Where the connection is in reading requests.
#[derive(Debug)]
enum ReadState {
    /// Between requests, or inside a head not yet complete.
    Head,
    /// The head (`head_len` bytes at the start of the pending input) is parsed; its body is not
    /// complete yet.
    Body { head_len: usize, body: PendingBody },
}

#[derive(Debug)]
enum PendingBody {
    Length(u64),
    /// `consumed` raw bytes after the head have been decoded into the connection's body buffer.
    Chunked {
        decoder: ChunkedDecoder,
        consumed: usize,
    },
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
pub struct Conn {
    stream: TcpStream,
    info: ConnInfo,
    /// Unprocessed input (only when a request spans reads).
    rbuf: Vec<u8>,
    /// Unsent output.
    wbuf: Vec<u8>,
    wpos: usize,
    /// A de-chunked request body being assembled.
    body: Vec<u8>,
    read_state: ReadState,
    continue_sent: bool,
    closing: Closing,
    /// A request has started arriving (for the header timeout).
    request_started: bool,
    deadline: Instant,
    /// The readiness the socket is registered for.
    interest: mio::Interest,
}

impl Conn {
    /// A newly accepted connection.
    pub fn new(stream: TcpStream, info: ConnInfo, timeouts: &Timeouts) -> Conn {
        Conn {
            stream,
            info,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
            body: Vec::new(),
            read_state: ReadState::Head,
            continue_sent: false,
            closing: Closing::No,
            request_started: false,
            deadline: Instant::now() + timeouts.header,
            interest: mio::Interest::READABLE,
        }
    }

    /// The readiness the socket is registered for.
    pub fn interest(&self) -> mio::Interest {
        self.interest
    }

    /// Records a new registration.
    pub fn set_interest(&mut self, interest: mio::Interest) {
        self.interest = interest;
    }

    /// The socket, for (re)registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// True when output is waiting for the socket to become writable.
    pub fn wants_write(&self) -> bool {
        self.wpos < self.wbuf.len()
    }

    /// True when the connection should be dropped.
    pub fn is_done(&self) -> bool {
        self.closing == Closing::Now
    }

    /// True when no request is in progress and nothing is queued.
    pub fn is_idle(&self) -> bool {
        matches!(self.read_state, ReadState::Head) && self.rbuf.is_empty() && !self.wants_write()
    }

    /// When the current timeout expires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Handles an expired deadline.
    pub fn on_timeout(&mut self, shared: &mut Shared<'_>) {
        match self.closing {
            Closing::Lingering | Closing::Now => self.closing = Closing::Now,
            _ if self.wants_write() => {
                log::debug!("{}: send timeout, closing", self.info.peer);
                self.closing = Closing::Now;
            }
            _ if self.request_started => {
                log::info!("{}: request timed out while reading, answering 408", self.info.peer);
                shared.responder.write_error(shared.out, 408);
                self.closing = Closing::AfterWrite;
                self.flush_out(shared);
            }
            _ => self.closing = Closing::Now,
        }
    }

    /// The server started draining: close now if idle, otherwise after the current request.
    pub fn on_drain(&mut self) {
        if self.is_idle() && self.closing == Closing::No {
            self.closing = Closing::Now;
        }
    }

    /// Reads and serves whatever the socket has.
    pub fn on_readable(&mut self, shared: &mut Shared<'_>) {
        loop {
            match self.closing {
                Closing::Now => return,
                Closing::Lingering => return self.drain_input(shared),
                Closing::AfterWrite => return,
                Closing::No => {}
            }
            if self.wants_write() {
                // Back-pressure: serve no more until the client takes what it was sent.
                return;
            }
            let read = if self.rbuf.is_empty() {
                self.read_into_scratch(shared)
            } else {
                self.read_into_rbuf(shared)
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
                Ok(_) => self.flush_out(shared),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("{}: read error: {e}", self.info.peer);
                    self.closing = Closing::Now;
                    return;
                }
            }
        }
    }

    /// Sends queued output; resumes reading once it is all gone.
    pub fn on_writable(&mut self, shared: &mut Shared<'_>) {
        self.write_pending(shared.timeouts);
        if !self.wants_write() {
            match self.closing {
                Closing::AfterWrite => self.start_linger(shared),
                Closing::No => {
                    // Input may be waiting behind the back-pressure: serve it.
                    if !self.rbuf.is_empty() {
                        let input = std::mem::take(&mut self.rbuf);
                        let consumed = self.process(&input, shared);
                        self.rbuf = input;
                        self.rbuf.drain(..consumed);
                        self.flush_out(shared);
                    }
                    self.on_readable(shared);
                }
                _ => {}
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
            self.note_input(shared.timeouts);
            let consumed = self.process(&scratch[..n], shared);
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
            self.note_input(shared.timeouts);
            let input = std::mem::take(&mut self.rbuf);
            let consumed = self.process(&input, shared);
            self.rbuf = input;
            if matches!(self.closing, Closing::No) {
                self.rbuf.drain(..consumed);
            } else {
                self.rbuf.clear();
            }
        }
        result
    }

    fn note_input(&mut self, timeouts: &Timeouts) {
        let now = Instant::now();
        match self.read_state {
            ReadState::Head if !self.request_started => {
                self.request_started = true;
                self.deadline = now + timeouts.header;
            }
            ReadState::Head => {}
            ReadState::Body { .. } => self.deadline = now + timeouts.body,
        }
    }

    /// Frames and serves complete requests at the start of `input`; returns the bytes consumed.
    fn process(&mut self, input: &[u8], shared: &mut Shared<'_>) -> usize {
        let mut pos = 0;
        while self.closing == Closing::No && pos < input.len() {
            let rest = &input[pos..];
            let state = std::mem::replace(&mut self.read_state, ReadState::Head);
            let step = match state {
                ReadState::Head => self.start_request(rest, shared),
                ReadState::Body { head_len, body } => self.continue_body(rest, head_len, body, shared),
            };
            match step {
                Progress::Served(consumed) => {
                    pos += consumed;
                    self.request_started = pos < input.len();
                    self.continue_sent = false;
                    self.deadline = Instant::now()
                        + if self.request_started {
                            shared.timeouts.header
                        } else {
                            shared.timeouts.keep_alive
                        };
                }
                Progress::NeedMore => break,
                Progress::Failed => {
                    pos = input.len();
                }
            }
        }
        pos
    }

    fn start_request(&mut self, rest: &[u8], shared: &mut Shared<'_>) -> Progress {
        let mut headers = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        let slots = shared.limits.max_headers.min(HEADER_SLOTS);
        let head = match parse_head(rest, &mut headers[..slots], shared.limits) {
            Ok(Parsed::Complete(head)) => head,
            Ok(Parsed::Partial) => return Progress::NeedMore,
            Err(error) => return self.reject(&error, shared),
        };
        let head_len = head.head_len;
        match head.framing {
            Framing::None => {
                let after = shared
                    .responder
                    .respond(&head, &[], &self.info, shared.out, shared.draining);
                self.apply(after);
                Progress::Served(head_len)
            }
            Framing::Length(length) => {
                let available = (rest.len() - head_len) as u64;
                if available >= length {
                    let body = &rest[head_len..head_len + length as usize];
                    let after = shared
                        .responder
                        .respond(&head, body, &self.info, shared.out, shared.draining);
                    self.apply(after);
                    Progress::Served(head_len + length as usize)
                } else {
                    self.await_body(head.expect_continue, shared);
                    self.read_state = ReadState::Body {
                        head_len,
                        body: PendingBody::Length(length),
                    };
                    Progress::NeedMore
                }
            }
            Framing::Chunked => {
                let expect_continue = head.expect_continue;
                self.body.clear();
                let body = PendingBody::Chunked {
                    decoder: ChunkedDecoder::new(),
                    consumed: 0,
                };
                let progress = self.continue_body(rest, head_len, body, shared);
                if matches!(progress, Progress::NeedMore) {
                    self.await_body(expect_continue, shared);
                }
                progress
            }
        }
    }

    fn continue_body(&mut self, rest: &[u8], head_len: usize, body: PendingBody, shared: &mut Shared<'_>) -> Progress {
        match body {
            PendingBody::Length(length) => {
                let total = head_len + length as usize;
                if rest.len() < total {
                    self.read_state = ReadState::Body {
                        head_len,
                        body: PendingBody::Length(length),
                    };
                    return Progress::NeedMore;
                }
                self.serve_parsed(&rest[..head_len], &rest[head_len..total], shared);
                Progress::Served(total)
            }
            PendingBody::Chunked { mut decoder, consumed } => {
                let from = head_len + consumed;
                let mut body = std::mem::take(&mut self.body);
                let result = decoder.decode(&rest[from..], &mut body, shared.limits);
                let progress = match result {
                    Err(error) => {
                        log::info!("{}: bad chunked body: {error}", self.info.peer);
                        shared.responder.write_error(shared.out, error.status());
                        self.closing = Closing::AfterWrite;
                        Progress::Failed
                    }
                    Ok(progress) if progress.done => {
                        let total = from + progress.consumed;
                        self.serve_parsed(&rest[..head_len], &body, shared);
                        Progress::Served(total)
                    }
                    Ok(progress) => {
                        self.read_state = ReadState::Body {
                            head_len,
                            body: PendingBody::Chunked {
                                decoder,
                                consumed: consumed + progress.consumed,
                            },
                        };
                        Progress::NeedMore
                    }
                };
                body.clear();
                self.body = body;
                progress
            }
        }
    }

    /// Serves a request whose head was parsed before (it is parsed again from the same bytes,
    /// which is cheaper than keeping borrowed pieces across reads).
    fn serve_parsed(&mut self, head_bytes: &[u8], body: &[u8], shared: &mut Shared<'_>) {
        let mut headers = [httparse::EMPTY_HEADER; HEADER_SLOTS];
        let slots = shared.limits.max_headers.min(HEADER_SLOTS);
        match parse_head(head_bytes, &mut headers[..slots], shared.limits) {
            Ok(Parsed::Complete(head)) => {
                let after = shared
                    .responder
                    .respond(&head, body, &self.info, shared.out, shared.draining);
                self.apply(after);
            }
            _ => {
                // Unreachable: the same bytes parsed before. Fail safe.
                shared.responder.write_error(shared.out, 500);
                self.closing = Closing::AfterWrite;
            }
        }
    }

    fn await_body(&mut self, expect_continue: bool, shared: &mut Shared<'_>) {
        if expect_continue && !self.continue_sent {
            shared.out.extend_from_slice(CONTINUE_100);
            self.continue_sent = true;
        }
        self.deadline = Instant::now() + shared.timeouts.body;
    }

    fn reject(&mut self, error: &ParseError, shared: &mut Shared<'_>) -> Progress {
        log::info!("{}: bad request: {error}", self.info.peer);
        shared.responder.write_error(shared.out, error.status());
        self.closing = Closing::AfterWrite;
        Progress::Failed
    }

    fn apply(&mut self, after: After) {
        match after {
            After::KeepAlive => {}
            After::Close | After::Abort => self.closing = Closing::AfterWrite,
        }
    }

    /// Moves the shared output into the socket, keeping what the socket does not take.
    fn flush_out(&mut self, shared: &mut Shared<'_>) {
        if !shared.out.is_empty() {
            if self.wants_write() {
                self.wbuf.extend_from_slice(shared.out);
            } else {
                self.wbuf.clear();
                self.wpos = 0;
                match write_some(&mut self.stream, shared.out) {
                    Ok(written) => self.wbuf.extend_from_slice(&shared.out[written..]),
                    Err(_) => self.closing = Closing::Now,
                }
            }
            shared.out.clear();
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

    fn release_write_buffer(&mut self) {
        self.wbuf.clear();
        self.wpos = 0;
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = Vec::new();
        }
    }

    fn start_linger(&mut self, shared: &mut Shared<'_>) {
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

/// What framing one request did.
enum Progress {
    /// A request was answered; this many input bytes belonged to it.
    Served(usize),
    /// The request is incomplete.
    NeedMore,
    /// The request was refused; the connection closes after the error response.
    Failed,
}

/// Writes as much of `data` as the socket takes now.
fn write_some(stream: &mut TcpStream, data: &[u8]) -> io::Result<usize> {
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
