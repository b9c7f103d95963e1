//! End-to-end: `nsgi-gateway --validate` runs the app inside the conformance Validator, logs each
//! rule the app breaks with its check id, and answers 500 where the app broke a fatal rule —
//! including rules the host alone repairs without failing the response.

use nsgi_testkit::{Gateway, compile_c_app, sample_library};
use std::path::Path;

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn sloppy_library() -> std::path::PathBuf {
    compile_c_app(
        "sloppy",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/sloppy.c"),
    )
}

fn get(gateway: &Gateway, path: &str) -> nsgi_testkit::Response {
    gateway.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

#[test]
fn without_validate_the_host_repairs_a_refused_start_response() {
    let gateway = Gateway::start(gateway_binary(), [sloppy_library()]);
    let response = get(&gateway, "/retry");
    assert_eq!((response.status, response.body.as_slice()), (200, &b"fine\n"[..]));
    assert!(!gateway.stderr().contains("C44"), "{}", gateway.stderr());
}

#[test]
fn validate_logs_findings_with_their_ids_and_answers_500() {
    let library = sloppy_library();
    let gateway = Gateway::start(gateway_binary(), [library.as_os_str(), "--validate".as_ref()]);
    gateway.wait_for_log("validating app \"sloppy\"");

    let good = get(&gateway, "/ok");
    assert_eq!((good.status, good.body.as_slice()), (200, &b"fine\n"[..]));

    // A rule the host repairs on its own: only the validator fails the response.
    let retry = get(&gateway, "/retry");
    assert_eq!(retry.status, 500, "a fatal finding before the head went out");
    let log = gateway.wait_for_log("C44 error");
    let line = log.lines().find(|l| l.contains("C44 error")).expect("the C44 line");
    assert!(
        line.contains("GET /retry: app sloppy: C44 error: status \"20 OK\""),
        "{line}"
    );
    assert!(line.contains("ERROR"), "logged at error level: {line}");

    // A rule the host enforces too: still a 500, now with the check id in the log.
    let twice = get(&gateway, "/twice");
    assert_eq!(twice.status, 500);
    gateway.wait_for_log("GET /twice: app sloppy: C39 error: start_response called a second time without exc_info");

    let again = get(&gateway, "/ok");
    assert_eq!(again.status, 200);
    // One error line per violation: the validator's, with its check id.
    let errors_for_twice = gateway
        .stderr()
        .lines()
        .filter(|line| line.contains("ERROR") && line.contains("GET /twice"))
        .count();
    assert_eq!(errors_for_twice, 1, "{}", gateway.stderr());

    let again = get(&gateway, "/ok");
    assert_eq!(again.status, 200, "the server goes on serving");
    assert!(
        !gateway.stderr().contains("GET /ok: app sloppy: "),
        "no finding for good requests"
    );
}

#[test]
fn validate_passes_a_good_app_through_unchanged() {
    let gateway = Gateway::start(
        gateway_binary(),
        [sample_library("hello").as_os_str(), "--validate".as_ref()],
    );
    let response = get(&gateway, "/");
    assert_eq!(
        (response.status, response.body.as_slice()),
        (200, &b"Hello, World!"[..])
    );
    assert!(!gateway.stderr().contains(" error: "), "{}", gateway.stderr());
}

#[test]
fn validate_answers_500_to_every_error_found_before_the_head_went_out() {
    let library = compile_c_app(
        "hostile",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/hostile.c"),
    );
    // A 204 with a body: the host drops the body, so a plain gateway sends the 204.
    let plain = Gateway::start(gateway_binary(), [&library]);
    assert_eq!(get(&plain, "/no-content").status, 204);

    // Under --validate the C68 error is found with the head, before it goes out: a 500, the same
    // treatment as a fatal C67.
    let gateway = Gateway::start(gateway_binary(), [library.as_os_str(), "--validate".as_ref()]);
    let response = get(&gateway, "/no-content");
    assert_eq!(response.status, 500, "{}", gateway.stderr());
    gateway.wait_for_log("GET /no-content: app hostile: C68 error: a 204 response produced");
    assert_eq!(get(&gateway, "/ok").status, 200, "the server goes on serving");
}
