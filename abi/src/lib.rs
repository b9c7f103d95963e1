//! NSGI, the Native Server Gateway Interface: PEP 3333 (WSGI) for compiled web apps.
//!
//! An NSGI app is a shared library (`cdylib`) that exports one symbol, `nsgi_app_entry_v1`. A host
//! such as `nsgi-gateway` loads it, builds an environ for each HTTP request, and drives the app
//! through a small C ABI that mirrors PEP 3333: `start_response(status, headers, exc_info)`, a
//! `write()` callable, `wsgi.input`, `wsgi.errors`, and a body iterable of byte chunks whose
//! `close()` is always called.
//!
//! This crate has three layers:
//! - [`sys`]: the raw `#[repr(C)]` ABI, from which `include/nsgi.h` is generated;
//! - [`app`]: the safe SDK for app authors ([`app::App`], [`export_app!`]);
//! - `host` (feature `host`): loading libraries and driving apps, for servers and test tools.
//!
//! A complete app:
//!
//! ```
//! use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
//!         Ok(Hello)
//!     }
//!
//!     fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
//!         let started = start.start("200 OK", &[("Content-Type", "text/plain; charset=utf-8")])?;
//!         Ok(started.body(Body::from_static(b"Hello, World!")))
//!     }
//! }
//!
//! nsgi::export_app!(Hello);
//! ```
#![warn(missing_docs)]

pub mod app;
#[cfg(feature = "host")]
pub mod host;
pub mod sys;

/// The package README's Rust example, compiled as a doctest so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
