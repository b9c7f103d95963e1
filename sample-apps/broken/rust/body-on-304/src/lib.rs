//! `broken-body-on-304`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: a `304 Not Modified` response carries body bytes.
//! - **Check**: C68 (`docs/conformance.md`).
//! - **Source**: Werkzeug's lint (a non-empty body with a 304 status is flagged); RFC 9110
//!   §15.4.5 (a 304 response cannot contain content) and §6.4.1. PEP 3333 defers to HTTP here
//!   (§Other HTTP Features).
//!
//! What it does: it always claims the client's copy is current, `304 Not Modified` with a
//! properly quoted `ETag` and no entity headers (no Content-Type, no Content-Length), and then
//! returns the full representation as the body anyway: the bug.
//!
//! What a host sees: body bytes on a status that has no body. `nsgi-gateway` frames such a
//! response without a body, so the bytes never reach the wire; `nsgi-conformance` reports them.

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

struct BodyOn304;

impl App for BodyOn304 {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(BodyOn304)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let started = start.start("304 Not Modified", &[("ETag", "\"v1\"")])?;
        // BUG (deliberate): a 304 has no content; this should be `started.finish()`.
        Ok(started.body("the full, unchanged representation\n"))
    }
}

nsgi::export_app!(BodyOn304);
