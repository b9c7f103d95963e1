//! `broken-content-length-short`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: the body is shorter than the `Content-Length` the app declared: it
//!   declares 100 bytes and sends 5.
//! - **Check**: C67 (`docs/conformance.md`).
//! - **Source**: Werkzeug's lint (a declared Content-Length must equal the bytes sent through
//!   `write()` and the iterable) and Rack::Lint (content-length must match the body);
//!   PEP 3333 §Handling the Content-Length Header (a short body makes the server close the
//!   connection and report the error); RFC 9110 §8.6.
//!
//! What it does: it takes Content-Length from the size of a page template (100 bytes) but sends
//! the short text it actually produced (`hello`, 5 bytes): the bug. Everything else is right.
//!
//! What a host sees: the body ends after 5 of the 100 promised bytes. The headers are out by
//! then, so NSGI hosts abort the connection and log the violation.

use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};

/// What the app really sends.
const BODY: &[u8] = b"hello";

/// The size of a template the app no longer uses. BUG (deliberate): declared as the length.
const TEMPLATE_SIZE: usize = 100;

struct ContentLengthShort;

impl App for ContentLengthShort {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(ContentLengthShort)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let declared = TEMPLATE_SIZE.to_string();
        let started = start.start(
            "200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &declared),
            ],
        )?;
        Ok(started.body(Body::from_static(BODY)))
    }
}

nsgi::export_app!(ContentLengthShort);
