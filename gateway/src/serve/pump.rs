//! Pulling one response out of an app and framing it: the app's [`Step`]s become HTTP/1.1 body
//! bytes (Content-Length, chunked or close-delimited, as the head's framing says) in the
//! response buffer, and each part is delivered as the caller asks — kept whole, handed to a
//! pool thread's sink, or pushed to the client's socket by the event loop, which may pause the
//! response when the socket is full ([`Delivery`]). A file body's head is written here and the
//! file queued for sendfile ([`FileTail`]), or copied when it is small.
//!
//! The same loop ([`pump`]) runs for an exchange just called and for one resumed after it was
//! parked; the response's state between steps is one [`Outgoing`] value. Never touches a socket
//! itself (a delivery's closure does), never logs a request, never decides a status.

use crate::http::{
    BodyKind, CHUNK_END, DateCache, RequestHead, ResponseHead, framing_for, write_chunk, write_chunk_size_line,
    write_head, write_last_chunk,
};
use nsgi::host::{FileStep, RequestId, Step};
use nsgi_conformance::Validator;
use std::time::Duration;

/// Where a pool thread hands part of a response: takes the bytes out of the buffer and returns
/// once they are sent, `false` when the client is gone (the app is then stopped).
pub(crate) type Sink<'s> = &'s mut dyn FnMut(&mut Vec<u8>) -> bool;

/// The end of a response whose body is a file (`file_body`) larger than [`COPIED_FILE_MAX`]: the
/// connection sends it after the response's bytes, with sendfile, so the file never passes
/// through the gateway's memory.
#[derive(Debug)]
pub(crate) struct FileTail {
    /// A duplicate of the body's descriptor (the body itself is closed when the app call ends).
    pub(crate) file: std::fs::File,
    /// Where the bytes to send start.
    pub(crate) offset: u64,
    /// Bytes still to send.
    pub(crate) remaining: u64,
    /// Chunked framing: the chunk's size line went out before the file; its CRLF and the last
    /// chunk follow it.
    pub(crate) chunked: bool,
}

/// The value of the `Server` header the gateway adds when the app sets none.
pub(crate) const SERVER_HEADER: &[u8] = b"nsgi-gateway";

/// How far [`pump`] took a response.
pub(crate) enum Pumped {
    /// The response ended: `Ok(keep_alive)`, or the failure (empty when the client went away).
    Ended(Result<bool, String>),
    /// The client's socket is full, or this turn's share of the event loop is spent: the
    /// response waits (only with [`Delivery::Pushed`]).
    Paused,
}

/// Most response bytes one connection's app pushes in one turn of the event loop before the
/// others get theirs (an endless body to a fast client would otherwise keep the loop).
pub(crate) const PUSHED_PER_TURN: u64 = 1024 * 1024;

/// The steps of a response, from an exchange called now or one resumed.
pub(crate) trait Pull {
    fn take_file(&mut self) -> Result<Option<FileStep<'_>>, nsgi::host::ResponseFailure>;
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure>;
}

impl Pull for nsgi::host::Exchange<'_> {
    #[inline(always)]
    fn take_file(&mut self) -> Result<Option<FileStep<'_>>, nsgi::host::ResponseFailure> {
        nsgi::host::Exchange::take_file(self)
    }
    #[inline(always)]
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure> {
        nsgi::host::Exchange::next_step(self)
    }
}

impl Pull for nsgi::host::Resumed<'_> {
    fn take_file(&mut self) -> Result<Option<FileStep<'_>>, nsgi::host::ResponseFailure> {
        nsgi::host::Resumed::take_file(self)
    }
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure> {
        nsgi::host::Resumed::next_step(self)
    }
}

