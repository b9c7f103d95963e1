//! End-to-end: what an operator configures around the apps — several apps mounted at path
//! prefixes, `--root-path`, trusted proxy headers, unix-socket listeners and the access log —
//! seen from inside the app through the `environ` sample.

use nsgi_testkit::{Gateway, read_response, run_to_exit, sample_library};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn start(args: &[OsString]) -> Gateway {
    let mut all: Vec<OsString> = vec!["--workers".into(), "0".into()];
    all.extend(args.iter().cloned());
    Gateway::start(gateway_binary(), all)
}

fn mount(prefix: &str, package: &str) -> [OsString; 2] {
    let library = sample_library(package);
    ["--mount".into(), format!("{prefix}={}", library.display()).into()]
}

/// The environ sample's `KEY=value` lines for a request.
fn environ_of(gateway: &Gateway, raw: &str) -> HashMap<String, String> {
    let response = gateway.request(raw.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    parse_environ(&response.text())
}

fn parse_environ(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn mounted_apps_get_their_prefix_as_script_name_and_unmatched_paths_404() {
    let mut args = Vec::new();
    args.extend(mount("/env", "environ"));
    args.extend(mount("/hello", "hello"));
    let gateway = start(&args);
    let env = environ_of(&gateway, "GET /env/a%20b/c?q=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(env["SCRIPT_NAME"], "/env");
    assert_eq!(env["PATH_INFO"], "/a b/c");
    assert_eq!(env["QUERY_STRING"], "q=1");
    let env = environ_of(&gateway, "GET /env HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()), ("/env", ""));

    let hello = gateway.request(b"GET /hello/x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(hello.body, b"Hello, World!");
    // No app at /, and /envx is not under /env: 404 from the gateway.
    for path in ["/", "/envx", "/other/hello"] {
        let response = gateway.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(response.status, 404, "{path}");
    }
}

#[test]
fn the_longest_prefix_wins_over_the_root_app() {
    let mut args: Vec<OsString> = vec![sample_library("hello").into()];
    args.extend(mount("/api/env", "environ"));
    let gateway = start(&args);
    let env = environ_of(&gateway, "GET /api/env/x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()),
        ("/api/env", "/x")
    );
    assert_eq!(
        gateway.request(b"GET /api HTTP/1.1\r\nHost: t\r\n\r\n").body,
        b"Hello, World!"
    );
}

#[test]
fn root_path_prefixes_script_name_and_is_stripped_when_present() {
    let args: Vec<OsString> = vec![sample_library("environ").into(), "--root-path".into(), "/site/".into()];
    let gateway = start(&args);
    let env = environ_of(&gateway, "GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()),
        ("/site", "/a")
    );
    let env = environ_of(&gateway, "GET /site/a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (env["SCRIPT_NAME"].as_str(), env["PATH_INFO"].as_str()),
        ("/site", "/a")
    );
}

#[test]
fn request_headers_with_an_underscore_never_reach_the_app() {
    let gateway = start(&[sample_library("environ").into()]);
    let env = environ_of(
        &gateway,
        "GET / HTTP/1.1\r\nHost: t\r\nX_User: mallory\r\nX-Team: blue\r\n\r\n",
    );
    assert_eq!(env.get("HTTP_X_USER"), None, "X_User would pose as X-User");
    assert_eq!(env["HTTP_X_TEAM"], "blue");
}

const FORWARDED_REQUEST: &str = "GET / HTTP/1.1\r\nHost: internal:8000\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n\
                                 X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n\r\n";

#[test]
fn proxy_headers_from_a_trusted_peer_are_believed() {
    let gateway = start(&[sample_library("environ").into()]);
    let env = environ_of(&gateway, FORWARDED_REQUEST);
    assert_eq!(env["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(env["wsgi.url_scheme"], "https");
    assert_eq!(env["SERVER_NAME"], "www.example.com");
    assert_eq!(env["SERVER_PORT"], "443");
    let env = environ_of(
        &gateway,
        "GET / HTTP/1.1\r\nHost: t\r\nForwarded: for=\"[2001:db8::7]:4711\";proto=https;host=shop.example\r\n\r\n",
    );
    assert_eq!(env["REMOTE_ADDR"], "2001:db8::7");
    assert_eq!(env["SERVER_NAME"], "shop.example");
}

#[test]
fn proxy_headers_from_an_untrusted_peer_are_ignored() {
    let args: Vec<OsString> = vec![
        sample_library("environ").into(),
        "--forwarded-allow-ips".into(),
        "10.0.0.0/8".into(),
    ];
    let gateway = start(&args);
    let env = environ_of(&gateway, FORWARDED_REQUEST);
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["SERVER_NAME"], "internal");
    assert_eq!(env["SERVER_PORT"], "8000");
}

#[test]
fn a_bad_forwarded_allow_ips_entry_is_named() {
    let (status, _, stderr) = run_to_exit(
        gateway_binary(),
        &[
            "--workers",
            "0",
            "--bind",
            "127.0.0.1:0",
            "--forwarded-allow-ips",
            "10.0.0.0/33",
        ],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--forwarded-allow-ips") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}

#[test]
fn a_unix_socket_listener_serves_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("nsgi-sites-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket = dir.join("gw.sock");
    let args: Vec<OsString> = vec![
        sample_library("environ").into(),
        "--bind".into(),
        format!("unix:{}", socket.display()).into(),
        "--unix-socket-mode".into(),
        "600".into(),
    ];
    let gateway = start(&args);
    let mode = std::fs::metadata(&socket).expect("socket file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
        .write_all(b"GET /u HTTP/1.1\r\nHost: app.local\r\nX-Forwarded-For: 198.51.100.4\r\n\r\n")
        .expect("send");
    let response = read_response(&mut BufReader::new(stream), false);
    let env = parse_environ(&response.text());
    assert_eq!(env["PATH_INFO"], "/u");
    assert_eq!(env["SERVER_NAME"], "app.local");
    // A unix-socket peer is the local proxy: trusted by default.
    assert_eq!(env["REMOTE_ADDR"], "198.51.100.4");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_forwarded_allow_ips_trusts_no_unix_socket_peer_either() {
    let dir = std::env::temp_dir().join(format!("nsgi-sites-untrusted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket = dir.join("gw.sock");
    let args: Vec<OsString> = vec![
        sample_library("environ").into(),
        "--bind".into(),
        format!("unix:{}", socket.display()).into(),
        "--forwarded-allow-ips=".into(),
    ];
    let gateway = start(&args);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
        .write_all(
            b"GET /u HTTP/1.1\r\nHost: app.local\r\nX-Forwarded-For: 198.51.100.4\r\n\
              X-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n\r\n",
        )
        .expect("send");
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 200, "{}", response.text());
    let env = parse_environ(&response.text());
    assert_ne!(env.get("REMOTE_ADDR").map(String::as_str), Some("198.51.100.4"));
    assert_eq!(env["wsgi.url_scheme"], "http");
    assert_eq!(env["SERVER_NAME"], "app.local");
    assert_eq!(env["HTTP_X_FORWARDED_FOR"], "198.51.100.4", "still seen by the app");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_access_log_has_one_combined_line_per_request() {
    let log = std::env::temp_dir().join(format!("nsgi-access-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let args: Vec<OsString> = vec![
        sample_library("hello").into(),
        "--access-log".into(),
        log.clone().into(),
    ];
    let gateway = start(&args);
    let response = gateway.request(
        b"GET /page?x=1 HTTP/1.1\r\nHost: t\r\nReferer: http://ref.example/\r\nUser-Agent: tester/1.0\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.lines().count() >= 1 || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no access log line in {}", log.display()));
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(
        line.ends_with("\"GET /page?x=1 HTTP/1.1\" 200 13 \"http://ref.example/\" \"tester/1.0\""),
        "{line}"
    );
    drop(gateway);
    let _ = std::fs::remove_file(&log);
}

/// Waits until the access log at `path` has `lines` lines, or panics after a bound.
fn access_log_lines(path: &Path, lines: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<String> = text.lines().map(str::to_owned).collect();
        if found.len() >= lines {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} of {lines} lines:\n{text}",
            path.display(),
            found.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The part of an access log line after its `[%t]`: `"%r" %>s %b "referer" "agent"`.
fn after_time(line: &str) -> &str {
    line.split_once("] ").map_or(line, |(_, rest)| rest)
}

#[test]
fn requests_the_gateway_refuses_are_in_the_access_log() {
    let dir = std::env::temp_dir().join(format!("nsgi-sites-refused-{}", std::process::id()));
    let spill = dir.join("spill");
    std::fs::create_dir_all(&spill).expect("dirs");
    let log = dir.join("access.log");
    let args: Vec<OsString> = vec![
        sample_library("echo").into(),
        "--access-log".into(),
        log.clone().into(),
        "--limit-request-line".into(),
        "64".into(),
        "--limit-request-fields".into(),
        "4".into(),
        "--max-body-size".into(),
        "1000".into(),
        "--body-buffer-size".into(),
        "16".into(),
        "--spill-dir".into(),
        spill.clone().into(),
        "--header-timeout".into(),
        "1".into(),
    ];
    let gateway = start(&args);
    // Each request, then the part of its log line after the time. Sent one at a time, so the
    // lines come in this order.
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            b"G\x01T / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            "\"-\" 400 12 \"-\" \"-\"".into(),
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(80)).into_bytes(),
            "\"-\" 414 13 \"-\" \"-\"".into(),
        ),
        (
            format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(40)).into_bytes(),
            "\"-\" 400 12 \"-\" \"-\"".into(),
        ),
        (
            b"GET /x?q=1 HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n".to_vec(),
            "\"GET /x?q=1 HTTP/1.1\" 417 19 \"-\" \"-\"".into(),
        ),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n".to_vec(),
            "\"GET / HTTP/1.1\" 431 32 \"-\" \"-\"".into(),
        ),
        (
            b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n".to_vec(),
            "\"POST /up HTTP/1.1\" 413 18 \"-\" \"-\"".into(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
            "\"POST / HTTP/1.1\" 501 16 \"-\" \"-\"".into(),
        ),
        (
            b"GET / HTTP/3.0\r\nHost: t\r\n\r\n".to_vec(),
            "\"GET / HTTP/3.0\" 505 27 \"-\" \"-\"".into(),
        ),
        (
            b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            "\"POST / HTTP/1.1\" 400 12 \"-\" \"-\"".into(),
        ),
        // A head that never ends: 408 after --header-timeout, with the request line it had.
        (
            b"GET /slow HTTP/1.1\r\nHost: t\r\n".to_vec(),
            "\"GET /slow HTTP/1.1\" 408 16 \"-\" \"-\"".into(),
        ),
        // A body that cannot be spilled (the --spill-dir is gone): 500.
        (
            format!(
                "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{}\r\n0\r\n\r\n",
                "s".repeat(64)
            )
            .into_bytes(),
            "\"POST / HTTP/1.1\" 500 22 \"-\" \"-\"".into(),
        ),
    ];
    for (i, (raw, _)) in cases.iter().enumerate() {
        if i == cases.len() - 1 {
            std::fs::remove_dir_all(&spill).expect("remove the spill dir");
        }
        let reply = gateway.exchange_until_close(raw);
        let text = String::from_utf8_lossy(&reply);
        assert!(text.contains("Connection: close\r\n"), "case {i}: {text}");
    }
    let lines = access_log_lines(&log, cases.len());
    assert_eq!(lines.len(), cases.len(), "{lines:#?}");
    for (line, (raw, want)) in lines.iter().zip(&cases) {
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert_eq!(after_time(line), want, "for {:?}", String::from_utf8_lossy(raw));
    }
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Days since 1970-01-01 of a civil date (the proleptic Gregorian calendar).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The seconds since the epoch of a `%t` such as `10/Oct/2000:13:55:36 +0000`.
fn clf_seconds(text: &str) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let number = |s: &str| -> i64 { s.parse().unwrap_or_else(|_| panic!("not a number in {text:?}")) };
    let (date, time) = text.split_once(':').expect("date:time");
    let mut date = date.split('/');
    let (day, month, year) = (
        number(date.next().expect("day")),
        date.next().expect("month"),
        number(date.next().expect("year")),
    );
    let month = MONTHS.iter().position(|m| *m == month).expect("a month name") as i64 + 1;
    let hms: Vec<i64> = time.split(' ').next().expect("time").split(':').map(number).collect();
    days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

fn unix_seconds(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[test]
fn the_access_log_time_is_when_the_request_arrived() {
    assert_eq!(clf_seconds("10/Oct/2000:13:55:36 +0000"), 971_186_136);
    // The app called on the event loop, and on a pool thread.
    let gateways: Vec<(Gateway, std::path::PathBuf)> = [&[][..], &["--threads", "2"][..]]
        .iter()
        .enumerate()
        .map(|(i, extra)| {
            let log = std::env::temp_dir().join(format!("nsgi-access-time-{}-{i}.log", std::process::id()));
            let _ = std::fs::remove_file(&log);
            let mut args: Vec<OsString> = vec![
                sample_library("hello").into(),
                "--access-log".into(),
                log.clone().into(),
            ];
            args.extend(extra.iter().map(OsString::from));
            (start(&args), log)
        })
        .collect();
    let sent_first = unix_seconds(std::time::SystemTime::now());
    let mut streams: Vec<_> = gateways
        .iter()
        .map(|(gateway, _)| {
            let mut stream = gateway.connect();
            stream
                .write_all(b"GET /late HTTP/1.1\r\nHost: t\r\n")
                .expect("send the start");
            stream
        })
        .collect();
    // The rest of the heads, once the wall clock is three seconds further (bounded wait).
    while unix_seconds(std::time::SystemTime::now()) < sent_first + 3 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent_rest = unix_seconds(std::time::SystemTime::now());
    for ((_, log), stream) in gateways.iter().zip(streams.drain(..)) {
        let mut stream = stream;
        stream.write_all(b"\r\n").expect("send the end");
        let response = read_response(&mut BufReader::new(stream), false);
        assert_eq!(response.status, 200);
        let lines = access_log_lines(log, 1);
        let time = lines[0]
            .split_once('[')
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(time, _)| time)
            .expect("a [%t]");
        let logged = clf_seconds(time);
        assert!(
            logged >= sent_first && logged < sent_rest,
            "{}: logged {logged}: the first byte went at {sent_first}, the end of the head at {sent_rest}",
            log.display()
        );
        let _ = std::fs::remove_file(log);
    }
}

/// A request whose head arrives in the same read as the end of the body before it is logged at
/// that read, not at the time the request before it began.
#[test]
fn a_pipelined_request_after_a_body_is_logged_when_it_arrived() {
    let scratch = nsgi_testkit::Scratch::new("access-time-pipelined");
    let log = scratch.path("access.log");
    let gateway = start(&[sample_library("echo").into(), "--access-log".into(), log.clone().into()]);
    let mut stream = gateway.connect();
    stream
        .write_all(b"POST /?first HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab")
        .expect("send the start");
    let sent_first = unix_seconds(std::time::SystemTime::now());
    while unix_seconds(std::time::SystemTime::now()) < sent_first + 3 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent_second = unix_seconds(std::time::SystemTime::now());
    // The end of the first body and the whole second request, in one write.
    stream
        .write_all(b"cdeGET /?second HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send the rest");
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader, false).status, 200);
    assert_eq!(read_response(&mut reader, false).status, 200);
    let lines = access_log_lines(&log, 2);
    let time_of = |line: &str| {
        clf_seconds(
            line.split_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(time, _)| time)
                .expect("a [%t]"),
        )
    };
    assert!(
        lines[0].contains("/?first") && lines[1].contains("/?second"),
        "{lines:?}"
    );
    assert!(time_of(&lines[0]) <= sent_first + 1, "{lines:?}");
    assert!(
        time_of(&lines[1]) >= sent_second,
        "the second request is logged at {lines:?}"
    );
}

#[test]
fn options_asterisk_is_answered_by_the_server_and_keeps_the_connection() {
    let gateway = start(&[sample_library("hello").into()]);
    let mut stream = gateway.connect();
    stream
        .write_all(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let mut reader = BufReader::new(stream);
    let options = read_response(&mut reader, false);
    assert_eq!(options.status, 200);
    assert!(options.header("Allow").is_some_and(|allow| allow.contains("GET")));
    assert_eq!(options.header("Content-Length"), Some("0"));
    let hello = read_response(&mut reader, false);
    assert_eq!(hello.body, b"Hello, World!");
}
