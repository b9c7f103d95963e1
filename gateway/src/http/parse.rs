//! Request heads: the request line, the header fields, and every decision that must be made
//! before the first byte of content is read — how the body is framed (RFC 9112 §6), whether the
//! connection persists (RFC 9112 §9.3), whether the client waits for `100 Continue`
//! (RFC 9110 §10.1.1), and which host the request is for (RFC 9112 §3.2).
//!
//! Tokenising is httparse's job, run with its strict defaults (no obs-fold, no space before the
//! colon, no invalid header lines skipped, single spaces in the request line). On top of that,
//! this file rejects what httparse lets through but a strict origin server must not accept:
//! bare-LF line endings, non-ASCII or fragment bytes in the target, ambiguous or malformed
//! `Content-Length` / `Transfer-Encoding`, missing or repeated `Host`. Ambiguity is always
//! resolved by refusing the request, never by picking an interpretation: a 4xx/5xx followed by
//! a close cannot be desynchronised.
//!
//! It must never read a body, never allocate, and never look at the request any further than
//! the end of its head.

use nsgi::host::validate::{LengthError, parse_decimal_length};
use std::mem::MaybeUninit;

use super::syntax::{self, is_ows, is_tchar, list_elements};

/// One slot for a parsed header line. Slots are filled by the parser, so an array of them needs
/// no initialisation: a request does not pay for zeroing hundreds of slots it never uses.
pub type HeaderSlot<'b> = MaybeUninit<httparse::Header<'b>>;

/// `N` empty header slots for [`parse_head`]: free to make, on the stack or anywhere.
pub const fn header_slots<'b, const N: usize>() -> [HeaderSlot<'b>; N] {
    [const { MaybeUninit::uninit() }; N]
}
use super::{Limits, Version};

/// Longest method accepted, in bytes; a longer one is refused with 400 as soon as its first
/// [`MAX_METHOD_BYTES`] + 1 bytes have arrived, before the request line ends. The longest
/// method in the IANA HTTP Method Registry, `UPDATEREDIRECTREF`, has 17 bytes.
pub(crate) const MAX_METHOD_BYTES: usize = 32;

/// The outcome of a parse attempt that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The whole head was in the buffer.
    Complete(T),
    /// The head is not complete yet: read more bytes, append them, and call again with the
    /// whole buffer.
    Partial,
}

/// How the request content is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No `Content-Length` and no `Transfer-Encoding`: the request has no content.
    None,
    /// `Content-Length: n` (already checked against [`Limits::max_body`]).
    Length(u64),
    /// `Transfer-Encoding: chunked`: read with a [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
}

/// A parsed, validated request head. Every slice borrows the caller's read buffer or header
/// array: nothing is copied.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'b, 'h> {
    /// The method: any `token` (RFC 9110 §9.1), case-sensitive, never interpreted here.
    pub method: &'b str,
    /// The request-target exactly as received.
    pub target: &'b [u8],
    /// The path part of the target, before the first `?`, still percent-encoded. `*` for
    /// `OPTIONS *`; for an absolute-form target, the path after the authority (`/` if none).
    pub path: &'b [u8],
    /// The query after the first `?`, without the `?`; empty if there is none.
    pub query: &'b [u8],
    /// The request's HTTP version: what the response is framed for (chunked coding, persistent
    /// connections). A request that came through a gateway front ([`RequestHead::front`], uwsgi)
    /// always says HTTP/1.0 here, so its response is never chunked: a uwsgi front reads the
    /// response as HTTP/1.0 (close-delimited when its length is unknown); the version the client
    /// spoke is the front's [`Front::server_protocol`].
    pub version: Version,
    /// The header field lines, in order, as httparse split them (values trimmed of OWS).
    pub headers: &'h [httparse::Header<'b>],
    /// Length of the head in bytes, final empty line included: the content (or the next
    /// pipelined request) starts at `buf[head_len..]`.
    pub head_len: usize,
    /// How the content is framed.
    pub framing: Framing,
    /// May the connection carry another request after this one? HTTP/1.1: yes unless
    /// `Connection: close`; HTTP/1.0: only with `Connection: keep-alive` (and no `close`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request that has content: send
    /// [`CONTINUE_100`](super::CONTINUE_100) before reading the body (unless it is already
    /// buffered). Always false for HTTP/1.0, where the expectation is ignored (RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// The host the request is for: the authority of an absolute-form target, else the `Host`
    /// header value (validated `uri-host [ ":" port ]`). `None` only for HTTP/1.0 without `Host`.
    pub host: Option<&'b [u8]>,
    /// Does the head carry a `Forwarded` or an `X-Forwarded-*` field? When it does not, there is
    /// nothing for proxy resolution to look for.
    pub(crate) forwarded: bool,
    /// What a gateway front (a uwsgi peer) stated about the request; `None` for HTTP requests.
    pub(crate) front: Option<Front<'b>>,
}

impl RequestHead<'_, '_> {
    /// The protocol the client spoke, for SERVER_PROTOCOL and the access log: the front's
    /// SERVER_PROTOCOL for a request relayed by a front, else the request's version.
    pub(crate) fn protocol_text(&self) -> &[u8] {
        match &self.front {
            Some(front) => front.server_protocol,
            None => self.version.as_bytes(),
        }
    }
}

/// What a gateway front that speaks uwsgi (nginx `uwsgi_pass`, Apache `mod_proxy_uwsgi`) states
/// about a request it relays, in the CGI variables of its packet. The front is trusted (only the
/// peers of `--uwsgi-allow-ips` are served): these replace what the connection itself shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Front<'b> {
    /// SERVER_PROTOCOL as the client spoke it to the front (`HTTP/1.1`, `HTTP/2.0`).
    pub(crate) server_protocol: &'b [u8],
    /// REMOTE_ADDR: `Some(None)` when the front sent a value that is not an IP address (nginx
    /// sends `unix:` for a client on a unix socket); `None` when it sent none (the connection's
    /// peer, the front itself, is shown then).
    pub(crate) remote_addr: Option<Option<std::net::IpAddr>>,
    /// REMOTE_PORT, when the front sent a valid one.
    pub(crate) remote_port: Option<u16>,
    /// The client used https (HTTPS=on|1, or REQUEST_SCHEME / UWSGI_SCHEME = https).
    pub(crate) https: bool,
    /// SERVER_NAME, when the front sent a non-empty one.
    pub(crate) server_name: Option<&'b [u8]>,
    /// SERVER_PORT, when the front sent a valid one.
    pub(crate) server_port: Option<u16>,
    /// SCRIPT_NAME: the sub-path the front serves the app under (already removed from
    /// [`RequestHead::path`]); prefixed to the mount's SCRIPT_NAME in the environ. Empty when none.
    pub(crate) script_name: &'b [u8],
}

error_table! {
    /// Why a request head was refused. Each variant names one rule; [`ParseError::status`] is the
    /// response status and [`ParseError::reason`] a short text for logs. After any of these the
    /// connection must be closed once the error response is written.
    pub enum ParseError {
        /// The method is not a `token`.
        InvalidMethod => 400, "method is not a token",
        /// The method is longer than [`MAX_METHOD_BYTES`] (not 414: that is for the target).
        MethodTooLong => 400, "method too long",
        /// The request-target has a byte outside `VCHAR`, a `#`, or is not origin-form,
        /// absolute-form (`http`/`https`) or `*`.
        InvalidTarget => 400, "invalid request-target",
        /// `*` as the target of a method other than `OPTIONS`.
        AsteriskFormNotOptions => 400, "asterisk-form target on a method other than OPTIONS",
        /// The request line is malformed in a way not covered by a more precise variant,
        /// e.g. it ends after the target without an HTTP-version (an HTTP/0.9 simple-request).
        InvalidRequestLine => 400, "malformed request line",
        /// The HTTP-version is not `HTTP/` DIGIT `.` DIGIT.
        InvalidVersion => 400, "malformed HTTP version",
        /// A header name is not a `token` (space or tab before the colon, empty name,
        /// control or non-ASCII byte, line without a colon, obs-fold continuation line).
        InvalidHeaderName => 400, "invalid header name (or whitespace before colon, obs-fold)",
        /// A header value holds a control byte (NUL, bare CR, DEL, ...).
        InvalidHeaderValue => 400, "control character in header value",
        /// A line in the head is not terminated by CRLF (bare LF, bare CR).
        InvalidLineEnding => 400, "line not terminated by CRLF",
        /// HTTP/1.1 request without `Host`.
        MissingHost => 400, "HTTP/1.1 request without Host",
        /// More than one `Host` field line.
        MultipleHost => 400, "more than one Host header",
        /// `Host` (or the authority of an absolute-form target) is not `uri-host [":" port]`.
        InvalidHost => 400, "invalid Host",
        /// `Host` disagrees with the authority of an absolute-form target.
        HostMismatch => 400, "Host differs from the absolute-form target's authority",
        /// A `Content-Length` value is not `1*DIGIT` (sign, hex, space, empty, ...).
        InvalidContentLength => 400, "Content-Length is not a decimal number",
        /// A `Content-Length` value does not fit in 64 bits.
        ContentLengthOverflow => 400, "Content-Length does not fit in 64 bits",
        /// Several `Content-Length` values that are not all the same.
        ConflictingContentLength => 400, "conflicting Content-Length values",
        /// A `Transfer-Encoding` element is not `token *( OWS ";" ... )` (empty element,
        /// stray bytes, or parameters on `chunked`).
        InvalidTransferEncoding => 400, "malformed Transfer-Encoding",
        /// `Transfer-Encoding` present but `chunked` is not the final coding.
        ChunkedNotFinal => 400, "chunked is not the final transfer coding",
        /// `chunked` listed more than once (RFC 9112 §6.1: a sender MUST NOT apply it twice).
        RepeatedChunked => 400, "chunked applied more than once",
        /// Both `Transfer-Encoding` and `Content-Length` (refused, not resolved).
        ContentLengthWithTransferEncoding => 400, "both Content-Length and Transfer-Encoding",
        /// `Transfer-Encoding` in an HTTP/1.0 request.
        TransferEncodingInHttp10 => 400, "Transfer-Encoding in an HTTP/1.0 request",
        /// `Content-Length` exceeds [`Limits::max_body`].
        ContentTooLarge => 413, "Content-Length exceeds the body limit",
        /// The request line exceeds [`Limits::max_request_line`].
        RequestLineTooLong => 414, "request line too long",
        /// An `Expect` value other than `100-continue`.
        UnsupportedExpectation => 417, "unsupported expectation",
        /// The head exceeds [`Limits::max_header_bytes`].
        HeadersTooLarge => 431, "request head too large",
        /// More header lines than [`Limits::max_headers`] (or than the slots passed in).
        TooManyHeaders => 431, "too many header fields",
        /// A coding this server does not implement before a final `chunked` (`gzip, chunked`).
        UnsupportedTransferCoding => 501, "unsupported transfer coding",
        /// A well-formed version other than HTTP/1.0 and HTTP/1.1 (`HTTP/0.9`, `HTTP/2.0`, ...).
        /// A request line without any version is malformed instead ([`ParseError::InvalidRequestLine`]).
        UnsupportedVersion => 505, "unsupported HTTP version",
    }
}

