//! The battery: load an app library, initialise it under a [`Validator`], and drive it through
//! requests that exercise every path of the ABI.
//!
//! Requests go straight through `nsgi::host` with in-memory bodies (no HTTP, no sockets), built
//! the way `nsgi-gateway` builds them. The battery covers the methods GET, HEAD, POST, PUT,
//! OPTIONS and DELETE; empty, small, large (> 1 MiB) and unsized (chunked-style) bodies; long
//! query strings; many and repeated headers; one app called many times; early stops (the host
//! drops the response after its first piece, as a client that goes away would); and concurrent
//! calls when the app declares itself thread-safe. This module decides what to send and checks
//! what only a sequence of requests can show (C19, C72, C90); the per-request rules are the
//! validator's.

use crate::check::{C19, C72, C90, N6, Severity};
use crate::finding::{Finding, RequestLabel};
use crate::validator::Validator;
use nsgi::host::{AppInstance, AppModule, Environ, InitError, InitOptions, LoadError, RequestSlot, Step};
use nsgi::sys::NSGI_ENV_MULTITHREAD;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Size of the "large" request bodies: more than 1 MiB.
pub const LARGE_BODY_BYTES: usize = 1536 * 1024;
/// Length of the long query strings.
pub const LONG_QUERY_BYTES: usize = 8 * 1024;
/// Number of extra headers of the many-headers request.
pub const MANY_HEADERS: usize = 100;
/// Most response bytes pulled from one request; an endless (streaming) body is dropped there, as
/// a client that has seen enough would.
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Paths every app is asked for, so that apps which route on PATH_INFO show several routes.
const PATHS: [&str; 8] = [
    "/",
    "/echo",
    "/some/deep/path",
    "/static/hello.txt",
    "/index.html",
    "/api/items/42",
    "/favicon.ico",
    "/caf\u{e9}",
];

/// How much of the battery to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How many times the same request is sent in a row (C90).
    pub repeat: usize,
    /// Threads of the concurrent part (only for apps declaring `NSGI_APP_THREAD_SAFE`).
    pub threads: usize,
    /// Requests each of those threads sends.
    pub requests_per_thread: usize,
    /// The app's configuration, handed to its `init` as `args->config` (the gateway's
    /// `--app-config`: a file's contents, JSON by convention); empty for none.
    pub app_config: Vec<u8>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            repeat: 50,
            threads: 4,
            requests_per_thread: 25,
            app_config: Vec::new(),
        }
    }
}

/// What the descriptor says about the app. In JSON (the worker's protocol lines and the JSON
/// report) the library path is left out: whoever reads it knows the path already.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// The library path.
    #[serde(skip)]
    pub library: PathBuf,
    /// The app's name.
    pub name: String,
    /// The app's build information.
    pub sdk_info: String,
    /// The ABI minor it was built against.
    pub abi_minor: u16,
    /// It declares `NSGI_APP_THREAD_SAFE`.
    pub thread_safe: bool,
}

/// Why the battery could not run.
#[derive(Debug)]
pub enum RunError {
    /// The library could not be loaded as an NSGI app.
    Load(LoadError),
    /// The app's `init` failed.
    Init {
        /// The app.
        app: Box<AppInfo>,
        /// What `init` said.
        error: InitError,
    },
}

