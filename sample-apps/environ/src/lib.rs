//! `environ`: shows the request's environ, the way the classic WSGI tutorials do.
//!
//! Every WSGI tutorial has this step: print the `environ` dictionary to see what a request
//! looks like from inside the app. In Python:
//!
//! ```python
//! def application(environ, start_response):
//!     lines = [f"{key}={value}\n" for key, value in sorted(environ.items())]
//!     start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
//!     return ["".join(lines).encode()]
//! ```
//!
//! In NSGI the environ has two parts: the CGI variables (`REQUEST_METHOD`, `PATH_INFO`,
//! `HTTP_USER_AGENT`, ...), which are byte strings the app walks with [`Request::vars`], and
//! the `wsgi.*` entries, which are typed fields or host functions rather than strings
//! (`wsgi.input` is [`Request::input`], `wsgi.url_scheme` is [`Request::url_scheme`], ...).
//! This app prints both, as sorted `KEY=value` lines:
//!
//! ```text
//! $ curl 'http://127.0.0.1:8000/some/path?x=1'
//! HTTP_ACCEPT=*/*
//! HTTP_HOST=127.0.0.1:8000
//! HTTP_USER_AGENT=curl/8.5.0
//! PATH_INFO=/some/path
//! QUERY_STRING=x=1
//! ...
//! wsgi.multiprocess=false
//! wsgi.multithread=true
//! wsgi.run_once=false
//! wsgi.url_scheme=http
//! wsgi.version=1.0
//! ```

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};

struct Environ;

impl App for Environ {
    const NAME: &'static str = "environ";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Environ)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        // One entry per CGI variable. The names and values are raw bytes: a header may carry
        // bytes that are not UTF-8, so they are decoded lossily (invalid bytes become U+FFFD)
        // for display.
        let mut entries: Vec<(String, String)> = req
            .vars()
            .map(|(name, value)| {
                let name = String::from_utf8_lossy(name).into_owned();
                (name, String::from_utf8_lossy(value).into_owned())
            })
            .collect();

        // The `wsgi.*` entries. `wsgi.version` is the NSGI ABI version the host speaks.
        let (major, minor) = req.host().abi_version();
        let flag = |on: bool| if on { "true" } else { "false" }.to_owned();
        entries.push(("wsgi.multiprocess".into(), flag(req.multiprocess())));
        entries.push(("wsgi.multithread".into(), flag(req.multithread())));
        entries.push(("wsgi.run_once".into(), flag(req.run_once())));
        entries.push(("wsgi.url_scheme".into(), req.url_scheme().to_owned()));
        entries.push(("wsgi.version".into(), format!("{major}.{minor}")));

        // Sorted by key, byte-wise: the uppercase CGI names come before the lowercase `wsgi.*`.
        entries.sort_unstable();
        let mut body = String::new();
        for (key, value) in &entries {
            body.push_str(key);
            body.push('=');
            body.push_str(value);
            body.push('\n');
        }

        let content_length = body.len().to_string();
        let started = start.start(
            "200 OK",
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &content_length),
            ],
        )?;
        // A `String` becomes the body as it is: the SDK takes ownership, no copy.
        Ok(started.body(body))
    }
}

nsgi::export_app!(Environ);
