//! Serving requests inside one process: the event loop ([`server`]), each client connection's
//! HTTP framing ([`conn`]), the thread pool for slow apps ([`pool`]), the call into the app and
//! the answer it gives ([`respond`]), the sockets: listening ([`listen`], bound by the
//! supervisor or adopted) and accepted ([`stream`]), request bodies on their way in
//! ([`spill`]), and the protocol each listener speaks ([`protocol`]: HTTP/1.1 or uwsgi).
//!
//! It must never read the command line nor start processes: it is given plain settings
//! (`crate::settings`), a [`crate::site::environ::Site`] and the listeners, and tells a
//! supervisor about itself only through [`server::SupervisorLink`].

pub(crate) mod conn;
pub mod listen;
pub(crate) mod parked;
pub(crate) mod pool;
pub(crate) mod protocol;
pub(crate) mod pump;
pub(crate) mod respond;
pub(crate) mod server;
pub(crate) mod spill;
pub(crate) mod stream;