impl RunError {
    /// The finding an init failure amounts to (N6); `None` for load errors.
    pub fn finding(&self) -> Option<Finding> {
        match self {
            RunError::Load(_) => None,
            RunError::Init { error, .. } => Some(Finding {
                check: N6,
                severity: Severity::Error,
                message: error.to_string(),
                request: None,
            }),
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Load(error) => write!(f, "{error}"),
            RunError::Init { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RunError {}

/// What a battery run found.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The app.
    pub app: AppInfo,
    /// Requests sent.
    pub requests: u64,
    /// Every finding, in the order made.
    pub findings: Vec<Finding>,
}

/// What the runner is doing, for a watchdog or a supervising process.
#[derive(Clone, Copy, Debug)]
pub enum ProgressEvent<'a> {
    /// A request is about to be sent to the app.
    Started {
        /// Identifies the request among those in flight.
        ticket: u64,
        /// Method, target and scenario.
        label: &'a RequestLabel,
    },
    /// That request is over; its findings are recorded in the validator.
    Finished {
        /// The ticket of [`ProgressEvent::Started`].
        ticket: u64,
    },
}

/// A function told about every [`ProgressEvent`].
pub type ProgressListener = Box<dyn Fn(ProgressEvent<'_>) + Send + Sync>;

/// Requests in flight, so that a watchdog can tell an app that hangs.
#[derive(Default)]
pub struct Progress {
    in_flight: Mutex<HashMap<u64, (Instant, RequestLabel)>>,
    next: AtomicU64,
    listener: OnceLock<ProgressListener>,
}

impl Progress {
    fn enter(&self, label: RequestLabel) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(listener) = self.listener.get() {
            listener(ProgressEvent::Started { ticket, label: &label });
        }
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.insert(ticket, (Instant::now(), label));
        }
        ticket
    }

    fn leave(&self, ticket: u64) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.remove(&ticket);
        }
        if let Some(listener) = self.listener.get() {
            listener(ProgressEvent::Finished { ticket });
        }
    }

    /// Sets the function told about every request; only the first call has an effect (it
    /// returns false for later ones).
    pub fn listen(&self, listener: ProgressListener) -> bool {
        self.listener.set(listener).is_ok()
    }

    /// The request that has been running longest, and for how long.
    pub fn oldest(&self) -> Option<(Duration, RequestLabel)> {
        let in_flight = self.in_flight.lock().ok()?;
        in_flight
            .values()
            .min_by_key(|(started, _)| *started)
            .map(|(started, label)| (started.elapsed(), label.clone()))
    }
}

/// A loaded, initialised app, ready for the battery.
pub struct Runner {
    app: AppInstance,
    info: AppInfo,
    validator: Arc<Validator>,
    progress: Arc<Progress>,
}

/// The body a probe sends.
#[derive(Clone)]
enum ProbeBody {
    None,
    /// With CONTENT_LENGTH and a Content-Type.
    Sized(Arc<[u8]>, &'static str),
    /// Without CONTENT_LENGTH, as a chunked request reaches a host that does not count it.
    Unsized(Arc<[u8]>, &'static str),
}

/// When the host stops pulling the response.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Pull it to the end.
    Never,
    /// Drop it after the first step (head and first data): a client that went away.
    AfterFirstStep,
    /// Drop it right after `call`, before any `next`.
    BeforePulling,
}

/// One request of the battery.
#[derive(Clone)]
struct Probe {
    scenario: &'static str,
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: ProbeBody,
    stop: Stop,
}

impl Probe {
    fn new(scenario: &'static str, method: &'static str, path: &str) -> Probe {
        Probe {
            scenario,
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: Vec::new(),
            body: ProbeBody::None,
            stop: Stop::Never,
        }
    }

    fn body(mut self, body: ProbeBody) -> Probe {
        self.body = body;
        self
    }

    fn stop(mut self, stop: Stop) -> Probe {
        self.stop = stop;
        self
    }

    fn label(&self) -> RequestLabel {
        let label = RequestLabel::new(self.method.as_bytes(), self.path.as_bytes(), self.query.as_bytes());
        RequestLabel {
            scenario: self.scenario.to_owned(),
            ..label
        }
    }
}

/// What became of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    status: Option<u16>,
    failure: Option<String>,
}

impl Runner {
    /// Loads the library and initialises the app under a fresh validator. A thread-safe app is
    /// initialised with `multithread` set (and will be called concurrently); any other app not.
    pub fn load(library: &Path, options: &RunOptions) -> Result<Runner, RunError> {
        let module = AppModule::load(library).map_err(RunError::Load)?;
        let info = AppInfo {
            library: library.to_path_buf(),
            name: module.name(),
            sdk_info: module.sdk_info(),
            abi_minor: module.abi_minor(),
            thread_safe: module.thread_safe(),
        };
        let validator = Arc::new(Validator::new());
        let init = InitOptions {
            mount_name: module.name(),
            config: options.app_config.clone(),
            multithread: info.thread_safe,
            max_concurrency: if info.thread_safe {
                options.threads.max(1) as u32
            } else {
                1
            },
            ..InitOptions::default()
        };
        let app = AppInstance::init_observed(&module, &init, validator.clone()).map_err(|error| RunError::Init {
            app: Box::new(info.clone()),
            error,
        })?;
        Ok(Runner {
            app,
            info,
            validator,
            progress: Arc::new(Progress::default()),
        })
    }

    /// The app under test.
    pub fn info(&self) -> &AppInfo {
        &self.info
    }

    /// The validator watching it.
    pub fn validator(&self) -> &Arc<Validator> {
        &self.validator
    }

