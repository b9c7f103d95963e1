//! The gateway's two logs: one line per request ([`access_log`]) and the apps' `wsgi.errors`
//! stream ([`errors_log`]). Writing a log line must never fail a request.

pub(crate) mod access_log;
pub(crate) mod errors_log;
