//! The host's own body type behind `file_body` (PEP 3333 `wsgi.file_wrapper`).
//!
//! A file body reads `length` bytes of a file from `offset` with positioned reads, so it never
//! moves the descriptor's shared offset. A server that can send files itself (sendfile) asks the
//! exchange for the file's range instead of iterating ([`unread_range`], [`descriptor`]): it then
//! never reads the file through user space.
//!
//! Descriptor ownership: with `NSGI_FILE_TAKE_FD` the host owns the descriptor from the moment
//! `file_body` is called, whatever it answers: on a refusal it is closed at once
//! ([`refuse`]), otherwise with the body. Never closes a descriptor it was not given.

use crate::sys::{
    NSGI_BODY_VTABLE_V1_0_SIZE, NSGI_DONE, NSGI_E_INTERNAL, NSGI_E_IO, NSGI_FILE_TAKE_FD, NSGI_FILE_TO_EOF, NSGI_OK,
    nsgi_body, nsgi_body_vtable, nsgi_bytes, nsgi_request, nsgi_status,
};
use core::ffi::c_void;
use std::fs::File;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Block size of one read.
const FILE_BLOCK_BYTES: usize = 64 * 1024;

struct FileBody {
    file: File,
    offset: u64,
    /// Bytes left, or `NSGI_FILE_TO_EOF`.
    remaining: u64,
    buffer: Vec<u8>,
}

static FILE_BODY_VTABLE: nsgi_body_vtable = nsgi_body_vtable {
    struct_size: NSGI_BODY_VTABLE_V1_0_SIZE,
    next: Some(file_next),
    close: Some(file_close),
};

/// Makes a file body over `fd` (duplicated unless `NSGI_FILE_TAKE_FD`).
pub(crate) fn make(fd: i32, offset: u64, length: u64, flags: u32) -> Result<nsgi_body, nsgi_status> {
    let owned = if flags & NSGI_FILE_TAKE_FD != 0 {
        // SAFETY: with NSGI_FILE_TAKE_FD the app hands the open descriptor over to the host.
        unsafe { OwnedFd::from_raw_fd(fd) }
    } else {
        // SAFETY: the app guarantees `fd` is open for the duration of this call; it is only
        // duplicated here.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed.try_clone_to_owned().map_err(|_| NSGI_E_IO)?
    };
    let state = Box::new(FileBody {
        file: File::from(owned),
        offset,
        remaining: length,
        buffer: Vec::new(),
    });
    Ok(nsgi_body {
        vtable: &FILE_BODY_VTABLE,
        state: Box::into_raw(state).cast::<c_void>(),
    })
}

/// Answers a refused `file_body` call with `status`, closing `fd` first when the app handed it
/// over with `NSGI_FILE_TAKE_FD` (the host owns it on every path once that flag is passed).
pub(crate) fn refuse(fd: i32, flags: u32, status: nsgi_status) -> nsgi_status {
    if flags & NSGI_FILE_TAKE_FD != 0 && fd >= 0 {
        // SAFETY: with NSGI_FILE_TAKE_FD the app handed the open descriptor over to the host;
        // nothing else of the host holds it, so closing it here is its only close.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    status
}

/// True when `body` is a file body of this host.
#[inline]
pub(crate) fn is_file_body(body: &nsgi_body) -> bool {
    core::ptr::eq(body.vtable, &FILE_BODY_VTABLE)
}

/// The body's file state, when `body` is a file body of this host that is not closed.
fn file_state(body: &nsgi_body) -> Option<&FileBody> {
    if !is_file_body(body) || body.state.is_null() {
        return None;
    }
    // SAFETY: a body with this host's file vtable carries the FileBody boxed in `make`; the
    // exchange calls this only before the body's close, and the borrow ends before it.
    Some(unsafe { &*body.state.cast::<FileBody>() })
}

/// Where the unread rest of a file body starts and how many bytes it has (`NSGI_FILE_TO_EOF`
/// and a length past the end resolved against the file's current size); `None` when `body` is
/// not a file body, or its descriptor is not a regular file (a pipe is iterated instead).
pub(crate) fn unread_range(body: &nsgi_body) -> Option<(u64, u64)> {
    let file = file_state(body)?;
    let meta = file.file.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let available = meta.len().saturating_sub(file.offset);
    let length = if file.remaining == NSGI_FILE_TO_EOF {
        available
    } else {
        file.remaining.min(available)
    };
    Some((file.offset, length))
}

/// The descriptor of a file body (borrowed: it closes with the body).
pub(crate) fn descriptor(body: &nsgi_body) -> Option<BorrowedFd<'_>> {
    use std::os::fd::AsFd;
    file_state(body).map(|file| file.file.as_fd())
}

unsafe extern "C" fn file_next(state: *mut c_void, _req: *mut nsgi_request, chunk_out: *mut nsgi_bytes) -> nsgi_status {
    catch_unwind(AssertUnwindSafe(|| {
        if state.is_null() || chunk_out.is_null() {
            return NSGI_E_INTERNAL;
        }
        // SAFETY: `state` is the FileBody this host boxed in `make`, not yet closed.
        let body = unsafe { &mut *state.cast::<FileBody>() };
        if body.remaining == 0 {
            return NSGI_DONE;
        }
        let want = if body.remaining == NSGI_FILE_TO_EOF {
            FILE_BLOCK_BYTES
        } else {
            FILE_BLOCK_BYTES.min(usize::try_from(body.remaining).unwrap_or(FILE_BLOCK_BYTES))
        };
        body.buffer.resize(want, 0);
        let read = loop {
            match body.file.read_at(&mut body.buffer[..want], body.offset) {
                Ok(read) => break read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return NSGI_E_IO,
            }
        };
        if read == 0 {
            // End of file: a fixed length that the file does not have ends the body short, which
            // the exchange reports against the app's Content-Length.
            body.remaining = 0;
            return NSGI_DONE;
        }
        body.offset += read as u64;
        if body.remaining != NSGI_FILE_TO_EOF {
            body.remaining -= read as u64;
        }
        // SAFETY: non-NULL out-pointer; the chunk points into the body's buffer, valid until the
        // next next/close.
        unsafe {
            chunk_out.write(nsgi_bytes {
                ptr: body.buffer.as_ptr(),
                len: read,
            })
        };
        NSGI_OK
    }))
    .unwrap_or(NSGI_E_INTERNAL)
}

unsafe extern "C" fn file_close(state: *mut c_void, _req: *mut nsgi_request) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if !state.is_null() {
            // SAFETY: `state` came from Box::into_raw in `make`; close runs exactly once.
            drop(unsafe { Box::from_raw(state.cast::<FileBody>()) });
        }
    }));
}
