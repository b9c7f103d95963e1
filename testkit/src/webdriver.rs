//! A small W3C WebDriver client for the browser tests: starts `chromedriver` on a free loopback
//! port, opens one headless Chromium session through it, and drives the page (navigate, find an
//! element, type, click, run a script, read the title, URL and text) over WebDriver's HTTP API.
//!
//! It owns the browser's processes: when a [`Browser`] is dropped, also while a failing test
//! unwinds, the session is closed and `chromedriver` and every process under it are killed. It
//! must never talk to any address but 127.0.0.1, never leave a browser process behind, and never
//! wait without a bound. When the browser is not installed, [`Browser::start_or_skip`] says so
//! and the test skips, unless `NSGI_REQUIRE_BROWSER=1` makes that a failure (as in CI).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one WebDriver command (a page load, a new session on a loaded machine) may take, and
/// how long [`Browser::wait_until`] polls for its condition.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The key under which WebDriver names an element in its answers (W3C WebDriver, §12.1).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The largest answer body read from chromedriver (page scripts here return a few values).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The environment variable that turns a missing browser from a skip into a failure.
pub const REQUIRE_BROWSER_VAR: &str = "NSGI_REQUIRE_BROWSER";

/// One browser at a time in a test process: each is a dozen processes on a machine with few
/// cores, and the tests using one run in parallel threads.
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// A headless Chromium session driven through `chromedriver`; both are stopped when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    driver_log: Arc<Mutex<String>>,
    _profile: tempfile::TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// An element of the current page, as found by [`Browser::find`].
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
    selector: String,
}

/// The first executable called `name` in a directory of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

