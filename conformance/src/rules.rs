//! The rules about what an app passes to `start_response`, as pure functions over bytes.
//!
//! The verdict on a status or a header is the host SDK's own (`nsgi::host::validate`), so this
//! crate never disagrees with what a host refuses; this module only sorts each refusal into its
//! check id, and adds the advisory HTTP rules the host does not enforce (Content-Type,
//! Content-Length on bodiless statuses, 304 headers, ETag, Location). It records nothing.

use crate::check::{C44, C45, C46, C50, C51, C52, C53, C54, C55, C56, C57, C58, C59, C60, C67, CheckId, Severity};
use nsgi::host::validate::{Problem, check_header, check_status, parse_content_length, status_has_no_body};

/// One broken rule: its check, severity and message.
pub type Breach = (CheckId, Severity, String);

/// Headers that describe a representation; a 304 carries none of them but Expires and
/// Content-Location (Werkzeug's `_entity_headers`; RFC 9110 §15.4.5). Content-Type is left to C56.
const ENTITY_HEADERS_NOT_ON_304: [&str; 7] = [
    "allow",
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-range",
    "last-modified",
];

/// Checks a status line; returns its code when the host would accept it, and every breach.
///
/// ```
/// use nsgi_conformance::rules::check_status_line;
/// assert_eq!(check_status_line(b"200 OK").0, Some(200));
/// assert_eq!(check_status_line(b"20 OK").1[0].0.as_str(), "C44");
/// assert_eq!(check_status_line(b"200").1[0].0.as_str(), "C45");
/// assert_eq!(check_status_line(b"200 OK\r\n").1[0].0.as_str(), "C46");
/// ```
pub fn check_status_line(status: &[u8]) -> (Option<u16>, Vec<Breach>) {
    let shown = show(status);
    match check_status(status) {
        Ok(code) => {
            let reason = &status[4..];
            let mut breaches = Vec::new();
            if reason.first().is_some_and(u8::is_ascii_whitespace) || reason.last().is_some_and(u8::is_ascii_whitespace)
            {
                breaches.push((
                    C45,
                    Severity::Warning,
                    format!("status {shown} has whitespace around its reason phrase"),
                ));
            }
            (Some(code), breaches)
        }
        Err(Problem::StatusCodeRange(code)) => (
            None,
            vec![(
                C44,
                Severity::Error,
                format!("status {shown}: code {code} is outside 100..=599"),
            )],
        ),
        Err(Problem::StatusReasonControl) => (
            None,
            vec![(
                C46,
                Severity::Error,
                format!("status {shown} contains a control character"),
            )],
        ),
        Err(_) => {
            let code_ok = status.len() >= 3
                && status[..3].iter().all(u8::is_ascii_digit)
                && status.get(3).is_none_or(|b| !b.is_ascii_digit());
            if !code_ok {
                (
                    None,
                    vec![(
                        C44,
                        Severity::Error,
                        format!("status {shown} does not start with a three-digit code"),
                    )],
                )
            } else if status.iter().any(|&b| b < 0x20 || b == 0x7f) {
                (
                    None,
                    vec![(
                        C46,
                        Severity::Error,
                        format!("status {shown} contains a control character"),
                    )],
                )
            } else {
                let message = format!("status {shown} is not a code, one space and a reason phrase");
                (None, vec![(C45, Severity::Error, message)])
            }
        }
    }
}

