//! End-to-end tests of the app SDK through the raw ABI.
//!
//! Test apps are turned into descriptors with `nsgi::app_descriptor!` and driven exactly as a
//! host drives a loaded library: `init`, `call`, `next` until `NSGI_DONE`, `close`, `shutdown`.
//! The host is the shared fake `nsgi_host_api` (`nsgi_testkit::fake_host`) whose `extern "C"`
//! functions record what the app did into per-test objects (`host_data` and the opaque request
//! pointer point at them), so tests running in parallel never share state. Thread-locals record what the apps observe; every
//! call runs on the test's own thread.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::io::{self, BufRead, Read, Write};
use std::ptr;

use nsgi::app::{App, Body, Error, Host, InitArgs, Level, Request, Response, StartResponse};
use nsgi::sys::*;
use nsgi_testkit::fake_host::{FakeRequest, FakeTable as Fake, Phase, bytes};

// ---------------------------------------------------------------------------------------------
// The fake host: the shared one (`nsgi_testkit::fake_host`).

fn text(b: nsgi_bytes) -> String {
    String::from_utf8(bytes(b)).expect("UTF-8 from the app")
}

/// Owned init arguments.
struct Args {
    mount: Vec<u8>,
    script: Vec<u8>,
    config: Vec<u8>,
    _options: Vec<(Vec<u8>, Vec<u8>)>,
    headers: Vec<nsgi_header>,
    flags: u32,
}

impl Args {
    fn new(options: &[(&str, &str)]) -> Args {
        let options: Vec<(Vec<u8>, Vec<u8>)> = options
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let headers = options
            .iter()
            .map(|(k, v)| nsgi_header {
                name: nsgi_bytes::from_slice(k),
                value: nsgi_bytes::from_slice(v),
            })
            .collect();
        Args {
            mount: b"main".to_vec(),
            script: b"/app".to_vec(),
            config: br#"{"answer": 42}"#.to_vec(),
            _options: options,
            headers,
            flags: NSGI_ENV_MULTITHREAD,
        }
    }

    fn raw(&self) -> nsgi_init_args {
        nsgi_init_args {
            struct_size: NSGI_INIT_ARGS_V1_0_SIZE,
            flags: self.flags,
            mount_name: nsgi_bytes::from_slice(&self.mount),
            script_name: nsgi_bytes::from_slice(&self.script),
            config: nsgi_bytes::from_slice(&self.config),
            options: self.headers.as_ptr(),
            n_options: self.headers.len(),
            max_concurrency: 8,
        }
    }
}

/// An owned environ.
struct Env {
    _vars: Vec<(Vec<u8>, Vec<u8>)>,
    headers: Vec<nsgi_header>,
    content_length: u64,
}

impl Env {
    fn new(vars: &[(&str, &str)]) -> Env {
        let vars: Vec<(Vec<u8>, Vec<u8>)> = vars
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        let headers = vars
            .iter()
            .map(|(k, v)| nsgi_header {
                name: nsgi_bytes::from_slice(k),
                value: nsgi_bytes::from_slice(v),
            })
            .collect();
        Env {
            _vars: vars,
            headers,
            content_length: NSGI_NO_LENGTH,
        }
    }

    fn get(method: &str, path: &str) -> Env {
        Env::new(&[
            ("REQUEST_METHOD", method),
            ("SCRIPT_NAME", ""),
            ("PATH_INFO", path),
            ("QUERY_STRING", ""),
            ("SERVER_NAME", "localhost"),
            ("SERVER_PORT", "8080"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "127.0.0.1"),
        ])
    }

    fn raw(&self) -> nsgi_environ {
        nsgi_environ {
            struct_size: NSGI_ENVIRON_V1_0_SIZE,
            flags: NSGI_ENV_MULTITHREAD | NSGI_ENV_MULTIPROCESS,
            vars: self.headers.as_ptr(),
            n_vars: self.headers.len(),
            url_scheme: nsgi_bytes::from_slice(b"https"),
            content_length: self.content_length,
        }
    }
}

/// A running app instance behind a descriptor.
struct Instance<'f> {
    desc: &'static nsgi_app_descriptor,
    app: *mut c_void,
    fake: &'f Fake,
}

fn init(desc: &'static nsgi_app_descriptor, fake: &Fake, args: &Args) -> (nsgi_status, *mut c_void) {
    let raw = args.raw();
    let mut app = ptr::null_mut();
    let init = desc.init.expect("init");
    // SAFETY: the fake host table and the arguments are valid for the call.
    let status = unsafe { init(fake.api(), &raw, &mut app) };
    (status, app)
}

impl<'f> Instance<'f> {
    fn start(desc: &'static nsgi_app_descriptor, fake: &'f Fake) -> Instance<'f> {
        let (status, app) = init(desc, fake, &Args::new(&[]));
        assert_eq!(status, NSGI_OK, "init failed: {}", fake.log_text());
        assert!(!app.is_null());
        Instance { desc, app, fake }
    }

    /// `call`; the body (if any) is returned raw.
    fn call(&self, req: &mut FakeRequest, env: &Env) -> (nsgi_status, nsgi_body) {
        let raw_env = env.raw();
        // Garbage the SDK must overwrite (with NULL when the call fails).
        let mut body = nsgi_body {
            vtable: ptr::dangling(),
            state: ptr::null_mut(),
        };
        let call = self.desc.call.expect("call");
        // SAFETY: a live instance; `req` and the environ outlive the call and the body.
        let status = unsafe { call(self.app, (req as *mut FakeRequest).cast(), &raw_env, &mut body) };
        (status, body)
    }

    /// `call`, then `next` until the end, then `close`: (final status, body bytes).
    fn request(&self, req: &mut FakeRequest, env: &Env) -> (nsgi_status, Vec<u8>) {
        let (status, body) = self.call(req, env);
        if status != NSGI_OK {
            assert!(body.vtable.is_null(), "a failed call must leave body_out->vtable NULL");
            return (status, Vec::new());
        }
        let (status, chunks) = drain(body, req);
        (status, chunks)
    }

    fn shutdown(self) {
        if let Some(shutdown) = self.desc.shutdown {
            // SAFETY: the instance is live and nothing uses it afterwards.
            unsafe { shutdown(self.app) };
        }
        let _ = self.fake;
    }
}

/// Pulls every chunk, then closes: (the status that ended the loop, the bytes).
fn drain(body: nsgi_body, req: &mut FakeRequest) -> (nsgi_status, Vec<u8>) {
    // SAFETY: a body from a successful call; its vtable is static.
    let vtable = unsafe { &*body.vtable };
    assert_eq!(vtable.struct_size, NSGI_BODY_VTABLE_V1_0_SIZE);
    let next = vtable.next.expect("next");
    let close = vtable.close.expect("close");
    let mut out = Vec::new();
    let status = loop {
        let mut chunk = nsgi_bytes::EMPTY;
        let before = req.phase;
        req.phase = Phase::Next;
        // SAFETY: the body is live and not closed.
        let status = unsafe { next(body.state, req.handle(), &mut chunk) };
        req.phase = before;
        if status != NSGI_OK {
            break status;
        }
        out.extend(bytes(chunk));
    };
    // SAFETY: closed exactly once.
    unsafe { close(body.state, req.handle()) };
    (status, out)
}

