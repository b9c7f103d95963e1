//! Zero-copy sending of a file range to a socket (`sendfile(2)`): the kernel moves the bytes
//! from the page cache to the socket, none pass through the gateway's memory. Also the positioned
//! read (`pread(2)`) of a borrowed descriptor, for the small file bodies that are copied instead.
//!
//! Owns only the raw calls. Never decides framing or what to do when it cannot serve: callers
//! fall back to plain reads and writes on [`io::ErrorKind::Unsupported`] or `EINVAL`-like errors
//! (see [`cannot_serve`]).

use std::io;
use std::os::fd::BorrowedFd;

/// Sends up to `count` bytes of `file` from `*offset` to the socket `out`, advancing `*offset`
/// by what was sent. A non-blocking socket that is full fails with `WouldBlock`; `Ok(0)` means
/// the file ended before `*offset + count`. Leaves the file's own offset alone.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn send_file(
    out: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut position = libc::off_t::try_from(*offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors are open for as long as their borrows last, which covers the
    // call; `position` is a valid, writable off_t that the kernel updates in place.
    let sent = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut position, count) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = u64::try_from(position).unwrap_or(*offset);
    Ok(sent.unsigned_abs())
}

/// Without `sendfile(2)`: always [`io::ErrorKind::Unsupported`], so callers use plain reads.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn send_file(
    _out: BorrowedFd<'_>,
    _file: BorrowedFd<'_>,
    _offset: &mut u64,
    _count: usize,
) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Appends up to `count` bytes of `file` at `offset` to `out` (`pread(2)` straight into its
/// spare capacity, so the bytes are not zeroed first); returns how many were read, `Ok(0)` at the
/// end of the file. The file's own offset is left alone, so a descriptor shared with the app is
/// not disturbed.
pub(crate) fn append_at(file: BorrowedFd<'_>, out: &mut Vec<u8>, count: usize, offset: u64) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let position = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    out.reserve(count);
    let spare = out.spare_capacity_mut();
    // SAFETY: the descriptor is open for as long as its borrow lasts, which covers the call;
    // `spare` is writable memory of at least `count` bytes (reserved above), owned by `out` and
    // not aliased during the call.
    let read = unsafe { libc::pread(file.as_raw_fd(), spare.as_mut_ptr().cast(), count, position) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    let read = read.unsigned_abs().min(count);
    // SAFETY: the kernel initialised the first `read` bytes of the spare capacity (`read` is at
    // most `count`, which fits in it).
    unsafe { out.set_len(out.len() + read) };
    Ok(read)
}

/// True for the errors that mean "sendfile cannot serve this pair of descriptors" (not a
/// failed client): the caller then sends the range with reads and writes instead.
pub(crate) fn cannot_serve(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Unsupported
        || matches!(
            error.raw_os_error(),
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn a_file_range_reaches_the_socket_and_the_offset_advances() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(b"0123456789").expect("write");
        let (mut reader, writer) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let mut offset = 3;
        let sent = match send_file(writer.as_fd(), file.as_fd(), &mut offset, 4) {
            Err(e) if cannot_serve(&e) => return, // a platform without sendfile
            other => other.expect("sendfile"),
        };
        assert_eq!((sent, offset), (4, 7));
        drop(writer);
        let mut received = Vec::new();
        reader.read_to_end(&mut received).expect("read");
        assert_eq!(received, b"3456");
    }

    #[test]
    fn append_at_appends_from_the_offset_and_leaves_the_file_offset_alone() {
        let mut file = tempfile::tempfile().expect("temp file");
        file.write_all(b"0123456789").expect("write");
        let mut out = b"head:".to_vec();
        assert_eq!(append_at(file.as_fd(), &mut out, 4, 2).expect("pread"), 4);
        assert_eq!(out, b"head:2345");
        assert_eq!(
            append_at(file.as_fd(), &mut out, 4, 8).expect("pread"),
            2,
            "short at the end"
        );
        assert_eq!(append_at(file.as_fd(), &mut out, 4, 10).expect("pread at the end"), 0);
        assert_eq!(out, b"head:234589");
        use std::io::Seek;
        assert_eq!(
            file.stream_position().expect("offset"),
            10,
            "the write's offset, untouched"
        );
    }
}
