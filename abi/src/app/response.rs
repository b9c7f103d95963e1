//! Starting the response: PEP 3333's `start_response` and `write()`, as a typestate.
//!
//! This module owns [`StartResponse`] (the one-shot token an app consumes to start its
//! response), [`Started`] (what starting gives: the `write()` callable, the exc_info
//! replacement, the way to attach the body) and [`Response`] (what `call` returns). The
//! transitions consume their input, so a Rust app cannot start a response twice or return one
//! it never started. It never keeps the status or headers: the host copies them during the call.

use std::any;
use std::error::Error as StdError;
use std::fmt;
use std::io;

use super::body::Body;
use super::error::{self, HostError};
use super::host::RawRequest;
use crate::sys::{self, nsgi_bytes, nsgi_exc_info, nsgi_header};

/// Headers up to this count are passed to the host from a stack array; more need one `Vec`.
const STACK_HEADERS: usize = 16;

/// The right to start the response: PEP 3333's `start_response`, usable once.
///
/// [`start`](Self::start) consumes the token, so starting twice does not compile:
///
/// ```compile_fail
/// use nsgi::app::{Error, Response, StartResponse};
///
/// fn respond(start: StartResponse<'_>) -> Result<Response, Error> {
///     let _first = start.start("200 OK", &[])?;
///     let second = start.start("500 Internal Server Error", &[])?; // use of moved value
///     Ok(second.finish())
/// }
/// ```
///
/// Starting once does:
///
/// ```
/// use nsgi::app::{Error, Response, StartResponse};
///
/// fn respond(start: StartResponse<'_>) -> Result<Response, Error> {
///     let started = start.start("200 OK", &[("Content-Type", "text/plain")])?;
///     Ok(started.body("ok\n"))
/// }
/// # let _ = respond;
/// ```
pub struct StartResponse<'req> {
    raw: RawRequest<'req>,
}

impl<'req> StartResponse<'req> {
    pub(crate) fn new(raw: RawRequest<'req>) -> StartResponse<'req> {
        StartResponse { raw }
    }

    /// Starts the response with `status` (`"200 OK"`: three digits, a space, a reason) and
    /// `headers` (`(name, value)` pairs).
    ///
    /// The host checks them now and sends them with the first body bytes. It refuses
    /// (`NSGI_E_INVAL`) a malformed status, a name that is not an HTTP token, a value with CR,
    /// LF or NUL, a `Status` header or a hop-by-hop header such as `Connection` or
    /// `Transfer-Encoding` (it manages framing itself); the error then names the problem.
    pub fn start(self, status: &str, headers: &[(&str, &str)]) -> Result<Started<'req>, HostError> {
        start_response(self.raw, status, headers, &[], None)?;
        Ok(Started { raw: self.raw })
    }

    /// Starts the response with the extra headers `extra` after `headers`: for the helpers that
    /// add `Content-Length`, `Location` and the like.
    pub(crate) fn start_with(
        self,
        status: &str,
        headers: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Result<Started<'req>, HostError> {
        start_response(self.raw, status, headers, extra, None)?;
        Ok(Started { raw: self.raw })
    }
}

impl fmt::Debug for StartResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StartResponse")
    }
}

/// A started response: PEP 3333's `write()` callable, and the way to the [`Response`].
///
/// Body bytes can be pushed with [`write`](Self::write) (or through [`std::io::Write`]) and/or
/// returned as a [`Body`] with [`body`](Self::body); written bytes go out first.
///
/// ```
/// use std::io::Write;
///
/// use nsgi::app::{Error, Response, StartResponse};
///
/// fn respond(start: StartResponse<'_>) -> Result<Response, Error> {
///     let mut started = start.start("200 OK", &[("Content-Type", "text/plain")])?;
///     started.write(b"pushed with write(), ")?;
///     write!(started, "formatted {}, ", 42)?;
///     Ok(started.body("then returned as the body\n"))
/// }
/// # let _ = respond;
/// ```
pub struct Started<'req> {
    raw: RawRequest<'req>,
}

