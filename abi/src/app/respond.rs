//! One-call responses: a status, headers and a body whose length is known, with the
//! `Content-Length` header filled in; and redirects.
//!
//! This module owns [`StartResponse::respond`], [`StartResponse::redirect`] and [`Redirect`]. It
//! adds headers after the app's own (never reorders or rewrites them) and refuses, rather than
//! silently overrides, a `Content-Length` or `Location` the app already set.

use std::fmt::Write as _;

use super::body::Body;
use super::error::HostError;
use super::escape::HtmlEscaped;
use super::response::{Response, StartResponse};
use crate::sys;

impl<'req> StartResponse<'req> {
    /// Starts the response and returns it with `body`, adding `Content-Length` when the body's
    /// length is known ([`Body::known_len`]: a string, a byte buffer, a static slice, a file
    /// body). A body of unknown length (an iterator, a reader) goes out without it, and the
    /// host frames it.
    ///
    /// Refused with `NSGI_E_INVAL` when `headers` already has a `Content-Length` and the body's
    /// length is known: one of the two would be wrong.
    ///
    /// ```
    /// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
    ///
    /// struct Hello;
    ///
    /// impl App for Hello {
    ///     fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
    ///         Ok(Hello)
    ///     }
    ///
    ///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///         let text = format!("Hello from {}\n", req.path_info()); // Content-Length: its length
    ///         Ok(start.respond("200 OK", &[("Content-Type", "text/plain; charset=utf-8")], text)?)
    ///     }
    /// }
    /// # let _ = nsgi::app_descriptor!(Hello);
    /// ```
    pub fn respond(self, status: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Result<Response, HostError> {
        let body = body.into();
        let started = start_with_length(status, headers, &body, |status, headers, extra| {
            self.start_with(status, headers, extra)
        })?;
        Ok(started.body(body))
    }

    /// Answers with a redirect to `location` (a URL or an absolute path, sent as given: encode
    /// it yourself), the `headers` given (a `Set-Cookie` after a login, say), and a short HTML
    /// body linking to it.
    ///
    /// ```
    /// use nsgi::app::{Error, Redirect, Request, Response, StartResponse};
    ///
    /// // Post/Redirect/Get: after handling a form, send the browser to a page it can reload.
    /// fn posted(_req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     Ok(start.redirect(Redirect::SeeOther, "/thanks?id=7", &[("Set-Cookie", "seen=1; Path=/")])?)
    /// }
    /// # let _ = posted;
    /// assert_eq!(Redirect::SeeOther.status(), "303 See Other");
    /// ```
    ///
    /// Refused with `NSGI_E_INVAL` when `headers` already has a `Location`, or when `location`
    /// is empty or holds CR, LF or another control character (the host would refuse it too).
    pub fn redirect(self, redirect: Redirect, location: &str, headers: &[(&str, &str)]) -> Result<Response, HostError> {
        let refuse = |detail: String| HostError::from_code("redirect", sys::NSGI_E_INVAL).with_detail(detail);
        if location.is_empty() || location.bytes().any(|b| b.is_ascii_control()) {
            return Err(refuse(format!(
                "the redirect location {location:?} is empty or holds a control character"
            )));
        }
        if let Some(&(name, _)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("location")) {
            return Err(refuse(format!(
                "redirect() sets Location itself; remove the {name:?} header"
            )));
        }
        let mut page = String::with_capacity(64 + 2 * location.len());
        // Writing to a String cannot fail.
        let _ = write!(
            page,
            "<!DOCTYPE html>\n<title>{status}</title>\n<p>Redirecting to <a href=\"{href}\">{href}</a>.</p>\n",
            status = redirect.status(),
            href = HtmlEscaped(location),
        );
        let mut digits = [0; 20];
        let length = decimal(page.len() as u64, &mut digits);
        let extra = [
            ("Location", location),
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", length),
        ];
        let started = self.start_with(redirect.status(), headers, &extra)?;
        Ok(started.body(page))
    }
}

/// Starts the response through `start_with(status, headers, extra)`, with `Content-Length` as
/// the extra header when `body`'s length is known: the one rule of [`StartResponse::respond`]
/// and [`LaterStart::respond`](super::LaterStart::respond).
pub(super) fn start_with_length<S>(
    status: &str,
    headers: &[(&str, &str)],
    body: &Body,
    start_with: impl FnOnce(&str, &[(&str, &str)], &[(&str, &str)]) -> Result<S, HostError>,
) -> Result<S, HostError> {
    let Some(len) = body.known_len() else {
        return start_with(status, headers, &[]);
    };
    if let Some(&(name, _)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
        return Err(HostError::from_code("respond", sys::NSGI_E_INVAL).with_detail(format!(
            "respond() sets Content-Length from the body ({len} bytes); remove the {name:?} header"
        )));
    }
    let mut digits = [0; 20];
    start_with(status, headers, &[("Content-Length", decimal(len, &mut digits))])
}

/// The kinds of redirect (RFC 9110 §15.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Redirect {
    /// 301: moved for good; clients may turn a POST into a GET.
    MovedPermanently,
    /// 302: found elsewhere for now; clients may turn a POST into a GET.
    Found,
    /// 303: see the other resource with a GET (the answer to a form POST).
    SeeOther,
    /// 307: elsewhere for now; the method and body are kept.
    Temporary,
    /// 308: moved for good; the method and body are kept.
    Permanent,
}

impl Redirect {
    /// The status line, e.g. `"303 See Other"`.
    pub const fn status(self) -> &'static str {
        match self {
            Redirect::MovedPermanently => "301 Moved Permanently",
            Redirect::Found => "302 Found",
            Redirect::SeeOther => "303 See Other",
            Redirect::Temporary => "307 Temporary Redirect",
            Redirect::Permanent => "308 Permanent Redirect",
        }
    }
}

/// `n` in decimal, written into `buf` (20 digits hold any `u64`).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_covers_the_range() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), "0");
        assert_eq!(decimal(7, &mut buf), "7");
        assert_eq!(decimal(1234567890, &mut buf), "1234567890");
        assert_eq!(decimal(u64::MAX, &mut buf), u64::MAX.to_string());
    }

    #[test]
    fn every_redirect_has_its_code() {
        let codes: Vec<&str> = [
            Redirect::MovedPermanently,
            Redirect::Found,
            Redirect::SeeOther,
            Redirect::Temporary,
            Redirect::Permanent,
        ]
        .iter()
        .map(|r| &r.status()[..3])
        .collect();
        assert_eq!(codes, ["301", "302", "303", "307", "308"]);
    }
}
