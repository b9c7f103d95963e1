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
