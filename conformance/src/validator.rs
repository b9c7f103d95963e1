//! The [`Validator`]: an [`Observer`] that turns every ABI interaction of an app into findings.
//!
//! It keeps one record per live request (what the app started, wrote, produced, and how its body
//! ended), flags each broken rule the moment its evidence is observed (so that every error whose
//! evidence exists before the response head goes out is known then, and a validating server can
//! still answer 500 instead), and runs the checks that need the whole request (a body shorter
//! than its Content-Length, HEAD, close exactly once, the advisory header rules) when the host
//! reports the request over. Like `wsgiref.validate`, it only watches: the host decides what
//! happens to the response. It never calls into the app.

use crate::check::{
    C26, C32, C39, C40, C41, C44, C48, C63, C67, C68, C69, C75, C77, C80, C83, C84, C85, C88, C104, CheckId, N1, N2,
    N3, N4, N5, N7, N8, N11, Severity,
};
use crate::finding::{Finding, RequestLabel};
use crate::rules::{ResponseFacts, check_header_field, check_response_headers, check_status_line};
use nsgi::host::Environ;
use nsgi::host::Violation;
use nsgi::host::observe::{
    CallPhase, ErrorsWrite, InputRead, NextResult, Observer, RequestEnd, RequestId, StartResponseCall, WriteCall,
};
use nsgi::host::validate::parse_content_length;
use nsgi::host::validate::status_has_no_body;
use nsgi::sys::{
    NSGI_DONE, NSGI_E_HEADERS_SENT, NSGI_E_PANIC, NSGI_E_TOO_LARGE, NSGI_EXC_INFO_V1_0_SIZE, NSGI_OK, nsgi_status,
};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Inbound hop-by-hop request headers an app should not rely on (PEP 3333 §Other HTTP Features).
const HOP_BY_HOP_VARS: [&[u8]; 8] = [
    b"HTTP_CONNECTION",
    b"HTTP_KEEP_ALIVE",
    b"HTTP_PROXY_CONNECTION",
    b"HTTP_TE",
    b"HTTP_TRAILER",
    b"HTTP_TRANSFER_ENCODING",
    b"HTTP_UPGRADE",
    b"HTTP_PROXY_AUTHORIZATION",
];

/// A finding not yet tied to its request's final label.
#[derive(Clone, Debug)]
struct Pending {
    check: CheckId,
    severity: Severity,
    message: String,
}

/// The head an app stored with a successful `start_response`.
#[derive(Debug, Default)]
struct StoredHead {
    code: u16,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    content_length: Option<u64>,
}

/// What the validator knows about one live request.
#[derive(Debug, Default)]
struct Record {
    label: RequestLabel,
    head_request: bool,
    request_length: Option<u64>,
    input_bytes: u64,
    call_status: Option<nsgi_status>,
    start_attempts: u32,
    head: Option<StoredHead>,
    /// start_response answered NSGI_E_HEADERS_SENT: the app must abort.
    must_abort: bool,
    produced: u64,
    wrote: bool,
    violations: Vec<Violation>,
    findings: Vec<Pending>,
}

impl Record {
    fn flag(&mut self, check: CheckId, severity: Severity, message: impl Into<String>) {
        let message = message.into();
        if !self.findings.iter().any(|f| f.check == check && f.message == message) {
            self.findings.push(Pending {
                check,
                severity,
                message,
            });
        }
    }

