//! End-to-end: the gateway behind real nginx and Apache httpd, each started with exactly the
//! configuration blocks `docs/deploy-nginx.md`, `docs/deploy-apache.md` and `docs/deploy-scale.md`
//! print (a block is marked `<!-- test: NAME -->`; only its addresses are replaced), so the docs
//! cannot drift from what works. One request battery runs through each front and protocol; two
//! gateways behind one nginx pool (and one Apache balancer) lose an instance under load, and
//! behind nginx reload in turn under load.
//!
//! The fronts are the Debian packages' `/usr/sbin/nginx` and `/usr/sbin/apache2`. When one is not
//! installed its tests say so and pass, unless `NSGI_REQUIRE_FRONTS=1` (set by `.ci/run`), which
//! makes a missing server a failure. Everything listens on loopback; every front, gateway and file
//! lives in the test's scratch directory and stops with the test. These tests never touch the
//! machine's own nginx or Apache (their configuration, services or ports), and never signal a
//! process they did not start.

use nsgi_testkit::{
    Gateway, IO_TIMEOUT, Response, Scratch, build_packages, compile_c_app, read_response, running_as_root,
    sample_library,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

// ---------------------------------------------------------------------------------------------
// The documented configurations

/// The front's listening port as the docs write it, in nginx (`listen 80;`) and Apache (`*:80`).
const DOC_NGINX_LISTEN: &str = "listen 80;";
const DOC_APACHE_VHOST: &str = "*:80";
/// The gateway's addresses as the docs write them.
const DOC_BACKEND: &str = "127.0.0.1:8000";
const DOC_SECOND_BACKEND: &str = "127.0.0.1:8001";
const DOC_HTTP_SOCKET: &str = "/run/nsgi/http.sock";
const DOC_UWSGI_SOCKET: &str = "/run/nsgi/uwsgi.sock";

/// Every block the docs mark for testing, by file; `every_marked_block_is_tested` keeps this list
/// and the docs in step.
const MARKED_BLOCKS: &[(&str, &[&str])] = &[
    (
        "deploy-nginx.md",
        &[
            "nginx-proxy-snippet",
            "nginx-http-tcp",
            "nginx-http-unix",
            "nginx-http-subpath",
            "nginx-uwsgi-tcp",
            "nginx-uwsgi-unix",
            "nginx-uwsgi-subpath",
        ],
    ),
    (
        "deploy-apache.md",
        &[
            "apache-http-tcp",
            "apache-http-unix",
            "apache-http-subpath",
            "apache-uwsgi-tcp",
            "apache-uwsgi-unix",
            "apache-uwsgi-subpath",
        ],
    ),
    ("deploy-scale.md", &["nginx-scale", "apache-scale"]),
];

/// The text of `docs/<doc>`.
fn doc_text(doc: &str) -> String {
    let path = nsgi_testkit::workspace_root().join("docs").join(doc);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The names of every `<!-- test: NAME -->` marker in `text`, in order.
fn marker_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("<!-- test: ")?.strip_suffix(" -->"))
        .map(|name| name.trim().to_owned())
        .collect()
}

/// The fenced code block that follows the marker `<!-- test: name -->` in `docs/<doc>`.
fn doc_block(doc: &str, name: &str) -> String {
    let text = doc_text(doc);
    let marker = format!("<!-- test: {name} -->");
    let mut lines = text.lines().skip_while(|line| line.trim() != marker);
    assert!(lines.next().is_some(), "docs/{doc} has no marker {marker}");
    let fence = lines
        .next()
        .filter(|line| line.starts_with("```"))
        .unwrap_or_else(|| panic!("in docs/{doc}, {marker} is not followed by a fenced block"));
    assert!(fence.len() > 3, "the block after {marker} names no language");
    let mut block = String::new();
    for line in lines.by_ref() {
        if line.starts_with("```") {
            return block;
        }
        block.push_str(line);
        block.push('\n');
    }
    panic!("in docs/{doc}, the block after {marker} is never closed")
}

/// `block` with each `(documented, actual)` address replaced; every documented address must occur.
fn substitute(block: &str, replacements: &[(&str, String)]) -> String {
    let mut out = block.to_owned();
    for (documented, actual) in replacements {
        assert!(
            out.contains(documented),
            "the block does not contain the placeholder {documented:?}:\n{block}"
        );
        out = out.replace(documented, actual);
    }
    out
}

#[test]
fn every_marked_block_is_tested() {
    for (doc, expected) in MARKED_BLOCKS {
        let found = marker_names(&doc_text(doc));
        assert_eq!(
            found, *expected,
            "docs/{doc}: the marked blocks and the ones these tests start differ"
        );
        for name in *expected {
            assert!(!doc_block(doc, name).trim().is_empty(), "{doc}: block {name} is empty");
        }
    }
}

/// The front `kind` whose blocks `doc` holds.
fn front_of(doc_block_name: &str) -> FrontKind {
    if doc_block_name.starts_with("apache") {
        FrontKind::Apache
    } else {
        FrontKind::Nginx
    }
}

