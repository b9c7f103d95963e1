//! The host SDK driving apps linked into the test itself (`app_descriptor!` or a hand-written
//! descriptor, loaded with `AppModule::from_static`): no `dlopen`, no C compiler, no sockets, so
//! that Miri can run every test here (`cargo +nightly miri test -p nsgi --features host --test
//! in_process`) and check the host exchange, the host callbacks and the app SDK's FFI layer for
//! undefined behaviour.
//!
//! The hand-written app breaks the handle rules of docs/abi.md §12 on purpose: a request handle is
//! accepted only on the thread serving that request, during its `call`/`next`/`close`.

use core::ffi::c_void;
use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};
use nsgi::host::observe::{NextResult, Observer, RequestEnd, RequestId, StartResponseCall};
use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, RequestSlot, ResponseFailure, Step, Violation};
use nsgi::sys::{
    NSGI_ABI_MAJOR, NSGI_ABI_MINOR, NSGI_APP_DESCRIPTOR_V1_0_SIZE, NSGI_APP_MAGIC, NSGI_BODY_VTABLE_V1_0_SIZE,
    NSGI_DONE, NSGI_E_APP, NSGI_E_INVAL, NSGI_E_STATE, NSGI_OK, nsgi_app_descriptor, nsgi_body, nsgi_body_vtable,
    nsgi_bytes, nsgi_environ, nsgi_header, nsgi_host_api, nsgi_init_args, nsgi_request, nsgi_status,
};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A Rust SDK app that uses every request function the SDK offers.
struct Echo;

impl App for Echo {
    const NAME: &'static str = "echo";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Echo)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let path = req.path_info().to_owned();
        let mut first_line = Vec::new();
        req.input().readline(&mut first_line, 64)?;
        let mut rest = Vec::new();
        req.input().read_to_end(&mut rest)?;
        let mut errors = req.errors();
        errors.write_all(b"echo saw ")?;
        errors.write_all(path.as_bytes())?;
        errors.flush()?;
        let mut started = start.start("200 OK", &[("Content-Type", "text/plain"), ("X-Path", &path)])?;
        started.write(&first_line)?;
        Ok(started.body(Body::from_chunks(vec![b"[".to_vec(), rest, Vec::new(), b"]".to_vec()])))
    }
}

/// Records what an observer is told.
#[derive(Default)]
struct Recorder {
    headers: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    violations: Mutex<Vec<(RequestId, Violation)>>,
    ended: AtomicUsize,
}

impl Observer for Recorder {
    fn start_response(&self, _req: RequestId, call: &StartResponseCall<'_>) {
        let mut headers = self.headers.lock().expect("headers");
        headers.extend(call.headers().map(|(n, v)| (n.to_vec(), v.to_vec())));
    }

    fn violation(&self, req: RequestId, violation: &Violation) {
        self.violations
            .lock()
            .expect("violations")
            .push((req, violation.clone()));
    }

