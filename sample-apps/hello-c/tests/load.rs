//! Smoke test of the C sample: loads the real `libhello_c.so` with `libloading`, checks the
//! descriptor handshake, then drives init/call/next/close/shutdown through a minimal fake host
//! table. The full behaviour over HTTP is tested with the gateway elsewhere.

use std::ffi::c_void;
use std::ptr;

use nsgi::sys::*;

/// Loads the library once and returns its descriptor. The library is leaked on purpose: NSGI
/// libraries are never unloaded.
fn descriptor() -> &'static nsgi_app_descriptor {
    // SAFETY: hello_c's initialisers are those of a plain C library (none of its own).
    let lib = unsafe { libloading::Library::new(hello_c::LIBRARY_PATH) }
        .unwrap_or_else(|e| panic!("dlopen {}: {e}", hello_c::LIBRARY_PATH));
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol has the `nsgi_app_entry_fn` signature (declared in nsgi.h).
    let entry = unsafe { lib.get::<nsgi_app_entry_fn>(NSGI_ENTRY_SYMBOL_V1.as_bytes()) }
        .expect("libhello_c.so exports nsgi_app_entry_v1");
    // SAFETY: the entry point has no side effects and returns a pointer to static data.
    let desc = unsafe { entry() };
    assert!(!desc.is_null(), "nsgi_app_entry_v1 returned NULL");
    // SAFETY: non-null pointer to a static descriptor that lives as long as the (leaked) library.
    unsafe { &*desc }
}

fn bytes(b: nsgi_bytes) -> Vec<u8> {
    if b.len == 0 {
        return Vec::new();
    }
    assert!(!b.ptr.is_null(), "nsgi_bytes with len {} and a NULL ptr", b.len);
    // SAFETY: the ABI guarantees `len` readable bytes at a non-null `ptr` during the call.
    unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec()
}

#[test]
fn descriptor_handshake() {
    let d = descriptor();
    assert_eq!(d.magic, NSGI_APP_MAGIC);
    assert_eq!(d.abi_major, NSGI_ABI_MAJOR);
    assert_eq!(d.abi_minor, NSGI_ABI_MINOR);
    assert_eq!(d.struct_size, NSGI_APP_DESCRIPTOR_V1_0_SIZE);
    assert_eq!(d.flags, NSGI_APP_THREAD_SAFE);
    assert_eq!(bytes(d.name), b"hello-c");
    assert_eq!(bytes(d.sdk_info), b"C");
    assert!(d.init.is_some() && d.call.is_some() && d.shutdown.is_some());
}

// ---- A minimal fake host -------------------------------------------------------------------

/// A header as the fake host copied it: (name, value).
type Header = (Vec<u8>, Vec<u8>);

/// One `start_response` call as the fake host recorded it: (status, headers, exc_info given).
type StartResponseCall = (Vec<u8>, Vec<Header>, bool);

/// What the fake host saw. `host_data` points at one of these; so does `req` (cast).
#[derive(Default)]
struct Seen {
    logs: Vec<(i32, String)>,
    start_response: Vec<StartResponseCall>,
    /// What `start_response` returns.
    start_response_result: nsgi_status,
}

unsafe extern "C" fn log(host_data: *mut c_void, _req: *mut nsgi_request, level: i32, msg: nsgi_bytes) {
    // SAFETY: the tests pass a live `Seen` as host_data.
    let seen = unsafe { &mut *host_data.cast::<Seen>() };
    seen.logs
        .push((level, String::from_utf8_lossy(&bytes(msg)).into_owned()));
}

unsafe extern "C" fn start_response(
    req: *mut nsgi_request,
    status: nsgi_bytes,
    headers: *const nsgi_header,
    n_headers: usize,
    exc_info: *const nsgi_exc_info,
) -> nsgi_status {
    // SAFETY: the tests pass a live `Seen` as the request pointer.
    let seen = unsafe { &mut *req.cast::<Seen>() };
    let headers = if n_headers == 0 {
        &[][..]
    } else {
        // SAFETY: the ABI promises `n_headers` headers at `headers` during the call.
        unsafe { std::slice::from_raw_parts(headers, n_headers) }
    };
    let headers = headers.iter().map(|h| (bytes(h.name), bytes(h.value))).collect();
    seen.start_response.push((bytes(status), headers, !exc_info.is_null()));
    seen.start_response_result
}

fn host_table(seen: &mut Seen) -> nsgi_host_api {
    nsgi_host_api {
        struct_size: NSGI_HOST_API_V1_0_SIZE,
        abi_major: NSGI_ABI_MAJOR,
        abi_minor: NSGI_ABI_MINOR,
        host_data: ptr::from_mut(seen).cast(),
        log: Some(log),
        environ_get: None,
        input_read: None,
        input_readline: None,
        errors_write: None,
        errors_flush: None,
        start_response: Some(start_response),
        write: None,
        file_body: None,
        get_extension: None,
    }
}

fn init_args() -> nsgi_init_args {
    nsgi_init_args {
        struct_size: NSGI_INIT_ARGS_V1_0_SIZE,
        flags: 0,
        mount_name: nsgi_bytes::from_slice(b"hello-c"),
        script_name: nsgi_bytes::EMPTY,
        config: nsgi_bytes::EMPTY,
        options: ptr::null(),
        n_options: 0,
        max_concurrency: 1,
    }
}

