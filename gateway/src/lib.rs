//! `nsgi-gateway` as a library: the pieces of the gateway that do not need a process around
//! them, so they can be unit-tested, fuzzed and benchmarked on their own.
//!
//! The `nsgi-gateway` binary (`src/main.rs`) decides the process's role (supervisor, worker, or
//! a single serving process) and wires these modules together.

pub mod access_log;
pub mod cli;
pub mod config;
pub mod conn;
pub mod environ;
pub mod errors_log;
pub mod http;
pub mod listen;
pub mod mount;
pub mod os;
pub mod pool;
pub mod privilege;
pub mod proxy;
pub mod reload_watch;
pub mod respond;
pub mod sd_notify;
pub mod server;
pub mod spill;
pub mod stream;
pub mod supervisor;
pub mod welcome;
pub mod worker;
pub mod worker_link;
