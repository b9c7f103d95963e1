//! End-to-end: a real `nsgi-gateway` process serving the sample apps, spoken to over raw TCP.

use nsgi_testkit::{Gateway, compile_c_app, read_response, run_to_exit, sample_library, workspace_root};
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::time::Duration;

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn serve(package: &str) -> Gateway {
    Gateway::start(gateway_binary(), [sample_library(package)])
}

/// The hello app's response, byte for byte apart from the Date value: the app's headers in its
/// order, then the gateway's Date and Server, then the framing header.
fn assert_hello(response: &nsgi_testkit::Response) {
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    let head = String::from_utf8_lossy(&response.raw_head);
    let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Content-Type", "Date", "Server", "Content-Length"],
        "unexpected head:\n{head}"
    );
    assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(response.header("Content-Length"), Some("13"));
    assert_eq!(response.header("Server"), Some("nsgi-gateway"));
    let date = response.header("Date").expect("a Date header");
    assert!(
        date.ends_with(" GMT") && date.len() == 29,
        "Date is an IMF-fixdate: {date:?}"
    );
    assert!(response.header("Transfer-Encoding").is_none());
    assert_eq!(response.body, b"Hello, World!");
}

#[test]
fn hello_answers_any_path_byte_for_byte() {
    let gateway = serve("hello");
    for path in ["/", "/some/where?x=1", "/%20"] {
        let response = gateway.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_hello(&response);
    }
}