// ---------------------------------------------------------------------------------------------
// The test apps.

thread_local! {
    static CLOSED: Cell<usize> = const { Cell::new(0) };
    static CLOSE_ORDER: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    static SHUT_DOWN: Cell<usize> = const { Cell::new(0) };
    static INIT_SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static KEPT_HOST: RefCell<Option<Host>> = const { RefCell::new(None) };
}

/// The hello body, a static the test can compare addresses with.
static HELLO: &[u8] = b"Hello, World!";

fn count_close() {
    CLOSED.with(|c| c.set(c.get() + 1));
}

/// An iterator that panics on its second item.
struct PanicsSecond(usize);

impl Iterator for PanicsSecond {
    type Item = &'static str;
    fn next(&mut self) -> Option<&'static str> {
        self.0 += 1;
        if self.0 == 2 {
            panic!("body iterator exploded");
        }
        Some("first ")
    }
}

struct Tester {
    greeting: String,
}

impl App for Tester {
    const NAME: &'static str = "tester";

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        if args.option("fail").is_some() {
            return Err(io::Error::other("the database is unreachable").into());
        }
        if args.option("panic").is_some() {
            panic!("init exploded");
        }
        let greeting = String::from_utf8(args.option("greeting").unwrap_or(b"Hello").to_vec())?;
        Ok(Tester { greeting })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let plain = [("Content-Type", "text/plain")];
        match req.path_info() {
            "/hello" => {
                let started = start.start(
                    "200 OK",
                    &[("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "13")],
                )?;
                Ok(started.body(Body::from_static(HELLO)))
            }
            "/greet" => Ok(start.start("200 OK", &plain)?.body(format!("{}!", self.greeting))),
            "/write" => {
                let mut started = start.start("200 OK", &plain)?;
                started.write(b"written, ")?;
                write!(started, "formatted {}, ", 7)?;
                Ok(started.body(Body::from_chunks(vec!["and ", "", "returned"])))
            }
            "/input" => {
                let input = req.input();
                let mut first = String::new();
                input.read_line(&mut first)?;
                let mut limited = Vec::new();
                input.readline(&mut limited, 4)?;
                let mut rest_of_line = Vec::new();
                input.readline(&mut rest_of_line, 100)?;
                let mut exact = [0u8; 3];
                input.read_exact(&mut exact)?;
                let mut rest = Vec::new();
                input.read_to_end(&mut rest)?;
                let mut after = Vec::new();
                let at_end = input.read_to_end(&mut after)? == 0 && input.fill_buf()?.is_empty();
                let report = format!(
                    "first={first:?} limited={:?} line={:?} exact={:?} rest={} at_end={at_end}",
                    String::from_utf8_lossy(&limited),
                    String::from_utf8_lossy(&rest_of_line),
                    String::from_utf8_lossy(&exact),
                    rest.len(),
                );
                Ok(start.start("200 OK", &plain)?.body(report))
            }
            "/slurp" => {
                let mut all = Vec::new();
                req.input().read_to_end(&mut all)?;
                Ok(start.start("200 OK", &plain)?.body(all))
            }
            "/errors" => {
                let mut errors = req.errors();
                writeln!(errors, "trouble on {}", req.path_info())?;
                errors.flush()?;
                req.log(Level::Warn, "logged with the request");
                Ok(start.start("204 No Content", &[])?.finish())
            }
            "/environ" => {
                let report = format!(
                    "{} {} q={} name={} port={} proto={} remote={} scheme={} type={:?} len={:?} \
                     ua={:?} ct={:?} cl={:?} mt={} mp={} once={} n={} missing={:?}",
                    req.method(),
                    req.path_info(),
                    req.query_string(),
                    req.server_name(),
                    req.server_port(),
                    req.server_protocol(),
                    req.remote_addr(),
                    req.url_scheme(),
                    req.content_type(),
                    req.content_length(),
                    req.header("user-agent").map(String::from_utf8_lossy),
                    req.header("Content-Type").map(String::from_utf8_lossy),
                    req.header("Content-Length").map(String::from_utf8_lossy),
                    req.multithread(),
                    req.multiprocess(),
                    req.run_once(),
                    req.vars().count(),
                    req.var("HTTP_X_ABSENT"),
                );
                Ok(start.start("200 OK", &plain)?.body(report))
            }
            "/non-utf8" => {
                let report = format!(
                    "str={:?} bytes={:?} script={:?}",
                    req.path_info(),
                    req.var("PATH_INFO"),
                    req.script_name()
                );
                Ok(start.start("200 OK", &plain)?.body(report))
            }
            "/panic" => panic!("call exploded"),
            "/panic-body" => {
                let body = Body::from_chunks(PanicsSecond(0)).on_close(count_close);
                Ok(start.start("200 OK", &plain)?.body(body))
            }
            "/results-err" => {
                let chunks: Vec<Result<&'static str, io::Error>> = vec![
                    Ok("partial "),
                    Err(io::Error::other("the database went away")),
                    Ok("never"),
                ];
                Ok(start.start("200 OK", &plain)?.body(Body::from_results(chunks)))
            }
            "/results-ok" => {
                let chunks = vec![Ok::<_, Error>(b"a".to_vec()), Ok(b"b".to_vec())];
                Ok(start.start("200 OK", &plain)?.body(Body::from_results(chunks)))
            }
            "/reader" => {
                let body = Body::from_reader(io::Cursor::new(vec![7u8; 150_000]));
                Ok(start.start("200 OK", &plain)?.body(body))
            }
            "/on-close" => {
                let body = Body::from(String::from("closing"))
                    .on_close(|| CLOSE_ORDER.with(|o| o.borrow_mut().push("first")))
                    .on_close(|| CLOSE_ORDER.with(|o| o.borrow_mut().push("second")))
                    .on_close(count_close);
                Ok(start.start("200 OK", &plain)?.body(body))
            }
            "/exc-before" => {
                let started = start.start("200 OK", &plain)?;
                let failure = io::Error::other("rendering failed");
                let started = started.replace_after_error(
                    "500 Internal Server Error",
                    &[("Content-Type", "text/html")],
                    &failure,
                )?;
                Ok(started.body("<h1>error</h1>"))
            }
            "/exc-after" => {
                let mut started = start.start("200 OK", &plain)?;
                started.write(b"partial")?;
                let failure = io::Error::other("rendering failed late");
                match started.replace_after_error("500 Internal Server Error", &plain, &failure) {
                    Ok(_) => Err("the host accepted a replacement after the headers went out".into()),
                    Err(e) => {
                        assert!(e.is_headers_sent());
                        assert_eq!(e.code(), NSGI_E_HEADERS_SENT);
                        Err(e.into())
                    }
                }
            }
            "/bad-status" => Ok(start.start("OK", &plain)?.finish()),
            "/bad-header" => Ok(start.start("200 OK", &[("Bad Name", "x")])?.finish()),
            "/fail" => Err("no such widget".into()),
            "/dropped-body" => {
                // A body built and then dropped (never handed to the host) is closed too.
                drop(Body::from("unused").on_close(count_close));
                Ok(start.start("204 No Content", &[])?.finish())
            }
            "/body-fails" => Ok(start.lazily(|later| {
                let chunks = vec![Ok("half "), Err(io::Error::other("the disk went away"))];
                Ok(later.start("200 OK", &[])?.body(Body::from_results(chunks)))
            })),
            "/respond" => Ok(start.respond("200 OK", &plain, format!("{} bytes", 7))?),
            "/respond-chunks" => Ok(start.respond("200 OK", &plain, Body::from_chunks(["a", "b"]))?),
            "/respond-twice-length" => {
                let e = start
                    .respond("200 OK", &[("content-length", "2")], "ok")
                    .expect_err("respond refuses a Content-Length of the app's own");
                Err(e.into())
            }
            "/file" => {
                // This fake host has no `file_body`: the SDK reads the file itself.
                let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                let body = req.file_range_body(&file, 1, 9)?.on_close(count_close);
                Ok(start.respond("200 OK", &plain, body)?)
            }
            "/file-whole" => {
                let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                let body = req.file_body(&file)?;
                Ok(start.respond("200 OK", &plain, body)?)
            }
            "/file-owned" => {
                // The app's own size, the file handed over: no second look at the file.
                let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                let size = file.metadata()?.len();
                let body = req.owned_file_range_body(file, size, 1, 9)?;
                Ok(start.respond("200 OK", &plain, body)?)
            }
            "/file-owned-past-end" => {
                let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                let size = file.metadata()?.len();
                Err(req
                    .owned_file_range_body(file, size, size, 1)
                    .expect_err("past the end")
                    .into())
            }
            "/file-past-end" => {
                let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))?;
                let len = file.metadata()?.len();
                Err(req.file_range_body(&file, len, 1).expect_err("past the end").into())
            }
            "/redirect" => Ok(start.redirect(
                nsgi::app::Redirect::SeeOther,
                "/next?a=1&b=<2>",
                &[("Set-Cookie", "s=1")],
            )?),
            "/form" => {
                let form = match req.read_form_with_limit(32) {
                    Ok(form) => form,
                    Err(e) => return Ok(start.respond(e.status(), &plain, e.to_string())?),
                };
                let text = format!("{:?} {:?}", form.get("a")?, form.get_all("t")?);
                Ok(start.respond("200 OK", &plain, text)?)
            }
            "/form-unlimited" => {
                let form = req.read_form_with_limit(usize::MAX)?;
                Ok(start.respond("200 OK", &plain, format!("{:?}", form.get("a")?))?)
            }
            "/cookies" => {
                let cookies = req.cookies();
                let text = format!("{:?} {:?}", cookies.get("sid"), cookies.iter().count());
                Ok(start.respond("200 OK", &plain, text)?)
            }
            _ => Ok(start.start("404 Not Found", &plain)?.body("not found")),
        }
    }

    fn shutdown(&self) {
        SHUT_DOWN.with(|s| s.set(s.get() + 1));
    }
}

