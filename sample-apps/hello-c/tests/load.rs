//! Smoke test of the C sample: loads the real `libhello_c.so` with `libloading`, checks the
//! descriptor handshake, then drives init/call/next/close/shutdown through the shared fake host
//! table (`nsgi_testkit::fake_host`). The full behaviour over HTTP is tested with the gateway elsewhere.

use std::ffi::c_void;
use std::ptr;

use nsgi::sys::*;
use nsgi_testkit::fake_host::{FakeRequest, FakeTable, Header};

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

// ---- The host: the shared fake (`nsgi_testkit::fake_host`) ---------------------------------

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
    let host = FakeTable::new();
    let (rc, app) = init(host.api());
    assert_eq!(rc, NSGI_OK, "init: {:?}", host.logs());
    assert!(!app.is_null());

    let d = descriptor();
    let call = d.call.expect("call");
    for _ in 0..3 {
        let mut req = FakeRequest::default();
        let env = environ();
        let mut body = nsgi_body {
            vtable: ptr::null(),
            state: ptr::null_mut(),
        };
        // SAFETY: live app, request token, environ and out-pointer.
        let rc = unsafe { call(app, req.handle(), &env, &mut body) };
        assert_eq!(rc, NSGI_OK);

        let starts: Vec<_> = req.start_responses().collect();
        assert_eq!(starts.len(), 1);
        let (status, headers, exc, result) = starts[0];
        assert_eq!((status, exc, result), (&b"200 OK"[..], false, NSGI_OK));
        let want: Vec<Header> = vec![
            (b"Content-Type".to_vec(), b"text/plain; charset=utf-8".to_vec()),
            (b"Content-Length".to_vec(), b"13".to_vec()),
        ];
        assert_eq!(headers, &want[..]);

        assert!(!body.vtable.is_null());
        // SAFETY: a successful call returned a valid static vtable.
        let vt = unsafe { &*body.vtable };
        assert_eq!(vt.struct_size, NSGI_BODY_VTABLE_V1_0_SIZE);
        let (next, close) = (vt.next.expect("next"), vt.close.expect("close"));
        let req_ptr: *mut nsgi_request = req.handle();
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
    assert!(host.logs().is_empty(), "unexpected log lines: {:?}", host.logs());
}

#[test]
fn start_response_failure_is_reported() {
    let host = FakeTable::new();
    let (rc, app) = init(host.api());
    assert_eq!(rc, NSGI_OK);

    let d = descriptor();
    let mut req = FakeRequest {
        start_response_answer: Some(NSGI_E_INVAL),
        ..FakeRequest::default()
    };
    let env = environ();
    let mut body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    // SAFETY: as in serves_hello_world.
    let rc = unsafe { d.call.expect("call")(app, req.handle(), &env, &mut body) };
    assert_eq!(rc, NSGI_E_INVAL);
    assert!(body.vtable.is_null(), "a failed call must leave body_out->vtable NULL");
    let logs = host.logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].0, NSGI_LOG_ERROR);

    // SAFETY: no request is in flight.
    unsafe { d.shutdown.expect("shutdown")(app) };
}

#[test]
fn init_refuses_another_major() {
    let mut host = FakeTable::new();
    host.api_mut().abi_major = 2;
    let (rc, app) = init(host.api());
    assert_eq!(rc, NSGI_E_UNSUPPORTED);
    assert!(app.is_null());
    let logs = host.logs();
    assert_eq!(logs.len(), 1, "init should log why it failed");
    assert_eq!(logs[0].0, NSGI_LOG_ERROR);
    assert!(logs[0].2.contains("major"), "{logs:?}");
}

#[test]
fn init_refuses_a_table_without_start_response() {
    let mut host = FakeTable::new();
    // A (hypothetical) host whose table ends before start_response.
    host.api_mut().struct_size = core::mem::offset_of!(nsgi_host_api, start_response) as u32;
    let (rc, app) = init(host.api());
    assert_eq!(rc, NSGI_E_UNSUPPORTED);
    assert!(app.is_null());
    assert_eq!(host.logs().len(), 1, "init should log why it failed");
}
