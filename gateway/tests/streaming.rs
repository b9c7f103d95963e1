//! End-to-end: responses that stream as they are produced — large and endless bodies of apps
//! called inline (`--threads 0`) and on the pool — with the worker's memory bounded, the body
//! closed once when the client goes, and the drain's `Connection: close` on requests the pool
//! already holds.

use nsgi_testkit::{Gateway, compile_c_app, read_response};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn app(name: &str) -> PathBuf {
    compile_c_app(
        name,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/apps/{name}.c")),
    )
}

/// A single-process gateway (the process is the worker) serving `library` with `flags`.
fn serve(library: &Path, flags: &[&str]) -> Gateway {
    let mut args: Vec<&std::ffi::OsStr> = vec![library.as_os_str(), "--workers".as_ref(), "0".as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    Gateway::start(gateway_binary(), args)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// The resident set size of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}

#[test]
fn a_1_gib_inline_response_to_a_slow_reader_keeps_the_worker_under_32_mib() {
    const MIB: u64 = 1024;
    let gateway = serve(&app("sleepy"), &["--threads", "0"]);
    let mut stream = gateway.connect();
    // 16,384 chunks of 64 KiB: 1 GiB, chunked.
    stream.write_all(&get("/stream?16384")).expect("send");
    let mut buffer = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    let mut peak = 0;
    let mut tail = Vec::new();
    let mut reads = 0u64;
    loop {
        let n = stream.read(&mut buffer).expect("read the response");
        assert!(n > 0, "the response ended early after {received} bytes");
        received += n as u64;
        reads += 1;
        tail.extend_from_slice(&buffer[..n]);
        if tail.len() > 16 {
            tail.drain(..tail.len() - 16);
        }
        // The reader lags: the server's socket is full each time it looks.
        if reads % 256 == 1 {
            peak = peak.max(rss_kib(gateway.pid()));
        }
        if tail.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
    }
    assert!(received > 1024 * 1024 * 1024, "only {received} bytes arrived");
    assert!(peak > 0 && peak < 32 * MIB, "the worker grew to {peak} KiB");
}

#[test]
fn an_endless_inline_body_is_closed_once_when_its_client_goes() {
    let gateway = serve(&app("events"), &["--threads", "0"]);
    let mut events = gateway.connect();
    events.write_all(&get("/events")).expect("send");
    let mut reader = BufReader::new(events);
    let mut seen = 0;
    let mut line = String::new();
    while seen < 100 {
        line.clear();
        std::io::BufRead::read_line(&mut reader, &mut line).expect("read an event line");
        assert!(!line.is_empty(), "the event stream ended");
        if line.contains("data: ") {
            seen += 1;
        }
    }
    drop(reader); // the client goes away mid-stream
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let closes = gateway.request(&get("/closes")).text();
        if closes == "1" {
            break;
        }
        assert_eq!(closes, "0", "the body was closed more than once");
        assert!(Instant::now() < deadline, "the endless body was never closed");
        std::thread::yield_now();
    }
    // Still once, later.
    assert_eq!(gateway.request(&get("/closes")).text(), "1");
    assert_eq!(gateway.request(&get("/opened")).text(), "1");
}

#[test]
fn an_inline_event_stream_does_not_stall_the_worker_for_its_other_clients() {
    let gateway = serve(&app("events"), &["--threads", "0", "--send-timeout", "30"]);
    let mut events = gateway.connect();
    events.write_all(&get("/events")).expect("send");
    let mut first = [0u8; 64];
    events.read_exact(&mut first).expect("the event stream starts");
    // The event client reads no more: its socket fills. Another client is still answered.
    let mut other = gateway.connect();
    other.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    other.write_all(&get("/hello")).expect("send");
    let response = read_response(&mut BufReader::new(other), false);
    assert_eq!(response.body, b"ok");
}

/// Reads a chunked response of `expected` body bytes of `w` from `stream` in small reads,
/// sampling the gateway's VmRSS; returns the peak in KiB.
fn read_written_response(gateway: &Gateway, stream: &mut std::net::TcpStream, expected: u64) -> u64 {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).expect("read the head");
        assert!(!line.is_empty(), "the response ended in its head");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut body: u64 = 0;
    let mut peak = 0;
    let mut chunks = 0u64;
    loop {
        let mut size_line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut size_line).expect("read a chunk size");
        let size = u64::from_str_radix(size_line.trim(), 16).expect("a chunk size");
        let mut rest = vec![0u8; size as usize + 2];
        reader.read_exact(&mut rest).expect("read a chunk");
        if size == 0 {
            break;
        }
        assert!(rest[..size as usize].iter().all(|&b| b == b'w'));
        body += size;
        chunks += 1;
        if chunks % 64 == 1 {
            peak = u64::max(peak, rss_kib(gateway.pid()));
        }
    }
    assert_eq!(body, expected);
    peak
}