    fn has_error(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    fn finding(&self, pending: &Pending) -> Finding {
        Finding {
            check: pending.check,
            severity: pending.severity,
            message: pending.message.clone(),
            request: Some(self.label.clone()),
        }
    }

    /// A non-empty body byte is going out: the head must have been started.
    fn body_bytes(&mut self, len: u64, source: &str) {
        if len == 0 {
            return;
        }
        if self.head.is_none() && self.start_attempts == 0 {
            self.flag(
                C40,
                Severity::Error,
                format!("{source} produced body bytes before start_response was called"),
            );
        } else if self.head.is_none() {
            self.flag(
                C40,
                Severity::Error,
                format!("{source} produced body bytes although start_response failed"),
            );
        }
        self.produced += len;
        // Flagged as soon as the bytes are seen, before the head goes out, so that a validating
        // server fails the response (500) instead of sending the bodiless status.
        if let Some(code) = self.head.as_ref().map(|head| head.code)
            && status_has_no_body(code)
        {
            self.flag(
                C68,
                Severity::Error,
                format!("a {code} response produced body bytes; it must have no body"),
            );
        }
        // A HEAD response's body is dropped whole (C69), so it cannot contradict its length.
        if let Some(declared) = self.head.as_ref().and_then(|head| head.content_length)
            && self.produced > declared
            && !self.head_request
        {
            self.flag(
                C67,
                Severity::Error,
                format!("body is longer than its Content-Length of {declared} bytes"),
            );
        }
    }

    /// End-of-request checks.
    fn finish(&mut self, end: &RequestEnd<'_>) {
        if end.close_owed && end.close_calls != 1 {
            let message = format!("the body's close was called {} times instead of once", end.close_calls);
            self.flag(C75, Severity::Error, message);
        }
        let call_ok = self.call_status == Some(NSGI_OK);
        let no_start_seen = self.violations.contains(&Violation::NoStartResponse);
        if call_ok && self.head.is_none() && self.start_attempts == 0 && (end.body_done || no_start_seen) {
            self.flag(C41, Severity::Error, "the app never called start_response");
        }
        if let Some(head) = self.head.take() {
            self.finish_response(&head, end);
            self.head = Some(head);
        }
        self.fall_back_on_host_violations();
    }

    fn finish_response(&mut self, head: &StoredHead, end: &RequestEnd<'_>) {
        let code = head.code;
        if self.head_request && self.produced > 0 {
            // PEP 3333 leaves HEAD to the server, which drops the body; only Rack asks apps to
            // send none. Worth knowing (the app did needless work), not worth failing --strict.
            self.flag(
                C69,
                Severity::Info,
                "a HEAD response produced body bytes (the server drops them)",
            );
        }
        // A HEAD response may keep the Content-Length of the GET body and send any part of it, or
        // none (RFC 9110 §9.3.2, §8.6); a bodiless status may keep it and send nothing.
        if let Some(declared) = head.content_length
            && end.body_done
            && self.produced < declared
            && !self.head_request
            && !(status_has_no_body(code) && self.produced == 0)
        {
            let message = format!(
                "body ended after {} bytes but Content-Length declared {declared}",
                self.produced
            );
            self.flag(C67, Severity::Error, message);
        }
        if end.body_done || end.stopped_at_content_length {
            let facts = ResponseFacts {
                code,
                headers: &head.headers,
                produced: self.produced,
                head_request: self.head_request,
            };
            for (check, severity, message) in check_response_headers(&facts) {
                self.flag(check, severity, message);
            }
        }
    }

    /// When the host refused something the observations did not already explain, report the
    /// host's own words, so that no fatal violation goes unreported.
    fn fall_back_on_host_violations(&mut self) {
        if self.has_error() {
            return;
        }
        let violations = std::mem::take(&mut self.violations);
        for violation in violations.iter().filter(|v| v.is_fatal()) {
            if let Some(check) = check_of_violation(violation) {
                self.flag(check, Severity::Error, violation.to_string());
            }
        }
        self.violations = violations;
    }
}

/// The check a host violation belongs to, for violations that are the app's fault.
fn check_of_violation(violation: &Violation) -> Option<CheckId> {
    Some(match violation {
        Violation::NoStartResponse => C41,
        Violation::StartResponseTwice => C39,
        Violation::StartResponseOutOfTurn => N8,
        Violation::InvalidStatus(_) => C44,
        Violation::InvalidHeader { .. } => crate::check::C51,
        Violation::InvalidContentLength => C67,
        Violation::HeadTooLarge(_) => N11,
        Violation::NullArgument(_) => C48,
        Violation::WriteBeforeStart => C84,
        Violation::WriteInsideNext => C85,
        Violation::ContinuedAfterHeadersSent => C80,
        Violation::CallFailed(NSGI_E_PANIC) => N1,
        Violation::CallFailed(_) => N5,
        Violation::InvalidBody(_) => N7,
        Violation::NullChunk => N3,
        Violation::NextFailed(NSGI_E_PANIC) => N2,
        Violation::NextFailed(_) | Violation::NextUnknownStatus(_) => N4,
        Violation::BodyTooShort { .. } | Violation::BodyTooLong { .. } => C67,
        Violation::RequestHandleRefused { .. } => N8,
        Violation::AbortedAfterHeadersSent => return None,
    })
}

/// A status code with its name, for messages.
fn status_name(status: nsgi_status) -> String {
    let name = match status {
        NSGI_OK => "NSGI_OK",
        NSGI_DONE => "NSGI_DONE",
        -1 => "NSGI_E_INVAL",
        -2 => "NSGI_E_STATE",
        NSGI_E_HEADERS_SENT => "NSGI_E_HEADERS_SENT",
        -4 => "NSGI_E_IO",
        -5 => "NSGI_E_NOMEM",
        -6 => "NSGI_E_NOT_FOUND",
        -7 => "NSGI_E_UNSUPPORTED",
        -8 => "NSGI_E_TOO_LARGE",
        NSGI_E_PANIC => "NSGI_E_PANIC",
        -10 => "NSGI_E_APP",
        -11 => "NSGI_E_INTERNAL",
        _ => return format!("{status}"),
    };
    format!("{status} ({name})")
}

#[derive(Default)]
struct State {
    live: HashMap<RequestId, Record>,
    ended: Vec<(Option<RequestId>, Finding)>,
    requests: u64,
}

/// Watches an app through the host SDK and records every rule it breaks.
///
/// Attach it with [`AppInstance::init_observed`](nsgi::host::AppInstance::init_observed); read
/// the findings with [`Validator::findings`] (everything so far) or per request with
/// [`Validator::take_findings`] (what a validating server logs).
///
/// ```no_run
/// use nsgi::host::{AppInstance, AppModule, InitOptions};
/// use nsgi_conformance::Validator;
/// use std::sync::Arc;
///
/// let module = AppModule::load("target/debug/libhello.so")?;
/// let validator = Arc::new(Validator::new());
/// let app = AppInstance::init_observed(&module, &InitOptions::default(), validator.clone())?;
/// // ... drive requests through `app` ...
/// for finding in validator.findings() {
///     println!("{finding}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Validator {
    state: Mutex<State>,
}

