//! Fuzz target: the host side of the NSGI ABI (`abi/src/host/`) driving a hostile app.
//!
//! The app lives in this process and is handed to the host with `AppModule::from_static`, as
//! the gateway's built-in app is. Its every move is read from the fuzz input: which host
//! callbacks it calls, when (in `call`, in the body's `next`, in `close`), with what — garbage
//! status and header bytes, NULL pointers with non-zero lengths, huge counts behind NULL
//! arrays, NULL requests, undersized `exc_info` — and what it returns (broken body vtables,
//! unknown statuses, NULL chunks). Two apps share that script: a raw one written against
//! `nsgi::sys` (it can break every rule) and one built with the SDK's `app_descriptor!` (it
//! breaks only what the SDK lets through: status and header text, write order, body shape).
//!
//! The host must never crash, and what it hands the server must stay coherent: the head
//! first and once, a status it accepted, never more bytes than the declared Content-Length,
//! the same failure on every call after a failure, and the body closed exactly once when it
//! is owed (and never touched afterwards). The first input byte picks the app (bit 0), how
//! many steps the server pulls (bits 1–6) and whether it parks the exchange after every step
//! and resumes it with the rest of the body moved elsewhere, as the gateway's event loop does
//! for a slow client (bit 7).
#![no_main]

use std::cell::RefCell;
use std::ffi::c_void;
use std::io::Write;
use std::ptr;

use libfuzzer_sys::fuzz_target;
use nsgi::app::{App, Body, Error, InitArgs, Request, Response, StartResponse};
use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, RequestSlot, RequestStore, Step};
use std::sync::Arc;
use nsgi::sys::{
    self, nsgi_body, nsgi_body_vtable, nsgi_bytes, nsgi_environ, nsgi_exc_info, nsgi_header, nsgi_host_api,
    nsgi_init_args, nsgi_request, nsgi_status,
};

/// Most steps the host is asked for before the exchange is dropped (a client that left).
const MAX_STEPS: usize = 64;
/// Most host calls the app makes in one `call`, `next` or `close`.
const MAX_ACTIONS: usize = 12;

/// What the app has done, and the rest of its script. Only the fuzzing thread touches it.
#[derive(Default)]
struct AppState {
    script: Vec<u8>,
    pos: usize,
    host: Option<*const nsgi_host_api>,
    /// The body handed out by `call` has a `close` the host owes a call to.
    close_owed: bool,
    close_calls: u32,
    /// `next` or `close` was called after `close`.
    used_after_close: bool,
    /// The chunk lent to the host by the last `next`; valid until the next call into the body.
    chunk: Vec<u8>,
}

impl AppState {
    fn byte(&mut self) -> u8 {
        let b = self.script.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn short_bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte() % 64);
        let start = self.pos.min(self.script.len());
        let end = (start + n).min(self.script.len());
        self.pos = start + n;
        self.script[start..end].to_vec()
    }
}

thread_local! {
    static STATE: RefCell<AppState> = RefCell::new(AppState::default());
}