/// Records what `init` sees.
struct InitProbe;

impl App for InitProbe {
    const THREAD_SAFE: bool = false;

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        let options: Vec<String> = args
            .options()
            .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(k), String::from_utf8_lossy(v)))
            .collect();
        let seen = vec![
            args.mount_name().to_owned(),
            args.script_name().to_owned(),
            String::from_utf8_lossy(args.config()).into_owned(),
            options.join(","),
            format!("{:?}", args.option("b").map(|v| v.to_vec())),
            format!("{:?}", args.option("zzz")),
            args.max_concurrency().to_string(),
            format!("{} {}", args.multithread(), args.multiprocess()),
            format!("{:?}", args.host().abi_version()),
        ];
        INIT_SEEN.with(|s| *s.borrow_mut() = seen);
        args.host().log(Level::Info, "probe initialised");
        KEPT_HOST.with(|k| *k.borrow_mut() = Some(args.host().clone()));
        Ok(InitProbe)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        Ok(start.start("204 No Content", &[])?.finish())
    }
}

/// Panics in `shutdown`.
struct ShutdownPanics;

impl App for ShutdownPanics {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(ShutdownPanics)
    }

    fn call(&self, _req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        Ok(start.start("204 No Content", &[])?.finish())
    }

    fn shutdown(&self) {
        panic!("shutdown exploded");
    }
}

fn tester() -> &'static nsgi_app_descriptor {
    nsgi::app_descriptor!(Tester)
}

fn logged(fake: &Fake, level: i32, needle: &str) -> bool {
    fake.logs().iter().any(|(l, _, m)| *l == level && m.contains(needle))
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn handshake_fields() {
    let d = tester();
    assert_eq!(d.magic, NSGI_APP_MAGIC);
    assert_eq!(d.abi_major, NSGI_ABI_MAJOR);
    assert_eq!(d.abi_minor, NSGI_ABI_MINOR);
    assert_eq!(d.struct_size, NSGI_APP_DESCRIPTOR_V1_0_SIZE);
    assert_eq!(d.flags & NSGI_APP_THREAD_SAFE, NSGI_APP_THREAD_SAFE);
    assert_eq!(d.flags & NSGI_APP_PANIC_ABORT, 0, "tests are built with panic=unwind");
    assert_eq!(text(d.name), "tester");
    let sdk = text(d.sdk_info);
    assert!(sdk.starts_with("nsgi-sdk/") && sdk.ends_with("(Rust)"), "{sdk}");
    assert!(d.init.is_some() && d.call.is_some() && d.shutdown.is_some());

    // The same descriptor every time: it is a static.
    assert!(ptr::eq(tester(), tester()));

    // An app without NAME is named after the crate invoking the macro; THREAD_SAFE = false
    // clears the flag.
    let probe = nsgi::app_descriptor!(InitProbe);
    assert_eq!(text(probe.name), "nsgi-sdk");
    assert_eq!(probe.flags & NSGI_APP_THREAD_SAFE, 0);
}

#[test]
fn hello_body_via_next_and_close() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/hello"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, b"Hello, World!");
    assert_eq!(req.status.as_deref(), Some("200 OK"));
    assert_eq!(
        req.headers,
        [
            ("Content-Type".to_owned(), "text/plain; charset=utf-8".to_owned()),
            ("Content-Length".to_owned(), "13".to_owned())
        ]
    );
    assert_eq!(req.start_calls, 1);
    app.shutdown();
}