#[test]
fn bytes_written_with_write_stream_to_the_client_inline_and_pooled_with_the_worker_small() {
    for threads in ["0", "2"] {
        let gateway = serve(&app("events"), &["--threads", threads]);
        let mut stream = gateway.connect();
        // 100 MiB in 1,600 write() calls.
        stream.write_all(&get("/write?1600")).expect("send");
        let peak = read_written_response(&gateway, &mut stream, 1600 * 64 * 1024);
        assert!(
            peak > 0 && peak < 32 * 1024,
            "--threads {threads}: the worker grew to {peak} KiB"
        );
        assert_eq!(gateway.request(&get("/write-errors")).text(), "0");
    }
}

/// PEP 3333: bytes given to `write()` are sent (or on their way) while the app goes on. The app
/// writes `first`, then waits for a `/release` that this client sends only once it has read
/// `first`; a host that held written bytes until `call` returns would never show it.
#[test]
fn each_write_reaches_the_client_while_the_app_goes_on() {
    let gateway = serve(&app("events"), &["--threads", "2"]);
    let mut paced = gateway.connect();
    paced.write_all(&get("/write-paced")).expect("send");
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(6).any(|w| w == b"first\n") {
        let n = paced
            .read(&mut buf)
            .expect("`first` arrives before the app is released");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        !seen.windows(7).any(|w| w == b"second\n"),
        "not released yet: {}",
        String::from_utf8_lossy(&seen)
    );
    let mut release = gateway.connect();
    release.write_all(&get("/release")).expect("send");
    let response = read_response(&mut BufReader::new(&mut release), false);
    assert_eq!((response.status, response.body.as_slice()), (200, &b"released"[..]));
    while !seen.windows(7).any(|w| w == b"second\n") {
        let n = paced.read(&mut buf).expect("`second` after the release");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn write_answers_nsgi_e_io_once_the_client_is_gone_inline_and_pooled() {
    for threads in ["0", "2"] {
        let gateway = serve(&app("events"), &["--threads", threads]);
        let mut stream = gateway.connect();
        // 64 GiB: never finishes unless write() fails.
        stream.write_all(&get("/write?1048576")).expect("send");
        let mut first = [0u8; 4096];
        stream.read_exact(&mut first).expect("the written response starts");
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let errors = gateway.request(&get("/write-errors")).text();
            if errors == "1" {
                break;
            }
            assert_eq!(errors, "0", "--threads {threads}");
            assert!(
                Instant::now() < deadline,
                "--threads {threads}: write() never reported NSGI_E_IO"
            );
            std::thread::yield_now();
        }
    }
}

#[test]
fn a_request_with_the_pool_when_the_drain_starts_is_answered_with_connection_close() {
    let gateway = serve(&app("sleepy"), &["--threads", "2"]);
    let mut stream = gateway.connect();
    stream.write_all(&get("/fast")).expect("send");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let first = read_response(&mut reader, false);
    assert_eq!(first.body, b"ok");
    assert_eq!(first.header("connection"), None, "kept alive before the drain");
    stream.write_all(&get("/sleep?1500")).expect("send");
    // Give the loop a moment to hand the request to a pool thread before the signal (without
    // it the request may be read after the drain started, which answers `close` as well).
    std::thread::sleep(Duration::from_millis(300));
    gateway.signal("TERM");
    let response = read_response(&mut reader, false);
    assert_eq!(response.body, b"slept");
    assert_eq!(response.header("connection"), Some("close"), "{:?}", response.raw_head);
}

/// A response parked on its slow client holds the requests pipelined behind it on the same
/// connection; they are answered after it, in order, and the access log records the parked
/// response with its whole body once it has ended.
#[test]
fn requests_pipelined_behind_a_parked_response_are_answered_after_it_in_order() {
    let scratch = nsgi_testkit::Scratch::new("parked-pipeline");
    let log = scratch.path("access.log");
    let log_arg = log.to_str().expect("a UTF-8 path");
    let gateway = serve(&app("sleepy"), &["--threads", "0", "--access-log", log_arg]);
    let mut stream = gateway.connect();
    // 512 chunks of 64 KiB (32 MiB, more than loopback's socket buffers hold at their largest),
    // then two small requests.
    stream
        .write_all(b"GET /stream?512 HTTP/1.1\r\nHost: t\r\n\r\nGET /first HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    // The client does not read yet: the response parks. Another client is served meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    let other = gateway.request(&get("/other"));
    assert_eq!(other.text(), "ok");
    let mut reader = BufReader::new(stream);
    let big = read_response(&mut reader, false);
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), 512 * 64 * 1024);
    assert!(big.body.iter().all(|&b| b == b'x'));
    for _ in ["/first", "/second"] {
        let small = read_response(&mut reader, false);
        assert_eq!(small.text(), "ok");
    }
    // The parked response is in the access log with its whole body, after /other.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= 4 || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].contains("\"GET /other HTTP/1.1\" 200 2"), "{lines:?}");
    assert!(
        lines[1].contains(&format!("\"GET /stream?512 HTTP/1.1\" 200 {}", 512 * 64 * 1024)),
        "{lines:?}"
    );
    assert!(lines[2].contains("/first") && lines[3].contains("/second"), "{lines:?}");
}

