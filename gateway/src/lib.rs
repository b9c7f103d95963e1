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
//! syntax, no I/O), `uwsgi/` (the uwsgi packet framed into the same request head, no I/O), `logs/`, and `os/` (the raw system calls, the only `unsafe`). Imports run
//! one way, with no circle: `process` → `serve` → `uwsgi` → `site` → `settings` → `http`; `logs` and `os`
//! sit below whoever uses them.

#![warn(unreachable_pub)]

pub(crate) mod http;
pub(crate) mod logs;
pub(crate) mod os;
pub(crate) mod process;
pub(crate) mod serve;
pub(crate) mod settings;
pub(crate) mod site;
pub(crate) mod uwsgi;

// The surface that the binary (`src/main.rs`), the integration tests, the benches, the fuzz
// targets (`fuzz/`) and the doc examples use; not an API for anyone else. Everything else is
// `pub(crate)`, so that the compiler reports what nothing uses.
#[doc(hidden)]
pub use http::date::{DateCache, format_imf_fixdate};
#[doc(hidden)]
pub use http::decode::{BodyDecoder, ChunkedDecoder, DecodeError, LengthDecoder};
#[doc(hidden)]
pub use http::encode::{
    BodyKind, ResponseHead, framing_for, write_chunk, write_chunk_size_line, write_error_response, write_head,
    write_last_chunk,
};
#[doc(hidden)]
pub use http::parse::{
    Framing, HeaderSlot, ParseError, Parsed, RequestHead, complete_request_line, header_slots, is_head_request,
    parse_content_length, parse_head,
};
#[doc(hidden)]
pub use http::{Limits, Version};
#[doc(hidden)]
pub use process::privilege::{self, Plan};
#[doc(hidden)]
pub use process::supervisor;
#[doc(hidden)]
pub use process::worker;
#[doc(hidden)]
pub use process::worker_link::WorkerLink;
#[doc(hidden)]
pub use serve::listen::{self, Listener};
#[doc(hidden)]
pub use serve::parked::RequestInput;
#[doc(hidden)]
pub use serve::protocol::Protocol;
#[doc(hidden)]
pub use serve::respond::{After, Apps, Responder};
#[doc(hidden)]
pub use serve::server::Server;
#[doc(hidden)]
pub use settings::cli::Cli;
#[doc(hidden)]
pub use settings::config::{self, ConfigError};
#[doc(hidden)]
pub use settings::serving::{HEADER_SLOTS, ServerOptions};
#[doc(hidden)]
pub use site::environ::{Endpoints, Site, build_request};
#[doc(hidden)]
pub use site::mount::MountTable;
#[doc(hidden)]
pub use site::proxy::{TrustedProxies, resolve};
#[doc(hidden)]
pub use uwsgi::frame_for_fuzzing as frame_uwsgi_packet;
