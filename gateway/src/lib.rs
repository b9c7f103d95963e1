//! `nsgi-gateway` as a library: the pieces of the gateway that do not need a process around
//! them, so they can be unit-tested, fuzzed and benchmarked on their own.
//!
//! The `nsgi-gateway` binary (`src/main.rs`) decides the process's role (supervisor, worker, or
//! a single serving process) and wires these modules together.
//!
//! The folders, each a part with its own job (`docs/architecture.md` draws them):
//! `settings/` (command line and config file), `process/` (supervisor, workers and what they
//! share), `serve/` (event loop, connections, pool, the answer), `site/` (mounts, request
//! environment, proxies), `http/` (HTTP/1.1 syntax, no I/O), `logs/`, and `os/` (the raw system
//! calls, the only `unsafe`). Imports run one way: `process` → `serve` → `site` → `http`, with
//! `settings`, `logs` and `os` below them.

pub mod http;
pub mod logs;
pub mod os;
pub mod process;
pub mod serve;
pub mod settings;
pub mod site;