impl Validator {
    /// A validator with no findings.
    pub fn new() -> Validator {
        Validator::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_record(&self, req: RequestId, f: impl FnOnce(&mut Record)) {
        if let Some(record) = self.lock().live.get_mut(&req) {
            f(record);
        }
    }

    /// Names the scenario a live request belongs to (shown in its findings' labels).
    pub fn set_scenario(&self, req: RequestId, scenario: &str) {
        self.with_record(req, |record| scenario.clone_into(&mut record.label.scenario));
    }

    /// Records a finding about the app as a whole, or about a request the caller labels.
    pub fn report(&self, finding: Finding) {
        self.lock().ended.push((None, finding));
    }

    /// The first error-level finding of a request so far (live or ended), if any: a validating
    /// server answers 500 instead of the app's response when this is `Some` before the head went
    /// out.
    pub fn fatal_finding(&self, req: RequestId) -> Option<Finding> {
        let state = self.lock();
        if let Some(record) = state.live.get(&req) {
            return record
                .findings
                .iter()
                .find(|f| f.severity == Severity::Error)
                .map(|f| record.finding(f));
        }
        state
            .ended
            .iter()
            .find(|(id, finding)| *id == Some(req) && finding.severity == Severity::Error)
            .map(|(_, finding)| finding.clone())
    }

    /// Removes and returns the findings of one request (after it ended, all of them).
    pub fn take_findings(&self, req: RequestId) -> Vec<Finding> {
        let mut state = self.lock();
        let mut taken = Vec::new();
        state.ended.retain(|(id, finding)| {
            let mine = *id == Some(req);
            if mine {
                taken.push(finding.clone());
            }
            !mine
        });
        taken
    }

    /// Every finding so far, in the order they were made (findings of requests still running
    /// are included once those requests end).
    pub fn findings(&self) -> Vec<Finding> {
        self.lock().ended.iter().map(|(_, finding)| finding.clone()).collect()
    }

    /// The findings made after the first `already` ones (in the order of [`Validator::findings`]);
    /// for streaming them while the app runs. Only meaningful while nothing takes findings out.
    pub fn findings_since(&self, already: usize) -> Vec<Finding> {
        self.lock()
            .ended
            .iter()
            .skip(already)
            .map(|(_, finding)| finding.clone())
            .collect()
    }

    /// How many requests the app was called for.
    pub fn requests_seen(&self) -> u64 {
        self.lock().requests
    }
}

impl Observer for Validator {
    fn call_started(&self, req: RequestId, environ: &Environ) {
        let var = |name: &[u8]| environ.get(name).unwrap_or_default();
        let method = var(b"REQUEST_METHOD");
        let record = Record {
            label: RequestLabel::new(method, var(b"PATH_INFO"), var(b"QUERY_STRING")),
            head_request: method == b"HEAD",
            request_length: environ.content_length(),
            ..Record::default()
        };
        let mut state = self.lock();
        state.requests += 1;
        state.live.insert(req, record);
    }

