//! `broken-next-error`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: the response body fails part-way: its `next` returns an error status
//!   (not a panic) after the response has started.
//! - **Check**: N4 (NSGI-specific; `docs/conformance.md`).
//! - **Source**: the NSGI ABI, `docs/abi.md` §9 (a negative status from `next` aborts the
//!   response) and §14; PEP 3333 §Error Handling: an error raised while iterating the body
//!   ends the response, and once the headers are out the server can only abort it.
//!
//! What it does: it starts `200 OK` and streams a file line by line with
//! [`Body::from_results`]; the second read fails with an I/O error (the bug: the app never
//! handles it, it just lets the body fail). No Content-Length is declared, so the cut-off body
//! cannot cause a second, unrelated finding. The SDK logs the error and returns `NSGI_E_APP`.
//!
//! What a host sees: `next` returns `NSGI_E_APP` after one chunk; NSGI hosts answer 500 if
//! nothing was sent yet, abort the connection otherwise, and log it.

use std::io;

use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};

struct NextError;

impl App for NextError {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(NextError)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let started = start.start("200 OK", &[("Content-Type", "text/plain; charset=utf-8")])?;
        // BUG (deliberate): the second "read" fails and the error ends the body.
        let lines: Vec<io::Result<&'static str>> = vec![
            Ok("line 1 of the log\n"),
            Err(io::Error::other("reading the log failed: device unavailable")),
            Ok("line 3 of the log\n"),
        ];
        Ok(started.body(Body::from_results(lines)))
    }
}

nsgi::export_app!(NextError);
