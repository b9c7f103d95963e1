//! The gateway's settings: the command line ([`cli`]) over the `--config` file ([`config`]),
//! validated once at startup, and the plain setting types the runtime modules are given.
//!
//! It must never depend on a runtime module (`serve/`, `site/`, `process/`): they import these
//! types, not the other way around.

pub(crate) mod cli;
pub mod config;
pub(crate) mod mounts;
pub(crate) mod serving;
