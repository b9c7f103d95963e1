//! `nsgi-test-panicky`: a Rust NSGI app for the gateway's end-to-end tests of panics in `call`.
//!
//! `GET /panic` panics inside `call` (a bug in one request's code path); `GET /instance`
//! answers which instance of the app served it (1 for the first `init` in this process, 2 after
//! one re-initialisation, ...); anything else answers `ok`. Thread-safe, like every SDK app.

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many times `init` ran in this process.
static INITS: AtomicU64 = AtomicU64::new(0);

struct Panicky {
    /// Which `init` made this instance.
    number: u64,
}

impl App for Panicky {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Panicky {
            number: INITS.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let body = match req.path_info() {
            "/panic" => panic!("the /panic route panics on purpose"),
            "/instance" => self.number.to_string(),
            _ => "ok".to_owned(),
        };
        let length = body.len().to_string();
        let headers = [("Content-Type", "text/plain"), ("Content-Length", length.as_str())];
        Ok(start.start("200 OK", &headers)?.body(body))
    }
}

nsgi::export_app!(Panicky);
