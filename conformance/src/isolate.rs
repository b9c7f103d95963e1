//! Running the battery in a worker process, so that an app that crashes or hangs the process is a
//! finding (N10, N9) rather than the end of the checker.
//!
//! The worker is the checker's own executable started with [`WORKER_FLAG`]: it loads the app, runs
//! the battery, and streams what happens on its standard output as protocol lines (one JSON object
//! each, after the [`LINE_MARK`] prefix): the app's description, each request started and
//! finished, each finding as soon as its request ends, and a final `done`. The supervisor
//! ([`supervise`]) reads them, forwards anything else the app prints to stderr, kills the worker
//! when a request takes longer than the time limit, and turns an abnormal exit into a finding that
//! names the request in flight. This module owns the protocol on both sides and nothing else.

use crate::check::{self, N9, N10, Severity};
use crate::finding::{Finding, RequestLabel};
use crate::runner::{AppInfo, ProgressEvent, RunError, RunOptions, RunOutcome, Runner};
use nsgi::host::exit::describe_exit;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// The hidden command-line flag that makes the checker a worker.
pub const WORKER_FLAG: &str = "--internal-worker";
/// Prefix of every protocol line (a record separator, which apps do not print by accident).
pub const LINE_MARK: &str = "\u{1e}nsgi-conformance ";
/// Exit status of a worker whose library could not be loaded or initialised.
const WORKER_UNUSABLE: i32 = 2;
/// How often the supervisor looks at the clock while waiting for the worker.
const POLL_PERIOD: Duration = Duration::from_millis(100);

/// What the supervisor learnt from a worker.
#[derive(Debug)]
pub enum Supervised {
    /// The battery ran (to its end, or until the app crashed or hung: then the findings say so).
    Ran(RunOutcome),
    /// The library could not be checked.
    Unusable {
        /// The app, if it loaded before `init` failed.
        app: Option<AppInfo>,
        /// Why.
        reason: String,
        /// The finding it amounts to (N6 for a failed `init`).
        finding: Option<Finding>,
    },
}

fn emit(out: &mut impl Write, event: &Value) {
    let _ = writeln!(out, "{LINE_MARK}{event}");
    let _ = out.flush();
}

fn app_json(app: &AppInfo) -> Value {
    json!({"name": app.name, "sdk_info": app.sdk_info, "abi_minor": app.abi_minor, "thread_safe": app.thread_safe})
}

fn label_json(label: &RequestLabel) -> Value {
    json!({"method": label.method, "target": label.target, "scenario": label.scenario})
}

fn finding_json(finding: &Finding) -> Value {
    json!({
        "event": "finding",
        "check": finding.check.as_str(),
        "severity": finding.severity.as_str(),
        "message": finding.message,
        "request": finding.request.as_ref().map(label_json),
    })
}

/// The worker side: runs the battery on `library`, streaming protocol lines on stdout. Returns the
/// process exit status (0 when the battery ran, 2 when the library is unusable).
pub fn worker_main(library: &Path, options: &RunOptions) -> i32 {
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let runner = match Runner::load(library, options) {
        Ok(runner) => runner,
        Err(error) => {
            let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
            let event = match &error {
                RunError::Load(e) => json!({"event": "load-error", "message": e.to_string()}),
                RunError::Init { app, error } => {
                    json!({"event": "init-error", "app": app_json(app), "message": error.to_string()})
                }
            };
            emit(&mut *out, &event);
            return WORKER_UNUSABLE;
        }
    };
    emit(
        &mut *stdout.lock().unwrap_or_else(|p| p.into_inner()),
        &json!({"event": "loaded", "app": app_json(runner.info())}),
    );
    let validator = runner.validator().clone();
    let sent = Arc::new(Mutex::new(0usize));
    let (listener_out, listener_sent, listener_validator) = (stdout.clone(), sent.clone(), validator.clone());
    runner.progress().listen(Box::new(move |event| {
        let mut out = listener_out.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            ProgressEvent::Started { ticket, label } => {
                emit(
                    &mut *out,
                    &json!({"event": "start", "ticket": ticket, "request": label_json(label)}),
                );
            }
            ProgressEvent::Finished { ticket } => {
                let mut sent = listener_sent.lock().unwrap_or_else(|p| p.into_inner());
                for finding in listener_validator.findings_since(*sent) {
                    emit(&mut *out, &finding_json(&finding));
                    *sent += 1;
                }
                emit(&mut *out, &json!({"event": "end", "ticket": ticket}));
            }
        }
    }));
    let outcome = runner.run(options);
    let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
    let sent = *sent.lock().unwrap_or_else(|p| p.into_inner());
    for finding in outcome.findings.iter().skip(sent) {
        emit(&mut *out, &finding_json(finding));
    }
    emit(&mut *out, &json!({"event": "done", "requests": outcome.requests}));
    0
}

/// What the supervisor has heard so far.
#[derive(Default)]
struct Heard {
    app: Option<AppInfo>,
    unusable: Option<(String, bool)>,
    in_flight: BTreeMap<u64, RequestLabel>,
    started: u64,
    requests: Option<u64>,
    findings: Vec<Finding>,
}

