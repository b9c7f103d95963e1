//! The command line: flags, their defaults, and their translation into server settings.
//!
//! Owns nothing but parsing (with clap) and validation with messages that name the flag at fault.

use crate::conn::Timeouts;
use crate::http::Limits;
use crate::server::ServerOptions;
use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Serve an NSGI app library over HTTP/1.1.
///
/// Without APP_LIBRARY, serves the built-in welcome app.
#[derive(Debug, Parser)]
#[command(name = "nsgi-gateway", version, about, long_about = None)]
pub struct Cli {
    /// The app: a shared library exporting `nsgi_app_entry_v1` (e.g. target/release/libhello.so).
    #[arg(value_name = "APP_LIBRARY")]
    pub app: Option<PathBuf>,

    /// Address to listen on, as HOST:PORT (port 0 picks a free port).
    #[arg(short, long, value_name = "HOST:PORT", default_value = "127.0.0.1:8000")]
    pub bind: String,

    /// A file whose contents (JSON by convention) are handed to the app's init as its config.
    #[arg(long, value_name = "FILE")]
    pub app_config: Option<PathBuf>,

    /// Largest request body accepted, in bytes (larger → 413).
    #[arg(long, value_name = "BYTES", default_value_t = crate::http::MAX_BODY_BYTES)]
    pub max_body_size: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub keep_alive: u64,

    /// Seconds a client has to send a complete request head (slow clients get 408).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub header_timeout: u64,

    /// Seconds to wait for the next bytes of a request body, or for a client to take response bytes.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub io_timeout: u64,

    /// Seconds a graceful stop (SIGTERM, Ctrl+C) waits for in-flight requests.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub graceful_timeout: u64,

    /// Most simultaneous client connections.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Run the app inside the conformance Validator: log every NSGI rule it breaks, with its
    /// check id (see docs/conformance.md), and answer 500 to requests where it broke a fatal rule
    /// before its response went out. Slower; meant for development and staging.
    #[arg(long)]
    pub validate: bool,
}

impl Cli {
    /// The address to bind, resolved.
    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        let mut addrs = self
            .bind
            .to_socket_addrs()
            .map_err(|e| format!("--bind {}: not a HOST:PORT address ({e})", self.bind))?;
        addrs
            .next()
            .ok_or_else(|| format!("--bind {}: the host resolves to no address", self.bind))
    }

    /// Server settings from the flags.
    pub fn server_options(&self) -> Result<ServerOptions, String> {
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".to_owned());
        }
        for (flag, value) in [
            ("--keep-alive", self.keep_alive),
            ("--header-timeout", self.header_timeout),
            ("--io-timeout", self.io_timeout),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1 second"));
            }
        }
        Ok(ServerOptions {
            limits: Limits {
                max_body: self.max_body_size,
                ..Limits::default()
            },
            timeouts: Timeouts {
                header: Duration::from_secs(self.header_timeout),
                body: Duration::from_secs(self.io_timeout),
                keep_alive: Duration::from_secs(self.keep_alive),
                send: Duration::from_secs(self.io_timeout),
            },
            graceful_timeout: Duration::from_secs(self.graceful_timeout),
            max_connections: self.max_connections,
        })
    }
}
