//! The request's streams: `wsgi.input` and `wsgi.errors`.
//!
//! This module owns [`Input`] (the request body, `Read + BufRead` over the host's `input_read`,
//! with one reusable buffer) and [`Errors`] (`Write` over the host's `errors_write` and
//! `errors_flush`). It never reads more than the host offers and never allocates per call: the
//! input buffer is allocated once, on first buffered use.

use std::fmt;
use std::io::{self, BufRead, Read, Write};

use super::host::RawRequest;

/// Size of [`Input`]'s internal buffer, allocated on first buffered read.
const INPUT_BUFFER_SIZE: usize = 8 * 1024;
/// Largest block [`Input`] reads at once when filling a caller's growing `Vec`.
const READ_TO_END_BLOCK: usize = 64 * 1024;
/// Cap on what `read_to_end` reserves up front from the request's Content-Length.
const MAX_PREALLOCATION: u64 = 8 * 1024 * 1024;
/// Size of the stack buffer `read_to_end` probes with when the caller's `Vec` is full.
const PROBE_SIZE: usize = 32;

/// `wsgi.input`: the request body, already de-chunked by the host and ending at its
/// Content-Length.
///
/// It implements [`Read`] and [`BufRead`] (so `read_line`, `lines`, `read_until` work), with one
/// internal buffer that is allocated on first buffered use and then reused. Reads into a large
/// buffer bypass it. Get it from [`Request::input`](super::Request::input).
///
/// ```
/// use std::io::{BufRead, Read};
///
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
///
/// struct LineCounter;
///
/// impl App for LineCounter {
///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
///         Ok(LineCounter)
///     }
///
///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         // Read the first line, then the rest of the body.
///         let mut first = String::new();
///         req.input().read_line(&mut first)?;
///         let mut rest = Vec::new();
///         req.input().read_to_end(&mut rest)?;
///         let lines = 1 + rest.iter().filter(|&&b| b == b'\n').count();
///         let started = start.start("200 OK", &[("Content-Type", "text/plain")])?;
///         Ok(started.body(format!("{lines} lines, first: {first}")))
///     }
/// }
/// # let _ = nsgi::app_descriptor!(LineCounter);
/// ```
pub struct Input<'req> {
    raw: RawRequest<'req>,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// The request's Content-Length, used to size `read_to_end`'s buffer.
    len_hint: Option<u64>,
}

impl<'req> Input<'req> {
    pub(crate) fn new(raw: RawRequest<'req>, len_hint: Option<u64>) -> Input<'req> {
        Input {
            raw,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            len_hint,
        }
    }

    /// PEP 3333's `readline(size)`: appends to `out` the bytes up to and including the next
    /// `\n`, or at most `limit` bytes, whichever comes first. Returns the number of bytes
    /// appended; 0 means the end of the body (or `limit == 0`).
    ///
    /// Unlike [`BufRead::read_line`], this bounds memory use on a hostile body with no newline.
    pub fn readline(&mut self, out: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
        let mut appended = 0;
        while appended < limit {
            let available = self.fill_buf()?;
            if available.is_empty() {
                break;
            }
            let window = &available[..available.len().min(limit - appended)];
            let (take, done) = match window.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (window.len(), false),
            };
            out.extend_from_slice(&window[..take]);
            self.consume(take);
            appended += take;
            if done {
                break;
            }
        }
        Ok(appended)
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    fn discard_buffer(&mut self) {
        self.pos = 0;
        self.filled = 0;
    }
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with nothing buffered goes straight to the host, as in `std::io::BufReader`.
        if self.pos == self.filled && out.len() >= INPUT_BUFFER_SIZE {
            return self.raw.input_read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        out.extend_from_slice(self.buffered());
        self.discard_buffer();
        if let Some(hint) = self.len_hint {
            let remaining = hint.saturating_sub((out.len() - start) as u64);
            out.reserve(usize::try_from(remaining.min(MAX_PREALLOCATION)).unwrap_or(0));
        }
        // `out[filled..]` is zeroed spare room from an earlier `resize`: each byte of the `Vec`
        // is zeroed at most once, however short the host's reads are.
        let mut filled = out.len();
        loop {
            if filled == out.len() {
                if out.len() == out.capacity() {
                    // Full (often exactly at Content-Length): probe for more before growing.
                    let mut probe = [0; PROBE_SIZE];
                    match self.raw.input_read(&mut probe)? {
                        0 => return Ok(filled - start),
                        n => out.extend_from_slice(&probe[..n]),
                    }
                    filled = out.len();
                    continue;
                }
                let block = (out.capacity() - out.len()).min(READ_TO_END_BLOCK);
                out.resize(out.len() + block, 0);
            }
            match self.raw.input_read(&mut out[filled..]) {
                Ok(0) => {
                    out.truncate(filled);
                    return Ok(filled - start);
                }
                Ok(n) => filled += n,
                Err(e) => {
                    out.truncate(filled);
                    return Err(e);
                }
            }
        }
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            if self.buf.is_empty() {
                self.buf = vec![0; INPUT_BUFFER_SIZE];
            }
            self.filled = self.raw.input_read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(self.buffered())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.filled);
    }
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("buffered", &(self.filled - self.pos))
            .finish()
    }
}

/// `wsgi.errors`: the host's error log for this request, tagged with the request.
///
/// Every `write` goes to the host at once (wrap it in a [`std::io::LineWriter`] to send whole
/// lines). Get it from [`Request::errors`](super::Request::errors).
///
/// ```
/// use std::io::Write;
///
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
///
/// struct Careful;
///
/// impl App for Careful {
///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
///         Ok(Careful)
///     }
///
///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         if req.query_string().is_empty() {
///             writeln!(req.errors(), "no query string on {}", req.path_info())?;
///         }
///         Ok(start.start("204 No Content", &[])?.finish())
///     }
/// }
/// # let _ = nsgi::app_descriptor!(Careful);
/// ```
pub struct Errors<'req> {
    raw: RawRequest<'req>,
}

impl<'req> Errors<'req> {
    pub(crate) fn new(raw: RawRequest<'req>) -> Errors<'req> {
        Errors { raw }
    }
}

impl Write for Errors<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.raw.errors_write(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.raw.errors_flush()
    }
}

impl fmt::Debug for Errors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Errors")
    }
}
