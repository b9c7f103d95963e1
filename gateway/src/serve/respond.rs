//! Answering one complete request with the app: route, environ, call, and what the response
//! came to.
//!
//! Owns the per-worker request resources (the reused [`RequestStore`] with the request's slot and
//! environ, the `wsgi.errors` line, the date cache), the start of an exchange, and its end: what
//! happens when the app breaks the rules (a 500 when nothing was sent yet, otherwise an aborted
//! connection), the access log, and with a conformance [`Validator`] (`--validate`) every finding
//! of each request with its check id (an error-level finding made before the head went out is
//! treated like a host-detected failure: 500). Pulling the response and framing it is
//! `serve/pump.rs`; a response parked on a slow client (`--threads 0`) is `serve/parked.rs`, and
//! goes on here ([`Responder::resume`]). Never touches a socket.

use crate::http::{
    BodyKind, DateCache, OwnedHead, RequestHead, RequestLine, ResponseHead, write_error_response, write_head,
};
use crate::logs::access_log::{AccessEntry, AccessLog};
use crate::logs::errors_log::ErrorsLog;
use crate::serve::parked::{ParkedResponse, RequestInput};
use crate::serve::pump::{Delivery, FileTail, Outgoing, Pumped, Push, SERVER_HEADER, Sink, pump};
use crate::settings::serving::HEADER_SLOTS;
use crate::site::environ::{self, Endpoints, IP_TEXT_BYTES, Site, ip_text};
use crate::site::mount::Route;
use nsgi::host::{AppInstance, RequestId, RequestStore, Violation};
use nsgi_conformance::{Severity, Validator};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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

/// The apps a worker serves and what every request shares: immutable once serving, so the
/// event loop and the pool threads hold it through one `Arc`.
pub struct Apps {
    /// The mounted apps, in the order of `site.mounts` (each in an `Arc`, which a response
    /// parked on a slow client holds too).
    instances: Vec<Arc<AppInstance>>,
    /// Routing, proxies and environ flags.
    site: Site,
    validator: Option<Arc<Validator>>,
    access_log: Option<Mutex<AccessLog>>,
}

impl Apps {
    /// Apps to serve, one per mount of `site` in the same order; with a validator when they
    /// were initialised observed by it ([`AppInstance::init_observed`]).
    pub fn new(instances: Vec<AppInstance>, site: Site, validator: Option<Arc<Validator>>) -> Apps {
        Apps {
            instances: instances.into_iter().map(Arc::new).collect(),
            site,
            validator,
            access_log: None,
        }
    }

    /// Records every request in `log`.
    pub(crate) fn with_access_log(mut self, log: AccessLog) -> Apps {
        self.access_log = Some(Mutex::new(log));
        self
    }

    /// True when requests are recorded in an access log (which needs the time each arrived).
    pub(crate) fn logs_access(&self) -> bool {
        self.access_log.is_some()
    }

    /// Flushes the access log (the event loop calls it about once a second and at exit).
    pub(crate) fn flush_access_log(&self) {
        if let Some(log) = &self.access_log {
            lock(log).flush();
        }
    }

    /// Reopens the access log file (after log rotation).
    pub(crate) fn reopen_access_log(&self) {
        if let Some(log) = &self.access_log {
            lock(log).reopen();
        }
    }

