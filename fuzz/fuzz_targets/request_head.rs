//! Fuzz target: the request-head parser and the framing decision (`gateway/src/http/parse.rs`).
//!
//! Input: one byte choosing the limits, one byte choosing how the head arrives in reads (see
//! `Splits`), then the bytes a client sent. The head is parsed the way the connection does it —
//! the whole buffer again after every read — and the first answer that is not `Partial` must be
//! the answer for the whole buffer: how a request was cut into TCP segments must never change
//! whether it is accepted, nor how it is framed. A complete head must borrow only bytes of its
//! own head, and its framing must agree with its `Content-Length` / `Transfer-Encoding` lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsgi_fuzz::{Script, Splits, is_within};
use nsgi_gateway::{
    BodyDecoder, Framing, Limits, ParseError, Parsed, RequestHead, Version, header_slots, parse_content_length,
    parse_head,
};

/// Header slots offered to the parser, as the connection does (it offers 100).
const SLOTS: usize = 100;

/// Small limits make every limit reachable from short inputs.
fn limits_for(choice: u8) -> Limits {
    if choice & 1 == 0 {
        return Limits::default();
    }
    Limits {
        max_request_line: [16, 40, 100, 8190][usize::from(choice >> 1 & 3)],
        max_header_bytes: [32, 64, 200, 65536][usize::from(choice >> 3 & 3)],
        max_headers: [0, 1, 3, 100][usize::from(choice >> 5 & 3)],
        max_body: if choice & 0x80 != 0 { 10 } else { u64::MAX },
        ..Limits::default()
    }
}

fuzz_target!(|input: &[u8]| {
    let mut script = Script::new(input);
    let limits = limits_for(script.byte());
    let split_seed = script.byte();
    let buf = script.rest();

    let mut slots = header_slots::<SLOTS>();
    let whole = parse_head(buf, &mut slots, &limits);
    match &whole {
        Ok(Parsed::Complete(head)) => check_head(buf, head, &limits),
        Ok(Parsed::Partial) => {}
        Err(e) => assert!(ParseError::ALL.contains(e) && (400..=599).contains(&e.status()), "{e:?}"),
    }

    // The connection's view: parse again after every read until the answer is not Partial.
    for cut in Splits::new(split_seed, buf.len()) {
        let mut slots = header_slots::<SLOTS>();
        let early = parse_head(&buf[..cut], &mut slots, &limits);
        if matches!(early, Ok(Parsed::Partial)) {
            continue;
        }
        assert_eq!(
            answer(&early),
            answer(&whole),
            "the answer after {cut} of {} bytes differs from the answer for the whole buffer",
            buf.len()
        );
        break;
    }
});

/// What the connection does with a parse result. Errors are compared by status: two rules can both
/// explain a malformed line, and which one is named in the log may depend on how much of the line
/// has arrived; the response may not.
fn answer(result: &Result<Parsed<RequestHead<'_, '_>>, ParseError>) -> String {
    match result {
        Err(e) => format!("refused with {}", e.status()),
        ok => format!("{ok:?}"),
    }
}

/// Every invariant of a complete head parsed from `buf`.
fn check_head(buf: &[u8], head: &RequestHead<'_, '_>, limits: &Limits) {
    assert!(head.head_len <= buf.len() && head.head_len <= limits.max_header_bytes);
    let head_bytes = &buf[..head.head_len];
    assert!(head_bytes.ends_with(b"\r\n\r\n"), "a head ends with an empty line");
    assert!(
        head_bytes
            .iter()
            .enumerate()
            .all(|(i, &b)| b != b'\n' || (i > 0 && head_bytes[i - 1] == b'\r')),
        "a bare LF in an accepted head"
    );
    assert!(!head.method.is_empty() && is_within(head_bytes, head.method.as_bytes()));
    assert!(is_within(head_bytes, head.target) && !head.target.is_empty());
    assert!(head.target.iter().all(|&b| (0x21..=0x7e).contains(&b) && b != b'#'));
    // The path is the target's, except the `/` supplied for `http://host` without one.
    assert!(is_within(head.target, head.path) || head.path == b"/");
    assert!(is_within(head.target, head.query));
    assert!(head.headers.len() <= limits.max_headers.min(SLOTS));
    for h in head.headers {
        assert!(is_within(head_bytes, h.name.as_bytes()) && is_within(head_bytes, h.value));
    }
    if let Some(host) = head.host {
        assert!(is_within(head_bytes, host) && !host.is_empty());
    }
    match head.version {
        Version::Http11 => assert!(head.host.is_some(), "HTTP/1.1 without a host"),
        Version::Http10 => assert!(!head.expect_continue),
    }
    let named = |name: &str| -> Vec<&[u8]> {
        head.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    assert!(named("host").len() <= 1);

    // Framing agrees with the field lines.
    let has_te = !named("transfer-encoding").is_empty();
    let lengths: Vec<Option<u64>> = named("content-length").into_iter().map(parse_content_length).collect();
    match head.framing {
        Framing::Chunked => {
            assert!(has_te && lengths.is_empty() && head.version == Version::Http11);
        }
        Framing::Length(n) => {
            assert!(!has_te && !lengths.is_empty() && n <= limits.max_body);
            assert!(
                lengths.iter().all(|&l| l == Some(n)),
                "Length({n}) but fields say {lengths:?}"
            );
        }
        Framing::None => assert!(!has_te && lengths.is_empty()),
    }
    let has_content = matches!(head.framing, Framing::Chunked | Framing::Length(1..));
    if head.expect_continue {
        assert!(has_content && head.version == Version::Http11);
    }
    if head.version == Version::Http10 && named("connection").is_empty() {
        assert!(!head.keep_alive);
    }

    // The body decoder the connection would start never reads past the body.
    let rest = &buf[head.head_len..];
    let mut decoder = BodyDecoder::for_framing(head.framing);
    let mut out = Vec::new();
    if let Ok(progress) = decoder.decode(rest, &mut out, limits) {
        assert!(progress.consumed <= rest.len());
        assert!(out.len() <= progress.consumed && out.len() as u64 <= limits.max_body);
    }
}
