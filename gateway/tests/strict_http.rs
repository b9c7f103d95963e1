//! Strict HTTP/1.1 conformance and request smuggling, end to end: a real `nsgi-gateway` serving
//! the echo sample, spoken to with raw bytes over loopback TCP.
//!
//! The cases follow the test matrix of `server-anchors.md` §3.2 (A–G) and RFC 9112 / RFC 9110.
//! Every table-driven case is sent on a fresh connection followed by a *sentinel* request
//! (`GET /echo` with `X-Sentinel: yes` and `Connection: close`), and everything the gateway
//! sends is read until it closes the connection. A refused request must be answered once, with
//! `Connection: close`, and the connection closed: the sentinel — standing for a request
//! smuggled after a mis-framed body — is never answered. An accepted request must be answered
//! and then the sentinel too, which proves the body was framed exactly (not one byte short or
//! long). Failures are collected over a whole table and reported together.
//!
//! Choices the gateway makes where the RFCs leave room, asserted here as its contract:
//! - bare LF line endings are refused everywhere (RFC 9112 §2.2 lets a recipient accept them;
//!   this gateway never does, in the head or in chunked framing alike);
//! - `Content-Length` and `Transfer-Encoding` together are refused (400 and close), never
//!   resolved by `Transfer-Encoding` (RFC 9112 §6.3 allows either);
//! - identical repeated `Content-Length` values (`1000, 1000`) are accepted (RFC 9110 §8.6);
//! - `identity` or any coding but a final `chunked` is 400 (RFC 9112 §6.3: MUST 400 when
//!   chunked is not final), while a coding we lack before a final `chunked` is 501 (§6.1);
//! - an empty `Host` is refused: origin-form `http` targets need an authority and RFC 9112 §3.3
//!   lets the server reject the request when it would be empty;
//! - an absolute-form target whose authority disagrees with `Host` is refused (400) rather than
//!   served for either host, so that nothing in front of the gateway can route on one host while
//!   the app sees the other;
//! - `HTTP/1.2` (a well-formed version this server does not implement) is 505, malformed
//!   versions are 400, and a request line without a version (HTTP/0.9) is 400.

use nsgi_testkit::{Gateway, read_response, sample_library};
use std::ffi::OsString;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The request sent after every case: answered only when the case was framed exactly and the
/// connection kept alive.
const SENTINEL: &[u8] = b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Sentinel: yes\r\nConnection: close\r\n\r\n";
/// A request that must never be answered when it hides inside a body.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";
/// How long a case waits for the gateway to close the connection. Every case ends with a close
/// (an error or the sentinel's `Connection: close`), so this is only reached on failure; it is
/// shorter than the default keep-alive (15 s) so a connection left open is noticed.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// The body of every chunked case that should be accepted.
const HELLO_CHUNKED: &str = "5\r\nhello\r\n0\r\n\r\n";
/// The bytes the smuggler suite wraps around header names and values (`server-anchors.md`
/// §3.2 A), plus NUL and NEL.
const WRAPPING_BYTES: &[u8] = &[
    0x00, 0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0x85, 0xa0, 0xff,
];

/// The concatenation of its arguments: strings, byte strings, arrays or vectors of bytes.
macro_rules! bytes {
    ($($part:expr),+ $(,)?) => {{
        let mut joined: Vec<u8> = Vec::new();
        $(joined.extend_from_slice(AsRef::<[u8]>::as_ref(&$part));)+
        joined
    }};
}

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

/// The echo sample in one worker process, with `extra` flags.
fn echo_gateway(extra: &[&str]) -> Gateway {
    let mut args: Vec<OsString> = vec![sample_library("echo").into_os_string(), "--workers".into(), "1".into()];
    args.extend(extra.iter().map(OsString::from));
    Gateway::start(gateway_binary(), args)
}

// ---------------------------------------------------------------------------------------------
// Reading whatever comes back

/// One response as read off the wire.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// The head, status line to the empty line.
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Everything one connection produced.
#[derive(Debug)]
struct Exchange {
    /// Interim (1xx) responses, in order.
    interim: Vec<Reply>,
    /// Final responses, in order.
    finals: Vec<Reply>,
    /// The gateway closed the connection (EOF or reset) before [`CLOSE_WAIT`] ran out.
    closed: bool,
    /// Bytes after the last complete response (none when the gateway speaks correctly).
    trailing: Vec<u8>,
}

impl Exchange {
    fn statuses(&self) -> Vec<u16> {
        self.finals.iter().map(|r| r.status).collect()
    }
}

/// Sends `raw` on a new connection and reads until the gateway closes it (or [`CLOSE_WAIT`]).
fn exchange(gateway: &Gateway, raw: &[u8]) -> Exchange {
    let mut stream = gateway.connect();
    // The gateway may refuse a request before all of it is sent; it then drains what follows
    // for a while, so the write normally succeeds, but a reset is no failure of the case.
    let _ = stream.write_all(raw);
    read_until_close(&mut stream, CLOSE_WAIT)
}

/// Reads from `stream` until EOF, a reset, or `wait` without EOF; then splits the bytes into
/// responses.
fn read_until_close(stream: &mut TcpStream, wait: Duration) -> Exchange {
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        stream.set_read_timeout(Some(left)).expect("set_read_timeout");
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break false,
            Err(_) => break true,
        }
    };
    let (interim, finals, trailing) = split_responses(&bytes);
    Exchange {
        interim,
        finals,
        closed,
        trailing,
    }
}

/// Splits a byte stream into responses framed by `Content-Length` or chunked coding (what the
/// gateway sends; none of these requests is HEAD). Returns the bytes that do not form one.
fn split_responses(mut bytes: &[u8]) -> (Vec<Reply>, Vec<Reply>, Vec<u8>) {
    let mut interim = Vec::new();
    let mut finals = Vec::new();
    loop {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            return (interim, finals, bytes.to_vec());
        };
        let head = String::from_utf8_lossy(&bytes[..end + 4]).into_owned();
        let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut reply = Reply {
            status,
            head,
            body: Vec::new(),
        };
        let rest = &bytes[end + 4..];
        if (100..200).contains(&status) {
            interim.push(reply);
            bytes = rest;
            continue;
        }
        let chunked = reply
            .header("Transfer-Encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let consumed = if chunked {
            match dechunk(rest) {
                Some((body, used)) => {
                    reply.body = body;
                    used
                }
                None => return (interim, finals, bytes.to_vec()),
            }
        } else if let Some(length) = reply.header("Content-Length").and_then(|v| v.parse::<usize>().ok()) {
            if rest.len() < length {
                return (interim, finals, bytes.to_vec());
            }
            reply.body = rest[..length].to_vec();
            length
        } else {
            reply.body = rest.to_vec();
            rest.len()
        };
        finals.push(reply);
        bytes = &rest[consumed..];
        if bytes.is_empty() {
            return (interim, finals, Vec::new());
        }
    }
}

