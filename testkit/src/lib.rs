//! Test support for NSGI's end-to-end tests: build the sample app libraries, start a real
//! `nsgi-gateway` process on an ephemeral loopback port, and speak raw HTTP/1.1 to it.
//!
//! [`webdriver`] drives a headless Chromium for the browser tests.
//! [`fake_host`] is the fake host table for tests that drive an app through the raw ABI.
//!
//! Everything here fails loudly (panics with a message naming the problem): it is only used from
//! tests. Nothing here talks to any address but 127.0.0.1.

pub mod webdriver;

pub mod fake_host;

use nsgi::host::validate::{parse_decimal_length, status_has_no_body};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a test waits for a socket read or for the gateway to start.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// The sample app packages and the library file each builds: every good sample the conformance
/// checker runs its whole battery on. `stream` is not among them: it paces its lines (200 ms
/// apart by default), so the battery's 190 requests take a minute; its own tests drive it.
pub const SAMPLES: &[(&str, &str)] = &[
    ("hello", "libhello.so"),
    ("html", "libhtml.so"),
    ("environ", "libenviron.so"),
    ("echo", "libecho.so"),
    ("hello-c", "libhello_c.so"),
    ("template", "libtemplate.so"),
    ("form", "libform.so"),
    ("static-files", "libstatic_files.so"),
    ("seeds-c", "libseeds_c.so"),
];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The profile directory the running test binary was built into (`target/debug` or
/// `target/release`), where cargo also puts the sample libraries.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

fn is_release() -> bool {
    profile_dir().file_name() == Some(OsStr::new("release"))
}

/// Builds every sample app (once per test process) and returns the profile directory.
pub fn build_samples() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("profile dir has a parent").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace_root())
            .arg("build")
            .arg("--quiet")
            .arg("--target-dir")
            .arg(&target);
        if is_release() {
            command.arg("--release");
        }
        for (package, _) in SAMPLES {
            command.args(["-p", package]);
        }
        let status = command.status().expect("run cargo build for the sample apps");
        assert!(status.success(), "building the sample apps failed: {status}");
        profile
    })
}

/// The path of a sample app's library, built if needed.
pub fn sample_library(package: &str) -> PathBuf {
    let file = SAMPLES
        .iter()
        .find(|(name, _)| *name == package)
        .map(|(_, file)| *file)
        .unwrap_or_else(|| panic!("{package} is not a sample app"));
    let path = build_samples().join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// True when the tests run as root (as in many CI containers).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The flags every test gateway gets: `--allow-root` when the tests run as root, since the
/// gateway refuses to serve as root otherwise. Tests of that refusal start the binary directly.
pub fn root_flags() -> &'static [&'static str] {
    if running_as_root() { &["--allow-root"] } else { &[] }
}

/// A running `nsgi-gateway` process, killed when dropped.
pub struct Gateway {
    child: Child,
    addr: SocketAddr,
    listening_line: String,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl Gateway {
    /// Starts the gateway binary at `binary` with `args`, listening on a free loopback port, and
    /// waits for its "Listening on" line.
    pub fn start<I, S>(binary: &Path, args: I) -> Gateway
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Gateway::start_with(binary, args, |_| {})
    }

    /// As [`Gateway::start`], with `configure` applied to the command before it is spawned (to
    /// start the gateway in a process group of its own, say).
    pub fn start_with<I, S>(binary: &Path, args: I, configure: impl FnOnce(&mut Command)) -> Gateway
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(binary);
        command
            .args(["--bind", "127.0.0.1:0"])
            .args(root_flags())
            .args(args)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        configure(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let child_stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(child_stderr).lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("NSGI_TEST_VERBOSE").is_some() {
                    eprintln!("gateway: {line}");
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let stdout_log = Arc::new(Mutex::new(String::new()));
        let stdout_sink = Arc::clone(&stdout_log);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                if let Ok(mut log) = stdout_sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                let _ = tx.send(line);
            }
            // Keep draining (and keeping) so the gateway never blocks on a full pipe.
            for line in lines {
                let Ok(line) = line else { break };
                if let Ok(mut log) = stdout_sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let line = match rx.recv_timeout(IO_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                let log = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("gateway did not report listening (exit: {status:?}); stderr:\n{log}");
            }
        };
        let addr = line
            .strip_prefix("Listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the gateway: {line:?}"));
        Gateway {
            child,
            addr,
            listening_line: line,
            stderr,
            stdout: stdout_log,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first line the gateway printed on stdout, `Listening on http://ADDR (Ctrl+C to quit)`.
    pub fn listening_line(&self) -> &str {
        &self.listening_line
    }

    /// A new connection with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap_or_else(|e| panic!("connect to {}: {e}", self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
        stream
    }

