//! The processes of the gateway and how they are started, linked and stopped: the supervisor,
//! each worker's startup, the link between them, the pid file, the service manager
//! notifications, dropping root, and watching app libraries for a reload.
//!
//! This is the only folder that reads the command line's [`crate::settings::cli::Cli`] to wire
//! the other parts together. It must never parse HTTP or touch a request: that is `serve/`.

pub(crate) mod pid_file;
pub mod privilege;
pub(crate) mod reload_watch;
pub(crate) mod sd_notify;
pub mod supervisor;
pub mod worker;
pub(crate) mod worker_link;
