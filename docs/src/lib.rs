//! NSGI's documentation as a crate.
//!
//! Each markdown file under `docs/` is included as the documentation of one module below, so
//! `cargo test -p nsgi-docs` compiles (and runs) every Rust code block in them against the `nsgi`
//! crate, and `cargo doc -p nsgi-docs` renders them. Blocks in other languages (`c`, `text`) are
//! not compiled.
//!
//! Not included: the tutorials (`tutorial.md`, `tutorial.es.md`) and `new-app.md`. Their code
//! is the files of a project outside this workspace, so `tests/tutorial.rs` writes those files,
//! runs the pages' commands, and compares every output they show.

/// The NSGI v1 ABI specification (`docs/abi.md`).
#[doc = include_str!("../abi.md")]
pub mod abi {}

/// The README at the repository root.
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// What `nsgi-conformance` checks (`docs/conformance.md`).
#[doc = include_str!("../conformance.md")]
pub mod conformance {}
