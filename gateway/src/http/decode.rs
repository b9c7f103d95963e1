//! Request bodies: turning the bytes after a head into content, by `Content-Length`
//! ([`LengthDecoder`]) or by the chunked transfer coding ([`ChunkedDecoder`], RFC 9112 §7.1).
//!
//! The decoders are incremental: feed them whatever the socket produced, in pieces of any size
//! down to one byte, and they report how much they consumed and whether the body is complete.
//! They never consume a byte past the end of the body — what follows belongs to the next
//! pipelined request — and never resynchronise after an error: a malformed body means the
//! connection is closed.
//!
//! They must never allocate (decoded bytes are appended to the caller's reused `Vec`), never
//! keep chunk extensions or trailer fields (both are validated, then dropped, so a trailer can
//! never smuggle a `Content-Length` or `Host` into the request), and never touch a socket.

use super::syntax::{is_field_value_byte, is_ows, is_qdtext, is_quoted_pair_byte, is_tchar};
use super::{Framing, Limits};

/// What one call to `decode` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeProgress {
    /// Bytes of the input that were used; the rest (if any) is the next request.
    pub consumed: usize,
    /// The body is complete: further calls consume nothing.
    pub done: bool,
}

error_table! {
    /// Why a request body was refused. [`DecodeError::status`] is the response status (if no
    /// response has started yet); in every case the connection must be closed.
    pub enum DecodeError {
        /// A chunk-size that is not `1*HEXDIG` (empty, `0x`, sign, whitespace, junk).
        InvalidChunkSize => 400, "invalid chunk size",
        /// A chunk-size of more than 16 hex digits (it would overflow 64 bits).
        ChunkSizeOverflow => 400, "chunk size has more than 16 hex digits",
        /// A chunk extension that is not `BWS ";" BWS token [ BWS "=" BWS (token /
        /// quoted-string) ]`.
        InvalidChunkExtension => 400, "invalid chunk extension",
        /// Chunk extensions longer in total than [`Limits::max_chunk_ext`].
        ChunkExtensionTooLong => 400, "chunk extensions too long",
        /// A chunk-size line or trailer line not terminated by CRLF (bare LF or bare CR).
        InvalidLineEnding => 400, "chunked line not terminated by CRLF",
        /// Chunk data not followed by exactly CRLF (more data than the size said, or junk).
        MissingCrlfAfterData => 400, "chunk data not followed by CRLF",
        /// A trailer line that is not `token ":" OWS field-value OWS` (obs-fold, whitespace
        /// before the colon, control bytes, no colon).
        InvalidTrailer => 400, "invalid trailer field",
        /// A trailer section larger than [`Limits::max_trailer_bytes`].
        TrailerTooLarge => 431, "trailer section too large",
        /// More content than [`Limits::max_body`].
        TooLarge => 413, "request content exceeds the body limit",
    }
}

/// The most hex digits a chunk-size may have: 16 digits fill a `u64`.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// A body delimited by `Content-Length`: passes through exactly that many bytes.
///
/// ```
/// use nsgi_gateway::{LengthDecoder, Limits};
/// let mut d = LengthDecoder::new(5);
/// let mut out = Vec::new();
/// let p = d.decode(b"helloGET /", &mut out, &Limits::default()).unwrap();
/// assert_eq!((p.consumed, p.done), (5, true));
/// assert_eq!(out, b"hello");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthDecoder {
    remaining: u64,
}

impl LengthDecoder {
    /// A decoder for a body of `length` bytes (already checked against the limits by
    /// [`parse_head`](super::parse_head)).
    pub const fn new(length: u64) -> Self {
        LengthDecoder { remaining: length }
    }

    /// Bytes still expected.
    #[cfg(test)]
    pub(crate) const fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Is the whole body through?
    #[cfg(test)]
    pub(crate) const fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// Append up to the remaining length of `input` to `out`. Never fails; the `Result` and
    /// `limits` keep the shape of [`ChunkedDecoder::decode`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, _limits: &Limits) -> Result<DecodeProgress, DecodeError> {
        let n = input.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        out.extend_from_slice(&input[..n]);
        self.remaining -= n as u64;
        Ok(DecodeProgress {
            consumed: n,
            done: self.remaining == 0,
        })
    }
}

