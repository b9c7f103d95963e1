//! Writes the seed corpora under `fuzz/corpus/<target>/` from the cases the test suites use.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.
//! It reads every Rust byte-string literal (`b"..."`) in the HTTP tests — the strict-HTTP
//! integration cases and the unit tests beside the parser and the decoder — and keeps those that
//! look like a request head, a header line or a chunked body, each behind the two control bytes
//! the targets expect. The host-ABI seeds are short scripts written out here. Existing seeds are
//! overwritten (a seed's file name is a hash of its content), so running it twice changes nothing.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Files whose byte-string literals seed the HTTP targets.
const SOURCES: [&str; 4] = [
    "gateway/tests/strict_http.rs",
    "gateway/tests/serve.rs",
    "gateway/src/http/parse.rs",
    "gateway/src/http/decode.rs",
];

fn main() -> std::io::Result<()> {
    let mut heads = BTreeSet::new();
    let mut bodies = BTreeSet::new();
    for source in SOURCES {
        let text = fs::read_to_string(source)?;
        for literal in byte_literals(&text) {
            if starts_like_request(&literal) {
                heads.insert(literal);
            } else if literal.first().is_some_and(u8::is_ascii_hexdigit) && literal.windows(2).any(|w| w == b"\r\n") {
                bodies.insert(literal);
            } else if literal.ends_with(b"\r\n") && literal.contains(&b':') {
                // A header line: put it in a request of its own.
                let mut raw = b"POST / HTTP/1.1\r\nHost: t\r\n".to_vec();
                raw.extend_from_slice(&literal);
                raw.extend_from_slice(b"\r\n");
                heads.insert(raw);
            }
        }
    }
    // Control bytes: default limits, and one read each of the split seeds below.
    write_all(
        "request_head",
        heads
            .iter()
            .flat_map(|h| [[0u8, 0], [0, 9]].map(|c| [&c[..], h].concat())),
    )?;
    let chunked = bodies
        .iter()
        .flat_map(|b| [[0u8, 0], [0, 17]].map(|c| [&c[..], b].concat()))
        .chain([b"\x01\x05hello, world".to_vec(), b"\x01\x00".to_vec()]);
    write_all("chunked_decoder", chunked)?;
    write_all("host_abi", host_scripts().into_iter())?;
    write_all("uwsgi_packet", uwsgi_packets().into_iter())?;
    println!("seeded {} heads, {} chunked bodies", heads.len(), bodies.len());
    Ok(())
}

/// uwsgi packets, behind the two control bytes of `fuzz_targets/uwsgi_packet.rs` (default
/// limits, and one split seed): what nginx sends, a body after the packet, and a few refusals.
fn uwsgi_packets() -> Vec<Vec<u8>> {
    use nsgi_testkit::uwsgi_packet as packet;
    let nginx = [
        ("QUERY_STRING", "a=1"),
        ("REQUEST_METHOD", "GET"),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", "/app/x?a=1"),
        ("PATH_INFO", "/app/x"),
        ("SCRIPT_NAME", "/app"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "https"),
        ("HTTPS", "on"),
        ("REMOTE_ADDR", "203.0.113.9"),
        ("REMOTE_PORT", "51234"),
        ("SERVER_PORT", "443"),
        ("SERVER_NAME", "example.com"),
        ("HTTP_HOST", "example.com"),
        ("HTTP_USER_AGENT", "curl/8"),
    ];
    let mut post = packet(
        0,
        &[
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/"),
            ("CONTENT_LENGTH", "5"),
            ("HTTP_TRANSFER_ENCODING", "chunked"),
        ],
    );
    post.extend_from_slice(b"hello");
    let seeds = [
        packet(0, &nginx),
        post,
        packet(0, &[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/a b"), ("QUERY_STRING", "q")]),
        packet(5, &nginx),
        packet(0, &[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_X", "a\r\nb")]),
        packet(0, &[("REQUEST_METHOD", "GET"), ("REQUEST_METHOD", "PUT"), ("REQUEST_URI", "/")]),
        b"\x00\x10\x00\x00\x0e\x00REQUEST_METHOD\xff\xff".to_vec(),
    ];
    seeds
        .iter()
        .flat_map(|p| [[0u8, 0], [0, 9]].map(|c| [&c[..], p].concat()))
        .collect()
}

/// Host-ABI scripts (the byte layout is the one `fuzz_targets/host_abi.rs` reads).
fn host_scripts() -> Vec<Vec<u8>> {
    vec![
        // Raw app: start_response("200 OK"), a body of "hello", then the end.
        vec![
            0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0, 0, 0, 0,
        ],
        // Raw app: start_response with a Content-Length: 5 header and a NULL header array
        // behind a count, then write() with a NULL pointer and a length.
        vec![0, 0, 1, 0, 0, 1, 2, 2, 0, 0, 1, 8, 0, 0, 0, 0, 2, 1, 0, 9, 0, 0, 0],
        // SDK app: "200 OK", Content-Length: 5, write "he", body "llo".
        vec![1, 0, 0, 0, 1, 2, 1, 2, b'h', b'e', 1, 3, b'l', b'l', b'o'],
        // SDK app: a garbage status line.
        vec![1, 0, 1, 4, b'2', b'0', b'0', b'\n', 0, 0, 0],
    ]
}

fn write_all(target: &str, seeds: impl Iterator<Item = Vec<u8>>) -> std::io::Result<()> {
    let dir = Path::new("fuzz/corpus").join(target);
    fs::create_dir_all(&dir)?;
    for seed in seeds {
        fs::write(dir.join(format!("seed-{:016x}", fnv1a(&seed))), &seed)?;
    }
    Ok(())
}

/// FNV-1a, for stable file names.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `GET / HTTP/1.1...`-like: an upper-case token, a space, then a line break somewhere.
fn starts_like_request(bytes: &[u8]) -> bool {
    let token = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    token > 0 && bytes.get(token) == Some(&b' ') && bytes.contains(&b'\n')
}

/// The decoded contents of every `b"..."` literal in `text` (raw strings are skipped).
fn byte_literals(text: &str) -> Vec<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        let starts = bytes[i] == b'b'
            && bytes[i + 1] == b'"'
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if !starts {
            i += 1;
            continue;
        }
        i += 2;
        let mut out = Vec::new();
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                i += 1;
                match bytes[i] {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'0' => out.push(0),
                    b'x' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                        out.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                        i += 2;
                    }
                    b'\n' => {
                        // A line continuation: skip the newline and the indentation after it.
                        while i + 1 < bytes.len() && bytes[i + 1].is_ascii_whitespace() {
                            i += 1;
                        }
                    }
                    other => out.push(other),
                }
            } else {
                out.push(bytes[i]);
            }
            i += 1;
        }
        i += 1;
        found.push(out);
    }
    found
}
