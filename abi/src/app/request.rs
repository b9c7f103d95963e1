//! The request as the app sees it: the environ, the input and error streams, the log.
//!
//! This module owns [`Request`], the safe view of one `nsgi_environ` plus the request handle.
//! Every accessor borrows host memory without copying or allocating; lookups walk the environ's
//! variables (a request has a few dozen). It must never hand out a borrow that outlives the
//! request: everything it returns is tied to `'req`.

use std::fmt;
use std::str;

use super::host::{Host, Level, RawRequest};
use super::io::{Errors, Input};
use super::raw::{self, Pairs};
use crate::sys::{self, nsgi_environ};

/// One HTTP request: PEP 3333's `environ`, with `wsgi.input` and `wsgi.errors`.
///
/// The CGI variables are byte strings in the ABI. The `&str` getters ([`method`](Self::method),
/// [`path_info`](Self::path_info), ...) return `""` when the variable is absent **or not valid
/// UTF-8**; use [`var`](Self::var) or the `*_bytes` variants where raw bytes matter (a
/// percent-decoded `PATH_INFO` can be any bytes).
///
/// ```
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
///
/// struct Router;
///
/// impl App for Router {
///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
///         Ok(Router)
///     }
///
///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         let agent = req.header("User-Agent").map(String::from_utf8_lossy);
///         let (status, text) = match (req.method(), req.path_info()) {
///             ("GET", "/") => ("200 OK", format!("hello, {}\n", agent.unwrap_or_default())),
///             ("GET", _) => ("404 Not Found", "not found\n".to_owned()),
///             _ => ("405 Method Not Allowed", "GET only\n".to_owned()),
///         };
///         let started = start.start(status, &[("Content-Type", "text/plain"), ("Allow", "GET")])?;
///         Ok(started.body(text))
///     }
/// }
/// # let _ = nsgi::app_descriptor!(Router);
/// ```
pub struct Request<'req> {
    raw: RawRequest<'req>,
    vars: Pairs<'req>,
    flags: u32,
    url_scheme: &'req [u8],
    content_length: u64,
    input: Input<'req>,
}