#[test]
fn every_documented_block_passes_its_fronts_config_check() {
    // Also the blocks whose battery waits for the uwsgi listener: their syntax is checked here.
    let scratch = open_scratch("config-check");
    for (doc, names) in MARKED_BLOCKS {
        for name in names.iter().filter(|name| **name != "nginx-proxy-snippet") {
            let kind = front_of(name);
            if !kind.available() {
                continue;
            }
            let dir = scratch.path(name);
            std::fs::create_dir_all(&dir).expect("create the check's directory");
            for (file, contents) in kind.files() {
                let path = dir.join(file);
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("create dirs");
                std::fs::write(path, contents).expect("write a front file");
            }
            let block = doc_block(doc, name);
            let mut replacements = vec![(kind.documented_listen(), kind.listen_at(8080))];
            for (documented, actual) in [
                (DOC_BACKEND, "127.0.0.1:9"),
                (DOC_SECOND_BACKEND, "127.0.0.1:10"),
                (DOC_HTTP_SOCKET, "/nonexistent/http.sock"),
                (DOC_UWSGI_SOCKET, "/nonexistent/uwsgi.sock"),
            ] {
                if block.contains(documented) {
                    replacements.push((documented, actual.to_owned()));
                }
            }
            let site = substitute(&block, &replacements);
            let output = Front::command(kind, &dir, &site, 8080, &["-t"])
                .stdin(Stdio::null())
                .output()
                .expect("run the front's config check");
            assert!(
                output.status.success(),
                "docs/{doc} block {name}: {kind:?} -t refused it:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Front servers

#[derive(Clone, Copy, Debug, PartialEq)]
enum FrontKind {
    Nginx,
    Apache,
}

impl FrontKind {
    fn binary(self) -> &'static Path {
        match self {
            FrontKind::Nginx => Path::new("/usr/sbin/nginx"),
            FrontKind::Apache => Path::new("/usr/sbin/apache2"),
        }
    }

    /// The page of the docs with this front's configurations.
    fn doc(self) -> &'static str {
        match self {
            FrontKind::Nginx => "deploy-nginx.md",
            FrontKind::Apache => "deploy-apache.md",
        }
    }

    /// The name of its directory in a test's scratch directory.
    fn dir_name(self) -> &'static str {
        match self {
            FrontKind::Nginx => "nginx",
            FrontKind::Apache => "apache",
        }
    }

    /// The files its blocks may include, written next to its main configuration.
    fn files(self) -> Vec<(&'static str, String)> {
        match self {
            FrontKind::Nginx => nginx_files(),
            FrontKind::Apache => Vec::new(),
        }
    }

    /// How the docs write the front's own listening address.
    fn documented_listen(self) -> &'static str {
        match self {
            FrontKind::Nginx => DOC_NGINX_LISTEN,
            FrontKind::Apache => DOC_APACHE_VHOST,
        }
    }

    fn listen_at(self, port: u16) -> String {
        match self {
            FrontKind::Nginx => format!("listen 127.0.0.1:{port};"),
            FrontKind::Apache => format!("127.0.0.1:{port}"),
        }
    }

    /// Whether this front's binary is here; when it is not, says so, and fails only when
    /// `NSGI_REQUIRE_FRONTS=1`.
    fn available(self) -> bool {
        let binary = self.binary();
        if binary.exists() {
            return true;
        }
        let required = std::env::var("NSGI_REQUIRE_FRONTS").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "NSGI_REQUIRE_FRONTS=1 but {} is not installed (apt-get install nginx apache2)",
            binary.display()
        );
        eprintln!(
            "SKIPPED: {} is not installed, so this test of the gateway behind it did not run",
            binary.display()
        );
        false
    }
}

