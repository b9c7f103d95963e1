//! Running the battery in a worker process, so that an app that crashes or hangs the process is a
//! finding (N10, N9) rather than the end of the checker.
//!
//! The worker is the checker's own executable started with [`WORKER_FLAG`]: it loads the app, runs
//! the battery, and streams what happens on its standard output as protocol lines (one [`Event`]
//! each, as a JSON object after the [`LINE_MARK`] prefix): the app's description, each request
//! started and finished, each finding as soon as its request ends, and a final `done`. The supervisor
//! ([`supervise`]) reads them, forwards anything else the app prints to stderr, kills the worker
//! when a request takes longer than the time limit, and turns an abnormal exit into a finding that
//! names the request in flight. This module owns the protocol on both sides and nothing else.

use crate::check::{self, N9, N10, Severity};
use crate::finding::{Finding, RequestLabel};
use crate::runner::{AppInfo, ProgressEvent, RunError, RunOptions, RunOutcome, Runner};
use nsgi::host::exit::describe_exit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
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

/// One protocol line: what the worker tells the supervisor. On the wire, a JSON object whose
/// `event` field names the variant (`loaded`, `load-error`, `init-error`, `start`, `end`,
/// `finding`, `done`) beside the variant's fields. Both ends are this executable, so nothing else
/// reads these lines.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Event {
    /// The library loaded and the app's `init` succeeded.
    Loaded { app: AppInfo },
    /// The library could not be loaded as an NSGI app.
    LoadError { message: String },
    /// The app's `init` failed.
    InitError { app: AppInfo, message: String },
    /// A request is about to be sent to the app.
    Start { ticket: u64, request: RequestLabel },
    /// That request is over.
    End { ticket: u64 },
    /// A finding, sent as soon as its request has ended.
    Finding(Finding),
    /// The battery ran to its end.
    Done { requests: u64 },
}

/// Writes `event` as one protocol line.
fn emit(out: &mut impl Write, event: &Event) {
    if let Ok(json) = serde_json::to_string(event) {
        let _ = writeln!(out, "{LINE_MARK}{json}");
        let _ = out.flush();
    }
}

/// The event a line carries; `None` for anything else (what the app printed itself).
fn parse_line(line: &str) -> Option<Event> {
    serde_json::from_str(line.strip_prefix(LINE_MARK)?).ok()
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
                RunError::Load(e) => Event::LoadError { message: e.to_string() },
                RunError::Init { app, error } => Event::InitError {
                    app: (**app).clone(),
                    message: error.to_string(),
                },
            };
            emit(&mut *out, &event);
            return WORKER_UNUSABLE;
        }
    };
    emit(
        &mut *stdout.lock().unwrap_or_else(|p| p.into_inner()),
        &Event::Loaded {
            app: runner.info().clone(),
        },
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
                    &Event::Start {
                        ticket,
                        request: label.clone(),
                    },
                );
            }
            ProgressEvent::Finished { ticket } => {
                let mut sent = listener_sent.lock().unwrap_or_else(|p| p.into_inner());
                for finding in listener_validator.findings_since(*sent) {
                    emit(&mut *out, &Event::Finding(finding));
                    *sent += 1;
                }
                emit(&mut *out, &Event::End { ticket });
            }
        }
    }));
    let outcome = runner.run(options);
    let mut out = stdout.lock().unwrap_or_else(|p| p.into_inner());
    let sent = *sent.lock().unwrap_or_else(|p| p.into_inner());
    for finding in outcome.findings.iter().skip(sent) {
        emit(&mut *out, &Event::Finding(finding.clone()));
    }
    emit(
        &mut *out,
        &Event::Done {
            requests: outcome.requests,
        },
    );
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
    fn take(&mut self, event: Event) {
        match event {
            Event::Loaded { app } => self.app = Some(app),
            Event::LoadError { message } => self.unusable = Some((message, false)),
            Event::InitError { app, message } => {
                self.app = Some(app);
                self.unusable = Some((message, true));
            }
            Event::Start { ticket, request } => {
                self.started += 1;
                self.in_flight.insert(ticket, request);
            }
            Event::End { ticket } => {
                self.in_flight.remove(&ticket);
            }
            Event::Finding(finding) => self.findings.push(finding),
            Event::Done { requests } => self.requests = Some(requests),
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
    let (tx, rx) = mpsc::channel::<Event>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match parse_line(&line) {
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
                heard.take(event);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::C39;

    fn line(event: &Event) -> String {
        let mut out = Vec::new();
        emit(&mut out, event);
        String::from_utf8(out).expect("protocol lines are UTF-8")
    }

    #[test]
    fn every_event_comes_back_as_it_was_sent() {
        let app = AppInfo {
            library: Default::default(),
            name: "hello".into(),
            sdk_info: "nsgi-sdk 0.1".into(),
            abi_minor: 1,
            thread_safe: true,
        };
        let label = RequestLabel {
            scenario: "basic".into(),
            ..RequestLabel::new(b"GET", b"/a", b"q=\"\n")
        };
        let events = [
            Event::Loaded { app: app.clone() },
            Event::LoadError {
                message: "not an NSGI app".into(),
            },
            Event::InitError {
                app,
                message: "no config".into(),
            },
            Event::Start {
                ticket: 7,
                request: label.clone(),
            },
            Event::End { ticket: 7 },
            Event::Finding(Finding {
                check: C39,
                severity: Severity::Error,
                message: "twice".into(),
                request: Some(label),
            }),
            Event::Finding(Finding {
                check: N10,
                severity: Severity::Warning,
                message: "crashed".into(),
                request: None,
            }),
            Event::Done { requests: 412 },
        ];
        for event in events {
            let line = line(&event);
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1, "{line:?}");
            assert_eq!(parse_line(line.trim_end()), Some(event), "{line:?}");
        }
    }

    #[test]
    fn lines_name_their_event_and_fields() {
        assert_eq!(
            line(&Event::LoadError { message: "x".into() }),
            format!("{LINE_MARK}{{\"event\":\"load-error\",\"message\":\"x\"}}\n")
        );
        let finding = line(&Event::Finding(Finding {
            check: C39,
            severity: Severity::Info,
            message: "m".into(),
            request: None,
        }));
        assert_eq!(
            finding,
            format!(
                "{LINE_MARK}{}\n",
                r#"{"event":"finding","check":"C39","severity":"info","message":"m","request":null}"#
            )
        );
    }

    #[test]
    fn what_the_app_prints_is_not_an_event() {
        assert_eq!(parse_line(r#"{"event":"done","requests":1}"#), None);
        assert_eq!(parse_line(&format!("{LINE_MARK}{{\"event\":\"done\"}}")), None);
        assert_eq!(
            parse_line(&format!(
                "{LINE_MARK}{{\"event\":\"finding\",\"check\":\"C999\",\"severity\":\"error\",\"message\":\"m\",\"request\":null}}"
            )),
            None
        );
        assert_eq!(parse_line("hello from the app"), None);
    }
}