    fn call_returned(&self, req: RequestId, status: nsgi_status, body_problem: Option<&'static str>) {
        self.with_record(req, |record| {
            record.call_status = Some(status);
            match status {
                NSGI_OK if record.must_abort => record.flag(
                    C80,
                    Severity::Error,
                    "call returned NSGI_OK after start_response reported NSGI_E_HEADERS_SENT; it must return an error",
                ),
                NSGI_OK => {}
                NSGI_E_PANIC => record.flag(N1, Severity::Error, "the app panicked in call (NSGI_E_PANIC)"),
                _ if record.must_abort && status < 0 => {}
                _ => record.flag(N5, Severity::Error, format!("call returned {}", status_name(status))),
            }
            match body_problem {
                None => {}
                Some("NULL vtable") => record.flag(
                    C63,
                    Severity::Error,
                    "call returned NSGI_OK without a body (NULL vtable)",
                ),
                Some(problem) => record.flag(N7, Severity::Error, format!("call returned an invalid body: {problem}")),
            }
        });
    }

    fn environ_get(&self, req: RequestId, key: &[u8], _found: bool) {
        if HOP_BY_HOP_VARS.contains(&key) {
            self.with_record(req, |record| {
                let message = format!(
                    "the app reads {}, an inbound hop-by-hop header",
                    String::from_utf8_lossy(key)
                );
                record.flag(C104, Severity::Info, message);
            });
        }
    }

    fn input_read(&self, req: RequestId, read: &InputRead) {
        self.with_record(req, |record| {
            let function = if read.line { "input_readline" } else { "input_read" };
            if read.buf_null {
                record.flag(
                    N8,
                    Severity::Error,
                    format!("{function} got a NULL buffer with capacity {}", read.requested),
                );
            }
            if read.returned > 0 {
                record.input_bytes += read.returned.unsigned_abs();
                if let Some(declared) = record.request_length
                    && record.input_bytes > declared
                {
                    let message = format!("wsgi.input returned bytes past CONTENT_LENGTH {declared}");
                    record.flag(C26, Severity::Error, message);
                }
            }
        });
    }

    fn errors_write(&self, req: RequestId, write: &ErrorsWrite<'_>) {
        if write.data_null {
            self.with_record(req, |record| {
                record.flag(
                    C32,
                    Severity::Error,
                    "errors_write got a NULL pointer with a non-zero length",
                );
            });
        }
    }

    fn start_response(&self, req: RequestId, call: &StartResponseCall<'_>) {
        self.with_record(req, |record| {
            record.start_attempts += 1;
            if matches!(call.phase, CallPhase::Close | CallPhase::Outside) {
                record.flag(
                    N8,
                    Severity::Error,
                    "start_response called outside call/next (from close)",
                );
                return;
            }
            match call.exc_info_size {
                None if call.head_stored_before => {
                    record.flag(
                        C39,
                        Severity::Error,
                        "start_response called a second time without exc_info",
                    );
                }
                Some(size) if size < NSGI_EXC_INFO_V1_0_SIZE => {
                    let message = format!("exc_info struct_size {size} is smaller than nsgi_exc_info v1.0");
                    record.flag(C77, Severity::Error, message);
                }
                _ => {}
            }
            if call.result == NSGI_E_HEADERS_SENT {
                record.must_abort = true;
            }
            if call.result == NSGI_E_TOO_LARGE {
                // The host refused the head before looking at it; so does the validator (the
                // header list may be of any length).
                let detail = record.violations.iter().rev().find_map(|v| match v {
                    Violation::HeadTooLarge(detail) => Some(detail.to_string()),
                    _ => None,
                });
                let message = match detail {
                    Some(detail) => format!("response head refused: {detail}"),
                    None => format!("response head of {} headers refused as too large", call.n_headers),
                };
                record.flag(N11, Severity::Error, message);
                return;
            }
            let (code, status_breaches) = check_status_line(call.status);
            for (check, severity, message) in status_breaches {
                record.flag(check, severity, message);
            }
            if call.headers_null {
                let message = format!(
                    "start_response got a NULL header array with n_headers {}",
                    call.n_headers
                );
                record.flag(C48, Severity::Error, message);
            }
            let mut lengths = Vec::new();
            for (name, value) in call.headers() {
                for (check, severity, message) in check_header_field(name, value) {
                    record.flag(check, severity, message);
                }
                if name.eq_ignore_ascii_case(b"content-length")
                    && let Some(length) = parse_content_length(value)
                {
                    lengths.push(length);
                }
            }
            if lengths.windows(2).any(|pair| pair[0] != pair[1]) {
                record.flag(
                    C67,
                    Severity::Error,
                    "Content-Length is given several times with different values",
                );
            }
            if call.result == NSGI_OK
                && let Some(code) = code
            {
                let headers = call.headers().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
                record.head = Some(StoredHead {
                    code,
                    headers,
                    content_length: lengths.first().copied(),
                });
            }
        });
    }