/// Apache modules the documented blocks use, loaded from Debian's module directory.
const APACHE_MODULES: &[(&str, &str)] = &[
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("headers_module", "mod_headers.so"),
    ("env_module", "mod_env.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("proxy_uwsgi_module", "mod_proxy_uwsgi.so"),
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
];

/// A running nginx or Apache in its own process group, stopped (with its workers) when dropped.
struct Front {
    kind: FrontKind,
    child: Child,
    addr: SocketAddr,
    error_log: PathBuf,
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("find a free loopback port")
        .port()
}

impl Front {
    /// Starts `kind` in `dir` (created) serving `site`, a documented block whose addresses other
    /// than the front's own are already replaced; `files` are written next to the main config
    /// (snippets, `uwsgi_params`). Waits until it accepts connections.
    fn start(kind: FrontKind, dir: &Path, site: &str, files: &[(&str, String)]) -> Front {
        std::fs::create_dir_all(dir).expect("create the front's directory");
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("a file in the directory")).expect("create dirs");
            std::fs::write(&path, contents).expect("write a front config file");
        }
        // The port is free when picked; another process may take it before the front binds it,
        // so a front that fails to start is tried again on another port, a bounded number of times.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let site = substitute(site, &[(kind.documented_listen(), kind.listen_at(port))]);
            match Front::try_start(kind, dir, &site, port) {
                Ok(front) => return front,
                Err(why) => failures.push(why),
            }
        }
        panic!("{kind:?} did not start:\n{}", failures.join("\n---\n"))
    }

    /// Writes the main configuration of `kind` around `site` into `dir` and returns the command
    /// that runs it in the foreground (`extra` arguments first, e.g. `-t` to check it).
    fn command(kind: FrontKind, dir: &Path, site: &str, port: u16, extra: &[&str]) -> Command {
        let d = dir.display();
        let mut command = Command::new(kind.binary());
        command.args(extra);
        match kind {
            FrontKind::Nginx => {
                let user = if running_as_root() {
                    "user nobody nogroup;\n"
                } else {
                    ""
                };
                let conf = format!(
                    "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
                     events {{ worker_connections 1024; }}\n\
                     http {{\n    access_log off;\n{site}}}\n"
                );
                std::fs::write(dir.join("nginx.conf"), conf).expect("write nginx.conf");
                command.arg("-p").arg(dir).arg("-c").arg(dir.join("nginx.conf")).args([
                    "-e",
                    &format!("{d}/error.log"),
                    "-g",
                    "daemon off;",
                ]);
            }
            FrontKind::Apache => {
                let user = if running_as_root() {
                    "User nobody\nGroup nogroup\n"
                } else {
                    ""
                };
                let modules: String = APACHE_MODULES
                    .iter()
                    .map(|(name, file)| format!("LoadModule {name} /usr/lib/apache2/modules/{file}\n"))
                    .collect();
                let conf = format!(
                    "ServerRoot \"{d}\"\nServerName 127.0.0.1\nPidFile \"{d}/apache2.pid\"\n\
                     DefaultRuntimeDir \"{d}\"\nMutex file:{d} default\nErrorLog \"{d}/error.log\"\n\
                     LogLevel warn\n{modules}{user}Listen 127.0.0.1:{port}\n{site}"
                );
                std::fs::write(dir.join("apache2.conf"), conf).expect("write apache2.conf");
                command
                    .arg("-f")
                    .arg(dir.join("apache2.conf"))
                    .args(["-X", "-DFOREGROUND"]);
            }
        }
        command
    }

    fn try_start(kind: FrontKind, dir: &Path, site: &str, port: u16) -> Result<Front, String> {
        let error_log = dir.join("error.log");
        let _ = std::fs::remove_file(&error_log);
        let mut command = Front::command(kind, dir, site, port, &[]);
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).expect("create the front's stderr file"),
            ))
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", kind.binary().display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{kind:?} exited ({status}); stderr:\n{}\nerror log:\n{}",
                    std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default(),
                    std::fs::read_to_string(&error_log).unwrap_or_default()
                ));
            }
            if TcpStream::connect(addr).is_ok() {
                return Ok(Front {
                    kind,
                    child,
                    addr,
                    error_log,
                });
            }
            if Instant::now() > deadline {
                let _ = kill_group(child.id(), "KILL");
                let _ = child.wait();
                return Err(format!("{kind:?} did not accept connections on {addr} in time"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        // SIGTERM stops nginx's master with its workers, and Apache; the group kill after it
        // catches anything left.
        let _ = kill_group(self.child.id(), "TERM");
        let deadline = Instant::now() + IO_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill_group(self.child.id(), "KILL");
        let _ = self.child.wait();
    }
}

/// Sends `signal` to the process group `pgid` (a process started with `process_group(0)`).
fn kill_group(pgid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The files an nginx block may include: the proxy snippet of docs/deploy-nginx.md and the
/// distribution's `uwsgi_params`.
fn nginx_files() -> Vec<(&'static str, String)> {
    let uwsgi_params = std::fs::read_to_string("/etc/nginx/uwsgi_params")
        .expect("/etc/nginx/uwsgi_params, installed with nginx, is readable");
    vec![
        (
            "snippets/nsgi-proxy.conf",
            doc_block("deploy-nginx.md", "nginx-proxy-snippet"),
        ),
        ("uwsgi_params", uwsgi_params),
    ]
}

/// The scratch directory of a test, open to the fronts' unprivileged workers (they run as
/// `nobody` when the tests run as root) so they can reach the gateway's unix sockets in it.
fn open_scratch(test: &str) -> Scratch {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new(test);
    let root = scratch.path("");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod the scratch dir");
    scratch
}

// ---------------------------------------------------------------------------------------------
// The gateway behind the front, and the apps of the battery

/// How the front speaks to the gateway.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Protocol {
    Http,
    Uwsgi,
}

/// Where the gateway listens for the front.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    Tcp,
    Unix,
}

/// The battery's gateway: `environ` at `/` (every request's environ as `KEY=value` lines),
/// `echo` at `/echo` and `/live/echo`, a 64 KiB-chunk streamer at `/big` and `/live/big`, an app
/// that panics at `/boom`. Listens for the front as `protocol` over `transport`, and returns the
/// address to write into the block in place of the documented one.
fn battery_gateway(
    scratch: &Scratch,
    protocol: Protocol,
    transport: Transport,
    extra: &[&str],
) -> (Gateway, (&'static str, String)) {
    let environ = sample_library("environ");
    let echo = sample_library("echo");
    let streamer = compile_c_app(
        "sleepy",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/sleepy.c"),
    );
    let broken = build_packages(&["broken-panic-in-call"]).join("libbroken_panic_in_call.so");
    let socket = scratch.path(match protocol {
        Protocol::Http => "http.sock",
        Protocol::Uwsgi => "uwsgi.sock",
    });
    let mut args: Vec<String> = vec![
        environ.display().to_string(),
        "--workers".into(),
        "1".into(),
        "--threads".into(),
        "4".into(),
        "--unix-socket-mode".into(),
        "666".into(),
    ];
    for (prefix, library) in [
        ("/echo", &echo),
        ("/live/echo", &echo),
        ("/big", &streamer),
        ("/live/big", &streamer),
        ("/boom", &broken),
    ] {
        args.push("--mount".into());
        args.push(format!("{prefix}={}", library.display()));
    }
    match (protocol, transport) {
        (Protocol::Http, Transport::Tcp) => {}
        (Protocol::Http, Transport::Unix) => args.extend(["--bind".into(), format!("unix:{}", socket.display())]),
        (Protocol::Uwsgi, Transport::Tcp) => args.extend(["--bind".into(), "uwsgi://127.0.0.1:0".into()]),
        (Protocol::Uwsgi, Transport::Unix) => {
            args.extend(["--bind".into(), format!("uwsgi+unix:{}", socket.display())])
        }
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let gateway = Gateway::start(gateway_binary(), &args);
    let replacement = match (protocol, transport) {
        (Protocol::Http, Transport::Tcp) => (DOC_BACKEND, gateway.addr().to_string()),
        (Protocol::Uwsgi, Transport::Tcp) => (DOC_BACKEND, gateway.listening_on("uwsgi://")),
        (Protocol::Http, Transport::Unix) => (DOC_HTTP_SOCKET, socket.display().to_string()),
        (Protocol::Uwsgi, Transport::Unix) => (DOC_UWSGI_SOCKET, socket.display().to_string()),
    };
    (gateway, replacement)
}

// ---------------------------------------------------------------------------------------------
// The client side

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
    stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
    stream
}

/// Sends `raw` on a new connection to `addr` and reads one response.
fn exchange(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = connect(addr);
    stream.write_all(raw).expect("send the request");
    read_response(&mut BufReader::new(stream), false)
}

/// The `KEY=value` lines of the environ app, as a map.
fn environ_of(response: &Response) -> BTreeMap<String, String> {
    assert_eq!(response.status, 200, "environ app: {}", response.text());
    response
        .text()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn var<'a>(environ: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    environ
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("the app's environ has no {name}: {environ:#?}"))
}

