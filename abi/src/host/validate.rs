//! Validation of what an app hands to `start_response`: the status line, the header list, and
//! the size of the whole head.
//!
//! Pure functions, shared by the host SDK (which refuses bad input with `NSGI_E_INVAL`, and a head
//! past its [`ResponseHeadLimits`] with `NSGI_E_TOO_LARGE`) and by the conformance checker (which
//! reports it). The rules are those of PEP 3333 ("Status" must be `NNN reason`, no hop-by-hop
//! headers), RFC 9110 §5.1 (field names are tokens) and §5.5 (field values carry no CR, LF or NUL).

use super::swar;
use core::fmt;

/// Why a status line or a header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The status is not three digits, a space and a reason phrase.
    StatusFormat,
    /// The status code is outside 100..=599 (RFC 9110 §15).
    StatusCodeRange(u16),
    /// The reason phrase holds a control character.
    StatusReasonControl,
    /// A header name is empty.
    EmptyHeaderName,
    /// A header name holds a byte that is not a token character.
    HeaderNameNotToken(u8),
    /// A header value holds CR, LF, NUL or another control character.
    HeaderValueControl(u8),
    /// A header value starts or ends with whitespace.
    HeaderValueWhitespace,
    /// A hop-by-hop header, which only the server may set (PEP 3333 §Other HTTP Features).
    HopByHop,
    /// A `Status` header: CGI's way to set the status, forbidden in WSGI.
    StatusHeader,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::StatusFormat => f.write_str("status must be three digits, a space and a reason phrase"),
            Problem::StatusCodeRange(code) => write!(f, "status code {code} is outside 100..=599"),
            Problem::StatusReasonControl => f.write_str("reason phrase contains a control character"),
            Problem::EmptyHeaderName => f.write_str("header name is empty"),
            Problem::HeaderNameNotToken(byte) => {
                write!(f, "header name contains byte 0x{byte:02x}, not a token character")
            }
            Problem::HeaderValueControl(byte) => write!(f, "header value contains control byte 0x{byte:02x}"),
            Problem::HeaderValueWhitespace => f.write_str("header value has leading or trailing whitespace"),
            Problem::HopByHop => f.write_str("hop-by-hop header is reserved to the server"),
            Problem::StatusHeader => f.write_str("a `Status` header is not allowed; pass the status to start_response"),
        }
    }
}

/// Headers that describe one connection, not the message; only the server sets them
/// (RFC 9110 §7.6.1; PEP 3333 forbids apps to send them).
pub const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// True for the statuses whose responses never carry a body (RFC 9110 §6.4.1): 1xx, 204 and
/// 304, whatever their Content-Length says. The one rule for the host SDK, the gateway and the
/// conformance checker.
#[inline]
pub const fn status_has_no_body(code: u16) -> bool {
    matches!(code, 100..=199 | 204 | 304)
}

/// True for the RFC 9110 §5.6.2 `tchar` set.
pub const fn is_token_byte(byte: u8) -> bool {
    TOKEN[byte as usize]
}

/// [`is_token_byte`] for every byte value: one load per byte instead of a chain of compares.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = matches!(byte as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        byte += 1;
    }
    table
};

/// True for a byte a field value or reason phrase must not hold: a control character other than
/// horizontal tab (RFC 9110 §5.5).
const fn is_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

/// True when every byte of `name` is a token character. No early exit: a name is checked whole,
/// in a loop the compiler can unroll (the caller looks for the bad byte only when it fails).
fn is_token(name: &[u8]) -> bool {
    name.iter().fold(true, |ok, &b| ok & TOKEN[b as usize])
}

/// False when `value` certainly holds no [`is_control`] byte; true when it may (a tab also
/// answers true, and the caller then scans byte by byte). Eight bytes at a time; the last word
/// overlaps the one before it rather than handling a tail.
fn may_hold_control(value: &[u8]) -> bool {
    let word_suspect = |word: u64| swar::lt_bytes(word, 0x20) | swar::eq_bytes(word, 0x7f) != 0;
    if value.len() < 8 {
        return value.iter().any(|&b| b < 0x20 || b == 0x7f);
    }
    let chunks = value.chunks_exact(8);
    let last = swar::load(&value[value.len() - 8..]);
    chunks.fold(word_suspect(last), |suspect, chunk| {
        suspect | word_suspect(swar::load(chunk))
    })
}

/// [`HOP_BY_HOP`] (ASCII case-insensitive), looked up by length first so that most names are
/// settled without comparing a byte.
fn is_hop_by_hop(name: &[u8]) -> bool {
    let is = |hop: &str| swar::eq_ignore_ascii_case(name, hop.as_bytes());
    match name.len() {
        2 => is("te"),
        7 => is("trailer") || is("upgrade"),
        8 => is("trailers"),
        10 => is("connection") || is("keep-alive"),
        16 => is("proxy-connection"),
        17 => is("transfer-encoding"),
        18 => is("proxy-authenticate"),
        19 => is("proxy-authorization"),
        _ => false,
    }
}

