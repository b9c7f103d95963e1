//! `nsgi-conformance`: proves that an NSGI app library obeys the NSGI v1 ABI and PEP 3333.
//!
//! Three parts, each usable alone:
//! - [`Validator`] — an [`nsgi::host::Observer`] that watches every ABI interaction of an app
//!   (environ reads, input and errors use, `start_response` and its arguments, `write`, each
//!   chunk, `close`) and records a [`Finding`] for each rule broken, like Python's
//!   `wsgiref.validate`. `nsgi-gateway --validate` runs apps inside it.
//! - [`Runner`] — loads a library, initialises the app under a validator and drives it through a
//!   battery of requests (methods, bodies, headers, repeats, early stops, concurrency).
//! - [`Report`] — merges findings and writes them for people, as JSON, and as JUnit XML.
//! - [`isolate`] — runs the battery in a worker process, so that an app that crashes or hangs is
//!   a finding rather than the end of the checker.
//!
//! The checks and their ids are listed in [`check::CHECKS`]; `docs/conformance.md` accounts
//! for every id of the C1..C104 checklist. This crate depends on the host side of `nsgi` only —
//! never on the gateway.
//!
//! ```no_run
//! use nsgi_conformance::{Report, RunOptions, Runner};
//! use std::path::Path;
//!
//! let library = Path::new("target/debug/libhello.so");
//! let options = RunOptions::default();
//! let outcome = Runner::load(library, &options)?.run(&options);
//! let report = Report::new(library, Some(outcome.app), outcome.requests, &outcome.findings, false);
//! print!("{}", report.human());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod check;
pub mod finding;
pub mod isolate;
pub mod report;
pub mod rules;
pub mod runner;
pub mod validator;

pub use check::{CheckId, Severity};
pub use finding::{Finding, RequestLabel};
pub use report::Report;
pub use runner::{AppInfo, RunError, RunOptions, RunOutcome, Runner};
pub use validator::Validator;