/// Headers a client forges to pose as another address, scheme and host.
const FORGED: &str = "X-Forwarded-For: 203.0.113.66\r\nX-Forwarded-Proto: https\r\n\
                      X-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 444\r\n\
                      Forwarded: for=203.0.113.66;proto=https;host=evil.example\r\n";

/// A body of `len` bytes that is not all one byte.
fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 23) as u8).collect()
}

/// What the battery expects where fronts and protocols differ.
struct Expect {
    /// The status of a chunked upload (Apache's uwsgi module refuses them with 411).
    chunked_upload: u16,
    /// Whether the front refuses a body over its limit on the Content-Length alone (nginx); Apache
    /// reads a proxied body whole and passes it on, and the gateway answers 413.
    oversized_refused_on_length: bool,
}

/// The request battery, through the front at `front`, the app published at `/`.
fn battery(front: &Front, expect: &Expect) {
    let addr = front.addr;
    let context = format!("{:?} at {addr}", front.kind);

    // GET, with forged forwarding headers: the app sees the front's view of the client.
    let response = exchange(
        addr,
        format!("GET /some/path?q=1 HTTP/1.1\r\nHost: front.test\r\n{FORGED}Connection: close\r\n\r\n").as_bytes(),
    );
    let env = environ_of(&response);
    assert_eq!(var(&env, "REQUEST_METHOD"), "GET", "{context}");
    assert_eq!(var(&env, "PATH_INFO"), "/some/path", "{context}");
    assert_eq!(var(&env, "QUERY_STRING"), "q=1", "{context}");
    assert_eq!(var(&env, "SCRIPT_NAME"), "", "{context}");
    assert_eq!(
        var(&env, "REMOTE_ADDR"),
        "127.0.0.1",
        "{context}: a forged client address got through"
    );
    assert_eq!(
        var(&env, "wsgi.url_scheme"),
        "http",
        "{context}: a forged scheme got through"
    );
    assert_ne!(
        var(&env, "SERVER_NAME"),
        "evil.example",
        "{context}: a forged host got through"
    );

    // Keep-alive: GET, HEAD and GET again on one client connection.
    let mut stream = BufReader::new(connect(addr));
    for (method, head) in [("GET", false), ("HEAD", true), ("GET", false)] {
        stream
            .get_mut()
            .write_all(format!("{method} /kept HTTP/1.1\r\nHost: front.test\r\n\r\n").as_bytes())
            .expect("send on the kept connection");
        let response = read_response(&mut stream, head);
        assert_eq!(response.status, 200, "{context}: {method} on a kept connection");
        assert!(
            !response
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close")),
            "{context}: the front closed a keep-alive connection after {method}"
        );
        if head {
            assert!(response.body.is_empty(), "{context}: HEAD has a body");
            assert!(
                response.header("content-type").is_some(),
                "{context}: HEAD lost its headers"
            );
        } else {
            assert_eq!(var(&environ_of(&response), "REQUEST_METHOD"), "GET");
        }
    }

    for base in ["", "/live"] {
        // POST with a Content-Length body, echoed.
        let body = b"hello through the front";
        let mut raw = format!(
            "POST {base}/echo/ HTTP/1.1\r\nHost: front.test\r\nContent-Type: text/x-test\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        let response = exchange(addr, &raw);
        assert_eq!(
            response.status,
            200,
            "{context}: POST {base}/echo/: {}",
            response.text()
        );
        assert_eq!(response.body, body, "{context}: POST {base}/echo/");
        assert_eq!(response.header("content-type"), Some("text/x-test"), "{context}");

        // A chunked upload of 200 KiB in 16 KiB chunks.
        let upload = patterned(200 * 1024);
        let mut raw = format!(
            "POST {base}/echo/ HTTP/1.1\r\nHost: front.test\r\nContent-Type: application/octet-stream\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for chunk in upload.chunks(16 * 1024) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let response = exchange(addr, &raw);
        assert_eq!(
            response.status,
            expect.chunked_upload,
            "{context}: chunked POST {base}/echo/: {}",
            String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
        );
        if expect.chunked_upload == 200 {
            assert!(
                response.body == upload,
                "{context}: the chunked upload through {base} came back changed"
            );
        }

        // A 5 MiB streamed response: 80 chunks of 64 KiB.
        let response = exchange(
            addr,
            format!("GET {base}/big/stream?80 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(response.status, 200, "{context}: GET {base}/big/stream");
        assert_eq!(
            response.body.len(),
            5 * 1024 * 1024,
            "{context}: {base}/big/stream length"
        );
        assert!(
            response.body.iter().all(|&b| b == b'x'),
            "{context}: {base}/big/stream bytes"
        );
    }

    // An app that fails: the gateway's 500, passed through.
    let response = exchange(
        addr,
        b"GET /boom HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 500, "{context}: a failing app");

    // A body past the gateway's --max-body-size (64 MiB by default) is refused with 413.
    let head = b"POST /echo/ HTTP/1.1\r\nHost: front.test\r\nContent-Length: 67108865\r\nConnection: close\r\n\r\n";
    let response = if expect.oversized_refused_on_length {
        // By the front itself, on the Content-Length, before any byte of it is sent.
        exchange(addr, head)
    } else {
        // The whole body is sent; then a 413 comes back (the gateway's, passed through).
        let mut stream = connect(addr);
        stream.write_all(head).expect("send the head");
        let block = vec![b'x'; 1 << 20];
        let mut sent = 0;
        while sent < 67108865 {
            let n = block.len().min(67108865 - sent);
            if stream.write_all(&block[..n]).is_err() {
                break;
            }
            sent += n;
        }
        read_response(&mut BufReader::new(stream), false)
    };
    assert_eq!(response.status, 413, "{context}: a body over the limit");
}

/// Under `/app`: the app sees `SCRIPT_NAME=/app` (and its mounts `/app/...`), `PATH_INFO` the rest.
fn sub_path_battery(front: &Front, mounts_follow: bool) {
    let addr = front.addr;
    let context = format!("{:?} at {addr}", front.kind);
    let response = exchange(
        addr,
        b"GET /app/some/path?q=1 HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
    );
    let env = environ_of(&response);
    assert_eq!(var(&env, "SCRIPT_NAME"), "/app", "{context}");
    assert_eq!(var(&env, "PATH_INFO"), "/some/path", "{context}");
    assert_eq!(var(&env, "QUERY_STRING"), "q=1", "{context}");
    assert_eq!(var(&env, "REMOTE_ADDR"), "127.0.0.1", "{context}");

    let response = exchange(
        addr,
        b"GET /app/ HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
    );
    let env = environ_of(&response);
    assert_eq!(var(&env, "SCRIPT_NAME"), "/app", "{context}");
    assert_eq!(var(&env, "PATH_INFO"), "/", "{context}");

    if mounts_follow {
        let mut raw =
            b"POST /app/echo/ HTTP/1.1\r\nHost: front.test\r\nContent-Length: 4\r\nConnection: close\r\n\r\n".to_vec();
        raw.extend_from_slice(b"ping");
        let response = exchange(addr, &raw);
        assert_eq!(response.status, 200, "{context}: POST /app/echo/");
        assert_eq!(response.body, b"ping", "{context}");
    }

    let response = exchange(
        addr,
        b"GET /app/boom HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 500, "{context}: a failing app under /app");
}

/// Starts the gateway for `protocol`/`transport` and, in front of it, the front of the documented
/// block `block` (named `nginx-...` or `apache-...`) exactly as written; then runs `check`.
fn through_front(
    block: &str,
    protocol: Protocol,
    transport: Transport,
    gateway_extra: &[&str],
    check: impl FnOnce(&Front),
) {
    let kind = front_of(block);
    if !kind.available() {
        return;
    }
    let scratch = open_scratch(block);
    let (gateway, backend) = battery_gateway(&scratch, protocol, transport, gateway_extra);
    let backend_address = backend.1.clone();
    let site = substitute(&doc_block(kind.doc(), block), &[backend]);
    let front = Front::start(kind, &scratch.path(kind.dir_name()), &site, &kind.files());
    // Before any request: for a unix socket, the front's own connected socketpairs.
    let baseline = front_connections(&front, transport, &backend_address);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check(&front);
        if protocol == Protocol::Http {
            // The sub-path blocks publish the app under /app/ only.
            let path = if block.ends_with("-subpath") { "/app/" } else { "/" };
            assert_upstream_keep_alive(&front, path, transport, &backend_address, &baseline);
        }
    }));
    if let Err(panic) = outcome {
        eprintln!("{kind:?} error log:\n{}", front.error_log());
        eprintln!("gateway stderr:\n{}", gateway.stderr());
        std::panic::resume_unwind(panic);
    }
}

/// The inodes of the sockets the front's processes (its process group) hold open.
fn socket_inodes_of_group(pgid: u32) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return inodes;
    };
    for process in processes.flatten() {
        let pid = process.file_name();
        let Some(pid) = pid.to_str().filter(|p| p.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so split after ')'.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let pgrp = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|field| field.parse::<u32>().ok());
        if pgrp != Some(pgid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) {
                    inodes.extend(inode.parse::<u64>().ok());
                }
            }
        }
    }
    inodes
}