    /// Requests in flight (for a watchdog).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// Runs the whole battery, shuts the app down, and returns what was found.
    pub fn run(self, options: &RunOptions) -> RunOutcome {
        let mut driver = Driver::new(&self.app, &self.validator, &self.progress);
        self.check_flags();

        let basic: Vec<Outcome> = PATHS
            .iter()
            .map(|path| driver.send(&Probe::new("basic", "GET", path)))
            .collect();
        for path in ["/", "/echo", "/static/hello.txt"] {
            driver.send(&Probe::new("head", "HEAD", path));
        }
        for (method, path) in [("OPTIONS", "/"), ("OPTIONS", "/echo"), ("DELETE", "/")] {
            driver.send(&Probe::new("methods", method, path));
        }
        for probe in body_probes() {
            driver.send(&probe);
        }
        for probe in header_probes() {
            driver.send(&probe);
        }
        self.repeat(&mut driver, options.repeat);
        for probe in early_stop_probes() {
            driver.send(&probe);
        }
        let again = driver.send(&Probe::new("after-early-stop", "GET", "/"));
        if basic[0].failure.is_none() && again.failure.is_some() {
            let message = format!(
                "after responses that were dropped early, GET / failed: {}",
                again.failure.as_deref().unwrap_or_default()
            );
            self.validator.report(self.app_finding(C72, Severity::Error, message));
        }
        drop(driver);
        if self.info.thread_safe && options.threads > 1 {
            self.concurrent(options, &basic[0]);
        }
        let Runner {
            app, info, validator, ..
        } = self;
        app.shutdown();
        RunOutcome {
            app: info,
            requests: validator.requests_seen(),
            findings: validator.findings(),
        }
    }

    fn app_finding(&self, check: crate::check::CheckId, severity: Severity, message: String) -> Finding {
        Finding {
            check,
            severity,
            message,
            request: None,
        }
    }

    /// C19: the environ flag matches how the app is called.
    fn check_flags(&self) {
        let multithread = self.app.env_flags() & NSGI_ENV_MULTITHREAD != 0;
        if multithread != self.info.thread_safe {
            let message = format!(
                "the host set wsgi.multithread={multithread} for an app that is {}thread-safe",
                if self.info.thread_safe { "" } else { "not " }
            );
            self.validator.report(self.app_finding(C19, Severity::Error, message));
        }
    }

    /// C90: the same request many times gives the same answer.
    fn repeat(&self, driver: &mut Driver<'_>, times: usize) {
        let probe = Probe::new("repeat", "GET", "/");
        let first = driver.send(&probe);
        let mut reported = false;
        for call in 2..=times {
            let outcome = driver.send(&probe);
            if reported || outcome == first {
                continue;
            }
            let message = match (&first.failure, &outcome.failure) {
                (None, Some(failure)) => format!("call {call} of GET / failed after the first succeeded: {failure}"),
                _ => format!(
                    "call {call} of GET / answered {} where the first answered {}",
                    describe(&outcome),
                    describe(&first)
                ),
            };
            let severity = if first.failure.is_none() {
                Severity::Error
            } else {
                Severity::Warning
            };
            self.validator.report(self.app_finding(C90, severity, message));
            reported = true;
        }
    }

    /// Several threads at once, for apps that declare they can take it.
    fn concurrent(&self, options: &RunOptions, baseline: &Outcome) {
        let failures = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for thread in 0..options.threads {
                let failures = &failures;
                scope.spawn(move || {
                    let mut driver = Driver::new(&self.app, &self.validator, &self.progress);
                    for i in 0..options.requests_per_thread {
                        let probe = match (thread + i) % 3 {
                            0 => Probe::new("concurrent", "GET", "/"),
                            1 => Probe::new("concurrent", "GET", "/echo"),
                            _ => Probe::new("concurrent", "POST", "/")
                                .body(ProbeBody::Sized(Arc::from(&b"concurrent body\n"[..]), "text/plain")),
                        };
                        let outcome = driver.send(&probe);
                        if probe.path == "/"
                            && probe.method == "GET"
                            && baseline.failure.is_none()
                            && outcome.failure.is_some()
                            && let Ok(mut failures) = failures.lock()
                        {
                            failures.push(outcome.failure.unwrap_or_default());
                        }
                    }
                });
            }
        });
        let failures = failures.into_inner().unwrap_or_default();
        if let Some(first) = failures.first() {
            let message = format!(
                "the app declares NSGI_APP_THREAD_SAFE but {} concurrent GET / failed (first: {first})",
                failures.len()
            );
            self.validator.report(self.app_finding(C19, Severity::Error, message));
        }
    }
}