impl<'req> Request<'req> {
    /// Wraps the host's environ for one call.
    ///
    /// # Safety
    /// `environ` must be the host's environ for `raw`'s request, at least
    /// `NSGI_ENVIRON_V1_0_SIZE` bytes, with every buffer it points to valid and unchanging for
    /// `'req`.
    pub(crate) unsafe fn new(raw: RawRequest<'req>, environ: &'req nsgi_environ) -> Request<'req> {
        let content_length = (environ.content_length != sys::NSGI_NO_LENGTH).then_some(environ.content_length);
        Request {
            raw,
            // SAFETY: the caller promises the vars array and its bytes live for `'req`.
            vars: unsafe { Pairs::new(environ.vars, environ.n_vars) },
            flags: environ.flags,
            // SAFETY: as above, for `url_scheme`.
            url_scheme: unsafe { raw::bytes(environ.url_scheme) },
            content_length: environ.content_length,
            input: Input::new(raw, content_length),
        }
    }

    /// The environ variable `name` (e.g. `"REQUEST_METHOD"`, `"HTTP_ACCEPT"`), as bytes.
    pub fn var(&self, name: &str) -> Option<&'req [u8]> {
        self.vars.get(name.as_bytes())
    }

    /// The environ variable `name`, when it is present and valid UTF-8.
    pub fn var_str(&self, name: &str) -> Option<&'req str> {
        self.var(name).and_then(|value| str::from_utf8(value).ok())
    }

    /// Every environ variable, as `(name, value)` byte strings in the host's order. The
    /// `wsgi.*` values are not variables: see [`url_scheme`](Self::url_scheme),
    /// [`multithread`](Self::multithread) and friends.
    pub fn vars(&self) -> impl Iterator<Item = (&'req [u8], &'req [u8])> + 'req {
        self.vars.iter()
    }

    /// The request header `name` (case-insensitive), looked up as CGI does: `Content-Type` and
    /// `Content-Length` are `CONTENT_TYPE` and `CONTENT_LENGTH`, any other `Some-Header` is
    /// `HTTP_SOME_HEADER`. Repeated headers arrive joined (`", "`, or `"; "` for `Cookie`).
    pub fn header(&self, name: &str) -> Option<&'req [u8]> {
        self.vars()
            .find(|(var, _)| names_header(var, name))
            .map(|(_, value)| value)
    }

    /// `REQUEST_METHOD`, e.g. `"GET"`.
    pub fn method(&self) -> &'req str {
        self.str_var("REQUEST_METHOD")
    }

    /// `PATH_INFO`: the percent-decoded path below the mount point, e.g. `"/users/7"`; `""`
    /// when it is not UTF-8 (see [`path_info_bytes`](Self::path_info_bytes)).
    pub fn path_info(&self) -> &'req str {
        self.str_var("PATH_INFO")
    }

    /// `PATH_INFO` as bytes.
    pub fn path_info_bytes(&self) -> &'req [u8] {
        self.var("PATH_INFO").unwrap_or_default()
    }

    /// `SCRIPT_NAME`: the mount point, `""` for the root.
    pub fn script_name(&self) -> &'req str {
        self.str_var("SCRIPT_NAME")
    }

    /// `SCRIPT_NAME` as bytes.
    pub fn script_name_bytes(&self) -> &'req [u8] {
        self.var("SCRIPT_NAME").unwrap_or_default()
    }

    /// `QUERY_STRING`: the part of the target after `?`, still percent-encoded.
    pub fn query_string(&self) -> &'req str {
        self.str_var("QUERY_STRING")
    }

    /// `QUERY_STRING` as bytes.
    pub fn query_string_bytes(&self) -> &'req [u8] {
        self.var("QUERY_STRING").unwrap_or_default()
    }

    /// `SERVER_NAME`: the host name the request was addressed to.
    pub fn server_name(&self) -> &'req str {
        self.str_var("SERVER_NAME")
    }

    /// `SERVER_PORT`, as the decimal string CGI uses.
    pub fn server_port(&self) -> &'req str {
        self.str_var("SERVER_PORT")
    }

    /// `SERVER_PROTOCOL`, e.g. `"HTTP/1.1"`.
    pub fn server_protocol(&self) -> &'req str {
        self.str_var("SERVER_PROTOCOL")
    }

    /// `REMOTE_ADDR`: the client's address.
    pub fn remote_addr(&self) -> &'req str {
        self.str_var("REMOTE_ADDR")
    }

    /// `CONTENT_TYPE`, `""` when the request has none.
    pub fn content_type(&self) -> &'req str {
        self.str_var("CONTENT_TYPE")
    }

    /// The request body's length, or `None` when it is not known in advance (no body, or a
    /// chunked one: read [`input`](Self::input) to its end).
    pub fn content_length(&self) -> Option<u64> {
        (self.content_length != sys::NSGI_NO_LENGTH).then_some(self.content_length)
    }

    /// `wsgi.url_scheme`: `"http"` or `"https"`.
    pub fn url_scheme(&self) -> &'req str {
        str::from_utf8(self.url_scheme).unwrap_or("")
    }

    /// `wsgi.multithread`: other threads may be running this app at the same time.
    pub fn multithread(&self) -> bool {
        self.flags & sys::NSGI_ENV_MULTITHREAD != 0
    }

    /// `wsgi.multiprocess`: other processes may be running this app at the same time.
    pub fn multiprocess(&self) -> bool {
        self.flags & sys::NSGI_ENV_MULTIPROCESS != 0
    }

    /// `wsgi.run_once`: this process will serve only this one request.
    pub fn run_once(&self) -> bool {
        self.flags & sys::NSGI_ENV_RUN_ONCE != 0
    }

    /// `wsgi.input`: the request body.
    pub fn input(&mut self) -> &mut Input<'req> {
        &mut self.input
    }

    /// `wsgi.errors`: the host's error stream for this request.
    pub fn errors(&self) -> Errors<'req> {
        Errors::new(self.raw)
    }

    /// Writes a line to the host log, tagged with this request.
    pub fn log(&self, level: Level, msg: &str) {
        self.raw.log(level, msg);
    }

    /// The host serving this request.
    pub fn host(&self) -> &'req Host {
        self.raw.host()
    }

    /// The request handle, for the helpers that call request-scoped host functions.
    pub(crate) fn raw(&self) -> RawRequest<'req> {
        self.raw
    }

    fn str_var(&self, name: &str) -> &'req str {
        self.var_str(name).unwrap_or("")
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field(
                "method",
                &String::from_utf8_lossy(self.var("REQUEST_METHOD").unwrap_or_default()),
            )
            .field("path_info", &String::from_utf8_lossy(self.path_info_bytes()))
            .field("n_vars", &self.vars.len())
            .finish_non_exhaustive()
    }
}

/// Whether the environ variable `var` carries the HTTP header `header` (CGI naming).
fn names_header(var: &[u8], header: &str) -> bool {
    let header = header.as_bytes();
    if header.eq_ignore_ascii_case(b"content-type") {
        return var == b"CONTENT_TYPE";
    }
    if header.eq_ignore_ascii_case(b"content-length") {
        return var == b"CONTENT_LENGTH";
    }
    match var.strip_prefix(b"HTTP_") {
        Some(rest) => rest.len() == header.len() && rest.iter().zip(header).all(|(&v, &h)| v == cgi_byte(h)),
        None => false,
    }
}

/// A header-name byte as it appears in a CGI variable name.
fn cgi_byte(b: u8) -> u8 {
    if b == b'-' { b'_' } else { b.to_ascii_uppercase() }
}

#[cfg(test)]
mod tests {
    use super::names_header;

    #[test]
    fn header_names_map_to_cgi_variables() {
        assert!(names_header(b"CONTENT_TYPE", "content-type"));
        assert!(names_header(b"CONTENT_LENGTH", "Content-Length"));
        assert!(!names_header(b"HTTP_CONTENT_TYPE", "Content-Type"));
        assert!(names_header(b"HTTP_USER_AGENT", "User-Agent"));
        assert!(names_header(b"HTTP_X_FORWARDED_FOR", "x-forwarded-for"));
        assert!(!names_header(b"HTTP_USER_AGENT", "User-Agents"));
        assert!(!names_header(b"USER_AGENT", "User-Agent"));
    }
}