#[test]
fn static_body_is_lent_not_copied() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/hello"));
    assert_eq!(status, NSGI_OK);
    // SAFETY: a body from a successful call.
    let vtable = unsafe { &*body.vtable };
    let mut chunk = nsgi_bytes::EMPTY;
    let req_ptr: *mut nsgi_request = (&mut req as *mut FakeRequest).cast();
    // SAFETY: the body is live.
    assert_eq!(
        unsafe { vtable.next.expect("next")(body.state, req_ptr, &mut chunk) },
        NSGI_OK
    );
    // The chunk points into the app's static data, not into a copy.
    assert_eq!(bytes(chunk), HELLO);
    assert!(ptr::eq(chunk.ptr, HELLO.as_ptr()));
    // SAFETY: still live; closed once.
    unsafe {
        assert_eq!(vtable.next.expect("next")(body.state, req_ptr, &mut chunk), NSGI_DONE);
        assert_eq!(vtable.next.expect("next")(body.state, req_ptr, &mut chunk), NSGI_DONE);
        vtable.close.expect("close")(body.state, req_ptr);
    }
    app.shutdown();
}

#[test]
fn write_then_body() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/write"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(req.written, b"written, formatted 7, ");
    assert_eq!(body, b"and returned");
    assert!(req.headers_sent);
    app.shutdown();
}

#[test]
fn input_read_readline_and_read_to_end() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut tail = vec![b'x'; 20_000];
    tail.push(b'\n');
    let mut input = b"first line\nabcdefgh\nXYZ".to_vec();
    input.extend(&tail);
    for max_read in [0, 5, 1] {
        let mut req = FakeRequest {
            input: input.clone(),
            max_read,
            ..FakeRequest::default()
        };
        let (status, body) = app.request(&mut req, &Env::get("POST", "/input"));
        assert_eq!(status, NSGI_DONE, "{}", fake.log_text());
        assert_eq!(
            String::from_utf8(body).expect("UTF-8"),
            format!(
                "first=\"first line\\n\" limited=\"abcd\" line=\"efgh\\n\" exact=\"XYZ\" rest={} \
                 at_end=true",
                tail.len()
            ),
            "max_read={max_read}"
        );
    }
    app.shutdown();
}

#[test]
fn read_to_end_uses_content_length_and_large_reads() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let input: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut env = Env::get("POST", "/slurp");
    env.content_length = input.len() as u64;
    let mut req = FakeRequest {
        input: input.clone(),
        ..FakeRequest::default()
    };
    let (status, body) = app.request(&mut req, &env);
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, input);
    // Preallocated from Content-Length and read in 64 KiB blocks, plus one read to see the end.
    let blocks = input.len().div_ceil(64 * 1024);
    assert_eq!(req.input_calls, blocks + 1);

    // Without a Content-Length (chunked), it still reads everything.
    let mut req = FakeRequest {
        input: input.clone(),
        ..FakeRequest::default()
    };
    let (_, body) = app.request(&mut req, &Env::get("POST", "/slurp"));
    assert_eq!(body, input);

    // An empty body.
    let mut req = FakeRequest::default();
    let (_, body) = app.request(&mut req, &Env::get("POST", "/slurp"));
    assert!(body.is_empty());
    app.shutdown();
}

#[test]
fn errors_write_and_request_log() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/errors"));
    assert_eq!(status, NSGI_DONE);
    assert!(body.is_empty());
    assert_eq!(req.errors, b"trouble on /errors\n");
    assert_eq!(req.flushes, 1);
    assert_eq!(req.status.as_deref(), Some("204 No Content"));
    let logs = fake.logs();
    assert!(
        logs.contains(&(NSGI_LOG_WARN, true, "logged with the request".to_owned())),
        "{logs:?}"
    );
    app.shutdown();
}

#[test]
fn environ_accessors() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut env = Env::new(&[
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/environ"),
        ("QUERY_STRING", "a=1&b=2"),
        ("SERVER_NAME", "example.org"),
        ("SERVER_PORT", "443"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "10.0.0.7"),
        ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", "2"),
        ("HTTP_USER_AGENT", "curl/8.5"),
    ]);
    env.content_length = 2;
    let mut req = FakeRequest::default();
    let (_, body) = app.request(&mut req, &env);
    assert_eq!(
        String::from_utf8(body).expect("UTF-8"),
        "POST /environ q=a=1&b=2 name=example.org port=443 proto=HTTP/1.1 remote=10.0.0.7 \
         scheme=https type=\"application/json\" len=Some(2) ua=Some(\"curl/8.5\") \
         ct=Some(\"application/json\") cl=Some(\"2\") mt=true mp=true once=false n=11 missing=None"
    );
    app.shutdown();
}

#[test]
fn non_utf8_path_has_a_bytes_variant() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let name = b"PATH_INFO".to_vec();
    let value = b"/non-utf8".to_vec();
    // Valid path for routing, but an extra variable check through var(): build an environ
    // whose SCRIPT_NAME is not UTF-8 and whose PATH_INFO is.
    let script_name = b"SCRIPT_NAME".to_vec();
    let script_value = vec![b'/', 0xff, 0xfe];
    let headers = [
        nsgi_header {
            name: nsgi_bytes::from_slice(&name),
            value: nsgi_bytes::from_slice(&value),
        },
        nsgi_header {
            name: nsgi_bytes::from_slice(&script_name),
            value: nsgi_bytes::from_slice(&script_value),
        },
        // A (NULL, 0) value is an empty string, not a crash.
        nsgi_header {
            name: nsgi_bytes::from_slice(b"QUERY_STRING"),
            value: nsgi_bytes::EMPTY,
        },
    ];
    let raw_env = nsgi_environ {
        struct_size: NSGI_ENVIRON_V1_0_SIZE,
        flags: 0,
        vars: headers.as_ptr(),
        n_vars: headers.len(),
        url_scheme: nsgi_bytes::EMPTY,
        content_length: NSGI_NO_LENGTH,
    };
    let mut req = FakeRequest::default();
    let mut body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    // SAFETY: valid instance, request and environ.
    let status =
        unsafe { app.desc.call.expect("call")(app.app, (&mut req as *mut FakeRequest).cast(), &raw_env, &mut body) };
    assert_eq!(status, NSGI_OK);
    let (_, out) = drain(body, &mut req);
    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        "str=\"/non-utf8\" bytes=Some([47, 110, 111, 110, 45, 117, 116, 102, 56]) script=\"\""
    );
    app.shutdown();
}

#[test]
fn panic_in_call_is_caught_logged_and_the_app_is_replaced_by_a_fresh_one() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/panic"));
    assert_eq!(status, NSGI_E_PANIC);
    assert!(logged(&fake, NSGI_LOG_ERROR, "call exploded"), "{}", fake.log_text());
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "initialised a fresh instance"),
        "{}",
        fake.log_text()
    );
    // A fresh app value (App::init ran again) serves the next requests.
    for _ in 0..3 {
        let mut req = FakeRequest::default();
        let (status, body) = app.request(&mut req, &Env::get("GET", "/hello"));
        assert_eq!((status, body.as_slice()), (NSGI_DONE, HELLO));
    }
    // Shutdown runs the fresh value's hook once; the panicked value is left untouched.
    let before = SHUT_DOWN.with(Cell::get);
    app.shutdown();
    assert_eq!(SHUT_DOWN.with(Cell::get), before + 1);
}