/// Pulls a response's steps into `out`, framed, and delivers them as `delivery` says, until the
/// response ends or (pushed) the client's socket is full or the turn is spent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pump(
    date: &mut DateCache,
    file_tail: &mut Option<FileTail>,
    pull: &mut impl Pull,
    sent: &mut Outgoing,
    head: &RequestHead<'_, '_>,
    validator: Option<&Validator>,
    request_id: RequestId,
    out: &mut Vec<u8>,
    delivery: &mut Delivery<'_>,
) -> Pumped {
    let is_head = head.method == "HEAD";
    let keep_alive = sent.keep_alive;
    let body_before = sent.body_bytes;
    loop {
        match pull.take_file() {
            Ok(None) => {}
            Ok(Some(file)) => {
                if file.head.is_some()
                    && let Some(finding) = validator.and_then(|v| v.fatal_finding(request_id))
                {
                    return Pumped::Ended(Err(format!("{} {}", finding.check, finding.message)));
                }
                let now = date.now();
                let head_written = sent.head_written;
                match queue_file(file, head, now, out, sent) {
                    Ok(QueuedFile { tail, body_bytes }) => {
                        *file_tail = tail;
                        sent.body_bytes += body_bytes;
                    }
                    Err(e) => {
                        // Nothing of this response left: a head written here is dropped with it.
                        sent.head_written = head_written;
                        return Pumped::Ended(Err(format!("cannot send the file body: {e}")));
                    }
                }
                continue;
            }
            Err(failure) => return Pumped::Ended(Err(failure.to_string())),
        }
        match pull.next_step() {
            Ok(Step::Head {
                head: response,
                data,
                end,
            }) => {
                if let Some(finding) = validator.and_then(|v| v.fatal_finding(request_id)) {
                    return Pumped::Ended(Err(format!("{} {}", finding.check, finding.message)));
                }
                let empty = end && data.is_empty();
                let keep = sent.write_head(out, head, &response, is_head, empty, date.now());
                if is_head {
                    // A HEAD response carries no body: stop the app here (close is called).
                    return Pumped::Ended(Ok(keep));
                }
                sent.body_bytes += write_body(out, sent.framing, data);
                if end {
                    finish_body(out, sent.framing);
                    return Pumped::Ended(Ok(keep));
                }
            }
            Ok(Step::Data(data)) => sent.body_bytes += write_body(out, sent.framing, data),
            Ok(Step::End) => {
                if file_tail.is_none() {
                    // After a file, the connection ends the body once the file is out.
                    finish_body(out, sent.framing);
                }
                return Pumped::Ended(Ok(keep_alive && !matches!(sent.framing, BodyKind::CloseDelimited)));
            }
            Err(failure) => return Pumped::Ended(Err(failure.to_string())),
        }
        if matches!(sent.framing, BodyKind::Length(length) if sent.body_bytes >= length) {
            // The declared length is complete: the next step is the end, without calling the
            // app; the response goes out whole with it.
            continue;
        }
        // More is to come, maybe much later: what the app gave goes out now (PEP 3333 lets a
        // server delay no block the app yields).
        match deliver(delivery, out, false) {
            Delivered::Taken if sent.body_bytes - body_before >= PUSHED_PER_TURN && delivery.pushes() => {
                return Pumped::Paused;
            }
            Delivered::Taken => {}
            Delivered::Queued => return Pumped::Paused,
            Delivered::Gone => {
                sent.client_gone = true;
                return Pumped::Ended(Err(String::new()));
            }
        }
    }
}

/// What became of bytes handed to a [`Delivery`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// They went out (or wait in `out`, for a whole delivery).
    Taken,
    /// The client's socket is full: the rest waits with the connection.
    Queued,
    /// The client is gone.
    Gone,
}

/// Where the parts of a response go as the app produces them.
pub(crate) enum Delivery<'s> {
    /// All into `out`, for the caller to send once the response is complete.
    Whole,
    /// To a pool thread's sink, which returns once the part is sent.
    Handed(Sink<'s>),
    /// Pushed to the client's socket by the event loop without waiting; when the socket is full
    /// the response parks ([`Answer::Parked`]). Bytes written with `write()` during the app's
    /// `call` cannot wait that way: for them the push may wait up to the duration given.
    Pushed(Push<'s>, Duration),
}

/// The event loop's push: sends `out` after whatever the connection has queued, keeps what the
/// socket does not take, and empties `out`. With a duration, it waits up to that long for each
/// bit of progress until everything is out.
pub(crate) type Push<'s> = &'s mut dyn FnMut(&mut Vec<u8>, Option<Duration>) -> Delivered;

impl Delivery<'_> {
    fn pushes(&self) -> bool {
        matches!(self, Delivery::Pushed(..))
    }
}

/// Hands `out` to `delivery` (waiting, for bytes written during `call`, when `wait` says so).
fn deliver(delivery: &mut Delivery<'_>, out: &mut Vec<u8>, wait: bool) -> Delivered {
    match delivery {
        Delivery::Whole => Delivered::Taken,
        Delivery::Handed(sink) => {
            if sink(out) {
                Delivered::Taken
            } else {
                Delivered::Gone
            }
        }
        Delivery::Pushed(push, longest) => push(out, wait.then_some(*longest)),
    }
}

/// Where a response stands between the app's steps: what went out, and what the rest needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outgoing {
    /// How the body is framed (known once the head went out).
    pub(crate) framing: BodyKind,
    /// The status sent.
    pub(crate) status: u16,
    /// Body bytes sent (after framing is removed).
    pub(crate) body_bytes: u64,
    /// The head went out (a failure can no longer become a 500).
    pub(crate) head_written: bool,
    /// The client went away.
    pub(crate) client_gone: bool,
    /// May the connection carry another request (before the framing has its say)?
    pub(crate) keep_alive: bool,
}

impl Outgoing {
    /// Decides the framing of the response `response` starts and writes its head into `out`;
    /// returns whether the connection may stay open after it. `is_head`: the request is a HEAD;
    /// `empty`: the body is known to be empty.
    #[inline]
    fn write_head(
        &mut self,
        out: &mut Vec<u8>,
        head: &RequestHead<'_, '_>,
        response: &nsgi::host::ResponseHead<'_>,
        is_head: bool,
        empty: bool,
        date: &[u8],
    ) -> bool {
        self.status = response.status_code();
        self.framing = framing_for(head.version, is_head, self.status, response.content_length(), empty);
        self.head_written = true;
        let keep = self.keep_alive && !matches!(self.framing, BodyKind::CloseDelimited);
        write_head(
            out,
            &ResponseHead {
                version: head.version,
                relayed: head.front.is_some(),
                status: response.status(),
                headers: response.headers(),
                body: self.framing,
                keep_alive: keep,
                is_head,
            },
            date,
            SERVER_HEADER,
        );
        keep
    }