impl ParseError {
    /// True when the request line itself was refused (so no method or target can be reported
    /// for the request); false when the line was read and a later rule was broken.
    pub(crate) const fn is_about_request_line(&self) -> bool {
        use ParseError::*;
        matches!(
            self,
            InvalidMethod
                | MethodTooLong
                | InvalidTarget
                | AsteriskFormNotOptions
                | InvalidRequestLine
                | InvalidVersion
                | RequestLineTooLong
        )
    }
}

/// Parse a request head from the start of `buf`.
///
/// `buf` holds everything read so far on the connection (past any earlier request);
/// `headers` is an array of at least [`Limits::max_headers`] slots (see [`header_slots`]). Returns
/// [`Parsed::Partial`] while the head is incomplete and no limit has been crossed yet;
/// the caller reads more and calls again with the grown buffer.
///
/// ```
/// use nsgi_gateway::{header_slots, parse_head, Framing, Limits, Parsed, Version};
/// let mut headers = header_slots::<16>();
/// let buf = b"POST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc";
/// let Ok(Parsed::Complete(head)) = parse_head(buf, &mut headers, &Limits::default()) else {
///     panic!("expected a complete head");
/// };
/// assert_eq!(head.method, "POST");
/// assert_eq!((head.path, head.query), (&b"/submit"[..], &b"x=1"[..]));
/// assert_eq!(head.version, Version::Http11);
/// assert_eq!(head.framing, Framing::Length(3));
/// assert!(head.keep_alive);
/// assert_eq!(&buf[head.head_len..], b"abc");
/// ```
pub fn parse_head<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [HeaderSlot<'b>],
    limits: &Limits,
) -> Result<Parsed<RequestHead<'b, 'h>>, ParseError> {
    // Never hand httparse more than the largest head we accept: a head that does not end
    // within the window is too large whatever follows.
    let window = &buf[..buf.len().min(limits.max_header_bytes)];
    // Nor more than the byte that puts the request line over its limit: that byte is where the
    // request fails (414), whether it came alone or with the rest of the line.
    let window = &window[..request_line_window(window, limits)];
    // Nor past the first bare LF, where the request fails (400) however it was split into reads.
    let window = &window[..bare_lf_window(window)];
    let slots = headers.len().min(limits.max_headers);
    let mut req = httparse::Request::new(&mut []);
    let status =
        httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, window, &mut headers[..slots]);

    let head_len = match status {
        Err(e) => {
            // An error, or a version that may still become well-formed: then wait like any other
            // partial head, unless a limit is already crossed.
            check_method_length(window)?;
            classify_httparse_error::<()>(e, window)?;
            return partial_head(window, limits);
        }
        Ok(httparse::Status::Partial) => return partial_head(window, limits),
        Ok(httparse::Status::Complete(n)) => n,
    };
    check_request_line(window, limits)?;
    check_crlf_only(&window[..head_len])?;

    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::InvalidRequestLine);
    };
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(ParseError::UnsupportedVersion),
    };
    let target = target.as_bytes();
    let (path, query, authority) = split_target(method, target)?;
    let headers: &'h [httparse::Header<'b>] = req.headers;
    let fields = scan_fields(headers)?;

    let host = check_host(version, &fields, authority)?;
    let framing = decide_framing(version, &fields, limits)?;
    if fields.expect_other {
        return Err(ParseError::UnsupportedExpectation);
    }
    let keep_alive = match version {
        Version::Http11 => !fields.conn_close,
        Version::Http10 => fields.conn_keep_alive && !fields.conn_close,
    };
    let has_content = matches!(framing, Framing::Chunked) || matches!(framing, Framing::Length(n) if n > 0);
    let expect_continue = version == Version::Http11 && fields.expect_continue && has_content;

    Ok(Parsed::Complete(RequestHead {
        method,
        target,
        path,
        query,
        version,
        headers,
        head_len,
        framing,
        keep_alive,
        expect_continue,
        host,
        forwarded: fields.forwarded,
        front: None,
    }))
}

/// Parse a `Content-Length` field value (RFC 9110 §8.6): `1*DIGIT`, or a comma list of
/// identical such values. `None` for anything else, including values beyond `u64::MAX`.
/// Useful for the `Content-Length` an app puts in its response headers.
///
/// ```
/// use nsgi_gateway::parse_content_length;
/// assert_eq!(parse_content_length(b"42"), Some(42));
/// assert_eq!(parse_content_length(b"42, 42"), Some(42));
/// assert_eq!(parse_content_length(b"+42"), None);
/// assert_eq!(parse_content_length(b"42, 43"), None);
/// ```
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    content_length_list(value).ok()
}

// ---------------------------------------------------------------------------------------------
// The request line

/// The three fields of a request line, as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLine<'b> {
    /// The method.
    pub method: &'b [u8],
    /// The request-target.
    pub target: &'b [u8],
    /// The HTTP-version, `HTTP/` DIGIT `.` DIGIT.
    pub version: &'b [u8],
}

/// The request line at the start of `buf` (after the empty lines a server ignores), when it has
/// arrived whole, ended by CRLF, and has the form `method SP target SP HTTP/x.y` with a method of
/// at most [`MAX_METHOD_BYTES`] token bytes: what can be told of a request refused after its
/// request line was read (for the access log). Looks no further than the first line.
///
/// ```
/// use nsgi_gateway::complete_request_line;
/// let line = complete_request_line(b"GET /a?b HTTP/1.1\r\nHost: x\r\n").unwrap();
/// assert_eq!((line.method, line.target, line.version), (&b"GET"[..], &b"/a?b"[..], &b"HTTP/1.1"[..]));
/// assert_eq!(complete_request_line(b"GET /a?b HTTP/1.1"), None); // not ended yet
/// ```
pub fn complete_request_line(buf: &[u8]) -> Option<RequestLine<'_>> {
    let rest = skip_empty_lines(buf);
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let line = rest[..newline].strip_suffix(b"\r")?;
    let mut fields = line.split(|&b| b == b' ');
    let (method, target, version) = (fields.next()?, fields.next()?, fields.next()?);
    let well_formed = fields.next().is_none()
        && !method.is_empty()
        && method.len() <= MAX_METHOD_BYTES
        && method.iter().all(|&b| is_tchar(b))
        && !target.is_empty()
        && matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit());
    well_formed.then_some(RequestLine {
        method,
        target,
        version,
    })
}

/// Skip the empty lines a server may ignore before a request line (RFC 9112 §2.2).
fn skip_empty_lines(buf: &[u8]) -> &[u8] {
    let mut rest = buf;
    loop {
        match rest {
            [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] => rest = tail,
            _ => return rest,
        }
    }
}

/// True when the bytes of a request, complete or not, start with the `HEAD` method (after the
/// empty lines [`parse_head`] skips): the gateway's own error responses to it then carry no body
/// (RFC 9110 §9.3.2), even when the request is too malformed to parse.
///
/// ```
/// use nsgi_gateway::is_head_request;
/// assert!(is_head_request(b"\r\nHEAD / HTTP/1.1\r\n"));
/// assert!(!is_head_request(b"GET / HTTP/1.1\r\n"));
/// assert!(!is_head_request(b"HEADER / HTTP/1.1\r\n"));
/// ```
pub fn is_head_request(request: &[u8]) -> bool {
    skip_empty_lines(request).starts_with(b"HEAD ")
}

