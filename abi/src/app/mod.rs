//! The app SDK: safe Rust for writing NSGI apps.
//!
//! This module owns the app author's view of PEP 3333. It turns the raw ABI of [`crate::sys`]
//! into a handful of types, and it must never let a panic, a NULL pointer or a missing host
//! function turn into undefined behaviour: every `extern "C"` entry point it generates catches
//! panics, checks its pointers, and checks that the host table provides a function before
//! calling it.
//!
//! # The shape of an app
//!
//! An app is a type implementing [`App`], exported with [`export_app!`](crate::export_app):
//!
//! ```
//! use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
//!         Ok(Hello)
//!     }
//!
//!     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
//!         let body = format!("Hello from {}\n", req.path_info());
//!         let started = start.start("200 OK", &[("Content-Type", "text/plain; charset=utf-8")])?;
//!         Ok(started.body(body))
//!     }
//! }
//!
//! nsgi::export_app!(Hello);
//! ```
//!
//! # PEP 3333 in this SDK
//!
//! | PEP 3333 | NSGI app SDK |
//! |---|---|
//! | `application(environ, start_response)` | [`App::call`] |
//! | `environ[...]` | [`Request::var`], [`Request::method`], [`Request::header`], ... |
//! | `wsgi.input` | [`Request::input`] → [`Input`] (`Read + BufRead`) |
//! | `wsgi.errors` | [`Request::errors`] → [`Errors`] (`Write`) |
//! | `start_response(status, headers)` | [`StartResponse::start`] (consumes the token) |
//! | `start_response(..., exc_info)` | [`Started::replace_after_error`] |
//! | a generator calling `start_response` in its first `next()` | [`StartResponse::lazily`] → [`LaterStart::start`] |
//! | the `write()` callable | [`Started::write`] and `impl std::io::Write for Started` |
//! | the returned iterable and its `close()` | [`Body`], [`Body::on_close`] |
//! | `wsgi.multithread` / `multiprocess` / `run_once` | [`Request::multithread`], ... |
//!
//! Starting the response consumes the [`StartResponse`] token, and the only ways to build the
//! [`Response`] that [`App::call`] returns are from the [`Started`] value that starting gives you,
//! or with [`StartResponse::lazily`], whose closure must in turn start through [`LaterStart`] to
//! return its [`LaterResponse`]. So "forgot to call start_response" and "called start_response
//! twice" are compile errors in a Rust app; the host still checks both at run time for apps
//! written in C.
//!
//! # Panics and errors
//!
//! A panic in [`App::init`], [`App::call`], a body iterator, an [`Body::on_close`] hook or
//! [`App::shutdown`] is caught at the ABI boundary, logged through the host, and reported as
//! `NSGI_E_PANIC`: the host answers 500 (or aborts a response already under way). The value
//! that panicked is never touched again. After a panic in [`App::call`] the SDK makes a fresh
//! app value by running [`App::init`] again (with the same arguments) and serves the next
//! requests with it; the panicked value is leaked, not dropped (its [`App::shutdown`] never
//! runs). Only when that fresh `init` fails does the instance refuse every later request. A
//! body that panicked is poisoned: its code never runs again. An [`Err`] returned from `init` or `call`, or yielded by a
//! [`Body::from_results`] iterator, is logged and reported as `NSGI_E_APP`.
//!
//! An app built with `panic = "abort"` is flagged as such in its descriptor, so the host can
//! warn that a panic in it ends the whole process.

mod body;
mod cookies;
mod error;
mod escape;
mod export;
#[cfg(unix)]
mod file;
mod form;
mod host;
mod init;
mod io;
mod lazy;
mod multipart;
mod panic;
pub(crate) mod raw;
mod request;
mod respond;
mod response;

pub use body::Body;
pub use cookies::Cookies;
pub use error::HostError;
pub use escape::{HtmlEscaped, escape_html};
pub use form::{DEFAULT_FORM_LIMIT, Form, FormError, Pair, percent_decode};
pub use host::{Host, Level};
pub use init::InitArgs;
pub use io::{Errors, Input};
pub use lazy::{LaterResponse, LaterStart, LaterStarted};
pub use multipart::{Multipart, MultipartError, MultipartLimits, Part};
pub use request::Request;
pub use respond::Redirect;
pub use response::{Response, StartResponse, Started};

/// The error type apps return: any error that can cross threads.
///
/// `?` converts most errors into it, including `String` and `&str` messages.
///
/// ```
/// use nsgi::app::Error;
///
/// fn parse_port(text: &str) -> Result<u16, Error> {
///     if text.is_empty() {
///         return Err("empty port".into());
///     }
///     Ok(text.parse()?)
/// }
///
/// assert_eq!(parse_port("8080").ok(), Some(8080));
/// assert!(parse_port("").is_err());
/// ```
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Build information every Rust app reports in its descriptor's `sdk_info`.
pub const SDK_INFO: &str = concat!("nsgi-sdk/", env!("CARGO_PKG_VERSION"), " (Rust)");

/// An NSGI application: PEP 3333's `application(environ, start_response)` as a Rust type.
///
/// The host creates one instance per mount with [`init`](App::init), calls
/// [`call`](App::call) for every request, possibly from several threads at once (see
/// [`THREAD_SAFE`](App::THREAD_SAFE)), and finally calls [`shutdown`](App::shutdown) once every
/// request has finished. Export the type with [`export_app!`](crate::export_app).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use nsgi::app::{App, Error, InitArgs, Level, Request, Response, StartResponse};
///
/// /// Counts the requests it has served.
/// struct Counter {
///     served: AtomicU64,
/// }
///
/// impl App for Counter {
///     const NAME: &'static str = "counter";
///
///     fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
///         args.host().log(Level::Info, "counter starting");
///         Ok(Counter { served: AtomicU64::new(0) })
///     }
///
///     fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
///         let started = start.start("200 OK", &[("Content-Type", "text/plain")])?;
///         Ok(started.body(format!("request number {n}\n")))
///     }
///
///     fn shutdown(&self) {
///         eprintln!("served {} requests", self.served.load(Ordering::Relaxed));
///     }
/// }
///
/// let descriptor = nsgi::app_descriptor!(Counter);
/// assert_eq!(descriptor.magic, nsgi::sys::NSGI_APP_MAGIC);
/// ```
pub trait App: Send + Sync + Sized + 'static {
    /// The app's name, reported to the host in its descriptor (and shown in the host's logs).
    ///
    /// When left empty (the default), [`export_app!`](crate::export_app) and
    /// [`app_descriptor!`](crate::app_descriptor) use the name of the crate that invokes them,
    /// or `nsgi-app` when that is unknown.
    const NAME: &'static str = "";

    /// Whether the host may call [`call`](App::call) (and the bodies' iterators) for different
    /// requests at the same time from several threads. When `false`, the host serialises every
    /// call into this instance.
    const THREAD_SAFE: bool = true;

    /// Creates the app instance: read the configuration, open resources. Runs once per mount on
    /// the host's control thread. An `Err` is logged through the host, which then refuses to
    /// mount the app.
    fn init(args: &InitArgs<'_>) -> Result<Self, Error>;

    /// Handles one request: inspect `req`, start the response with `start`, and return the
    /// body. An `Err` is logged and the host answers `500 Internal Server Error` (or aborts the
    /// response if its headers already went out).
    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error>;

    /// Called once after the host has finished every request, just before the instance is
    /// dropped. The default does nothing; `Drop` works as well.
    fn shutdown(&self) {}
}

/// Items the macros expand to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use super::export::descriptor;
}