fn with_state<T>(f: impl FnOnce(&mut AppState) -> T) -> T {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

const STATUSES: [&[u8]; 6] = [
    b"200 OK",
    b"204 No Content",
    b"304 Not Modified",
    b"404 Not Found",
    b"100 Continue",
    b"500 Oops",
];
const HEADERS: [(&[u8], &[u8]); 6] = [
    (b"Content-Type", b"text/plain"),
    (b"Content-Length", b"0"),
    (b"Content-Length", b"5"),
    (b"content-length", b"18446744073709551615"),
    (b"X-Note", b"a, b"),
    (b"Connection", b"close"),
];
const ENV_KEYS: [&[u8]; 4] = [b"REQUEST_METHOD", b"PATH_INFO", b"HTTP_X", b"NOPE"];

/// `{ptr, len}` over `bytes`, or, when `null` says so, a NULL pointer that lies about its length.
fn bytes_arg(bytes: &[u8], null: bool, lie: u8) -> nsgi_bytes {
    if null {
        nsgi_bytes {
            ptr: ptr::null(),
            len: if lie & 1 == 0 { usize::from(lie) + 1 } else { usize::MAX },
        }
    } else {
        nsgi_bytes::from_slice(bytes)
    }
}

/// Calls host functions as the script says, until it says stop or `MAX_ACTIONS` calls are made.
///
/// # Safety
/// `req` is the request the host passed to the app, live for this call.
unsafe fn act(req: *mut nsgi_request) {
    for _ in 0..MAX_ACTIONS {
        let Some(host) = with_state(|s| s.host) else { return };
        // SAFETY: the table the host passed to init; it lives until shutdown.
        let host = unsafe { &*host };
        let op = with_state(|s| s.byte());
        let flags = with_state(|s| s.byte());
        let r = if flags & 0x80 != 0 { ptr::null_mut() } else { req };
        match op % 11 {
            0 => return,
            1 => start_response(host, r, flags),
            2 => {
                let (data, lie) = with_state(|s| (s.short_bytes(), s.byte()));
                // SAFETY: the host's own function, called with a (possibly hostile) argument set
                // whose pointers are NULL or valid for the stated length.
                unsafe { host.write.unwrap()(r, bytes_arg(&data, flags & 1 != 0, lie)) };
            }
            3 | 4 => {
                let cap = usize::from(with_state(|s| s.byte()));
                let mut buf = vec![0u8; cap];
                let (p, n) = if flags & 1 != 0 {
                    (ptr::null_mut(), cap.max(1) << (flags & 0x1f))
                } else {
                    (buf.as_mut_ptr(), cap)
                };
                let f = if op % 11 == 3 {
                    host.input_read.unwrap()
                } else {
                    host.input_readline.unwrap()
                };
                // SAFETY: as above.
                let got = unsafe { f(r, p, n) };
                assert!(got <= n as i64, "the host claims to have read {got} bytes into {n}");
            }
            5 => {
                let key = if flags & 2 != 0 {
                    with_state(|s| s.short_bytes())
                } else {
                    ENV_KEYS[usize::from(flags >> 2 & 3)].to_vec()
                };
                let mut value = nsgi_bytes::EMPTY;
                let out = if flags & 1 != 0 {
                    ptr::null_mut()
                } else {
                    &mut value as *mut nsgi_bytes
                };
                // SAFETY: as above.
                let status = unsafe {
                    host.environ_get.unwrap()(r, bytes_arg(&key, flags & 4 != 0 && flags & 2 != 0, flags), out)
                };
                if status == sys::NSGI_OK && !value.ptr.is_null() {
                    // SAFETY: the host says the value borrows the environ, live for the request.
                    let _ = unsafe { std::slice::from_raw_parts(value.ptr, value.len) }
                        .iter()
                        .map(|&b| b as u32)
                        .sum::<u32>();
                }
            }
            6 => {
                let (data, lie) = with_state(|s| (s.short_bytes(), s.byte()));
                // SAFETY: as above.
                unsafe { host.errors_write.unwrap()(r, bytes_arg(&data, flags & 1 != 0, lie)) };
            }
            // SAFETY: as above.
            7 => unsafe {
                host.errors_flush.unwrap()(r);
            },
            8 => {
                let (msg, level) = with_state(|s| (s.short_bytes(), s.byte()));
                let data = if flags & 2 != 0 {
                    ptr::null_mut()
                } else {
                    host.host_data
                };
                // SAFETY: as above; host_data is the table's own or NULL.
                unsafe {
                    host.log.unwrap()(
                        data,
                        r,
                        i32::from(level as i8) * 1000 + i32::from(level),
                        bytes_arg(&msg, flags & 1 != 0, level),
                    )
                };
            }
            9 => {
                if let Some(file_body) = host.file_body {
                    let mut body = nsgi_body {
                        vtable: ptr::null(),
                        state: ptr::null_mut(),
                    };
                    let out = if flags & 1 != 0 {
                        ptr::null_mut()
                    } else {
                        &mut body as *mut nsgi_body
                    };
                    // With NSGI_FILE_TAKE_FD (flag bit 1) the host owns the descriptor on every
                    // path and closes it when it refuses the call (docs/abi.md §10): hand it one
                    // of our own to keep, never one the process still uses.
                    let fd = if flags & 1 != 0 {
                        std::fs::File::open("/dev/null").map_or(-1, std::os::fd::IntoRawFd::into_raw_fd)
                    } else {
                        -1 - i32::from(flags & 0x7f)
                    };
                    // SAFETY: as above; `fd` is never a descriptor the host could use for a body.
                    let status = unsafe { file_body(r, fd, 0, u64::MAX, u32::from(flags & 1), out) };
                    assert_ne!(status, sys::NSGI_OK, "a file body over fd {fd}");
                }
            }
            _ => {
                let id: *const std::ffi::c_char = if flags & 1 != 0 {
                    ptr::null()
                } else {
                    c"nsgi.fuzz".as_ptr()
                };
                // SAFETY: as above.
                let found = unsafe { host.get_extension.unwrap()(host.host_data, id) };
                assert!(found.is_null());
            }
        }
    }
}

/// One `start_response` call with arguments from the script.
fn start_response(host: &nsgi_host_api, req: *mut nsgi_request, flags: u8) {
    let (status, header_data, n_raw, size, lie) = with_state(|s| {
        let status = if flags & 2 != 0 {
            s.short_bytes()
        } else {
            STATUSES[usize::from(s.byte()) % STATUSES.len()].to_vec()
        };
        let n = usize::from(s.byte() % 6);
        let mut headers = Vec::new();
        for _ in 0..n {
            let pick = s.byte();
            let (name, value) = if pick & 0x80 != 0 {
                (s.short_bytes(), s.short_bytes())
            } else {
                let (n, v) = HEADERS[usize::from(pick) % HEADERS.len()];
                (n.to_vec(), v.to_vec())
            };
            headers.push((name, value, pick & 0x40 != 0, pick & 0x20 != 0));
        }
        (status, headers, s.byte(), s.byte(), s.byte())
    });
    let headers: Vec<nsgi_header> = header_data
        .iter()
        .map(|(name, value, null_name, null_value)| nsgi_header {
            name: bytes_arg(name, *null_name, lie),
            value: bytes_arg(value, *null_value, lie),
        })
        .collect();
    let (array, count) = match n_raw % 4 {
        // A NULL array with a count.
        0 if flags & 8 != 0 => (ptr::null(), usize::from(n_raw) << (n_raw & 0x3f) | 1),
        1 if flags & 8 != 0 => (ptr::null(), usize::MAX),
        _ if headers.is_empty() => (ptr::null(), 0),
        _ => (headers.as_ptr(), headers.len()),
    };
    let exc_type = b"ValueError";
    let exc = nsgi_exc_info {
        struct_size: if size & 1 != 0 {
            u32::from(size)
        } else {
            sys::NSGI_EXC_INFO_V1_0_SIZE
        },
        code: -1,
        type_name: bytes_arg(exc_type, size & 2 != 0, lie),
        message: bytes_arg(&status, size & 4 != 0, lie),
    };
    let exc_ptr = if flags & 4 != 0 {
        &exc as *const nsgi_exc_info
    } else {
        ptr::null()
    };
    // SAFETY: the host's own function; every pointer is NULL or valid for its stated length.
    unsafe { host.start_response.unwrap()(req, bytes_arg(&status, flags & 0x10 != 0, lie), array, count, exc_ptr) };
}

unsafe extern "C" fn raw_init(
    host: *const nsgi_host_api,
    _args: *const nsgi_init_args,
    app_out: *mut *mut c_void,
) -> nsgi_status {
    with_state(|s| s.host = Some(host));
    // SAFETY: the host passes a writable out-pointer.
    unsafe { app_out.write(ptr::dangling_mut::<u8>().cast()) };
    sys::NSGI_OK
}

static GOOD_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: sys::NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(raw_next),
    close: Some(raw_close),
};
static SMALL_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: 4,
    next: Some(raw_next),
    close: Some(raw_close),
};
static NO_NEXT_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: sys::NSGI_BODY_VTABLE_V1_0_SIZE,
    next: None,
    close: Some(raw_close),
};
static NO_CLOSE_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: sys::NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(raw_next),
    close: None,
};

