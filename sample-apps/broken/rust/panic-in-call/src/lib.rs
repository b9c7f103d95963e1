//! `broken-panic-in-call`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: the app panics inside `call` (PEP 3333's `application(environ,
//!   start_response)`) instead of returning an error.
//! - **Check**: N1 (NSGI-specific; `docs/conformance.md`).
//! - **Source**: the NSGI ABI, `docs/abi.md` §13: no unwinding may cross the boundary; the SDK
//!   catches the panic, returns `NSGI_E_PANIC` and replaces the app value with a fresh one. It is
//!   the native form of PEP 3333 §Error Handling, where an exception escaping the application
//!   aborts the request and the server traps and logs it.
//!
//! What it does: it routes every request through a table of handlers that nobody filled in, and
//! indexes the empty table (the bug), which panics before the response is started. Everything
//! else is ordinary SDK use. The SDK turns the panic into `NSGI_E_PANIC` and runs `init` again
//! for the next request, which panics the same way: every request of this app panics.
//!
//! What a host sees: `call` returns `NSGI_E_PANIC`; NSGI hosts answer 500 and log it.

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

/// A request handler: the body text it answers with.
type Handler = fn(&Request<'_>) -> String;

/// The app, with its routing table.
struct PanicInCall {
    /// Handlers by route number. BUG (deliberate): never filled in.
    handlers: Vec<Handler>,
}

impl App for PanicInCall {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(PanicInCall { handlers: Vec::new() })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        // BUG (deliberate): indexing the empty table panics ("index out of bounds").
        let handler = self.handlers[0];
        let body = handler(req);
        let started = start.start("200 OK", &[("Content-Type", "text/plain; charset=utf-8")])?;
        Ok(started.body(body))
    }
}

nsgi::export_app!(PanicInCall);