/// Checks a status line such as `200 OK` and returns its code.
///
/// ```
/// use nsgi::host::validate::{check_status, Problem};
/// assert_eq!(check_status(b"404 Not Found"), Ok(404));
/// assert_eq!(check_status(b"200"), Err(Problem::StatusFormat));
/// ```
pub fn check_status(status: &[u8]) -> Result<u16, Problem> {
    if status.len() < 5 || status[3] != b' ' || !status[..3].iter().all(u8::is_ascii_digit) {
        return Err(Problem::StatusFormat);
    }
    let code = u16::from(status[0] - b'0') * 100 + u16::from(status[1] - b'0') * 10 + u16::from(status[2] - b'0');
    if !(100..=599).contains(&code) {
        return Err(Problem::StatusCodeRange(code));
    }
    let reason = &status[4..];
    if reason.iter().any(|&b| is_control(b)) {
        return Err(Problem::StatusReasonControl);
    }
    Ok(code)
}

/// Checks one response header.
///
/// ```
/// use nsgi::host::validate::{check_header, Problem};
/// assert!(check_header(b"Content-Type", b"text/plain").is_ok());
/// assert_eq!(check_header(b"Connection", b"close"), Err(Problem::HopByHop));
/// assert_eq!(check_header(b"X-A", b"1\r\nX-B: 2"), Err(Problem::HeaderValueControl(b'\r')));
/// ```
pub fn check_header(name: &[u8], value: &[u8]) -> Result<(), Problem> {
    if name.is_empty() {
        return Err(Problem::EmptyHeaderName);
    }
    if !is_token(name)
        && let Some(&bad) = name.iter().find(|&&b| !is_token_byte(b))
    {
        return Err(Problem::HeaderNameNotToken(bad));
    }
    if may_hold_control(value)
        && let Some(&bad) = value.iter().find(|&&b| is_control(b))
    {
        return Err(Problem::HeaderValueControl(bad));
    }
    if value.first().is_some_and(|b| *b == b' ' || *b == b'\t')
        || value.last().is_some_and(|b| *b == b' ' || *b == b'\t')
    {
        return Err(Problem::HeaderValueWhitespace);
    }
    if name.len() == 6 && name.eq_ignore_ascii_case(b"status") {
        return Err(Problem::StatusHeader);
    }
    if is_hop_by_hop(name) {
        return Err(Problem::HopByHop);
    }
    Ok(())
}

/// The default most headers in one response head: of the order of the request limit (100), with
/// room for apps that send many `Set-Cookie` or `Link` headers.
pub const DEFAULT_MAX_RESPONSE_HEADERS: usize = 256;

/// The default largest response head, in bytes (as [`head_size`] counts them): the request head
/// limit of the gateway.
pub const DEFAULT_MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;

/// How large a response head a host accepts from `start_response`. Without a limit an app could
/// make the host copy, and a client receive, a head of any size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHeadLimits {
    /// Most header fields.
    pub max_headers: usize,
    /// Largest head in bytes, counted by [`head_size`].
    pub max_bytes: usize,
}

impl Default for ResponseHeadLimits {
    fn default() -> Self {
        ResponseHeadLimits {
            max_headers: DEFAULT_MAX_RESPONSE_HEADERS,
            max_bytes: DEFAULT_MAX_RESPONSE_HEAD_BYTES,
        }
    }
}

/// A response head past its [`ResponseHeadLimits`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadTooLarge {
    /// More header fields than allowed.
    Headers {
        /// The count the app passed.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// More bytes than allowed.
    Bytes {
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for HeadTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeadTooLarge::Headers { count, limit } => write!(
                f,
                "{count} headers are more than the response head limit of {limit} headers"
            ),
            HeadTooLarge::Bytes { limit } => {
                write!(f, "the head is larger than the response head limit of {limit} bytes")
            }
        }
    }
}

/// The size of a response head as it goes on the wire, without the framing headers the server
/// adds: the status line (`HTTP/1.1 ` + status + CRLF) and `name: value` + CRLF per header.
pub fn head_size<'h>(status: &[u8], headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) -> usize {
    headers
        .into_iter()
        .fold(status.len().saturating_add(11), |size, (name, value)| {
            size.saturating_add(name.len())
                .saturating_add(value.len())
                .saturating_add(4)
        })
}