/// Decodes a chunked body at the start of `bytes`: (content, bytes used), or `None` if it is
/// incomplete or malformed.
fn dechunk(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let line_end = pos + bytes[pos..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[pos..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            // Trailer section: lines until an empty one.
            loop {
                let end = pos + bytes[pos..].windows(2).position(|w| w == b"\r\n")?;
                let empty = end == pos;
                pos = end + 2;
                if empty {
                    return Some((body, pos));
                }
            }
        }
        body.extend_from_slice(bytes.get(pos..pos + size)?);
        pos += size;
        if bytes.get(pos..pos + 2)? != b"\r\n" {
            return None;
        }
        pos += 2;
    }
}

// ---------------------------------------------------------------------------------------------
// Table-driven cases

/// What the gateway must do with a case.
#[derive(Clone, Debug)]
enum Want {
    /// Answer this error status with `Connection: close`, close, and answer nothing after it.
    Refused(u16),
    /// Answer this status (and this body, when given), then answer the sentinel: the request
    /// was framed exactly.
    Served(u16, Option<Vec<u8>>),
    /// Answer exactly these statuses, in order, then close.
    Statuses(Vec<u16>),
    /// A well-formed request whose status is the app's or the router's business: answer it with
    /// anything but 400, then either answer the sentinel or say `Connection: close` and stop.
    Answered,
}

struct Case {
    name: String,
    raw: Vec<u8>,
    want: Want,
    /// Append [`SENTINEL`] to `raw`.
    sentinel: bool,
}

/// A case followed by the sentinel.
fn case(name: impl Into<String>, raw: impl AsRef<[u8]>, want: Want) -> Case {
    Case {
        name: name.into(),
        raw: raw.as_ref().to_vec(),
        want,
        sentinel: true,
    }
}

/// A case sent on its own.
fn alone(name: impl Into<String>, raw: impl AsRef<[u8]>, want: Want) -> Case {
    Case {
        sentinel: false,
        ..case(name, raw, want)
    }
}

fn refused(status: u16) -> Want {
    Want::Refused(status)
}

fn served(status: u16) -> Want {
    Want::Served(status, None)
}

fn served_body(status: u16, body: impl AsRef<[u8]>) -> Want {
    Want::Served(status, Some(body.as_ref().to_vec()))
}

/// `POST / HTTP/1.1`, `Host: t`, the header lines `headers` (each ending in CRLF), the empty
/// line, then `body`.
fn post(headers: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut raw = b"POST / HTTP/1.1\r\nHost: t\r\n".to_vec();
    raw.extend_from_slice(headers.as_ref());
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body.as_ref());
    raw
}

/// `GET /echo HTTP/1.1`, `Host: t`, then the header lines `headers` and the empty line.
fn get_echo(headers: impl AsRef<[u8]>) -> Vec<u8> {
    let mut raw = b"GET /echo HTTP/1.1\r\nHost: t\r\n".to_vec();
    raw.extend_from_slice(headers.as_ref());
    raw.extend_from_slice(b"\r\n");
    raw
}

