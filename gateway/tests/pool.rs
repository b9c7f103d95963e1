//! End-to-end: the app thread pool (`--threads`), request bodies spilled to disk, and the
//! per-request `--timeout` of pooled calls, over a real `nsgi-gateway` process.

use nsgi_testkit::{Gateway, compile_c_app, read_response, sample_library};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn sleepy() -> PathBuf {
    compile_c_app(
        "sleepy",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/sleepy.c"),
    )
}

/// A single-process gateway serving `library` with extra `flags`.
fn serve(library: &Path, flags: &[&str]) -> Gateway {
    let mut args: Vec<&std::ffi::OsStr> = vec![library.as_os_str(), "--workers".as_ref(), "0".as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    Gateway::start(gateway_binary(), args)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

#[test]
fn a_blocked_app_call_does_not_stall_other_connections() {
    let gateway = serve(&sleepy(), &["--threads", "2"]);
    let mut slow = gateway.connect();
    slow.write_all(&get("/sleep?2000")).expect("send");
    // While the slow call sleeps in one pool thread, another connection is answered.
    for _ in 0..5 {
        let response = gateway.request(&get("/fast"));
        assert_eq!(response.body, b"ok");
    }
    // The slow response has not come yet (it sleeps 2 s): a short read finds nothing.
    slow.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let mut byte = [0u8; 1];
    match slow.read(&mut byte) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the slow response came before the fast ones were all served: {other:?}"),
    }
    slow.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let response = read_response(&mut BufReader::new(slow), false);
    assert_eq!(response.body, b"slept");
}

#[test]
fn pooled_responses_keep_pipelined_order() {
    let gateway = serve(&sample_library("echo"), &["--threads", "4"]);
    let mut stream = gateway.connect();
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend_from_slice(format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n{i:04}").as_bytes());
    }
    stream.write_all(&batch).expect("send");
    let mut reader = BufReader::new(stream);
    for i in 0..20 {
        let response = read_response(&mut reader, false);
        assert_eq!(response.body, format!("{i:04}").as_bytes(), "response {i} in order");
    }
}

#[test]
fn a_large_body_spills_to_disk_and_reaches_the_app_whole() {
    let spill = std::env::temp_dir().join(format!("nsgi-spill-test-{}", std::process::id()));
    std::fs::create_dir_all(&spill).expect("spill dir");
    let spill_dir = spill.to_str().expect("a UTF-8 temp dir");
    for threads in ["0", "2"] {
        let flags = [
            "--threads",
            threads,
            "--body-buffer-size",
            "65536",
            "--spill-dir",
            spill_dir,
        ];
        let gateway = serve(&sample_library("echo"), &flags);
        let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let mut stream = gateway.connect();
        let head = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        stream.write_all(head.as_bytes()).expect("head");
        let mut writer = stream.try_clone().expect("clone");
        let sent = body.clone();
        let sender = std::thread::spawn(move || {
            for piece in sent.chunks(100_000) {
                writer.write_all(piece).expect("body piece");
            }
        });
        let response = read_response(&mut BufReader::new(stream), false);
        sender.join().expect("sender");
        assert_eq!(response.status, 200, "threads={threads}");
        assert!(response.body == body, "threads={threads}: the echoed body differs");
        // Chunked too, with the same content.
        let stream = gateway.connect();
        let mut request = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in body.chunks(50_000) {
            request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            request.extend_from_slice(piece);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        let mut writer = stream.try_clone().expect("clone");
        let sender = std::thread::spawn(move || writer.write_all(&request).expect("send"));
        let response = read_response(&mut BufReader::new(stream), false);
        sender.join().expect("sender");
        assert!(response.body == body, "threads={threads}: the chunked body differs");
    }
    let left: Vec<_> = std::fs::read_dir(&spill).expect("list").collect();
    assert!(left.is_empty(), "spill files are unlinked: {left:?}");
    let _ = std::fs::remove_dir(&spill);
}

#[test]
fn a_pooled_request_past_the_timeout_gets_503_and_others_are_served() {
    let scratch = nsgi_testkit::Scratch::new("pool-503");
    let log = scratch.path("access.log");
    let log_arg = log.to_str().expect("a UTF-8 path");
    let gateway = serve(
        &sleepy(),
        &["--threads", "2", "--timeout", "1", "--access-log", log_arg],
    );
    let mut slow = gateway.connect();
    slow.write_all(&get("/sleep?4000")).expect("send");
    let response = read_response(&mut BufReader::new(slow), false);
    assert_eq!(response.status, 503);
    assert_eq!(response.header("Connection"), Some("close"));
    gateway.wait_for_log("past --timeout");
    assert_eq!(gateway.request(&get("/fast")).body, b"ok");
    // The 503 is in the access log like every response the gateway makes itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text
            .lines()
            .any(|line| line.contains("\"/fast\"") || line.contains("GET /fast"))
        {
            let refused: Vec<&str> = text.lines().filter(|line| line.contains("\" 503 ")).collect();
            assert_eq!(refused.len(), 1, "{text}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no access log lines: {text}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn multithread_and_multiprocess_flags_are_truthful() {
    let cases = [
        (["--workers", "0", "--threads", "0"], "multithread=0 multiprocess=0"),
        (["--workers", "0", "--threads", "4"], "multithread=1 multiprocess=0"),
        (["--workers", "2", "--threads", "0"], "multithread=0 multiprocess=1"),
        (["--workers", "2", "--threads", "3"], "multithread=1 multiprocess=1"),
    ];
    let library = sleepy();
    for (flags, expected) in cases {
        let mut args: Vec<&std::ffi::OsStr> = vec![library.as_os_str()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        let gateway = Gateway::start(gateway_binary(), args);
        assert_eq!(gateway.request(&get("/flags")).text(), expected, "{flags:?}");
    }
}

#[test]
fn a_large_pooled_response_streams_and_a_reader_that_stalls_frees_its_thread() {
    let gateway = serve(&sleepy(), &["--threads", "1", "--send-timeout", "1"]);
    // A whole 16 MiB streamed response arrives intact.
    let mut stream = gateway.connect();
    stream.write_all(&get("/stream?256")).expect("send");
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.body.len(), 256 * 64 * 1024);
    assert!(response.body.iter().all(|&b| b == b'x'));

    // A client that reads a little of a 64 MiB response, then stops reading: the only pool
    // thread waits while the response streams, until the send timeout cuts the client off.
    let mut stalled = gateway.connect();
    stalled.write_all(&get("/stream?1024")).expect("send");
    let mut first = [0u8; 16];
    stalled.read_exact(&mut first).expect("the response starts streaming");
    assert!(first.starts_with(b"HTTP/1.1 200"), "{first:?}");
    // The thread comes free once the stalled client is cut off: the next request is answered.
    let response = gateway.request(&get("/fast"));
    assert_eq!(response.body, b"ok");
    gateway.wait_for_log("send timeout during a streamed response");
}