unsafe extern "C" fn raw_call(
    _app: *mut c_void,
    req: *mut nsgi_request,
    _env: *const nsgi_environ,
    body_out: *mut nsgi_body,
) -> nsgi_status {
    // SAFETY: `req` is live during call.
    unsafe { act(req) };
    let outcome = with_state(|s| s.byte());
    let vtable: *const nsgi_body_vtable = match outcome % 6 {
        0 => &GOOD_VTABLE,
        1 => ptr::null(),
        2 => &SMALL_VTABLE,
        3 => &NO_NEXT_VTABLE,
        4 => &NO_CLOSE_VTABLE,
        _ => {
            let status = with_state(|s| s.byte());
            return if status == 0 {
                sys::NSGI_E_APP
            } else {
                -i32::from(status) * 3
            };
        }
    };
    // SAFETY: the host passes a writable out-pointer.
    unsafe {
        body_out.write(nsgi_body {
            vtable,
            state: ptr::dangling_mut::<u8>().cast(),
        })
    };
    // SAFETY: when non-NULL, one of the statics above.
    let has_close = !vtable.is_null() && unsafe { (*vtable).close.is_some() };
    with_state(|s| s.close_owed = has_close);
    sys::NSGI_OK
}

unsafe extern "C" fn raw_next(_state: *mut c_void, req: *mut nsgi_request, chunk_out: *mut nsgi_bytes) -> nsgi_status {
    with_state(|s| s.used_after_close |= s.close_calls > 0);
    // SAFETY: `req` is live during next.
    unsafe { act(req) };
    let (outcome, chunk) = with_state(|s| {
        let outcome = s.byte();
        s.chunk = s.short_bytes();
        (outcome, nsgi_bytes::from_slice(&s.chunk))
    });
    let (status, chunk) = match outcome % 6 {
        0 => (sys::NSGI_DONE, nsgi_bytes::EMPTY),
        1 | 2 => (sys::NSGI_OK, chunk),
        3 => (sys::NSGI_OK, bytes_arg(b"", true, outcome)),
        4 => (-i32::from(outcome), nsgi_bytes::EMPTY),
        _ => (i32::from(outcome), nsgi_bytes::EMPTY),
    };
    // SAFETY: the host passes a writable out-pointer.
    unsafe { chunk_out.write(chunk) };
    status
}

