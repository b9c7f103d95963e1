//! End-to-end: the uwsgi listener (`--bind uwsgi://HOST:PORT`, `--bind uwsgi+unix:PATH`) of a
//! real gateway, spoken to by hand over TCP and a unix socket the way nginx's `uwsgi_pass` does:
//! one packet (and body) per connection, an HTTP response back, then the close.

use nsgi_testkit::{Gateway, IO_TIMEOUT, Scratch, compile_c_app, sample_library};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn c_app(name: &str) -> PathBuf {
    compile_c_app(
        name,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/apps/{name}.c")),
    )
}

/// A uwsgi packet of `vars`: modifier1 0, datasize, modifier2 0, then the pairs.
fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
    packet_with_modifier(0, vars)
}

fn packet_with_modifier(modifier1: u8, vars: &[(&str, &str)]) -> Vec<u8> {
    nsgi_testkit::uwsgi_packet(modifier1, vars)
}

/// What nginx's `uwsgi_params` sends for a request, plus `extra` (which replaces a variable of
/// the same name).
fn nginx_vars<'a>(method: &'a str, uri: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut vars = vec![
        ("QUERY_STRING", query),
        ("REQUEST_METHOD", method),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", uri),
        ("PATH_INFO", path),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("REMOTE_ADDR", "198.51.100.20"),
        ("REMOTE_PORT", "40000"),
        ("SERVER_PORT", "80"),
        ("SERVER_NAME", "example.org"),
        ("HTTP_HOST", "example.org"),
        ("HTTP_USER_AGENT", "uwsgi-test"),
    ];
    for (name, value) in extra {
        match vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name, value)),
        }
    }
    vars
}

/// Where a uwsgi listener is, from its announced URL.
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

impl Target {
    fn of(url: &str) -> Target {
        if let Some(addr) = url.strip_prefix("uwsgi://") {
            Target::Tcp(addr.to_owned())
        } else if let Some(path) = url.strip_prefix("uwsgi+unix:") {
            Target::Unix(PathBuf::from(path))
        } else {
            panic!("not a uwsgi URL: {url}")
        }
    }

    /// Sends `parts` one write each, then reads until the gateway closes.
    fn exchange(&self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<S: Read + Write>(mut stream: S, parts: &[&[u8]]) -> Vec<u8> {
            for part in parts {
                stream.write_all(part).expect("send");
                stream.flush().expect("flush");
            }
            let mut all = Vec::new();
            let _ = stream.read_to_end(&mut all);
            all
        }
        match self {
            Target::Tcp(addr) => {
                let stream = TcpStream::connect(addr).expect("connect");
                stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                run(stream, parts)
            }
            Target::Unix(path) => {
                let stream = UnixStream::connect(path).expect("connect");
                stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                run(stream, parts)
            }
        }
    }
}

