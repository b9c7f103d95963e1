//! Each check of the Validator against a C app written against `nsgi.h` alone
//! (`tests/apps/violations.c`), in which every path breaks exactly one rule: the path must be
//! reported under that rule's id, and the good paths under none.

use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, RequestSlot, Step};
use nsgi_conformance::{Finding, Severity, Validator};
use std::path::Path;
use std::sync::{Arc, OnceLock};

fn app() -> &'static (AppInstance, Arc<Validator>) {
    static APP: OnceLock<(AppInstance, Arc<Validator>)> = OnceLock::new();
    APP.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/violations.c");
        let library = nsgi_testkit::compile_c_app("conformance_violations", &source);
        let module = AppModule::load(&library).expect("the fixture loads");
        let validator = Arc::new(Validator::new());
        let app = AppInstance::init_observed(&module, &InitOptions::default(), validator.clone()).expect("init");
        (app, validator)
    })
}

/// How far the test pulls the response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pull {
    All,
    FirstStep,
}

/// Sends one request to the fixture and returns its findings.
fn send(method: &str, path: &str, pull: Pull) -> Vec<Finding> {
    let (app, validator) = app();
    let mut slot = RequestSlot::new();
    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", method.as_bytes());
    environ.push(b"PATH_INFO", path.as_bytes());
    environ.push(b"QUERY_STRING", b"");
    environ.push_http_header(b"Connection", b"keep-alive");
    let mut input: &[u8] = b"";
    let mut errors = std::io::sink();
    let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    let id = exchange.request_id();
    exchange.drain_past_content_length(true);
    loop {
        match exchange.next_step() {
            Ok(Step::Head { end: false, .. }) if pull == Pull::FirstStep => break,
            Ok(Step::Head { end: true, .. } | Step::End) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(exchange);
    validator.take_findings(id)
}

fn ids(findings: &[Finding], severity: Severity) -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.check.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn errors(path: &str) -> Vec<&'static str> {
    ids(&send("GET", path, Pull::All), Severity::Error)
}

fn warnings(path: &str) -> Vec<&'static str> {
    ids(&send("GET", path, Pull::All), Severity::Warning)
}

#[test]
fn good_paths_have_no_findings() {
    for path in ["/ok", "/lazy", "/many", "/exc-before", "/exc-after-abort"] {
        let findings = send("GET", path, Pull::All);
        assert!(findings.is_empty(), "{path}: {findings:?}");
    }
}

#[test]
fn early_stop_closes_once_and_is_clean() {
    for path in ["/many", "/ok", "/lazy"] {
        let findings = send("GET", path, Pull::FirstStep);
        assert!(findings.is_empty(), "{path}: {findings:?}");
    }
}

#[test]
fn start_response_rules() {
    assert_eq!(errors("/twice"), ["C39"]);
    assert_eq!(
        errors("/retry-after-refusal"),
        ["C45"],
        "a refused call may be retried without exc_info"
    );
    assert_eq!(errors("/no-start"), ["C41"]);
    assert_eq!(errors("/chunk-before-start"), ["C40", "C41"]);
    assert_eq!(errors("/exc-small"), ["C77"]);
    assert_eq!(errors("/exc-after-carry-on"), ["C80"]);
    assert_eq!(errors("/exc-then-done"), ["C80"], "NSGI_DONE is not an abort");
    assert_eq!(
        errors("/exc-in-call-carry-on"),
        ["C80"],
        "call must fail after NSGI_E_HEADERS_SENT"
    );
    assert_eq!(errors("/start-in-close"), ["N8"]);
}

#[test]
fn status_rules() {
    assert_eq!(errors("/status-code"), ["C44"]);
    assert_eq!(errors("/status-shape"), ["C45"]);
    assert_eq!(errors("/status-crlf"), ["C46"]);
    assert_eq!(errors("/status-999"), ["C44"]);
}