fn init(host: &nsgi_host_api) -> (nsgi_status, *mut c_void) {
    let init = descriptor().init.expect("init");
    let args = init_args();
    let mut app = ptr::null_mut();
    // SAFETY: valid host table, args and out-pointer for the duration of the call.
    let rc = unsafe { init(host, &args, &mut app) };
    (rc, app)
}

fn environ() -> nsgi_environ {
    nsgi_environ {
        struct_size: NSGI_ENVIRON_V1_0_SIZE,
        flags: 0,
        vars: ptr::null(),
        n_vars: 0,
        url_scheme: nsgi_bytes::from_slice(b"http"),
        content_length: NSGI_NO_LENGTH,
    }
}

#[test]
fn serves_hello_world() {
    let mut host_seen = Seen::default();
    let host = host_table(&mut host_seen);
    let (rc, app) = init(&host);
    assert_eq!(rc, NSGI_OK, "init: {:?}", host_seen.logs);
    assert!(!app.is_null());

    let d = descriptor();
    let call = d.call.expect("call");
    for _ in 0..3 {
        let mut req = Seen::default();
        let env = environ();
        let mut body = nsgi_body {
            vtable: ptr::null(),
            state: ptr::null_mut(),
        };
        // SAFETY: live app, request token, environ and out-pointer.
        let rc = unsafe { call(app, ptr::from_mut(&mut req).cast(), &env, &mut body) };
        assert_eq!(rc, NSGI_OK);

        assert_eq!(req.start_response.len(), 1);
        let (status, headers, exc) = &req.start_response[0];
        assert_eq!(status, b"200 OK");
        assert!(!exc);
        let want: Vec<Header> = vec![
            (b"Content-Type".to_vec(), b"text/plain; charset=utf-8".to_vec()),
            (b"Content-Length".to_vec(), b"13".to_vec()),
        ];
        assert_eq!(headers, &want);

        assert!(!body.vtable.is_null());
        // SAFETY: a successful call returned a valid static vtable.
        let vt = unsafe { &*body.vtable };
        assert_eq!(vt.struct_size, NSGI_BODY_VTABLE_V1_0_SIZE);
        let (next, close) = (vt.next.expect("next"), vt.close.expect("close"));
        let req_ptr: *mut nsgi_request = ptr::from_mut(&mut req).cast();
        let mut out = Vec::new();
        loop {
            let mut chunk = nsgi_bytes::EMPTY;
            // SAFETY: live body state; the chunk is copied before the next call.
            match unsafe { next(body.state, req_ptr, &mut chunk) } {
                NSGI_OK => out.extend(bytes(chunk)),
                NSGI_DONE => break,
                e => panic!("next returned {e}"),
            }
            assert!(out.len() <= 13, "body longer than Content-Length");
        }
        assert_eq!(out, b"Hello, World!");
        // SAFETY: close exactly once, after which the state is gone.
        unsafe { close(body.state, req_ptr) };
    }

    // SAFETY: no request is in flight; the app is not used afterwards.
    unsafe { d.shutdown.expect("shutdown")(app) };
    assert!(host_seen.logs.is_empty(), "unexpected log lines: {:?}", host_seen.logs);
}

#[test]
fn start_response_failure_is_reported() {
    let mut host_seen = Seen::default();
    let host = host_table(&mut host_seen);
    let (rc, app) = init(&host);
    assert_eq!(rc, NSGI_OK);

    let d = descriptor();
    let mut req = Seen {
        start_response_result: NSGI_E_INVAL,
        ..Seen::default()
    };
    let env = environ();
    let mut body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    // SAFETY: as in serves_hello_world.
    let rc = unsafe { d.call.expect("call")(app, ptr::from_mut(&mut req).cast(), &env, &mut body) };
    assert_eq!(rc, NSGI_E_INVAL);
    assert!(body.vtable.is_null(), "a failed call must leave body_out->vtable NULL");
    assert_eq!(host_seen.logs.len(), 1, "{:?}", host_seen.logs);
    assert_eq!(host_seen.logs[0].0, NSGI_LOG_ERROR);

    // SAFETY: no request is in flight.
    unsafe { d.shutdown.expect("shutdown")(app) };
}

#[test]
fn init_refuses_another_major() {
    let mut seen = Seen::default();
    let mut host = host_table(&mut seen);
    host.abi_major = 2;
    let (rc, app) = init(&host);
    assert_eq!(rc, NSGI_E_UNSUPPORTED);
    assert!(app.is_null());
    assert_eq!(seen.logs.len(), 1, "init should log why it failed");
    assert_eq!(seen.logs[0].0, NSGI_LOG_ERROR);
    assert!(seen.logs[0].1.contains("major"), "{:?}", seen.logs);
}

#[test]
fn init_refuses_a_table_without_start_response() {
    let mut seen = Seen::default();
    let mut host = host_table(&mut seen);
    // A (hypothetical) host whose table ends before start_response.
    host.struct_size = core::mem::offset_of!(nsgi_host_api, start_response) as u32;
    let (rc, app) = init(&host);
    assert_eq!(rc, NSGI_E_UNSUPPORTED);
    assert!(app.is_null());
    assert_eq!(seen.logs.len(), 1, "init should log why it failed");
}