impl<'req> Started<'req> {
    /// PEP 3333's `write(data)`: sends (or buffers) `data` before returning. Fails with
    /// [`ConnectionAborted`](io::ErrorKind::ConnectionAborted) when the client has gone: stop
    /// producing the response then.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self.raw.write(data) {
            code if code >= 0 => Ok(()),
            code => Err(HostError::from_code("write", code).into()),
        }
    }

    /// Replaces the response after an error, as `start_response(status, headers, exc_info)`.
    ///
    /// While nothing has been sent the host replaces the status and headers (bytes already
    /// passed to [`write`](Self::write) are kept only if the host buffered them without sending;
    /// usually nothing was written). Once the headers have gone out it cannot, and this returns
    /// an error for which [`HostError::is_headers_sent`] is true: return it from
    /// [`App::call`](super::App::call) so the host aborts the response. The host logs `error`'s
    /// type and message either way.
    pub fn replace_after_error<E>(
        self,
        status: &str,
        headers: &[(&str, &str)],
        error: &E,
    ) -> Result<Started<'req>, HostError>
    where
        E: StdError + ?Sized,
    {
        let message = error_text(error);
        let type_name = any::type_name::<E>();
        let exc_info = nsgi_exc_info {
            struct_size: sys::NSGI_EXC_INFO_V1_0_SIZE,
            code: sys::NSGI_E_APP,
            type_name: nsgi_bytes::from_slice(type_name.as_bytes()),
            message: nsgi_bytes::from_slice(message.as_bytes()),
        };
        start_response(self.raw, status, headers, &[], Some(&exc_info))?;
        Ok(Started { raw: self.raw })
    }

    /// Ends with `body` as the rest of the response (after anything written).
    pub fn body(self, body: impl Into<Body>) -> Response {
        Response { body: body.into() }
    }

    /// Ends with no more body: for apps that only use [`write`](Self::write), and for bodiless
    /// responses such as `204 No Content`.
    pub fn finish(self) -> Response {
        Response { body: Body::empty() }
    }
}

impl io::Write for Started<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Started::write(self, data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Started<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Started")
    }
}

/// What [`App::call`](super::App::call) returns: a started response and its body. Made by
/// [`Started::body`] or [`Started::finish`].
///
/// ```
/// use nsgi::app::{Body, Error, Response, StartResponse};
///
/// fn respond(start: StartResponse<'_>) -> Result<Response, Error> {
///     let started = start.start("200 OK", &[("Content-Type", "text/plain")])?;
///     Ok(started.body(Body::from_chunks(["one, ", "two, ", "three\n"])))
/// }
/// # let _ = respond;
/// ```
#[derive(Debug)]
pub struct Response {
    body: Body,
}

impl Response {
    /// A response whose body starts the response itself (see `lazy.rs`).
    pub(super) fn started_by_body(body: Body) -> Response {
        Response { body }
    }

    /// The body, for the call trampoline.
    pub(crate) fn into_body(self) -> Body {
        self.body
    }
}

/// Calls the host's `start_response`, turning a refusal into an error that names the problem.
pub(super) fn start_response(
    raw: RawRequest<'_>,
    status: &str,
    headers: &[(&str, &str)],
    extra: &[(&str, &str)],
    exc_info: Option<&nsgi_exc_info>,
) -> Result<(), HostError> {
    let code = with_raw_headers(headers, extra, |raw_headers| {
        raw.start_response(status.as_bytes(), raw_headers, exc_info)
    });
    match code {
        code if code >= 0 => Ok(()),
        sys::NSGI_E_INVAL => {
            let all: Vec<(&str, &str)> = headers.iter().chain(extra).copied().collect();
            Err(HostError::from_code("start_response", code).with_detail(diagnose(status, &all)))
        }
        sys::NSGI_E_STATE => {
            Err(HostError::from_code("start_response", code).with_detail("the response was already started".to_owned()))
        }
        sys::NSGI_E_HEADERS_SENT => Err(HostError::from_code("start_response", code).with_detail(
            "the response headers were already sent, so the response cannot be replaced; \
             return this error to abort it"
                .to_owned(),
        )),
        code => Err(HostError::from_code("start_response", code)),
    }
}