#[test]
fn panic_in_next_poisons_the_body_and_close_is_a_no_op() {
    CLOSED.with(|c| c.set(0));
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/panic-body"));
    assert_eq!(status, NSGI_OK);
    // SAFETY: a live body.
    let vtable = unsafe { &*body.vtable };
    let next = vtable.next.expect("next");
    let req_ptr: *mut nsgi_request = (&mut req as *mut FakeRequest).cast();
    let mut chunk = nsgi_bytes::EMPTY;
    // SAFETY: the body is live and not closed.
    unsafe {
        assert_eq!(next(body.state, req_ptr, &mut chunk), NSGI_OK);
        assert_eq!(bytes(chunk), b"first ");
        assert_eq!(next(body.state, req_ptr, &mut chunk), NSGI_E_PANIC);
        assert!(chunk.ptr.is_null() && chunk.len == 0);
        // Poisoned: it stays failed, and close does nothing (no on_close hook runs).
        assert_eq!(next(body.state, req_ptr, &mut chunk), NSGI_E_PANIC);
        vtable.close.expect("close")(body.state, req_ptr);
    }
    assert_eq!(CLOSED.with(Cell::get), 0);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "body iterator exploded"),
        "{}",
        fake.log_text()
    );
    // The app itself is not poisoned by a body's panic.
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/hello")).0, NSGI_DONE);
    app.shutdown();
}

#[test]
fn from_results_err_fails_the_body() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/results-err"));
    assert_eq!(status, NSGI_E_APP);
    assert_eq!(body, b"partial ");
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "the database went away"),
        "{}",
        fake.log_text()
    );

    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/results-ok"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"ab"[..]));
    app.shutdown();
}

#[test]
fn reader_body_reads_in_blocks() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/reader"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, vec![7u8; 150_000]);
    app.shutdown();
}

#[test]
fn on_close_runs_exactly_once_in_order() {
    CLOSED.with(|c| c.set(0));
    CLOSE_ORDER.with(|o| o.borrow_mut().clear());
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/on-close"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"closing"[..]));
    assert_eq!(CLOSED.with(Cell::get), 1);
    assert_eq!(CLOSE_ORDER.with(|o| o.borrow().clone()), ["first", "second"]);

    // Closed without being iterated (client gone): the hooks still run once.
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/on-close"));
    assert_eq!(status, NSGI_OK);
    // SAFETY: a live body, closed once.
    unsafe { (*body.vtable).close.expect("close")(body.state, (&mut req as *mut FakeRequest).cast()) };
    assert_eq!(CLOSED.with(Cell::get), 2);

    // A body the app dropped itself is closed as well.
    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/dropped-body"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(CLOSED.with(Cell::get), 3);
    app.shutdown();
}

#[test]
fn exc_info_replaces_before_headers_are_sent() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/exc-before"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, b"<h1>error</h1>");
    assert_eq!(req.status.as_deref(), Some("500 Internal Server Error"));
    assert_eq!(req.headers, [("Content-Type".to_owned(), "text/html".to_owned())]);
    assert_eq!(req.start_calls, 2);
    assert_eq!(req.exc_info.len(), 1);
    let (type_name, message) = &req.exc_info[0];
    assert!(type_name.contains("io::error::Error"), "{type_name}");
    assert_eq!(message, "rendering failed");
    app.shutdown();
}

#[test]
fn exc_info_after_headers_sent_fails_the_call() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/exc-after"));
    assert_eq!(status, NSGI_E_APP);
    assert_eq!(req.status.as_deref(), Some("200 OK"));
    assert_eq!(req.exc_info.len(), 1);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "NSGI_E_HEADERS_SENT"),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn refused_start_response_names_the_problem() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/bad-status")).0, NSGI_E_APP);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "status line \"OK\" is not of the form"),
        "{}",
        fake.log_text()
    );
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/bad-header")).0, NSGI_E_APP);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "\"Bad Name\" is not an HTTP token"),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn call_error_is_logged_with_no_body() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/fail"));
    assert_eq!(status, NSGI_E_APP);
    assert!(body.vtable.is_null());
    let logs = fake.logs();
    assert!(
        logs.iter()
            .any(|(l, with_req, m)| *l == NSGI_LOG_ERROR && *with_req && m.contains("no such widget")),
        "{logs:?}"
    );
    // An error is not a panic: the app keeps serving.
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/hello")).0, NSGI_DONE);
    app.shutdown();
}

#[test]
fn init_args_accessors() {
    let fake = Fake::new();
    let args = Args::new(&[("a", "1"), ("b", "two")]);
    let (status, app) = init(nsgi::app_descriptor!(InitProbe), &fake, &args);
    assert_eq!(status, NSGI_OK);
    assert_eq!(
        INIT_SEEN.with(|s| s.borrow().clone()),
        [
            "main",
            "/app",
            r#"{"answer": 42}"#,
            "a=1,b=two",
            "Some([116, 119, 111])",
            "None",
            "8",
            "true false",
            "(1, 3)",
        ]
    );
    assert!(
        fake.logs()
            .contains(&(NSGI_LOG_INFO, false, "probe initialised".to_owned()))
    );
    let instance = Instance {
        desc: nsgi::app_descriptor!(InitProbe),
        app,
        fake: &fake,
    };
    instance.shutdown();

    // A Host handle kept past shutdown no longer reaches the (possibly freed) host table.
    let kept = KEPT_HOST.with(|k| k.borrow_mut().take()).expect("kept host");
    let before = fake.logs().len();
    kept.log(Level::Error, "too late");
    assert_eq!(fake.logs().len(), before);
}

#[test]
fn init_failure_is_logged_and_reported() {
    let fake = Fake::new();
    let (status, app) = init(tester(), &fake, &Args::new(&[("fail", "1")]));
    assert_eq!(status, NSGI_E_APP);
    assert!(app.is_null());
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "the database is unreachable"),
        "{}",
        fake.log_text()
    );

    let fake = Fake::new();
    let (status, app) = init(tester(), &fake, &Args::new(&[("panic", "1")]));
    assert_eq!(status, NSGI_E_PANIC);
    assert!(app.is_null());
    assert!(logged(&fake, NSGI_LOG_ERROR, "init exploded"), "{}", fake.log_text());

    // Non-UTF-8 option: the `?` in init turns the Utf8Error into an init failure.
    let fake = Fake::new();
    let mut args = Args::new(&[]);
    args._options = vec![(b"greeting".to_vec(), vec![0xff])];
    args.headers = args
        ._options
        .iter()
        .map(|(k, v)| nsgi_header {
            name: nsgi_bytes::from_slice(k),
            value: nsgi_bytes::from_slice(v),
        })
        .collect();
    let (status, _) = init(tester(), &fake, &args);
    assert_eq!(status, NSGI_E_APP);
    assert!(logged(&fake, NSGI_LOG_ERROR, "invalid utf-8"), "{}", fake.log_text());
}

