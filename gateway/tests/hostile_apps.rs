//! End-to-end: defects that hostile or careless apps exposed (issue #9), over real sockets in
//! each way the gateway calls apps (inline, `--threads 2`, `--validate`).
//!
//! - An app that answers `HEAD` with the head of its `GET` (Content-Length included) and fewer
//!   or no body bytes is correct (RFC 9110 §9.3.2, §8.6): the gateway passes its head through.
//! - The gateway's own error responses to `HEAD` carry no body (RFC 9110 §9.3.2).
//! - A response head past `--limit-response-headers` / `--limit-response-head` is refused by
//!   the host, answered 500, and logged with the limit.

use nsgi_testkit::{Gateway, compile_c_app, read_response};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn hostile_library() -> PathBuf {
    compile_c_app(
        "hostile",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/hostile.c"),
    )
}

/// The three ways of calling the app, as extra flags.
const MODES: [&[&str]; 3] = [&[], &["--threads", "2"], &["--validate"]];

fn start(mode: &[&str]) -> Gateway {
    let library = hostile_library();
    let mut args = vec![library.to_string_lossy().into_owned()];
    args.extend(mode.iter().map(|flag| (*flag).to_owned()));
    Gateway::start(gateway_binary(), args)
}

/// Sends `raw` on a fresh connection and returns the HEAD response, then checks that nothing
/// follows it on the connection before a second request is answered.
fn head_then_get(gateway: &Gateway, path: &str) -> (nsgi_testkit::Response, nsgi_testkit::Response) {
    let mut stream = gateway.connect();
    let request = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\nGET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut reader = BufReader::new(stream);
    let head = read_response(&mut reader, true);
    // A body after the HEAD response would be read here as the next status line.
    let get = read_response(&mut reader, false);
    (head, get)
}

#[test]
fn head_with_the_get_content_length_and_no_body_is_passed_through_in_every_mode() {
    for mode in MODES {
        let gateway = start(mode);
        for path in ["/head", "/head-short", "/head-long"] {
            let (head, get) = head_then_get(&gateway, path);
            assert_eq!(head.status, 200, "{mode:?} HEAD {path}\n{}", gateway.stderr());
            assert_eq!(head.header("Content-Length"), Some("5"), "{mode:?} HEAD {path}");
            assert_eq!(head.header("Content-Type"), Some("text/plain"), "{mode:?} HEAD {path}");
            assert_eq!(
                (get.status, get.body.as_slice()),
                (200, &b"fine\n"[..]),
                "{mode:?} GET {path} after the HEAD: nothing came between them"
            );
        }
        let log = gateway.stderr();
        assert!(!log.contains("ERROR"), "{mode:?}: no error logged\n{log}");
        assert!(!log.contains("C67"), "{mode:?}: no C67 finding\n{log}");
        assert!(!log.contains("WARN"), "{mode:?}: nothing to warn about\n{log}");
    }
}

/// Everything the gateway sends on one connection for `raw` (the error responses close it).
fn until_close(gateway: &Gateway, raw: &[u8]) -> String {
    String::from_utf8_lossy(&gateway.exchange_until_close(raw)).into_owned()
}

/// A canned error to HEAD: the head a GET would get (status, Content-Length of the text that
/// is left out, Connection: close), and not one byte after it.
fn assert_bodiless_error(response: &str, status: &str, what: &str) {
    assert!(
        response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
        "{what}: {response:?}"
    );
    assert!(response.contains("\r\nContent-Length: "), "{what}: {response:?}");
    assert!(response.contains("\r\nConnection: close\r\n"), "{what}: {response:?}");
    assert!(
        response.ends_with("\r\n\r\n"),
        "{what}: a body followed the head: {response:?}"
    );
    assert_eq!(response.matches("\r\n\r\n").count(), 1, "{what}: {response:?}");
}

#[test]
fn the_gateways_own_errors_to_head_carry_no_body() {
    let library = hostile_library();
    let mount = format!("/app={}", library.display());
    for mode in MODES {
        let mut args = vec![
            "--mount",
            &mount,
            "--max-body-size",
            "10",
            "--limit-request-head",
            "1024",
        ];
        args.extend_from_slice(mode);
        let gateway = Gateway::start(gateway_binary(), args);

        let not_found = until_close(&gateway, b"HEAD /elsewhere HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_bodiless_error(&not_found, "404 Not Found", "404");

        let app_failed = until_close(&gateway, b"HEAD /app/many-headers HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_bodiless_error(&app_failed, "500 Internal Server Error", "500");

        let big_head = format!(
            "HEAD /app/head HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
            "a".repeat(2000)
        );
        let too_large_head = until_close(&gateway, big_head.as_bytes());
        assert_bodiless_error(&too_large_head, "431 Request Header Fields Too Large", "431");

        let too_large_body = until_close(
            &gateway,
            b"HEAD /app/head HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n",
        );
        assert_bodiless_error(&too_large_body, "413 Content Too Large", "413");

        // The same errors to GET still carry their text.
        let get_not_found = until_close(&gateway, b"GET /elsewhere HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(get_not_found.ends_with("\r\n\r\nNot Found\n"), "{get_not_found:?}");
    }
}

#[test]
fn a_response_head_past_the_limits_is_a_500_naming_the_limit() {
    for mode in MODES {
        let gateway = start(mode);
        let response = gateway.request(b"GET /many-headers HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(response.status, 500, "{mode:?}");
        let log = gateway.wait_for_log("1000000 headers");
        assert!(
            log.contains("limit of 256 headers"),
            "{mode:?}: the log names the limit\n{log}"
        );
        let after = gateway.request(b"GET /head HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(after.status, 200, "{mode:?}: the gateway goes on serving");
    }

    // The limits are settings: with room for the headers, the same app goes out.
    let library = hostile_library();
    let gateway = Gateway::start(
        gateway_binary(),
        [
            library.as_os_str(),
            "--limit-response-headers".as_ref(),
            "1000000".as_ref(),
            "--limit-response-head".as_ref(),
            "20000000".as_ref(),
        ],
    );
    let response = gateway.request(b"GET /many-headers HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header_count("X-Filler"), 1_000_000);

    // A head smaller in count but larger in bytes than allowed.
    let gateway = Gateway::start(
        gateway_binary(),
        [
            library.as_os_str(),
            "--limit-response-headers".as_ref(),
            "2000000".as_ref(),
            "--limit-response-head".as_ref(),
            "4096".as_ref(),
        ],
    );
    let response = gateway.request(b"GET /many-headers HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 500);
    gateway.wait_for_log("limit of 4096 bytes");
}
