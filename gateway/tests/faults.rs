//! End-to-end: clients that misbehave at the transport level, over a real `nsgi-gateway` process.
//!
//! A client that vanishes mid-request or mid-response, one that never reads its response, a
//! thousand that never finish their request head, one that declares a 10 GiB body, and more
//! clients than the worker has file descriptors for. In each case the worker must keep its
//! promises to the app (a response body it opened is closed exactly once), keep its memory and
//! CPU bounded, and go on answering everybody else.

use nsgi_testkit::{Gateway, IO_TIMEOUT, compile_c_app, read_response};
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

/// The C app of `tests/apps/counting.c` (`/stream?N`, `/counts`, `/pid`).
fn counting_app() -> PathBuf {
    compile_c_app(
        "counting",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/counting.c"),
    )
}

/// A single-process gateway (the process serving is the one started) with extra `flags`.
fn serve(flags: &[&str]) -> Gateway {
    serve_with(gateway_binary(), flags)
}

fn serve_with(binary: &Path, flags: &[&str]) -> Gateway {
    let app = counting_app();
    let mut args: Vec<&std::ffi::OsStr> = vec![app.as_os_str(), "--workers".as_ref(), "0".as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    Gateway::start(binary, args)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// `(opened, closed)` as the app counts its response bodies.
fn counts(gateway: &Gateway) -> (u64, u64) {
    let response = gateway.request(&get("/counts"));
    assert_eq!(response.status, 200);
    let text = response.text();
    let number = |key: &str| -> u64 {
        text.split_whitespace()
            .find_map(|field| field.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text:?}"))
    };
    (number("opened="), number("closed="))
}

/// Waits (bounded) until the app has opened at least `expected` bodies and closed every body it
/// opened, and returns the counts. (Waiting for the opens too: on the pool, a request just sent
/// may not have reached the app yet, and 0 opened, 0 closed is not the state asked about.)
fn settled_counts(gateway: &Gateway, expected: u64) -> (u64, u64) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let (opened, closed) = counts(gateway);
        if (opened >= expected && closed >= opened) || Instant::now() >= deadline {
            return (opened, closed);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The process id of the worker serving this gateway.
fn worker_pid(gateway: &Gateway) -> u32 {
    let response = gateway.request(&get("/pid"));
    assert_eq!(response.status, 200);
    response.text().parse().expect("a process id")
}

/// The resident memory of a process, in KiB (`VmRSS` of /proc/<pid>/status).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {status}"))
}

/// CPU time a process has used (user + system), in clock ticks (`/proc/<pid>/stat` fields 14, 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after its `)`.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // after_name starts at field 3, so fields 14 and 15 are at 11 and 12.
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

/// Clock ticks per second as /proc reports them (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: u64 = 100;

/// True once the peer has closed `stream` (EOF or reset) within `wait`, reading and discarding
/// whatever it still sends.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut sink = vec![0u8; 64 * 1024];
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set_read_timeout");
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_client_gone_mid_request_never_reaches_the_app_and_the_worker_goes_on() {
    for threads in ["0", "2"] {
        let gateway = serve(&["--threads", threads]);
        // The head promises 1000 bytes of body; 10 come, then the client leaves.
        for _ in 0..5 {
            let mut stream = gateway.connect();
            stream
                .write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789")
                .expect("send a partial request");
            drop(stream);
        }
        // Leaving in the middle of a chunked body, and in the middle of the head.
        let mut stream = gateway.connect();
        stream
            .write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc")
            .expect("send a partial chunked request");
        drop(stream);
        let mut stream = gateway.connect();
        stream.write_all(b"GET / HTTP/1.1\r\nHo").expect("send half a head");
        drop(stream);

        let response = gateway.request(&get("/"));
        assert_eq!(
            (response.status, response.text()),
            (200, "ok".to_owned()),
            "--threads {threads}"
        );
        // Only the request above reached the app, and its body was closed once.
        assert_eq!(settled_counts(&gateway, 1), (1, 1), "--threads {threads}");
    }
}

#[test]
fn a_client_gone_mid_response_gets_the_body_closed_exactly_once() {
    const CLIENTS: u64 = 5;
    for threads in ["0", "2"] {
        let gateway = serve(&["--threads", threads]);
        for _ in 0..CLIENTS {
            // 256 MiB promised; the client takes a little, then leaves (unread data makes the
            // close a reset).
            let mut stream = gateway.connect();
            stream.write_all(&get("/stream?4096")).expect("send");
            let mut first = vec![0u8; 64 * 1024];
            stream.read_exact(&mut first).expect("the start of the response");
            assert!(first.starts_with(b"HTTP/1.1 200"), "--threads {threads}");
            drop(stream);
        }
        let (opened, closed) = settled_counts(&gateway, CLIENTS);
        assert_eq!(opened, CLIENTS, "--threads {threads}");
        assert_eq!(closed, CLIENTS, "each body closed exactly once (--threads {threads})");
        let response = gateway.request(&get("/"));
        assert_eq!(response.status, 200, "--threads {threads}");
    }
}

#[test]
fn a_client_that_never_reads_is_cut_at_the_send_timeout_with_memory_bounded() {
    // A 1 GiB response that the client never reads: the worker may only hold a bounded part of
    // it, and the send timeout ends the connection.
    const LIMIT_GROWTH_KIB: u64 = 64 * 1024;
    for threads in ["0", "2"] {
        let gateway = serve(&["--threads", threads, "--send-timeout", "1"]);
        let pid = worker_pid(&gateway);
        let before = resident_kib(pid);
        let mut stalled = gateway.connect();
        stalled.write_all(&get("/stream?16384")).expect("send");
        // The body is closed when the worker gives up on the client.
        let (opened, closed) = settled_counts(&gateway, 1);
        assert_eq!((opened, closed), (1, 1), "--threads {threads}: the body is closed once");
        let after = resident_kib(pid);
        eprintln!("--threads {threads}: worker VmRSS {before} KiB before, {after} KiB after a stalled 1 GiB response");
        assert!(
            after < before + LIMIT_GROWTH_KIB,
            "--threads {threads}: the worker grew from {before} KiB to {after} KiB for one stalled client"
        );
        // What the client finally reads ends with the server's close, long before 1 GiB.
        assert!(
            closed_within(&mut stalled, IO_TIMEOUT),
            "--threads {threads}: the stalled connection was closed"
        );
        let response = gateway.request(&get("/"));
        assert_eq!(response.status, 200, "--threads {threads}");
    }
}

#[test]
fn a_thousand_slow_header_clients_do_not_stop_normal_requests() {
    const SLOW_CLIENTS: usize = 1000;
    let gateway = serve(&[]);
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for _ in 0..SLOW_CLIENTS {
        let mut stream = gateway.connect();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            .expect("send part of a head");
        slow.push(stream);
    }
    // While every one of them holds a connection with half a head, others are still answered.
    for _ in 0..20 {
        let response = gateway.request(&get("/"));
        assert_eq!((response.status, response.text()), (200, "ok".to_owned()));
    }
    // The slow clients are still connected (nothing was dropped to make room), and one of them
    // finishing its head is answered too.
    let mut last = slow.pop().expect("a slow client");
    last.write_all(b"1\r\n\r\n").expect("finish the head");
    let response = read_response(&mut BufReader::new(last), false);
    assert_eq!(response.status, 200);
    drop(slow);
    let response = gateway.request(&get("/"));
    assert_eq!(response.status, 200);
}

#[test]
fn a_declared_10_gib_body_gets_413_before_any_of_it_is_sent() {
    let gateway = serve(&[]);
    let ten_gib: u64 = 10 * 1024 * 1024 * 1024;
    // Content-Length: answered from the head alone; the client has sent no body byte.
    let mut stream = gateway.connect();
    write!(
        stream,
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {ten_gib}\r\n\r\n"
    )
    .expect("send");
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 413);
    // With Expect: 100-continue, no 100 comes first: the 413 is the only answer.
    let mut stream = gateway.connect();
    write!(
        stream,
        "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {ten_gib}\r\nExpect: 100-continue\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut status_line).expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line:?}");
    // Chunked: a single chunk declaring 10 GiB is refused from its size line.
    let mut stream = gateway.connect();
    write!(
        stream,
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{ten_gib:x}\r\n"
    )
    .expect("send");
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 413);
    // None of them reached the app.
    assert_eq!(settled_counts(&gateway, 0), (0, 0));
}

