//! `hello`: the smallest useful NSGI app, and the first step of the tutorial.
//!
//! In Python, the classic first WSGI app is:
//!
//! ```python
//! def application(environ, start_response):
//!     start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
//!                               ("Content-Length", "13")])
//!     return [b"Hello, World!"]
//! ```
//!
//! This crate is the same app in Rust. It builds to `libhello.so` (the crate type is `cdylib`
//! in `Cargo.toml`), which the gateway loads and serves:
//!
//! ```sh
//! cargo build -p hello
//! nsgi-gateway target/debug/libhello.so   # then: curl http://127.0.0.1:8000/
//! ```
//!
//! Every method and every path gets the same answer: `200 OK`, `Hello, World!`.

use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};

/// The response body. It lives in the library's read-only data, and the gateway sends it
/// straight from there: nothing is copied or allocated per request.
const BODY: &str = "Hello, World!";

/// `Content-Length` must match the body exactly. Writing it as a literal keeps the header free,
/// and this compile-time check keeps the literal honest if someone edits `BODY`.
const CONTENT_LENGTH: &str = "13";
const _: () = assert!(BODY.len() == 13, "update CONTENT_LENGTH to match BODY");

/// The app. It has no state, so the type has no fields.
struct Hello;

impl App for Hello {
    /// The name the gateway shows in its logs.
    const NAME: &'static str = "hello";

    /// Called once when the gateway mounts the app. A stateless app has nothing to set up.
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Hello)
    }

    /// Called for every request: PEP 3333's `application(environ, start_response)`.
    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        // `start` is `start_response`. Calling it consumes it, so calling it twice would not
        // compile. The `?` hands a refusal (say, a malformed header) back to the gateway, which
        // then answers 500 and logs why.
        let started = start.start(
            "200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", CONTENT_LENGTH),
            ],
        )?;
        // The body is the iterable PEP 3333 apps return; here, a single static chunk.
        Ok(started.body(Body::from_static(BODY.as_bytes())))
    }
}

// Exports `nsgi_app_entry_v1`, the one symbol the gateway looks for in the library.
nsgi::export_app!(Hello);