/// Where the chunked decoder is. One state per position in the RFC 9112 §7.1 grammar, so
/// every byte is checked against exactly the rule that applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a chunk-size: `size` so far from `digits` hex digits.
    Size { size: u64, digits: u8 },
    /// Whitespace after the chunk-size: only `;` (an extension) may follow.
    BwsAfterSize { size: u64 },
    /// After `;`: optional BWS, then an extension name.
    ExtNameStart { size: u64 },
    /// In an extension name.
    ExtName { size: u64 },
    /// Whitespace after an extension name: `=` or `;` must follow.
    BwsAfterName { size: u64 },
    /// After `=`: optional BWS, then a token or a quoted-string.
    ExtValueStart { size: u64 },
    /// In a token extension value.
    ExtValue { size: u64 },
    /// In a quoted-string extension value.
    ExtQuoted { size: u64 },
    /// After a backslash in a quoted-string.
    ExtQuotedPair { size: u64 },
    /// After the closing quote of a quoted-string.
    ExtAfterQuoted { size: u64 },
    /// Whitespace after an extension value: only `;` may follow.
    BwsAfterValue { size: u64 },
    /// After the CR ending a chunk-size line.
    SizeLf { size: u64 },
    /// In chunk data.
    Data { remaining: u64 },
    /// After chunk data: CR expected.
    DataCr,
    /// After chunk data and CR: LF expected.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerLineStart,
    /// In a trailer field name.
    TrailerName,
    /// In a trailer field value.
    TrailerValue,
    /// After the CR ending a trailer line.
    TrailerLf,
    /// After the CR of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
    /// An error was reported; it is reported again on every later call.
    Failed(DecodeError),
}

