//! systemd's readiness protocol (`sd_notify(3)`): READY, RELOADING, STOPPING and STATUS messages
//! sent as datagrams to the socket named by `NOTIFY_SOCKET`.
//!
//! Owns the wire format only. Notifying is best-effort: without `NOTIFY_SOCKET` nothing is sent,
//! and a failure is logged at debug level — it must never stop the server. The supervisor (the
//! service's main process) is the one that notifies; with `NotifyAccess=main`, systemd ignores
//! messages from workers anyway.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The environment variable naming the service manager's socket.
pub(crate) const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// How long a send may wait for room in the service manager's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `state` (e.g. `"READY=1"`, or several `KEY=value` lines) to the service manager when
/// `NOTIFY_SOCKET` is set; does nothing otherwise. Failures are logged at debug level.
pub(crate) fn notify(state: &str) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return;
    };
    let Some(socket) = socket.to_str() else {
        log::debug!("sd_notify: NOTIFY_SOCKET is not valid UTF-8; not sending {state:?}");
        return;
    };
    if let Err(e) = notify_to(socket, state) {
        log::debug!("sd_notify: cannot send {state:?} to NOTIFY_SOCKET={socket}: {e}");
    }
}

/// Sends `state` as one datagram to `socket`: an absolute path, or `@name` for an abstract
/// socket (as in `NOTIFY_SOCKET`).
pub(crate) fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    if state.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty state"));
    }
    let address = if let Some(name) = socket.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes())?
    } else if socket.starts_with('/') {
        SocketAddr::from_pathname(socket)?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path or @abstract name (vsock addresses are not supported)",
        ));
    };
    let sender = UnixDatagram::unbound()?;
    sender.set_write_timeout(Some(SEND_TIMEOUT))?;
    let sent = sender.send_to_addr(state.as_bytes(), &address)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", state.len()),
        ));
    }
    Ok(())
}

/// The service is up: `READY=1`. Also ends a reload begun with [`reloading`].
pub(crate) fn ready() {
    notify("READY=1");
}

/// A reload (SIGHUP) has begun: `RELOADING=1` with `MONOTONIC_USEC`, as `Type=notify-reload`
/// requires. Send [`ready`] when it is done.
pub(crate) fn reloading() {
    notify(&reloading_message(crate::os::fd::monotonic_usec()));
}

/// The service is shutting down: `STOPPING=1`.
pub(crate) fn stopping() {
    notify("STOPPING=1");
}

/// A one-line status for `systemctl status`: `STATUS=text` (line breaks become spaces).
pub(crate) fn status(text: &str) {
    notify(&status_message(text));
}

fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

fn status_message(text: &str) -> String {
    format!("STATUS={}", text.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::listen::tests::TestDir;

    /// A bound datagram socket standing in for systemd, with a receive deadline.
    fn manager(path: &std::path::Path) -> UnixDatagram {
        let socket = UnixDatagram::bind(path).expect("bind");
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        socket
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0_u8; 4096];
        let len = socket.recv(&mut buf).expect("a datagram");
        String::from_utf8(buf[..len].to_vec()).expect("utf-8")
    }

    #[test]
    fn delivers_the_exact_datagram_to_a_path() {
        let dir = TestDir::new("sd-notify");
        let path = dir.path("notify.sock");
        let socket = manager(&path);
        let path = path.to_str().expect("utf-8 path");
        notify_to(path, "READY=1").expect("send");
        assert_eq!(receive(&socket), "READY=1");
        let message = reloading_message(1_234_567);
        notify_to(path, &message).expect("send");
        assert_eq!(receive(&socket), "RELOADING=1\nMONOTONIC_USEC=1234567");
        notify_to(path, &status_message("serving\n3 workers")).expect("send");
        assert_eq!(receive(&socket), "STATUS=serving 3 workers", "one datagram, one line");
    }

    #[test]
    fn delivers_to_an_abstract_socket() {
        let name = format!("nsgi-test-notify-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let socket = UnixDatagram::bind_addr(&address).expect("bind");
        socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        notify_to(&format!("@{name}"), "STOPPING=1").expect("send");
        assert_eq!(receive(&socket), "STOPPING=1");
    }

    #[test]
    fn refuses_bad_addresses_and_reports_absent_listeners() {
        assert_eq!(
            notify_to("relative.sock", "READY=1").expect_err("relative").kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(notify_to("vsock:2:1234", "READY=1").is_err());
        let dir = TestDir::new("sd-notify-absent");
        let path = dir.path("nobody.sock");
        assert!(notify_to(path.to_str().expect("utf-8"), "READY=1").is_err());
        let socket = manager(&dir.path("empty.sock"));
        assert!(notify_to(dir.path("empty.sock").to_str().expect("utf-8"), "").is_err());
        socket.set_nonblocking(true).expect("nonblocking");
        assert!(socket.recv(&mut [0; 16]).is_err(), "nothing was sent");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let before = crate::os::fd::monotonic_usec();
        let message = reloading_message(crate::os::fd::monotonic_usec());
        let usec: u64 = message
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .expect("format")
            .parse()
            .expect("a number");
        assert!(usec >= before && usec > 0);
    }
}
