//! Errors reported by the host, and how they read.
//!
//! This module owns [`HostError`] (a refused or failed host call, with the ABI status code and a
//! description naming the problem), the mapping of status codes to `std::io::Error` kinds for the
//! I/O types, and the formatting of an error with its chain of sources for the host log.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::sys::{self, nsgi_status};

/// A host function refused a call or failed: the operation, its `NSGI_*` status code, and what
/// went wrong.
///
/// [`StartResponse::start`](super::StartResponse::start) and
/// [`Started::replace_after_error`](super::Started::replace_after_error) return it; `?` turns
/// it into an [`Error`](super::Error).
///
/// ```
/// use nsgi::app::{Error, HostError, Response, Started};
///
/// fn recover(started: Started<'_>, failure: &std::io::Error) -> Result<Response, Error> {
///     match started.replace_after_error("500 Internal Server Error", &[], failure) {
///         Ok(started) => Ok(started.body("something went wrong\n")),
///         // Too late to change the status: return the error so the host aborts the response.
///         Err(e) if e.is_headers_sent() => Err(e.into()),
///         Err(e) => Err(e.into()),
///     }
/// }
/// # let _ = recover;
/// # let e = HostError::from_code("write", nsgi::sys::NSGI_E_IO);
/// # assert_eq!(e.code(), nsgi::sys::NSGI_E_IO);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostError {
    operation: &'static str,
    code: nsgi_status,
    detail: Option<String>,
}

impl HostError {
    /// An error for `operation` (e.g. `"start_response"`) with the host's status `code`.
    pub fn from_code(operation: &'static str, code: nsgi_status) -> HostError {
        HostError {
            operation,
            code,
            detail: None,
        }
    }

    /// The host function this host does not provide (`NSGI_E_UNSUPPORTED`).
    pub(crate) fn unsupported(operation: &'static str) -> HostError {
        HostError::from_code(operation, sys::NSGI_E_UNSUPPORTED)
    }

    /// Adds a description of what exactly was wrong.
    pub(crate) fn with_detail(mut self, detail: String) -> HostError {
        self.detail = Some(detail);
        self
    }

    /// The `NSGI_*` status code the host returned.
    pub fn code(&self) -> nsgi_status {
        self.code
    }

    /// The host function that failed, e.g. `"start_response"`.
    pub fn operation(&self) -> &'static str {
        self.operation
    }

    /// `true` for `NSGI_E_HEADERS_SENT`: the response can no longer be replaced, and the app
    /// must return this error so the host aborts the response.
    pub fn is_headers_sent(&self) -> bool {
        self.code == sys::NSGI_E_HEADERS_SENT
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with {}", self.operation, status_name(self.code))?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None => write!(f, " ({})", status_meaning(self.code)),
        }
    }
}

impl StdError for HostError {}

impl From<HostError> for io::Error {
    fn from(e: HostError) -> io::Error {
        io::Error::new(io_kind(e.code), e)
    }
}

/// The constant's name for an ABI status code.
pub(crate) fn status_name(code: nsgi_status) -> &'static str {
    match code {
        sys::NSGI_OK => "NSGI_OK",
        sys::NSGI_DONE => "NSGI_DONE",
        sys::NSGI_E_INVAL => "NSGI_E_INVAL",
        sys::NSGI_E_STATE => "NSGI_E_STATE",
        sys::NSGI_E_HEADERS_SENT => "NSGI_E_HEADERS_SENT",
        sys::NSGI_E_IO => "NSGI_E_IO",
        sys::NSGI_E_NOMEM => "NSGI_E_NOMEM",
        sys::NSGI_E_NOT_FOUND => "NSGI_E_NOT_FOUND",
        sys::NSGI_E_UNSUPPORTED => "NSGI_E_UNSUPPORTED",
        sys::NSGI_E_TOO_LARGE => "NSGI_E_TOO_LARGE",
        sys::NSGI_E_PANIC => "NSGI_E_PANIC",
        sys::NSGI_E_APP => "NSGI_E_APP",
        sys::NSGI_E_INTERNAL => "NSGI_E_INTERNAL",
        _ if code < sys::NSGI_E_RESERVED_MIN => "an app-defined error code",
        _ => "an unknown status code",
    }
}

/// What an ABI status code means, in words.
fn status_meaning(code: nsgi_status) -> &'static str {
    match code {
        sys::NSGI_E_INVAL => "invalid argument",
        sys::NSGI_E_STATE => "called out of order",
        sys::NSGI_E_HEADERS_SENT => "the response headers were already sent",
        sys::NSGI_E_IO => "the client went away or the transport failed",
        sys::NSGI_E_NOMEM => "out of memory",
        sys::NSGI_E_NOT_FOUND => "not found",
        sys::NSGI_E_UNSUPPORTED => "this host does not provide it",
        sys::NSGI_E_TOO_LARGE => "a host limit was exceeded",
        sys::NSGI_E_PANIC => "a panic was caught",
        sys::NSGI_E_APP => "application failure",
        sys::NSGI_E_INTERNAL => "host internal failure",
        _ => "unexpected status",
    }
}

/// The `io::ErrorKind` closest to an ABI status code.
fn io_kind(code: nsgi_status) -> io::ErrorKind {
    match code {
        sys::NSGI_E_INVAL => io::ErrorKind::InvalidInput,
        sys::NSGI_E_IO => io::ErrorKind::ConnectionAborted,
        sys::NSGI_E_NOMEM => io::ErrorKind::OutOfMemory,
        sys::NSGI_E_NOT_FOUND => io::ErrorKind::NotFound,
        sys::NSGI_E_UNSUPPORTED => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    }
}

/// An error and its sources on one line: `outer: cause: root cause`.
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_operation_and_the_code() {
        let e = HostError::from_code("write", sys::NSGI_E_IO);
        assert_eq!(
            e.to_string(),
            "write failed with NSGI_E_IO (the client went away or the transport failed)"
        );
        let e = HostError::from_code("start_response", sys::NSGI_E_INVAL)
            .with_detail("header name \"a b\" is not an HTTP token".into());
        assert_eq!(
            e.to_string(),
            "start_response failed with NSGI_E_INVAL: header name \"a b\" is not an HTTP token"
        );
        assert_eq!(status_name(-1000), "an app-defined error code");
    }

    #[test]
    fn chain_follows_sources() {
        let inner = io::Error::other("disk full");
        let outer = io::Error::other(ChainTest(inner));
        assert_eq!(chain(&outer), "saving failed: disk full");
    }

    #[derive(Debug)]
    struct ChainTest(io::Error);
    impl fmt::Display for ChainTest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("saving failed")
        }
    }
    impl StdError for ChainTest {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn io_errors_keep_the_kind() {
        let e: io::Error = HostError::unsupported("errors_write").into();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    }
}
