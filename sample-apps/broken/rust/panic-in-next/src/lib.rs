//! `broken-panic-in-next`: an NSGI app that is BROKEN ON PURPOSE. Do not copy it.
//!
//! - **Rule broken**: the response body panics while producing a chunk (inside the body's
//!   `next`, the PEP 3333 iterable's `__next__`) instead of reporting an error.
//! - **Check**: N2 (NSGI-specific; `docs/conformance.md`).
//! - **Source**: the NSGI ABI, `docs/abi.md` §13: no unwinding may cross the boundary; the SDK
//!   catches the panic, poisons the body and returns `NSGI_E_PANIC` from `next`. It is the native
//!   form of PEP 3333 §Error Handling, where an exception raised while iterating the body aborts
//!   the response and the server traps and logs it.
//!
//! What it does: it starts `200 OK` and streams a list of user names, one chunk per row. The
//! second row has no name and the app `expect`s one (the bug), so the body panics after its
//! first chunk. No Content-Length is declared, so the cut-off body cannot cause a second,
//! unrelated finding. The SDK catches the panic and never touches the poisoned body again.
//!
//! What a host sees: `next` returns `NSGI_E_PANIC` after one chunk; NSGI hosts answer 500 if
//! nothing was sent yet, abort the connection otherwise, and log it.

use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};

/// The rows the app streams; the second one is missing its name.
const ROWS: [Option<&str>; 3] = [Some("alice"), None, Some("carol")];

struct PanicInNext;

impl App for PanicInNext {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(PanicInNext)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let started = start.start("200 OK", &[("Content-Type", "text/plain; charset=utf-8")])?;
        // BUG (deliberate): the iterator panics on the row without a name.
        let lines = ROWS
            .into_iter()
            .map(|row| format!("{}\n", row.expect("every row has a name")));
        Ok(started.body(Body::from_chunks(lines)))
    }
}

nsgi::export_app!(PanicInNext);