/// A parked response whose client stops reading ends at `--send-timeout`: its body is closed
/// once and the connection closed, while other clients are served all along.
#[test]
fn a_parked_response_whose_client_stops_reading_ends_at_the_send_timeout() {
    let gateway = serve(&app("events"), &["--threads", "0", "--send-timeout", "1"]);
    let mut events = gateway.connect();
    events.write_all(&get("/events")).expect("send");
    let mut first = [0u8; 64];
    events.read_exact(&mut first).expect("the event stream starts");
    assert_eq!(gateway.request(&get("/opened")).text(), "1");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let closes = gateway.request(&get("/closes")).text();
        if closes == "1" {
            break;
        }
        assert_eq!(closes, "0");
        assert!(Instant::now() < deadline, "the stalled event stream was never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The gateway closed the connection: the client reads what was queued, then the end.
    events.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut rest = Vec::new();
    let end = events.read_to_end(&mut rest);
    assert!(end.is_ok() || end.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset));
    assert_eq!(gateway.request(&get("/closes")).text(), "1", "closed once");
}

/// Several event streams parked at once on one inline worker: each still gets its events when
/// its client reads again, and a plain request is answered between them.
#[test]
fn several_parked_event_streams_each_go_on_when_their_client_reads() {
    let gateway = serve(&app("events"), &["--threads", "0"]);
    let mut streams: Vec<_> = (0..3)
        .map(|_| {
            let mut events = gateway.connect();
            events.write_all(&get("/events")).expect("send");
            events
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(gateway.request(&get("/opened")).text(), "3");
    for events in &mut streams {
        events.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut reader = BufReader::new(events.try_clone().expect("clone"));
        let mut seen = 0;
        let mut line = String::new();
        while seen < 500 {
            line.clear();
            std::io::BufRead::read_line(&mut reader, &mut line).expect("read an event line");
            assert!(!line.is_empty(), "the event stream ended");
            if line.starts_with("data: ") {
                seen += 1;
            }
        }
        assert_eq!(gateway.request(&get("/hello")).text(), "ok");
    }
}

/// Under `--validate` a response parks and resumes like any other: the validator follows the
/// request through its resumed steps, finds nothing in a well-behaved stream, and another
/// client is served while the first one lags.
#[test]
fn a_parked_response_under_validate_goes_on_without_findings() {
    let gateway = serve(&app("sleepy"), &["--threads", "0", "--validate"]);
    let mut stream = gateway.connect();
    stream.write_all(&get("/stream?512")).expect("send");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gateway.request(&get("/other")).text(), "ok");
    let big = read_response(&mut BufReader::new(stream), false);
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), 512 * 64 * 1024);
    assert_eq!(gateway.request(&get("/after")).text(), "ok");
    let log = gateway.stderr();
    assert!(!log.contains("ERROR") && !log.contains("WARN"), "{log}");
}
