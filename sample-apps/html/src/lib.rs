//! `html`: the tutorial's second step: a real web page instead of plain text.
//!
//! The first step (`hello`) answered `text/plain`. A browser shows that as raw text; to get a
//! page, the app says `text/html` and sends HTML. The Python version would be:
//!
//! ```python
//! PAGE = b"<!DOCTYPE html>..."
//!
//! def application(environ, start_response):
//!     start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
//!                               ("Content-Length", str(len(PAGE)))])
//!     return [PAGE]
//! ```
//!
//! New in this step: [`App::init`] does per-app setup once, when the gateway mounts the app,
//! instead of on every request. Here that setup is tiny (formatting the page's length), but it
//! is where an app would read its configuration, open a database pool or load templates.
//!
//! ```sh
//! cargo build -p html
//! nsgi-gateway target/debug/libhtml.so   # then open http://127.0.0.1:8000/ in a browser
//! ```

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

/// A small, complete HTML5 document. `include_str!` could load it from a file next to the
/// source instead; either way it is baked into the library and sent without copying.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Hello, World!</title>
</head>
<body>
  <h1>Hello, World!</h1>
  <p>This page was served by an NSGI app: a compiled library that a gateway loaded and called
  through the Native Server Gateway Interface, the PEP 3333 (WSGI) contract for native code.
  The app received the request's environ, started the response with a status and headers, and
  returned this page as its body.</p>
</body>
</html>
"#;

/// The app's state: prepared once in `init`, read by every request.
struct Html {
    /// The page's length as the decimal text the `Content-Length` header needs.
    content_length: String,
}

impl App for Html {
    const NAME: &'static str = "html";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        // Formatting the length once here saves a small allocation on every request.
        Ok(Html {
            content_length: PAGE.len().to_string(),
        })
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let started = start.start(
            "200 OK",
            &[
                // `charset=utf-8` tells the browser how to decode the bytes.
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", &self.content_length),
            ],
        )?;
        // A `&'static str` converts into a body that lends the bytes without copying them.
        Ok(started.body(PAGE))
    }
}

nsgi::export_app!(Html);