/// An incremental decoder for the chunked transfer coding (RFC 9112 §7.1).
///
/// Chunk-sizes are `1*HEXDIG` of at most 16 digits; extensions are checked against their
/// grammar, counted against [`Limits::max_chunk_ext`] over the whole body, and ignored; every
/// line ends in CRLF (bare LF and bare CR are errors, also after chunk data, per erratum 7633);
/// the trailer section is checked as field lines, counted against
/// [`Limits::max_trailer_bytes`], and discarded; and the decoded size is checked against
/// [`Limits::max_body`] as soon as each chunk-size is known, before its data arrives.
///
/// ```
/// use nsgi_gateway::{ChunkedDecoder, Limits};
/// let mut d = ChunkedDecoder::new();
/// let mut out = Vec::new();
/// let body = b"5;note=hi\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\nNEXT";
/// let p = d.decode(body, &mut out, &Limits::default()).unwrap();
/// assert_eq!(out, b"hello world");
/// assert!(p.done);
/// assert_eq!(&body[p.consumed..], b"NEXT");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Content bytes announced by the chunk-sizes so far (checked against `max_body`).
    announced: u64,
    /// Bytes of chunk extensions so far, separators and whitespace included.
    ext_bytes: usize,
    /// Bytes of the trailer section so far, line terminators included.
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub const fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            announced: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Is the whole body (last chunk and trailer section) through?
    pub const fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Decode as much of `input` as possible, appending chunk data to `out`.
    ///
    /// Consumes all of `input` unless the body ends inside it. After an error, `out` may hold
    /// part of the data and the decoder keeps returning the same error.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, limits: &Limits) -> Result<DecodeProgress, DecodeError> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                State::Done => break,
                State::Failed(e) => return Err(e),
                State::Data { remaining } => {
                    let n = (input.len() - pos).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[pos..pos + n]);
                    pos += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining }
                    };
                }
                _ => {
                    let b = input[pos];
                    pos += 1;
                    if let Err(e) = self.step(b, limits) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        Ok(DecodeProgress {
            consumed: pos,
            done: self.is_done(),
        })
    }

    /// Advance over one byte outside chunk data.
    fn step(&mut self, b: u8, limits: &Limits) -> Result<(), DecodeError> {
        use DecodeError::*;
        use State::*;

        // The CR that ends a size line is not part of the extension.
        if self.in_extension() && b != b'\r' {
            self.ext_bytes += 1;
            if self.ext_bytes > limits.max_chunk_ext {
                return Err(ChunkExtensionTooLong);
            }
        } else if self.in_trailer() {
            self.trailer_bytes += 1;
            if self.trailer_bytes > limits.max_trailer_bytes {
                return Err(TrailerTooLarge);
            }
        }

        self.state = match self.state {
            Size { size, digits } => match b {
                _ if b.is_ascii_hexdigit() => {
                    if digits == MAX_CHUNK_SIZE_DIGITS {
                        return Err(ChunkSizeOverflow);
                    }
                    Size {
                        size: (size << 4) | hex_value(b),
                        digits: digits + 1,
                    }
                }
                _ if digits == 0 => return Err(InvalidChunkSize),
                b';' => self.enter_extension(ExtNameStart { size }, limits)?,
                b' ' | b'\t' => self.enter_extension(BwsAfterSize { size }, limits)?,
                b'\r' => SizeLf { size },
                b'\n' => return Err(InvalidLineEnding),
                _ => return Err(InvalidChunkSize),
            },
            BwsAfterSize { size } => match b {
                b' ' | b'\t' => BwsAfterSize { size },
                b';' => ExtNameStart { size },
                // "5 \r\n": whitespace after a chunk-size is only allowed before an extension.
                _ => return Err(InvalidChunkSize),
            },
            ExtNameStart { size } => match b {
                _ if is_ows(b) => ExtNameStart { size },
                _ if is_tchar(b) => ExtName { size },
                _ => return Err(ext_error(b)),
            },
            ExtName { size } => match b {
                _ if is_tchar(b) => ExtName { size },
                b';' => ExtNameStart { size },
                b'=' => ExtValueStart { size },
                _ if is_ows(b) => BwsAfterName { size },
                b'\r' => SizeLf { size },
                _ => return Err(ext_error(b)),
            },
            BwsAfterName { size } => match b {
                _ if is_ows(b) => BwsAfterName { size },
                b'=' => ExtValueStart { size },
                b';' => ExtNameStart { size },
                _ => return Err(ext_error(b)),
            },
            ExtValueStart { size } => match b {
                _ if is_ows(b) => ExtValueStart { size },
                _ if is_tchar(b) => ExtValue { size },
                b'"' => ExtQuoted { size },
                _ => return Err(ext_error(b)),
            },
            ExtValue { size } => match b {
                _ if is_tchar(b) => ExtValue { size },
                b';' => ExtNameStart { size },
                _ if is_ows(b) => BwsAfterValue { size },
                b'\r' => SizeLf { size },
                _ => return Err(ext_error(b)),
            },
            ExtQuoted { size } => match b {
                b'"' => ExtAfterQuoted { size },
                b'\\' => ExtQuotedPair { size },
                _ if is_qdtext(b) => ExtQuoted { size },
                _ => return Err(ext_error(b)),
            },
            ExtQuotedPair { size } => match b {
                _ if is_quoted_pair_byte(b) => ExtQuoted { size },
                _ => return Err(ext_error(b)),
            },
            ExtAfterQuoted { size } => match b {
                b';' => ExtNameStart { size },
                _ if is_ows(b) => BwsAfterValue { size },
                b'\r' => SizeLf { size },
                _ => return Err(ext_error(b)),
            },
            BwsAfterValue { size } => match b {
                _ if is_ows(b) => BwsAfterValue { size },
                b';' => ExtNameStart { size },
                _ => return Err(ext_error(b)),
            },
            SizeLf { size } => match b {
                b'\n' if size == 0 => TrailerLineStart,
                b'\n' => {
                    self.announced = self
                        .announced
                        .checked_add(size)
                        .filter(|&total| total <= limits.max_body)
                        .ok_or(TooLarge)?;
                    Data { remaining: size }
                }
                _ => return Err(InvalidLineEnding),
            },
            DataCr => match b {
                b'\r' => DataLf,
                _ => return Err(MissingCrlfAfterData),
            },
            DataLf => match b {
                b'\n' => Size { size: 0, digits: 0 },
                _ => return Err(MissingCrlfAfterData),
            },
            TrailerLineStart => match b {
                b'\r' => EndLf,
                b'\n' => return Err(InvalidLineEnding),
                _ if is_tchar(b) => TrailerName,
                _ => return Err(InvalidTrailer),
            },
            TrailerName => match b {
                _ if is_tchar(b) => TrailerName,
                b':' => TrailerValue,
                _ => return Err(InvalidTrailer),
            },
            TrailerValue => match b {
                b'\r' => TrailerLf,
                b'\n' => return Err(InvalidLineEnding),
                _ if is_field_value_byte(b) => TrailerValue,
                _ => return Err(InvalidTrailer),
            },
            TrailerLf | EndLf if b != b'\n' => return Err(InvalidLineEnding),
            TrailerLf => TrailerLineStart,
            EndLf => Done,
            // `decode` never steps in these states.
            Data { .. } | Done | Failed(_) => self.state,
        };
        Ok(())
    }

    /// Count the byte that starts an extension (the `;` or the first BWS), which `step`
    /// sees while still in `Size`.
    fn enter_extension(&mut self, next: State, limits: &Limits) -> Result<State, DecodeError> {
        self.ext_bytes += 1;
        if self.ext_bytes > limits.max_chunk_ext {
            return Err(DecodeError::ChunkExtensionTooLong);
        }
        Ok(next)
    }

    fn in_extension(&self) -> bool {
        use State::*;
        matches!(
            self.state,
            BwsAfterSize { .. }
                | ExtNameStart { .. }
                | ExtName { .. }
                | BwsAfterName { .. }
                | ExtValueStart { .. }
                | ExtValue { .. }
                | ExtQuoted { .. }
                | ExtQuotedPair { .. }
                | ExtAfterQuoted { .. }
                | BwsAfterValue { .. }
        )
    }

    fn in_trailer(&self) -> bool {
        use State::*;
        matches!(
            self.state,
            TrailerLineStart | TrailerName | TrailerValue | TrailerLf | EndLf
        )
    }
}