    /// Sends `raw` on a new connection and reads one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut stream = self.connect();
        stream.write_all(raw).expect("send request");
        read_response(&mut BufReader::new(stream), false)
    }

    /// Sends `raw` on a new connection and returns every byte until the server closes it.
    pub fn exchange_until_close(&self, raw: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(raw).expect("send request");
        let mut all = Vec::new();
        let _ = stream.read_to_end(&mut all);
        all
    }

    /// What the gateway wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`, or panics after the timeout.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let log = self.stderr();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "gateway never logged {needle:?}; stderr:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the gateway has printed a `Listening on` line whose address starts with
    /// `scheme` (e.g. `"uwsgi://"`, `"unix:"`), and returns that address without the scheme; panics
    /// after the timeout. The first listener is [`Gateway::addr`]; this finds the others.
    pub fn listening_on(&self, scheme: &str) -> String {
        self.listener_url(scheme)
            .strip_prefix(scheme)
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// The whole URL of the first listener whose URL starts with `scheme` (`uwsgi://`,
    /// `uwsgi+unix:`), as the gateway printed it: [`listening_on`](Self::listening_on) with the
    /// scheme kept.
    pub fn listener_url(&self, scheme: &str) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let printed = self.stdout.lock().map(|s| s.clone()).unwrap_or_default();
            let found = printed.lines().find_map(|line| {
                let url = line.strip_prefix("Listening on ")?.split_whitespace().next()?;
                url.starts_with(scheme).then(|| url.to_owned())
            });
            if let Some(address) = found {
                return address;
            }
            assert!(
                Instant::now() < deadline,
                "gateway never printed a listener starting {scheme:?}; stdout:\n{printed}\nstderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The gateway's process id (with `--workers 0`, the process that serves).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (e.g. "TERM", "INT") to the gateway.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit, or panics after the timeout.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The gateway binary's result when run to completion (for start-up failures), with
/// [`root_flags`].
pub fn run_to_exit(binary: &Path, args: &[&str]) -> (ExitStatus, String, String) {
    let output = Command::new(binary)
        .args(root_flags())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A parsed HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// The raw head bytes, up to and including the empty line.
    pub raw_head: Vec<u8>,
    /// True when the body was sent with chunked coding.
    pub chunked: bool,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times a header appears.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// Headers as a map of lower-case names (last wins).
    pub fn header_map(&self) -> HashMap<String, String> {
        self.headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect()
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A uwsgi packet (the protocol of nginx's `uwsgi_pass`): the 4-byte header (`modifier1`, the
/// little-endian size of the variables block, modifier2 0) and `vars` as length-prefixed pairs.
/// Panics on a name, value or block too long for the format (a test's mistake).
pub fn uwsgi_packet<N: AsRef<[u8]>, V: AsRef<[u8]>>(modifier1: u8, vars: &[(N, V)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in vars {
        for part in [name.as_ref(), value.as_ref()] {
            let len = u16::try_from(part.len()).expect("a uwsgi variable fits 64 KiB");
            block.extend_from_slice(&len.to_le_bytes());
            block.extend_from_slice(part);
        }
    }
    let size = u16::try_from(block.len()).expect("a uwsgi variables block fits 64 KiB");
    let mut packet = vec![modifier1];
    packet.extend_from_slice(&size.to_le_bytes());
    packet.push(0);
    packet.extend_from_slice(&block);
    packet
}

/// Reads one response from `reader`. With `head_request`, no body is read.
pub fn read_response<R: Read>(reader: &mut BufReader<R>, head_request: bool) -> Response {
    let mut raw_head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = reader.read_until(b'\n', &mut line).expect("read response head");
        assert!(
            n > 0,
            "connection closed before a complete response head; got {:?}",
            String::from_utf8_lossy(&raw_head)
        );
        raw_head.extend_from_slice(&line);
        if line == b"\r\n" {
            if raw_head.starts_with(b"HTTP/1.1 1") && !raw_head.starts_with(b"HTTP/1.1 101") {
                // An interim response: skip it.
                raw_head.clear();
                continue;
            }
            break;
        }
    }
    let head = String::from_utf8(raw_head.clone()).expect("response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line").to_owned();
    let status: u16 = status_line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("malformed header line {l:?}"));
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let chunked = find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    let bodiless = head_request || status_has_no_body(status);
    if !bodiless {
        if chunked {
            loop {
                let mut size_line = String::new();
                reader.read_line(&mut size_line).expect("chunk size line");
                let size = usize::from_str_radix(size_line.trim_end().split(';').next().unwrap_or(""), 16)
                    .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
                if size == 0 {
                    let mut trailer = String::new();
                    loop {
                        trailer.clear();
                        reader.read_line(&mut trailer).expect("trailer");
                        if trailer == "\r\n" || trailer.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                reader.read_exact(&mut body[start..]).expect("chunk data");
                let mut crlf = [0u8; 2];
                reader.read_exact(&mut crlf).expect("chunk CRLF");
                assert_eq!(&crlf, b"\r\n", "chunk data not followed by CRLF");
            }
        } else if let Some(length) = find("content-length") {
            let length =
                parse_decimal_length(length.as_bytes()).unwrap_or_else(|e| panic!("Content-Length {length:?}: {e:?}"));
            body.resize(usize::try_from(length).expect("Content-Length fits in memory"), 0);
            reader.read_exact(&mut body).expect("body of Content-Length bytes");
        } else {
            reader.read_to_end(&mut body).expect("close-delimited body");
        }
    }
    Response {
        status_line,
        status,
        headers,
        body,
        raw_head,
        chunked,
    }
}

/// Compiles a C app from `source` against `abi/include/nsgi.h` alone into a shared library in a
/// directory of the target dir, and returns its path. Needs a C compiler (`$CC` or `cc`).
pub fn compile_c_app(name: &str, source: &Path) -> PathBuf {
    let out_dir = profile_dir().join("nsgi-test-c-apps");
    std::fs::create_dir_all(&out_dir).expect("create the C test app directory");
    let output = out_dir.join(format!("lib{name}.so"));
    // Tests running in parallel may compile the same app: each writes its own file and renames it
    // into place, so no test ever loads a half-written library.
    let partial = out_dir.join(format!(
        ".lib{name}.so.{}.{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let include = workspace_root().join("abi/include");
    let result = Command::new(&compiler)
        .args(["-shared", "-fPIC", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(&include)
        .arg(source)
        .arg("-o")
        .arg(&partial)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler {compiler:?} (a C compiler is required for these tests): {e}")
        });
    assert!(
        result.status.success(),
        "compiling {} failed:\n{}",
        source.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::rename(&partial, &output).expect("move the compiled C test app into place");
    output
}

/// Builds workspace `packages` (each at most once per test process) with the profile of the
/// running test, so that their libraries land in [`profile_dir`], and returns that directory.
/// For packages that are not sample apps, such as the deliberately broken apps.
pub fn build_packages(packages: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !built.iter().any(|b| b == p))
        .collect();
    let profile = profile_dir();
    if !missing.is_empty() {
        let target = profile.parent().expect("profile dir has a parent").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace_root())
            .arg("build")
            .arg("--quiet")
            .arg("--target-dir")
            .arg(&target);
        if is_release() {
            command.arg("--release");
        }
        for package in &missing {
            command.args(["-p", package]);
        }
        let status = command.status().expect("run cargo build");
        assert!(status.success(), "building {missing:?} failed: {status}");
        built.extend(missing.iter().map(|p| (*p).to_owned()));
    }
    profile
}

/// A private scratch directory for one test (under the system's temporary directory, its name
/// starting `nsgi-TEST-`), removed with everything in it when dropped.
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    /// Creates the directory for the test named `test`.
    pub fn new(test: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("nsgi-{test}-"))
            .tempdir()
            .expect("create the scratch directory");
        Scratch(dir)
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}