impl Heard {
    fn take(&mut self, event: &Value) {
        let text = |key: &str| event[key].as_str().unwrap_or_default().to_owned();
        match event["event"].as_str().unwrap_or_default() {
            "loaded" => self.app = parse_app(&event["app"]),
            "load-error" => self.unusable = Some((text("message"), false)),
            "init-error" => {
                self.app = parse_app(&event["app"]);
                self.unusable = Some((text("message"), true));
            }
            "start" => {
                self.started += 1;
                let label = parse_label(&event["request"]).unwrap_or_default();
                self.in_flight
                    .insert(event["ticket"].as_u64().unwrap_or_default(), label);
            }
            "end" => {
                self.in_flight.remove(&event["ticket"].as_u64().unwrap_or_default());
            }
            "finding" => self.findings.extend(parse_finding(event)),
            "done" => self.requests = event["requests"].as_u64(),
            _ => {}
        }
    }

    /// The request in flight (the oldest, when several are), or what the worker was doing.
    fn doing(&self) -> (Option<RequestLabel>, &'static str) {
        match self.in_flight.values().next() {
            Some(label) => (Some(label.clone()), "while answering a request"),
            None if self.app.is_none() => (None, "while loading or initialising the app"),
            None if self.requests.is_some() => (None, "while shutting the app down"),
            None => (None, "between requests"),
        }
    }
}

fn parse_app(value: &Value) -> Option<AppInfo> {
    Some(AppInfo {
        library: PathBuf::new(),
        name: value["name"].as_str()?.to_owned(),
        sdk_info: value["sdk_info"].as_str().unwrap_or_default().to_owned(),
        abi_minor: value["abi_minor"]
            .as_u64()
            .and_then(|m| u16::try_from(m).ok())
            .unwrap_or_default(),
        thread_safe: value["thread_safe"].as_bool().unwrap_or_default(),
    })
}

fn parse_finding(value: &Value) -> Option<Finding> {
    let check = check::find(value["check"].as_str()?)?.id;
    let severity = match value["severity"].as_str()? {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    };
    let request = parse_label(&value["request"]);
    Some(Finding {
        check,
        severity,
        message: value["message"].as_str()?.to_owned(),
        request,
    })
}

fn parse_label(value: &Value) -> Option<RequestLabel> {
    let field = |name: &str| value[name].as_str().unwrap_or_default().to_owned();
    value.is_object().then(|| RequestLabel {
        method: field("method"),
        target: field("target"),
        scenario: field("scenario"),
    })
}

/// How the checker's worker ended, for a finding or a reason: "killed by signal SIGABRT: an
/// abort, ...".
fn describe_end(status: ExitStatus) -> String {
    let end = describe_exit(status);
    match end.hint {
        Some(hint) => format!("{}: {hint}", end.text),
        None => end.text,
    }
}

/// The supervisor side: starts `worker` (the checker's executable with [`WORKER_FLAG`] and the
/// library), follows its protocol lines, and reports what it learnt. A request that takes longer
/// than `timeout` gets the worker killed and an N9 finding; a worker that dies gets an N10
/// finding naming the request in flight.
pub fn supervise(worker: &mut Command, library: &Path, timeout: Duration) -> Result<Supervised, std::io::Error> {
    let mut child = worker
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("the worker has no stdout"))?;
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match line
                .strip_prefix(LINE_MARK)
                .and_then(|json| serde_json::from_str(json).ok())
            {
                Some(event) => {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
                // Something the app printed itself.
                None => eprintln!("{line}"),
            }
        }
    });
    let mut heard = Heard::default();
    let mut last_event = Instant::now();
    let mut hung = None;
    loop {
        match rx.recv_timeout(POLL_PERIOD) {
            Ok(event) => {
                heard.take(&event);
                last_event = Instant::now();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if last_event.elapsed() >= timeout {
                    hung = Some(heard.doing());
                    let _ = child.kill();
                    break;
                }
            }
        }
    }
    let status = child.wait()?;
    if let Some((reason, init)) = heard.unusable.take() {
        let finding = init.then(|| Finding {
            check: check::N6,
            severity: Severity::Error,
            message: reason.clone(),
            request: None,
        });
        let app = heard.app.take().map(|app| AppInfo {
            library: library.to_path_buf(),
            ..app
        });
        return Ok(Supervised::Unusable { app, reason, finding });
    }
    let Some(app) = heard.app.take() else {
        let reason = match hung {
            Some(_) => format!("loading the library took longer than {} s", timeout.as_secs()),
            None => format!(
                "the checker's worker ended ({}) while loading the library",
                describe_end(status)
            ),
        };
        return Ok(Supervised::Unusable {
            app: None,
            reason,
            finding: None,
        });
    };
    if let Some((request, doing)) = hung {
        let message = format!(
            "the app did not return within {} s {doing}; the worker was killed",
            timeout.as_secs()
        );
        heard.findings.push(Finding {
            check: N9,
            severity: Severity::Error,
            message,
            request,
        });
    } else if heard.requests.is_none() || !status.success() {
        let (request, doing) = heard.doing();
        let message = format!("the app ended the process ({}) {doing}", describe_end(status));
        heard.findings.push(Finding {
            check: N10,
            severity: Severity::Error,
            message,
            request,
        });
    }
    Ok(Supervised::Ran(RunOutcome {
        app: AppInfo {
            library: library.to_path_buf(),
            ..app
        },
        requests: heard.requests.unwrap_or(heard.started),
        findings: heard.findings,
    }))
}