/// The head so far is well-formed but incomplete: `Partial`, unless it already crosses a limit or
/// holds a bare LF.
fn partial_head<T>(window: &[u8], limits: &Limits) -> Result<Parsed<T>, ParseError> {
    check_request_line(window, limits)?;
    check_crlf_only(window)?;
    if window.len() >= limits.max_header_bytes {
        return Err(ParseError::HeadersTooLarge);
    }
    Ok(Parsed::Partial)
}

/// How much of `window` the parser may look at: all of it, or, when the request line runs over
/// [`Limits::max_request_line`], up to the byte that makes it too long. A client that sends the
/// line a byte at a time is refused at that byte; one that sends it at once must get the same
/// answer, not one decided by a bad byte further along.
fn request_line_window(window: &[u8], limits: &Limits) -> usize {
    let line_start = window.len() - skip_empty_lines(window).len();
    let first_over = line_start.saturating_add(limits.max_request_line).saturating_add(1);
    // One byte more when the byte at the limit is a CR that a LF may still turn into the end of
    // the line.
    for end in [first_over, first_over.saturating_add(1)] {
        if end <= window.len() && check_request_line(&window[..end], limits).is_err() {
            return end;
        }
    }
    window.len()
}

/// How much of `window` the parser may look at: all of it, or up to its first bare LF. A client
/// that sends a byte at a time is refused at that LF (or at an error before it); one that sends
/// everything at once must get the same answer, not one decided by a bad byte further along.
fn bare_lf_window(window: &[u8]) -> usize {
    if check_crlf_only(window).is_ok() {
        return window.len();
    }
    window
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b'\n' && (i == 0 || window[i - 1] != b'\r'))
        .map_or(window.len(), |lf| lf + 1)
}

/// 400 when the method is longer than [`MAX_METHOD_BYTES`], whether or not it has ended yet.
/// Its first [`MAX_METHOD_BYTES`] + 1 bytes are all token bytes then, so no other fault of the
/// request can come before it: this answer wins over any httparse finds further on.
fn check_method_length(window: &[u8]) -> Result<(), ParseError> {
    let method_len = skip_empty_lines(window)
        .iter()
        .take(MAX_METHOD_BYTES + 1)
        .take_while(|&&b| is_tchar(b))
        .count();
    if method_len > MAX_METHOD_BYTES {
        return Err(ParseError::MethodTooLong);
    }
    Ok(())
}

/// 400 when the method is longer than [`MAX_METHOD_BYTES`]; 414 when the request line (without
/// its terminator) is longer than the limit. Both whether or not the line has ended yet.
fn check_request_line(window: &[u8], limits: &Limits) -> Result<(), ParseError> {
    check_method_length(window)?;
    let line = skip_empty_lines(window);
    let scan = &line[..line.len().min(limits.max_request_line.saturating_add(2))];
    let len = match scan.iter().position(|&b| b == b'\n') {
        Some(i) if i > 0 && scan[i - 1] == b'\r' => i - 1,
        Some(i) => i,
        None if scan.last() == Some(&b'\r') => scan.len() - 1,
        None => scan.len(),
    };
    if len > limits.max_request_line {
        return Err(ParseError::RequestLineTooLong);
    }
    Ok(())
}

/// httparse accepts a bare LF as a line terminator (RFC 9112 §2.2 allows it). We do not:
/// the chunked decoder insists on CRLF, and one rule for the whole message leaves no room for
/// a front end and this server to disagree about where a line ends.
fn check_crlf_only(head: &[u8]) -> Result<(), ParseError> {
    // Each byte against the one before it, without an early exit: the compiler vectorises
    // this, where a loop that stops at the first bare LF goes a byte at a time.
    let bare_lf = head.first() == Some(&b'\n')
        || head[1.min(head.len())..]
            .iter()
            .zip(head)
            .fold(false, |bare, (&b, &prev)| bare | ((b == b'\n') & (prev != b'\r')));
    if bare_lf {
        return Err(ParseError::InvalidLineEnding);
    }
    Ok(())
}

/// Turn an httparse error into the rule it broke. The request-line cases need a second look
/// at the bytes, because httparse reports a bad method, a bad target and a missing version
/// all as `Token`, and every unsupported version as `Version`.
fn classify_httparse_error<T>(e: httparse::Error, window: &[u8]) -> Result<Parsed<T>, ParseError> {
    Err(match e {
        httparse::Error::HeaderName => ParseError::InvalidHeaderName,
        httparse::Error::HeaderValue => ParseError::InvalidHeaderValue,
        httparse::Error::NewLine => ParseError::InvalidLineEnding,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::Token => classify_token_error(window),
        httparse::Error::Version => return classify_version_error(window),
        httparse::Error::Status => ParseError::InvalidRequestLine,
    })
}

/// The three space-separated fields of a request line, as far as they go.
struct RequestLineParts<'a> {
    method: &'a [u8],
    /// The byte after the method (`None` at the end of the buffer).
    after_method: Option<u8>,
    target: &'a [u8],
    /// The bytes after the target, starting with its terminator.
    after_target: &'a [u8],
}

fn split_request_line(window: &[u8]) -> RequestLineParts<'_> {
    let line = skip_empty_lines(window);
    let m = line.iter().position(|&b| !is_tchar(b)).unwrap_or(line.len());
    let after_method = line.get(m).copied();
    let rest = if after_method == Some(b' ') {
        &line[m + 1..]
    } else {
        &line[line.len()..]
    };
    let t = rest
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(rest.len());
    RequestLineParts {
        method: &line[..m],
        after_method,
        target: &rest[..t],
        after_target: &rest[t..],
    }
}

fn classify_token_error(window: &[u8]) -> ParseError {
    let parts = split_request_line(window);
    if parts.method.is_empty() || parts.after_method != Some(b' ') {
        return ParseError::InvalidMethod;
    }
    // `GET /path CRLF` (an HTTP/0.9 simple-request, or `GET /\nHTTP/1.1`): the line ends where
    // the version should start. RFC 9112 §3 has no request-line without a version, so this is a
    // malformed line (400), whatever follows it in the buffer — never a 505 that would depend
    // on whether the next bytes had arrived yet.
    if !parts.target.is_empty() && matches!(parts.after_target.first(), Some(b'\r' | b'\n')) {
        return ParseError::InvalidRequestLine;
    }
    ParseError::InvalidTarget
}

/// httparse only knows `HTTP/1.0` and `HTTP/1.1`. A well-formed `HTTP/x.y` is some other
/// version (505); anything else is malformed (400). While the version field has not been
/// terminated yet and could still become well-formed, wait for more bytes so the answer does
/// not depend on how the request was split into reads.
fn classify_version_error<T>(window: &[u8]) -> Result<Parsed<T>, ParseError> {
    let parts = split_request_line(window);
    let after = parts.after_target;
    let Some(field) = after.strip_prefix(b" ") else {
        return Err(ParseError::InvalidVersion);
    };
    let end = field
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(field.len());
    let (version, terminated) = (&field[..end], end < field.len());
    let well_formed = |v: &[u8]| -> bool {
        const PATTERN: &[u8] = b"HTTP/D.D";
        v.len() <= PATTERN.len()
            && v.iter().zip(PATTERN).all(|(&b, &p)| match p {
                b'D' => b.is_ascii_digit(),
                _ => b == p,
            })
    };
    if well_formed(version) && version.len() == 8 && terminated {
        Err(ParseError::UnsupportedVersion)
    } else if well_formed(version) && !terminated {
        Ok(Parsed::Partial)
    } else {
        Err(ParseError::InvalidVersion)
    }
}

/// Split the request-target (RFC 9112 §3.2) into path, query and, for absolute-form, the
/// authority.
///
/// Accepted bytes are `VCHAR` except `#` (a fragment is never part of a request-target);
/// non-ASCII bytes are refused. Percent-encoding is left to whoever decodes the path.
#[allow(clippy::type_complexity)]
fn split_target<'b>(method: &str, target: &'b [u8]) -> Result<(&'b [u8], &'b [u8], Option<&'b [u8]>), ParseError> {
    if target.iter().any(|&b| !(0x21..=0x7e).contains(&b) || b == b'#') {
        return Err(ParseError::InvalidTarget);
    }
    if target == b"*" {
        return if method == "OPTIONS" {
            Ok((target, b"", None))
        } else {
            Err(ParseError::AsteriskFormNotOptions)
        };
    }
    if target.first() == Some(&b'/') {
        let (path, query) = split_query(target);
        return Ok((path, query, None));
    }
    // absolute-form: only the schemes an origin server can be the origin of.
    let rest = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
        .ok_or(ParseError::InvalidTarget)?;
    let a = rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(a);
    if !is_valid_host(authority) {
        // Also covers userinfo (`user@host`), which RFC 9110 §4.2.4 says to treat as an error.
        return Err(ParseError::InvalidTarget);
    }
    let (path, query) = split_query(path_and_query);
    let path: &'b [u8] = if path.is_empty() { b"/" } else { path };
    Ok((path, query, Some(authority)))
}

fn split_query(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b'?') {
        Some(q) => (&s[..q], &s[q + 1..]),
        None => (s, b""),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2), by the one rule of [`syntax::parse_host`].
fn is_valid_host(value: &[u8]) -> bool {
    syntax::parse_host(value).is_some()
}

// ---------------------------------------------------------------------------------------------
// Header fields