    fn write(&self, req: RequestId, call: &WriteCall) {
        self.with_record(req, |record| {
            match call.phase {
                CallPhase::Next => record.flag(C85, Severity::Error, "write() called from inside the body's next()"),
                CallPhase::Close => record.flag(C85, Severity::Error, "write() called from inside the body's close()"),
                CallPhase::Outside => record.flag(N8, Severity::Error, "write() called outside call/next"),
                CallPhase::Call if !call.head_stored => {
                    record.flag(C84, Severity::Error, "write() called before start_response");
                }
                CallPhase::Call => {}
            }
            if call.data_null {
                record.flag(
                    C83,
                    Severity::Error,
                    "write() got a NULL pointer with a non-zero length",
                );
            }
            if record.must_abort {
                record.flag(
                    C80,
                    Severity::Error,
                    "write() called after start_response reported NSGI_E_HEADERS_SENT; the app must abort",
                );
            }
            if call.result == NSGI_OK && call.len > 0 {
                if !record.wrote {
                    record.wrote = true;
                    record.flag(
                        C88,
                        Severity::Info,
                        "the app uses write(); PEP 3333 asks new apps to return a body",
                    );
                }
                record.body_bytes(call.len as u64, "write()");
            }
        });
    }

    fn next_returned(&self, req: RequestId, result: &NextResult) {
        self.with_record(req, |record| match result.status {
            NSGI_OK | NSGI_DONE if record.must_abort => record.flag(
                C80,
                Severity::Error,
                format!(
                    "next returned {} after start_response reported NSGI_E_HEADERS_SENT; it must return an error",
                    status_name(result.status)
                ),
            ),
            NSGI_OK if result.chunk_null && result.chunk_len > 0 => {
                let message = format!(
                    "next returned a chunk with a NULL pointer and length {}",
                    result.chunk_len
                );
                record.flag(N3, Severity::Error, message);
            }
            NSGI_OK => record.body_bytes(result.chunk_len as u64, "next()"),
            NSGI_DONE => {}
            NSGI_E_PANIC => record.flag(N2, Severity::Error, "the app panicked in next (NSGI_E_PANIC)"),
            status if status < 0 && record.must_abort => {}
            status if status < 0 => record.flag(N4, Severity::Error, format!("next returned {}", status_name(status))),
            status => record.flag(
                N4,
                Severity::Error,
                format!("next returned the unknown status {status}"),
            ),
        });
    }

    fn file_sent(&self, req: RequestId, length: u64) {
        self.with_record(req, |record| record.body_bytes(length, "file_body"));
    }

    fn violation(&self, req: RequestId, violation: &Violation) {
        self.with_record(req, |record| {
            // The host refuses a misused handle without failing the response; the rule is broken
            // all the same.
            if matches!(violation, Violation::RequestHandleRefused { .. }) {
                record.flag(N8, Severity::Error, violation.to_string());
            }
            record.violations.push(violation.clone());
        });
    }

    fn request_ended(&self, req: RequestId, end: &RequestEnd<'_>) {
        let mut state = self.lock();
        let Some(mut record) = state.live.remove(&req) else {
            return;
        };
        record.finish(end);
        let findings: Vec<Finding> = record.findings.iter().map(|pending| record.finding(pending)).collect();
        state
            .ended
            .extend(findings.into_iter().map(|finding| (Some(req), finding)));
    }
}