/// Checks a head against `limits`, in time bounded by the limits (the count first, then the bytes
/// until they pass the limit), whatever the app passed.
///
/// ```
/// use nsgi::host::validate::{check_head_size, HeadTooLarge, ResponseHeadLimits};
/// let limits = ResponseHeadLimits { max_headers: 2, max_bytes: 40 };
/// let small = [(&b"A"[..], &b"1"[..])];
/// assert_eq!(check_head_size(b"200 OK", small.len(), small.iter().copied(), &limits), Ok(()));
/// let many = [(&b"A"[..], &b"1"[..]); 3];
/// assert_eq!(
///     check_head_size(b"200 OK", many.len(), many.iter().copied(), &limits),
///     Err(HeadTooLarge::Headers { count: 3, limit: 2 })
/// );
/// let long = [(&b"A"[..], &[b'x'; 30][..])];
/// assert_eq!(
///     check_head_size(b"200 OK", long.len(), long.iter().copied(), &limits),
///     Err(HeadTooLarge::Bytes { limit: 40 })
/// );
/// ```
pub fn check_head_size<'h>(
    status: &[u8],
    count: usize,
    headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    limits: &ResponseHeadLimits,
) -> Result<(), HeadTooLarge> {
    if count > limits.max_headers {
        return Err(HeadTooLarge::Headers {
            count,
            limit: limits.max_headers,
        });
    }
    let mut size = head_size(status, []);
    for (name, value) in headers.into_iter().take(count) {
        size = size
            .saturating_add(name.len())
            .saturating_add(value.len())
            .saturating_add(4);
        if size > limits.max_bytes {
            break;
        }
    }
    if size > limits.max_bytes {
        return Err(HeadTooLarge::Bytes {
            limit: limits.max_bytes,
        });
    }
    Ok(())
}

/// Why a `Content-Length` number was refused by [`parse_decimal_length`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthError {
    /// Not `1*DIGIT`: empty, a sign, whitespace, a radix prefix, a separator, any other byte.
    NotDecimal,
    /// Digits only, but the number does not fit in 64 bits.
    Overflow,
}

/// One `Content-Length` number (RFC 9110 §8.6): `1*DIGIT` as a `u64`, no sign, no whitespace,
/// no radix prefix, no separators. The one digits rule for every Content-Length: the gateway's
/// request parser, the host's check of a response head, and the conformance checker use it.
///
/// ```
/// use nsgi::host::validate::{LengthError, parse_decimal_length};
/// assert_eq!(parse_decimal_length(b"42"), Ok(42));
/// assert_eq!(parse_decimal_length(b"+42"), Err(LengthError::NotDecimal));
/// assert_eq!(parse_decimal_length(b"18446744073709551616"), Err(LengthError::Overflow));
/// ```
pub fn parse_decimal_length(digits: &[u8]) -> Result<u64, LengthError> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(LengthError::NotDecimal);
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(LengthError::Overflow)
    })
}

/// Most digits of a response's `Content-Length` that [`parse_content_length`] accepts: every
/// accepted length is below 10^19, so `u64::MAX` (`NSGI_NO_LENGTH`) is never one.
pub const MAX_RESPONSE_LENGTH_DIGITS: usize = 19;