#[test]
fn header_rules() {
    assert_eq!(errors("/null-headers"), ["C48"]);
    assert_eq!(errors("/status-header"), ["C50"]);
    assert_eq!(errors("/bad-name"), ["C51"]);
    assert_eq!(errors("/crlf-value"), ["C52"]);
    assert_eq!(errors("/crlf-name"), ["C51", "C52"]);
    assert_eq!(errors("/hop"), ["C53"]);
    assert_eq!(errors("/te"), ["C53", "C54"]);
    assert_eq!(errors("/bad-length"), ["C67"]);
}

#[test]
fn advisory_header_rules_are_warnings() {
    assert_eq!(warnings("/no-type"), ["C55"]);
    assert_eq!(warnings("/204-type"), ["C56"]);
    assert_eq!(warnings("/204-length"), ["C57"]);
    assert_eq!(warnings("/304-entity"), ["C58"]);
    assert_eq!(warnings("/etag"), ["C59"]);
    assert_eq!(warnings("/location"), ["C60"]);
    for path in [
        "/no-type",
        "/204-type",
        "/204-length",
        "/304-entity",
        "/etag",
        "/location",
    ] {
        assert_eq!(errors(path), Vec::<&str>::new(), "{path}");
    }
}

#[test]
fn body_rules() {
    assert_eq!(errors("/null-body"), ["C63"]);
    assert_eq!(errors("/no-close"), ["N7"]);
    assert_eq!(errors("/short"), ["C67"]);
    assert_eq!(
        errors("/long"),
        ["C67"],
        "excess in a separate chunk is seen by draining"
    );
    assert_eq!(errors("/long-write"), ["C67"], "write() counts towards Content-Length");
    assert_eq!(errors("/endless"), ["C67"], "draining stops on an endless body");
    assert_eq!(errors("/204-body"), ["C68"]);
    assert_eq!(errors("/1xx-body"), ["C68"]);
    assert_eq!(errors("/null-chunk"), ["N3"]);
    assert_eq!(errors("/next-error"), ["N4"]);
    assert_eq!(errors("/next-positive"), ["N4"]);
    assert_eq!(errors("/next-panic"), ["N2"]);
    assert_eq!(errors("/call-error"), ["N5"]);
    assert_eq!(errors("/call-panic"), ["N1"]);
    let head = send("HEAD", "/ok", Pull::All);
    assert_eq!(ids(&head, Severity::Info), ["C69"]);
    assert_eq!(ids(&head, Severity::Error), Vec::<&str>::new());
}

#[test]
fn write_and_request_function_rules() {
    assert_eq!(errors("/write-before"), ["C84"]);
    assert_eq!(errors("/write-in-next"), ["C85"]);
    assert_eq!(errors("/write-in-close"), ["C85"]);
    assert_eq!(errors("/write-null"), ["C83"]);
    assert_eq!(errors("/errors-null"), ["C32"]);
    assert_eq!(errors("/read-null"), ["N8"]);
    let write = send("GET", "/write", Pull::All);
    assert_eq!(
        (ids(&write, Severity::Info), ids(&write, Severity::Error)),
        (vec!["C88"], vec![])
    );
    let hop = send("GET", "/hop-read", Pull::All);
    assert_eq!(
        (ids(&hop, Severity::Info), ids(&hop, Severity::Error)),
        (vec!["C104"], vec![])
    );
}

#[test]
fn findings_name_their_request_and_fatal_ones_are_visible_early() {
    let (app, validator) = app();
    let mut slot = RequestSlot::new();
    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", b"POST");
    environ.push(b"PATH_INFO", b"/twice");
    environ.push(b"QUERY_STRING", b"x=1");
    let mut input: &[u8] = b"";
    let mut errors = std::io::sink();
    let exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    let id = exchange.request_id();
    validator.set_scenario(id, "unit");
    let fatal = validator
        .fatal_finding(id)
        .expect("C39 is known as soon as call returns");
    assert_eq!(fatal.check.as_str(), "C39");
    drop(exchange);
    let findings = validator.take_findings(id);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(
        findings[0].request.as_ref().map(ToString::to_string).as_deref(),
        Some("POST /twice?x=1 (unit)")
    );
    assert!(validator.take_findings(id).is_empty(), "taken once");
}