/// What one pass over the header lines found. Syntax errors in `Content-Length` are
/// reported at once; `Transfer-Encoding` problems are kept until the framing decision, which
/// reports the CL/TE conflicts first.
#[derive(Default)]
struct Fields<'b> {
    host_count: usize,
    host: Option<&'b [u8]>,
    content_length: Option<u64>,
    te: TransferCodings,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
    expect_other: bool,
    /// A `Forwarded` or `X-Forwarded-*` field is present.
    forwarded: bool,
}

/// The transfer codings listed across all `Transfer-Encoding` lines, folded as they stream by.
#[derive(Default)]
struct TransferCodings {
    present: bool,
    /// The first syntax error seen in an element.
    invalid: bool,
    /// Is the latest element `chunked`? (`None` until one is seen.)
    last_is_chunked: Option<bool>,
    /// Was any element followed by another (so not final)? Once a repeated `chunked` is ruled
    /// out, every non-final coding is one we do not implement.
    non_final: bool,
    /// How many elements were `chunked`.
    chunked_count: usize,
}

impl TransferCodings {
    fn add_field(&mut self, value: &[u8]) {
        self.present = true;
        for element in list_elements(value) {
            match classify_coding(element) {
                Some(is_chunked) => {
                    if self.last_is_chunked.is_some() {
                        self.non_final = true;
                    }
                    self.last_is_chunked = Some(is_chunked);
                    self.chunked_count += usize::from(is_chunked);
                }
                None => self.invalid = true,
            }
        }
    }
}

/// `transfer-coding = token *( OWS ";" OWS transfer-parameter )` (RFC 9112 §7). Returns
/// `Some(true)` for `chunked`, `Some(false)` for another coding, `None` when malformed: empty
/// element, no token, stray bytes, or parameters on `chunked` (RFC 9112 §7.1: "SHOULD be
/// treated as an error").
fn classify_coding(element: &[u8]) -> Option<bool> {
    let end = element.iter().position(|&b| !is_tchar(b)).unwrap_or(element.len());
    let (name, rest) = element.split_at(end);
    if name.is_empty() {
        return None;
    }
    let params = &rest[rest.iter().position(|&b| !is_ows(b)).unwrap_or(rest.len())..];
    if !params.is_empty() && params[0] != b';' {
        return None;
    }
    let is_chunked = name.eq_ignore_ascii_case(b"chunked");
    if is_chunked && !params.is_empty() {
        return None;
    }
    Some(is_chunked)
}

fn scan_fields<'b>(headers: &[httparse::Header<'b>]) -> Result<Fields<'b>, ParseError> {
    let mut f = Fields::default();
    for h in headers {
        let name = h.name.as_bytes();
        // The length picks the one name a field can be, so each field costs one comparison.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                f.host_count += 1;
                f.host = Some(h.value);
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = content_length_list(h.value)?;
                if f.content_length.is_some_and(|prev| prev != n) {
                    return Err(ParseError::ConflictingContentLength);
                }
                f.content_length = Some(n);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => f.te.add_field(h.value),
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for option in list_elements(h.value) {
                    if option.eq_ignore_ascii_case(b"close") {
                        f.conn_close = true;
                    } else if option.eq_ignore_ascii_case(b"keep-alive") {
                        f.conn_keep_alive = true;
                    }
                }
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                for expectation in list_elements(h.value) {
                    if expectation.eq_ignore_ascii_case(b"100-continue") {
                        f.expect_continue = true;
                    } else if !expectation.is_empty() {
                        f.expect_other = true;
                    }
                }
            }
            9 if name.eq_ignore_ascii_case(b"forwarded") => f.forwarded = true,
            n if n > 12 && name[..12].eq_ignore_ascii_case(b"x-forwarded-") => f.forwarded = true,
            _ => {}
        }
    }
    Ok(f)
}

/// One `Content-Length` field value: `1*DIGIT`, or a list whose elements are all the same
/// number (RFC 9110 §8.6 allows recipients to accept `42, 42`). Empty elements are refused.
fn content_length_list(value: &[u8]) -> Result<u64, ParseError> {
    let mut result: Option<u64> = None;
    for element in list_elements(value) {
        let n = decimal_u64(element)?;
        if result.is_some_and(|prev| prev != n) {
            return Err(ParseError::ConflictingContentLength);
        }
        result = Some(n);
    }
    result.ok_or(ParseError::InvalidContentLength)
}

/// One element as a `u64`, by the SDK's one Content-Length digits rule.
fn decimal_u64(digits: &[u8]) -> Result<u64, ParseError> {
    parse_decimal_length(digits).map_err(|error| match error {
        LengthError::NotDecimal => ParseError::InvalidContentLength,
        LengthError::Overflow => ParseError::ContentLengthOverflow,
    })
}

/// RFC 9112 §3.2: exactly one valid `Host` on HTTP/1.1, at most one on HTTP/1.0. With an
/// absolute-form target, that target's authority is the host; a `Host` that says otherwise is
/// refused rather than ignored, so that no one in front of us can route on a different host.
fn check_host<'b>(
    version: Version,
    f: &Fields<'b>,
    authority: Option<&'b [u8]>,
) -> Result<Option<&'b [u8]>, ParseError> {
    if f.host_count > 1 {
        return Err(ParseError::MultipleHost);
    }
    match f.host {
        None if version == Version::Http11 => Err(ParseError::MissingHost),
        None => Ok(authority),
        Some(value) if !is_valid_host(value) => Err(ParseError::InvalidHost),
        Some(value) => match authority {
            Some(a) if !a.eq_ignore_ascii_case(value) => Err(ParseError::HostMismatch),
            Some(a) => Ok(Some(a)),
            None => Ok(Some(value)),
        },
    }
}

