//! The body an app's `call` handed back, as the driver holds it: the raw `nsgi_body`, whether its
//! vtable is usable, and the one rule about its `close` — called exactly once when it is owed,
//! never when it is not. The state of that rule is an enum ([`CloseDue`]), so "closed twice" or
//! "closed without being owed" cannot be written.
//!
//! It reads the app's vtable but never calls into the app: the driver (`exchange.rs`) makes the
//! calls, inside the instance's guard, with the function pointers it gets here.

use crate::sys::{NSGI_BODY_VTABLE_V1_0_SIZE, nsgi_body, nsgi_body_close_fn, nsgi_body_next_fn};
use core::ffi::c_void;

/// Where the body's `close` stands.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CloseDue {
    /// Nothing to close: `call` failed (the app released its own state), or the body it returned
    /// has no `close`.
    NotOwed,
    /// This `close` is owed and has not been called yet: the body is open.
    Owed(nsgi_body_close_fn),
    /// `close` was called, once.
    Called,
}

/// The body of one request.
pub(crate) struct AppBody {
    raw: nsgi_body,
    /// The app's `next`, read once from a usable vtable; `None` for an unusable one.
    next: Option<nsgi_body_next_fn>,
    close: CloseDue,
}

impl AppBody {
    /// An empty body to hand to `call` as its out-parameter.
    pub(crate) const fn out_param() -> nsgi_body {
        nsgi_body {
            vtable: core::ptr::null(),
            state: core::ptr::null_mut(),
        }
    }

    /// After a failed `call`: a body it may have left behind is not ours to close.
    pub(crate) const fn after_failed_call() -> AppBody {
        AppBody {
            raw: Self::out_param(),
            next: None,
            close: CloseDue::NotOwed,
        }
    }

    /// The body a successful `call` returned, and why it is unusable if it is (NULL vtable,
    /// vtable too small, NULL `next` or `close`). An unusable body is still owed its `close` when
    /// it has one.
    pub(crate) fn after_call(raw: nsgi_body) -> (AppBody, Option<&'static str>) {
        let problem = problem(&raw);
        let next = if problem.is_none() {
            // SAFETY: `problem` found a non-NULL vtable of at least the v1.0 size.
            unsafe { (*raw.vtable).next }
        } else {
            None
        };
        let close = match close_of(&raw) {
            Some(close) => CloseDue::Owed(close),
            None => CloseDue::NotOwed,
        };
        (AppBody { raw, next, close }, problem)
    }

    /// The raw body (the host's own file bodies are recognised by it).
    pub(crate) fn raw(&self) -> &nsgi_body {
        &self.raw
    }

    /// `close` is owed and not called yet.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.close, CloseDue::Owed(_))
    }

    /// `call` succeeded with a body whose `close` was owed.
    pub(crate) fn close_was_owed(&self) -> bool {
        !matches!(self.close, CloseDue::NotOwed)
    }

    /// Times `close` was called: 0 or 1.
    pub(crate) fn close_calls(&self) -> u32 {
        u32::from(matches!(self.close, CloseDue::Called))
    }

    /// The app's `next` and the state it was made with, while a usable body is open.
    pub(crate) fn next(&self) -> Option<(nsgi_body_next_fn, *mut c_void)> {
        if !self.is_open() {
            return None;
        }
        Some((self.next?, self.raw.state))
    }

    /// Marks the body closed and hands out its `close` and state to be called now, once; `None`
    /// when no close is owed or it was already called.
    pub(crate) fn take_close(&mut self) -> Option<(nsgi_body_close_fn, *mut c_void)> {
        let CloseDue::Owed(close) = self.close else {
            return None;
        };
        self.close = CloseDue::Called;
        Some((close, self.raw.state))
    }
}

/// Why a body returned with `NSGI_OK` cannot be used, if it cannot.
fn problem(raw: &nsgi_body) -> Option<&'static str> {
    if raw.vtable.is_null() {
        return Some("NULL vtable");
    }
    // SAFETY: non-NULL vtable pointer handed over by the app with a successful call; it must
    // stay valid until close (usually it is a static).
    let vtable = unsafe { &*raw.vtable };
    if vtable.struct_size < NSGI_BODY_VTABLE_V1_0_SIZE {
        return Some("vtable struct_size smaller than v1.0");
    }
    if vtable.close.is_none() {
        return Some("NULL close");
    }
    if vtable.next.is_none() {
        return Some("NULL next");
    }
    None
}

/// The vtable's `close`, if there is a vtable.
fn close_of(raw: &nsgi_body) -> Option<nsgi_body_close_fn> {
    if raw.vtable.is_null() {
        return None;
    }
    // SAFETY: a non-NULL vtable from a successful call; `close` is read within the v1.0 layout
    // that every vtable has.
    unsafe { (*raw.vtable).close }
}