#[test]
fn hello_in_c_matches_hello_in_rust() {
    let gateway = serve("hello-c");
    let response = gateway.request(b"GET /anything HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_hello(&response);
}

#[test]
fn html_page() {
    let gateway = serve("html");
    let response = gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/html; charset=utf-8"));
    let text = response.text();
    assert!(text.starts_with("<!DOCTYPE html>"), "{text}");
    assert!(text.contains("Hello, World!"), "{text}");
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
}

#[test]
fn environ_lists_sorted_cgi_variables() {
    let gateway = serve("environ");
    let response = gateway.request(
        b"GET /a%20b/c?q=1&r=%20 HTTP/1.1\r\nHost: example.test:8080\r\nUser-Agent: raw-test\r\nX-Repeat: 1\r\nX-Repeat: 2\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    let text = response.text();
    let lines: Vec<&str> = text.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "lines are sorted");
    for expected in [
        "REQUEST_METHOD=GET",
        "PATH_INFO=/a b/c",
        "QUERY_STRING=q=1&r=%20",
        "SCRIPT_NAME=",
        "SERVER_NAME=example.test",
        "SERVER_PORT=8080",
        "SERVER_PROTOCOL=HTTP/1.1",
        "REMOTE_ADDR=127.0.0.1",
        "HTTP_USER_AGENT=raw-test",
        "HTTP_X_REPEAT=1, 2",
        "wsgi.url_scheme=http",
    ] {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("CONTENT_LENGTH="), "no body, no CONTENT_LENGTH:\n{text}");
}

#[test]
fn echo_get_post_and_headers() {
    let gateway = serve("echo");
    let get = gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(get.status, 200);
    assert!(get.text().starts_with("echo:"), "{}", get.text());

    let post = gateway.request(
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-test\r\nContent-Length: 11\r\n\r\nhello there",
    );
    assert_eq!(post.status, 200);
    assert_eq!(post.header("Content-Type"), Some("application/x-test"));
    assert_eq!(post.body, b"hello there");

    let headers = gateway.request(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Custom-Thing: 42\r\n\r\n");
    assert_eq!(headers.status, 200);
    let text = headers.text();
    assert!(text.contains("X-Custom-Thing: 42"), "{text}");
    assert!(text.contains("Host: t"), "{text}");
}

#[test]
fn echo_answers_options_with_allow_and_lists_options_in_405() {
    let gateway = serve("echo");
    let options = gateway.request(b"OPTIONS / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(options.status, 200, "{}", options.text());
    let allow = options.header("Allow").expect("an Allow header").to_owned();
    for method in ["GET", "HEAD", "OPTIONS", "POST", "PUT"] {
        assert!(allow.split(", ").any(|m| m == method), "{method} not in {allow:?}");
    }
    assert_eq!(options.header("Content-Length"), Some("0"));
    assert!(options.body.is_empty());

    let refused = gateway.request(b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("Allow"), Some(allow.as_str()), "one list for both");
}

#[test]
fn two_requests_on_one_connection() {
    let gateway = serve("hello");
    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    for _ in 0..2 {
        writer.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
        let response = read_response(&mut reader, false);
        assert_hello(&response);
        assert!(
            response.header("Connection").is_none(),
            "keep-alive is the HTTP/1.1 default"
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let gateway = serve("echo");
    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone stream");
    writer
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nonePOST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwoGET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let mut reader = BufReader::new(stream);
    assert_eq!(read_response(&mut reader, false).body, b"one");
    assert_eq!(read_response(&mut reader, false).body, b"two");
    assert_eq!(read_response(&mut reader, false).status, 404);
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let gateway = serve("hello");
    let raw = gateway.exchange_until_close(b"GET / HTTP/1.0\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");

    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    for _ in 0..2 {
        writer
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .expect("send");
        let response = read_response(&mut reader, false);
        assert_eq!(response.body, b"Hello, World!");
        assert_eq!(response.header("Connection"), Some("keep-alive"));
    }
}

#[test]
fn head_sends_headers_without_body() {
    let gateway = serve("hello");
    let stream = gateway.connect();
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    writer.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("13"));
    assert!(head.body.is_empty());
    // The next response on the same connection starts right after the head: no body leaked.
    writer.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
    assert_hello(&read_response(&mut reader, false));
}

#[test]
fn chunked_request_body_is_echoed() {
    let gateway = serve("echo");
    let response = gateway.request(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: x\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"hello world");
    assert_eq!(response.header("Content-Length"), Some("11"));
}

#[test]
fn body_arriving_in_pieces_with_expect_continue() {
    let gateway = serve("echo");
    let mut stream = gateway.connect();
    stream
        .write_all(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        .expect("send head");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("100 Continue");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"01234").expect("send part 1");
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b"56789").expect("send part 2");
    let response = read_response(&mut BufReader::new(stream), false);
    assert_eq!(response.body, b"0123456789");
}

#[test]
fn garbage_gets_400_and_close() {
    let gateway = serve("hello");
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
    ] {
        let raw = gateway.exchange_until_close(garbage);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(text.contains("Connection: close\r\n"), "{text}");
    }
    // And the server still serves.
    assert_hello(&gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
}

#[test]
fn missing_host_on_http_1_1_is_400() {
    let gateway = serve("hello");
    let raw = gateway.exchange_until_close(b"GET / HTTP/1.1\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 400 "), "{}", String::from_utf8_lossy(&raw));
}

#[test]
fn bad_library_path_is_a_clear_error() {
    let (status, _, stderr) = run_to_exit(
        gateway_binary(),
        &["--bind", "127.0.0.1:0", "/nonexistent/libnothing.so"],
    );
    assert!(!status.success());
    assert!(stderr.contains("/nonexistent/libnothing.so: no such file"), "{stderr}");

    let not_a_library = workspace_root().join("README.md");
    let (status, _, stderr) = run_to_exit(
        gateway_binary(),
        &["--bind", "127.0.0.1:0", &not_a_library.to_string_lossy()],
    );
    assert!(!status.success());
    assert!(stderr.contains("not a loadable shared library"), "{stderr}");
}

#[test]
fn a_client_that_half_closes_gets_its_answers_then_the_close() {
    // Pipelined requests and the client's FIN, in one write and in separate ones: every answer
    // comes, then the server closes at once (the keep-alive timeout is far longer than the read
    // timeout here, so a server that missed the FIN fails the read).
    let gateway = Gateway::start(
        gateway_binary(),
        [
            "--keep-alive".as_ref(),
            "300".as_ref(),
            sample_library("hello").as_os_str(),
        ],
    );
    let request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    for pause in [false, true] {
        let mut stream = gateway.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        stream.write_all(&[&request[..], &request[..]].concat()).expect("send");
        if pause {
            std::thread::sleep(Duration::from_millis(100));
        }
        stream.shutdown(std::net::Shutdown::Write).expect("half-close");
        let mut all = Vec::new();
        stream
            .read_to_end(&mut all)
            .expect("the server closes after its answers");
        let text = String::from_utf8_lossy(&all);
        assert_eq!(text.matches("Hello, World!").count(), 2, "{text}");
    }
}

#[test]
fn a_bare_library_name_means_the_file_in_the_current_directory() {
    // dlopen would search the library path for `libhello.so`; the operator means this file.
    let library = sample_library("hello");
    let dir = library.parent().expect("the library's directory");
    let name = library.file_name().expect("the library's file name");
    let output = std::process::Command::new(gateway_binary())
        .arg("--check-config")
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("run nsgi-gateway --check-config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let output = std::process::Command::new(gateway_binary())
        .args(["--check-config", "libnothing-here.so"])
        .current_dir(dir)
        .output()
        .expect("run nsgi-gateway --check-config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("libnothing-here.so: no such file"), "{stderr}");
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    use std::io::BufRead;
    let hard = std::fs::read_to_string("/proc/self/limits")
        .expect("/proc/self/limits")
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(4).map(str::to_owned))
        .expect("the hard open-file limit");
    // Started with a soft limit of 256, as a shell or a service manager may leave it.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" --workers 0 --bind 127.0.0.1:0 --log-level warn \"$@\"")
        .arg(gateway_binary())
        .arg(sample_library("hello"))
        .args(nsgi_testkit::root_flags())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the gateway through sh");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("the listening line");
    assert!(line.starts_with("Listening on"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).expect("the gateway's limits");
    let _ = child.kill();
    let _ = child.wait();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .expect("the soft limit");
    if hard == "unlimited" {
        assert!(soft.parse::<u64>().is_ok_and(|n| n >= 65536), "{limits}");
    } else {
        assert_eq!(soft, hard, "{limits}");
    }
}

#[test]
fn welcome_app_without_a_library() {
    let gateway = Gateway::start(gateway_binary(), std::iter::empty::<&str>());
    let response = gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(response.text().contains("It works"), "{}", response.text());
    assert_eq!(gateway.request(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n").status, 404);
}

fn misbehaving_gateway() -> Gateway {
    let library = compile_c_app(
        "misbehave",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/misbehave.c"),
    );
    Gateway::start(gateway_binary(), [library])
}

#[test]
fn misbehaving_app_gets_500_and_the_server_goes_on() {
    let gateway = misbehaving_gateway();
    let cases = [
        ("/no-start", "before start_response"),
        ("/twice", "second time without exc_info"),
        ("/bad-status", "invalid status"),
        ("/bad-header", "invalid header \"X-Injected\""),
        ("/call-error", "call returned error -10"),
        ("/panic", "panicked in call"),
        ("/next-error", "next returned error -10"),
        ("/null-chunk", "NULL pointer and a non-zero length"),
    ];
    for (path, logged) in cases {
        let response = gateway.request(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(response.status, 500, "{path}");
        assert!(!response.text().contains("evil"), "{path}");
        gateway.wait_for_log(logged);
        let ok = gateway.request(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(
            (ok.status, ok.body.as_slice()),
            (200, &b"ok"[..]),
            "served after {path}"
        );
    }
}

#[test]
fn failure_after_headers_aborts_the_connection() {
    let gateway = misbehaving_gateway();
    // Chunked: the terminating chunk never comes, the connection closes.
    let raw = gateway.exchange_until_close(b"GET /error-after-data HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    assert!(text.ends_with("8\r\npartial \r\n"), "no last chunk: {text:?}");
    gateway.wait_for_log("after the response headers were sent");

    // Content-Length: 100 promised, 5 bytes sent, then the connection closes.
    let raw = gateway.exchange_until_close(b"GET /short HTTP/1.1\r\nHost: t\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Content-Length: 100\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nshort"), "{text:?}");
    gateway.wait_for_log("body ended after 5 bytes but Content-Length declared 100");

    assert_eq!(gateway.request(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
}

#[test]
fn sigterm_finishes_the_in_flight_request_then_exits() {
    // One worker: with several, the "received stop signal" line awaited below could be another
    // worker's, written before this connection's worker has seen the signal.
    let mut gateway = Gateway::start(
        gateway_binary(),
        ["--workers".as_ref(), "1".as_ref(), sample_library("echo").as_os_str()],
    );
    let idle = gateway.connect();
    let mut busy = gateway.connect();
    busy.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
        .expect("send half");
    // Make sure the gateway has read the head before the signal.
    std::thread::sleep(Duration::from_millis(200));
    gateway.signal("TERM");
    gateway.wait_for_log("received stop signal");
    busy.write_all(b"56789").expect("send the rest");
    let response = read_response(&mut BufReader::new(busy), false);
    assert_eq!(response.body, b"0123456789");
    assert_eq!(response.header("Connection"), Some("close"));
    let status = gateway.wait_exit();
    assert!(status.success(), "clean exit: {status}");
    // The idle connection was closed by the server.
    let mut buf = [0u8; 1];
    let mut idle = idle;
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
}

#[test]
fn ctrl_c_stops_an_idle_server_cleanly() {
    let mut gateway = serve("hello");
    let response = gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(
        (response.body.as_slice(), response.header("Connection")),
        (&b"Hello, World!"[..], Some("close"))
    );
    gateway.signal("INT");
    let status = gateway.wait_exit();
    assert!(status.success(), "clean exit: {status}");
    gateway.wait_for_log("stopped");
}

#[test]
fn a_library_for_another_major_is_refused() {
    let library = compile_c_app("abi2", &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/abi2.c"));
    let (status, stdout, stderr) =
        run_to_exit(gateway_binary(), &["--bind", "127.0.0.1:0", &library.to_string_lossy()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("Listening"), "{stdout}");
    assert!(
        stderr.contains("built for NSGI ABI 2, this host speaks ABI 1"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Settings refused before serving

/// A file in the temp dir holding `text`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("nsgi-serve-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write the temp file");
        TempFile(path)
    }

    fn arg(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn an_unknown_log_level_is_refused_naming_the_levels() {
    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--log-level", "verbose"]);
    assert_eq!(status.code(), Some(2), "a usage error: {stderr}");
    assert!(stderr.contains("verbose"), "{stderr}");
    assert!(stderr.contains("error, warn, info, debug, trace"), "{stderr}");

    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--log-level", "DEBUG"]);
    assert!(status.success(), "levels are case-insensitive, as RUST_LOG's: {stderr}");

    let config = TempFile::new("log-level.json", r#"{"log-level": "verbose"}"#);
    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--config", &config.arg()]);
    assert_eq!(status.code(), Some(1), "a config file error: {stderr}");
    assert!(
        stderr.contains("\"log-level\"") && stderr.contains("verbose"),
        "{stderr}"
    );
}

#[test]
fn a_key_repeated_in_the_config_file_is_refused_naming_it() {
    for json in [
        "{\"workers\": 1,\n \"workers\": 2}",
        r#"{"max-requests": 5, "threads": 1, "max-requests": 5}"#,
    ] {
        let config = TempFile::new("repeated.json", json);
        let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--config", &config.arg()]);
        assert_eq!(status.code(), Some(1), "{json}: {stderr}");
        let key = if json.contains("workers") {
            "\"workers\""
        } else {
            "\"max-requests\""
        };
        assert!(stderr.contains(key) && stderr.contains("twice"), "{json}: {stderr}");
    }
}

#[test]
fn check_config_runs_init_and_a_bad_flag_is_a_usage_error() {
    let (status, stdout, stderr) = run_to_exit(
        gateway_binary(),
        &["--check-config", &sample_library("hello").to_string_lossy()],
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("loads and initialises"), "{stdout}");

    let refuses = compile_c_app(
        "init_fails",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/init_fails.c"),
    );
    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", &refuses.to_string_lossy()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("this app refuses to start"), "init ran: {stderr}");

    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--no-such-flag"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[test]
fn app_config_without_an_app_library_is_refused() {
    let config = TempFile::new("app-config.json", "{}");
    for extra in [&[][..], &["--mount", "/api=libnothing.so"][..]] {
        let mut args = vec![
            "--check-config",
            "--app-config",
            &config.0.to_str().expect("UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        let (status, _, stderr) = run_to_exit(gateway_binary(), &args);
        assert_eq!(status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--app-config") && stderr.contains("APP_LIBRARY"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn limit_request_fields_tops_out_at_256() {
    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--limit-request-fields", "256"]);
    assert!(status.success(), "{stderr}");
    let (status, _, stderr) = run_to_exit(gateway_binary(), &["--check-config", "--limit-request-fields", "257"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--limit-request-fields must be at most 256"),
        "{stderr}"
    );
}