    /// Shuts every app down (after the last request). Fails when requests still hold the apps.
    pub(crate) fn shutdown(self: Arc<Self>) -> Result<(), Arc<Self>> {
        let apps = Arc::try_unwrap(self)?;
        apps.flush_access_log();
        for instance in apps.instances {
            // Every parked response ended with its connection, so each instance has one owner
            // left; were one still held, its last owner would shut it down on drop.
            if let Ok(instance) = Arc::try_unwrap(instance) {
                instance.shutdown();
            }
        }
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How one response went, for the connection and the access log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// What the connection does next.
    pub after: After,
    /// The status sent.
    pub status: u16,
    /// Body bytes sent (after framing is removed).
    pub body_bytes: u64,
}

/// One thread's view of the apps, with its reusable request resources: one per event loop
/// (inline calls) or per pool thread.
pub struct Responder {
    apps: Arc<Apps>,
    work: Work,
}

/// The reusable per-request resources of one thread, apart from the shared apps (so a request
/// borrows the apps and mutates these at once, with no reference count touched).
struct Work {
    /// The request's slot and environ; taken by the exchange while the app is called, and
    /// replaced by a new one when a response parks with it.
    store: Option<RequestStore>,
    errors_line: Vec<u8>,
    date: DateCache,
    /// The file that ends the last response, until the caller takes it.
    file: Option<FileTail>,
    /// Set when the server starts draining (pool threads): a response whose app call was under
    /// way then still answers `Connection: close`.
    drain: Option<Arc<AtomicBool>>,
}

impl Responder {
    /// A responder for `apps`.
    pub fn new(apps: Arc<Apps>) -> Responder {
        Responder {
            apps,
            work: Work {
                store: Some(RequestStore::new()),
                errors_line: Vec::new(),
                date: DateCache::new(),
                file: None,
                drain: None,
            },
        }
    }

    /// Reads `drain` after each app call: once it is set, responses close their connection.
    pub(crate) fn watching_drain(mut self, drain: Arc<AtomicBool>) -> Responder {
        self.work.drain = Some(drain);
        self
    }

    /// The file that ends the response just answered, if its body was a file: to be sent after
    /// the response's bytes (see [`FileTail`]).
    pub(crate) fn take_file(&mut self) -> Option<FileTail> {
        self.work.file.take()
    }

    /// The apps.
    pub(crate) fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    /// Writes a complete canned error response (and the connection closes after it); to a
    /// `HEAD` request (`head_request`), without its body.
    pub(crate) fn write_error(&mut self, out: &mut Vec<u8>, status: u16, head_request: bool) {
        let date = self.work.date.now();
        write_error_response(out, status, date, SERVER_HEADER, head_request);
    }

    /// Writes the canned error response `status` for a request the gateway refuses itself (the
    /// connection closes after it; to a `HEAD` request, without its body), and records it in the access log, if there is one: from the
    /// peer's own address, with `line` when the request line was read whole (`-` otherwise), as
    /// received at `received`. Allocates nothing once the log's buffer is warm.
    pub(crate) fn refuse(
        &mut self,
        out: &mut Vec<u8>,
        status: u16,
        head_request: bool,
        conn: &Endpoints,
        line: Option<RequestLine<'_>>,
        received: SystemTime,
    ) {
        let start = out.len();
        self.write_error(out, status, head_request);
        let Some(log) = &self.apps.access_log else {
            return;
        };
        let written = &out[start..];
        let body_bytes = written
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |head_end| written.len() - head_end - 4);
        let mut addr = [0u8; IP_TEXT_BYTES];
        let remote = match conn.peer {
            Some(peer) => ip_text(peer.ip(), &mut addr),
            None => b"-",
        };
        let line = line.unwrap_or(RequestLine {
            method: b"",
            target: b"",
            version: b"",
        });
        lock(log).record(&AccessEntry {
            remote_addr: remote,
            remote_user: None,
            time: received,
            method: line.method,
            target: line.target,
            version: line.version,
            status,
            body_bytes: body_bytes as u64,
            referer: None,
            user_agent: None,
        });
    }

    /// Answers `head`, whose body (`body_len` bytes) is read from `input`, into `out`. With
    /// `closing`, the response tells the client that the connection closes after it. With a
    /// `sink` (pool threads), a large response is handed over in parts as it is produced.
    /// `received` is when the request's first byte arrived (the access log's `%t`).
    #[allow(clippy::too_many_arguments)] // one request's parts; a struct would only rename them
    pub fn respond(
        &mut self,
        head: &RequestHead<'_, '_>,
        input: &mut dyn RequestInput,
        body_len: u64,
        conn: &Endpoints,
        out: &mut Vec<u8>,
        closing: bool,
        sink: Option<Sink<'_>>,
        received: SystemTime,
    ) -> Served {
        let delivery = sink.map_or(Delivery::Whole, Delivery::Handed);
        match self.answer(head, input, body_len, conn, out, closing, delivery, received) {
            Answer::Served(served) => served,
            // Only a pushed delivery pauses, so no response parks here; were one to, it is cut
            // short rather than left pending.
            Answer::Parked(parked) => self.abandon(parked, conn),
        }
    }

