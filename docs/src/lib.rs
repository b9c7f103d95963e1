//! NSGI's documentation as a crate.
//!
//! Each markdown file under `docs/` is included as the documentation of one module below, so
//! `cargo test -p nsgi-docs` compiles (and runs) every Rust code block in them against the `nsgi`
//! crate, and `cargo doc -p nsgi-docs` renders them. Blocks in other languages (`c`, `text`) are
//! not compiled.

/// The NSGI v1 ABI specification (`docs/abi.md`).
#[doc = include_str!("../abi.md")]
pub mod abi {}

/// The tutorial (`docs/tutorial.md`).
#[doc = include_str!("../tutorial.md")]
pub mod tutorial {}

/// The README at the repository root.
#[doc = include_str!("../../README.md")]
pub mod readme {}

/// What `nsgi-conformance` checks (`docs/conformance.md`).
#[doc = include_str!("../conformance.md")]
pub mod conformance {}