    /// Frames bytes the app wrote during `call` (with the head, the first time) into `out`, and
    /// delivers them; false when the client is gone.
    #[inline(never)] // off the hot path (only apps that write()): keeps `call_app` small
    pub(crate) fn on_written(
        &mut self,
        part: nsgi::host::WrittenPart<'_>,
        head: &RequestHead<'_, '_>,
        date: &mut DateCache,
        out: &mut Vec<u8>,
        delivery: &mut Delivery<'_>,
    ) -> bool {
        if let Some(response) = part.head {
            self.write_head(out, head, &response, false, false, date.now());
        }
        self.body_bytes += write_body(out, self.framing, part.data);
        if deliver(delivery, out, true) != Delivered::Taken {
            self.client_gone = true;
        }
        !self.client_gone
    }
}

/// File bodies of at most this many bytes are copied into the response buffer, after the head,
/// with one positioned read, so that head and body leave in one write. For a small file that
/// saves more than the copy costs: a second send (and a second TCP segment) per response, and the
/// duplicate of the descriptor that [`FileTail`] would keep, with its close. 16 KiB holds the
/// usual small assets (icons, stylesheets, small scripts) and keeps the buffer small; anything
/// larger goes out with sendfile, never through the gateway's memory.
pub(crate) const COPIED_FILE_MAX: u64 = 16 * 1024;

/// How a file body was queued by [`queue_file`].
struct QueuedFile {
    /// The file for the connection to send after the response's bytes (sendfile); `None` when
    /// the body was copied into the response's bytes, or the framing sends no body.
    tail: Option<FileTail>,
    /// The body bytes queued, copied or to send.
    body_bytes: u64,
}

/// Writes the head of a response whose (rest of the) body is a file, when it was not written
/// yet, and the chunk size line for the file; then either copies a small file into `out` (see
/// [`COPIED_FILE_MAX`]) or returns a duplicate of the file for the connection to send.
#[inline(never)] // off the hot path (only file bodies): keeps `call_app` small
fn queue_file(
    file: FileStep<'_>,
    head: &RequestHead<'_, '_>,
    date: &[u8],
    out: &mut Vec<u8>,
    sent: &mut Outgoing,
) -> std::io::Result<QueuedFile> {
    let copy = file.length <= COPIED_FILE_MAX;
    // Duplicated before anything is written, so that a failure leaves `out` as it was.
    let owned = if copy {
        None
    } else {
        Some(file.fd.try_clone_to_owned()?)
    };
    let body_start = out.len();
    if let Some(response) = file.head {
        sent.write_head(out, head, &response, false, false, date);
    }
    sent.head_written = true;
    let framing = sent.framing;
    let chunked = framing == BodyKind::Chunked;
    let sends_body = matches!(
        framing,
        BodyKind::Chunked | BodyKind::Length(_) | BodyKind::CloseDelimited
    );
    if !sends_body {
        return Ok(QueuedFile {
            tail: None,
            body_bytes: 0,
        });
    }
    if chunked {
        let length = usize::try_from(file.length).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        write_chunk_size_line(out, length);
    }
    let Some(owned) = owned else {
        if let Err(e) = copy_file_range_into(out, file.fd, file.offset, file.length) {
            out.truncate(body_start);
            return Err(e);
        }
        if chunked {
            out.extend_from_slice(CHUNK_END); // the last chunk follows at the body's end
        }
        return Ok(QueuedFile {
            tail: None,
            body_bytes: file.length,
        });
    };
    Ok(QueuedFile {
        tail: Some(FileTail {
            file: std::fs::File::from(owned),
            offset: file.offset,
            remaining: file.length,
            chunked,
        }),
        body_bytes: file.length,
    })
}

/// Appends `length` bytes of `file` from `offset` to `out` with positioned reads; fails when the
/// file ends before them.
fn copy_file_range_into(
    out: &mut Vec<u8>,
    file: std::os::fd::BorrowedFd<'_>,
    offset: u64,
    length: u64,
) -> std::io::Result<()> {
    let length = usize::try_from(length).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut copied = 0;
    while copied < length {
        match crate::os::sendfile::append_at(file, out, length - copied, offset + copied as u64) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended early",
                ));
            }
            Ok(read) => copied += read,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Frames `data` into `out`; returns the body bytes it carried.
fn write_body(out: &mut Vec<u8>, framing: BodyKind, data: &[u8]) -> u64 {
    match framing {
        BodyKind::Chunked if !data.is_empty() => write_chunk(out, data),
        BodyKind::Length(_) | BodyKind::CloseDelimited => out.extend_from_slice(data),
        BodyKind::Chunked | BodyKind::Empty | BodyKind::None => return 0,
    }
    data.len() as u64
}

fn finish_body(out: &mut Vec<u8>, framing: BodyKind) {
    if framing == BodyKind::Chunked {
        write_last_chunk(out);
    }
}