/// Runs `f` with `headers` then `extra` as ABI headers, borrowing the strings (no copy of any
/// byte).
fn with_raw_headers<R>(headers: &[(&str, &str)], extra: &[(&str, &str)], f: impl FnOnce(&[nsgi_header]) -> R) -> R {
    let raw = |&(name, value): &(&str, &str)| nsgi_header {
        name: nsgi_bytes::from_slice(name.as_bytes()),
        value: nsgi_bytes::from_slice(value.as_bytes()),
    };
    let count = headers.len() + extra.len();
    if count <= STACK_HEADERS {
        let empty = nsgi_header {
            name: nsgi_bytes::EMPTY,
            value: nsgi_bytes::EMPTY,
        };
        let mut array = [empty; STACK_HEADERS];
        for (slot, header) in array.iter_mut().zip(headers.iter().chain(extra)) {
            *slot = raw(header);
        }
        f(&array[..count])
    } else {
        let list: Vec<nsgi_header> = headers.iter().chain(extra).map(raw).collect();
        f(&list)
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1 and `wsgiref.util.is_hop_by_hop`): the gateway owns them.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Says what the host most likely refused, by the host's own rules.
fn diagnose(status: &str, headers: &[(&str, &str)]) -> String {
    let bytes = status.as_bytes();
    let well_formed = bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && !bytes.iter().any(|&b| b.is_ascii_control());
    if !well_formed {
        return format!("status line {status:?} is not of the form \"NNN Reason\"");
    }
    for &(name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return format!("header name {name:?} is not an HTTP token");
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return format!("the value of header {name:?} contains CR, LF or NUL");
        }
        if name.eq_ignore_ascii_case("status") {
            return "\"Status\" is not a response header: put the status in the status line".to_owned();
        }
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            return format!("{name:?} is a hop-by-hop header, which the gateway manages itself");
        }
    }
    format!(
        "the host refused status line {status:?} or one of the {} headers",
        headers.len()
    )
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The error and its sources, for `exc_info.message`.
fn error_text<E: StdError + ?Sized>(error: &E) -> String {
    let mut text = error.to_string();
    if let Some(source) = error.source() {
        text.push_str(": ");
        text.push_str(&error::chain(source));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnose_names_the_problem() {
        assert!(diagnose("OK", &[]).contains("not of the form"));
        assert!(diagnose("200OK", &[]).contains("not of the form"));
        assert!(diagnose("200 OK\r\n", &[]).contains("not of the form"));
        assert!(diagnose("200 OK", &[("Bad Name", "x")]).contains("not an HTTP token"));
        assert!(diagnose("200 OK", &[("X-A", "a\nb")]).contains("CR, LF or NUL"));
        assert!(diagnose("200 OK", &[("status", "200")]).contains("status line"));
        assert!(diagnose("200 OK", &[("Transfer-Encoding", "chunked")]).contains("hop-by-hop"));
        assert!(diagnose("200 OK", &[("X-Fine", "yes")]).contains("refused"));
    }

    #[test]
    fn many_headers_use_the_heap_path() {
        let headers: Vec<(&str, &str)> = (0..40).map(|_| ("X-Many", "v")).collect();
        let n = with_raw_headers(&headers, &[], |raw| raw.len());
        assert_eq!(n, 40);
        let n = with_raw_headers(&headers[..3], &[], |raw| raw.len());
        assert_eq!(n, 3);
        let n = with_raw_headers(&headers[..15], &headers[..2], |raw| raw.len());
        assert_eq!(n, 17);
    }
}