fn describe(outcome: &Outcome) -> String {
    match (&outcome.status, &outcome.failure) {
        (_, Some(failure)) => format!("a failure ({failure})"),
        (Some(status), None) => status.to_string(),
        (None, None) => "nothing".to_owned(),
    }
}

/// Requests with bodies: empty, small, form, lines, large, unsized.
fn body_probes() -> Vec<Probe> {
    let small: Arc<[u8]> = Arc::from(&b"hello, conformance\n"[..]);
    let lines: Arc<[u8]> = Arc::from(&b"first line\nsecond line\r\n\nlast line without newline"[..]);
    let large: Arc<[u8]> = (0..LARGE_BODY_BYTES).map(|i| b"0123456789abcdef\n"[i % 17]).collect();
    let medium: Arc<[u8]> = Arc::from(&large[..64 * 1024]);
    let form: Arc<[u8]> = Arc::from(&b"name=nsgi&kind=conformance&empty="[..]);
    let empty: Arc<[u8]> = Arc::from(&b""[..]);
    vec![
        Probe::new("empty-body", "POST", "/").body(ProbeBody::Sized(empty.clone(), "text/plain")),
        Probe::new("empty-body", "PUT", "/").body(ProbeBody::Sized(empty, "text/plain")),
        Probe::new("small-body", "POST", "/").body(ProbeBody::Sized(small.clone(), "text/plain")),
        Probe::new("small-body", "POST", "/echo").body(ProbeBody::Sized(small.clone(), "text/plain")),
        Probe::new("small-body", "PUT", "/").body(ProbeBody::Sized(small.clone(), "text/plain")),
        Probe::new("small-body", "PUT", "/static/hello.txt").body(ProbeBody::Sized(small, "text/plain")),
        Probe::new("form-body", "POST", "/").body(ProbeBody::Sized(form, "application/x-www-form-urlencoded")),
        Probe::new("line-body", "POST", "/").body(ProbeBody::Sized(lines.clone(), "text/plain")),
        Probe::new("large-body", "POST", "/").body(ProbeBody::Sized(large.clone(), "application/octet-stream")),
        Probe::new("large-body", "PUT", "/").body(ProbeBody::Sized(large.clone(), "application/octet-stream")),
        Probe::new("unsized-body", "POST", "/").body(ProbeBody::Unsized(medium, "application/octet-stream")),
        Probe::new("unsized-body", "POST", "/").body(ProbeBody::Unsized(lines, "text/plain")),
        Probe::new("unsized-body", "PUT", "/").body(ProbeBody::Unsized(large, "application/octet-stream")),
    ]
}

