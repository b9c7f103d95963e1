//! Borrowing host-owned ABI buffers as Rust slices.
//!
//! This module owns the conversions from `nsgi_bytes` and `(pointer, count)` arrays to slices.
//! It never copies, and it never produces a slice from a NULL pointer (`slice::from_raw_parts`
//! requires a non-null pointer even for length 0): `(NULL, n)` becomes `&[]`.

use core::slice;

use crate::sys::{nsgi_bytes, nsgi_header};

/// Borrows the bytes of `b` for `'a`.
///
/// # Safety
/// When `b.ptr` is non-NULL, it must point to `b.len` initialised bytes that stay valid and
/// unmodified for `'a`.
pub(crate) unsafe fn bytes<'a>(b: nsgi_bytes) -> &'a [u8] {
    if b.ptr.is_null() || b.len == 0 {
        return &[];
    }
    // SAFETY: non-NULL, and the caller promises `len` valid bytes for `'a`.
    unsafe { slice::from_raw_parts(b.ptr, b.len) }
}

/// A borrowed array of name/value pairs (environ variables, init options).
#[derive(Clone, Copy)]
pub(crate) struct Pairs<'a> {
    raw: &'a [nsgi_header],
}

impl<'a> Pairs<'a> {
    /// Borrows `len` pairs at `ptr`.
    ///
    /// # Safety
    /// When `ptr` is non-NULL, it must point to `len` initialised, aligned `nsgi_header`s, and
    /// every `nsgi_bytes` in them must satisfy the contract of [`bytes`], all for `'a`.
    pub(crate) unsafe fn new(ptr: *const nsgi_header, len: usize) -> Pairs<'a> {
        if ptr.is_null() || len == 0 {
            return Pairs { raw: &[] };
        }
        // SAFETY: non-NULL, and the caller promises `len` valid headers for `'a`.
        Pairs {
            raw: unsafe { slice::from_raw_parts(ptr, len) },
        }
    }

    /// The pairs as byte slices, in the host's order.
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.raw.iter().map(|pair| {
            // SAFETY: `new`'s caller promised that every name and value is valid for `'a`.
            unsafe { (bytes(pair.name), bytes(pair.value)) }
        })
    }

    /// The value of the first pair named exactly `name`.
    pub(crate) fn get(self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Number of pairs.
    pub(crate) fn len(self) -> usize {
        self.raw.len()
    }
}

#[cfg(feature = "host")]
/// Borrows the bytes of an `nsgi_bytes` for as long as the struct is borrowed, by the one rule
/// of [`bytes`] (NULL or empty is `&[]`).
///
/// # Safety
/// When `bytes.ptr` is non-NULL, it must point to `bytes.len` initialised bytes that stay valid
/// and unmodified while `bytes` is borrowed.
pub(crate) unsafe fn bytes_of(bytes: &nsgi_bytes) -> &[u8] {
    // SAFETY: per this function's contract, for the borrow of `bytes`.
    unsafe { self::bytes(*bytes) }
}