    fn request_ended(&self, _req: RequestId, _end: &RequestEnd<'_>) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}

fn environ(path: &str) -> Environ {
    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", b"POST");
    environ.push(b"PATH_INFO", path.as_bytes());
    environ.push(b"QUERY_STRING", b"");
    environ
}

/// Runs one request to the end: (status line, headers, body, error stream).
fn run(app: &AppInstance, slot: &mut RequestSlot, path: &str, input: &[u8]) -> (String, Vec<String>, Vec<u8>, Vec<u8>) {
    let mut environ = environ(path);
    let mut input = input;
    let mut errors = Vec::new();
    let mut exchange = app.call(slot, &mut environ, &mut input, &mut errors);
    let (mut status, mut headers, mut body) = (String::new(), Vec::new(), Vec::new());
    loop {
        match exchange.next_step() {
            Ok(Step::Head { head, data, end }) => {
                status = head.status_str().into_owned();
                headers = head
                    .headers()
                    .map(|(n, v)| format!("{}: {}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
                    .collect();
                body.extend_from_slice(data);
                if end {
                    break;
                }
            }
            Ok(Step::Data(data)) => body.extend_from_slice(data),
            Ok(Step::End) => break,
            Err(failure) => panic!("{path}: {failure}"),
        }
    }
    drop(exchange);
    (status, headers, body, errors)
}

#[test]
fn a_rust_sdk_app_answers_through_every_request_function() {
    let module = AppModule::from_static(nsgi::app_descriptor!(Echo), "echo").expect("descriptor");
    assert_eq!(module.name(), "echo");
    let recorder = Arc::new(Recorder::default());
    let app = AppInstance::init_observed(&module, &InitOptions::default(), recorder.clone()).expect("init");
    let mut slot = RequestSlot::new();
    for round in 0..2 {
        let (status, headers, body, errors) = run(&app, &mut slot, "/echo", b"line one\nand the rest");
        assert_eq!(status, "200 OK");
        assert_eq!(headers, ["Content-Type: text/plain", "X-Path: /echo"]);
        assert_eq!(body, b"line one\n[and the rest]", "round {round}");
        assert_eq!(errors, b"echo saw /echo");
    }
    assert_eq!(recorder.ended.load(Ordering::Relaxed), 2);
    assert_eq!(recorder.headers.lock().expect("headers").len(), 4);
    assert!(recorder.violations.lock().expect("violations").is_empty());
    app.shutdown();
}

#[test]
fn an_exchange_dropped_early_closes_the_body() {
    let module = AppModule::from_static(nsgi::app_descriptor!(Echo), "echo").expect("descriptor");
    let app = AppInstance::init(&module, &InitOptions::default()).expect("init");
    let mut slot = RequestSlot::new();
    let mut environ = environ("/early");
    let mut input: &[u8] = b"x\ny";
    let mut errors = Vec::new();
    let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    match exchange.next_step() {
        Ok(Step::Head { data, end, .. }) => assert_eq!((data, end), (&b"x\n"[..], false)),
        other => panic!("{other:?}"),
    }
    drop(exchange);
    // The slot is reusable at once.
    let (_, _, body, _) = run(&app, &mut slot, "/again", b"");
    assert_eq!(body, b"[]");
}

// ---- A hand-written app that keeps its request handle (docs/abi.md §12) ----

/// The host table the app was given.
static HOST: AtomicPtr<nsgi_host_api> = AtomicPtr::new(core::ptr::null_mut());
/// The handle `/keep` kept.
static KEPT: AtomicPtr<nsgi_request> = AtomicPtr::new(core::ptr::null_mut());
/// Every answer `misuse` got, in order.
static ANSWERS: Mutex<Vec<Answer>> = Mutex::new(Vec::new());

fn host() -> &'static nsgi_host_api {
    // SAFETY: set by `keeper_init` to the host table, which outlives every call into the app.
    unsafe { &*HOST.load(Ordering::Acquire) }
}

/// Looks up PATH_INFO through `handle` and records the answer under `label`.
fn misuse(label: &str, handle: *mut nsgi_request) -> nsgi_status {
    let key = b"PATH_INFO";
    let mut value = nsgi_bytes::EMPTY;
    let environ_get = host().environ_get.expect("environ_get");
    // SAFETY: a host function with valid key and out-pointer; the handle is what is under test.
    let status = unsafe { environ_get(handle, nsgi_bytes::from_slice(key), &mut value) };
    let seen = if status == NSGI_OK && !value.ptr.is_null() {
        // SAFETY: the host lent `value` for the life of the request it accepted the handle for.
        unsafe { core::slice::from_raw_parts(value.ptr, value.len) }.to_vec()
    } else {
        Vec::new()
    };
    ANSWERS.lock().expect("answers").push((label.to_owned(), status, seen));
    status
}

fn path_of(environ: *const nsgi_environ) -> Vec<u8> {
    // SAFETY: the host's environ, valid during the call.
    let environ = unsafe { &*environ };
    // SAFETY: `n_vars` pairs at `vars`, valid during the call.
    let vars = unsafe { core::slice::from_raw_parts(environ.vars, environ.n_vars) };
    vars.iter()
        .find(|pair| {
            // SAFETY: the host's bytes, valid during the call.
            (unsafe { core::slice::from_raw_parts(pair.name.ptr, pair.name.len) }) == b"PATH_INFO"
        })
        // SAFETY: as above.
        .map(|pair| unsafe { core::slice::from_raw_parts(pair.value.ptr, pair.value.len) }.to_vec())
        .unwrap_or_default()
}

unsafe extern "C" fn keeper_init(
    host: *const nsgi_host_api,
    _args: *const nsgi_init_args,
    app: *mut *mut c_void,
) -> nsgi_status {
    HOST.store(host.cast_mut(), Ordering::Release);
    // SAFETY: the host's out-pointer.
    unsafe { app.write(core::ptr::null_mut()) };
    NSGI_OK
}

unsafe extern "C" fn keeper_next(state: *mut c_void, req: *mut nsgi_request, chunk: *mut nsgi_bytes) -> nsgi_status {
    // The body state counts the calls: the first one also misuses the kept handle.
    let calls = state.cast::<usize>();
    // SAFETY: the state this body was made with, a boxed counter.
    let n = unsafe { *calls };
    // SAFETY: as above.
    unsafe { *calls = n + 1 };
    if n == 0 {
        misuse("own handle in next", req);
        // SAFETY: the host's out-pointer.
        unsafe { chunk.write(nsgi_bytes::from_slice(b"ok")) };
        return NSGI_OK;
    }
    NSGI_DONE
}

unsafe extern "C" fn keeper_close(state: *mut c_void, req: *mut nsgi_request) {
    misuse("own handle in close", req);
    // SAFETY: made by `Box::into_raw` in `keeper_call`, closed once.
    drop(unsafe { Box::from_raw(state.cast::<usize>()) });
}

static KEEPER_BODY: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(keeper_next),
    close: Some(keeper_close),
};

/// `/keep` keeps its handle; `/stale` uses the kept one; `/null` a NULL one; `/forged` a value
/// the host never gave out; `/thread` its own handle from a thread of its own. Every request also
/// uses its own handle, which must work.
unsafe extern "C" fn keeper_call(
    _app: *mut c_void,
    req: *mut nsgi_request,
    environ: *const nsgi_environ,
    body: *mut nsgi_body,
) -> nsgi_status {
    let path = path_of(environ);
    let label = String::from_utf8_lossy(&path).into_owned();
    match path.as_slice() {
        b"/keep" => KEPT.store(req, Ordering::Relaxed),
        b"/stale" => {
            misuse(&label, KEPT.load(Ordering::Relaxed));
        }
        b"/null" => {
            misuse(&label, core::ptr::null_mut());
        }
        b"/forged" => {
            misuse(&label, core::ptr::without_provenance_mut(0x5eed));
        }
        b"/thread" => {
            let handle = req as usize;
            std::thread::scope(|scope| {
                scope.spawn(|| misuse(&label, core::ptr::without_provenance_mut(handle)));
            });
        }
        _ => {}
    }
    misuse("own handle in call", req);
    let start_response = host().start_response.expect("start_response");
    let headers = [nsgi_header {
        name: nsgi_bytes::from_slice(b"Content-Type"),
        value: nsgi_bytes::from_slice(b"text/plain"),
    }];
    // SAFETY: the request's own handle and a valid status and header array.
    let status = unsafe {
        start_response(
            req,
            nsgi_bytes::from_slice(b"200 OK"),
            headers.as_ptr(),
            1,
            core::ptr::null(),
        )
    };
    assert_eq!(status, NSGI_OK);
    // SAFETY: the host's out-pointer.
    unsafe {
        body.write(nsgi_body {
            vtable: &KEEPER_BODY,
            state: Box::into_raw(Box::new(0usize)).cast(),
        })
    };
    NSGI_OK
}

static KEEPER: nsgi_app_descriptor = nsgi_app_descriptor {
    magic: NSGI_APP_MAGIC,
    abi_major: NSGI_ABI_MAJOR,
    abi_minor: NSGI_ABI_MINOR,
    struct_size: NSGI_APP_DESCRIPTOR_V1_0_SIZE,
    flags: 0,
    name: nsgi_bytes::from_slice(b"keeper"),
    sdk_info: nsgi_bytes::from_slice(b"test"),
    init: Some(keeper_init),
    call: Some(keeper_call),
    shutdown: None,
};

/// What one `environ_get` through a handle answered: (label, status, PATH_INFO seen).
type Answer = (String, nsgi_status, Vec<u8>);

/// Sends `paths` in order through one slot; returns what each misuse got and the violations.
fn keeper_run(paths: &[&str]) -> (Vec<Answer>, Vec<(RequestId, Violation)>) {
    ANSWERS.lock().expect("answers").clear();
    let module = AppModule::from_static(&KEEPER, "keeper").expect("descriptor");
    let recorder = Arc::new(Recorder::default());
    let app = AppInstance::init_observed(&module, &InitOptions::default(), recorder.clone()).expect("init");
    let mut slot = RequestSlot::new();
    for path in paths {
        let (status, _, body, _) = run(&app, &mut slot, path, b"");
        assert_eq!((status.as_str(), body.as_slice()), ("200 OK", &b"ok"[..]), "{path}");
    }
    app.shutdown();
    let answers = std::mem::take(&mut *ANSWERS.lock().expect("answers"));
    let violations = std::mem::take(&mut *recorder.violations.lock().expect("violations"));
    (answers, violations)
}

/// The one test of the hand-written app (it keeps global state, so its cases run in sequence).
#[test]
fn a_request_handle_works_only_for_its_own_request_on_its_own_thread() {
    let (answers, violations) = keeper_run(&["/keep", "/stale", "/null", "/forged", "/thread"]);
    let misuses: Vec<(&str, nsgi_status)> = answers
        .iter()
        .filter(|(label, ..)| !label.starts_with("own handle"))
        .map(|(label, status, _)| (label.as_str(), *status))
        .collect();
    assert_eq!(
        misuses,
        [
            ("/stale", NSGI_E_STATE),
            ("/null", NSGI_E_INVAL),
            ("/forged", NSGI_E_STATE),
            ("/thread", NSGI_E_STATE),
        ]
    );
    // Its own handle works in call, next and close, every time.
    let own: Vec<_> = answers
        .iter()
        .filter(|(label, ..)| label.starts_with("own handle"))
        .collect();
    assert_eq!(own.len(), 5 * 3);
    for (label, status, value) in &own {
        assert_eq!(*status, NSGI_OK, "{label}");
        assert!(value.starts_with(b"/"), "{label}: the request's own PATH_INFO");
    }
    // Every refusal on a thread serving a request is recorded on that request; the one from the
    // app's own thread has no request to be recorded on.
    let refused: Vec<(u64, String)> = violations.iter().map(|(id, v)| (id.0, v.to_string())).collect();
    assert_eq!(
        refused,
        [
            (
                2,
                "environ_get got a request handle that is not the request this thread is serving \
                 (another request's, or one kept past its close)"
                    .to_owned()
            ),
            (3, "environ_get got a NULL request handle".to_owned()),
            (
                4,
                "environ_get got a request handle that is not the request this thread is serving \
                 (another request's, or one kept past its close)"
                    .to_owned()
            ),
        ]
    );
    assert!(violations.iter().all(|(_, v)| !v.is_fatal()), "the responses went on");
}

#[test]
fn two_live_exchanges_on_one_thread_each_answer_their_own_request() {
    let module = AppModule::from_static(nsgi::app_descriptor!(Echo), "echo").expect("descriptor");
    let app = AppInstance::init(&module, &InitOptions::default()).expect("init");
    let (mut first_slot, mut second_slot) = (RequestSlot::new(), RequestSlot::new());
    let (mut first_env, mut second_env) = (environ("/first"), environ("/second"));
    let (mut first_in, mut second_in): (&[u8], &[u8]) = (b"", b"");
    let (mut first_err, mut second_err) = (Vec::new(), Vec::new());
    // Two exchanges live at once on this thread, as on a gateway's event loop.
    let mut first = app.call(&mut first_slot, &mut first_env, &mut first_in, &mut first_err);
    let mut second = app.call(&mut second_slot, &mut second_env, &mut second_in, &mut second_err);
    assert_ne!(first.request_id(), second.request_id());
    for exchange in [&mut first, &mut second] {
        let mut body = Vec::new();
        loop {
            match exchange.next_step() {
                Ok(Step::Head { data, end, .. }) => {
                    body.extend_from_slice(data);
                    if end {
                        break;
                    }
                }
                Ok(Step::Data(data)) => body.extend_from_slice(data),
                Ok(Step::End) => break,
                Err(failure) => panic!("{failure}"),
            }
        }
        assert_eq!(body, b"[]");
    }
    drop((first, second));
    assert_eq!(
        (first_err, second_err),
        (b"echo saw /first".to_vec(), b"echo saw /second".to_vec())
    );
}

// ---- Starting the response lazily, from inside the first `next()` (docs/abi.md §7.3) ----

/// Starts its response from the body's first `next()`; `/fail-in-call` fails in `call` and
/// `/fail-later` in that closure, for comparison.
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
            _ => Ok(start.lazily(move |later| {
                let started = later.start("201 Created", &[("Content-Type", "text/plain"), ("X-Path", &path)])?;
                Ok(started.body(Body::from_chunks(["made ", "", "later"])))
            })),
        }
    }
}

