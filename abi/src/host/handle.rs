//! Request handles: the value an app sees as its `nsgi_request *`, and the check every request
//! function makes on it before it touches a request.
//!
//! A handle is a token, never an address. Each request gets a fresh non-zero number from a
//! process-wide counter, and the thread that runs the app's `call`, `next` or `close` for that
//! request records (token, state) in a thread-local for the length of that call. A request
//! function accepts a handle only when it equals the token its own thread is serving, so a handle
//! of another request (live on another thread or not), one kept past its `close`, or a made-up
//! value is refused (`NSGI_E_STATE`; `NSGI_E_INVAL` for NULL) without ever being dereferenced,
//! and the refusal is recorded on the request the thread is serving (docs/abi.md §12).
//!
//! This module runs on every host call: it must never allocate, lock or log on the accepting path.

use super::request_state::RequestState;
use super::violation::Violation;
use crate::sys::{NSGI_E_INVAL, NSGI_E_STATE, nsgi_request, nsgi_status};
use core::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The last token handed out; tokens are never 0 (that would be NULL).
static LAST_TOKEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The request whose `call`/`next`/`close` this thread is running, if any.
    static SERVING: Cell<Serving> = const { Cell::new(Serving::NOBODY) };
}

/// One request as the thread calling into the app for it sees it: its token and its state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Serving {
    token: usize,
    state: *mut RequestState,
}

impl Serving {
    const NOBODY: Serving = Serving {
        token: 0,
        state: core::ptr::null_mut(),
    };

    /// `state` under the token it holds.
    pub(crate) fn new(state: &mut RequestState) -> Serving {
        Serving {
            token: state.handle_token,
            state,
        }
    }

    /// The handle the app is given for this request.
    pub(crate) fn handle(self) -> *mut nsgi_request {
        core::ptr::without_provenance_mut(self.token)
    }
}

/// A token no request has had before (until the counter wraps, after 2^64 requests on 64-bit
/// targets).
pub(crate) fn fresh_token() -> usize {
    loop {
        let token = LAST_TOKEN.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if token != 0 {
            return token;
        }
    }
}

/// Runs `call_app` (one call into the app for `serving`'s request) with this thread serving that
/// request, and restores what it served before (nothing, in practice) afterwards.
#[inline(always)]
pub(crate) fn serve<T>(serving: Serving, call_app: impl FnOnce() -> T) -> T {
    /// Restores the previous value even if `call_app` unwinds.
    struct Restore(Serving);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERVING.set(self.0);
        }
    }
    let _restore = Restore(SERVING.replace(serving));
    call_app()
}

/// Why a request function refused its handle: the status to answer.
pub(crate) struct Refused(pub(crate) nsgi_status);

/// The state of the request behind `req`, when `req` is the request this thread is serving.
/// Otherwise the refusal is recorded on the request this thread is serving (or logged when it
/// serves none), and the status to answer comes back.
///
/// # Safety
/// Call it once per host request function call, from that function (so that the returned
/// `&mut` is the only reference to the request's state while the app waits for it).
pub(crate) unsafe fn live_request<'r>(
    req: *mut nsgi_request,
    function: &'static str,
) -> Result<&'r mut RequestState, Refused> {
    let serving = SERVING.get();
    if serving.token != 0 && req.addr() == serving.token {
        // SAFETY: `serving.state` is the state of the request whose `call`/`next`/`close` this
        // thread is running right now (set by `serve`, restored when the call returns); while
        // the app runs, the host touches that state only through this request's callbacks, one
        // at a time on this thread.
        return Ok(unsafe { &mut *serving.state });
    }
    Err(refuse(req.is_null(), serving, function))
}

#[cold]
fn refuse(null: bool, serving: Serving, function: &'static str) -> Refused {
    let violation = Violation::RequestHandleRefused { function, null };
    if serving.state.is_null() {
        log::warn!("request function called on a thread that serves no request: {violation}");
    } else {
        // SAFETY: as in `live_request`: the request this thread is running the app for.
        unsafe { &mut *serving.state }.violate(violation);
    }
    Refused(if null { NSGI_E_INVAL } else { NSGI_E_STATE })
}
