//! The built-in welcome app, served when no app library is given.
//!
//! A real NSGI app written with the `nsgi::app` SDK and linked into the gateway binary: the host
//! drives it through the same descriptor and ABI as a loaded library (it is only found through
//! [`descriptor`] instead of `dlsym`), so `cargo run --release` on a fresh clone exercises the
//! whole path. It must stay free of gateway internals.

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
use nsgi::sys::nsgi_app_descriptor;

/// The welcome page.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>NSGI gateway: it works</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; }
code, pre { background: #f3f3f3; border-radius: 4px; }
pre { padding: .75rem 1rem; overflow-x: auto; }
</style>
</head>
<body>
<h1>It works.</h1>
<p>This page comes from the welcome app built into <code>nsgi-gateway</code>. It is an NSGI app like
any other: the gateway called it through the NSGI ABI, the way it calls an app library.</p>
<h2>Serve your own app</h2>
<p>Build a sample app and hand its library to the gateway:</p>
<pre>cargo build --release -p hello
cargo run --release -- target/release/libhello.so</pre>
<p>Other samples: <code>html</code>, <code>environ</code>, <code>echo</code>, and <code>hello-c</code>, written in C
against <code>abi/include/nsgi.h</code>. The tutorial in <code>docs/tutorial.md</code> shows how to write one.</p>
</body>
</html>
"#;

/// The welcome app.
pub(crate) struct Welcome;

impl App for Welcome {
    const NAME: &'static str = "welcome";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Welcome)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        if req.path_info() != "/" {
            let started = start.start("404 Not Found", &[("Content-Type", "text/plain; charset=utf-8")])?;
            return Ok(started.body("Not found. The welcome page is at /.\n"));
        }
        let length = PAGE.len().to_string();
        let started = start.start(
            "200 OK",
            &[
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", length.as_str()),
            ],
        )?;
        Ok(started.body(PAGE))
    }
}

/// The welcome app's descriptor, checked and driven by the host like a loaded library's.
pub(crate) fn descriptor() -> &'static nsgi_app_descriptor {
    nsgi::app_descriptor!(Welcome)
}
