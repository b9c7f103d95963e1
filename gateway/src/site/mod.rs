//! What the gateway serves and how a request is described to an app: the mount table
//! ([`mount`]), the request's CGI-style environment ([`environ`]), which peers are trusted
//! proxies ([`proxy`]), and the built-in [`welcome`] app.
//!
//! It must never do I/O on a client socket; it turns a parsed request head into what the app sees.

pub(crate) mod environ;
pub(crate) mod mount;
pub(crate) mod proxy;
pub(crate) mod welcome;
