//! Responses: the status line and header block, the framing of the body (`Content-Length`,
//! chunked, or close-delimited, RFC 9112 §6), chunk framing, and the short canned responses
//! for errors the gateway answers itself.
//!
//! Everything is appended to a caller-owned, reused `Vec<u8>`; nothing here allocates on its
//! own, writes to a socket, or decides *when* a response is sent. This file owns the framing
//! headers: `Content-Length`, `Transfer-Encoding`, `Connection` and `Keep-Alive` coming from
//! the app are never copied (the app's `Content-Length` value reaches the wire through
//! [`BodyKind::Length`]), so a response can never carry two framings.
//!
//! It trusts its inputs to be valid field syntax (no CR, LF or NUL in names, values or the
//! status): validating what the app passed to `start_response` is the host layer's job.

use super::Version;

/// The interim response sent to a client that asked for `Expect: 100-continue`, just before
/// reading its body.
pub(crate) const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The last chunk with an empty trailer section: the end of a chunked body.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The CRLF that follows the data of every chunk (for callers that write the data itself
/// with a vectored write after [`write_chunk_size_line`]).
pub(crate) const CHUNK_END: &[u8] = b"\r\n";

/// How a response body is delimited on the wire, i.e. which framing header [`write_head`]
/// writes. Choose it with [`framing_for`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `Content-Length: n` — the app declared the length (or the whole body is known).
    Length(u64),
    /// `Transfer-Encoding: chunked` — unknown length, HTTP/1.1 client.
    Chunked,
    /// No framing header; the body ends when the connection closes — unknown length,
    /// HTTP/1.0 client. Forces `Connection: close`.
    CloseDelimited,
    /// `Content-Length: 0` — the body is known to be empty.
    Empty,
    /// No body and no framing header: 1xx, 204 and 304 responses, and `HEAD` responses whose
    /// length is not known.
    None,
}

/// A response head to serialise with [`write_head`].
///
/// `headers` is any cloneable iterator of `(name, value)` pairs, so the app's headers can be
/// written straight from wherever they are stored, without collecting them:
///
/// ```
/// use nsgi_gateway::{write_head, BodyKind, ResponseHead, Version};
/// let app_headers: &[(&[u8], &[u8])] = &[(b"Content-Type", b"text/plain")];
/// let head = ResponseHead {
///     version: Version::Http11,
///     status: b"200 OK",
///     headers: app_headers.iter().copied(),
///     body: BodyKind::Length(5),
///     keep_alive: true,
///     is_head: false,
///     relayed: false,
/// };
/// let mut out = Vec::new();
/// write_head(&mut out, &head, b"Sun, 06 Nov 1994 08:49:37 GMT", b"nsgi");
/// assert_eq!(
///     out,
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
///       Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: nsgi\r\nContent-Length: 5\r\n\r\n"
/// );
/// ```
#[derive(Clone, Debug)]
pub struct ResponseHead<'a, H> {
    /// The version of the *request*. The status line always says `HTTP/1.1` (RFC 9110 §6.2);
    /// the request version only decides whether a kept-alive connection needs an explicit
    /// `Connection: keep-alive` (HTTP/1.0).
    pub version: Version,
    /// The status as the app gave it, e.g. `b"200 OK"` (validated by the host layer).
    pub status: &'a [u8],
    /// The app's headers, in order.
    pub headers: H,
    /// The framing to announce.
    pub body: BodyKind,
    /// Keep the connection open after this response? Ignored (false) for
    /// [`BodyKind::CloseDelimited`].
    pub keep_alive: bool,
    /// The response answers a `HEAD` request: no body follows it, so only a known length
    /// ([`BodyKind::Length`]) is announced; the other kinds write no framing header (an
    /// `Empty` body says nothing about the `GET` body, and a `HEAD` response never needs to
    /// close the connection to end its body).
    pub is_head: bool,
    /// The response goes back to a gateway front that relays it (the uwsgi protocol): no
    /// `Connection` header, since the front's connection closes after every response anyway
    /// and a front may pass such a header on to its client (Apache's `mod_proxy_uwsgi` then
    /// closes the client's kept-alive connection).
    pub relayed: bool,
}

