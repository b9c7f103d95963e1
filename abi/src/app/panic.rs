//! Catching panics before they reach an `extern "C"` boundary.
//!
//! This module owns the one `catch_unwind` every trampoline uses. It turns a panic into the
//! payload's message and disposes of the payload safely: dropping a payload may itself panic, so
//! the drop runs under a second `catch_unwind`, and a payload whose drop panicked is leaked with
//! `mem::forget`. It must never let a panic escape.

use std::any::Any;
use std::mem;
use std::panic::{self, AssertUnwindSafe};

/// Runs `f`, returning its value, or the panic message if it panicked.
///
/// `AssertUnwindSafe` is sound here in the sense the std docs give it: after a panic the caller
/// poisons whatever `f` was touching, so no broken invariant is observed later.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(take_message)
}

/// The panic's message (for `panic!("...")` payloads), then disposes of the payload.
fn take_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic payload that is not a string)".to_owned()
    };
    dispose(payload);
    message
}

/// Drops a panic payload; if its destructor panics too, leaks that second payload.
fn dispose(payload: Box<dyn Any + Send>) {
    if let Err(second) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        mem::forget(second);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value() {
        assert_eq!(catch(|| 7), Ok(7));
    }

    #[test]
    fn turns_str_and_string_payloads_into_messages() {
        assert_eq!(catch(|| panic!("plain")), Err::<(), _>("plain".to_owned()));
        let n = 3;
        assert_eq!(
            catch(|| panic!("formatted {n}")),
            Err::<(), _>("formatted 3".to_owned())
        );
    }

    #[test]
    fn survives_a_payload_whose_drop_panics() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("boom while dropping the payload");
            }
        }
        let result = catch(|| std::panic::panic_any(Bomb));
        assert_eq!(result, Err("(a panic payload that is not a string)".to_owned()));
    }
}
