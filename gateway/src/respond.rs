//! Answering one complete request with the app: environ → call → response bytes.
//!
//! Owns the per-worker request resources (the reused [`RequestSlot`] and [`Environ`], the date
//! cache) and the translation of an app's [`Step`]s into HTTP/1.1 bytes: framing (Content-Length,
//! chunked, or close-delimited), HEAD, and what happens when the app breaks the rules — a 500 when
//! nothing was sent yet, otherwise an aborted connection. With a conformance [`Validator`]
//! (`--validate`) it also logs every finding of each request with its check id, and treats an
//! error-level finding made before the head went out like a host-detected failure (500). Never
//! touches a socket.

use crate::environ::{self, ConnInfo};
use crate::errors_log::ErrorsLog;
use crate::http::{
    BodyKind, DateCache, RequestHead, ResponseHead, framing_for, write_chunk, write_error_response, write_head,
    write_last_chunk,
};
use nsgi::host::{AppInstance, Environ, RequestId, RequestSlot, Step};
use nsgi_conformance::{Severity, Validator};
use std::sync::Arc;

/// The value of the `Server` header the gateway adds when the app sets none.
pub const SERVER_HEADER: &[u8] = b"nsgi-gateway";

/// What the connection does after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// The response is complete and framed; the connection may carry another request.
    KeepAlive,
    /// The response is complete, but the connection must close after it is sent.
    Close,
    /// The response was cut short: send what was written, then close so the client sees an
    /// incomplete message.
    Abort,
}

/// One worker's app and reusable request resources.
pub struct Responder {
    app: AppInstance,
    slot: RequestSlot,
    environ: Environ,
    errors_line: Vec<u8>,
    date: DateCache,
    validator: Option<Arc<Validator>>,
}

impl Responder {
    /// A responder for `app`.
    pub fn new(app: AppInstance) -> Responder {
        Responder {
            app,
            slot: RequestSlot::new(),
            environ: Environ::new(),
            errors_line: Vec::new(),
            date: DateCache::new(),
            validator: None,
        }
    }

    /// A responder for `app`, which was initialised observed by `validator`
    /// ([`AppInstance::init_observed`]).
    pub fn with_validator(app: AppInstance, validator: Arc<Validator>) -> Responder {
        Responder {
            validator: Some(validator),
            ..Responder::new(app)
        }
    }

    /// The current `Date` header value.
    pub fn date(&mut self) -> &[u8] {
        self.date.now()
    }

    /// Writes a complete canned error response (and the connection closes after it).
    pub fn write_error(&mut self, out: &mut Vec<u8>, status: u16) {
        let date = self.date.now();
        write_error_response(out, status, date, SERVER_HEADER);
    }