/// RFC 9112 §6.1 and §6.3, refusing every ambiguous case.
fn decide_framing(version: Version, f: &Fields<'_>, limits: &Limits) -> Result<Framing, ParseError> {
    let te = &f.te;
    if te.present {
        if version == Version::Http10 {
            return Err(ParseError::TransferEncodingInHttp10);
        }
        if f.content_length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        if te.invalid {
            return Err(ParseError::InvalidTransferEncoding);
        }
        if te.last_is_chunked != Some(true) {
            return Err(ParseError::ChunkedNotFinal);
        }
        // `chunked, chunked` is a framing the sender was forbidden to produce, not a coding we
        // lack: a malformed message (400), not 501.
        if te.chunked_count > 1 {
            return Err(ParseError::RepeatedChunked);
        }
        if te.non_final {
            return Err(ParseError::UnsupportedTransferCoding);
        }
        return Ok(Framing::Chunked);
    }
    match f.content_length {
        Some(n) if n > limits.max_body => Err(ParseError::ContentTooLarge),
        Some(n) => Ok(Framing::Length(n)),
        None => Ok(Framing::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::mutation::mutated;
    use proptest::prelude::*;

    /// An owned copy of a parsed head, so tests can compare it after the buffers are gone.
    #[derive(Debug, PartialEq)]
    struct Head {
        method: String,
        target: Vec<u8>,
        path: Vec<u8>,
        query: Vec<u8>,
        version: Version,
        headers: Vec<(String, Vec<u8>)>,
        head_len: usize,
        framing: Framing,
        keep_alive: bool,
        expect_continue: bool,
        host: Option<Vec<u8>>,
    }

    fn parse_with(buf: &[u8], limits: &Limits) -> Result<Option<Head>, ParseError> {
        let mut headers = header_slots::<128>();
        Ok(match parse_head(buf, &mut headers, limits)? {
            Parsed::Partial => None,
            Parsed::Complete(h) => Some(Head {
                method: h.method.to_owned(),
                target: h.target.to_vec(),
                path: h.path.to_vec(),
                query: h.query.to_vec(),
                version: h.version,
                headers: h
                    .headers
                    .iter()
                    .map(|x| (x.name.to_owned(), x.value.to_vec()))
                    .collect(),
                head_len: h.head_len,
                framing: h.framing,
                keep_alive: h.keep_alive,
                expect_continue: h.expect_continue,
                host: h.host.map(<[u8]>::to_vec),
            }),
        })
    }

    #[track_caller]
    fn ok(buf: &[u8]) -> Head {
        match parse_with(buf, &Limits::default()) {
            Ok(Some(h)) => h,
            other => panic!(
                "expected a complete head for {:?}, got {other:?}",
                buf.escape_ascii().to_string()
            ),
        }
    }

    #[track_caller]
    fn err(buf: &[u8]) -> ParseError {
        match parse_with(buf, &Limits::default()) {
            Err(e) => e,
            other => panic!(
                "expected an error for {:?}, got {other:?}",
                buf.escape_ascii().to_string()
            ),
        }
    }

    #[track_caller]
    fn partial(buf: &[u8]) {
        match parse_with(buf, &Limits::default()) {
            Ok(None) => {}
            other => panic!(
                "expected Partial for {:?}, got {other:?}",
                buf.escape_ascii().to_string()
            ),
        }
    }

    /// `GET / HTTP/1.1`, `Host: h`, then `extra` header lines.
    fn get11(extra: &str) -> Vec<u8> {
        format!("GET / HTTP/1.1\r\nHost: h\r\n{extra}\r\n").into_bytes()
    }

    /// `POST / HTTP/1.1`, `Host: h`, then `extra` header lines.
    fn post11(extra: &str) -> Vec<u8> {
        format!("POST / HTTP/1.1\r\nHost: h\r\n{extra}\r\n").into_bytes()
    }

    // --- happy paths ---------------------------------------------------------------------

    #[test]
    fn simple_get() {
        let h = ok(b"GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n");
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, b"/a/b?c=d&e");
        assert_eq!(h.path, b"/a/b");
        assert_eq!(h.query, b"c=d&e");
        assert_eq!(h.version, Version::Http11);
        assert_eq!(h.headers.len(), 2);
        assert_eq!(h.headers[1], ("Accept".to_owned(), b"*/*".to_vec()));
        assert_eq!(h.framing, Framing::None);
        assert!(h.keep_alive);
        assert!(!h.expect_continue);
        assert_eq!(h.host.as_deref(), Some(&b"example.com"[..]));
    }

    #[test]
    fn head_len_points_at_the_body_or_the_next_request() {
        let buf = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
        let h = ok(buf);
        assert_eq!(&buf[h.head_len..h.head_len + 5], b"hello");
        assert_eq!(h.framing, Framing::Length(5));
    }

    #[test]
    fn query_splits_at_the_first_question_mark() {
        let h = ok(b"GET /p?a=1?b=2 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.path.as_slice(), h.query.as_slice()), (&b"/p"[..], &b"a=1?b=2"[..]));
        let h = ok(b"GET /p? HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.path.as_slice(), h.query.as_slice()), (&b"/p"[..], &b""[..]));
    }

    #[test]
    fn percent_encoding_and_sub_delims_pass_through_raw() {
        let h = ok(b"GET /a%20b/c;v=1,2'x'!$&()*+=:@|^`{}\\ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(h.path, b"/a%20b/c;v=1,2'x'!$&()*+=:@|^`{}\\");
    }

    #[test]
    fn any_token_is_a_method() {
        for m in ["GET", "PROPFIND", "M-SEARCH", "get", "X!#$%&'*+-.^_`|~9"] {
            let req = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(ok(req.as_bytes()).method, m);
        }
    }

    #[test]
    fn leading_empty_lines_are_ignored() {
        let h = ok(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(h.method, "GET");
        assert_eq!(h.head_len, 4 + 27);
    }

    #[test]
    fn http10_without_host_is_fine() {
        let h = ok(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(h.version, Version::Http10);
        assert_eq!(h.host, None);
        assert!(!h.keep_alive);
    }

    #[test]
    fn header_values_are_trimmed_and_may_hold_obs_text() {
        let h = ok(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t v\xe9 w \t\r\n\r\n");
        assert_eq!(h.headers[1].1, b"v\xe9 w");
    }

    #[test]
    fn empty_header_value_is_allowed() {
        let h = ok(&get11("X-Empty:\r\n"));
        assert_eq!(h.headers[1], ("X-Empty".to_owned(), vec![]));
    }

    // --- partial input -------------------------------------------------------------------

    #[test]
    fn incomplete_heads_are_partial() {
        let full = b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
        for n in 0..full.len() {
            partial(&full[..n]);
        }
        ok(full);
    }

    #[test]
    fn partial_head_one_byte_at_a_time_is_never_an_error() {
        let full = b"\r\nPOST /upload?a=b HTTP/1.1\r\nHost: [::1]:8080\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        for n in 0..full.len() {
            partial(&full[..n]);
        }
        assert_eq!(err(full), ParseError::UnsupportedTransferCoding);
    }

    // --- request line ----------------------------------------------------------------------

    #[test]
    fn invalid_method_is_400() {
        for req in [
            &b"G=\":<>(e),[T];?\" /get HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"G\x00T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"G\xc3\xa9T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let e = err(req);
            assert_eq!(e, ParseError::InvalidMethod, "{}", req.escape_ascii());
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn invalid_targets_are_400() {
        for req in [
            &b"GET ! HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            b"GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http://user@h/x HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let e = err(req);
            assert_eq!(e, ParseError::InvalidTarget, "{}", req.escape_ascii());
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn space_inside_the_request_line_is_400() {
        // "GET /a b HTTP/1.1": the target ends at the first space, "b" is not a version.
        assert_eq!(err(b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n").status(), 400);
        assert_eq!(err(b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n").status(), 400);
    }

    #[test]
    fn lf_as_a_separator_in_the_request_line_is_400() {
        assert_eq!(
            err(b"GET /\nHTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::InvalidRequestLine
        );
    }

    #[test]
    fn request_line_without_a_version_is_400_however_it_is_buffered() {
        // An HTTP/0.9 simple-request, a missing target (`HTTP/1.1` taken as the target) and a
        // line cut at CR: always malformed (400), never 505, and never dependent on whether
        // another request follows in the same read.
        for req in [
            &b"GET /\r\n"[..],
            b"GET /\r",
            b"GET /\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /index.html\r\n\r\n",
            b"GET HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET HTTP/1.1\r\n",
        ] {
            let e = err(req);
            assert_eq!(e, ParseError::InvalidRequestLine, "{}", req.escape_ascii());
            assert_eq!(e.status(), 400);
        }
        // Every prefix of the simple-request is either still partial or already that error.
        let full = b"GET /\r\n";
        for n in 0..full.len() {
            match parse_with(&full[..n], &Limits::default()) {
                Ok(None) | Err(ParseError::InvalidRequestLine) => {}
                other => panic!("{}: {other:?}", full[..n].escape_ascii()),
            }
        }
    }

    #[test]
    fn asterisk_form_only_for_options() {
        let h = ok(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.target.as_slice(), h.path.as_slice()), (&b"*"[..], &b"*"[..]));
        assert_eq!(h.query, b"");
        let e = err(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(e, ParseError::AsteriskFormNotOptions);
        assert_eq!(e.status(), 400);
        assert_eq!(
            err(b"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::InvalidTarget
        );
    }

    #[test]
    fn absolute_form_is_split_into_its_path() {
        let h = ok(b"GET http://example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        assert_eq!(h.target, b"http://example.com:8080/p/q?x=1");
        assert_eq!((h.path.as_slice(), h.query.as_slice()), (&b"/p/q"[..], &b"x=1"[..]));
        assert_eq!(h.host.as_deref(), Some(&b"example.com:8080"[..]));

        let h = ok(b"GET HTTPS://Example.com HTTP/1.1\r\nHost: example.COM\r\n\r\n");
        assert_eq!((h.path.as_slice(), h.query.as_slice()), (&b"/"[..], &b""[..]));
        assert_eq!(h.host.as_deref(), Some(&b"Example.com"[..]));

        let h = ok(b"GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.path.as_slice(), h.query.as_slice()), (&b"/"[..], &b"q"[..]));

        // HTTP/1.0 without Host: the authority is the host.
        let h = ok(b"GET http://a.example/ HTTP/1.0\r\n\r\n");
        assert_eq!(h.host.as_deref(), Some(&b"a.example"[..]));
    }

    #[test]
    fn absolute_form_with_a_different_host_is_400() {
        let e = err(b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n");
        assert_eq!(e, ParseError::HostMismatch);
        assert_eq!(e.status(), 400);
        // Absolute-form does not excuse a missing Host on HTTP/1.1 (RFC 9112 §3.2).
        assert_eq!(err(b"GET http://a.example/ HTTP/1.1\r\n\r\n"), ParseError::MissingHost);
    }

    #[test]
    fn request_line_too_long_is_414() {
        let limits = Limits {
            max_request_line: 32,
            ..Limits::default()
        };
        // exactly at the limit: fine
        let line = format!("GET /{} HTTP/1.1", "a".repeat(32 - 14));
        assert_eq!(line.len(), 32);
        let req = format!("{line}\r\nHost: h\r\n\r\n");
        assert!(parse_with(req.as_bytes(), &limits).unwrap().is_some());
        // one byte over, complete
        let req = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(32 - 13));
        assert_eq!(
            parse_with(req.as_bytes(), &limits).unwrap_err(),
            ParseError::RequestLineTooLong
        );
        // one byte over, no newline yet: known before the line ends
        let req = format!("GET /{}", "a".repeat(40));
        let e = parse_with(req.as_bytes(), &limits).unwrap_err();
        assert_eq!(e, ParseError::RequestLineTooLong);
        assert_eq!(e.status(), 414);
        // at the limit, ending in CR, the LF not yet read: still partial
        let req = format!("{line}\r");
        assert_eq!(parse_with(req.as_bytes(), &limits), Ok(None));
    }

    #[test]
    fn a_method_longer_than_the_bound_is_400_not_414() {
        let limits = Limits {
            max_request_line: 32,
            ..Limits::default()
        };
        let longest = "M".repeat(MAX_METHOD_BYTES);
        let req = format!("{longest} / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(ok(req.as_bytes()).method, longest);
        let req = format!("{longest}M / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(err(req.as_bytes()), ParseError::MethodTooLong);
        // Before the line ends, and past the request-line limit: still the method's fault.
        let e = parse_with("M".repeat(100).as_bytes(), &limits).unwrap_err();
        assert_eq!((e, e.status()), (ParseError::MethodTooLong, 400));
        assert_eq!(parse_with(longest.as_bytes(), &limits), Ok(None));
    }

    #[test]
    fn a_complete_request_line_is_found_only_when_whole_and_well_formed() {
        let line = complete_request_line(b"\r\nPOST /x HTTP/1.0\r\n").expect("a line");
        assert_eq!(
            (line.method, line.target, line.version),
            (&b"POST"[..], &b"/x"[..], &b"HTTP/1.0"[..])
        );
        assert!(complete_request_line(b"GET / HTTP/2.0\r\n").is_some(), "any HTTP/x.y");
        for bad in [
            &b"GET / HTTP/1.1"[..],
            b"GET / HTTP/1.1\r",
            b"GET / HTTP/1.1\nHost: t\r\n",
            b"GET  / HTTP/1.1\r\n",
            b"GET / HTTP/1.1 x\r\n",
            b"GET /\r\n",
            b"G\x01T / HTTP/1.1\r\n",
            b"GET / HTTP/1.10\r\n",
            b"GET / http/1.1\r\n",
            b"\r\n",
        ] {
            assert_eq!(complete_request_line(bad), None, "{:?}", bad.escape_ascii().to_string());
        }
        let long = format!("{} / HTTP/1.1\r\n", "M".repeat(MAX_METHOD_BYTES + 1));
        assert_eq!(complete_request_line(long.as_bytes()), None);
    }

    #[test]
    fn default_request_line_limit_is_8190() {
        let req = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(8190 - 14));
        ok(req.as_bytes());
        let req = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(8190 - 13));
        assert_eq!(err(req.as_bytes()), ParseError::RequestLineTooLong);
    }

    // --- versions ----------------------------------------------------------------------------

    #[test]
    fn unsupported_versions_are_505() {
        for req in [
            &b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
            b"GET / HTTP/0.9\r\n\r\n",
            b"GET / HTTP/3.0\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let e = err(req);
            assert_eq!(e, ParseError::UnsupportedVersion, "{}", req.escape_ascii());
            assert_eq!(e.status(), 505);
        }
    }

    #[test]
    fn malformed_versions_are_400() {
        for req in [
            &b"GET / HTTP/1.32\r\nHost: h\r\n\r\n"[..],
            b"GET / HTTP/4294967295.255\r\nHost: h\r\n\r\n",
            b"GET / http/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/\r\r1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/01.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1x\r\nHost: h\r\n\r\n",
            b"GET / XTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let e = err(req);
            assert_eq!(e.status(), 400, "{} gave {e:?}", req.escape_ascii());
        }
    }

    #[test]
    fn unsupported_version_waits_for_its_terminator() {
        // "HTTP/1.3" could still become "HTTP/1.32" (malformed): wait rather than guess.
        partial(b"GET / HTTP/1.3");
        partial(b"GET / HTTP/2");
        assert_eq!(err(b"GET / HTTP/1.3\r"), ParseError::UnsupportedVersion);
        assert_eq!(err(b"GET / HTTP/1.32"), ParseError::InvalidVersion);
    }

    #[test]
    fn http2_preface_is_answered_not_hung() {
        // Even the first few bytes of the preface are rejected or resolved quickly.
        assert_eq!(err(b"PRI * HTTP/2.0\r\n"), ParseError::UnsupportedVersion);
    }

    // --- line endings and header syntax ----------------------------------------------------

    #[test]
    fn bare_lf_is_400() {
        for req in [
            &b"GET / HTTP/1.1\nHost: h\n\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n\n",
            b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: y\nZ: w\r\n\r\n",
        ] {
            let e = err(req);
            assert_eq!(e, ParseError::InvalidLineEnding, "{}", req.escape_ascii());
            assert_eq!(e.status(), 400);
        }
        // Detected while the head is still incomplete, too.
        assert_eq!(err(b"GET / HTTP/1.1\nHost: h\n"), ParseError::InvalidLineEnding);
    }

    #[test]
    fn bare_cr_is_400() {
        for req in [
            &b"GET / HTTP/1.1\rHost: h\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: h\r\nX: va\rlue\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nVisible: :/\rSmuggled: :)\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n\rX",
        ] {
            assert_eq!(err(req).status(), 400, "{}", req.escape_ascii());
        }
    }

    #[test]
    fn obs_fold_is_400() {
        assert_eq!(err(&get11("X: a\r\n b\r\n")), ParseError::InvalidHeaderName);
        assert_eq!(
            err(&post11("Transfer-Encoding:\r\n chunked\r\n")),
            ParseError::InvalidHeaderName
        );
        assert_eq!(
            err(&post11("Content-Length: 1\r\n\t0\r\n")),
            ParseError::InvalidHeaderName
        );
    }

    #[test]
    fn whitespace_before_the_colon_is_400() {
        for line in [
            "Content-Length : 3\r\n",
            "Transfer-Encoding : chunked\r\n",
            "Transfer-Encoding\t: chunked\r\n",
            "Transfer-Encoding\t:\tchunked\r\n",
        ] {
            let e = err(&post11(line));
            assert_eq!(e, ParseError::InvalidHeaderName, "{line:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn whitespace_before_the_first_header_name_is_400() {
        assert_eq!(
            err(b"POST / HTTP/1.1\r\n\tContent-Length: 1\r\nHost: h\r\n\r\nx"),
            ParseError::InvalidHeaderName
        );
        assert_eq!(
            err(b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: h\r\n\r\n"),
            ParseError::InvalidHeaderName
        );
    }

    #[test]
    fn mangled_header_names_are_400() {
        for line in [
            &b"Transfer- Encoding: chunked\r\n"[..],
            b"\x01Transfer-Encoding: chunked\r\n",
            b"Content-Length\x85: 1\r\n",
            b"\xefoo: bar\r\n",
            b": ignored\r\n",
            b":\r\n",
            b"Content-Length 10\r\n",
            b"Transfer-\r\nEncoding: chunked\r\n",
            b"Te\nst: test\r\n",
            b"X\"Y: z\r\n",
            b"X(Y): z\r\n",
        ] {
            let mut req = b"POST / HTTP/1.1\r\nHost: h\r\n".to_vec();
            req.extend_from_slice(line);
            req.extend_from_slice(b"\r\n");
            assert_eq!(err(&req).status(), 400, "{}", line.escape_ascii());
        }
    }

    #[test]
    fn control_bytes_in_values_are_400() {
        for byte in [0x00u8, 0x01, 0x04, 0x08, 0x0b, 0x0c, 0x1f, 0x7f] {
            let mut req = b"GET / HTTP/1.1\r\nHost: h\r\nX: a".to_vec();
            req.push(byte);
            req.extend_from_slice(b"b\r\n\r\n");
            let e = err(&req);
            assert_eq!(e, ParseError::InvalidHeaderValue, "{byte:#04x}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn control_bytes_around_te_are_400_not_ows() {
        for byte in [0x01u8, 0x04, 0x08, 0x0b, 0x0c, 0x1f, 0x7f] {
            for (prefix, suffix) in [(&[byte][..], &b""[..]), (b"", &[byte][..])] {
                let mut req = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ".to_vec();
                req.extend_from_slice(prefix);
                req.extend_from_slice(b"chunked");
                req.extend_from_slice(suffix);
                req.extend_from_slice(b"\r\n\r\n");
                assert_eq!(err(&req).status(), 400, "{byte:#04x}");
            }
        }
        // Non-ASCII bytes are valid obs-text, but then the coding is not `chunked`.
        for byte in [0xa0u8, 0x85, 0xff] {
            let mut req = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ".to_vec();
            req.push(byte);
            req.extend_from_slice(b"chunked\r\n\r\n");
            assert_eq!(err(&req).status(), 400, "{byte:#04x}");
        }
    }

    #[test]
    fn tab_is_ows_after_the_colon() {
        // HTAB is OWS (RFC 9110 §5.6.3): `Transfer-Encoding:\tchunked` is plain chunked.
        assert_eq!(ok(&post11("Transfer-Encoding:\tchunked\r\n")).framing, Framing::Chunked);
        assert_eq!(
            ok(&post11("Transfer-Encoding: chunked\t\r\n")).framing,
            Framing::Chunked
        );
    }

    #[test]
    fn too_many_headers_is_431() {
        let limits = Limits {
            max_headers: 3,
            ..Limits::default()
        };
        let req = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
        assert!(parse_with(req, &limits).unwrap().is_some());
        let req = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let e = parse_with(req, &limits).unwrap_err();
        assert_eq!(e, ParseError::TooManyHeaders);
        assert_eq!(e.status(), 431);
        // Default limit: 100.
        let mut extra = String::new();
        for i in 0..99 {
            extra.push_str(&format!("X-{i}: v\r\n"));
        }
        ok(&get11(&extra));
        extra.push_str("X-last: v\r\n");
        assert_eq!(err(&get11(&extra)), ParseError::TooManyHeaders);
    }

    #[test]
    fn fewer_slots_than_the_limit_also_give_431() {
        let mut headers = header_slots::<1>();
        let req = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
        assert_eq!(
            parse_head(req, &mut headers, &Limits::default()).unwrap_err(),
            ParseError::TooManyHeaders
        );
    }

    #[test]
    fn head_larger_than_max_header_bytes_is_431() {
        let limits = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        let head = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(32));
        let head = head.as_bytes();
        assert_eq!(head.len(), 64);
        // exactly at the limit, followed by content: fine
        let mut buf = head.to_vec();
        buf.extend_from_slice(b"more bytes after the head");
        assert_eq!(parse_with(&buf, &limits).unwrap().unwrap().head_len, 64);
        // one byte more, still incomplete: 431 as soon as the limit is reached
        let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(33));
        let big = big.as_bytes();
        assert_eq!(parse_with(&big[..63], &limits), Ok(None));
        let e = parse_with(&big[..64], &limits).unwrap_err();
        assert_eq!(e, ParseError::HeadersTooLarge);
        assert_eq!(e.status(), 431);
        assert_eq!(parse_with(big, &limits).unwrap_err(), ParseError::HeadersTooLarge);
    }

    #[test]
    fn long_header_value_is_431_not_414() {
        let req = get11(&format!("X-Big: {}\r\n", "v".repeat(70_000)));
        assert_eq!(err(&req), ParseError::HeadersTooLarge);
    }

    // --- Host ------------------------------------------------------------------------------

    #[test]
    fn missing_host_on_http11_is_400() {
        let e = err(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(e, ParseError::MissingHost);
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn more_than_one_host_is_400() {
        assert_eq!(err(&get11("Host: h\r\n")), ParseError::MultipleHost);
        assert_eq!(err(&get11("host: other\r\n")), ParseError::MultipleHost);
        assert_eq!(
            err(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            ParseError::MultipleHost
        );
    }

    #[test]
    fn valid_hosts() {
        for host in [
            "example.com",
            "example.com:8080",
            "EXAMPLE.com",
            "127.0.0.1",
            "127.0.0.1:65535",
            "[::1]",
            "[::1]:80",
            "[2001:db8::192.0.2.1]",
            "my_host-1.local~",
            "h:",
        ] {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(ok(req.as_bytes()).host.as_deref(), Some(host.as_bytes()), "{host}");
        }
    }

    #[test]
    fn invalid_hosts_are_400() {
        for host in [
            "",
            "a,b",
            "a, a",
            "user@h",
            "h/path",
            "h?q",
            "h:80:80",
            "h:port",
            "h:65536",
            "h:123456",
            "[::1",
            "[]",
            "[::1]x",
            "[fe80::1%25eth0]",
            "a b",
            "h%41",
            "h\\x",
            "caf\u{e9}",
            ":80",
            // The same rule as a forwarded host (`site/proxy.rs`): no port 0, and an IPv6
            // literal must be an IPv6 address.
            "h:0",
            "[::1]:0",
            "[:::]",
            "[1:2]",
            "[1.2.3.4]",
        ] {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let e = err(req.as_bytes());
            assert_eq!(e, ParseError::InvalidHost, "{host:?}");
            assert_eq!(e.status(), 400);
        }
    }

    // --- Content-Length ----------------------------------------------------------------------

    #[test]
    fn content_length_values() {
        assert_eq!(ok(&post11("Content-Length: 0\r\n")).framing, Framing::Length(0));
        assert_eq!(ok(&post11("Content-Length: 42\r\n")).framing, Framing::Length(42));
        // Leading zeros are still decimal (not octal, HG#16).
        assert_eq!(ok(&post11("Content-Length: 010\r\n")).framing, Framing::Length(10));
        assert_eq!(ok(&post11("Content-Length: 00\r\n")).framing, Framing::Length(0));
        // Identical repeats, in one line or several.
        assert_eq!(ok(&post11("Content-Length: 7, 7,7\r\n")).framing, Framing::Length(7));
        assert_eq!(
            ok(&post11("Content-Length: 7\r\ncontent-length: 7\r\n")).framing,
            Framing::Length(7)
        );
    }

    #[test]
    fn malformed_content_length_is_400() {
        for v in [
            "+1",
            "-48",
            "-0",
            "0x10",
            "1_0",
            "+1_0",
            "1Z",
            "_",
            "1000.1000",
            "1000 1000",
            "1 0",
            "",
            ",",
            "7,",
            ",7",
            "7,,7",
            "ten",
            "1e3",
            "١",
        ] {
            let e = err(&post11(&format!("Content-Length: {v}\r\n")));
            assert_eq!(e, ParseError::InvalidContentLength, "{v:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn content_length_with_control_bytes_is_400() {
        for v in [&b"1000\x11"[..], b"\x0b5", b"5\x00", b"5\x0c"] {
            let mut req = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ".to_vec();
            req.extend_from_slice(v);
            req.extend_from_slice(b"\r\n\r\n");
            assert_eq!(err(&req).status(), 400, "{}", v.escape_ascii());
        }
    }

    #[test]
    fn content_length_overflow_is_400() {
        let unlimited = Limits {
            max_body: u64::MAX,
            ..Limits::default()
        };
        let req = post11("Content-Length: 18446744073709551615\r\n");
        assert_eq!(
            parse_with(&req, &unlimited).unwrap().unwrap().framing,
            Framing::Length(u64::MAX)
        );
        for v in ["18446744073709551616", "99999999999999999999999999"] {
            let e = err(&post11(&format!("Content-Length: {v}\r\n")));
            assert_eq!(e, ParseError::ContentLengthOverflow, "{v}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn conflicting_content_lengths_are_400() {
        for lines in [
            "Content-Length: 1\r\nContent-Length: 0\r\n",
            "Content-Length: 0\r\nContent-Length: 1\r\n",
            "Content-Length: 1000, 1001\r\n",
            "Content-Length: 5\r\nContent-Length: 5, 6\r\n",
        ] {
            let e = err(&post11(lines));
            assert_eq!(e, ParseError::ConflictingContentLength, "{lines:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn content_length_over_max_body_is_413() {
        let limits = Limits {
            max_body: 100,
            ..Limits::default()
        };
        let req = post11("Content-Length: 100\r\n");
        assert_eq!(
            parse_with(&req, &limits).unwrap().unwrap().framing,
            Framing::Length(100)
        );
        let req = post11("Content-Length: 101\r\n");
        let e = parse_with(&req, &limits).unwrap_err();
        assert_eq!(e, ParseError::ContentTooLarge);
        assert_eq!(e.status(), 413);
        // Default: 64 MiB.
        let e = err(&post11(&format!("Content-Length: {}\r\n", (64u64 << 20) + 1)));
        assert_eq!(e, ParseError::ContentTooLarge);
        // u64::MAX is a valid number, and too large.
        assert_eq!(
            err(&post11("Content-Length: 18446744073709551615\r\n")),
            ParseError::ContentTooLarge
        );
    }

    #[test]
    fn parse_content_length_helper() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_content_length(b"18446744073709551616"), None);
        assert_eq!(parse_content_length(b"3,3"), Some(3));
        assert_eq!(parse_content_length(b" 3 "), Some(3));
        assert_eq!(parse_content_length(b"3,4"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"-1"), None);
    }

    // --- Transfer-Encoding -------------------------------------------------------------------

    #[test]
    fn chunked_is_recognised_case_insensitively() {
        for v in ["chunked", "Chunked", "CHUNKED", " chunked ", "chunked\t"] {
            assert_eq!(
                ok(&post11(&format!("Transfer-Encoding: {v}\r\n"))).framing,
                Framing::Chunked,
                "{v:?}"
            );
        }
    }

    #[test]
    fn chunked_not_final_is_400() {
        for v in [
            "identity",
            "gzip",
            "chunked, identity",
            "chunked, gzip",
            "xchunked",
            "chunkedx",
            "blegh",
            "chunked-false",
        ] {
            let e = err(&post11(&format!("Transfer-Encoding: {v}\r\n")));
            assert_eq!(e, ParseError::ChunkedNotFinal, "{v:?}");
            assert_eq!(e.status(), 400);
        }
        // Across lines, the last line's last element is the final coding.
        assert_eq!(
            err(&post11("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n")),
            ParseError::ChunkedNotFinal
        );
    }

    #[test]
    fn other_codings_before_chunked_are_501() {
        for lines in [
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: identity, chunked\r\n",
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: foo;q=1, chunked\r\n",
            "Transfer-Encoding: deflate , CHUNKED\r\n",
        ] {
            let e = err(&post11(lines));
            assert_eq!(e, ParseError::UnsupportedTransferCoding, "{lines:?}");
            assert_eq!(e.status(), 501);
        }
    }

    #[test]
    fn chunked_applied_twice_is_400_not_501() {
        // RFC 9112 §6.1: a sender MUST NOT apply chunked more than once. Not a coding we lack
        // (501) but a malformed message (400), in one line or across lines.
        for lines in [
            "Transfer-Encoding: chunked, chunked\r\n",
            "Transfer-Encoding: Chunked,CHUNKED\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, gzip, chunked\r\n",
            "Transfer-Encoding: gzip, chunked, chunked\r\n",
        ] {
            let e = err(&post11(lines));
            assert_eq!(e, ParseError::RepeatedChunked, "{lines:?}");
            assert_eq!(e.status(), 400);
        }
        // Not final wins: `chunked, chunked, gzip` is unframeable whatever else is wrong.
        assert_eq!(
            err(&post11("Transfer-Encoding: chunked, chunked, gzip\r\n")),
            ParseError::ChunkedNotFinal
        );
    }

    #[test]
    fn malformed_transfer_encoding_is_400() {
        for v in [
            "",
            ",chunked",
            "chunked,",
            "chunked,,",
            ", chunked",
            "chunked;ext=val",
            "chunked ;x",
            "chunked x",
            "chunked chunked",
            "\"chunked\"",
            "chunked/1",
        ] {
            let e = err(&post11(&format!("Transfer-Encoding: {v}\r\n")));
            assert_eq!(e, ParseError::InvalidTransferEncoding, "{v:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn cl_te_and_te_cl_are_400() {
        for lines in [
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n",
        ] {
            let e = err(&post11(lines));
            assert_eq!(e, ParseError::ContentLengthWithTransferEncoding, "{lines:?}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn transfer_encoding_in_http10_is_400() {
        let e = err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(e, ParseError::TransferEncodingInHttp10);
        assert_eq!(e.status(), 400);
        assert_eq!(
            err(b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseError::TransferEncodingInHttp10
        );
    }

    #[test]
    fn underscore_variants_are_just_other_headers() {
        // `Transfer_Encoding` is not `Transfer-Encoding`; no framing from it. (Whoever builds
        // CGI-style names must not fold `_` into `-`.)
        let h = ok(&post11("Transfer_Encoding: chunked\r\n"));
        assert_eq!(h.framing, Framing::None);
    }

    #[test]
    fn get_with_a_body_is_framed_like_any_request() {
        // CL.0 defence: the body is delimited, so the caller can drain it instead of parsing
        // it as the next request.
        let h = ok(&get11("Content-Length: 30\r\n"));
        assert_eq!(h.framing, Framing::Length(30));
    }

    // --- Connection ----------------------------------------------------------------------

    #[test]
    fn keep_alive_rules() {
        assert!(ok(&get11("")).keep_alive);
        assert!(!ok(&get11("Connection: close\r\n")).keep_alive);
        assert!(!ok(&get11("Connection: CLOSE\r\n")).keep_alive);
        assert!(!ok(&get11("Connection: upgrade, Close\r\n")).keep_alive);
        assert!(!ok(&get11("Connection: keep-alive\r\nConnection: close\r\n")).keep_alive);
        assert!(ok(&get11("Connection: keep-alive\r\n")).keep_alive);
        assert!(ok(&get11("Connection: closed\r\n")).keep_alive);

        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
    }

    // --- Expect ----------------------------------------------------------------------------

    #[test]
    fn expect_100_continue() {
        assert!(ok(&post11("Content-Length: 5\r\nExpect: 100-continue\r\n")).expect_continue);
        assert!(ok(&post11("Transfer-Encoding: chunked\r\nExpect: 100-Continue\r\n")).expect_continue);
        // No content: nothing to wait for.
        assert!(!ok(&post11("Expect: 100-continue\r\n")).expect_continue);
        assert!(!ok(&post11("Content-Length: 0\r\nExpect: 100-continue\r\n")).expect_continue);
        // HTTP/1.0: ignored (RFC 9110 §10.1.1).
        assert!(!ok(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn other_expectations_are_417() {
        for v in ["100-continue, foo", "foo", "100-continue=1", "200-ok"] {
            let e = err(&post11(&format!("Content-Length: 5\r\nExpect: {v}\r\n")));
            assert_eq!(e, ParseError::UnsupportedExpectation, "{v:?}");
            assert_eq!(e.status(), 417);
        }
    }

    #[test]
    fn framing_errors_win_over_expectation_errors() {
        assert_eq!(
            err(&post11(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\nExpect: foo\r\n"
            )),
            ParseError::ContentLengthWithTransferEncoding
        );
        let limits = Limits {
            max_body: 1,
            ..Limits::default()
        };
        let req = post11("Content-Length: 5\r\nExpect: 100-continue\r\n");
        assert_eq!(parse_with(&req, &limits).unwrap_err(), ParseError::ContentTooLarge);
    }

    // --- errors --------------------------------------------------------------------------

    #[test]
    fn every_error_has_a_status_and_reason() {
        use ParseError::*;
        let all = ParseError::ALL;
        assert_eq!(all.len(), 28);
        assert_eq!((all[0], all[all.len() - 1]), (InvalidMethod, UnsupportedVersion));
        let reasons: std::collections::HashSet<_> = all.iter().map(ParseError::reason).collect();
        assert_eq!(reasons.len(), all.len(), "two variants share a reason");
        for &e in all {
            assert!([400, 413, 414, 417, 431, 501, 505].contains(&e.status()), "{e:?}");
            assert!(!e.reason().is_empty());
            assert!(e.to_string().contains(e.reason()));
        }
        assert_eq!(
            ChunkedNotFinal.to_string(),
            "chunked is not the final transfer coding (400)"
        );
    }

    #[test]
    fn binary_garbage_is_400() {
        assert_eq!(err(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").status(), 400);
        assert_eq!(err(b"\x00\x00\x00\x00").status(), 400);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Mutate valid requests with the bytes smuggling attacks are made of; whatever comes
        /// out must not panic, and a head that parses complete must have been `Partial` (never
        /// an error, never complete) for every shorter prefix, so the answer cannot depend on
        /// how the bytes were split into reads.
        #[test]
        fn mutated_requests_parse_consistently_across_reads(
            req in mutated(
                &[
                    b"GET /a?b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    b"POST / HTTP/1.1\r\nHost: h:80\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
                    b"POST /x HTTP/1.1\r\nHost: [::1]\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"GET http://h/p HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                ],
                b"\r\n\0\t :;,=?#/\x0b\x7f\x80\xffaZ09-_.\"\\",
            )
        ) {
            let limits = Limits::default();
            if let Ok(Some(full)) = parse_with(&req, &limits) {
                prop_assert!(full.head_len <= req.len());
                for n in 0..full.head_len {
                    prop_assert_eq!(parse_with(&req[..n], &limits), Ok(None), "{}", req[..n].escape_ascii());
                }
            }
        }

        /// Bytes of a request in any order: no panic, and a head that parses complete lies
        /// within them.
        #[test]
        fn random_bytes_never_panic(
            buf in prop::collection::vec(
                prop::sample::select(&b"GET / HTTP/1.1\r\nHost: h:Content-Length 0\x00\xff"[..]),
                0..80,
            )
        ) {
            if let Ok(Some(head)) = parse_with(&buf, &Limits::default()) {
                prop_assert!(head.head_len <= buf.len());
            }
        }
    }

    #[test]
    fn whitespace_only_line_is_400() {
        assert_eq!(err(b"   \r\n\r\n").status(), 400);
        assert_eq!(err(b"\t\r\n").status(), 400);
    }

    /// The first answer that is not `Partial` when `buf` arrives one byte per read, as a slow client
    /// sends it (`Ok(None)` if the head never completes).
    fn parse_byte_by_byte(buf: &[u8], limits: &Limits) -> Result<Option<Head>, ParseError> {
        for end in 1..buf.len() {
            if let answer @ (Ok(Some(_)) | Err(_)) = parse_with(&buf[..end], limits) {
                return answer;
            }
        }
        parse_with(buf, limits)
    }

    // Found by fuzzing (fuzz/fuzz_targets/request_head.rs): a request line over the limit with a
    // bad byte after the limit got 414 when read slowly but 400 when read at once.
    #[test]
    fn an_overlong_request_line_gets_the_same_status_however_it_is_read() {
        let limits = Limits {
            max_request_line: 40,
            ..Limits::default()
        };
        let mut raw = b"GET /".to_vec();
        raw.extend_from_slice(&[b'a'; 50]);
        raw.extend_from_slice(b"\x01 HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(parse_byte_by_byte(&raw, &limits), Err(ParseError::RequestLineTooLong));
        assert_eq!(parse_with(&raw, &limits), Err(ParseError::RequestLineTooLong));
        // A bad byte before the limit is the first problem either way.
        raw[6] = 0x01;
        assert_eq!(parse_byte_by_byte(&raw, &limits).map_err(|e| e.status()), Err(400));
        assert_eq!(parse_with(&raw, &limits).map_err(|e| e.status()), Err(400));
        // A version that could still be well-formed when the limit is crossed does not hold the
        // answer back: the line is too long whatever follows.
        let raw = b"GET /aaaaaaa HTTP/2.0\r\nHost: t\r\n\r\n";
        let limits = Limits {
            max_request_line: 18,
            ..Limits::default()
        };
        assert_eq!(parse_byte_by_byte(raw, &limits), Err(ParseError::RequestLineTooLong));
        assert_eq!(parse_with(raw, &limits), Err(ParseError::RequestLineTooLong));
    }

    // Found by fuzzing: a method over the length limit got 400 when read slowly (the method check
    // fires at its 33rd byte) but 505 from an unsupported version further on when read at once.
    #[test]
    fn an_overlong_method_gets_the_same_status_however_it_is_read() {
        let limits = Limits::default();
        let mut raw = b"GE".to_vec();
        raw.extend_from_slice(&[b'm'; MAX_METHOD_BYTES]);
        raw.extend_from_slice(b"T /x HTTP/2.1\r\nHost: t\r\n\r\n");
        assert_eq!(parse_byte_by_byte(&raw, &limits), Err(ParseError::MethodTooLong));
        assert_eq!(parse_with(&raw, &limits), Err(ParseError::MethodTooLong));
    }

    // Found by fuzzing: a bare LF among the empty lines before the request line got 400 when read
    // slowly but 505 (from the version further on) when read at once.
    #[test]
    fn a_bare_lf_gets_the_same_status_however_the_head_is_read() {
        let limits = Limits::default();
        for raw in [
            &b"\r\n\nGET / HTTP/0.1\r\nHost: h\r\n\r\n"[..],
            b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\nC\x01: 3\r\n\r\n",
        ] {
            assert_eq!(parse_byte_by_byte(raw, &limits), Err(ParseError::InvalidLineEnding));
            assert_eq!(
                parse_with(raw, &limits),
                Err(ParseError::InvalidLineEnding),
                "{}",
                raw.escape_ascii()
            );
        }
    }
}
