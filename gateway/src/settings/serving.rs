//! The settings of one serving process, as plain validated values: request limits, connection
//! timeouts, the event loop's options and where large request bodies go. `cli.rs` builds them
//! once at startup; `serve/` only reads them. Nothing here does I/O.

use crate::http::Limits;
use std::path::PathBuf;
use std::time::Duration;

/// Most header lines parsed from one request, whatever the configured limit.
pub const HEADER_SLOTS: usize = 256;
/// Timeouts of one connection.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From the first byte of a request head to its end.
    pub header: Duration,
    /// Longest wait for the next bytes of a request body.
    pub body: Duration,
    /// Longest idle time between two requests on a kept-alive connection.
    pub keep_alive: Duration,
    /// Longest wait for the client to accept more response bytes.
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(30),
            body: Duration::from_secs(60),
            keep_alive: Duration::from_secs(15),
            send: Duration::from_secs(60),
        }
    }
}

/// Settings of the event loop.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Request limits.
    pub limits: Limits,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Longest time a graceful stop waits for in-flight requests.
    pub graceful_timeout: Duration,
    /// Most simultaneous connections; beyond it, accepting pauses.
    pub max_connections: usize,
    /// App threads (`--threads`); 0 calls the app on the loop thread.
    pub threads: usize,
    /// Longest a request may stay with the app (`--timeout`); enforced here for pooled calls,
    /// by the supervisor's heartbeat watch for inline ones.
    pub app_timeout: Option<Duration>,
    /// Ask to be replaced after this many requests (`--max-requests` plus jitter).
    pub max_requests: Option<u64>,
    /// Where large request bodies go.
    pub spill: SpillPolicy,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            graceful_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            threads: 0,
            app_timeout: None,
            max_requests: None,
            spill: SpillPolicy::default(),
        }
    }
}

/// Where and when request bodies spill to disk.
#[derive(Clone, Debug)]
pub struct SpillPolicy {
    /// Bodies larger than this many bytes go to a file.
    pub memory_limit: u64,
    /// The directory of the temporary files.
    pub dir: PathBuf,
}

impl Default for SpillPolicy {
    fn default() -> Self {
        SpillPolicy {
            memory_limit: 1024 * 1024,
            dir: std::env::temp_dir(),
        }
    }
}
