//! Starting the response lazily: PEP 3333's generator that calls `start_response` inside its
//! first `next()`.
//!
//! This module owns [`StartResponse::lazily`], the types its closure works with ([`LaterStart`],
//! [`LaterStarted`], [`LaterResponse`]) and the body source that runs the closure on the host's
//! first `next` (docs/abi.md §7.3). It never keeps the request handle: the closure gets the one
//! the host passes to that `next`, for that call only. The types turn misuse into compile
//! errors: the closure can return a [`LaterResponse`] only by starting the response, once, and
//! [`LaterStarted`] has no `write()` (the host refuses `write` inside `next`, §8).

use std::fmt;

use super::Error;
use super::body::{AlreadyLogged, Body, RawBody, Source};
use super::error::{self, HostError};
use super::host::{Host, Level, RawRequest};
use super::respond::start_with_length;
use super::response::{Response, StartResponse, start_response};
use crate::sys::{self, nsgi_request};

impl<'req> StartResponse<'req> {
    /// Starts the response later, from inside the body's first `next()`: PEP 3333's generator
    /// that calls `start_response` on its first iteration.
    ///
    /// `call` returns at once with a body that has not started the response. When the host
    /// first asks that body for a chunk, `produce` runs (on the thread the host uses for the
    /// body, possibly not the one that ran `call`) with a [`LaterStart`]: it may take its time
    /// (wait for a backend, say) and then starts the response with the status and headers it
    /// only knows now, through [`LaterStart::start`], which calls the host's `start_response`
    /// right then. Its body's chunks follow. Until `produce` returns nothing has been sent, so
    /// an `Err` from it is reported like an `Err` from [`App::call`](super::App::call): logged as
    /// `request failed: …`, and the host answers `500 Internal Server Error`. A panic in it is
    /// caught like a panic in any body: logged, the body is poisoned, the host answers 500.
    ///
    /// `produce` cannot see the [`Request`](super::Request) (a body outlives `call`): read what
    /// it needs in `call` and move it in. A file body it returns is sent through the SDK's body
    /// rather than the host's own file path.
    ///
    /// ```
    /// use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};
    ///
    /// struct Report;
    ///
    /// impl App for Report {
    ///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
    ///         Ok(Report)
    ///     }
    ///
    ///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///         let name = req.path_info().trim_start_matches('/').to_owned();
    ///         Ok(start.lazily(move |later| {
    ///             // Runs in the host's first next(): the status depends on work done only now.
    ///             let rows = if name.is_empty() { Vec::new() } else { vec![format!("{name}: 3\n")] };
    ///             if rows.is_empty() {
    ///                 return Ok(later.start("404 Not Found", &[])?.body("no such report\n"));
    ///             }
    ///             let started = later.start("200 OK", &[("Content-Type", "text/plain")])?;
    ///             Ok(started.body(Body::from_chunks(rows)))
    ///         }))
    ///     }
    /// }
    /// # let _ = nsgi::app_descriptor!(Report);
    /// ```
    ///
    /// Returning without starting does not compile (a [`LaterResponse`] comes only from
    /// [`LaterStarted`]):
    ///
    /// ```compile_fail
    /// use nsgi::app::{Body, Response, StartResponse};
    ///
    /// fn respond(start: StartResponse<'_>) -> Response {
    ///     start.lazily(|_later| Ok(Body::from("never started")))
    /// }
    /// ```
    ///
    /// Nor does `write()` from inside `next()`, which the host would refuse:
    ///
    /// ```compile_fail
    /// use nsgi::app::{Response, StartResponse};
    ///
    /// fn respond(start: StartResponse<'_>) -> Response {
    ///     start.lazily(|later| {
    ///         let mut started = later.start("200 OK", &[])?;
    ///         started.write(b"pushed")?; // no method `write` on `LaterStarted`
    ///         Ok(started.finish())
    ///     })
    /// }
    /// ```
    pub fn lazily<F>(self, produce: F) -> Response
    where
        F: FnOnce(LaterStart<'_>) -> Result<LaterResponse, Error> + Send + 'static,
    {
        Response::started_by_body(Body::new(Lazy::Waiting(produce)))
    }
}

/// The right to start the response from inside the body's first `next()`, given to the closure
/// of [`StartResponse::lazily`]. Usable once, during that `next()` only.
pub struct LaterStart<'next> {
    raw: RawRequest<'next>,
}

