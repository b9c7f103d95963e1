//! `nsgi-gateway` as a library: the pieces of the gateway that do not need a process around
//! them, so they can be unit-tested, fuzzed and benchmarked on their own.
//!
//! The `nsgi-gateway` binary (`src/main.rs`) wires these modules to sockets and apps.

pub mod cli;
pub mod conn;
pub mod environ;
pub mod errors_log;
pub mod http;
pub mod respond;
pub mod server;
pub mod welcome;