#[test]
fn init_options_reach_the_app() {
    let fake = Fake::new();
    let (status, app) = init(tester(), &fake, &Args::new(&[("greeting", "Ahoy")]));
    assert_eq!(status, NSGI_OK);
    let app = Instance {
        desc: tester(),
        app,
        fake: &fake,
    };
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/greet")).1, b"Ahoy!");
    app.shutdown();
}

#[test]
fn shutdown_runs_once_and_survives_a_panic() {
    let before = SHUT_DOWN.with(Cell::get);
    let fake = Fake::new();
    Instance::start(tester(), &fake).shutdown();
    assert_eq!(SHUT_DOWN.with(Cell::get), before + 1);

    let fake = Fake::new();
    Instance::start(nsgi::app_descriptor!(ShutdownPanics), &fake).shutdown();
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "shutdown exploded"),
        "{}",
        fake.log_text()
    );
}

#[test]
fn bad_pointers_are_refused_not_dereferenced() {
    let d = tester();
    let fake = Fake::new();
    let owned_args = Args::new(&[]);
    let args = owned_args.raw();
    let mut app = ptr::null_mut();
    // SAFETY: NULL pointers must be refused without being dereferenced.
    unsafe {
        assert_eq!(d.init.expect("init")(ptr::null(), &args, &mut app), NSGI_E_INVAL);
        assert_eq!(d.init.expect("init")(fake.api(), &args, ptr::null_mut()), NSGI_E_INVAL);
        assert_eq!(d.init.expect("init")(fake.api(), ptr::null(), &mut app), NSGI_E_INVAL);
    }
    let instance = Instance::start(d, &fake);
    let owned_env = Env::get("GET", "/hello");
    let env = owned_env.raw();
    let mut req = FakeRequest::default();
    let req_ptr: *mut nsgi_request = (&mut req as *mut FakeRequest).cast();
    let mut body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    let call = d.call.expect("call");
    let small_env = nsgi_environ { struct_size: 8, ..env };
    // SAFETY: as above.
    unsafe {
        assert_eq!(call(instance.app, req_ptr, &env, ptr::null_mut()), NSGI_E_INVAL);
        assert_eq!(call(ptr::null_mut(), req_ptr, &env, &mut body), NSGI_E_INVAL);
        assert_eq!(call(instance.app, ptr::null_mut(), &env, &mut body), NSGI_E_INVAL);
        assert_eq!(call(instance.app, req_ptr, ptr::null(), &mut body), NSGI_E_INVAL);
        assert_eq!(call(instance.app, req_ptr, &small_env, &mut body), NSGI_E_INVAL);
        assert!(body.vtable.is_null());
        d.shutdown.expect("shutdown")(ptr::null_mut());
    }
    instance.shutdown();
}

#[test]
fn a_host_without_optional_functions_is_not_a_crash() {
    // An older, smaller host table that ends before `input_read`, and a NULL log.
    let fake = Fake::new();
    let mut small = *fake.api();
    small.struct_size = std::mem::offset_of!(nsgi_host_api, input_read) as u32;
    small.log = None;
    let small = Box::new(small);
    let owned_args = Args::new(&[]);
    let args = owned_args.raw();
    let mut app = ptr::null_mut();
    // SAFETY: a valid (if small) table.
    let status = unsafe { tester().init.expect("init")(&*small, &args, &mut app) };
    assert_eq!(status, NSGI_OK);
    let instance = Instance {
        desc: tester(),
        app,
        fake: &fake,
    };
    // start_response lies beyond the table: starting fails with E_UNSUPPORTED, reported as an
    // app error rather than a crash.
    let mut req = FakeRequest::default();
    assert_eq!(instance.request(&mut req, &Env::get("GET", "/hello")).0, NSGI_E_APP);
    assert!(req.status.is_none());
    instance.shutdown();
}

#[test]
fn sdk_types_have_the_right_auto_traits() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Body>();
    send::<Response>();
    send_sync::<Host>();
    send_sync::<Level>();
}

// ---------------------------------------------------------------------------------------------
// The helpers of `nsgi::app` (respond, file bodies, redirects, forms, cookies) through the ABI.

fn header<'r>(req: &'r FakeRequest, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn respond_adds_content_length_for_known_lengths_only() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/respond"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"7 bytes"[..]));
    assert_eq!(
        req.headers,
        [
            ("Content-Type".to_owned(), "text/plain".to_owned()),
            ("Content-Length".to_owned(), "7".to_owned())
        ]
    );

    let mut req = FakeRequest::default();
    let (_, body) = app.request(&mut req, &Env::get("GET", "/respond-chunks"));
    assert_eq!(body, b"ab");
    assert_eq!(header(&req, "Content-Length"), None, "an iterator's length is unknown");

    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/respond-twice-length"));
    assert_eq!(status, NSGI_E_APP);
    assert_eq!(req.start_calls, 0, "nothing reached the host");
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "remove the \"content-length\" header"),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn file_body_without_host_support_reads_the_range_itself() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let manifest = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).expect("read the manifest");
    CLOSED.with(|c| c.set(0));
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/file"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, &manifest[1..10]);
    assert_eq!(header(&req, "Content-Length"), Some("9"));
    assert_eq!(CLOSED.with(Cell::get), 1, "the close hook ran");

    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/file-past-end"));
    assert_eq!(status, NSGI_E_APP);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "ends past the end of the file"),
        "{}",
        fake.log_text()
    );

    // The owned variant reads the file itself too, without a duplicate.
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/file-owned"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, &manifest[1..10]);
    assert_eq!(header(&req, "Content-Length"), Some("9"));
    app.shutdown();
}

thread_local! {
    /// The flags and descriptor the taking fake host's `file_body` was called with.
    static TAKEN_FILE: Cell<Option<(u32, i32)>> = const { Cell::new(None) };
}

