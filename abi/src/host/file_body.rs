//! The host's own body type behind `file_body` (PEP 3333 `wsgi.file_wrapper`).
//!
//! A file body reads `length` bytes of a file from `offset` with positioned reads, so it never
//! moves the descriptor's shared offset. A server may later recognise it by its vtable
//! and send it with sendfile instead of iterating.

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
