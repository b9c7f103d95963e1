//! `broken-body-on-204`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: a `204 No Content` response carries body bytes.
//! - **Check**: C68 (`docs/conformance.md`).
//! - **Source**: Werkzeug's lint (a non-empty body with a 1xx or 204 status is flagged);
//!   RFC 9110 §15.3.5 (a 204 response cannot contain content) and §6.4.1. PEP 3333 defers to
//!   HTTP here (§Other HTTP Features).
//!
//! What it does: it answers every request as a successful delete, `204 No Content`, with no
//! Content-Type and no Content-Length (both would be wrong on a 204), and then returns a short
//! confirmation text as the body anyway: the bug.
//!
//! What a host sees: body bytes on a status that has no body. `nsgi-gateway` frames such a
//! response without a body, so the bytes never reach the wire; `nsgi-conformance` reports them.

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

struct BodyOn204;

impl App for BodyOn204 {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(BodyOn204)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let started = start.start("204 No Content", &[])?;
        // BUG (deliberate): a 204 has no content; this should be `started.finish()`.
        Ok(started.body("deleted\n"))
    }
}

nsgi::export_app!(BodyOn204);