/// The connected sockets the front holds open towards the gateway at `address` (`IP:PORT`:
/// its ESTABLISHED TCP connections to it; a unix socket path: its connected unix sockets, which
/// the caller tells from the front's own socketpairs by a baseline).
fn front_connections(front: &Front, transport: Transport, address: &str) -> BTreeSet<u64> {
    let held = socket_inodes_of_group(front.child.id());
    let connected: BTreeSet<u64> = match transport {
        Transport::Tcp => {
            let addr: SocketAddr = address.parse().expect("the gateway's TCP address");
            let std::net::IpAddr::V4(ip) = addr.ip() else {
                panic!("the gateway listens on IPv4 loopback")
            };
            // The kernel prints an IPv4 address as its in-memory (network order) u32 read as a
            // little-endian number, in hex, and the port in hex.
            let remote = format!("{:08X}:{:04X}", u32::from_le_bytes(ip.octets()), addr.port());
            std::fs::read_to_string("/proc/net/tcp")
                .expect("read /proc/net/tcp")
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    // rem_address; st 01 is ESTABLISHED; the inode is field 9.
                    (fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01"))
                        .then(|| fields.get(9)?.parse().ok())
                        .flatten()
                })
                .collect()
        }
        Transport::Unix => std::fs::read_to_string("/proc/net/unix")
            .expect("read /proc/net/unix")
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // St 03 is connected; the inode is field 6.
                (fields.get(5) == Some(&"03"))
                    .then(|| fields.get(6)?.parse().ok())
                    .flatten()
            })
            .collect(),
    };
    held.intersection(&connected).copied().collect()
}