unsafe extern "C" fn raw_close(_state: *mut c_void, req: *mut nsgi_request) {
    with_state(|s| {
        s.used_after_close |= s.close_calls > 0;
        s.close_calls += 1;
    });
    // SAFETY: `req` is live during close.
    unsafe { act(req) };
}

static RAW_APP: nsgi::sys::nsgi_app_descriptor = nsgi::sys::nsgi_app_descriptor {
    magic: sys::NSGI_APP_MAGIC,
    abi_major: sys::NSGI_ABI_MAJOR,
    abi_minor: sys::NSGI_ABI_MINOR,
    struct_size: sys::NSGI_APP_DESCRIPTOR_V1_0_SIZE,
    flags: 0,
    name: nsgi_bytes::from_slice(b"hostile"),
    sdk_info: nsgi_bytes::from_slice(b"fuzz"),
    init: Some(raw_init),
    call: Some(raw_call),
    shutdown: None,
};

/// The SDK app: status, headers, writes and body chunks from the script.
struct SdkApp;

impl App for SdkApp {
    const NAME: &'static str = "hostile-sdk";

    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(SdkApp)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let mut sink = [0u8; 16];
        let _ = std::io::Read::read(req.input(), &mut sink);
        let (status, headers, writes, chunks, fail) = with_state(|s| {
            let flags = s.byte();
            let status = if flags & 1 != 0 {
                String::from_utf8_lossy(&s.short_bytes()).into_owned()
            } else {
                String::from_utf8_lossy(STATUSES[usize::from(s.byte()) % STATUSES.len()]).into_owned()
            };
            let headers: Vec<(String, String)> = (0..s.byte() % 4)
                .map(|_| {
                    let pick = s.byte();
                    let (n, v) = if pick & 0x80 != 0 {
                        (s.short_bytes(), s.short_bytes())
                    } else {
                        let (n, v) = HEADERS[usize::from(pick) % HEADERS.len()];
                        (n.to_vec(), v.to_vec())
                    };
                    (
                        String::from_utf8_lossy(&n).into_owned(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect();
            let writes: Vec<Vec<u8>> = (0..s.byte() % 3).map(|_| s.short_bytes()).collect();
            let chunks: Vec<Vec<u8>> = (0..s.byte() % 4).map(|_| s.short_bytes()).collect();
            (status, headers, writes, chunks, flags & 2 != 0)
        });
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let mut started = start.start(&status, &pairs)?;
        for w in &writes {
            started.write_all(w)?;
        }
        if fail {
            return Err("the app gave up".into());
        }
        Ok(started.body(Body::from_chunks(chunks)))
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, script)) = input.split_first() else {
        return;
    };
    STATE.with(|s| {
        *s.borrow_mut() = AppState {
            script: script.to_vec(),
            ..AppState::default()
        }
    });
    let descriptor = if mode & 1 == 0 {
        &RAW_APP
    } else {
        nsgi::app_descriptor!(SdkApp)
    };
    let module = AppModule::from_static(descriptor, "fuzz").expect("a valid descriptor");
    let app = Arc::new(AppInstance::init(&module, &InitOptions::default()).expect("init succeeds"));

    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", b"POST");
    environ.push(b"PATH_INFO", b"/");
    environ.push_http_header(b"X", b"1");
    let body = with_state(|s| s.short_bytes());
    environ.set_content_length(Some(body.len() as u64));
    let mut input: &[u8] = &body;
    let mut errors = Vec::new();
    let stop_after = usize::from((mode >> 1) & 0x3f).min(MAX_STEPS);
    let stop_after = if stop_after == 0 { MAX_STEPS } else { stop_after };
    if mode & 0x80 == 0 {
        let mut slot = RequestSlot::new();
        let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
        let mut drive = Drive::default();
        for _ in 0..stop_after {
            if !drive.step(&mut exchange) {
                break;
            }
        }
    } else {
        // As an event loop with a slow client would: park after every step and resume later,
        // with the rest of the body moved to another buffer each time.
        let mut store = RequestStore::new();
        std::mem::swap(store.environ_mut(), &mut environ);
        let exchange = app.call_stored(store, &mut input, &mut errors);
        let Ok(mut parked) = exchange.park(Arc::clone(&app)) else {
            panic!("a stored exchange parks with its own instance");
        };
        let mut rest = input.to_vec();
        let mut drive = Drive::default();
        for _ in 0..stop_after {
            let mut moved: &[u8] = &rest;
            let go_on = {
                let mut resumed = parked.resume(&mut moved, &mut errors);
                drive.step(&mut resumed)
            };
            rest = moved.to_vec();
            if !go_on {
                break;
            }
        }
        drop(parked);
    }
    let (close_owed, close_calls, used_after_close) = with_state(|s| (s.close_owed, s.close_calls, s.used_after_close));
    if mode & 1 == 0 {
        assert_eq!(close_calls, u32::from(close_owed), "close calls (owed: {close_owed})");
        assert!(!used_after_close, "the body was used after close");
    }
    drop(app);
});

/// The steps of a response, from an exchange or a resumed parked one.
trait Steps {
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure>;
    fn violations(&self) -> &[nsgi::host::Violation];
}

impl Steps for nsgi::host::Exchange<'_> {
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure> {
        nsgi::host::Exchange::next_step(self)
    }
    fn violations(&self) -> &[nsgi::host::Violation] {
        nsgi::host::Exchange::violations(self)
    }
}