/// The order of the interactions that tell when start_response came, and the violations.
#[derive(Default)]
struct Phases {
    events: Mutex<Vec<String>>,
    violations: Mutex<Vec<Violation>>,
}

impl Phases {
    fn take(&self) -> (Vec<String>, Vec<Violation>) {
        (
            std::mem::take(&mut *self.events.lock().expect("events")),
            std::mem::take(&mut *self.violations.lock().expect("violations")),
        )
    }
}

impl Observer for Phases {
    fn call_returned(&self, _req: RequestId, status: nsgi_status, _body_problem: Option<&'static str>) {
        self.events
            .lock()
            .expect("events")
            .push(format!("call returned {status}"));
    }

    fn start_response(&self, _req: RequestId, call: &StartResponseCall<'_>) {
        self.events
            .lock()
            .expect("events")
            .push(format!("start_response in {:?} -> {}", call.phase, call.result));
    }

    fn next_returned(&self, _req: RequestId, result: &NextResult) {
        self.events
            .lock()
            .expect("events")
            .push(format!("next returned {}", result.status));
    }

    fn violation(&self, _req: RequestId, violation: &Violation) {
        self.violations.lock().expect("violations").push(violation.clone());
    }
}

/// One GET: the status, the headers and the body, or how the response failed.
fn get(app: &AppInstance, path: &str) -> Result<(String, Vec<String>, Vec<u8>), ResponseFailure> {
    let mut slot = RequestSlot::new();
    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", b"GET");
    environ.push(b"PATH_INFO", path.as_bytes());
    environ.push(b"QUERY_STRING", b"");
    let mut input: &[u8] = b"";
    let mut errors = Vec::new();
    let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    let (mut status, mut headers, mut body) = (String::new(), Vec::new(), Vec::new());
    // Bounded: the bodies here have a handful of chunks.
    for _ in 0..16 {
        match exchange.next_step()? {
            Step::Head { head, data, end } => {
                status = head.status_str().into_owned();
                headers = head
                    .headers()
                    .map(|(n, v)| format!("{}: {}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
                    .collect();
                body.extend_from_slice(data);
                if end {
                    return Ok((status, headers, body));
                }
            }
            Step::Data(data) => body.extend_from_slice(data),
            Step::End => return Ok((status, headers, body)),
        }
    }
    panic!("{path}: the response did not end");
}

#[test]
fn a_lazy_start_response_comes_inside_the_first_next() {
    let module = AppModule::from_static(nsgi::app_descriptor!(Lazily), "lazily").expect("descriptor");
    let phases = Arc::new(Phases::default());
    let app = AppInstance::init_observed(&module, &InitOptions::default(), phases.clone()).expect("init");
    let (status, headers, body) = get(&app, "/report").expect("a response");
    assert_eq!(status, "201 Created");
    assert_eq!(headers, ["Content-Type: text/plain", "X-Path: /report"]);
    assert_eq!(body, b"made later");
    let (events, violations) = phases.take();
    assert_eq!(
        events,
        [
            format!("call returned {NSGI_OK}"),
            format!("start_response in Next -> {NSGI_OK}"),
            format!("next returned {NSGI_OK}"),
            format!("next returned {NSGI_OK}"),
            format!("next returned {NSGI_OK}"),
            format!("next returned {NSGI_DONE}"),
        ]
    );
    assert_eq!(violations, []);
    app.shutdown();
}

#[test]
fn an_error_in_the_lazy_closure_fails_the_response_as_an_error_in_call_does() {
    let module = AppModule::from_static(nsgi::app_descriptor!(Lazily), "lazily").expect("descriptor");
    let phases = Arc::new(Phases::default());
    let app = AppInstance::init_observed(&module, &InitOptions::default(), phases.clone()).expect("init");
    let in_call = get(&app, "/fail-in-call").expect_err("fails");
    let (_, in_call_violations) = phases.take();
    let later = get(&app, "/fail-later").expect_err("fails");
    let (events, later_violations) = phases.take();
    // The app's error status either way (NSGI_E_APP), before anything was sent: a server
    // answers 500 to both.
    assert_eq!(in_call_violations, [Violation::CallFailed(NSGI_E_APP)]);
    assert_eq!(later_violations, [Violation::NextFailed(NSGI_E_APP)]);
    assert_eq!((in_call.head_emitted, later.head_emitted), (false, false));
    assert!(!events.iter().any(|e| e.starts_with("start_response")), "{events:?}");
    app.shutdown();
}

// ---- Parking an exchange between steps and resuming it (`Exchange::park`) ----

/// The pager's host table (set by its init).
static PAGER_HOST: AtomicPtr<nsgi_host_api> = AtomicPtr::new(core::ptr::null_mut());
/// How many times the pager's body was closed.
static PAGER_CLOSES: AtomicUsize = AtomicUsize::new(0);

fn pager_host() -> &'static nsgi_host_api {
    // SAFETY: set by `pager_init` to the host table, which outlives every call into the app.
    unsafe { &*PAGER_HOST.load(Ordering::Acquire) }
}

/// The pager's body: the environ it was called with (kept past `call`, as docs/abi.md §6 allows)
/// and a buffer for the chunk it lends.
struct Page {
    environ: *const nsgi_environ,
    chunk: Vec<u8>,
}

unsafe extern "C" fn pager_init(
    host: *const nsgi_host_api,
    _args: *const nsgi_init_args,
    app: *mut *mut c_void,
) -> nsgi_status {
    PAGER_HOST.store(host.cast_mut(), Ordering::Release);
    // SAFETY: the host's out-pointer.
    unsafe { app.write(core::ptr::null_mut()) };
    NSGI_OK
}

/// Each chunk is `PATH_INFO:` (read through the environ kept from `call`) and the next four
/// bytes of the request body, read during this `next`; a line goes to the error stream too.
unsafe extern "C" fn pager_next(state: *mut c_void, req: *mut nsgi_request, chunk: *mut nsgi_bytes) -> nsgi_status {
    // SAFETY: the state this body was made with.
    let page = unsafe { &mut *state.cast::<Page>() };
    let mut bytes = [0u8; 4];
    let input_read = pager_host().input_read.expect("input_read");
    // SAFETY: the request's own handle and a buffer of 4 bytes.
    let read = unsafe { input_read(req, bytes.as_mut_ptr(), bytes.len()) };
    if read <= 0 {
        return NSGI_DONE;
    }
    let errors_write = pager_host().errors_write.expect("errors_write");
    // SAFETY: the request's own handle and valid bytes.
    let status = unsafe { errors_write(req, nsgi_bytes::from_slice(b"page;")) };
    assert_eq!(status, NSGI_OK);
    page.chunk = path_of(page.environ);
    page.chunk.push(b':');
    page.chunk.extend_from_slice(&bytes[..read as usize]);
    // SAFETY: the host's out-pointer; the chunk lives until the next call into this body.
    unsafe { chunk.write(nsgi_bytes::from_slice(&page.chunk)) };
    NSGI_OK
}

unsafe extern "C" fn pager_close(state: *mut c_void, _req: *mut nsgi_request) {
    PAGER_CLOSES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: made by `Box::into_raw` in `pager_call`, closed once.
    drop(unsafe { Box::from_raw(state.cast::<Page>()) });
}

static PAGER_BODY: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(pager_next),
    close: Some(pager_close),
};

