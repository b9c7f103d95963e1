//! [`RequestStore`]: the host-side storage of one request (its [`RequestSlot`] and its
//! [`Environ`]) at one heap address for the request's whole life.
//!
//! An app may keep the environ pointer it was given in `call` until the body's `close` returns
//! (docs/abi.md §6), so an exchange that is set aside between two steps
//! ([`Exchange::park`](super::Exchange::park)) must take its environ along without moving it.
//! The store is that: a heap block held by raw pointer (like the instance's lent tables), so
//! moving the store moves a pointer and never the block, and never re-asserts a unique borrow
//! of it under Rust's aliasing rules. It only hands out references; it never calls an app.

use super::environ::Environ;
use super::request_state::RequestSlot;
use core::ptr::NonNull;

/// What a store holds.
pub(crate) struct StoreBlock {
    pub(crate) slot: RequestSlot,
    pub(crate) environ: Environ,
}

/// Reusable storage for one request at a time whose environ never moves: what
/// [`AppInstance::call_stored`](super::AppInstance::call_stored) takes, and what a parked
/// exchange keeps. Its buffers keep their capacity from request to request.
pub struct RequestStore {
    block: NonNull<StoreBlock>,
}

// SAFETY: the block is owned by this value alone (made in `new`, freed in `drop`) and holds a
// `RequestSlot` and an `Environ`, both `Send`.
unsafe impl Send for RequestStore {}

impl Default for RequestStore {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestStore {
    /// An empty store.
    pub fn new() -> RequestStore {
        let block = Box::new(StoreBlock {
            slot: RequestSlot::new(),
            environ: Environ::new(),
        });
        RequestStore {
            block: NonNull::from(Box::leak(block)),
        }
    }

    /// The environ, to build the next request into (or to read what the last one was given).
    pub fn environ_mut(&mut self) -> &mut Environ {
        // SAFETY: the block lives until `drop`; `&mut self` makes this the only reference.
        unsafe { &mut (*self.block.as_ptr()).environ }
    }

    /// The environ of the request being (or last) answered.
    pub fn environ(&self) -> &Environ {
        // SAFETY: the block lives until `drop`; `&self` allows no `&mut` at the same time.
        unsafe { &(*self.block.as_ptr()).environ }
    }

    /// The block's address, for an exchange that owns this store to reach its parts without
    /// borrowing the store value (which moves with the exchange).
    pub(crate) fn block(&self) -> NonNull<StoreBlock> {
        self.block
    }
}

impl Drop for RequestStore {
    fn drop(&mut self) {
        // SAFETY: made from a `Box` in `new` and freed only here. An exchange that owns this
        // store drops it only after its last use of the block (see `exchange::SlotRef`).
        drop(unsafe { Box::from_raw(self.block.as_ptr()) });
    }
}

impl std::fmt::Debug for RequestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStore").finish_non_exhaustive()
    }
}