/// Checks one response header as `start_response` got it.
///
/// ```
/// use nsgi_conformance::rules::check_header_field;
/// assert!(check_header_field(b"Content-Type", b"text/plain").is_empty());
/// let ids: Vec<_> = check_header_field(b"Transfer-Encoding", b"chunked").iter().map(|b| b.0.as_str()).collect();
/// assert_eq!(ids, ["C53", "C54"]);
/// ```
pub fn check_header_field(name: &[u8], value: &[u8]) -> Vec<Breach> {
    let shown = show(name);
    let mut breaches = Vec::new();
    if let Err(problem) = check_header(name, value) {
        let check = match problem {
            Problem::EmptyHeaderName | Problem::HeaderNameNotToken(_) => C51,
            Problem::HeaderValueControl(_) | Problem::HeaderValueWhitespace => C52,
            Problem::HopByHop => C53,
            Problem::StatusHeader => C50,
            Problem::StatusFormat | Problem::StatusCodeRange(_) | Problem::StatusReasonControl => C45,
        };
        let detail = match problem {
            Problem::HeaderValueControl(b'\r' | b'\n') => {
                "header value contains CR or LF (a header injection)".to_owned()
            }
            other => other.to_string(),
        };
        breaches.push((check, Severity::Error, format!("header {shown}: {detail}")));
        if name.iter().any(|&b| b == b'\r' || b == b'\n') {
            let message = format!("header {shown}: header name contains CR or LF (a header injection)");
            breaches.push((C52, Severity::Error, message));
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            breaches.push((
                C54,
                Severity::Error,
                "the app set Transfer-Encoding: framing and transfer codings are the server's job".to_owned(),
            ));
        }
    }
    if name.eq_ignore_ascii_case(b"content-length") && parse_content_length(value).is_none() {
        breaches.push((
            C67,
            Severity::Error,
            format!("Content-Length {} is not a decimal number", show(value)),
        ));
    }
    breaches
}

/// The response as the app finally started it, with what its body produced.
#[derive(Clone, Debug, Default)]
pub struct ResponseFacts<'a> {
    /// The status code.
    pub code: u16,
    /// The headers, in order.
    pub headers: &'a [(Vec<u8>, Vec<u8>)],
    /// Body bytes the app produced (chunks and `write()`).
    pub produced: u64,
    /// The request was HEAD.
    pub head_request: bool,
}

impl ResponseFacts<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

/// The advisory HTTP rules about a complete response head (C55..C60).
pub fn check_response_headers(facts: &ResponseFacts<'_>) -> Vec<Breach> {
    let code = facts.code;
    let mut breaches = Vec::new();
    let content_type = facts.header("content-type");
    let declared = facts.header("content-length").and_then(parse_content_length);
    let has_content = facts.produced > 0 || declared.is_some_and(|n| n > 0);
    if status_has_no_body(code) {
        if content_type.is_some() {
            breaches.push((
                C56,
                Severity::Warning,
                format!("a {code} response carries a Content-Type"),
            ));
        }
    } else if content_type.is_none() && has_content {
        breaches.push((
            C55,
            Severity::Warning,
            format!("a {code} response with content has no Content-Type"),
        ));
    }
    if ((100..200).contains(&code) || code == 204) && facts.header("content-length").is_some() {
        breaches.push((
            C57,
            Severity::Warning,
            format!("a {code} response carries a Content-Length"),
        ));
    }
    if code == 304 {
        for (name, _) in facts.headers {
            if ENTITY_HEADERS_NOT_ON_304
                .iter()
                .any(|entity| name.eq_ignore_ascii_case(entity.as_bytes()))
            {
                breaches.push((C58, Severity::Warning, format!("a 304 response carries {}", show(name))));
            }
        }
    }
    if let Some(etag) = facts.header("etag")
        && !is_entity_tag(etag)
    {
        let message = format!("ETag {} is not a quoted entity tag (\"...\" or W/\"...\")", show(etag));
        breaches.push((C59, Severity::Warning, message));
    }
    if let Some(location) = facts.header("location")
        && !has_scheme(location)
    {
        breaches.push((
            C60,
            Severity::Warning,
            format!("Location {} is not an absolute URI", show(location)),
        ));
    }
    breaches
}

/// `"opaque"` or `W/"opaque"` (RFC 9110 §8.8.3).
fn is_entity_tag(value: &[u8]) -> bool {
    let tag = value.strip_prefix(b"W/").unwrap_or(value);
    tag.len() >= 2
        && tag[0] == b'"'
        && tag[tag.len() - 1] == b'"'
        && tag[1..tag.len() - 1]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
}

