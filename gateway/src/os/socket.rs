//! Socket options the standard library and socket2 do not offer.
//!
//! Owns `TCP_DEFER_ACCEPT`; never opens, binds or closes a socket.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Asks Linux to hand over a connection accepted on the listener `fd` only once its first data
/// has arrived (or `seconds` have passed): the accept then always finds a request to read, with
/// no wake-up, `EAGAIN` read or epoll registration for a connection that has sent nothing yet.
/// A no-op elsewhere.
pub(crate) fn defer_accept(fd: BorrowedFd<'_>, seconds: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is a live descriptor for the duration of the call (borrowed), and the
        // option value is a c_int on the stack whose size is passed with it.
        let result = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, seconds);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_tcp_listener_takes_the_option_and_a_unix_one_refuses_it() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        defer_accept(tcp.as_fd(), 5).expect("TCP_DEFER_ACCEPT on a TCP listener");
        let dir = tempfile::tempdir().expect("scratch dir");
        let unix = std::os::unix::net::UnixListener::bind(dir.path().join("s")).expect("bind unix");
        if cfg!(target_os = "linux") {
            assert!(defer_accept(unix.as_fd(), 5).is_err());
        }
    }
}