/// `a` followed by `b`.
fn cat(a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> Vec<u8> {
    let mut v = a.as_ref().to_vec();
    v.extend_from_slice(b.as_ref());
    v
}

/// Checks one exchange against what was wanted; the reason it falls short, if it does.
fn judge(want: &Want, ex: &Exchange) -> Result<(), String> {
    if !ex.trailing.is_empty() {
        return Err(format!(
            "bytes that are no response: {:?}",
            ex.trailing.escape_ascii().to_string()
        ));
    }
    if !ex.closed {
        return Err(format!(
            "connection still open after {CLOSE_WAIT:?} (statuses so far {:?})",
            ex.statuses()
        ));
    }
    match want {
        Want::Refused(status) => {
            if ex.statuses() != [*status] {
                return Err(format!("want only {status} then close, got {:?}", ex.statuses()));
            }
            if !ex.interim.is_empty() {
                return Err(format!("an interim response before the {status}"));
            }
            if ex.finals[0].header("Connection") != Some("close") {
                return Err(format!("the {status} does not say Connection: close"));
            }
        }
        Want::Served(status, body) => {
            if ex.statuses() != [*status, 200] {
                return Err(format!(
                    "want {status} then the sentinel's 200, got {:?} (bodies {:?})",
                    ex.statuses(),
                    ex.finals.iter().map(Reply::text).collect::<Vec<_>>()
                ));
            }
            if let Some(body) = body
                && ex.finals[0].body != *body
            {
                return Err(format!(
                    "body {:?}, want {:?}",
                    ex.finals[0].body.escape_ascii().to_string(),
                    body.escape_ascii().to_string()
                ));
            }
            if !ex.finals[1].text().contains("X-Sentinel: yes") {
                return Err(format!(
                    "second response is not the sentinel's: {:?}",
                    ex.finals[1].text()
                ));
            }
        }
        Want::Statuses(statuses) => {
            if ex.statuses() != *statuses {
                return Err(format!("want {statuses:?} then close, got {:?}", ex.statuses()));
            }
        }
        Want::Answered => {
            let Some(first) = ex.finals.first() else {
                return Err("no response".to_owned());
            };
            if first.status == 400 {
                return Err("refused as malformed (400)".to_owned());
            }
            let closing = first.header("Connection") == Some("close");
            let sentinel_answered = ex.finals.len() == 2 && ex.finals[1].text().contains("X-Sentinel: yes");
            let framed = if closing {
                ex.finals.len() == 1
            } else {
                sentinel_answered
            };
            if !framed {
                return Err(format!(
                    "want one response then the sentinel's, or one saying Connection: close; got {:?}",
                    ex.statuses()
                ));
            }
        }
    }
    Ok(())
}

/// Runs every case on its own connection; panics listing every case that failed.
fn run_cases(gateway: &Gateway, cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let raw = if c.sentinel {
            cat(&c.raw, SENTINEL)
        } else {
            c.raw.clone()
        };
        let ex = exchange(gateway, &raw);
        if let Err(why) = judge(&c.want, &ex) {
            failures.push(format!(
                "- {}: {why}\n    sent {}",
                c.name,
                truncate(&c.raw.escape_ascii().to_string())
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // However the cases went, the gateway is alive and serving.
    let after = exchange(gateway, SENTINEL);
    assert_eq!(after.statuses(), [200], "the gateway serves after the table");
}

fn truncate(s: &str) -> String {
    if s.len() > 300 {
        format!("{}... ({} bytes)", &s[..300], s.len())
    } else {
        s.to_owned()
    }
}

fn hex(b: u8) -> String {
    format!("{b:#04x}")
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

// ---------------------------------------------------------------------------------------------
// A. Content-Length / Transfer-Encoding framing

#[test]
fn a_content_length_and_transfer_encoding_framing() {
    let gateway = echo_gateway(&[]);
    let hello = HELLO_CHUNKED;
    let mut cases = vec![
        // Both: refused, whichever comes first, whatever the body would mean under either.
        case(
            "CL then TE",
            post(
                "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                cat("0\r\n\r\n", SMUGGLED),
            ),
            refused(400),
        ),
        case(
            "TE then CL",
            post(
                "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
                cat("5c\r\n", SMUGGLED),
            ),
            refused(400),
        ),
        case(
            "CL 0 with TE",
            post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", hello),
            refused(400),
        ),
        case(
            "CL with an unknown TE",
            post("Content-Length: 5\r\nTransfer-Encoding: xchunked\r\n", "hello"),
            refused(400),
        ),
        // Duplicates.
        case(
            "CL 1 then CL 0",
            post("Content-Length: 1\r\nContent-Length: 0\r\n", "x"),
            refused(400),
        ),
        case(
            "CL 0 then CL 1",
            post("Content-Length: 0\r\nContent-Length: 1\r\n", "x"),
            refused(400),
        ),
        case(
            "CL 1000, 1001",
            post("Content-Length: 1000, 1001\r\n", "x".repeat(1001)),
            refused(400),
        ),
        case(
            "CL 1000 1000",
            post("Content-Length: 1000 1000\r\n", "x".repeat(1000)),
            refused(400),
        ),
        case(
            "CL 5 twice",
            post("Content-Length: 5\r\nContent-Length: 5\r\n", "hello"),
            served_body(200, "hello"),
        ),
        case(
            "CL 1000,1000",
            post("Content-Length: 1000,1000\r\n", "y".repeat(1000)),
            served_body(200, "y".repeat(1000)),
        ),
        case(
            "CL 1000, 1000",
            post("Content-Length: 1000, 1000\r\n", "z".repeat(1000)),
            served_body(200, "z".repeat(1000)),
        ),
        // Leading zeros are decimal (RFC 9110: Content-Length = 1*DIGIT), never octal.
        case(
            "CL 010",
            post("Content-Length: 010\r\n", "0123456789"),
            served_body(200, "0123456789"),
        ),
        case("CL 00", post("Content-Length: 00\r\n", ""), served_body(200, "")),
        case(
            "CL 0 and the next request in the same read",
            post("Content-Length: 0\r\n", ""),
            served_body(200, ""),
        ),
        // Transfer-Encoding obfuscation.
        case(
            "TE xchunked",
            post("Transfer-Encoding: xchunked\r\n", hello),
            refused(400),
        ),
        // RFC 9112 §6.3: a request whose final coding is not chunked cannot be framed: 400.
        case(
            "TE gzip alone",
            post("Transfer-Encoding: gzip\r\n", hello),
            refused(400),
        ),
        case("TE blegh", post("Transfer-Encoding: blegh\r\n", hello), refused(400)),
        case(
            "TE identity",
            post("Transfer-Encoding: identity\r\n", hello),
            refused(400),
        ),
        case(
            "TE chunked, identity",
            post("Transfer-Encoding: chunked, identity\r\n", hello),
            refused(400),
        ),
        case(
            "TE gzip, chunked",
            post("Transfer-Encoding: gzip, chunked\r\n", hello),
            refused(501),
        ),
        case(
            "TE identity, chunked",
            post("Transfer-Encoding: identity, chunked\r\n", hello),
            refused(501),
        ),
        case(
            "TE gzip line then chunked line",
            post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", hello),
            refused(501),
        ),
        case(
            "TE chunked, chunked",
            post(
                "Transfer-Encoding: chunked, chunked\r\n",
                "5\r\n5\r\nhello\r\n0\r\n\r\n\r\n0\r\n\r\n",
            ),
            refused(400),
        ),
        case(
            "two TE chunked lines",
            post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", hello),
            refused(400),
        ),
        case(
            "TE ,chunked",
            post("Transfer-Encoding: ,chunked\r\n", hello),
            refused(400),
        ),
        case(
            "TE chunked,",
            post("Transfer-Encoding: chunked,\r\n", hello),
            refused(400),
        ),
        case(
            "TE chunked;ext=val",
            post("Transfer-Encoding: chunked;ext=val\r\n", hello),
            refused(400),
        ),
        case("TE empty", post("Transfer-Encoding: \r\n", hello), refused(400)),
        case(
            "TE \"chunked\"",
            post("Transfer-Encoding: \"chunked\"\r\n", hello),
            refused(400),
        ),
        case(
            "TE Chunked",
            post("Transfer-Encoding: Chunked\r\n", hello),
            served_body(200, "hello"),
        ),
        case(
            "TE CHUNKED",
            post("Transfer-Encoding: CHUNKED\r\n", hello),
            served_body(200, "hello"),
        ),
        case(
            "TE on HTTP/1.0",
            cat(
                "POST / HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
                hello,
            ),
            refused(400),
        ),
        case(
            "TE and CL on HTTP/1.0",
            cat(
                "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                "hello",
            ),
            refused(400),
        ),
        // Whitespace before the colon (RFC 9112 §5.1: MUST 400) and mangled names.
        case("CL space colon", post("Content-Length : 5\r\n", "hello"), refused(400)),
        case(
            "TE space colon",
            post("Transfer-Encoding : chunked\r\n", hello),
            refused(400),
        ),
        case(
            "TE tab colon tab",
            post("Transfer-Encoding\t:\tchunked\r\n", hello),
            refused(400),
        ),
        case(
            "tab before the first header name",
            b"POST / HTTP/1.1\r\n\tContent-Length: 5\r\nHost: t\r\n\r\nhello",
            refused(400),
        ),
        case(
            "space before the first header name",
            cat(
                b"POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: t\r\n\r\n",
                hello,
            ),
            refused(400),
        ),
        case(
            "TE with a space inside the name",
            post("Transfer- Encoding: chunked\r\n", hello),
            refused(400),
        ),
        case(
            "CL name ending in NEL",
            post(b"Content-Length\x85: 5\r\n", "hello"),
            refused(400),
        ),
        case(
            "TE name after \\x01",
            post(b"\x01Transfer-Encoding: chunked\r\n", hello),
            refused(400),
        ),
        // `Transfer_Encoding` is another field, not TE: the POST has no body, and the chunked
        // bytes are then a malformed request.
        case(
            "Transfer_Encoding is not Transfer-Encoding",
            post("Transfer_Encoding: chunked\r\n", hello),
            Want::Statuses(vec![200, 400]),
        ),
        case(
            "Content_Length is not Content-Length",
            post("Content_Length: 7\r\n", "hello\r\n"),
            Want::Statuses(vec![200, 400]),
        ),
        // CL.0: a body on a method that has none is still a body, never the next request.
        case(
            "GET with a body holding a request",
            cat(
                format!(
                    "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                    SMUGGLED.len()
                ),
                SMUGGLED,
            ),
            served(200),
        ),
        case(
            "OPTIONS with a body holding a request",
            cat(
                format!(
                    "OPTIONS / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                    SMUGGLED.len()
                ),
                SMUGGLED,
            ),
            served_body(200, ""),
        ),
        case(
            "GET with a chunked body holding a request",
            cat(
                "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len()),
            ),
            served(200),
        ),
        case(
            "GET with Expect and a body holding a request",
            cat(
                format!(
                    "GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                    SMUGGLED.len()
                ),
                SMUGGLED,
            ),
            served(200),
        ),
    ];

    // Malformed Content-Length values: 400, and the body is never read as anything.
    for value in [
        &b"+1"[..],
        b"+1_0",
        b"1_0",
        b"0x10",
        b"-48",
        b"-1",
        b"-0",
        b"1Z",
        b"",
        b"1000.1000",
        b"1000\x11",
        b"18446744073709551616",
        b"99999999999999999999999999",
        b"_",
        b"1e3",
        b"5,",
        b",5",
        b"5,,5",
        b"\"5\"",
    ] {
        cases.push(case(
            format!("CL {:?}", value.escape_ascii().to_string()),
            post(bytes!("Content-Length: ", value, "\r\n"), cat("hello", SMUGGLED)),
            refused(400),
        ));
    }

    // Bytes wrapped around Transfer-Encoding and Content-Length (the smuggler `*space*`
    // payloads): only SP and HTAB, and only where OWS is allowed, leave the field intact.
    for &x in WRAPPING_BYTES {
        let x = [x];
        let ows = is_ows(x[0]);
        // Where OWS is allowed: intact (served) for SP and HTAB, refused for anything else.
        let ows_ok = || if ows { served_body(200, "hello") } else { refused(400) };
        // After a CR: intact only when the byte is the LF that makes it a line end.
        let after_cr = || {
            if x[0] == b'\n' {
                served_body(200, "hello")
            } else {
                refused(400)
            }
        };
        let te = |name: &str, line: Vec<u8>, want: Want| {
            case(format!("{name} {}", hex(x[0])), post(line, HELLO_CHUNKED), want)
        };
        let cl =
            |name: &str, line: Vec<u8>, want: Want| case(format!("{name} {}", hex(x[0])), post(line, "hello"), want);
        cases.extend([
            te("TE:Xchunked", bytes!("Transfer-Encoding:", x, "chunked\r\n"), ows_ok()),
            te(
                "TE: Xchunked",
                bytes!("Transfer-Encoding: ", x, "chunked\r\n"),
                ows_ok(),
            ),
            te(
                "TE: chunkedX",
                bytes!("Transfer-Encoding: chunked", x, "\r\n"),
                ows_ok(),
            ),
            te(
                "TE NameX:",
                bytes!("Transfer-Encoding", x, ": chunked\r\n"),
                refused(400),
            ),
            te(
                "TE XName:",
                bytes!(x, "Transfer-Encoding", ": chunked\r\n"),
                refused(400),
            ),
            te(
                "TE Na X me:",
                bytes!("Transfer-", x, "Encoding: chunked\r\n"),
                refused(400),
            ),
            te(
                "TE after X: X\\rX",
                bytes!("X: X\r", x, "Transfer-Encoding: chunked\r\n"),
                after_cr(),
            ),
            te(
                "TE after X: X\\nX",
                bytes!("X: X\n", x, "Transfer-Encoding: chunked\r\n"),
                refused(400),
            ),
            te(
                "TE: chunked\\nX",
                bytes!("Transfer-Encoding: chunked\n", x, "\r\n"),
                refused(400),
            ),
            te(
                "TE: chunked\\rX then a field",
                bytes!("Transfer-Encoding: chunked\r", x, "Z: z\r\n"),
                after_cr(),
            ),
            cl("CL:X5", bytes!("Content-Length:", x, "5\r\n"), ows_ok()),
            cl("CL: 5X", bytes!("Content-Length: 5", x, "\r\n"), ows_ok()),
            cl("CL NameX:", bytes!("Content-Length", x, ": 5\r\n"), refused(400)),
            cl("CL XName:", bytes!(x, "Content-Length", ": 5\r\n"), refused(400)),
        ]);
    }
    run_cases(&gateway, &cases);
}

// ---------------------------------------------------------------------------------------------
// B. Line terminators and folding

#[test]
fn b_line_terminators_and_folding() {
    let gateway = echo_gateway(&[]);
    let cases = vec![
        // Bare LF: refused, consistently, wherever it is.
        case("bare LF everywhere", "GET / HTTP/1.1\nHost: t\n\n", refused(400)),
        case(
            "bare LF after the request line",
            "GET / HTTP/1.1\nHost: t\r\n\r\n",
            refused(400),
        ),
        case(
            "bare LF after a header",
            "GET / HTTP/1.1\r\nHost: t\n\r\n",
            refused(400),
        ),
        case(
            "bare LF as the empty line",
            "GET / HTTP/1.1\r\nHost: t\r\n\n",
            refused(400),
        ),
        case(
            "bare LF before the request line",
            "\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            refused(400),
        ),
        case(
            "bare LF between headers",
            "GET / HTTP/1.1\r\nHost: t\r\nX: y\nZ: w\r\n\r\n",
            refused(400),
        ),
        // Bare CR: invalid anywhere (RFC 9112 §2.2).
        case(
            "bare CR in a value",
            "GET / HTTP/1.1\r\nHost: t\r\nX: va\rlue\r\n\r\n",
            refused(400),
        ),
        case(
            "bare CR hiding a header",
            "GET / HTTP/1.1\r\nHost: t\r\nVisible: :/\rSmuggled: :)\r\n\r\n",
            refused(400),
        ),
        case("CR-only line endings", "GET / HTTP/1.1\rHost: t\r\r", refused(400)),
        case(
            "\\r\\n\\rX ending the head",
            "GET / HTTP/1.1\r\nHost: t\r\n\rX",
            refused(400),
        ),
        case(
            "CR after the version",
            "GET / HTTP/1.1\r\r\nHost: t\r\n\r\n",
            refused(400),
        ),
        // obs-fold (RFC 9112 §5.2: reject or replace; this gateway rejects).
        case(
            "obs-fold",
            "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
            refused(400),
        ),
        case(
            "obs-fold with a tab",
            "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n\tb\r\n\r\n",
            refused(400),
        ),
        case(
            "TE folded onto the next line",
            post("Transfer-Encoding:\r\n chunked\r\n", HELLO_CHUNKED),
            refused(400),
        ),
        case(
            "CL folded onto the next line",
            post("Content-Length: 1\r\n 0\r\n", "0123456789"),
            refused(400),
        ),
        // A line without a colon, or a name split over lines.
        case(
            "no colon",
            "GET / HTTP/1.1\r\nHost: t\r\nContent-Length 10\r\n\r\n",
            refused(400),
        ),
        case(
            "name split by CRLF",
            post("Transfer-\r\nEncoding: chunked\r\n", HELLO_CHUNKED),
            refused(400),
        ),
        case(
            "name split by LF",
            "GET / HTTP/1.1\r\nHost: t\r\nTe\nst: test\r\n\r\n",
            refused(400),
        ),
        // LF as a separator inside the request line.
        case("GET /\\nHTTP/1.1", "GET /\nHTTP/1.1\r\nHost: t\r\n\r\n", refused(400)),
    ];
    run_cases(&gateway, &cases);
}

// ---------------------------------------------------------------------------------------------
// C. Chunked bodies

#[test]
fn c_chunked_bodies() {
    let gateway = echo_gateway(&[]);
    let chunked = |body: &[u8]| post("Transfer-Encoding: chunked\r\n", body);
    let mut cases = Vec::new();
    // Invalid chunk sizes (chunk-size = 1*HEXDIG): 400 and close.
    for size in [
        &b"0_2e"[..],
        b"0x5",
        b"0x1",
        b"+5",
        b"+1",
        b"-5",
        b"-0x0",
        b"",
        b" 5",
        b"   0",
        b"\t5",
        b"5 ",
        b"5\t",
        b"1these-bytes",
        b"g",
        b"5,",
        b"5\x00",
        b"FFFFFFFFFFFFFFFFF",
    ] {
        let mut body = size.to_vec();
        body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        cases.push(case(
            format!("chunk size {:?}", size.escape_ascii().to_string()),
            chunked(&body),
            refused(400),
        ));
    }
    // Chunk line terminators.
    for (name, body) in [
        ("bare LF after the last size", &b"0\n\r\n"[..]),
        ("bare LF after a size", b"5\nhello\r\n0\r\n\r\n"),
        ("CR CR after a size", b"5\r\rhello\r\n0\r\n\r\n"),
        ("bare CR after a size", b"5\rhello\r\n0\r\n\r\n"),
        ("two junk bytes instead of CRLF after data", b"5\r\nhelloXX0\r\n\r\n"),
        ("\\r then junk after data", b"5\r\nhello\rX0\r\n\r\n"),
        ("missing CRLF after data", b"5\r\nhello0\r\n\r\n"),
        ("bare LF after data", b"5\r\nhello\n0\r\n\r\n"),
        ("bare CR after data", b"5\r\nhello\r0\r\n\r\n"),
        ("more data than the size", b"5\r\nhelloworld\r\n0\r\n\r\n"),
        ("less data than the size", b"7\r\nhello\r\n0\r\n\r\n"),
        ("bare LF ending the trailer section", b"0\r\n\n"),
        ("bare CR in the trailer section", b"0\r\n\rX"),
        ("trailer line ending in bare LF", b"0\r\nX: y\n\r\n"),
        // Extensions.
        ("bare LF inside an extension", b"5;\nhello\r\n0\r\n\r\n"),
        ("bare LF after an extension value", b"5;a=b\nhello\r\n0\r\n\r\n"),
        ("CR inside an extension", b"41;a=b\r\r\nhello\r\n0\r\n\r\n"),
        ("NUL in an extension", b"5;\x00ext\r\nhello\r\n0\r\n\r\n"),
        ("bare ;", b"5;\r\nhello\r\n0\r\n\r\n"),
        ("invalid extension token", b"5;[a]\r\nhello\r\n0\r\n\r\n"),
        ("extension without a name", b"5;=v\r\nhello\r\n0\r\n\r\n"),
        ("unterminated quoted extension", b"5;a=\"x\r\nhello\r\n0\r\n\r\n"),
        // Malformed trailers.
        ("obs-fold in the trailers", b"0\r\nX: v\r\n folded\r\n\r\n"),
        ("space before a trailer colon", b"0\r\nX : v\r\n\r\n"),
        ("trailer without a colon", b"0\r\nNoColon\r\n\r\n"),
        ("NUL in a trailer value", b"0\r\nX: a\x00b\r\n\r\n"),
    ] {
        cases.push(case(name, chunked(body), refused(400)));
    }
    // 64 KiB of extension: refused (the gateway caps extensions at 4 KiB per body).
    let mut big = b"5;a=".to_vec();
    big.extend(std::iter::repeat_n(b'x', 64 * 1024));
    big.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    cases.push(case("64 KiB chunk extension", chunked(&big), refused(400)));
    // Valid shapes are served, and framed exactly.
    for (name, body) in [
        (
            "extensions",
            &b"5;ext=val;q=\"a b\"\r\nhello\r\n6 ;x\r\n world\r\n0;end\r\n\r\n"[..],
        ),
        ("upper-case hex", b"B\r\nhello world\r\n0\r\n\r\n"),
        ("leading zeros", b"0005\r\nhello\r\n00006\r\n world\r\n000\r\n\r\n"),
        ("trailers", b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n"),
    ] {
        cases.push(case(name, chunked(body), served_body(200, "hello world")));
    }
    // An invalid chunk never resynchronises on the request that follows it.
    cases.push(case(
        "invalid chunk followed by a GET",
        chunked(&cat("INVALID!!!\r\n", SMUGGLED)),
        refused(400),
    ));
    run_cases(&gateway, &cases);

    // Trailer fields are never merged into the request: POST /echo lists the headers the app
    // saw.
    let ex = exchange(
        &gateway,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n0\r\nContent-Length: 999\r\nHost: evil.example\r\nAuthorization: Basic eA==\r\n\
          Content-Type: evil/type\r\nTransfer-Encoding: gzip\r\nX-Trailer: t\r\n\r\n",
    );
    assert_eq!(ex.statuses(), [200], "{ex:?}");
    assert!(ex.closed);
    let seen = ex.finals[0].text();
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines.contains(&"Host: t"), "{seen}");
    assert!(lines.contains(&"Content-Length: 5"), "the decoded length only: {seen}");
    for forbidden in [
        "evil",
        "999",
        "Authorization",
        "Content-Type",
        "Transfer-Encoding",
        "X-Trailer",
    ] {
        assert!(
            !seen.contains(forbidden),
            "trailer {forbidden:?} reached the app:\n{seen}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// D. Header bytes and Host

#[test]
fn d_header_bytes_and_host() {
    let gateway = echo_gateway(&[]);
    let mut cases = vec![
        case("NUL in a value", get_echo(b"X: a\x00b\r\n"), refused(400)),
        case("NUL ending a value", get_echo(b"X: ab\x00\r\n"), refused(400)),
        case("CR in a value", get_echo(b"X: a\rb\r\n"), refused(400)),
        case("LF in a value", get_echo(b"X: a\nb\r\n"), refused(400)),
        case("DEL in a value", get_echo(b"X: a\x7fb\r\n"), refused(400)),
        case("empty name", get_echo(": ignored\r\n"), refused(400)),
        case("empty name, empty value", get_echo(":\r\n"), refused(400)),
        case("whitespace-only name", get_echo(" : x\r\n"), refused(400)),
        case("non-ASCII name", get_echo(b"\xefoo: bar\r\n"), refused(400)),
        // Host.
        case("missing Host on HTTP/1.1", "GET /echo HTTP/1.1\r\n\r\n", refused(400)),
        case("two Host lines", get_echo("Host: t\r\n"), refused(400)),
        case("two different Host lines", get_echo("host: other\r\n"), refused(400)),
        case(
            "empty Host on HTTP/1.1",
            "GET /echo HTTP/1.1\r\nHost: \r\n\r\n",
            refused(400),
        ),
        case(
            "Host with userinfo",
            "GET /echo HTTP/1.1\r\nHost: a@b\r\n\r\n",
            refused(400),
        ),
        case("Host list", "GET /echo HTTP/1.1\r\nHost: a, b\r\n\r\n", refused(400)),
        case(
            "Host list of one name",
            "GET /echo HTTP/1.1\r\nHost: t,t\r\n\r\n",
            refused(400),
        ),
        case(
            "Host with a path",
            "GET /echo HTTP/1.1\r\nHost: t/p\r\n\r\n",
            refused(400),
        ),
        case(
            "Host with a bad port",
            "GET /echo HTTP/1.1\r\nHost: t:99999\r\n\r\n",
            refused(400),
        ),
        case(
            "absolute-form disagreeing with Host",
            "GET http://a.example/echo HTTP/1.1\r\nHost: b.example\r\n\r\n",
            refused(400),
        ),
        case(
            "absolute-form with userinfo",
            "GET http://u@t/echo HTTP/1.1\r\nHost: t\r\n\r\n",
            refused(400),
        ),
        case(
            "absolute-form without Host on HTTP/1.1",
            "GET http://t/echo HTTP/1.1\r\n\r\n",
            refused(400),
        ),
        case(
            "absolute-form agreeing with Host",
            "GET http://T:80/echo HTTP/1.1\r\nHost: t:80\r\n\r\n",
            served(200),
        ),
        case(
            "HTTP/1.0 without Host",
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            served(200),
        ),
        case(
            "IPv6 Host",
            "GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            served(200),
        ),
    ];
    // Every byte that is neither a tchar nor the colon, inside a header name: 400.
    for b in 0u8..=255 {
        let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if tchar || b == b':' {
            continue;
        }
        cases.push(case(
            format!("name byte {}", hex(b)),
            get_echo(bytes!("X", [b], "Y: z\r\n")),
            refused(400),
        ));
    }
    run_cases(&gateway, &cases);

    // The app sees the host of the request, and the gateway never invents one.
    let ex = exchange(
        &gateway,
        b"GET http://t:80/echo HTTP/1.1\r\nHost: t:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(ex.statuses(), [200], "{ex:?}");
    assert!(
        ex.finals[0].text().lines().any(|l| l == "Host: t:80"),
        "{}",
        ex.finals[0].text()
    );
}

// ---------------------------------------------------------------------------------------------
// E. Request line

#[test]
fn e_request_line() {
    let gateway = echo_gateway(&[]);
    let with_host = |line: &[u8]| cat(line, "\r\nHost: t\r\n\r\n");
    let mut cases = Vec::new();
    for (name, line) in [
        ("method with separators", &b"G=\":<>(e),[T];?\" /get HTTP/1.1"[..]),
        ("NUL in the method", b"G\x00T / HTTP/1.1"),
        ("tab after the method", b"GET\t/ HTTP/1.1"),
        ("space before the method", b" GET / HTTP/1.1"),
        ("non-ASCII method", b"G\xc3\x89T / HTTP/1.1"),
        ("version HTTP/1.32", b"GET / HTTP/1.32"),
        ("version http/1.1", b"GET / http/1.1"),
        ("version HTTP/1", b"GET / HTTP/1"),
        ("version HTTP/1.", b"GET / HTTP/1."),
        ("version HTTP/", b"GET / HTTP/"),
        ("version with CRs", b"GET / HTTP/\r\r1.1"),
        ("version 4294967295.255", b"GET / HTTP/4294967295.255"),
        ("version with a leading zero", b"GET / HTTP/01.1"),
        ("version with a space inside", b"GET / HTTP/ 1.1"),
        ("space after the version", b"GET / HTTP/1.1 "),
        ("target !", b"GET ! HTTP/1.1"),
        ("target with a fragment", b"GET /a#frag HTTP/1.1"),
        ("space in the target", b"GET /a b HTTP/1.1"),
        ("tab in the target", b"GET /a\tb HTTP/1.1"),
        ("two spaces before the target", b"GET  / HTTP/1.1"),
        ("two spaces after the target", b"GET /  HTTP/1.1"),
        ("missing target", b"GET HTTP/1.1"),
        ("missing target, two spaces", b"GET  HTTP/1.1"),
        ("* with GET", b"GET * HTTP/1.1"),
        ("NUL in the target", b"GET /a\x00b HTTP/1.1"),
        ("overlong UTF-8 in the target", b"GET /\xc0\xaf HTTP/1.1"),
        ("relative target", b"GET a/b HTTP/1.1"),
        ("authority-form on GET", b"GET t:80 HTTP/1.1"),
    ] {
        cases.push(case(name, with_host(line), refused(400)));
    }
    for (name, line) in [
        ("version HTTP/1.2", &b"GET / HTTP/1.2"[..]),
        ("version HTTP/2.0", b"GET / HTTP/2.0"),
        ("version HTTP/0.9", b"GET / HTTP/0.9"),
        ("version HTTP/3.0", b"GET / HTTP/3.0"),
    ] {
        cases.push(case(name, with_host(line), refused(505)));
    }
    cases.extend([
        // HTTP/0.9: no version at all is a malformed request line, alone or followed by more.
        alone("HTTP/0.9 simple-request alone", "GET /\r\n", refused(400)),
        case("HTTP/0.9 simple-request", "GET /\r\n", refused(400)),
        alone(
            "HTTP/0.9 simple-request, empty line",
            "GET /index.html\r\n\r\n",
            refused(400),
        ),
        // The HTTP/2 preface: answered and closed, never a hang.
        alone("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", refused(505)),
        case(
            "HTTP/2 preface then a request",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            refused(505),
        ),
        // Valid but unusual targets reach the app (here: echo's 404 for unknown paths).
        case("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", Want::Answered),
        case("%00 in the target", "GET /%00 HTTP/1.1\r\nHost: t\r\n\r\n", served(404)),
        case(
            "%0d%0a in the target",
            "GET /%0d%0a HTTP/1.1\r\nHost: t\r\n\r\n",
            served(404),
        ),
        case("lower-case method", "get / HTTP/1.1\r\nHost: t\r\n\r\n", served(405)),
    ]);
    run_cases(&gateway, &cases);
}

// ---------------------------------------------------------------------------------------------
// F. Connection and pipelining

#[test]
fn f_connection_and_pipelining() {
    let gateway = echo_gateway(&["--max-body-size", "1000"]);
    let cases = vec![
        // An invalid request after a `Connection: close` request is never even looked at.
        alone(
            "invalid request after Connection: close",
            cat(
                "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                "INVALID\r\n\r\n",
            ),
            Want::Statuses(vec![200]),
        ),
        alone(
            "valid request after Connection: close",
            cat("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", SENTINEL),
            Want::Statuses(vec![200]),
        ),
        // HTTP/1.0 closes by default, and keeps alive when asked to.
        case(
            "HTTP/1.0 closes by default",
            "GET / HTTP/1.0\r\n\r\n",
            Want::Statuses(vec![200]),
        ),
        case(
            "HTTP/1.0 with keep-alive",
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            served(200),
        ),
        case(
            "HTTP/1.0 POST with keep-alive",
            "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
            served_body(200, "hello"),
        ),
        case(
            "Connection: keep-alive, close",
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\n\r\n",
            Want::Statuses(vec![200]),
        ),
        // An invalid request after a valid one: the valid one is answered, then the error.
        case(
            "invalid request after a valid one",
            cat(
                "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
                "GET / HTTP/1.1\r\nHost: t\r\nX: a\x00\r\n\r\n",
            ),
            Want::Statuses(vec![200, 400]),
        ),
    ];
    run_cases(&gateway, &cases);

    // Responses carry the connection's fate.
    let ex = exchange(&gateway, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(ex.statuses(), [200]);
    assert_eq!(ex.finals[0].header("Connection"), Some("close"));
    let ex = exchange(
        &gateway,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    );
    assert_eq!(ex.statuses(), [200, 200]);
    assert_eq!(ex.finals[0].header("Connection"), Some("keep-alive"));
    assert!(ex.closed, "HTTP/1.0 without keep-alive closes");

    // Three pipelined requests in one write: three responses, in order.
    let mut raw = Vec::new();
    for n in 1..=3 {
        let close = if n == 3 { "Connection: close\r\n" } else { "" };
        raw.extend_from_slice(format!("GET /echo HTTP/1.1\r\nHost: t\r\nX-N: {n}\r\n{close}\r\n").as_bytes());
    }
    let ex = exchange(&gateway, &raw);
    assert_eq!(ex.statuses(), [200, 200, 200], "{ex:?}");
    for (i, reply) in ex.finals.iter().enumerate() {
        let want = format!("X-N: {}", i + 1);
        assert!(
            reply.text().lines().any(|l| l == want),
            "response {i}: {}",
            reply.text()
        );
    }
    assert!(ex.closed);

    // Expect: 100-continue: the interim response comes before the body is sent, then the
    // final one.
    let mut stream = gateway.connect();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        )
        .expect("send head");
    let mut interim = [0u8; 25];
    stream
        .read_exact(&mut interim)
        .expect("an interim response before the body");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello").expect("send body");
    let ex = read_until_close(&mut stream, CLOSE_WAIT);
    assert_eq!(ex.statuses(), [200], "{ex:?}");
    assert!(ex.interim.is_empty(), "one 100 only");
    assert_eq!(ex.finals[0].body, b"hello");

    // Expect: 100-continue with a body over --max-body-size: 413 at once, no 100, close.
    let mut stream = gateway.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        .expect("send head");
    let ex = read_until_close(&mut stream, CLOSE_WAIT);
    assert!(
        ex.interim.is_empty(),
        "no 100 Continue for a body that will be refused: {ex:?}"
    );
    assert_eq!(ex.statuses(), [413], "{ex:?}");
    assert!(ex.closed);
}

// ---------------------------------------------------------------------------------------------
// G. Limits

#[test]
fn g_limits() {
    let gateway = echo_gateway(&[
        "--limit-request-line",
        "64",
        "--limit-request-fields",
        "5",
        "--limit-request-head",
        "512",
        "--max-body-size",
        "1000",
    ]);
    let long_path = format!("/{}", "a".repeat(100));
    let mut big_chunked = format!("{:x}\r\n", 1000).into_bytes();
    big_chunked.extend(std::iter::repeat_n(b'c', 1000));
    big_chunked.extend_from_slice(b"\r\n1\r\nx\r\n0\r\n\r\n");
    let mut at_limit_chunked = format!("{:x}\r\n", 1000).into_bytes();
    at_limit_chunked.extend(std::iter::repeat_n(b'c', 1000));
    at_limit_chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let cases = vec![
        case(
            "URL over --limit-request-line",
            format!("GET {long_path} HTTP/1.1\r\nHost: t\r\n\r\n"),
            refused(414),
        ),
        alone(
            "URL over the limit, line not ended",
            format!("GET {long_path}"),
            refused(414),
        ),
        // A method longer than any sane method is a bad method (400), not a long target (414),
        // whether or not the line has ended or fits the line limit.
        alone(
            "method over the request-line limit, line not ended",
            "M".repeat(100),
            refused(400),
        ),
        case(
            "method of 33 bytes",
            format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(33)),
            refused(400),
        ),
        case(
            "method of 32 bytes",
            format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(32)),
            served(405),
        ),
        case(
            "request line at the limit",
            format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(64 - 14)),
            served(404),
        ),
        case(
            "header line longer than the request-line limit",
            get_echo(format!("X-Long: {}\r\n", "v".repeat(200))),
            served(200),
        ),
        case(
            "head over --limit-request-head",
            get_echo(format!("X-Big: {}\r\n", "v".repeat(600))),
            refused(431),
        ),
        case(
            "long header name",
            get_echo(format!("X-{}: v\r\n", "n".repeat(600))),
            refused(431),
        ),
        case(
            "fields at --limit-request-fields",
            get_echo("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"),
            served(200),
        ),
        case(
            "fields over --limit-request-fields",
            get_echo("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"),
            refused(431),
        ),
        case(
            "CL at --max-body-size",
            post("Content-Length: 1000\r\n", "b".repeat(1000)),
            served_body(200, "b".repeat(1000)),
        ),
        case(
            "CL over --max-body-size",
            post("Content-Length: 1001\r\n", "b".repeat(1001)),
            refused(413),
        ),
        case(
            "huge CL",
            post("Content-Length: 18446744073709551615\r\n", "b"),
            refused(413),
        ),
        case(
            "chunked at --max-body-size",
            post("Transfer-Encoding: chunked\r\n", &at_limit_chunked),
            served_body(200, "c".repeat(1000)),
        ),
        case(
            "chunked growing past --max-body-size",
            post("Transfer-Encoding: chunked\r\n", &big_chunked),
            refused(413),
        ),
        case(
            "binary garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\xff\r\n\r\n",
            refused(400),
        ),
        alone("NUL bytes", b"\x00\x00\x00\x00", refused(400)),
        // RFC 9112 §2.2: at least one empty line before the request line is ignored.
        case(
            "empty lines before the request",
            "\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            served(200),
        ),
        case(
            "empty line between requests",
            "GET / HTTP/1.1\r\nHost: t\r\n\r\n\r\n",
            served(200),
        ),
        case("whitespace-only line", "   \r\n\r\n", refused(400)),
        case(
            "whitespace-only line before a request",
            "\t\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
            refused(400),
        ),
    ];
    run_cases(&gateway, &cases);

    // An empty request: the client closes without sending; no response, the gateway closes.
    let mut stream = gateway.connect();
    stream.shutdown(Shutdown::Write).expect("half-close");
    let ex = read_until_close(&mut stream, CLOSE_WAIT);
    assert!(ex.closed && ex.finals.is_empty() && ex.trailing.is_empty(), "{ex:?}");
}

// ---------------------------------------------------------------------------------------------
// Timeouts

/// A gateway whose header, body and keep-alive timeouts are all one second.
fn impatient_gateway() -> Gateway {
    echo_gateway(&["--header-timeout", "1", "--body-timeout", "1", "--keep-alive", "1"])
}

/// How long a timeout test waits for the gateway to act on a one-second timeout.
const TIMEOUT_WAIT: Duration = Duration::from_secs(5);

#[test]
fn slowloris_gets_408_while_others_are_served() {
    let gateway = impatient_gateway();
    let mut slow = gateway.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").expect("partial head");
    let slow_done = Arc::new(AtomicBool::new(false));
    // The slow client keeps trickling a byte of a header name every 300 ms (so the connection
    // is never idle) and reads whatever comes back, until the gateway closes or the wait ends.
    let trickler = {
        let mut stream = slow.try_clone().expect("clone");
        let done = Arc::clone(&slow_done);
        std::thread::spawn(move || {
            let deadline = Instant::now() + TIMEOUT_WAIT;
            let mut received = Vec::new();
            let mut buf = [0u8; 4096];
            let mut sent = 0usize;
            stream
                .set_read_timeout(Some(Duration::from_millis(300)))
                .expect("set_read_timeout");
            let closed = loop {
                if Instant::now() >= deadline {
                    break false;
                }
                if stream.write_all(b"X").is_ok() {
                    sent += 1;
                }
                match stream.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break true,
                }
            };
            done.store(true, Ordering::SeqCst);
            (received, closed, sent, Instant::now())
        })
    };

    // Meanwhile, another client is served normally.
    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone");
    writer
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("send");
    let normal = read_response(&mut BufReader::new(stream), false);
    let normal_done = Instant::now();
    let slow_was_waiting = !slow_done.load(Ordering::SeqCst);
    assert_eq!(normal.status, 200);

    let (received, closed, sent, slow_end) = trickler.join().expect("trickler thread");
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "the slow client gets 408 while still sending ({sent} bytes trickled): {text:?}"
    );
    assert!(closed, "and the connection is closed: {text:?}");
    assert!(
        slow_was_waiting && normal_done < slow_end,
        "the normal client was served while the slow one was still connected"
    );
    drop(slow);
}

#[test]
fn incomplete_body_gets_408() {
    let gateway = impatient_gateway();
    let mut stream = gateway.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
        .expect("send a tenth of the body");
    let ex = read_until_close(&mut stream, TIMEOUT_WAIT);
    assert_eq!(ex.statuses(), [408], "{ex:?}");
    assert!(ex.closed, "closed after the 408");
    assert_eq!(ex.finals[0].header("Connection"), Some("close"));

    // Chunked alike: a body that stops arriving.
    let mut stream = gateway.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        .expect("send part of a chunk");
    let ex = read_until_close(&mut stream, TIMEOUT_WAIT);
    assert_eq!(ex.statuses(), [408], "{ex:?}");
    assert!(ex.closed);
}

#[test]
fn idle_connections_are_closed() {
    let gateway = impatient_gateway();
    // A kept-alive connection, idle after its response.
    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone");
    writer.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let mut reader = BufReader::new(stream);
    let first = read_response(&mut reader, false);
    assert_eq!(first.status, 200);
    assert_ne!(first.header("Connection"), Some("close"), "kept alive");
    let mut stream = reader.into_inner();
    let ex = read_until_close(&mut stream, TIMEOUT_WAIT);
    assert!(ex.closed, "the idle keep-alive connection is closed");
    assert!(
        ex.finals.is_empty() && ex.trailing.is_empty(),
        "without a response: {ex:?}"
    );

    // A connection that never sends anything: closed, without a response.
    let mut stream = gateway.connect();
    let ex = read_until_close(&mut stream, TIMEOUT_WAIT);
    assert!(ex.closed, "a silent connection is closed");
    assert!(
        ex.finals.is_empty() && ex.trailing.is_empty(),
        "without a response: {ex:?}"
    );
}
