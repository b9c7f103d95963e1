//! `nsgi-gateway` as a library: the pieces of the gateway that do not need a process around
//! them, so they can be unit-tested, fuzzed and benchmarked on their own.
//!
//! The `nsgi-gateway` binary (`src/main.rs`) decides the process's role (supervisor, worker, or
//! a single serving process) and wires these modules together.
//!
//! The folders, each a part with its own job (`docs/architecture.md` draws them):
//! `process/` (supervisor, worker startup, the link between them), `serve/` (sockets, event
//! loop, connections, pool, the answer), `site/` (mounts, request environment, proxies),
//! `settings/` (command line and config file, as plain validated values), `http/` (HTTP/1.1
//! syntax, no I/O), `logs/`, and `os/` (the raw system calls, the only `unsafe`). Imports run
//! one way, with no circle: `process` → `serve` → `site` → `settings` → `http`; `logs` and `os`
//! sit below whoever uses them.

pub mod http;
pub mod logs;
pub mod os;
pub mod process;
pub mod serve;
pub mod settings;
pub mod site;