/// Requests with long query strings, many headers and repeated headers.
fn header_probes() -> Vec<Probe> {
    let long_query: String = (0..LONG_QUERY_BYTES)
        .map(|i| char::from(b"q=abcdefghij&"[i % 13]))
        .collect();
    let mut probes = Vec::new();
    for path in ["/", "/echo"] {
        let mut probe = Probe::new("long-query", "GET", path);
        probe.query = long_query.clone();
        probes.push(probe);
    }
    let mut many = Probe::new("many-headers", "GET", "/echo");
    many.headers = (0..MANY_HEADERS)
        .map(|i| (format!("X-Conformance-{i}"), format!("value {i}")))
        .collect();
    probes.push(many.clone());
    many.path = "/".to_owned();
    probes.push(many);
    let mut repeated = Probe::new("repeated-headers", "GET", "/echo");
    repeated.headers = [
        ("Accept", "text/html"),
        ("Accept", "*/*"),
        ("Cookie", "a=1"),
        ("Cookie", "b=2"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("X-Repeat", "three"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    probes.push(repeated);
    probes
}

/// Responses dropped early: after the first piece, and before any.
fn early_stop_probes() -> Vec<Probe> {
    let large: Arc<[u8]> = Arc::from(vec![b'x'; 256 * 1024]);
    let mut probes: Vec<Probe> = ["/", "/echo", "/static/hello.txt", "/some/deep/path"]
        .iter()
        .map(|path| Probe::new("early-stop", "GET", path).stop(Stop::AfterFirstStep))
        .collect();
    probes.push(
        Probe::new("early-stop", "POST", "/")
            .body(ProbeBody::Sized(large, "application/octet-stream"))
            .stop(Stop::AfterFirstStep),
    );
    probes.push(Probe::new("early-stop", "GET", "/").stop(Stop::BeforePulling));
    probes.push(Probe::new("early-stop", "HEAD", "/").stop(Stop::BeforePulling));
    probes
}

/// One thread's request resources.
struct Driver<'r> {
    app: &'r AppInstance,
    validator: &'r Validator,
    progress: &'r Progress,
    slot: RequestSlot,
    environ: Environ,
}

impl<'r> Driver<'r> {
    fn new(app: &'r AppInstance, validator: &'r Validator, progress: &'r Progress) -> Driver<'r> {
        Driver {
            app,
            validator,
            progress,
            slot: RequestSlot::new(),
            environ: Environ::new(),
        }
    }

    /// Sends one probe and pulls its response as the probe says.
    fn send(&mut self, probe: &Probe) -> Outcome {
        fill_environ(&mut self.environ, probe);
        let body: &[u8] = match &probe.body {
            ProbeBody::None => b"",
            ProbeBody::Sized(bytes, _) | ProbeBody::Unsized(bytes, _) => bytes,
        };
        let mut input = body;
        let mut errors = std::io::sink();
        let ticket = self.progress.enter(probe.label());
        let mut exchange = self
            .app
            .call(&mut self.slot, &mut self.environ, &mut input, &mut errors);
        self.validator.set_scenario(exchange.request_id(), probe.scenario);
        exchange.drain_past_content_length(true);
        let mut outcome = Outcome {
            status: None,
            failure: None,
        };
        let mut pulled: u64 = 0;
        if probe.stop != Stop::BeforePulling {
            loop {
                match exchange.next_step() {
                    Ok(Step::Head { head, end, data }) => {
                        outcome.status = Some(head.status_code());
                        pulled += data.len() as u64;
                        if end || probe.stop == Stop::AfterFirstStep {
                            break;
                        }
                    }
                    Ok(Step::Data(data)) => {
                        pulled += data.len() as u64;
                        if pulled > MAX_RESPONSE_BYTES {
                            break;
                        }
                    }
                    Ok(Step::End) => break,
                    Err(failure) => {
                        outcome.failure = Some(failure.to_string());
                        break;
                    }
                }
            }
        }
        drop(exchange);
        self.progress.leave(ticket);
        outcome
    }
}

/// Fills the environ the way `nsgi-gateway` does for a request from 127.0.0.1 to
/// `localhost:8000`.
fn fill_environ(environ: &mut Environ, probe: &Probe) {
    environ.clear();
    environ.push(b"REQUEST_METHOD", probe.method.as_bytes());
    environ.push(b"SCRIPT_NAME", b"");
    environ.push(b"PATH_INFO", probe.path.as_bytes());
    environ.push(b"QUERY_STRING", probe.query.as_bytes());
    let mut uri = probe.path.clone();
    if !probe.query.is_empty() {
        uri.push('?');
        uri.push_str(&probe.query);
    }
    environ.push(b"REQUEST_URI", uri.as_bytes());
    environ.push(b"SERVER_PROTOCOL", b"HTTP/1.1");
    environ.push(b"SERVER_NAME", b"localhost");
    environ.push(b"SERVER_PORT", b"8000");
    environ.push(b"REMOTE_ADDR", b"127.0.0.1");
    environ.push(b"REMOTE_PORT", b"54321");
    environ.push_http_header(b"Host", b"localhost:8000");
    environ.push_http_header(
        b"User-Agent",
        concat!("nsgi-conformance/", env!("CARGO_PKG_VERSION")).as_bytes(),
    );
    if !probe
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("accept"))
    {
        environ.push_http_header(b"Accept", b"*/*");
    }
    for (name, value) in &probe.headers {
        environ.push_http_header(name.as_bytes(), value.as_bytes());
    }
    match &probe.body {
        ProbeBody::None => environ.set_content_length(None),
        ProbeBody::Sized(bytes, content_type) => {
            environ.push_http_header(b"Content-Type", content_type.as_bytes());
            environ.push_http_header(b"Content-Length", bytes.len().to_string().as_bytes());
            environ.set_content_length(Some(bytes.len() as u64));
        }
        ProbeBody::Unsized(_, content_type) => {
            environ.push_http_header(b"Content-Type", content_type.as_bytes());
            environ.set_content_length(None);
        }
    }
    environ.set_https(false);
}