/// A script that starts the gateway with both open-file limits at `limit`, so that the gateway
/// cannot raise its own.
fn gateway_with_open_file_limit(limit: u32) -> PathBuf {
    let dir = nsgi_testkit::profile_dir().join("nsgi-test-faults");
    std::fs::create_dir_all(&dir).expect("create the script directory");
    let script = dir.join(format!("gateway-nofile-{limit}.sh"));
    let text = format!(
        "#!/bin/sh\nulimit -n {limit} || exit 1\nexec '{}' \"$@\"\n",
        gateway_binary().display()
    );
    // Written under another name and renamed, so that it is never run half-written.
    let partial = dir.join(format!(".gateway-nofile-{limit}.{}", std::process::id()));
    std::fs::write(&partial, text).expect("write the script");
    std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::rename(&partial, &script).expect("move the script into place");
    script
}

#[test]
fn out_of_file_descriptors_the_worker_backs_off_without_spinning_and_recovers() {
    const EXTRA_CLIENTS: usize = 200;
    let script = gateway_with_open_file_limit(64);
    let gateway = serve_with(&script, &["--log-level", "warn"]);
    let pid = worker_pid(&gateway);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.split_whitespace().nth(3) == Some("64")),
        "{limits}"
    );
    // Far more connections than descriptors: each sends a request the worker cannot take yet.
    let mut clients = Vec::with_capacity(EXTRA_CLIENTS);
    for _ in 0..EXTRA_CLIENTS {
        let mut stream = gateway.connect();
        stream.write_all(&get("/")).expect("send");
        clients.push(stream);
    }
    gateway.wait_for_log("accept failed");
    // While the excess waits in the listen queue, the worker must sleep, not spin on accept.
    let window = Duration::from_secs(2);
    let start = cpu_ticks(pid);
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - start;
    assert!(
        used < TICKS_PER_SECOND / 2,
        "the worker used {used} ticks of CPU in {window:?} while out of descriptors"
    );
    let warnings = gateway.stderr().matches("accept failed").count();
    eprintln!("out of descriptors: {used} ticks of CPU in {window:?}, {warnings} warning(s) logged");
    assert!(
        warnings <= 5,
        "the accept failure was logged {warnings} times:\n{}",
        gateway.stderr()
    );
    // The clients it did accept are answered; then every client leaves.
    drop(clients);
    // Recovered: new requests are served (bounded wait while the dead connections are drained).
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let mut stream = gateway.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set_read_timeout");
        let answered = stream.write_all(&get("/")).is_ok() && {
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
        };
        if answered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never recovered:\n{}",
            gateway.stderr()
        );
    }
}