/// Two requests for `path` on one client connection reach the gateway over one front-to-gateway connection:
/// the upstream keep-alive (or pool) of the documented block. Requests on one client connection
/// run one after the other in the front, so the first one's backend connection is closed, if the
/// front closes it, before the second starts. `baseline`: the front's connections that are not
/// to the gateway (taken before its first request).
fn assert_upstream_keep_alive(
    front: &Front,
    path: &str,
    transport: Transport,
    address: &str,
    baseline: &BTreeSet<u64>,
) {
    let mut stream = BufReader::new(connect(front.addr));
    let mut after_each = Vec::new();
    for _ in 0..2 {
        stream
            .get_mut()
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: front.test\r\n\r\n").as_bytes())
            .expect("send on the kept connection");
        assert_eq!(read_response(&mut stream, false).status, 200, "GET {path}");
        let now: BTreeSet<u64> = front_connections(front, transport, address)
            .difference(baseline)
            .copied()
            .collect();
        after_each.push(now);
    }
    assert!(
        after_each[0].intersection(&after_each[1]).next().is_some(),
        "{:?}: no connection to the gateway at {address} outlived a request (after the first: \
         {:?}, after the second: {:?}): no upstream keep-alive",
        front.kind,
        after_each[0],
        after_each[1]
    );
}

const NGINX: Expect = Expect {
    chunked_upload: 200,
    oversized_refused_on_length: true,
};
const APACHE_HTTP: Expect = Expect {
    chunked_upload: 200,
    oversized_refused_on_length: false,
};

// ---------------------------------------------------------------------------------------------
// nginx

#[test]
fn nginx_http_over_tcp_serves_the_battery() {
    through_front("nginx-http-tcp", Protocol::Http, Transport::Tcp, &[], |front| {
        battery(front, &NGINX)
    });
}

#[test]
fn nginx_http_over_a_unix_socket_with_upstream_keepalive_serves_the_battery() {
    through_front("nginx-http-unix", Protocol::Http, Transport::Unix, &[], |front| {
        battery(front, &NGINX)
    });
}

#[test]
fn nginx_http_under_a_sub_path_sets_script_name() {
    through_front(
        "nginx-http-subpath",
        Protocol::Http,
        Transport::Tcp,
        &["--root-path", "/app"],
        |front| sub_path_battery(front, true),
    );
}

#[test]
fn nginx_uwsgi_over_tcp_serves_the_battery() {
    through_front("nginx-uwsgi-tcp", Protocol::Uwsgi, Transport::Tcp, &[], |front| {
        battery(front, &NGINX)
    });
}

#[test]
fn nginx_uwsgi_over_a_unix_socket_serves_the_battery() {
    through_front("nginx-uwsgi-unix", Protocol::Uwsgi, Transport::Unix, &[], |front| {
        battery(front, &NGINX)
    });
}

#[test]
fn nginx_uwsgi_under_a_sub_path_sets_script_name() {
    through_front("nginx-uwsgi-subpath", Protocol::Uwsgi, Transport::Tcp, &[], |front| {
        sub_path_battery(front, false)
    });
}

// ---------------------------------------------------------------------------------------------
// Apache

#[test]
fn apache_http_over_tcp_serves_the_battery() {
    through_front("apache-http-tcp", Protocol::Http, Transport::Tcp, &[], |front| {
        battery(front, &APACHE_HTTP)
    });
}

#[test]
fn apache_http_over_a_unix_socket_with_a_pool_serves_the_battery() {
    through_front("apache-http-unix", Protocol::Http, Transport::Unix, &[], |front| {
        battery(front, &APACHE_HTTP)
    });
}

#[test]
fn apache_http_under_a_sub_path_sets_script_name() {
    through_front(
        "apache-http-subpath",
        Protocol::Http,
        Transport::Tcp,
        &["--root-path", "/app"],
        |front| sub_path_battery(front, true),
    );
}

