//! Reading the request's cookies: the `Cookie` header as `name=value` pairs.
//!
//! This module owns [`Cookies`] and [`Request::cookies`]. It splits the header on `;` (several
//! `Cookie` headers arrive joined with `"; "`), trims spaces and tabs around each pair, and
//! strips one pair of double quotes around a value (RFC 6265 §4.1.1). It never decodes values
//! (cookie values are opaque: decode them the way they were encoded) and never writes cookies:
//! set them with a `Set-Cookie` response header.

use std::fmt;
use std::str;

use super::request::Request;

/// The cookies of a request, in the order the client sent them.
///
/// A pair without `=`, or whose name or value is not UTF-8, is skipped; a name may appear more
/// than once (the client sends the most specific path first), and [`get`](Self::get) returns the
/// first.
///
/// ```
/// use nsgi::app::Cookies;
///
/// let cookies = Cookies::parse(b"session=abc123; theme=\"dark\"; junk; lang=es; lang=en");
/// assert_eq!(cookies.get("session"), Some("abc123"));
/// assert_eq!(cookies.get("theme"), Some("dark"));
/// assert_eq!(cookies.get("lang"), Some("es"));
/// assert_eq!(cookies.get("junk"), None);
/// assert_eq!(cookies.iter().count(), 4);
/// ```
#[derive(Clone, Copy)]
pub struct Cookies<'a> {
    header: &'a [u8],
}

impl<'a> Cookies<'a> {
    /// The cookies of a `Cookie` header value.
    pub fn parse(header: &'a [u8]) -> Cookies<'a> {
        Cookies { header }
    }

    /// Every `(name, value)` pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.header.split(|&b| b == b';').filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            let name = str::from_utf8(pair[..eq].trim_ascii()).ok()?;
            let value = pair[eq + 1..].trim_ascii();
            let value = match value {
                [b'"', inner @ .., b'"'] => inner,
                _ => value,
            };
            let value = str::from_utf8(value).ok()?;
            (!name.is_empty()).then_some((name, value))
        })
    }

    /// The value of the first cookie called `name` (case-sensitive, as cookie names are).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|&(n, _)| n == name).map(|(_, v)| v)
    }
}

impl fmt::Debug for Cookies<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(n, _)| n)).finish()
    }
}

impl<'req> Request<'req> {
    /// The request's cookies (`HTTP_COOKIE`); none when it has no `Cookie` header.
    ///
    /// ```
    /// use nsgi::app::{Error, Request, Response, StartResponse};
    ///
    /// fn visit(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let visits: u32 = req.cookies().get("visits").and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
    ///     let cookie = format!("visits={visits}; Path=/; HttpOnly");
    ///     let text = format!("visit number {visits}\n");
    ///     Ok(start.respond("200 OK", &[("Set-Cookie", cookie.as_str())], text)?)
    /// }
    /// # let _ = visit;
    /// ```
    pub fn cookies(&self) -> Cookies<'req> {
        Cookies::parse(self.var("HTTP_COOKIE").unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(header: &[u8]) -> Vec<(&str, &str)> {
        Cookies::parse(header).iter().collect()
    }

    #[test]
    fn hostile_headers() {
        assert!(all(b"").is_empty());
        assert!(all(b";;;  ; ").is_empty());
        assert!(all(b"=novalue; =").is_empty(), "a pair with no name is skipped");
        assert_eq!(all(b"a=; b=\"\""), [("a", ""), ("b", "")]);
        assert_eq!(all(b"a=1=2"), [("a", "1=2")], "only the first `=` splits");
        assert_eq!(all(b"q=\"unbalanced"), [("q", "\"unbalanced")]);
        assert_eq!(all(b"q=\""), [("q", "\"")]);
        assert_eq!(all(b"bad=\xFF; ok=1; \xFE=2"), [("ok", "1")]);
        assert_eq!(all(b" \t a \t = \t b \t "), [("a", "b")]);
        assert_eq!(all(b"enc=a%20b"), [("enc", "a%20b")], "values are not decoded");
    }

    #[test]
    fn many_cookies() {
        let header: String = (0..10_000).map(|i| format!("c{i}={i}; ")).collect();
        let cookies = Cookies::parse(header.as_bytes());
        assert_eq!(cookies.iter().count(), 10_000);
        assert_eq!(cookies.get("c9999"), Some("9999"));
    }
}