/// The error for an unexpected byte inside a chunk extension: a bare LF is a line-ending
/// error (the "TERM.EXT" smuggling vector), anything else a malformed extension.
fn ext_error(b: u8) -> DecodeError {
    if b == b'\n' {
        DecodeError::InvalidLineEnding
    } else {
        DecodeError::InvalidChunkExtension
    }
}

fn hex_value(b: u8) -> u64 {
    u64::from(match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    })
}

/// Either body decoder, chosen from a request's [`Framing`].
///
/// ```
/// use nsgi_gateway::{BodyDecoder, Framing, Limits};
/// let mut d = BodyDecoder::for_framing(Framing::Chunked);
/// let mut out = Vec::new();
/// let p = d.decode(b"3\r\nabc\r\n0\r\n\r\n", &mut out, &Limits::default()).unwrap();
/// assert!(p.done);
/// assert_eq!(out, b"abc");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyDecoder {
    /// `Content-Length` (or no content: length 0).
    Length(LengthDecoder),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// The decoder for a request framed as `framing`; [`Framing::None`] is a zero-length body.
    pub const fn for_framing(framing: Framing) -> Self {
        match framing {
            Framing::None => BodyDecoder::Length(LengthDecoder::new(0)),
            Framing::Length(n) => BodyDecoder::Length(LengthDecoder::new(n)),
            Framing::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new()),
        }
    }

    /// Is the whole body through?
    #[cfg(test)]
    pub(crate) const fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length(d) => d.is_done(),
            BodyDecoder::Chunked(d) => d.is_done(),
        }
    }

    /// Decode as much of `input` as possible into `out`; see [`ChunkedDecoder::decode`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, limits: &Limits) -> Result<DecodeProgress, DecodeError> {
        match self {
            BodyDecoder::Length(d) => d.decode(input, out, limits),
            BodyDecoder::Chunked(d) => d.decode(input, out, limits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::mutation::mutated;
    use proptest::prelude::*;

    /// Decode `input` in one call: (output, progress).
    fn all_at_once(input: &[u8], limits: &Limits) -> Result<(Vec<u8>, DecodeProgress), DecodeError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let p = d.decode(input, &mut out, limits)?;
        Ok((out, p))
    }

    /// (output, bytes consumed, done) after feeding a whole input.
    type Outcome = Result<(Vec<u8>, usize, bool), DecodeError>;

    /// Decode `input` one byte per call, stopping when done.
    fn byte_by_byte(input: &[u8], limits: &Limits) -> Outcome {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        for i in 0..input.len() {
            let p = d.decode(&input[i..=i], &mut out, limits)?;
            consumed += p.consumed;
            if p.done {
                assert!(d.decode(&input[i + 1..], &mut out, limits).unwrap().consumed == 0);
                return Ok((out, consumed, true));
            }
            assert_eq!(p.consumed, 1);
        }
        Ok((out, consumed, false))
    }

    /// Decode `input` split at every possible point into two calls.
    fn every_split(input: &[u8], limits: &Limits) -> Vec<Outcome> {
        (0..=input.len())
            .map(|at| {
                let mut d = ChunkedDecoder::new();
                let mut out = Vec::new();
                let p1 = d.decode(&input[..at], &mut out, limits)?;
                if p1.done {
                    return Ok((out, p1.consumed, true));
                }
                let p2 = d.decode(&input[at..], &mut out, limits)?;
                Ok((out, p1.consumed + p2.consumed, p2.done))
            })
            .collect()
    }

    #[track_caller]
    fn decodes_to(input: &[u8], expected: &[u8]) {
        let limits = Limits::default();
        let (out, p) = all_at_once(input, &limits).unwrap_or_else(|e| panic!("{}: {e:?}", input.escape_ascii()));
        assert_eq!(out, expected, "{}", input.escape_ascii());
        assert!(p.done, "{}", input.escape_ascii());
        let consumed = p.consumed;
        assert_eq!(byte_by_byte(input, &limits), Ok((expected.to_vec(), consumed, true)));
        for r in every_split(input, &limits) {
            assert_eq!(r, Ok((expected.to_vec(), consumed, true)));
        }
    }

    /// The same error whether the input arrives at once or one byte at a time.
    #[track_caller]
    fn fails_with(input: &[u8], expected: DecodeError) {
        fails_with_limits(input, expected, &Limits::default());
    }

    #[track_caller]
    fn fails_with_limits(input: &[u8], expected: DecodeError, limits: &Limits) {
        assert_eq!(
            all_at_once(input, limits).map(|_| ()),
            Err(expected),
            "{}",
            input.escape_ascii()
        );
        assert_eq!(
            byte_by_byte(input, limits).map(|_| ()),
            Err(expected),
            "{} byte by byte",
            input.escape_ascii()
        );
        for r in every_split(input, limits) {
            assert_eq!(r.map(|_| ()), Err(expected), "{}", input.escape_ascii());
        }
    }

    // --- valid bodies ------------------------------------------------------------------------

    #[test]
    fn simple_chunks() {
        decodes_to(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world");
        decodes_to(b"0\r\n\r\n", b"");
        decodes_to(b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", b"\r\n");
    }

    #[test]
    fn hex_sizes_any_case_and_leading_zeros() {
        let data = [b'x'; 0x1a];
        let mut body = b"1a\r\n".to_vec();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        decodes_to(&body, &data);
        body[0..2].copy_from_slice(b"1A");
        decodes_to(&body, &data);
        decodes_to(b"0003\r\nabc\r\n000\r\n\r\n", b"abc");
        // 16 digits is the most allowed.
        decodes_to(b"0000000000000003\r\nabc\r\n0000000000000000\r\n\r\n", b"abc");
    }

    #[test]
    fn stops_at_the_end_of_the_body() {
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let (out, p) = all_at_once(input, &Limits::default()).unwrap();
        assert_eq!(out, b"abc");
        assert!(p.done);
        assert_eq!(&input[p.consumed..], b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(
            byte_by_byte(input, &Limits::default()),
            Ok((b"abc".to_vec(), p.consumed, true))
        );
    }

    #[test]
    fn a_finished_decoder_consumes_nothing() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let limits = Limits::default();
        assert!(d.decode(b"0\r\n\r\n", &mut out, &limits).unwrap().done);
        assert_eq!(
            d.decode(b"5\r\nhello", &mut out, &limits),
            Ok(DecodeProgress {
                consumed: 0,
                done: true
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn empty_input_is_no_progress() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"", &mut out, &Limits::default()),
            Ok(DecodeProgress {
                consumed: 0,
                done: false
            })
        );
    }

    #[test]
    fn incomplete_bodies_are_not_done() {
        let full = b"5;a=b\r\nhello\r\n0\r\nX: y\r\n\r\n";
        for n in 0..full.len() {
            let (_, p) = all_at_once(&full[..n], &Limits::default()).unwrap();
            assert_eq!(
                p,
                DecodeProgress {
                    consumed: n,
                    done: false
                }
            );
        }
    }

    #[test]
    fn appends_to_existing_output() {
        let mut d = ChunkedDecoder::new();
        let mut out = b"prefix:".to_vec();
        d.decode(b"2\r\nok\r\n0\r\n\r\n", &mut out, &Limits::default()).unwrap();
        assert_eq!(out, b"prefix:ok");
    }

    // --- chunk-size ------------------------------------------------------------------------

    #[test]
    fn invalid_chunk_sizes_are_400() {
        for size in [
            &b""[..],
            b"0x10",
            b"0x1",
            b"x",
            b"+10",
            b"+1",
            b"-1",
            b"-0x0",
            b" 5",
            b"   0",
            b"\t5",
            b"5 ",
            b"5\t",
            b"0_2e",
            b"1these-bytes",
            b"g",
            b"5,",
            b"INVALID!!!",
            b"5\x00",
        ] {
            let mut body = size.to_vec();
            body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
            let expected = DecodeError::InvalidChunkSize;
            fails_with(&body, expected);
            assert_eq!(expected.status(), 400);
        }
    }

    #[test]
    fn chunk_size_overflow_is_400() {
        fails_with(b"FFFFFFFFFFFFFFFFF\r\n", DecodeError::ChunkSizeOverflow);
        fails_with(b"00000000000000001\r\nx\r\n", DecodeError::ChunkSizeOverflow);
        fails_with(b"10000000000000000\r\n", DecodeError::ChunkSizeOverflow);
        assert_eq!(DecodeError::ChunkSizeOverflow.status(), 400);
    }

    #[test]
    fn largest_chunk_size_is_413_not_overflow() {
        fails_with(b"FFFFFFFFFFFFFFFF\r\n", DecodeError::TooLarge);
    }

    #[test]
    fn invalid_chunk_followed_by_a_request_does_not_resync() {
        let input = b"INVALID!!!\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        fails_with(input, DecodeError::InvalidChunkSize);
    }

    // --- line endings ---------------------------------------------------------------------

    #[test]
    fn bare_lf_is_400() {
        fails_with(b"5\nhello\r\n0\r\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"0\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"0\r\n\n", DecodeError::InvalidLineEnding);
        fails_with(b"5;a=b\nhello\r\n0\r\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"5;\nhello\r\n0\r\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"0\r\nX: y\n\r\n", DecodeError::InvalidLineEnding);
        assert_eq!(DecodeError::InvalidLineEnding.status(), 400);
    }

    #[test]
    fn bare_cr_is_400() {
        fails_with(b"5\rhello\r\n0\r\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"5\r\rhello\r\n0\r\n\r\n", DecodeError::InvalidLineEnding);
        fails_with(b"0\r\n\rX", DecodeError::InvalidLineEnding);
        fails_with(b"0\r\nX: y\rZ: w\r\n\r\n", DecodeError::InvalidLineEnding);
    }

    #[test]
    fn data_must_be_followed_by_crlf() {
        for body in [
            &b"5\r\nhello0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r0\r\n\r\n",
            b"5\r\nhello\r\r\n0\r\n\r\n",
            b"5\r\nhelloworld\r\n0\r\n\r\n",
            b"3\r\nhello\r\n0\r\n\r\n",
        ] {
            fails_with(body, DecodeError::MissingCrlfAfterData);
        }
        assert_eq!(DecodeError::MissingCrlfAfterData.status(), 400);
    }

    // --- extensions -------------------------------------------------------------------------

    #[test]
    fn valid_extensions_are_ignored() {
        for ext in [
            &b";ext=value"[..],
            b";a",
            b";a;b;c",
            b";a=b;c=d",
            b" ;a",
            b"\t; a = b ; c",
            b";a=\"quoted; with, specials = \"",
            b";a=\"esc\\\"aped\\\\\"",
            b";a=\"\"",
            b";a=\"x\" ;b",
            b";a=\"obs\x80text\"",
            b";a=tok!#$%&'*+-.^_`|~",
        ] {
            let mut body = b"5".to_vec();
            body.extend_from_slice(ext);
            body.extend_from_slice(b"\r\nhello\r\n0");
            body.extend_from_slice(ext);
            body.extend_from_slice(b"\r\n\r\n");
            decodes_to(&body, b"hello");
        }
    }

    #[test]
    fn invalid_extensions_are_400() {
        for ext in [
            &b";"[..],
            b"; ",
            b";=v",
            b";a=",
            b";a= ",
            b";a b",
            b";a \r",
            b";a=b ",
            b";a=b c",
            b";\x00ext",
            b";a=\x00",
            b";a=\"unterminated",
            b";a=\"x\"y",
            b";a=\"bad\x7f\"",
            b";a=\"bad\\\x00\"",
            b";a=b=c",
            b";a;",
            b",a",
            b";a=b\r\r",
            b";a=\"\r\"",
            b";[a]",
        ] {
            let mut body = b"5".to_vec();
            body.extend_from_slice(ext);
            body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
            let r = all_at_once(&body, &Limits::default()).map(|_| ());
            let e = r.expect_err(&body.escape_ascii().to_string());
            assert!(
                matches!(
                    e,
                    DecodeError::InvalidChunkExtension | DecodeError::InvalidLineEnding | DecodeError::InvalidChunkSize
                ),
                "{}: {e:?}",
                body.escape_ascii()
            );
            assert_eq!(e.status(), 400);
            assert_eq!(byte_by_byte(&body, &Limits::default()).map(|_| ()), Err(e));
        }
        // The precise error for the common shapes.
        fails_with(b"5;\r\nhello\r\n0\r\n\r\n", DecodeError::InvalidChunkExtension);
        fails_with(b"5;a \r\nhello\r\n0\r\n\r\n", DecodeError::InvalidChunkExtension);
        fails_with(b"5;\x00ext\r\nhello\r\n0\r\n\r\n", DecodeError::InvalidChunkExtension);
        fails_with(b"41;a=b\r\r\n", DecodeError::InvalidLineEnding);
    }

    #[test]
    fn extension_length_is_limited_over_the_whole_body() {
        let limits = Limits {
            max_chunk_ext: 8,
            ..Limits::default()
        };
        // ";1234567" is 8 bytes: allowed once.
        let ok = b"1;1234567\r\nx\r\n0\r\n\r\n";
        assert_eq!(all_at_once(ok, &limits).unwrap().0, b"x");
        fails_with_limits(
            b"1;12345678\r\nx\r\n0\r\n\r\n",
            DecodeError::ChunkExtensionTooLong,
            &limits,
        );
        // Leading BWS counts too.
        fails_with_limits(
            b"1        ;a\r\nx\r\n0\r\n\r\n",
            DecodeError::ChunkExtensionTooLong,
            &limits,
        );
        // 4 + 4 is fine, a ninth byte on a later chunk is not.
        assert!(all_at_once(b"1;abc\r\nx\r\n0;def\r\n\r\n", &limits).is_ok());
        fails_with_limits(
            b"1;abc\r\nx\r\n1;defg\r\ny\r\n0\r\n\r\n",
            DecodeError::ChunkExtensionTooLong,
            &limits,
        );
        assert_eq!(DecodeError::ChunkExtensionTooLong.status(), 400);
        // The default (4096) stops a 64 KiB extension.
        let mut big = b"1;a=".to_vec();
        big.extend(std::iter::repeat_n(b'x', 64 * 1024));
        big.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
        assert_eq!(
            all_at_once(&big, &Limits::default()).map(|_| ()),
            Err(DecodeError::ChunkExtensionTooLong)
        );
    }

    // --- trailers -----------------------------------------------------------------------------

    #[test]
    fn trailers_are_validated_and_discarded() {
        decodes_to(b"3\r\nabc\r\n0\r\nX-Sum: 123\r\n\r\n", b"abc");
        // Fields that must never reach the request headers are simply dropped.
        decodes_to(
            b"3\r\nabc\r\n0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\nAuthorization: x\r\n\r\n",
            b"abc",
        );
        decodes_to(b"0\r\nX-Empty:\r\nX-Sp: \t a b \t\r\nX-Obs: \x80\xff\r\n\r\n", b"");
    }

    #[test]
    fn invalid_trailers_are_400() {
        for trailer in [
            &b" X: v\r\n"[..],
            b"\tX: v\r\n",
            b"X : v\r\n",
            b"X\t: v\r\n",
            b": v\r\n",
            b"NoColon\r\n",
            b"X: a\x00b\r\n",
            b"X: a\x7fb\r\n",
            b"X: v\r\n obs-fold\r\n",
            b"X\xff: v\r\n",
            b"Transfer-\r\nEncoding: chunked\r\n",
        ] {
            let mut body = b"0\r\n".to_vec();
            body.extend_from_slice(trailer);
            body.extend_from_slice(b"\r\n");
            fails_with(&body, DecodeError::InvalidTrailer);
        }
        assert_eq!(DecodeError::InvalidTrailer.status(), 400);
    }

    #[test]
    fn trailer_section_is_limited() {
        let limits = Limits {
            max_trailer_bytes: 10,
            ..Limits::default()
        };
        // "X: 12345\r\n" (10) + "\r\n" (2) = 12 bytes.
        fails_with_limits(b"0\r\nX: 12345\r\n\r\n", DecodeError::TrailerTooLarge, &limits);
        assert!(all_at_once(b"0\r\nX: 123\r\n\r\n", &limits).unwrap().1.done);
        assert_eq!(DecodeError::TrailerTooLarge.status(), 431);
        // An endless trailer stops at the limit instead of buffering.
        let mut endless = b"0\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'a', 100_000));
        assert_eq!(
            all_at_once(&endless, &Limits::default()).map(|_| ()),
            Err(DecodeError::TrailerTooLarge)
        );
    }

    // --- body size --------------------------------------------------------------------------

    #[test]
    fn body_over_max_body_is_413_before_its_data_arrives() {
        let limits = Limits {
            max_body: 10,
            ..Limits::default()
        };
        assert_eq!(
            all_at_once(b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &limits)
                .unwrap()
                .0,
            b"helloworld"
        );
        // The size line alone is enough to refuse.
        fails_with_limits(b"5\r\nhello\r\n6\r\n", DecodeError::TooLarge, &limits);
        fails_with_limits(b"b\r\n", DecodeError::TooLarge, &limits);
        assert_eq!(DecodeError::TooLarge.status(), 413);
    }

    // --- errors -------------------------------------------------------------------------------

    #[test]
    fn errors_are_sticky() {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let limits = Limits::default();
        assert_eq!(d.decode(b"zz", &mut out, &limits), Err(DecodeError::InvalidChunkSize));
        assert_eq!(
            d.decode(b"0\r\n\r\n", &mut out, &limits),
            Err(DecodeError::InvalidChunkSize)
        );
        assert_eq!(d.decode(b"", &mut out, &limits), Err(DecodeError::InvalidChunkSize));
        assert!(!d.is_done());
    }

    #[test]
    fn every_error_has_a_status_and_reason() {
        assert_eq!(DecodeError::ALL.len(), 9);
        let reasons: std::collections::HashSet<_> = DecodeError::ALL.iter().map(DecodeError::reason).collect();
        assert_eq!(reasons.len(), DecodeError::ALL.len(), "two variants share a reason");
        for &e in DecodeError::ALL {
            assert!([400, 413, 431].contains(&e.status()));
            assert!(e.to_string().starts_with(e.reason()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Mutate valid chunked bodies with the bytes chunk smuggling is made of; whatever comes
        /// out, decoding it at once, byte by byte, or split anywhere gives the same answer.
        #[test]
        fn mutated_bodies_decode_the_same_however_they_are_split(
            body in mutated(
                &[
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
                    b"3;a=\"b c\"\r\nabc\r\n0\r\nX-T: v\r\n\r\n",
                    b"A \t;x\r\n0123456789\r\n00\r\n\r\n",
                ],
                b"\r\n\0\t ;=\"\\0aFxX-+:",
            )
        ) {
            let limits = Limits {
                max_body: 64,
                max_chunk_ext: 12,
                max_trailer_bytes: 16,
                ..Limits::default()
            };
            let expected = all_at_once(&body, &limits).map(|(out, p)| (out, p.consumed, p.done));
            prop_assert_eq!(byte_by_byte(&body, &limits), expected.clone(), "{}", body.escape_ascii());
            for r in every_split(&body, &limits) {
                prop_assert_eq!(r, expected.clone(), "{}", body.escape_ascii());
            }
        }
    }

    // --- LengthDecoder / BodyDecoder -----------------------------------------------------

    #[test]
    fn length_decoder_copies_exactly_its_length() {
        let limits = Limits::default();
        let mut d = LengthDecoder::new(5);
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"he", &mut out, &limits),
            Ok(DecodeProgress {
                consumed: 2,
                done: false
            })
        );
        assert_eq!(d.remaining(), 3);
        assert_eq!(
            d.decode(b"lloGET", &mut out, &limits),
            Ok(DecodeProgress {
                consumed: 3,
                done: true
            })
        );
        assert_eq!(
            d.decode(b"more", &mut out, &limits),
            Ok(DecodeProgress {
                consumed: 0,
                done: true
            })
        );
        assert_eq!(out, b"hello");
    }

    #[test]
    fn length_decoder_one_byte_at_a_time() {
        let limits = Limits::default();
        let mut d = LengthDecoder::new(3);
        let mut out = Vec::new();
        for (i, b) in b"abcd".iter().enumerate() {
            let p = d.decode(std::slice::from_ref(b), &mut out, &limits).unwrap();
            assert_eq!(p.consumed, usize::from(i < 3));
            assert_eq!(p.done, i >= 2);
        }
        assert_eq!(out, b"abc");
    }

    #[test]
    fn zero_length_is_done_at_once() {
        let mut d = LengthDecoder::new(0);
        assert!(d.is_done());
        let mut out = Vec::new();
        assert_eq!(
            d.decode(b"GET", &mut out, &Limits::default()),
            Ok(DecodeProgress {
                consumed: 0,
                done: true
            })
        );
    }

    #[test]
    fn body_decoder_follows_the_framing() {
        let limits = Limits::default();
        let mut out = Vec::new();
        let mut none = BodyDecoder::for_framing(Framing::None);
        assert!(none.is_done());
        assert_eq!(none.decode(b"x", &mut out, &limits).unwrap().consumed, 0);
        let mut len = BodyDecoder::for_framing(Framing::Length(2));
        assert!(len.decode(b"abc", &mut out, &limits).unwrap().done);
        let mut ch = BodyDecoder::for_framing(Framing::Chunked);
        assert!(!ch.is_done());
        assert!(ch.decode(b"1\r\nc\r\n0\r\n\r\n", &mut out, &limits).unwrap().done);
        assert_eq!(out, b"abc");
    }
}
