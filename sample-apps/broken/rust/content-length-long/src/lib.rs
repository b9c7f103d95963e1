//! `broken-content-length-long`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: the body is longer than the `Content-Length` the app declared: it
//!   declares 5 bytes and sends 50.
//! - **Check**: C67 (`docs/conformance.md`).
//! - **Source**: Werkzeug's lint (a declared Content-Length must equal the bytes sent through
//!   `write()` and the iterable) and Rack::Lint (content-length must match the body);
//!   PEP 3333 §Handling the Content-Length Header (the server should not send more bytes than
//!   declared); RFC 9110 §8.6.
//!
//! What it does: it computes Content-Length from the greeting (`hello`, 5 bytes) but sends the
//! whole page built around it (50 bytes): the bug. Everything else is right.
//!
//! What a host sees: the body goes past its declared length. NSGI hosts send the first 5 bytes
//! only, drop the rest, and log the violation.

use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};

/// The part the app measured.
const GREETING: &str = "hello";

/// What the app really sends: 50 bytes.
const PAGE: &str = "hello, and welcome to this deliberately long page\n";
const _: () = assert!(PAGE.len() == 50 && GREETING.len() == 5);

struct ContentLengthLong;

impl App for ContentLengthLong {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(ContentLengthLong)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        // BUG (deliberate): the length of the greeting, not of the page.
        let declared = GREETING.len().to_string();
        let started = start.start(
            "200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &declared),
            ],
        )?;
        Ok(started.body(Body::from_static(PAGE.as_bytes())))
    }
}

nsgi::export_app!(ContentLengthLong);