/// Choose the framing of a response body (RFC 9112 §6.1-6.3, RFC 9110 §9.3.2, §15).
///
/// - 1xx, 204, 304: [`BodyKind::None`], whatever the app said.
/// - `HEAD`: the app's `Content-Length` is announced if it gave one (the length a `GET` would
///   have), otherwise nothing: an empty `HEAD` body says nothing about the `GET` body.
/// - The app gave `Content-Length`: [`BodyKind::Length`] with its value.
/// - The body is known to be empty (it ended before any chunk): [`BodyKind::Empty`].
/// - Otherwise chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0 ones.
///
/// ```
/// use nsgi_gateway::{framing_for, BodyKind, Version};
/// assert_eq!(framing_for(Version::Http11, false, 200, None, false), BodyKind::Chunked);
/// assert_eq!(framing_for(Version::Http10, false, 200, None, false), BodyKind::CloseDelimited);
/// assert_eq!(framing_for(Version::Http11, false, 204, Some(0), false), BodyKind::None);
/// ```
pub fn framing_for(
    version: Version,
    is_head: bool,
    status_code: u16,
    app_content_length: Option<u64>,
    body_known_empty: bool,
) -> BodyKind {
    if nsgi::host::validate::status_has_no_body(status_code) {
        return BodyKind::None;
    }
    match (app_content_length, is_head) {
        (Some(n), _) => BodyKind::Length(n),
        (None, true) => BodyKind::None,
        (None, false) if body_known_empty => BodyKind::Empty,
        (None, false) => match version {
            Version::Http11 => BodyKind::Chunked,
            Version::Http10 => BodyKind::CloseDelimited,
        },
    }
}

/// Append a response head to `out`: the status line (always `HTTP/1.1`), the app's headers in
/// order (minus the framing headers this file owns), `Date` and `Server` unless the app set
/// them (`Server` is left out when `server` is empty), the framing header chosen by
/// `head.body`, `Connection: close` when the connection will not be kept alive (or
/// `Connection: keep-alive` for an HTTP/1.0 client that keeps it), and the empty line.
#[inline(always)] // one copy per call site: the hot one keeps its constants (measured with bench/callgrind.sh)
pub fn write_head<'a, H>(out: &mut Vec<u8>, head: &ResponseHead<'a, H>, date: &[u8], server: &[u8])
where
    H: Clone + IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status);
    out.extend_from_slice(b"\r\n");

    let (mut has_date, mut has_server) = (false, false);
    for (name, value) in head.headers.clone() {
        match classify(name) {
            AppHeader::OwnedByEncoder => continue,
            AppHeader::Date => has_date = true,
            AppHeader::Server => has_server = true,
            AppHeader::Other => {}
        }
        write_header(out, name, value);
    }
    if !has_date {
        write_header(out, b"Date", date);
    }
    if !has_server && !server.is_empty() {
        write_header(out, b"Server", server);
    }

    let body = match head.body {
        BodyKind::Length(n) => BodyKind::Length(n),
        _ if head.is_head => BodyKind::None,
        other => other,
    };
    match body {
        BodyKind::Length(n) => write_content_length(out, n),
        BodyKind::Empty => write_content_length(out, 0),
        BodyKind::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyKind::CloseDelimited | BodyKind::None => {}
    }

    let keep_alive = head.keep_alive && body != BodyKind::CloseDelimited;
    if head.relayed {
        // The front frames the connection to its client itself.
    } else if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if head.version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Headers whose presence and value are decided here, never copied from the app.
/// What the encoder makes of a header the app set.
enum AppHeader {
    /// Framing and persistence (`Content-Length`, `Transfer-Encoding`, `Connection`,
    /// `Keep-Alive`) are the encoder's to write: the app's are dropped.
    OwnedByEncoder,
    /// The app's own `Date` replaces the gateway's.
    Date,
    /// The app's own `Server` replaces the gateway's.
    Server,
    /// Passed through as it is.
    Other,
}