/// A host `file_body` that honours `NSGI_FILE_TAKE_FD`: records the call and closes a descriptor
/// handed over (its body then sends the fixed "host bytes").
unsafe extern "C" fn fake_file_body_taking(
    req: *mut nsgi_request,
    fd: i32,
    offset: u64,
    length: u64,
    flags: u32,
    body_out: *mut nsgi_body,
) -> nsgi_status {
    TAKEN_FILE.with(|t| t.set(Some((flags, fd))));
    if flags & NSGI_FILE_TAKE_FD != 0 {
        // SAFETY: with NSGI_FILE_TAKE_FD the descriptor is this host's; closed once, here.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
    // SAFETY: the SDK's arguments, passed on with the flag the plain fake accepts.
    unsafe { fake_file_body(req, fd, offset, length, 0, body_out) }
}

#[test]
fn owned_file_range_body_hands_the_descriptor_over() {
    let mut fake = Fake::new();
    fake.api_mut().file_body = Some(fake_file_body_taking);
    let app = Instance::start(tester(), &fake);
    TAKEN_FILE.with(|t| t.set(None));
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/file-owned"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(body, b"host bytes");
    assert_eq!(header(&req, "Content-Length"), Some("9"));
    let (flags, fd) = TAKEN_FILE.with(Cell::get).expect("file_body was called");
    assert_eq!(
        flags, NSGI_FILE_TAKE_FD,
        "the descriptor is handed over, not duplicated"
    );
    assert!(fd >= 0);

    // A range past the size the app gave is refused before the host sees the file.
    TAKEN_FILE.with(|t| t.set(None));
    let mut req = FakeRequest::default();
    let (status, _) = app.request(&mut req, &Env::get("GET", "/file-owned-past-end"));
    assert_eq!(status, NSGI_E_APP);
    assert!(TAKEN_FILE.with(Cell::get).is_none());
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "ends past the end of the file"),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn redirect_sets_location_and_a_small_escaped_page() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("POST", "/redirect"));
    assert_eq!(status, NSGI_DONE);
    assert_eq!(req.status.as_deref(), Some("303 See Other"));
    assert_eq!(header(&req, "Location"), Some("/next?a=1&b=<2>"));
    assert_eq!(header(&req, "Set-Cookie"), Some("s=1"));
    assert_eq!(header(&req, "Content-Length"), Some(body.len().to_string().as_str()));
    let page = String::from_utf8(body).expect("UTF-8 page");
    assert!(page.contains("href=\"/next?a=1&amp;b=&lt;2&gt;\""), "{page}");
    app.shutdown();
}

fn post(path: &str, content_type: &str, body: &[u8]) -> (Env, FakeRequest) {
    let length = body.len().to_string();
    let mut env = Env::new(&[
        ("REQUEST_METHOD", "POST"),
        ("PATH_INFO", path),
        ("QUERY_STRING", ""),
        ("CONTENT_TYPE", content_type),
        ("CONTENT_LENGTH", &length),
        ("HTTP_COOKIE", "sid=abc; theme=dark; sid=older"),
    ]);
    env.content_length = body.len() as u64;
    let req = FakeRequest {
        input: body.to_vec(),
        ..FakeRequest::default()
    };
    (env, req)
}

#[test]
fn read_form_decodes_and_refuses_what_it_should() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let form = "application/x-www-form-urlencoded";
    let cases: [(&str, &[u8], &str, &str); 5] = [
        (
            form,
            b"a=caf%C3%A9+1&t=x&t=y",
            "200 OK",
            "Some(\"café 1\") [\"x\", \"y\"]",
        ),
        (
            "text/plain",
            b"a=1",
            "415 Unsupported Media Type",
            "expected application/x-www-form-urlencoded",
        ),
        (form, &[b'x'; 33], "413 Content Too Large", "larger than 32 bytes"),
        (form, b"a=%FF", "500", ""),
        (form, b"", "200 OK", "None []"),
    ];
    for (content_type, body, want_status, want_text) in cases {
        let (env, mut req) = post("/form", content_type, body);
        let (status, text) = app.request(&mut req, &env);
        let shown = String::from_utf8_lossy(body);
        if want_status == "500" {
            // Invalid UTF-8 through `?` is an app error, logged with the field's name.
            assert_eq!(status, NSGI_E_APP, "{shown}");
            assert!(
                logged(&fake, NSGI_LOG_ERROR, "form field \"a\" is not valid UTF-8"),
                "{}",
                fake.log_text()
            );
            continue;
        }
        assert_eq!(req.status.as_deref(), Some(want_status), "{shown}");
        let text = String::from_utf8(text).expect("UTF-8");
        assert!(text.contains(want_text), "{shown}: {text}");
    }
    app.shutdown();
}

#[test]
fn read_form_with_the_largest_limit_does_not_overflow() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let (env, mut req) = post("/form-unlimited", "application/x-www-form-urlencoded", b"a=1");
    let (status, text) = app.request(&mut req, &env);
    assert_eq!(
        (status, text.as_slice()),
        (NSGI_DONE, &b"Some(\"1\")"[..]),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn cookies_come_from_the_cookie_header() {
    let fake = Fake::new();
    let app = Instance::start(tester(), &fake);
    let (env, mut req) = post("/cookies", "text/plain", b"");
    let (_, text) = app.request(&mut req, &env);
    assert_eq!(String::from_utf8(text).expect("UTF-8"), "Some(\"abc\") 3");
    app.shutdown();
}

thread_local! {
    static HOST_FILE_CLOSES: Cell<usize> = const { Cell::new(0) };
}

/// The state of the fake host's file body: whether its one chunk went out.
struct HostFileState {
    sent: bool,
}

unsafe extern "C" fn host_file_next(
    state: *mut c_void,
    _req: *mut nsgi_request,
    chunk: *mut nsgi_bytes,
) -> nsgi_status {
    // SAFETY: `state` is the `HostFileState` made by `fake_file_body`; `chunk` is writable.
    let state = unsafe { &mut *state.cast::<HostFileState>() };
    if std::mem::replace(&mut state.sent, true) {
        return NSGI_DONE;
    }
    // SAFETY: as above.
    unsafe { chunk.write(nsgi_bytes::from_slice(b"host bytes")) };
    NSGI_OK
}

unsafe extern "C" fn host_file_close(state: *mut c_void, _req: *mut nsgi_request) {
    // SAFETY: made by `Box::into_raw` in `fake_file_body`, closed once.
    drop(unsafe { Box::from_raw(state.cast::<HostFileState>()) });
    HOST_FILE_CLOSES.with(|c| c.set(c.get() + 1));
}

static HOST_FILE_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(host_file_next),
    close: Some(host_file_close),
};

unsafe extern "C" fn fake_file_body(
    _req: *mut nsgi_request,
    fd: i32,
    _offset: u64,
    _length: u64,
    flags: u32,
    body_out: *mut nsgi_body,
) -> nsgi_status {
    if fd < 0 || flags != 0 {
        return NSGI_E_INVAL;
    }
    let state = Box::into_raw(Box::new(HostFileState { sent: false }));
    // SAFETY: `body_out` is the SDK's out-pointer.
    unsafe {
        body_out.write(nsgi_body {
            vtable: &HOST_FILE_VTABLE,
            state: state.cast(),
        })
    };
    NSGI_OK
}