impl Steps for nsgi::host::Resumed<'_> {
    fn next_step(&mut self) -> Result<Step<'_>, nsgi::host::ResponseFailure> {
        nsgi::host::Resumed::next_step(self)
    }
    fn violations(&self) -> &[nsgi::host::Violation] {
        nsgi::host::Resumed::violations(self)
    }
}

/// Pulls the response as a server would, one step at a time, and checks what comes out.
#[derive(Default)]
struct Drive {
    head_seen: bool,
    declared: Option<u64>,
    sent: u64,
}

impl Drive {
    /// One step; false once the response is over.
    fn step(&mut self, exchange: &mut impl Steps) -> bool {
        match exchange.next_step() {
            Ok(Step::Head { head, data, end }) => {
                assert!(!self.head_seen, "a second head");
                self.head_seen = true;
                let code = head.status_code();
                assert!((100..=999).contains(&code), "status code {code}");
                let status = head.status();
                assert!(status.len() >= 3 && status[..3] == *code.to_string().as_bytes());
                self.declared = head.content_length();
                assert!(end || !data.is_empty(), "an empty first chunk that is not the end");
                self.sent += data.len() as u64;
                if end {
                    assert!(matches!(exchange.next_step(), Ok(Step::End)));
                    return false;
                }
            }
            Ok(Step::Data(data)) => {
                assert!(self.head_seen, "data before the head");
                assert!(!data.is_empty());
                self.sent += data.len() as u64;
            }
            Ok(Step::End) => {
                assert!(self.head_seen, "the end before the head");
                assert!(matches!(exchange.next_step(), Ok(Step::End)));
                return false;
            }
            Err(failure) => {
                let first = failure.to_string();
                assert!(!exchange.violations().is_empty());
                let again = exchange.next_step().map(|_| ()).map_err(|f| f.to_string());
                assert_eq!(again, Err(first), "a failure that does not stay");
                return false;
            }
        }
        if let Some(declared) = self.declared {
            assert!(self.sent <= declared, "{} bytes out with a Content-Length of {declared}", self.sent);
        }
        true
    }
}