unsafe extern "C" fn pager_call(
    _app: *mut c_void,
    req: *mut nsgi_request,
    environ: *const nsgi_environ,
    body: *mut nsgi_body,
) -> nsgi_status {
    let start_response = pager_host().start_response.expect("start_response");
    // SAFETY: the request's own handle and a valid status.
    let status = unsafe {
        start_response(
            req,
            nsgi_bytes::from_slice(b"200 OK"),
            core::ptr::null(),
            0,
            core::ptr::null(),
        )
    };
    assert_eq!(status, NSGI_OK);
    let page = Box::new(Page {
        environ,
        chunk: Vec::new(),
    });
    // SAFETY: the host's out-pointer.
    unsafe {
        body.write(nsgi_body {
            vtable: &PAGER_BODY,
            state: Box::into_raw(page).cast(),
        })
    };
    NSGI_OK
}

static PAGER: nsgi_app_descriptor = nsgi_app_descriptor {
    magic: NSGI_APP_MAGIC,
    abi_major: NSGI_ABI_MAJOR,
    abi_minor: NSGI_ABI_MINOR,
    struct_size: NSGI_APP_DESCRIPTOR_V1_0_SIZE,
    flags: 0,
    name: nsgi_bytes::from_slice(b"pager"),
    sdk_info: nsgi_bytes::from_slice(b"test"),
    init: Some(pager_init),
    call: Some(pager_call),
    shutdown: None,
};