/// A `Content-Length` value an app gives in its response head: one number by
/// [`parse_decimal_length`], of at most [`MAX_RESPONSE_LENGTH_DIGITS`] digits.
pub fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.len() > MAX_RESPONSE_LENGTH_DIGITS {
        return None;
    }
    parse_decimal_length(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_statuses() {
        for code in [100, 101, 103, 199, 204, 304] {
            assert!(status_has_no_body(code), "{code}");
        }
        for code in [0, 99, 200, 203, 205, 303, 305, 404, 599] {
            assert!(!status_has_no_body(code), "{code}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(check_status(b"200 OK"), Ok(200));
        assert_eq!(check_status(b"599 x"), Ok(599));
        assert_eq!(check_status(b"099 x"), Err(Problem::StatusCodeRange(99)));
        assert_eq!(check_status(b"200OK"), Err(Problem::StatusFormat));
        assert_eq!(check_status(b"2000 OK"), Err(Problem::StatusFormat));
        assert_eq!(check_status(b"20x OK"), Err(Problem::StatusFormat));
        assert_eq!(check_status(b"200 "), Err(Problem::StatusFormat));
        assert_eq!(check_status(b"200 O\nK"), Err(Problem::StatusReasonControl));
    }

    #[test]
    fn headers() {
        assert!(check_header(b"X-Ok", b"").is_ok());
        assert!(check_header(b"X-Tab", b"a\tb").is_ok());
        assert_eq!(check_header(b"", b"v"), Err(Problem::EmptyHeaderName));
        assert_eq!(check_header(b"Bad Name", b"v"), Err(Problem::HeaderNameNotToken(b' ')));
        assert_eq!(check_header(b"Bad:Name", b"v"), Err(Problem::HeaderNameNotToken(b':')));
        assert_eq!(check_header(b"X", b"a\0b"), Err(Problem::HeaderValueControl(0)));
        assert_eq!(check_header(b"X", b"a\nb"), Err(Problem::HeaderValueControl(b'\n')));
        assert_eq!(check_header(b"X", b" a"), Err(Problem::HeaderValueWhitespace));
        assert_eq!(check_header(b"status", b"200 OK"), Err(Problem::StatusHeader));
        assert_eq!(check_header(b"Transfer-Encoding", b"chunked"), Err(Problem::HopByHop));
        assert_eq!(check_header(b"KEEP-ALIVE", b"1"), Err(Problem::HopByHop));
    }

    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(b"0"), Some(0));
        assert_eq!(parse_content_length(b"13"), Some(13));
        assert_eq!(parse_content_length(b"18446744073709551615"), None);
        assert_eq!(
            parse_content_length(b"1999999999999999999"),
            Some(1_999_999_999_999_999_999)
        );
        assert_eq!(parse_content_length(b"+1"), None);
        assert_eq!(parse_content_length(b" 1"), None);
        assert_eq!(parse_content_length(b""), None);
        assert_eq!(parse_content_length(b"00000000000000000013"), None);
    }

    #[test]
    fn decimal_lengths() {
        assert_eq!(parse_decimal_length(b"0"), Ok(0));
        assert_eq!(parse_decimal_length(b"007"), Ok(7));
        assert_eq!(parse_decimal_length(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_decimal_length(b"18446744073709551616"),
            Err(LengthError::Overflow)
        );
        assert_eq!(
            parse_decimal_length(b"99999999999999999999"),
            Err(LengthError::Overflow)
        );
        for refused in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"0x1",
            b"1,1",
            b"1_0",
            b"\xd9\xa1",
        ] {
            assert_eq!(
                parse_decimal_length(refused),
                Err(LengthError::NotDecimal),
                "{refused:?}"
            );
        }
    }

    /// The tchar predicate as it was written before the table.
    fn old_is_token_byte(byte: u8) -> bool {
        matches!(byte,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
    }

    /// The whole header check as it was written before the fast paths.
    fn old_check_header(name: &[u8], value: &[u8]) -> Result<(), Problem> {
        if name.is_empty() {
            return Err(Problem::EmptyHeaderName);
        }
        if let Some(&bad) = name.iter().find(|&&b| !old_is_token_byte(b)) {
            return Err(Problem::HeaderNameNotToken(bad));
        }
        if let Some(&bad) = value.iter().find(|&&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(Problem::HeaderValueControl(bad));
        }
        if value.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || value.last().is_some_and(|b| *b == b' ' || *b == b'\t')
        {
            return Err(Problem::HeaderValueWhitespace);
        }
        if name.eq_ignore_ascii_case(b"status") {
            return Err(Problem::StatusHeader);
        }
        if HOP_BY_HOP.iter().any(|hop| name.eq_ignore_ascii_case(hop.as_bytes())) {
            return Err(Problem::HopByHop);
        }
        Ok(())
    }

    #[test]
    fn token_table_matches_predicate() {
        for byte in 0..=255u8 {
            assert_eq!(is_token_byte(byte), old_is_token_byte(byte), "byte 0x{byte:02x}");
        }
    }

    #[test]
    fn check_header_matches_old_check_for_every_byte_everywhere() {
        // Every byte value at every position of names and values of 1..=20 bytes: short values
        // (byte loop), whole words, and words plus an overlapping last word.
        for len in 1..=20usize {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut text: Vec<u8> = (0..len).map(|i| b"Ab-9z.X"[i % 7]).collect();
                    text[at] = byte;
                    assert_eq!(
                        check_header(&text, b"v"),
                        old_check_header(&text, b"v"),
                        "name {text:?}"
                    );
                    assert_eq!(
                        check_header(b"X", &text),
                        old_check_header(b"X", &text),
                        "value {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn hop_by_hop_and_status_dispatch_matches_the_list() {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for hop in HOP_BY_HOP.iter().chain(&["status"]) {
            let hop = hop.as_bytes();
            names.push(hop.to_vec());
            names.push(hop.to_ascii_uppercase());
            // Same length, one byte off; one byte longer and shorter.
            for at in 0..hop.len() {
                let mut near = hop.to_vec();
                near[at] = b'x';
                names.push(near);
            }
            names.push([hop, b"s"].concat());
            names.push(hop[..hop.len() - 1].to_vec());
        }
        names.extend([&b"Content-Type"[..], b"Content-Length", b"X", b"Set-Cookie"].map(<[u8]>::to_vec));
        for name in &names {
            assert_eq!(check_header(name, b"v"), old_check_header(name, b"v"), "{name:?}");
        }
        for hop in HOP_BY_HOP {
            assert!(is_hop_by_hop(hop.as_bytes()), "{hop}");
        }
    }
}