    /// Answers `head` (whose body is `body`) into `out`. With `closing`, the response tells the
    /// client that the connection closes after it.
    pub fn respond(
        &mut self,
        head: &RequestHead<'_, '_>,
        body: &[u8],
        conn: &ConnInfo,
        out: &mut Vec<u8>,
        closing: bool,
    ) -> After {
        environ::build(&mut self.environ, head, body.len(), conn, b"");
        let is_head = head.method == "HEAD";
        let keep_alive = head.keep_alive && !closing;
        let start = out.len();
        let mut input: &[u8] = body;
        let mut errors = ErrorsLog::new(&mut self.errors_line, self.app.mount_name());
        let mut exchange = self
            .app
            .call(&mut self.slot, &mut self.environ, &mut input, &mut errors);
        let request_id = exchange.request_id();
        let validator = self.validator.as_deref();
        let mut framing = BodyKind::None;
        // Whether response bytes went out: then a failure can only abort the connection.
        let mut head_written = false;
        let result = loop {
            match exchange.next_step() {
                Ok(Step::Head {
                    head: response,
                    data,
                    end,
                }) => {
                    if let Some(finding) = validator.and_then(|v| v.fatal_finding(request_id)) {
                        break Err(format!("{} {}", finding.check, finding.message));
                    }
                    let empty = end && data.is_empty();
                    framing = framing_for(
                        head.version,
                        is_head,
                        response.status_code(),
                        response.content_length(),
                        empty,
                    );
                    let keep = keep_alive && !matches!(framing, BodyKind::CloseDelimited);
                    let date = self.date.now();
                    head_written = true;
                    write_head(
                        out,
                        &ResponseHead {
                            version: head.version,
                            status: response.status(),
                            headers: response.headers(),
                            body: framing,
                            keep_alive: keep,
                            is_head,
                        },
                        date,
                        SERVER_HEADER,
                    );
                    if is_head {
                        // A HEAD response carries no body: stop the app here (close is called).
                        break Ok(keep);
                    }
                    write_body(out, framing, data);
                    if end {
                        finish_body(out, framing);
                        break Ok(keep);
                    }
                }
                Ok(Step::Data(data)) => write_body(out, framing, data),
                Ok(Step::End) => {
                    finish_body(out, framing);
                    break Ok(keep_alive && !matches!(framing, BodyKind::CloseDelimited));
                }
                Err(failure) => break Err(failure.to_string()),
            }
        };
        // Breaches the host repaired: excess body bytes, and start_response refusals the app
        // corrected with a later call.
        let repaired = |v: &&nsgi::host::Violation| !v.is_fatal() || (v.is_refused_start() && result.is_ok());
        for violation in exchange.violations().iter().filter(repaired) {
            log::warn!(
                "{} {}: app {}: {violation}",
                head.method,
                String::from_utf8_lossy(head.target),
                exchange.mount_name()
            );
        }
        drop(exchange);
        errors.finish();
        if let Some(validator) = validator {
            log_findings(validator, request_id, head, self.app.mount_name());
        }
        match result {
            Ok(true) => After::KeepAlive,
            Ok(false) => After::Close,
            Err(failure) => {
                log::error!(
                    "{} {}: app {} broke the NSGI rules: {failure}",
                    head.method,
                    String::from_utf8_lossy(head.target),
                    self.app.mount_name()
                );
                if head_written {
                    After::Abort
                } else {
                    out.truncate(start);
                    let date = self.date.now();
                    write_error_response(out, 500, date, SERVER_HEADER);
                    After::Close
                }
            }
        }
    }

    /// The validator watching the app, with `--validate`.
    pub fn validator(&self) -> Option<&Arc<Validator>> {
        self.validator.as_ref()
    }

    /// The app instance.
    pub fn app(&self) -> &AppInstance {
        &self.app
    }

    /// Takes the app instance out (for shutdown).
    pub fn into_app(self) -> AppInstance {
        self.app
    }
}

/// Logs what the validator found in one request: errors and warnings as such, info at debug level.
fn log_findings(validator: &Validator, request: RequestId, head: &RequestHead<'_, '_>, mount: &str) {
    for finding in validator.take_findings(request) {
        let level = match finding.severity {
            Severity::Error => log::Level::Error,
            Severity::Warning => log::Level::Warn,
            Severity::Info => log::Level::Debug,
        };
        log::log!(
            level,
            "{} {}: app {mount}: {} {}: {}",
            head.method,
            String::from_utf8_lossy(head.target),
            finding.check,
            finding.severity,
            finding.message
        );
    }
}

fn write_body(out: &mut Vec<u8>, framing: BodyKind, data: &[u8]) {
    match framing {
        BodyKind::Chunked => write_chunk(out, data),
        BodyKind::Length(_) | BodyKind::CloseDelimited => out.extend_from_slice(data),
        BodyKind::Empty | BodyKind::None => {}
    }
}

fn finish_body(out: &mut Vec<u8>, framing: BodyKind) {
    if framing == BodyKind::Chunked {
        write_last_chunk(out);
    }
}