#[test]
fn file_body_hands_the_hosts_own_body_back_unchanged() {
    let mut fake = Fake::new();
    fake.api_mut().file_body = Some(fake_file_body);
    let app = Instance::start(tester(), &fake);
    HOST_FILE_CLOSES.with(|c| c.set(0));
    CLOSED.with(|c| c.set(0));

    // Without a close hook the host gets its own vtable back: it can recognise the body.
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/file-whole"));
    assert_eq!(status, NSGI_OK);
    assert!(ptr::eq(body.vtable, &HOST_FILE_VTABLE), "the host's body was wrapped");
    let size = std::fs::metadata(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("stat")
        .len();
    assert_eq!(header(&req, "Content-Length"), Some(size.to_string().as_str()));
    let (status, bytes) = drain(body, &mut req);
    assert_eq!((status, bytes.as_slice()), (NSGI_DONE, &b"host bytes"[..]));
    assert_eq!(HOST_FILE_CLOSES.with(Cell::get), 1);

    // With a close hook the SDK wraps it: chunks still come from the host, which closes it
    // once, before the hook runs.
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/file"));
    assert_eq!(status, NSGI_OK);
    assert!(!ptr::eq(body.vtable, &HOST_FILE_VTABLE));
    let (status, bytes) = drain(body, &mut req);
    assert_eq!((status, bytes.as_slice()), (NSGI_DONE, &b"host bytes"[..]));
    assert_eq!(HOST_FILE_CLOSES.with(Cell::get), 2);
    assert_eq!(CLOSED.with(Cell::get), 1);
    app.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Starting the response lazily, from inside the body's first `next()` (docs/abi.md §7.3).

/// An app whose routes start their response from the body's first `next()`, and one route that
/// fails in `call` for comparison.
struct Lazily;

impl App for Lazily {
    const NAME: &'static str = "lazily";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Lazily)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let path = req.path_info().to_owned();
        match path.as_str() {
            "/fail-in-call" => Err("the report store is down".into()),
            "/fail-later" => Ok(start.lazily(|_later| Err("the report store is down".into()))),
            "/refused" => Ok(start.lazily(|later| Ok(later.start("200 OK", &[("Bad Name", "x")])?.finish()))),
            "/panic-later" => Ok(start.lazily(|_later| panic!("the lazy closure exploded"))),
            "/body-fails" => Ok(start.lazily(|later| {
                let chunks = vec![Ok("half "), Err(io::Error::other("the disk went away"))];
                Ok(later.start("200 OK", &[])?.body(Body::from_results(chunks)))
            })),
            "/respond" => {
                Ok(start.lazily(|later| Ok(later.respond("200 OK", &[("Content-Type", "text/plain")], "sized\n")?)))
            }
            "/closed" => Ok(start.lazily(|later| {
                let started = later.start("200 OK", &[])?;
                Ok(started.body(Body::from_chunks(["one"]).on_close(count_close)))
            })),
            _ => Ok(start.lazily(move |later| {
                let started = later.start("201 Created", &[("Content-Type", "text/plain"), ("X-Path", &path)])?;
                Ok(started.body(Body::from_chunks(["made ", "", "later"])))
            })),
        }
    }
}

#[test]
fn lazily_calls_start_response_from_inside_the_first_next() {
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/report"));
    assert_eq!(status, NSGI_OK);
    // `call` returned without starting the response.
    assert_eq!((req.start_calls, req.status.as_deref()), (0, None));
    let (status, chunks) = drain(body, &mut req);
    assert_eq!((status, chunks.as_slice()), (NSGI_DONE, &b"made later"[..]));
    // The host saw start_response once, from inside next, with the status and headers.
    assert_eq!(req.start_phases, [Phase::Next]);
    assert_eq!(req.status.as_deref(), Some("201 Created"));
    assert_eq!(
        req.headers,
        [
            ("Content-Type".to_owned(), "text/plain".to_owned()),
            ("X-Path".to_owned(), "/report".to_owned())
        ]
    );
    assert_eq!(fake.log_text(), "");
    app.shutdown();
}

#[test]
fn an_error_in_the_lazy_closure_ends_like_an_error_in_call() {
    // The same status from the app (the host answers 500 for both), and the same log line.
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/fail-in-call")).0, NSGI_E_APP);
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/fail-later")).0, NSGI_E_APP);
    assert_eq!(req.start_calls, 0);
    let failures: Vec<(i32, bool, String)> = fake
        .logs()
        .into_iter()
        .filter(|(_, _, m)| m.contains("store"))
        .collect();
    let line = (
        NSGI_LOG_ERROR,
        true,
        "request failed: the report store is down".to_owned(),
    );
    assert_eq!(failures, [line.clone(), line]);
    app.shutdown();
}

#[test]
fn a_lazy_start_the_host_refuses_names_the_problem() {
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/refused")).0, NSGI_E_APP);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "header name \"Bad Name\" is not an HTTP token"),
        "{}",
        fake.log_text()
    );
    app.shutdown();
}

#[test]
fn a_panic_in_the_lazy_closure_poisons_the_body_only() {
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    assert_eq!(app.request(&mut req, &Env::get("GET", "/panic-later")).0, NSGI_E_PANIC);
    assert!(
        logged(&fake, NSGI_LOG_ERROR, "the lazy closure exploded"),
        "{}",
        fake.log_text()
    );
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/again"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"made later"[..]));
    assert_eq!(req.status.as_deref(), Some("201 Created"));
    app.shutdown();
}

#[test]
fn the_lazily_produced_body_is_closed_once_and_an_unstarted_one_needs_no_close_hook() {
    CLOSED.with(|c| c.set(0));
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/closed"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"one"[..]));
    assert_eq!(CLOSED.with(Cell::get), 1);
    // Closed before the first next: the closure never runs, nothing is started.
    let mut req = FakeRequest::default();
    let (status, body) = app.call(&mut req, &Env::get("GET", "/closed"));
    assert_eq!(status, NSGI_OK);
    // SAFETY: a live body from a successful call, closed exactly once.
    unsafe { (*body.vtable).close.expect("close")(body.state, (&mut req as *mut FakeRequest).cast()) };
    assert_eq!((req.start_calls, CLOSED.with(Cell::get)), (0, 1));
    app.shutdown();
}

#[test]
fn a_lazy_respond_sets_content_length_like_respond() {
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/respond"));
    assert_eq!((status, body.as_slice()), (NSGI_DONE, &b"sized\n"[..]));
    assert_eq!(req.start_phases, [Phase::Next]);
    assert_eq!(header(&req, "Content-Length"), Some("6"));
    assert_eq!(header(&req, "Content-Type"), Some("text/plain"));
    app.shutdown();
}

#[test]
fn a_failure_of_the_lazily_produced_body_is_reported_once() {
    let fake = Fake::new();
    let app = Instance::start(nsgi::app_descriptor!(Lazily), &fake);
    let mut req = FakeRequest::default();
    let (status, body) = app.request(&mut req, &Env::get("GET", "/body-fails"));
    assert_eq!((status, body.as_slice()), (NSGI_E_APP, &b"half "[..]));
    let failures: Vec<String> = fake
        .logs()
        .into_iter()
        .filter(|(_, _, m)| m.contains("disk"))
        .map(|(_, _, m)| m)
        .collect();
    assert_eq!(failures, ["the response body failed: the disk went away"]);
    app.shutdown();
}