    /// [`respond`](Self::respond) for the event loop (`--threads 0`): the response is pushed to
    /// the client's socket as the app produces it, and parks when the socket is full (or the
    /// response has had its turn), for the connection to [`resume`](Self::resume) later. Bytes
    /// the app writes with `write()` during its call may wait up to `wait` for the client.
    #[allow(clippy::too_many_arguments)] // one request's parts; a struct would only rename them
    pub(crate) fn respond_pushed(
        &mut self,
        head: &RequestHead<'_, '_>,
        input: &mut dyn RequestInput,
        body_len: u64,
        conn: &Endpoints,
        out: &mut Vec<u8>,
        closing: bool,
        push: Push<'_>,
        wait: Duration,
        received: SystemTime,
    ) -> Answer {
        self.answer(
            head,
            input,
            body_len,
            conn,
            out,
            closing,
            Delivery::Pushed(push, wait),
            received,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn answer(
        &mut self,
        head: &RequestHead<'_, '_>,
        input: &mut dyn RequestInput,
        body_len: u64,
        conn: &Endpoints,
        out: &mut Vec<u8>,
        closing: bool,
        delivery: Delivery<'_>,
        received: SystemTime,
    ) -> Answer {
        let apps: &Apps = &self.apps;
        let work = &mut self.work;
        if work.file.is_some() {
            work.file = None; // a file the caller did not take
        }
        if head.target == b"*" {
            // `OPTIONS *` asks about the server, not a resource (RFC 9110 §9.3.7): answered here.
            return Answer::Served(work.options_asterisk(head, out, closing));
        }
        let route = apps.site.mounts.route_encoded(head.path);
        let served = match route.as_ref().and_then(|r| Some((r, apps.instances.get(r.app)?))) {
            Some((route, app)) => {
                match work.call_app(apps, app, route, head, input, body_len, conn, out, closing, delivery) {
                    Answer::Served(served) => served,
                    Answer::Parked(mut parked) => {
                        parked.received = received;
                        return Answer::Parked(parked);
                    }
                }
            }
            None => {
                let date = work.date.now();
                write_error_response(out, 404, date, SERVER_HEADER, head.method == "HEAD");
                Served {
                    after: After::Close,
                    status: 404,
                    body_bytes: 0,
                }
            }
        };
        if let Some(log) = &apps.access_log {
            // The client as resolved through trusted proxies when the app was called.
            let resolved = match (&route, &work.store) {
                (Some(_), Some(store)) => store.environ().get(b"REMOTE_ADDR"),
                _ => None,
            };
            record_access(&mut lock(log), head, resolved, conn, &served, received);
        }
        Answer::Served(served)
    }

    /// Goes on with a response parked on a slow client (see
    /// [`respond_pushed`](Self::respond_pushed)): how it ended, or the response, parked again.
    pub(crate) fn resume(
        &mut self,
        parked: Box<ParkedResponse>,
        conn: &Endpoints,
        out: &mut Vec<u8>,
        push: Push<'_>,
        wait: Duration,
    ) -> Result<Served, Box<ParkedResponse>> {
        let apps: &Apps = &self.apps;
        let work = &mut self.work;
        if work.file.is_some() {
            work.file = None; // a file the caller did not take
        }
        let mut parked = parked;
        let result = match work.pump_parked(
            apps.validator.as_deref(),
            &mut parked,
            out,
            Delivery::Pushed(push, wait),
        ) {
            Pumped::Paused => return Err(parked),
            Pumped::Ended(result) => result,
        };
        Ok(work.end_parked(apps, *parked, result, conn, out))
    }

    /// Ends a parked response whose client is gone (or took nothing for too long): the app's
    /// body is closed, and the access log records the response as cut short.
    pub(crate) fn abandon(&mut self, parked: Box<ParkedResponse>, conn: &Endpoints) -> Served {
        let mut parked = parked;
        parked.outgoing.client_gone = true;
        let mut out = Vec::new();
        self.work
            .end_parked(&self.apps, *parked, Err(String::new()), conn, &mut out)
    }
}

impl Work {
    fn options_asterisk(&mut self, head: &RequestHead<'_, '_>, out: &mut Vec<u8>, closing: bool) -> Served {
        const ALLOW: [(&[u8], &[u8]); 1] = [(b"Allow", b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")];
        let keep_alive = head.keep_alive && !closing;
        let date = self.date.now();
        write_head(
            out,
            &ResponseHead {
                version: head.version,
                relayed: head.front.is_some(),
                status: b"200 OK",
                headers: ALLOW.iter().copied(),
                body: BodyKind::Length(0),
                keep_alive,
                is_head: false,
            },
            date,
            SERVER_HEADER,
        );
        Served {
            after: if keep_alive { After::KeepAlive } else { After::Close },
            status: 200,
            body_bytes: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call_app(
        &mut self,
        apps: &Apps,
        app: &Arc<AppInstance>,
        route: &Route,
        head: &RequestHead<'_, '_>,
        input: &mut dyn RequestInput,
        body_len: u64,
        conn: &Endpoints,
        out: &mut Vec<u8>,
        closing: bool,
        mut delivery: Delivery<'_>,
    ) -> Answer {
        let mut store = self.store.take().unwrap_or_default();
        environ::build_request(store.environ_mut(), head, body_len, conn, &apps.site, route);
        let is_head = head.method == "HEAD";
        let start = out.len();
        let mut errors = ErrorsLog::new(&mut self.errors_line, app.mount_name());
        let validator = apps.validator.as_deref();
        // What went out so far (during the call: bytes the app wrote with write()).
        let mut sent = Outgoing {
            framing: BodyKind::None,
            status: 0,
            body_bytes: 0,
            head_written: false,
            client_gone: false,
            keep_alive: head.keep_alive && !closing,
        };
        // Bytes written with write() go out as they are written when the delivery streams (not
        // for HEAD, whose body is dropped whole, nor with --validate, which judges the head
        // before it goes).
        let streams_writes = !is_head && validator.is_none() && !matches!(delivery, Delivery::Whole);
        let mut exchange = if streams_writes {
            let date = &mut self.date;
            let mut on_written =
                |part: nsgi::host::WrittenPart<'_>| sent.on_written(part, head, date, out, &mut delivery);
            app.call_stored_streaming_writes(store, input.reader(), &mut errors, &mut on_written)
        } else {
            app.call_stored(store, input.reader(), &mut errors)
        };
        // The drain may have begun while the app was called.
        sent.keep_alive &= !self.drain.as_deref().is_some_and(|drain| drain.load(Ordering::Relaxed));
        let request_id = exchange.request_id();
        let pumped = if sent.client_gone {
            Pumped::Ended(Err(String::new()))
        } else {
            pump(
                &mut self.date,
                &mut self.file,
                &mut exchange,
                &mut sent,
                head,
                validator,
                request_id,
                out,
                &mut delivery,
            )
        };
        let result = match pumped {
            Pumped::Ended(result) => result,
            Pumped::Paused => {
                match exchange.park(Arc::clone(app)) {
                    Ok(parked) => {
                        // The error stream's partial line goes with the response.
                        self.store = Some(RequestStore::new());
                        let mut owned_head = OwnedHead::default();
                        owned_head.store(head);
                        return Answer::Parked(Box::new(ParkedResponse {
                            exchange: parked,
                            outgoing: sent,
                            head: owned_head,
                            input: input.detach(),
                            errors_line: std::mem::take(&mut self.errors_line),
                            received: SystemTime::UNIX_EPOCH,
                        }));
                    }
                    Err(store) => {
                        // Not reached: every exchange here is stored and begun on `app`.
                        self.store = store;
                        errors.finish();
                        let result = Err("the response could not be set aside for a slow client".to_owned());
                        return Answer::Served(self.conclude(Ended {
                            result,
                            sent,
                            validator,
                            request_id,
                            head,
                            mount: app.mount_name(),
                            out,
                            start,
                        }));
                    }
                }
            }
        };
        log_repaired(exchange.violations(), &result, head, app.mount_name());
        self.store = exchange.finish();
        errors.finish();
        if validator.is_none()
            && let Ok(keep_alive) = result
        {
            // The usual end, with nothing to log.
            return Answer::Served(Served {
                after: if keep_alive { After::KeepAlive } else { After::Close },
                status: sent.status,
                body_bytes: sent.body_bytes,
            });
        }
        Answer::Served(self.conclude(Ended {
            result,
            sent,
            validator,
            request_id,
            head,
            mount: app.mount_name(),
            out,
            start,
        }))
    }

    /// Pulls a parked response on, as far as its client takes it.
    fn pump_parked(
        &mut self,
        validator: Option<&Validator>,
        parked: &mut ParkedResponse,
        out: &mut Vec<u8>,
        mut delivery: Delivery<'_>,
    ) -> Pumped {
        let ParkedResponse {
            exchange,
            outgoing,
            head,
            input,
            errors_line,
            ..
        } = parked;
        let request_id = exchange.request_id();
        let instance = Arc::clone(exchange.instance());
        head.with_view::<HEADER_SLOTS, _>(|head| {
            let mut errors = ErrorsLog::continuing(errors_line, instance.mount_name());
            let mut resumed = exchange.resume(&mut **input, &mut errors);
            let pumped = pump(
                &mut self.date,
                &mut self.file,
                &mut resumed,
                outgoing,
                head,
                validator,
                request_id,
                out,
                &mut delivery,
            );
            if let Pumped::Ended(result) = &pumped {
                log_repaired(resumed.violations(), result, head, resumed.mount_name());
            }
            pumped
        })
    }

    /// Ends a parked response that `result` says is over: closes the app's body, concludes as
    /// for any response, and records it in the access log.
    fn end_parked(
        &mut self,
        apps: &Apps,
        parked: ParkedResponse,
        result: Result<bool, String>,
        conn: &Endpoints,
        out: &mut Vec<u8>,
    ) -> Served {
        let ParkedResponse {
            exchange,
            outgoing,
            head,
            input: _,
            mut errors_line,
            received,
        } = parked;
        let request_id = exchange.request_id();
        let instance = Arc::clone(exchange.instance());
        let mut addr = [0u8; IP_TEXT_BYTES];
        let mut resolved_len = 0;
        if let Some(resolved) = exchange.environ().and_then(|environ| environ.get(b"REMOTE_ADDR"))
            && resolved.len() <= addr.len()
        {
            addr[..resolved.len()].copy_from_slice(resolved);
            resolved_len = resolved.len();
        }
        let mut errors = ErrorsLog::continuing(&mut errors_line, instance.mount_name());
        // The store is let go, not reused: the loop thread took a new one when this parked.
        drop(exchange.finish(&mut errors));
        errors.finish();
        head.with_view::<HEADER_SLOTS, _>(|head| {
            let served = self.conclude(Ended {
                result,
                sent: outgoing,
                validator: apps.validator.as_deref(),
                request_id,
                head,
                mount: instance.mount_name(),
                out,
                start: 0,
            });
            if let Some(log) = &apps.access_log {
                let resolved = (resolved_len > 0).then_some(&addr[..resolved_len]);
                record_access(&mut lock(log), head, resolved, conn, &served, received);
            }
            served
        })
    }

    /// What the gateway does once a response has ended: logs what the validator found, and
    /// turns a failure into an aborted connection (after the head went out) or a 500.
    #[inline(never)] // off the usual path (a failure, or --validate): keeps `call_app` small
    fn conclude(&mut self, ended: Ended<'_, '_, '_>) -> Served {
        let Ended {
            result,
            sent,
            validator,
            request_id,
            head,
            mount,
            out,
            start,
        } = ended;
        let Outgoing {
            mut status,
            mut body_bytes,
            head_written,
            client_gone,
            ..
        } = sent;
        let is_head = head.method == "HEAD";
        // With --validate the validator's lines name each violation with its check id; the
        // gateway's own line about the same failure would only repeat it.
        let validator_named_it = validator.is_some_and(|v| log_findings(v, request_id, head, mount));
        let after = match result {
            Ok(true) => After::KeepAlive,
            Ok(false) => After::Close,
            Err(_) if client_gone => {
                log::debug!(
                    "{} {}: the client went away during the response",
                    head.method,
                    String::from_utf8_lossy(head.target)
                );
                After::Abort
            }
            Err(failure) => {
                log::log!(
                    if validator_named_it {
                        log::Level::Debug
                    } else {
                        log::Level::Error
                    },
                    "{} {}: app {} broke the NSGI rules: {failure}",
                    head.method,
                    String::from_utf8_lossy(head.target),
                    mount
                );
                if head_written {
                    After::Abort
                } else {
                    out.truncate(start);
                    let date = self.date.now();
                    write_error_response(out, 500, date, SERVER_HEADER, is_head);
                    status = 500;
                    body_bytes = 0;
                    After::Close
                }
            }
        };
        Served {
            after,
            status,
            body_bytes,
        }
    }
}

/// A response that has ended, for [`Work::conclude`].
struct Ended<'e, 'b, 'h> {
    /// `Ok(keep_alive)`, or the failure (empty when the client went away).
    result: Result<bool, String>,
    sent: Outgoing,
    validator: Option<&'e Validator>,
    request_id: RequestId,
    head: &'e RequestHead<'b, 'h>,
    mount: &'e str,
    out: &'e mut Vec<u8>,
    /// Where this response starts in `out` (a 500 replaces what is after it).
    start: usize,
}

/// Logs the breaches the host repaired: excess body bytes, and start_response refusals the app
/// corrected with a later call.
#[inline]
fn log_repaired(violations: &[Violation], result: &Result<bool, String>, head: &RequestHead<'_, '_>, mount: &str) {
    if !violations.is_empty() {
        log_repaired_each(violations, result, head, mount);
    }
}

#[cold]
#[inline(never)]
fn log_repaired_each(violations: &[Violation], result: &Result<bool, String>, head: &RequestHead<'_, '_>, mount: &str) {
    let repaired = |v: &&Violation| !v.is_fatal() || (v.is_refused_start() && result.is_ok());
    for violation in violations.iter().filter(repaired) {
        log::warn!(
            "{} {}: app {mount}: {violation}",
            head.method,
            String::from_utf8_lossy(head.target),
        );
    }
}

/// What a request came to: answered, or parked on a slow client.
pub(crate) enum Answer {
    Served(Served),
    Parked(Box<ParkedResponse>),
}

/// Writes one access-log line for a served request: from `resolved`, the client's address as
/// the app was told it (through trusted proxies), else the peer's.
fn record_access(
    log: &mut AccessLog,
    head: &RequestHead<'_, '_>,
    resolved: Option<&[u8]>,
    conn: &Endpoints,
    served: &Served,
    received: SystemTime,
) {
    let mut addr = [0u8; IP_TEXT_BYTES];
    let remote = match (resolved, conn.peer) {
        (Some(resolved), _) if !resolved.is_empty() => resolved,
        (_, Some(peer)) => ip_text(peer.ip(), &mut addr),
        _ => b"-",
    };
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    log.record(&AccessEntry {
        remote_addr: remote,
        remote_user: None,
        time: received,
        method: head.method.as_bytes(),
        target: head.target,
        version: head.protocol_text(),
        status: served.status,
        body_bytes: served.body_bytes,
        referer: header("referer"),
        user_agent: header("user-agent"),
    });
}

/// Logs what the validator found in one request: errors and warnings as such, info at debug level.
/// Logs the validator's findings of one request; true when one was an error.
fn log_findings(validator: &Validator, request: RequestId, head: &RequestHead<'_, '_>, mount: &str) -> bool {
    let mut any_error = false;
    for finding in validator.take_findings(request) {
        any_error |= finding.severity == Severity::Error;
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
    any_error
}