impl<'next> LaterStart<'next> {
    /// Starts the response with `status` and `headers`, calling the host's `start_response`
    /// now. The host checks them as for [`StartResponse::start`], and a refusal names the
    /// problem the same way.
    pub fn start(self, status: &str, headers: &[(&str, &str)]) -> Result<LaterStarted<'next>, HostError> {
        start_response(self.raw, status, headers, &[], None)?;
        Ok(LaterStarted { _raw: self.raw })
    }

    /// Starts the response and returns it with `body`, adding `Content-Length` when the body's
    /// length is known, by the rules of [`StartResponse::respond`].
    pub fn respond(
        self,
        status: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Result<LaterResponse, HostError> {
        let body = body.into();
        let raw = self.raw;
        start_with_length(status, headers, &body, |status, headers, extra| {
            start_response(raw, status, headers, extra, None)
        })?;
        Ok(LaterResponse { body })
    }

    /// The host, for logging.
    pub fn host(&self) -> &'next Host {
        self.raw.host()
    }
}

impl fmt::Debug for LaterStart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LaterStart")
    }
}

/// A response started from inside `next()`: attach its body with [`body`](Self::body) or end it
/// with [`finish`](Self::finish). It has no `write()`: inside `next` a body hands its bytes over
/// as chunks.
pub struct LaterStarted<'next> {
    _raw: RawRequest<'next>,
}

impl LaterStarted<'_> {
    /// Ends with `body` as the response's body.
    pub fn body(self, body: impl Into<Body>) -> LaterResponse {
        LaterResponse { body: body.into() }
    }

    /// Ends with no body, for bodiless responses such as `204 No Content`.
    pub fn finish(self) -> LaterResponse {
        LaterResponse { body: Body::empty() }
    }
}

impl fmt::Debug for LaterStarted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LaterStarted")
    }
}

/// What the closure of [`StartResponse::lazily`] returns: a response it started, and its body.
#[derive(Debug)]
pub struct LaterResponse {
    body: Body,
}

/// The lazy body: the app's closure until the first `next`, then the body it produced.
enum Lazy<F> {
    /// The closure, not run yet.
    Waiting(F),
    /// The body the closure returned, driven through its vtable.
    Producing(RawBody),
    /// The closure failed (or was not run because the host passed no request).
    Failed,
}

impl<F> Source for Lazy<F>
where
    F: FnOnce(LaterStart<'_>) -> Result<LaterResponse, Error> + Send + 'static,
{
    fn next_chunk(&mut self, req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        *self = match std::mem::replace(self, Lazy::Failed) {
            Lazy::Waiting(produce) => {
                let Some(raw) = req else {
                    return Err(
                        "a lazily started response needs the request handle in next(), and the host passed NULL".into(),
                    );
                };
                match produce(LaterStart { raw }) {
                    Ok(response) => Lazy::Producing(RawBody::adopt(response.body, raw.host())),
                    Err(e) => {
                        // Nothing was sent yet: report it as `call` reports its errors.
                        raw.log(Level::Error, &format!("request failed: {}", error::chain(&*e)));
                        return Err(AlreadyLogged(sys::NSGI_E_APP).into());
                    }
                }
            }
            other => other,
        };
        match self {
            Lazy::Producing(body) => body.next_chunk(req).map_err(|e| match e.downcast::<HostError>() {
                // The produced body's own `next` failed and logged why (or it is the host's).
                Ok(failed) => AlreadyLogged(failed.code()).into(),
                Err(e) => e,
            }),
            Lazy::Failed | Lazy::Waiting(_) => Err(AlreadyLogged(sys::NSGI_E_APP).into()),
        }
    }

    fn close(&mut self, req: *mut nsgi_request) {
        if let Lazy::Producing(body) = self {
            body.close(req);
        }
    }
}