/// Starts with `scheme:` (RFC 3986 §3.1).
fn has_scheme(value: &[u8]) -> bool {
    let Some(colon) = value.iter().position(|&b| b == b':') else {
        return false;
    };
    let scheme = &value[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Bytes quoted for a message, with control and non-ASCII bytes escaped, cut when long.
pub fn show(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let mut out = String::from("\"");
    for &b in bytes.iter().take(MAX) {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > MAX {
        out.push('…');
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(breaches: &[Breach]) -> Vec<&'static str> {
        breaches.iter().map(|b| b.0.as_str()).collect()
    }

    #[test]
    fn statuses_sort_into_code_shape_and_control() {
        assert_eq!(check_status_line(b"404 Not Found"), (Some(404), vec![]));
        for bad_code in [&b"20 OK"[..], b"2000 OK", b"abc OK", b"099 Low", b"600 High", b"", b"2"] {
            assert_eq!(ids(&check_status_line(bad_code).1), ["C44"], "{}", show(bad_code));
        }
        for bad_shape in [&b"200"[..], b"200OK", b"200 ", b"200-OK"] {
            assert_eq!(ids(&check_status_line(bad_shape).1), ["C45"], "{}", show(bad_shape));
        }
        for control in [&b"200 OK\r\n"[..], b"200 O\0K", b"200\nOK"] {
            assert_eq!(ids(&check_status_line(control).1), ["C46"], "{}", show(control));
        }
        let (code, breaches) = check_status_line(b"200 OK ");
        assert_eq!((code, breaches[0].1), (Some(200), Severity::Warning));
    }

    #[test]
    fn headers_sort_into_their_checks() {
        assert_eq!(ids(&check_header_field(b"Status", b"200 OK")), ["C50"]);
        assert_eq!(ids(&check_header_field(b"Bad Name", b"x")), ["C51"]);
        assert_eq!(ids(&check_header_field(b"", b"x")), ["C51"]);
        assert_eq!(ids(&check_header_field(b"X-A", b"a\r\nSet-Cookie: x")), ["C52"]);
        assert_eq!(ids(&check_header_field(b"X-A\r\nSet-Cookie", b"x")), ["C51", "C52"]);
        assert_eq!(ids(&check_header_field(b"X-A", b" padded")), ["C52"]);
        assert_eq!(ids(&check_header_field(b"Connection", b"close")), ["C53"]);
        assert_eq!(ids(&check_header_field(b"Content-Length", b"12x")), ["C67"]);
        assert!(check_header_field(b"X-Tab", b"a\tb").is_empty());
    }

    #[test]
    fn response_heads() {
        let headers = |list: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            list.iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        let ok = headers(&[
            ("Content-Type", "text/plain"),
            ("ETag", "W/\"x\""),
            ("Location", "https://a/"),
        ]);
        assert!(
            check_response_headers(&ResponseFacts {
                code: 200,
                headers: &ok,
                produced: 3,
                head_request: false
            })
            .is_empty()
        );
        let none = headers(&[]);
        let facts = ResponseFacts {
            code: 200,
            headers: &none,
            produced: 3,
            head_request: false,
        };
        assert_eq!(ids(&check_response_headers(&facts)), ["C55"]);
        let facts = ResponseFacts {
            code: 200,
            headers: &none,
            produced: 0,
            head_request: false,
        };
        assert!(
            check_response_headers(&facts).is_empty(),
            "no content, no Content-Type needed"
        );
        let no_content = headers(&[("Content-Type", "text/plain"), ("Content-Length", "0")]);
        let facts = ResponseFacts {
            code: 204,
            headers: &no_content,
            produced: 0,
            head_request: false,
        };
        assert_eq!(ids(&check_response_headers(&facts)), ["C56", "C57"]);
        let not_modified = headers(&[("Last-Modified", "x"), ("Expires", "y")]);
        let facts = ResponseFacts {
            code: 304,
            headers: &not_modified,
            produced: 0,
            head_request: false,
        };
        assert_eq!(ids(&check_response_headers(&facts)), ["C58"]);
        let sloppy = headers(&[("Content-Type", "a/b"), ("ETag", "w/\"x\""), ("Location", "/login")]);
        let facts = ResponseFacts {
            code: 302,
            headers: &sloppy,
            produced: 0,
            head_request: false,
        };
        assert_eq!(ids(&check_response_headers(&facts)), ["C59", "C60"]);
    }
}
