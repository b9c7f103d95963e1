//! `echo`: reads request bodies and headers; a target for protocol tests.
//!
//! The earlier samples ignore the request. This one reads it, which is what a test of a
//! gateway's request handling needs (framing, chunked bodies, `Expect: 100-continue`, header
//! joining), and it shows the parts of the SDK that do so: routing on the method and
//! `PATH_INFO`, reading `wsgi.input`, and walking the environ.
//!
//! | request | response |
//! |---|---|
//! | `GET /` or `HEAD /` | `200`, a one-line usage note |
//! | `POST /` or `PUT /` | `200`, the request body, with the request's `Content-Type` |
//! | `OPTIONS /` | `200`, no body, an `Allow` header listing the methods of `/` |
//! | any other method on `/` | `405 Method Not Allowed`, with an `Allow` header |
//! | any method on `/echo` | `200`, the request headers as sorted `Name: Value` lines |
//! | any other path | `404 Not Found` |
//!
//! ```sh
//! cargo build -p echo
//! nsgi-gateway target/debug/libecho.so &
//! curl --data-binary 'ping' -H 'Content-Type: text/x-ping' http://127.0.0.1:8000/   # ping
//! curl http://127.0.0.1:8000/echo                                                  # your headers
//! ```

use std::io::Read;

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

/// The body of `GET /`.
const USAGE: &str = "echo: send a POST to / to have its body echoed; GET /echo lists your request headers\n";

/// The methods `/` accepts, as the `Allow` header of `OPTIONS` and of a 405 lists them.
const ALLOWED_ON_ROOT: &str = "GET, HEAD, OPTIONS, POST, PUT";

/// `Content-Type` of the plain-text answers.
const TEXT: &str = "text/plain; charset=utf-8";

struct Echo;

impl App for Echo {
    const NAME: &'static str = "echo";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Echo)
    }

    /// Routes on the path, then on the method.
    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        match req.path_info() {
            "/" => match req.method() {
                "GET" | "HEAD" => text(start, "200 OK", &[], USAGE.to_owned()),
                "POST" | "PUT" => echo_body(req, start),
                "OPTIONS" => text(start, "200 OK", &[("Allow", ALLOWED_ON_ROOT)], String::new()),
                _ => text(
                    start,
                    "405 Method Not Allowed",
                    &[("Allow", ALLOWED_ON_ROOT)],
                    "method not allowed\n".to_owned(),
                ),
            },
            "/echo" => text(start, "200 OK", &[], request_headers(req)),
            _ => text(start, "404 Not Found", &[], "not found\n".to_owned()),
        }
    }
}

/// Answers with the request body, byte for byte.
fn echo_body(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    // `wsgi.input` ends where the request body ends: the gateway has already removed any
    // chunked framing and never reads past Content-Length, so reading to the end is safe.
    // The gateway also enforces its body size limit before the app is called.
    let mut body = Vec::new();
    req.input().read_to_end(&mut body)?;

    // Borrowed straight from the environ: no copy until the host copies the header.
    let content_type = match req.content_type() {
        "" => "application/octet-stream",
        declared => declared,
    };
    let content_length = body.len().to_string();
    let started = start.start(
        "200 OK",
        &[("Content-Type", content_type), ("Content-Length", &content_length)],
    )?;
    Ok(started.body(body))
}

/// The request headers as sorted `Name: Value` lines, rebuilt from the CGI variables.
///
/// The gateway hands every request header over as `HTTP_<NAME>` (uppercase, `-` turned into
/// `_`), except `Content-Type` and `Content-Length`, which CGI names `CONTENT_TYPE` and
/// `CONTENT_LENGTH`. Repeated headers arrive already joined with `, ` (`; ` for `Cookie`).
fn request_headers(req: &Request<'_>) -> String {
    let mut lines: Vec<String> = req
        .vars()
        .filter_map(|(name, value)| {
            let header = match name {
                b"CONTENT_TYPE" => "Content-Type".to_owned(),
                b"CONTENT_LENGTH" => "Content-Length".to_owned(),
                _ => header_name(name.strip_prefix(b"HTTP_")?),
            };
            Some(format!("{header}: {}\n", String::from_utf8_lossy(value)))
        })
        .collect();
    lines.sort_unstable();
    lines.concat()
}

/// `USER_AGENT` → `User-Agent`: the usual spelling of a header name from its CGI form.
fn header_name(cgi: &[u8]) -> String {
    let cgi = String::from_utf8_lossy(cgi);
    let words: Vec<String> = cgi
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    words.join("-")
}

/// Starts a `text/plain` response with a Content-Length and `extra` headers, and sends `body`.
fn text(start: StartResponse<'_>, status: &str, extra: &[(&str, &str)], body: String) -> Result<Response, Error> {
    let content_length = body.len().to_string();
    let mut headers = vec![("Content-Type", TEXT), ("Content-Length", content_length.as_str())];
    headers.extend_from_slice(extra);
    Ok(start.start(status, &headers)?.body(body))
}

nsgi::export_app!(Echo);

#[cfg(test)]
mod tests {
    use super::header_name;

    #[test]
    fn header_names_are_rebuilt_from_cgi_names() {
        assert_eq!(header_name(b"USER_AGENT"), "User-Agent");
        assert_eq!(header_name(b"HOST"), "Host");
        assert_eq!(header_name(b"X_FORWARDED_FOR"), "X-Forwarded-For");
        assert_eq!(header_name(b"DNT"), "Dnt");
    }
}