fn classify(name: &[u8]) -> AppHeader {
    // The length narrows each name down to one or two candidates.
    let owned = match name.len() {
        4 if name.eq_ignore_ascii_case(b"date") => return AppHeader::Date,
        6 if name.eq_ignore_ascii_case(b"server") => return AppHeader::Server,
        10 => name.eq_ignore_ascii_case(b"connection") || name.eq_ignore_ascii_case(b"keep-alive"),
        14 => name.eq_ignore_ascii_case(b"content-length"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    };
    if owned {
        AppHeader::OwnedByEncoder
    } else {
        AppHeader::Other
    }
}

#[inline(always)] // three to four calls per response, each a few copies
fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn write_content_length(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Append one chunk of a chunked body: size in hex, CRLF, `data`, CRLF. Writes nothing for
/// empty `data` (an empty chunk would end the body).
///
/// ```
/// use nsgi_gateway::write_chunk;
/// let mut out = Vec::new();
/// write_chunk(&mut out, b"hello");
/// write_chunk(&mut out, b"");
/// assert_eq!(out, b"5\r\nhello\r\n");
/// ```
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_chunk_size_line(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(CHUNK_END);
}

/// Append only the size line of a chunk (`len` in lowercase hex, CRLF), for callers that send
/// the data and [`CHUNK_END`] with a vectored write instead of copying them. `len` must not
/// be 0: the last chunk is [`write_last_chunk`].
pub fn write_chunk_size_line(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 2 * size_of::<usize>()];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Append the last chunk and an empty trailer section (`0\r\n\r\n`).
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(LAST_CHUNK);
}

/// Append a complete error response the gateway sends on its own (bad request, limits,
/// app failure): `HTTP/1.1 <code> <reason>`, `Date`, `Server` (unless empty), a plain-text
/// body holding the reason phrase and a newline, and `Connection: close` — every such error
/// ends the connection. Codes outside 400-599 are written as 500. To a `HEAD` request
/// (`head_request`) the head is the same and the body is left out (RFC 9110 §9.3.2).
///
/// ```
/// use nsgi_gateway::write_error_response;
/// let mut out = Vec::new();
/// write_error_response(&mut out, 413, b"Sun, 06 Nov 1994 08:49:37 GMT", b"", false);
/// assert!(out.starts_with(b"HTTP/1.1 413 Content Too Large\r\n"));
/// assert!(out.ends_with(b"Connection: close\r\n\r\nContent Too Large\n"));
/// let mut to_head = Vec::new();
/// write_error_response(&mut to_head, 413, b"Sun, 06 Nov 1994 08:49:37 GMT", b"", true);
/// assert!(to_head.ends_with(b"Connection: close\r\n\r\n") && out.starts_with(&to_head));
/// ```
pub fn write_error_response(out: &mut Vec<u8>, status: u16, date: &[u8], server: &[u8], head_request: bool) {
    let code = if (400..=599).contains(&status) { status } else { 500 };
    let reason = reason_phrase(code).as_bytes();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    write_header(out, b"Date", date);
    if !server.is_empty() {
        write_header(out, b"Server", server);
    }
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    write_content_length(out, reason.len() as u64 + 1);
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    if !head_request {
        out.extend_from_slice(reason);
        out.push(b'\n');
    }
}

/// The status code at the start of an app's status, e.g. `200` from `b"200 OK"`: three
/// digits followed by a space or the end, within 100-599 (RFC 9110 §15). `None` otherwise.
///
/// ```
/// use nsgi_gateway::status_code;
/// assert_eq!(status_code(b"404 Not Found"), Some(404));
/// assert_eq!(status_code(b"204"), Some(204));
/// assert_eq!(status_code(b"200OK"), None);
/// ```
#[cfg(test)]
pub(crate) fn status_code(status: &[u8]) -> Option<u16> {
    match status {
        [a, b, c, rest @ ..]
            if a.is_ascii_digit()
                && b.is_ascii_digit()
                && c.is_ascii_digit()
                && matches!(rest.first(), None | Some(b' ')) =>
        {
            let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            (100..=599).contains(&code).then_some(code)
        }
        _ => None,
    }
}

/// The registered reason phrase for a status code (RFC 9110 §15 and the IANA HTTP Status Code
/// Registry), or `"Unknown Status"`.
pub(crate) const fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "Unknown Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    fn head(
        version: Version,
        status: &'static [u8],
        headers: &'static [(&'static [u8], &'static [u8])],
        body: BodyKind,
        keep_alive: bool,
    ) -> String {
        let h = ResponseHead {
            version,
            status,
            headers: headers.iter().copied(),
            body,
            keep_alive,
            is_head: false,
            relayed: false,
        };
        let mut out = Vec::new();
        write_head(&mut out, &h, DATE, b"nsgi/0.1");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn full_head_in_order() {
        let s = head(
            Version::Http11,
            b"200 OK",
            &[
                (b"Content-Type", b"text/html"),
                (b"Set-Cookie", b"a=1"),
                (b"Set-Cookie", b"b=2"),
            ],
            BodyKind::Length(12),
            true,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: nsgi/0.1\r\nContent-Length: 12\r\n\r\n"
        );
    }

    #[test]
    fn status_line_is_http11_even_for_http10_clients() {
        let s = head(Version::Http10, b"404 Not Found", &[], BodyKind::Length(0), false);
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"));
    }

    #[test]
    fn app_date_and_server_are_kept_not_duplicated() {
        let s = head(
            Version::Http11,
            b"200 OK",
            &[(b"server", b"app/2"), (b"DATE", b"Mon, 07 Nov 1994 00:00:00 GMT")],
            BodyKind::Empty,
            true,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nserver: app/2\r\nDATE: Mon, 07 Nov 1994 00:00:00 GMT\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn empty_server_string_means_no_server_header() {
        let h = ResponseHead {
            version: Version::Http11,
            status: b"200 OK",
            headers: std::iter::empty(),
            body: BodyKind::Empty,
            keep_alive: true,
            is_head: false,
            relayed: false,
        };
        let mut out = Vec::new();
        write_head(&mut out, &h, DATE, b"");
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn app_content_length_is_taken_once() {
        let s = head(
            Version::Http11,
            b"200 OK",
            &[(b"Content-Length", b"5"), (b"X-A", b"1")],
            BodyKind::Length(5),
            true,
        );
        assert_eq!(s.matches("Content-Length").count(), 1);
        assert!(s.contains("X-A: 1\r\nDate: "));
        assert!(s.ends_with("Content-Length: 5\r\n\r\n"));
    }

    #[test]
    fn app_framing_and_connection_headers_are_never_copied() {
        let s = head(
            Version::Http11,
            b"200 OK",
            &[
                (b"Transfer-Encoding", b"chunked"),
                (b"content-length", b"99"),
                (b"Connection", b"upgrade"),
                (b"Keep-Alive", b"timeout=5"),
            ],
            BodyKind::Chunked,
            true,
        );
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: nsgi/0.1\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_per_body_kind() {
        let s = head(Version::Http11, b"200 OK", &[], BodyKind::Chunked, true);
        assert!(s.ends_with("Transfer-Encoding: chunked\r\n\r\n"));
        assert!(!s.contains("Content-Length"));

        let s = head(Version::Http11, b"200 OK", &[], BodyKind::Empty, true);
        assert!(s.ends_with("Content-Length: 0\r\n\r\n"));

        let s = head(Version::Http11, b"204 No Content", &[], BodyKind::None, true);
        assert!(!s.contains("Content-Length") && !s.contains("Transfer-Encoding"));
        assert!(s.ends_with("Server: nsgi/0.1\r\n\r\n"));

        let s = head(Version::Http11, b"200 OK", &[], BodyKind::Length(u64::MAX), true);
        assert!(s.contains("Content-Length: 18446744073709551615\r\n"));
    }

    #[test]
    fn close_delimited_forces_connection_close() {
        let s = head(Version::Http10, b"200 OK", &[], BodyKind::CloseDelimited, true);
        assert!(s.ends_with("Server: nsgi/0.1\r\nConnection: close\r\n\r\n"));
        assert!(!s.contains("Content-Length") && !s.contains("Transfer-Encoding"));
    }

    #[test]
    fn connection_header_rules() {
        // 1.1 kept alive: nothing to say.
        let s = head(Version::Http11, b"200 OK", &[], BodyKind::Empty, true);
        assert!(!s.contains("Connection"));
        // 1.1 closing.
        let s = head(Version::Http11, b"200 OK", &[], BodyKind::Empty, false);
        assert!(s.ends_with("Content-Length: 0\r\nConnection: close\r\n\r\n"));
        // 1.0 kept alive: must say so.
        let s = head(Version::Http10, b"200 OK", &[], BodyKind::Length(3), true);
        assert!(s.ends_with("Content-Length: 3\r\nConnection: keep-alive\r\n\r\n"));
        // 1.0 closing.
        let s = head(Version::Http10, b"200 OK", &[], BodyKind::Length(3), false);
        assert!(s.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn head_is_appended_to_existing_output() {
        let mut out = b"previous response".to_vec();
        let h = ResponseHead {
            version: Version::Http11,
            status: b"200 OK",
            headers: std::iter::empty(),
            body: BodyKind::Empty,
            keep_alive: true,
            is_head: false,
            relayed: false,
        };
        write_head(&mut out, &h, DATE, b"s");
        assert!(out.starts_with(b"previous responseHTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn written_heads_parse_back() {
        let s = head(
            Version::Http10,
            b"201 Created",
            &[(b"Location", b"/x"), (b"X-Obs", b"caf\xc3\xa9")],
            BodyKind::Length(2),
            true,
        );
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        let n = resp.parse(s.as_bytes()).unwrap();
        assert_eq!(n, httparse::Status::Complete(s.len()));
        assert_eq!(resp.code, Some(201));
        assert_eq!(resp.version, Some(1));
        let names: Vec<_> = resp.headers.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            ["Location", "X-Obs", "Date", "Server", "Content-Length", "Connection"]
        );
    }

    #[test]
    fn head_responses_announce_only_a_known_length() {
        let write = |body: BodyKind, version: Version| {
            let h = ResponseHead {
                version,
                status: b"200 OK",
                headers: std::iter::empty(),
                body,
                keep_alive: true,
                is_head: true,
                relayed: false,
            };
            let mut out = Vec::new();
            write_head(&mut out, &h, DATE, b"s");
            String::from_utf8(out).unwrap()
        };
        assert!(write(BodyKind::Length(42), Version::Http11).ends_with("Content-Length: 42\r\n\r\n"));
        for body in [BodyKind::Empty, BodyKind::Chunked, BodyKind::None] {
            assert!(write(body, Version::Http11).ends_with("Server: s\r\n\r\n"), "{body:?}");
        }
        // No close-delimited body after a HEAD response, so no forced close either.
        assert!(write(BodyKind::CloseDelimited, Version::Http10).ends_with("Connection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn framing_for_rules() {
        use BodyKind::*;
        use Version::*;
        // No body, whatever the app says.
        for code in [100, 101, 103, 199, 204, 304] {
            for v in [Http10, Http11] {
                for head in [false, true] {
                    for cl in [Option::None, Some(0), Some(10)] {
                        for empty in [false, true] {
                            assert_eq!(framing_for(v, head, code, cl, empty), None, "{code}");
                        }
                    }
                }
            }
        }
        // The app's length wins, HEAD included.
        assert_eq!(framing_for(Http11, false, 200, Some(10), false), Length(10));
        assert_eq!(framing_for(Http10, false, 200, Some(10), true), Length(10));
        assert_eq!(framing_for(Http11, true, 200, Some(10), false), Length(10));
        assert_eq!(framing_for(Http11, false, 404, Some(0), false), Length(0));
        // HEAD without a length: announce nothing.
        assert_eq!(framing_for(Http11, true, 200, Option::None, false), None);
        assert_eq!(framing_for(Http11, true, 200, Option::None, true), None);
        assert_eq!(framing_for(Http10, true, 200, Option::None, false), None);
        // Known empty.
        assert_eq!(framing_for(Http11, false, 200, Option::None, true), Empty);
        assert_eq!(framing_for(Http10, false, 500, Option::None, true), Empty);
        // Unknown length.
        assert_eq!(framing_for(Http11, false, 200, Option::None, false), Chunked);
        assert_eq!(framing_for(Http10, false, 200, Option::None, false), CloseDelimited);
        assert_eq!(framing_for(Http11, false, 205, Option::None, false), Chunked);
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, b"hello");
        assert_eq!(out, b"5\r\nhello\r\n");

        out.clear();
        write_chunk(&mut out, b"");
        assert!(out.is_empty(), "an empty chunk would end the body");

        out.clear();
        write_chunk(&mut out, &[b'x'; 255]);
        assert!(out.starts_with(b"ff\r\nxxx"));
        assert!(out.ends_with(b"x\r\n"));
        assert_eq!(out.len(), 4 + 255 + 2);

        out.clear();
        write_chunk_size_line(&mut out, 4096);
        write_chunk_size_line(&mut out, 1);
        write_chunk_size_line(&mut out, 0xabcdef);
        write_chunk_size_line(&mut out, usize::MAX);
        let expected = format!("1000\r\n1\r\nabcdef\r\n{:x}\r\n", usize::MAX);
        assert_eq!(out, expected.as_bytes());

        out.clear();
        write_last_chunk(&mut out);
        assert_eq!(out, b"0\r\n\r\n");
        assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
        assert_eq!(CHUNK_END, b"\r\n");
    }

    #[test]
    fn written_chunks_decode_back() {
        use crate::http::Limits;
        use crate::http::decode::ChunkedDecoder;
        let mut wire = Vec::new();
        for piece in [&b"a"[..], &[7u8; 300], b"", b"\r\n0\r\n\r\n"] {
            write_chunk(&mut wire, piece);
        }
        write_last_chunk(&mut wire);
        let mut out = Vec::new();
        let p = ChunkedDecoder::new()
            .decode(&wire, &mut out, &Limits::default())
            .unwrap();
        assert!(p.done);
        assert_eq!(p.consumed, wire.len());
        let mut expected = b"a".to_vec();
        expected.extend_from_slice(&[7u8; 300]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn error_response_bytes() {
        let mut out = Vec::new();
        write_error_response(&mut out, 400, DATE, b"nsgi", false);
        assert_eq!(
            out,
            b"HTTP/1.1 400 Bad Request\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: nsgi\r\n\
              Content-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n\
              Connection: close\r\n\r\nBad Request\n"
        );
    }

    #[test]
    fn error_responses_for_every_gateway_status() {
        for (code, reason) in [
            (400, "Bad Request"),
            (408, "Request Timeout"),
            (413, "Content Too Large"),
            (414, "URI Too Long"),
            (417, "Expectation Failed"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
            (504, "Gateway Timeout"),
            (505, "HTTP Version Not Supported"),
            (499, "Unknown Status"),
        ] {
            let mut out = Vec::new();
            write_error_response(&mut out, code, DATE, b"", false);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(n) = resp.parse(&out).unwrap() else {
                panic!("incomplete error response for {code}");
            };
            assert_eq!(resp.code, Some(code));
            assert_eq!(resp.reason, Some(reason));
            let body = &out[n..];
            assert_eq!(body, format!("{reason}\n").as_bytes());
            let cl = resp.headers.iter().find(|h| h.name == "Content-Length").unwrap();
            assert_eq!(cl.value, body.len().to_string().as_bytes());
            assert!(
                resp.headers
                    .iter()
                    .any(|h| h.name == "Connection" && h.value == b"close")
            );
            assert!(!resp.headers.iter().any(|h| h.name == "Server"));
        }
    }

    #[test]
    fn error_response_with_a_non_error_code_is_500() {
        for code in [0, 99, 200, 304, 600, u16::MAX] {
            let mut out = Vec::new();
            write_error_response(&mut out, code, DATE, b"", false);
            assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"), "{code}");
        }
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_code(b"200 OK"), Some(200));
        assert_eq!(status_code(b"200"), Some(200));
        assert_eq!(status_code(b"599 Whatever"), Some(599));
        assert_eq!(status_code(b"100 Continue"), Some(100));
        assert_eq!(status_code(b"404 "), Some(404));
        for bad in [
            &b""[..],
            b"20",
            b"2000",
            b"2000 OK",
            b"200OK",
            b"20 OK",
            b" 200 OK",
            b"099 Low",
            b"600 High",
            b"abc",
            b"2x0 OK",
            b"200\tOK",
            b"-20 OK",
        ] {
            assert_eq!(status_code(bad), None, "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn reason_phrases() {
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(404), "Not Found");
        assert_eq!(reason_phrase(413), "Content Too Large");
        assert_eq!(reason_phrase(422), "Unprocessable Content");
        assert_eq!(reason_phrase(418), "Unknown Status");
        assert_eq!(reason_phrase(0), "Unknown Status");
    }

    #[test]
    fn continue_100_is_a_complete_interim_response() {
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
        let mut headers = [httparse::EMPTY_HEADER; 1];
        let mut resp = httparse::Response::new(&mut headers);
        assert_eq!(
            resp.parse(CONTINUE_100),
            Ok(httparse::Status::Complete(CONTINUE_100.len()))
        );
        assert_eq!(resp.code, Some(100));
    }
}