/// An HTTP response read until the close.
#[derive(Debug)]
struct Reply {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(raw: &[u8]) -> Reply {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect();
        Reply {
            status_line,
            headers,
            body: raw[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The response a front may relay as it is: HTTP/1.1 status line, never chunked, and no
    /// `Connection` header (the front frames its own connection; Apache would pass a
    /// `Connection: close` on to its client). The connection closes after it (the caller reads
    /// to the end of the stream).
    fn assert_relayable(&self, status: u16) {
        assert!(self.status_line.starts_with(&format!("HTTP/1.1 {status} ")), "{self:?}");
        assert_eq!(self.header("transfer-encoding"), None, "never chunked: {self:?}");
        assert_eq!(self.header("connection"), None, "{self:?}");
    }

    /// One of the gateway's own error responses, relayable like the others; it says
    /// `Connection: close`, as every such error does over HTTP: a front that relays it closes its
    /// client's connection after it too.
    fn assert_relayable_error(&self, status: u16) {
        assert!(self.status_line.starts_with(&format!("HTTP/1.1 {status} ")), "{self:?}");
        assert_eq!(self.header("transfer-encoding"), None, "never chunked: {self:?}");
        assert_eq!(self.header("connection"), Some("close"), "{self:?}");
    }
}

/// A gateway (by default a supervisor and one worker, so the listeners' protocols travel to the
/// worker) serving echo at `/`, environ at `/env`, the counting app at `/count` and the misbehaving app
/// at `/bad`, on HTTP (a free port), uwsgi over TCP (a free port) and uwsgi over a unix socket.
struct Fixture {
    gateway: Gateway,
    tcp: Target,
    unix: Target,
    _scratch: Scratch,
}

fn fixture() -> Fixture {
    start(&["--workers", "1"])
}

fn start(flags: &[&str]) -> Fixture {
    let scratch = Scratch::new("uwsgi");
    let socket = scratch.path("app.sock");
    let unix_bind = format!("uwsgi+unix:{}", socket.display());
    let echo = sample_library("echo");
    let environ = format!("/env={}", sample_library("environ").display());
    let counting = format!("/count={}", c_app("counting").display());
    let bad = format!("/bad={}", c_app("misbehave").display());
    let mut args: Vec<&std::ffi::OsStr> = vec![echo.as_os_str()];
    for arg in [
        "--mount",
        environ.as_str(),
        "--mount",
        counting.as_str(),
        "--mount",
        bad.as_str(),
        "--bind",
        "uwsgi://127.0.0.1:0",
        "--bind",
        unix_bind.as_str(),
    ] {
        args.push(arg.as_ref());
    }
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    let gateway = Gateway::start(gateway_binary(), args);
    let tcp = Target::of(&gateway.listener_url("uwsgi://"));
    let unix = Target::of(&gateway.listener_url("uwsgi+unix:"));
    Fixture {
        gateway,
        tcp,
        unix,
        _scratch: scratch,
    }
}

/// `KEY=value` lines of the environ app's answer.
fn environ_of(reply: &Reply) -> Vec<(String, String)> {
    reply
        .text()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn var<'e>(environ: &'e [(String, String)], name: &str) -> Option<&'e str> {
    environ.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn get_with_a_query_over_tcp_and_a_unix_socket() {
    let fixture = fixture();
    for target in [&fixture.tcp, &fixture.unix] {
        let request = packet(&nginx_vars("GET", "/env/some%20where?a=1&b=%20", &[]));
        let reply = Reply::parse(&target.exchange(&[&request]));
        reply.assert_relayable(200);
        let environ = environ_of(&reply);
        assert_eq!(var(&environ, "REQUEST_METHOD"), Some("GET"));
        assert_eq!(var(&environ, "SCRIPT_NAME"), Some("/env"));
        assert_eq!(
            var(&environ, "PATH_INFO"),
            Some("/some where"),
            "decoded from REQUEST_URI"
        );
        assert_eq!(var(&environ, "QUERY_STRING"), Some("a=1&b=%20"));
        assert_eq!(var(&environ, "REQUEST_URI"), Some("/env/some%20where?a=1&b=%20"));
        assert_eq!(var(&environ, "SERVER_PROTOCOL"), Some("HTTP/1.1"), "the front's");
        assert_eq!(var(&environ, "SERVER_NAME"), Some("example.org"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("80"));
        assert_eq!(var(&environ, "HTTP_HOST"), Some("example.org"));
        assert_eq!(var(&environ, "HTTP_USER_AGENT"), Some("uwsgi-test"));
        assert_eq!(var(&environ, "CONTENT_LENGTH"), None, "no body");
        assert_eq!(var(&environ, "DOCUMENT_ROOT"), None, "not a request variable");
    }
}

#[test]
fn post_with_a_body_split_across_writes() {
    let fixture = fixture();
    let vars = nginx_vars(
        "POST",
        "/",
        &[("CONTENT_LENGTH", "11"), ("CONTENT_TYPE", "text/x-ping")],
    );
    let request = packet(&vars);
    let (first, rest) = request.split_at(3);
    for target in [&fixture.tcp, &fixture.unix] {
        let mut second = rest.to_vec();
        second.extend_from_slice(b"hel");
        let reply = Reply::parse(&target.exchange(&[first, &second, b"lo ", b"world"]));
        reply.assert_relayable(200);
        assert_eq!(reply.text(), "hello world");
        assert_eq!(reply.header("content-length"), Some("11"));
        assert_eq!(reply.header("content-type"), Some("text/x-ping"));
    }
}

/// nginx buffers a chunked request body whatever `uwsgi_request_buffering` says, then sends its
/// length as CONTENT_LENGTH and the de-chunked bytes, leaving the client's
/// `Transfer-Encoding: chunked` among the headers: the body is read by its length.
#[test]
fn a_dechunked_body_with_the_clients_transfer_encoding_is_read_by_its_length() {
    let fixture = fixture();
    let vars = nginx_vars(
        "POST",
        "/",
        &[("CONTENT_LENGTH", "11"), ("HTTP_TRANSFER_ENCODING", "chunked")],
    );
    let mut request = packet(&vars);
    request.extend_from_slice(b"hello world");
    let reply = Reply::parse(&fixture.tcp.exchange(&[&request]));
    reply.assert_relayable(200);
    assert_eq!(reply.text(), "hello world");

    let vars = nginx_vars(
        "POST",
        "/env",
        &[("CONTENT_LENGTH", "5"), ("HTTP_TRANSFER_ENCODING", "chunked")],
    );
    let mut request = packet(&vars);
    request.extend_from_slice(b"12345");
    let environ = environ_of(&Reply::parse(&fixture.tcp.exchange(&[&request])));
    assert_eq!(var(&environ, "CONTENT_LENGTH"), Some("5"));
    assert_eq!(
        var(&environ, "HTTP_TRANSFER_ENCODING"),
        None,
        "the body reaching the app is not chunked"
    );
}

#[test]
fn head_gets_the_head_alone() {
    let fixture = fixture();
    let reply = Reply::parse(&fixture.unix.exchange(&[&packet(&nginx_vars("HEAD", "/", &[]))]));
    reply.assert_relayable(200);
    assert!(reply.body.is_empty(), "{reply:?}");
    assert!(reply.header("content-length").is_some(), "{reply:?}");
}

#[test]
fn a_5_mib_streamed_response_is_close_delimited() {
    let fixture = fixture();
    const BLOCKS: usize = 80; // of 64 KiB
    let uri = format!("/count/stream?{BLOCKS}");
    let request = packet(&nginx_vars("GET", &uri, &[]));
    let reply = Reply::parse(&fixture.tcp.exchange(&[&request]));
    reply.assert_relayable(200);
    assert_eq!(
        reply.header("content-length"),
        None,
        "length unknown: ends with the close"
    );
    assert_eq!(reply.body.len(), BLOCKS * 64 * 1024);
    assert!(reply.body.iter().all(|&b| b == b'x'));
}

/// A front that stops reading a large response (its buffers full) holds none of the worker's
/// other uwsgi connections: the response is set aside, another request is answered, and the
/// first response then arrives whole and close-delimited.
#[test]
fn a_front_slow_to_read_a_large_response_does_not_hold_the_others() {
    let fixture = fixture();
    const BLOCKS: usize = 512; // of 64 KiB: more than loopback's socket buffers hold
    let Target::Tcp(addr) = &fixture.tcp else {
        panic!("a TCP listener");
    };
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    let uri = format!("/count/stream?{BLOCKS}");
    slow.write_all(&packet(&nginx_vars("GET", &uri, &[]))).expect("send");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let other = Reply::parse(&fixture.unix.exchange(&[&packet(&nginx_vars("GET", "/env", &[]))]));
    other.assert_relayable(200);
    let mut all = Vec::new();
    slow.read_to_end(&mut all).expect("read the whole response");
    let reply = Reply::parse(&all);
    reply.assert_relayable(200);
    assert_eq!(reply.body.len(), BLOCKS * 64 * 1024);
    assert!(reply.body.iter().all(|&b| b == b'x'));
}

#[test]
fn remote_addr_and_url_scheme_come_from_the_front() {
    let fixture = fixture();
    let vars = nginx_vars(
        "GET",
        "/env",
        &[
            ("REMOTE_ADDR", "203.0.113.9"),
            ("REMOTE_PORT", "51000"),
            ("HTTPS", "on"),
            ("REQUEST_SCHEME", "https"),
            ("SERVER_PORT", "443"),
            ("HTTP_X_FORWARDED_FOR", "6.6.6.6"),
        ],
    );
    let environ = environ_of(&Reply::parse(&fixture.tcp.exchange(&[&packet(&vars)])));
    assert_eq!(var(&environ, "REMOTE_ADDR"), Some("203.0.113.9"));
    assert_eq!(var(&environ, "REMOTE_PORT"), Some("51000"));
    assert_eq!(var(&environ, "wsgi.url_scheme"), Some("https"));
    assert_eq!(var(&environ, "SERVER_PORT"), Some("443"));
    assert_eq!(
        var(&environ, "HTTP_X_FORWARDED_FOR"),
        Some("6.6.6.6"),
        "a header, not believed"
    );

    // Without REMOTE_ADDR the environ shows the peer (the front itself); plain http.
    let vars: Vec<_> = nginx_vars("GET", "/env", &[])
        .into_iter()
        .filter(|(name, _)| !name.starts_with("REMOTE_") && *name != "REQUEST_SCHEME")
        .collect();
    let environ = environ_of(&Reply::parse(&fixture.tcp.exchange(&[&packet(&vars)])));
    assert_eq!(var(&environ, "REMOTE_ADDR"), Some("127.0.0.1"));
    assert_eq!(var(&environ, "wsgi.url_scheme"), Some("http"));
}

#[test]
fn script_name_from_the_front_serves_under_a_sub_path() {
    let fixture = fixture();
    let vars = nginx_vars("GET", "/app/env/page?x=1", &[("SCRIPT_NAME", "/app")]);
    let environ = environ_of(&Reply::parse(&fixture.unix.exchange(&[&packet(&vars)])));
    assert_eq!(
        var(&environ, "SCRIPT_NAME"),
        Some("/app/env"),
        "the front's prefix, then the mount's"
    );
    assert_eq!(var(&environ, "PATH_INFO"), Some("/page"));
    assert_eq!(var(&environ, "REQUEST_URI"), Some("/app/env/page?x=1"));
}

#[test]
fn an_app_error_is_a_500() {
    let fixture = fixture();
    let reply = Reply::parse(
        &fixture
            .tcp
            .exchange(&[&packet(&nginx_vars("GET", "/bad/call-error", &[]))]),
    );
    reply.assert_relayable_error(500);
}

#[test]
fn a_malformed_packet_is_closed_unanswered_and_logged() {
    let fixture = fixture();
    // modifier1 5 is not a WSGI request.
    let wrong_modifier = packet_with_modifier(5, &nginx_vars("GET", "/", &[]));
    assert_eq!(fixture.tcp.exchange(&[&wrong_modifier]), b"", "nothing served");
    fixture
        .gateway
        .wait_for_log("bad uwsgi packet: modifier1 5 is not served");

    // A value length that runs past the end of the block.
    let mut overrun = packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]);
    let at = overrun.len() - 3;
    overrun[at] = 0xff;
    assert_eq!(fixture.unix.exchange(&[&overrun]), b"", "nothing served");
    fixture
        .gateway
        .wait_for_log("bad uwsgi packet: a variable's length runs past the end of the variables block");

    // A CR LF smuggled into a header value.
    let smuggled = packet(&nginx_vars("GET", "/", &[("HTTP_X_EVIL", "a\r\nb")]));
    assert_eq!(fixture.tcp.exchange(&[&smuggled]), b"");
    fixture.gateway.wait_for_log("an HTTP_* variable holds a control byte");

    // The gateway serves on.
    let reply = Reply::parse(&fixture.tcp.exchange(&[&packet(&nginx_vars("GET", "/", &[]))]));
    reply.assert_relayable(200);
}

#[test]
fn an_http_request_on_a_uwsgi_listener_is_refused() {
    let fixture = fixture();
    // "GET " starts with modifier1 0x47.
    assert_eq!(fixture.tcp.exchange(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"]), b"");
    fixture.gateway.wait_for_log("modifier1 71 is not served");
}

#[test]
fn a_body_larger_than_the_limit_is_a_413() {
    let fixture = fixture();
    let vars = nginx_vars("POST", "/", &[("CONTENT_LENGTH", "99999999999")]);
    let reply = Reply::parse(&fixture.tcp.exchange(&[&packet(&vars)]));
    reply.assert_relayable_error(413);
}

#[test]
fn a_peer_outside_uwsgi_allow_ips_is_refused_and_unix_peers_are_served() {
    let fixture = start(&["--workers", "0", "--threads", "2", "--uwsgi-allow-ips", "10.0.0.1"]);
    let request = packet(&nginx_vars("GET", "/", &[]));
    assert_eq!(fixture.tcp.exchange(&[&request]), b"", "loopback is not 10.0.0.1");
    fixture
        .gateway
        .wait_for_log("uwsgi connection refused: the peer is not in --uwsgi-allow-ips");
    // A unix-socket peer is served, here by the app pool.
    let reply = Reply::parse(&fixture.unix.exchange(&[&request]));
    reply.assert_relayable(200);
    let vars = nginx_vars("POST", "/", &[("CONTENT_LENGTH", "4")]);
    let request = packet(&vars);
    let reply = Reply::parse(&fixture.unix.exchange(&[&request, b"pi", b"ng"]));
    assert_eq!(reply.text(), "ping");
    // HTTP on the same gateway is not affected by the list.
    let reply = fixture.gateway.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status, 200);
}
