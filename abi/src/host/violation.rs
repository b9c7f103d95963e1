//! What an app did wrong, as the host reports it: a [`Violation`] for each rule of the ABI it
//! broke, and the [`ResponseFailure`] that ends a response. Plain data; nothing here calls an
//! app.

use super::validate::{HeadTooLarge, Problem};
use crate::sys::{NSGI_E_PANIC, nsgi_status};
use core::fmt;

/// A rule of the ABI that the app broke (or, for [`Violation::CallFailed`] and [`Violation::NextFailed`], an error it reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The body produced data, or ended, before any successful start_response.
    NoStartResponse,
    /// start_response was called again without exc_info.
    StartResponseTwice,
    /// start_response was called outside `call`/`next`.
    StartResponseOutOfTurn,
    /// The status line was refused.
    InvalidStatus(Problem),
    /// A header was refused.
    InvalidHeader {
        /// The header name, lossily decoded.
        name: String,
        /// What is wrong with it.
        problem: Problem,
    },
    /// The app's Content-Length header is not a number.
    InvalidContentLength,
    /// The head passed to start_response is past the host's response head limits (refused with
    /// `NSGI_E_TOO_LARGE`).
    HeadTooLarge(HeadTooLarge),
    /// start_response got a NULL pointer where it needs data.
    NullArgument(&'static str),
    /// write() was called before start_response.
    WriteBeforeStart,
    /// write() was called from inside the body's `next` (write is for `call` only).
    WriteInsideNext,
    /// The app went on producing data after start_response reported NSGI_E_HEADERS_SENT.
    ContinuedAfterHeadersSent,
    /// The app aborted the response after an error once the headers were out (exc_info path).
    AbortedAfterHeadersSent,
    /// `call` returned this error status.
    CallFailed(nsgi_status),
    /// `call` returned NSGI_OK without a usable body (NULL vtable, `next` or `close`).
    InvalidBody(&'static str),
    /// `next` returned a chunk with a NULL pointer and a non-zero length.
    NullChunk,
    /// `next` returned this error status.
    NextFailed(nsgi_status),
    /// `next` returned a positive status this host does not know.
    NextUnknownStatus(nsgi_status),
    /// The body ended before the declared Content-Length was sent (never for a HEAD request, or
    /// a 1xx, 204 or 304 response with no body at all: RFC 9110 §8.6, §9.3.2).
    BodyTooShort {
        /// Declared length.
        declared: u64,
        /// Bytes produced.
        sent: u64,
    },
    /// The body produced more than the declared Content-Length; the excess was dropped
    /// (a warning: the response itself is intact). Never for a HEAD request, whose body is
    /// dropped whole.
    BodyTooLong {
        /// Declared length.
        declared: u64,
    },
    /// A request function got a handle that is not the request its thread is serving: NULL,
    /// another request's, or one kept past its `close`. The host refused the call
    /// (`NSGI_E_INVAL` for NULL, else `NSGI_E_STATE`) and the response goes on: a warning to the
    /// host, an error (N8) to a checker.
    RequestHandleRefused {
        /// The host function the app called.
        function: &'static str,
        /// The handle was NULL.
        null: bool,
    },
}

impl Violation {
    /// False only for breaches the host repairs without harm to the response.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Violation::BodyTooLong { .. } | Violation::RequestHandleRefused { .. }
        )
    }

    /// True for a `start_response` call the host refused without storing anything: the app may
    /// correct itself with another call (`docs/abi.md` §7.1), and then the refusal no longer fails
    /// the response.
    pub fn is_refused_start(&self) -> bool {
        matches!(
            self,
            Violation::InvalidStatus(_)
                | Violation::InvalidHeader { .. }
                | Violation::InvalidContentLength
                | Violation::HeadTooLarge(_)
                | Violation::NullArgument(_)
        )
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NoStartResponse => {
                f.write_str("the body produced data or ended before start_response was called")
            }
            Violation::StartResponseTwice => f.write_str("start_response called a second time without exc_info"),
            Violation::StartResponseOutOfTurn => f.write_str("start_response called outside call/next"),
            Violation::InvalidStatus(problem) => write!(f, "invalid status: {problem}"),
            Violation::InvalidHeader { name, problem } => write!(f, "invalid header {name:?}: {problem}"),
            Violation::InvalidContentLength => f.write_str("Content-Length header is not a decimal number"),
            Violation::HeadTooLarge(detail) => write!(f, "response head too large: {detail}"),
            Violation::NullArgument(what) => write!(f, "start_response got a NULL {what}"),
            Violation::WriteBeforeStart => f.write_str("write() called before start_response"),
            Violation::WriteInsideNext => f.write_str("write() called from inside the body's next()"),
            Violation::ContinuedAfterHeadersSent => {
                f.write_str("app went on after start_response with exc_info returned NSGI_E_HEADERS_SENT")
            }
            Violation::AbortedAfterHeadersSent => f.write_str("app aborted the response after its headers were sent"),
            Violation::CallFailed(NSGI_E_PANIC) => f.write_str("app panicked in call (NSGI_E_PANIC)"),
            Violation::CallFailed(code) => write!(f, "call returned error {code}"),
            Violation::InvalidBody(what) => write!(f, "call returned NSGI_OK with an invalid body: {what}"),
            Violation::NullChunk => f.write_str("next returned a chunk with a NULL pointer and a non-zero length"),
            Violation::NextFailed(NSGI_E_PANIC) => f.write_str("app panicked in next (NSGI_E_PANIC)"),
            Violation::NextFailed(code) => write!(f, "next returned error {code}"),
            Violation::NextUnknownStatus(code) => write!(f, "next returned unknown status {code}"),
            Violation::BodyTooShort { declared, sent } => {
                write!(
                    f,
                    "body ended after {sent} bytes but Content-Length declared {declared}"
                )
            }
            Violation::BodyTooLong { declared } => {
                write!(
                    f,
                    "body went past its Content-Length of {declared} bytes; the excess was dropped"
                )
            }
            Violation::RequestHandleRefused { function, null: true } => {
                write!(f, "{function} got a NULL request handle")
            }
            Violation::RequestHandleRefused { function, null: false } => write!(
                f,
                "{function} got a request handle that is not the request this thread is serving \
                 (another request's, or one kept past its close)"
            ),
        }
    }
}

/// Why a response could not be completed. When `head_emitted` is false nothing reached the
/// client yet and a server answers 500; otherwise it must abort the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseFailure {
    /// The first fatal violation.
    pub violation: Violation,
    /// Whether a [`Step::Head`](crate::host::Step::Head) was already handed out.
    pub head_emitted: bool,
}

impl fmt::Display for ResponseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.violation)?;
        if self.head_emitted {
            f.write_str(" (after the response headers were sent)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResponseFailure {}
