//! A worker's link to its supervisor: what it inherited (listener fds) and what it reports
//! (ready, heartbeats, a request to be retired). (Being written.)

use std::os::fd::RawFd;

/// The worker side of the supervisor link.
#[derive(Debug)]
pub struct WorkerLink {
    listener_fds: Vec<RawFd>,
}

impl WorkerLink {
    /// The link when this process was started as a worker by the supervisor, `None` otherwise.
    pub fn from_env() -> Result<Option<WorkerLink>, String> {
        Ok(None)
    }

    /// The listening sockets inherited from the supervisor, in `--bind` order.
    pub fn listener_fds(&self) -> &[RawFd] {
        &self.listener_fds
    }

    /// The worker has initialised its apps and is serving.
    pub fn ready(&mut self) {}

    /// The worker's event loop is alive (called about once a second).
    pub fn heartbeat(&mut self) {}

    /// Asks the supervisor to replace this worker (e.g. `--max-requests` reached, or a request
    /// ran past `--timeout`): it starts a new worker, then stops this one gracefully.
    pub fn retire(&mut self, reason: &str) {
        let _ = reason;
    }
}
