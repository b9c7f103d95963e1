//! End-to-end: a request handle is good only for its own request, on the thread serving it, until
//! its body's `close` returns (docs/abi.md §6, §12). The C app of `tests/apps/stale_handle.c`
//! keeps its handle in a global and uses it later; the gateway must refuse every such use with
//! `NSGI_E_STATE` (`NSGI_E_INVAL` for NULL), and `--validate` must name it as N8.

use nsgi_testkit::{Gateway, compile_c_app, read_response};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn stale_handle_app() -> PathBuf {
    compile_c_app(
        "stale_handle",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/stale_handle.c"),
    )
}

/// A single-process gateway serving the app with extra `flags`.
fn serve(flags: &[&str]) -> Gateway {
    let library = stale_handle_app();
    let mut args: Vec<&std::ffi::OsStr> = vec![library.as_os_str(), "--workers".as_ref(), "0".as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    Gateway::start(gateway_binary(), args)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// `/hold` runs on one pool thread and keeps its handle; `/use-held` runs on another while
/// `/hold` is still live and looks up PATH_INFO through that handle. Returns both responses.
fn use_a_live_handle_from_another_thread(gateway: &Gateway) -> (nsgi_testkit::Response, nsgi_testkit::Response) {
    let mut hold = gateway.connect();
    hold.write_all(&get("/hold")).expect("send /hold");
    let used = gateway.request(&get("/use-held"));
    let held = read_response(&mut BufReader::new(hold), false);
    (held, used)
}

#[test]
fn a_live_handle_is_refused_on_another_requests_thread() {
    let gateway = serve(&["--threads", "4"]);
    let (held, used) = use_a_live_handle_from_another_thread(&gateway);
    assert_eq!(held.text(), "held");
    assert_eq!(
        (used.status, used.text().as_str()),
        (200, "status=-2"),
        "NSGI_E_STATE, not the other request's PATH_INFO"
    );
    gateway.wait_for_log("environ_get got a request handle that is not the request this thread is serving");
}

#[test]
fn a_handle_kept_past_close_is_refused_when_its_slot_is_reused() {
    let gateway = serve(&[]);
    // One connection: the second request reuses the first one's per-connection state.
    let mut stream = gateway.connect();
    stream.write_all(&get("/stash")).expect("send /stash");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    assert_eq!(read_response(&mut reader, false).text(), "stashed");
    for _ in 0..3 {
        stream.write_all(&get("/use-stale")).expect("send /use-stale");
        let response = read_response(&mut reader, false);
        assert_eq!((response.status, response.text().as_str()), (200, "status=-2"));
    }
}

#[test]
fn a_null_handle_is_an_invalid_argument() {
    let gateway = serve(&[]);
    let response = gateway.request(&get("/null"));
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "status=-1"),
        "NSGI_E_INVAL"
    );
    gateway.wait_for_log("environ_get got a NULL request handle");
}

#[test]
fn validate_reports_a_misused_handle_as_n8() {
    let gateway = serve(&["--threads", "4", "--validate"]);
    gateway.wait_for_log("validating app \"stale_handle\"");
    let (held, used) = use_a_live_handle_from_another_thread(&gateway);
    assert_eq!(held.status, 200, "the request whose handle was misused is not harmed");
    assert_eq!(used.status, 500, "an error finding before the head went out");
    let log = gateway.wait_for_log("GET /use-held: app stale_handle: N8 error");
    assert!(
        log.contains("N8 error: environ_get got a request handle that is not the request this thread is serving"),
        "{log}"
    );

    let stash = gateway.request(&get("/stash"));
    assert_eq!(stash.status, 200);
    let stale = gateway.request(&get("/use-stale"));
    assert_eq!(stale.status, 500);
    gateway.wait_for_log("GET /use-stale: app stale_handle: N8 error");

    let null = gateway.request(&get("/null"));
    assert_eq!(null.status, 500);
    gateway.wait_for_log("GET /null: app stale_handle: N8 error: environ_get got a NULL request handle");
}