/// `mod_proxy_uwsgi` answers a chunked upload with 411 itself (docs/deploy-apache.md §5).
const APACHE_UWSGI: Expect = Expect {
    chunked_upload: 411,
    oversized_refused_on_length: false,
};

#[test]
fn apache_uwsgi_over_tcp_serves_the_battery() {
    through_front("apache-uwsgi-tcp", Protocol::Uwsgi, Transport::Tcp, &[], |front| {
        battery(front, &APACHE_UWSGI)
    });
}

#[test]
fn apache_uwsgi_over_a_unix_socket_serves_the_battery() {
    through_front("apache-uwsgi-unix", Protocol::Uwsgi, Transport::Unix, &[], |front| {
        battery(front, &APACHE_UWSGI)
    });
}

#[test]
fn apache_uwsgi_under_a_sub_path_sets_script_name() {
    through_front("apache-uwsgi-subpath", Protocol::Uwsgi, Transport::Tcp, &[], |front| {
        sub_path_battery(front, false)
    });
}

// ---------------------------------------------------------------------------------------------
// The uwsgi listener and untrusted peers (no front needed: the test is the untrusted peer)

/// A uwsgi packet (modifier1 0) of `vars`.
fn uwsgi_packet(vars: &[(&str, &str)]) -> Vec<u8> {
    nsgi_testkit::uwsgi_packet(0, vars)
}

/// Sends `bytes` on a new connection to `addr` and returns everything until the peer closes.
fn send_and_read_to_close(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    let _ = stream.write_all(bytes);
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    all
}

#[test]
fn uwsgi_packets_from_an_untrusted_address_are_refused_and_malformed_ones_never_crash() {
    let good = uwsgi_packet(&[
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/"),
        ("QUERY_STRING", ""),
        ("SERVER_NAME", "t"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "203.0.113.66"),
    ]);
    // Header says 200 bytes of vars; what follows is a var whose length runs past the packet.
    let mut malformed = vec![0, 200, 0, 0];
    malformed.extend_from_slice(&[0xff, 0xff]);
    malformed.extend_from_slice(b"REQUEST_METHOD");
    malformed.resize(4 + 200, b'A');

    // Loopback is not in the list: this test is an untrusted peer.
    let untrusting = Gateway::start(
        gateway_binary(),
        [
            sample_library("environ").as_os_str(),
            "--workers".as_ref(),
            "1".as_ref(),
            "--bind".as_ref(),
            "uwsgi://127.0.0.1:0".as_ref(),
            "--uwsgi-allow-ips".as_ref(),
            "192.0.2.1".as_ref(),
        ],
    );
    let uwsgi: SocketAddr = untrusting
        .listening_on("uwsgi://")
        .parse()
        .expect("the uwsgi listener's address");
    for (what, packet) in [("a malformed packet", &malformed), ("a well-formed packet", &good)] {
        let answer = send_and_read_to_close(uwsgi, packet);
        assert!(
            !String::from_utf8_lossy(&answer).contains(" 200 "),
            "{what} from an untrusted address was served: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    // The gateway is still serving (its HTTP listener answers).
    let response = exchange(
        untrusting.addr(),
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        response.status, 200,
        "the gateway stopped serving after refused packets"
    );

    // From a trusted address: the malformed packet is closed on, the well-formed one served.
    let trusting = Gateway::start(
        gateway_binary(),
        [
            sample_library("environ").as_os_str(),
            "--workers".as_ref(),
            "1".as_ref(),
            "--bind".as_ref(),
            "uwsgi://127.0.0.1:0".as_ref(),
        ],
    );
    let uwsgi: SocketAddr = trusting.listening_on("uwsgi://").parse().expect("the uwsgi address");
    let answer = send_and_read_to_close(uwsgi, &malformed);
    assert!(
        !String::from_utf8_lossy(&answer).contains(" 200 "),
        "a malformed packet was served: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let answer = String::from_utf8_lossy(&send_and_read_to_close(uwsgi, &good)).into_owned();
    assert!(
        answer.starts_with("HTTP/1."),
        "no HTTP response to a good packet: {answer:?}"
    );
    assert!(answer.contains(" 200 "), "a good packet was not served: {answer:?}");
    assert!(
        answer.contains("REMOTE_ADDR=203.0.113.66"),
        "REMOTE_ADDR not taken from the front: {answer}"
    );
}

// ---------------------------------------------------------------------------------------------
// Two gateways behind one nginx pool (docs/deploy-scale.md)

/// A gateway serving `hello`, in a process group of its own (so its supervisor and workers can
/// be killed at once, as a machine or container dies).
fn pool_member() -> Gateway {
    let hello = sample_library("hello");
    Gateway::start_with(
        gateway_binary(),
        [hello.as_os_str(), "--workers".as_ref(), "1".as_ref()],
        |command| {
            command.process_group(0);
        },
    )
}

/// Requests the load made, by outcome.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

/// `threads` clients sending GETs on kept-alive connections to `addr` (reconnecting after a
/// failure), counting each outcome, until `stop` is set; each sends at most `LOAD_CAP_PER_THREAD`
/// so the test ends even if `stop` never comes.
fn run_load(addr: SocketAddr, threads: usize, tally: &Tally, failures: &Mutex<Vec<String>>, stop: &AtomicBool) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut stream: Option<BufReader<TcpStream>> = None;
                for _ in 0..LOAD_CAP_PER_THREAD {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    match pool_request(addr, &mut stream) {
                        Ok(()) => {
                            tally.ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(why) => {
                            stream = None;
                            tally.failed.fetch_add(1, Ordering::SeqCst);
                            if let Ok(mut list) = failures.lock() {
                                list.push(why);
                            }
                        }
                    }
                }
            });
        }
    });
}