/// The data of one step (the head's or a chunk's); `None` at the end.
fn step_data(step: Result<Step<'_>, ResponseFailure>) -> Option<Vec<u8>> {
    match step.expect("a step") {
        Step::Head { data, end, .. } => (!end || !data.is_empty()).then(|| data.to_vec()),
        Step::Data(data) => Some(data.to_vec()),
        Step::End => None,
    }
}

/// The one test of the pager (it counts closes in a global).
#[test]
fn a_parked_exchange_goes_on_later_with_its_environ_in_place_and_the_rest_of_its_input() {
    let module = AppModule::from_static(&PAGER, "pager").expect("descriptor");
    let app = Arc::new(AppInstance::init(&module, &InitOptions::default()).expect("init"));
    let mut store = nsgi::host::RequestStore::new();
    store.environ_mut().push(b"REQUEST_METHOD", b"POST");
    store.environ_mut().push(b"PATH_INFO", b"/paged");
    let mut input: &[u8] = b"abcdefghij";
    let mut errors = Vec::new();
    let mut exchange = app.call_stored(store, &mut input, &mut errors);
    assert_eq!(step_data(exchange.next_step()).as_deref(), Some(&b"/paged:abcd"[..]));
    let parked = exchange.park(Arc::clone(&app)).expect("a stored exchange parks");
    assert_eq!(errors, b"page;");
    // The rest of the body, as the server keeps it while the exchange is parked.
    let rest = input.to_vec();

    // Another request on the same thread meanwhile, through a slot of its own.
    let mut other_store = nsgi::host::RequestStore::new();
    other_store.environ_mut().push(b"REQUEST_METHOD", b"GET");
    other_store.environ_mut().push(b"PATH_INFO", b"/other");
    let (mut other_input, mut other_errors): (&[u8], Vec<u8>) = (b"zz", Vec::new());
    let mut other = app.call_stored(other_store, &mut other_input, &mut other_errors);
    assert_eq!(step_data(other.next_step()).as_deref(), Some(&b"/other:zz"[..]));
    assert_eq!(step_data(other.next_step()), None);
    let other_store = other.finish().expect("the store comes back");
    assert_eq!(other_store.environ().get(b"PATH_INFO"), Some(&b"/other"[..]));
    assert_eq!(PAGER_CLOSES.load(Ordering::Relaxed), 1);

    // The parked exchange moves (as into a connection) and goes on, one step per resume.
    let mut parked = vec![parked].pop().expect("moved");
    assert_eq!(parked.environ().and_then(|e| e.get(b"PATH_INFO")), Some(&b"/paged"[..]));
    let mut rest_input: &[u8] = &rest;
    let mut later_errors = Vec::new();
    let mut pages = Vec::new();
    loop {
        let mut resumed = parked.resume(&mut rest_input, &mut later_errors);
        match step_data(resumed.next_step()) {
            Some(page) => pages.push(String::from_utf8(page).expect("text")),
            None => break,
        }
    }
    assert_eq!(pages, ["/paged:efgh", "/paged:ij"]);
    assert_eq!(later_errors, b"page;page;");
    assert_eq!(PAGER_CLOSES.load(Ordering::Relaxed), 2, "the end closed the body once");
    let store = parked.finish(&mut later_errors);
    assert_eq!(store.environ().get(b"PATH_INFO"), Some(&b"/paged"[..]));
    assert_eq!(PAGER_CLOSES.load(Ordering::Relaxed), 2, "finish closes nothing twice");

    // A parked exchange dropped before its end closes its body once.
    let mut input: &[u8] = b"abcdefgh";
    let mut errors = Vec::new();
    let mut exchange = app.call_stored(store, &mut input, &mut errors);
    assert!(step_data(exchange.next_step()).is_some());
    let parked = exchange.park(Arc::clone(&app)).expect("parks");
    drop(parked);
    assert_eq!(PAGER_CLOSES.load(Ordering::Relaxed), 3);

    // Only a stored exchange parks, and only with its own instance.
    let mut slot = RequestSlot::new();
    let mut environ = environ("/borrowed");
    let mut input: &[u8] = b"abcd";
    let mut errors = Vec::new();
    let borrowed = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    let borrowed = borrowed
        .park(Arc::clone(&app))
        .expect_err("a borrowed slot cannot park");
    drop(borrowed);
    let other_app = Arc::new(AppInstance::init(&module, &InitOptions::default()).expect("init"));
    let mut input: &[u8] = b"abcd";
    let mut errors = Vec::new();
    let stored = app.call_stored(other_store, &mut input, &mut errors);
    let refused = stored.park(other_app).expect_err("another instance cannot take it");
    assert!(refused.is_some(), "the store comes back");
    assert_eq!(PAGER_CLOSES.load(Ordering::Relaxed), 5);
}