impl Browser {
    /// Starts `chromedriver` and a headless `chromium` session, both found on `PATH`. When either
    /// is missing, prints that `test` skips and returns `None`, or panics when
    /// `NSGI_REQUIRE_BROWSER=1`.
    pub fn start_or_skip(test: &str) -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (find_on_path("chromium"), find_on_path("chromedriver")) else {
            let required = std::env::var(REQUIRE_BROWSER_VAR).is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{REQUIRE_BROWSER_VAR}=1 but `chromium` or `chromedriver` is not on PATH \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED {test}: needs `chromium` and `chromedriver` on PATH (Debian: apt-get install \
                 chromium chromium-driver); {REQUIRE_BROWSER_VAR}=1 makes this a failure"
            );
            return None;
        };
        Some(Browser::start(&chromium, &chromedriver))
    }

    fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let one_at_a_time = ONE_BROWSER.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let profile = tempfile::Builder::new()
            .prefix("nsgi-chromium-")
            .tempdir()
            .expect("create the browser's profile directory");
        // Port 0: chromedriver picks a free port and names it on stdout.
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver_log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stdout = driver.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&driver_log);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok())
                {
                    let _ = port_tx.send(port);
                }
                append(&sink, &line);
            }
        });
        let stderr = driver.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&driver_log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                append(&sink, &line);
            }
        });
        let mut browser = Browser {
            driver,
            port: 0,
            session: String::new(),
            driver_log,
            _profile: profile,
            _one_at_a_time: one_at_a_time,
        };
        // From here on a panic drops `browser`, which kills chromedriver.
        browser.port = port_rx
            .recv_timeout(BROWSER_TIMEOUT)
            .unwrap_or_else(|_| panic!("chromedriver never said its port; output:\n{}", browser.log()));
        browser.wait_for_ready();
        let profile_dir = browser._profile.path().to_str().expect("UTF-8 temp path").to_owned();
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "timeouts": {
                    "implicit": 0,
                    "pageLoad": BROWSER_TIMEOUT.as_millis() as u64,
                    "script": BROWSER_TIMEOUT.as_millis() as u64,
                },
                "goog:chromeOptions": {
                    "binary": chromium.to_str().expect("UTF-8 path to chromium"),
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--disable-quic",
                        "--no-first-run",
                        "--disable-background-networking",
                        "--disable-component-update",
                        "--disable-sync",
                        format!("--user-data-dir={profile_dir}"),
                    ],
                },
            }}
        });
        let created = browser.command("POST", "/session", Some(&capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session answered without a sessionId: {created}"))
            .to_owned();
        browser
    }

    /// Polls chromedriver's `/status` until it reports ready, or panics after the timeout.
    fn wait_for_ready(&mut self) {
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!(
                    "chromedriver exited ({status}) before it was ready; output:\n{}",
                    self.log()
                );
            }
            let ready = self.exchange("GET", "/status", None);
            if matches!(&ready, Some((200, answer)) if answer["value"]["ready"] == Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver never reported ready; output:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What chromedriver printed so far.
    fn log(&self) -> String {
        self.driver_log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// Sends one HTTP request to chromedriver (the answer ends when it closes the connection), or
    /// `None` when chromedriver cannot be reached.
    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Option<TcpStream> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(BROWSER_TIMEOUT)).ok()?;
        stream.set_write_timeout(Some(BROWSER_TIMEOUT)).ok()?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body.as_bytes()).ok()?;
        Some(stream)
    }

    /// Sends one HTTP request to chromedriver and returns the status and the JSON answer, or
    /// `None` when chromedriver cannot be reached.
    fn exchange(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let stream = self.send(method, path, body)?;
        let (status, body) =
            read_answer(stream).unwrap_or_else(|problem| panic!("{method} {path}: chromedriver's answer: {problem}"));
        let answer = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: chromedriver answered non-JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        Some((status, answer))
    }

    /// Runs one WebDriver command and returns its `value`, or panics naming the command and the
    /// error WebDriver reported.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|problem| panic!("{problem}"))
    }

    /// [`Browser::command`], with a WebDriver error returned rather than a panic.
    fn try_command(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let (status, mut answer) = self.exchange(method, path, body).unwrap_or_else(|| {
            panic!(
                "{method} {path}: chromedriver is not reachable; output:\n{}",
                self.log()
            )
        });
        let value = answer["value"].take();
        if status == 200 {
            Ok(value)
        } else {
            Err(format!(
                "{method} {path} failed with {status}: {} ({})",
                value["error"], value["message"]
            ))
        }
    }

    fn session_command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url` and returns when the page has loaded.
    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The URL of the current page.
    pub fn url(&self) -> String {
        string(self.session_command("GET", "/url", None), "the URL")
    }

    /// The title of the current page.
    pub fn title(&self) -> String {
        string(self.session_command("GET", "/title", None), "the title")
    }

    /// The first element matching the CSS `selector`, or a panic naming it.
    pub fn find(&self, selector: &str) -> Element<'_> {
        let found = self.session_command(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": selector })),
        );
        let id = found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("finding {selector:?} answered no element: {found}"))
            .to_owned();
        Element {
            browser: self,
            id,
            selector: selector.to_owned(),
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns what it
    /// returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Runs `script` until it returns `true`, polling, or panics after [`BROWSER_TIMEOUT`] saying
    /// `what` never happened and what the script last returned. A script that fails while a page
    /// is being replaced (a form just submitted) is tried again.
    pub fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let path = format!("/session/{}/execute/sync", self.session);
        let body = json!({ "script": script, "args": [] });
        loop {
            let result = self.try_command("POST", &path, Some(&body));
            if result == Ok(Value::Bool(true)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened (the check last gave {result:?}) on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills chromedriver and every process it started (the browser and its helpers).
    fn kill_processes(&mut self) {
        let mut pids = descendants(self.driver.id());
        pids.push(self.driver.id());
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(pids.iter().map(u32::to_string))
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Closing the session quits the browser cleanly; the kill below is for when it could
            // not (a hung browser, a failed start).
            // Nothing here may panic: this may run while a failed test unwinds.
            let path = format!("/session/{}", self.session);
            if let Some(stream) = self.send("DELETE", &path, None) {
                let _ = read_answer(stream);
            }
        }
        self.kill_processes();
    }
}

impl Element<'_> {
    fn command(&self, method: &str, what: &str, body: Option<&Value>) -> Value {
        self.browser
            .session_command(method, &format!("/element/{}{what}", self.id), body)
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, text: &str) {
        self.command("POST", "/value", Some(&json!({ "text": text })));
    }

    /// Clicks the element (a submit button: the form is sent and the next page loaded).
    pub fn click(&self) {
        self.command("POST", "/click", Some(&json!({})));
    }

    /// The element's rendered text, as the user sees it.
    pub fn text(&self) -> String {
        string(
            self.command("GET", "/text", None),
            &format!("the text of {:?}", self.selector),
        )
    }
}

/// Reads chromedriver's answer: the status and the body of `Content-Length` bytes. Without
/// panicking, since [`Browser`]'s drop uses it. (Chromedriver says `Connection: close` but keeps
/// the connection open, so the body cannot be read to the end of the stream.)
fn read_answer(stream: TcpStream) -> Result<(u16, Vec<u8>), String> {
    let mut reader = BufReader::new(stream);
    let mut status = None;
    let mut length = 0;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("the connection closed inside the head".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("reading the head: {e}")),
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if status.is_none() {
            status = line.split_whitespace().nth(1).and_then(|code| code.parse::<u16>().ok());
            if status.is_none() {
                return Err(format!("not a status line: {line:?}"));
            }
        } else if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value
                .trim()
                .parse()
                .map_err(|_| format!("a bad Content-Length: {line:?}"))?;
        }
    }
    if length > MAX_ANSWER_BYTES {
        return Err(format!(
            "a body of {length} bytes, past the {MAX_ANSWER_BYTES} this client reads"
        ));
    }
    let mut body = vec![0; length];
    reader
        .read_exact(&mut body)
        .map_err(|e| format!("reading a body of {length} bytes: {e}"))?;
    Ok((status.unwrap_or_default(), body))
}

fn string(value: Value, what: &str) -> String {
    match value {
        Value::String(text) => text,
        other => panic!("{what} is not a string: {other}"),
    }
}

fn append(log: &Mutex<String>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.push_str(line);
        log.push('\n');
    }
}

/// Every live process below `root`, from the parent links in `/proc`.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so split after
            // the last `)`.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        next += 1;
    }
    found.remove(0);
    found
}