/// One GET of `hello` through the front on `stream` (connected first when it is `None`).
fn pool_request(addr: SocketAddr, stream: &mut Option<BufReader<TcpStream>>) -> Result<(), String> {
    if stream.is_none() {
        let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        *stream = Some(BufReader::new(s));
    }
    let reader = stream.as_mut().ok_or("no connection")?;
    reader
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: pool.test\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    // read_response panics on a cut-off response: that is a failed request here.
    let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_response(reader, false)))
        .map_err(|_| "no complete response".to_owned())?;
    if response.status != 200 || response.body != b"Hello, World!" {
        return Err(format!("{} {:?}", response.status, response.text()));
    }
    if response
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    {
        *stream = None;
    }
    Ok(())
}

/// Two pool members and `kind` in front of them with the documented pool block.
fn pool(scratch: &Scratch, kind: FrontKind) -> (Gateway, Gateway, Front) {
    let first = pool_member();
    let second = pool_member();
    let block = match kind {
        FrontKind::Nginx => "nginx-scale",
        FrontKind::Apache => "apache-scale",
    };
    let site = substitute(
        &doc_block("deploy-scale.md", block),
        &[
            (DOC_BACKEND, first.addr().to_string()),
            (DOC_SECOND_BACKEND, second.addr().to_string()),
        ],
    );
    let front = Front::start(kind, &scratch.path(kind.dir_name()), &site, &kind.files());
    (first, second, front)
}

const LOAD_THREADS: usize = 4;
/// The most requests one load thread sends.
const LOAD_CAP_PER_THREAD: u64 = 100_000;
/// Requests the load must complete after an event (a kill, a reload) before it stops.
const REQUESTS_AFTER: u64 = 300;

impl Tally {
    fn done(&self) -> u64 {
        self.ok.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until at least `count` requests are done.
    fn wait_for(&self, count: u64) {
        let deadline = Instant::now() + IO_TIMEOUT;
        while self.done() < count {
            assert!(Instant::now() < deadline, "the load never reached {count} requests");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn first_failures(failures: &Mutex<Vec<String>>) -> Vec<String> {
    failures
        .lock()
        .map(|f| f.iter().take(5).cloned().collect())
        .unwrap_or_default()
}

/// Two gateways behind `kind`'s documented pool; one is killed (supervisor and workers at once,
/// as when its machine dies) while four clients keep requesting: at most `max_failed` requests
/// fail, and the load goes on on the survivor.
fn kill_a_gateway_under_load(kind: FrontKind, max_failed: u64) {
    if !kind.available() {
        return;
    }
    let scratch = open_scratch(&format!("scale-kill-{}", kind.dir_name()));
    let (first, _second, front) = pool(&scratch, kind);
    let tally = Tally::default();
    let failures = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| run_load(front.addr, LOAD_THREADS, &tally, &failures, &stop));
        tally.wait_for(REQUESTS_AFTER);
        assert!(
            kill_group(first.pid(), "KILL"),
            "kill the first gateway's process group"
        );
        tally.wait_for(tally.done() + REQUESTS_AFTER);
        stop.store(true, Ordering::SeqCst);
    });
    assert!(
        tally.failed.load(Ordering::SeqCst) <= max_failed,
        "{kind:?}: {} requests failed after one gateway was killed (at most {max_failed} may): {:?}\n\
         error log:\n{}",
        tally.failed.load(Ordering::SeqCst),
        first_failures(&failures),
        front.error_log()
    );
    assert!(tally.ok.load(Ordering::SeqCst) >= 2 * REQUESTS_AFTER);
}

#[test]
fn nginx_fails_over_when_a_gateway_is_killed_under_load() {
    // nginx retries even the requests the dead gateway had in flight (GETs: proxy_next_upstream).
    kill_a_gateway_under_load(FrontKind::Nginx, 0);
}

#[test]
fn apache_balancer_fails_over_when_a_gateway_is_killed_under_load() {
    // Apache moves every new request to the survivor but does not retry one already sent to the
    // dead gateway: each client thread can lose the one request it had in flight
    // (docs/deploy-scale.md §3).
    kill_a_gateway_under_load(FrontKind::Apache, LOAD_THREADS as u64);
}

#[test]
fn sighup_of_each_gateway_in_turn_under_load_fails_no_request() {
    if !FrontKind::Nginx.available() {
        return;
    }
    let scratch = open_scratch("scale-hup");
    let (first, second, front) = pool(&scratch, FrontKind::Nginx);
    let tally = Tally::default();
    let failures = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| run_load(front.addr, LOAD_THREADS, &tally, &failures, &stop));
        tally.wait_for(REQUESTS_AFTER);
        for member in [&first, &second] {
            member.signal("HUP");
            member.wait_for_log("reload complete: generation 2 is serving");
            // The old worker has drained and stopped, under load.
            member.wait_for_log(") stopped");
            tally.wait_for(tally.done() + REQUESTS_AFTER);
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        tally.failed.load(Ordering::SeqCst),
        0,
        "requests failed during the rolling reload: {:?}\nnginx error log:\n{}",
        first_failures(&failures),
        front.error_log()
    );
    assert!(tally.ok.load(Ordering::SeqCst) >= 3 * REQUESTS_AFTER);
}
