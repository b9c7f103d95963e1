//! Listening sockets: parsing `--bind`, binding TCP (IPv4/IPv6) and unix sockets, adopting
//! sockets passed by systemd (`LISTEN_FDS`) or by the supervisor. (Being written.)

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket.
    Tcp(std::net::TcpListener),
    /// A unix-domain stream socket at `path`.
    Unix {
        /// The socket.
        listener: std::os::unix::net::UnixListener,
        /// Its path in the file system.
        path: PathBuf,
    },
}

impl Listener {
    /// How clients reach it: `http://127.0.0.1:8000`, `http://[::1]:8000` or `unix:/run/app.sock`.
    pub fn url(&self) -> String {
        match self {
            Listener::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "http://?".to_owned(),
            },
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(listener) => listener.as_raw_fd(),
            Listener::Unix { listener, .. } => listener.as_raw_fd(),
        }
    }
}

/// Binds every `--bind` address (or adopts the sockets systemd passed). (Being written: TCP only.)
pub fn open(binds: &[String], unix_mode: u32, backlog: u32) -> Result<Vec<Listener>, String> {
    let _ = (unix_mode, backlog);
    let mut listeners = Vec::new();
    for bind in binds {
        let listener =
            std::net::TcpListener::bind(bind.as_str()).map_err(|e| format!("--bind {bind}: cannot listen: {e}"))?;
        listeners.push(Listener::Tcp(listener));
    }
    Ok(listeners)
}

/// Adopts listening sockets inherited from the supervisor. (Being written.)
pub fn inherit(fds: &[RawFd]) -> Result<Vec<Listener>, String> {
    if fds.is_empty() {
        return Ok(Vec::new());
    }
    Err("inheriting listeners is not written yet".to_owned())
}
