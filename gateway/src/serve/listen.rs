//! Listening sockets: parsing `--bind`, binding TCP (IPv4/IPv6) and unix sockets, adopting the
//! sockets systemd passes (`LISTEN_FDS`) or the supervisor passes to a worker, and the protocol
//! each listener speaks ([`Protocol`]: HTTP/1.1, or uwsgi for `--bind uwsgi://...`).
//!
//! Owns every socket option of a listener (SO_REUSEADDR, IPV6_V6ONLY, the backlog, a unix socket's
//! permissions) and the life of the unix socket files this process creates: a stale file is
//! replaced, a live one refused, and the file is removed at exit by whoever created it — never by
//! a worker, never when systemd created it. It never accepts connections, and leaves the
//! blocking mode alone (bound sockets are blocking, adopted ones as they came): making them
//! non-blocking is the event loop's business.

use crate::os::fd::{self, FdKind};
pub use crate::serve::protocol::Protocol;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::ffi::OsStr;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub(crate) const SYSTEMD_FIRST_FD: RawFd = 3;

/// The environment systemd's socket activation sets, removed once read.
const SYSTEMD_ENV: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Bytes in `sockaddr_un.sun_path`: a path must be shorter (it is NUL-terminated), an abstract
/// name (after its leading NUL) at most this minus one.
const SUN_PATH_BYTES: usize = 108;

/// The unix socket files this process created by binding, with their device and inode numbers,
/// so that [`Listener::remove_socket_file`] removes only those, and only if still the same file.
static CREATED_SOCKET_FILES: Mutex<Vec<(PathBuf, u64, u64)>> = Mutex::new(Vec::new());

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A TCP socket, and what it speaks.
    Tcp(std::net::TcpListener, Protocol),
    /// A unix-domain stream socket at `path`.
    Unix {
        /// The socket.
        listener: std::os::unix::net::UnixListener,
        /// Its path in the file system, or `@name` for a Linux abstract socket.
        path: PathBuf,
        /// What it speaks.
        protocol: Protocol,
    },
}

impl Listener {
    /// How clients reach it: `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/run/app.sock`,
    /// `uwsgi://127.0.0.1:8001` or `uwsgi+unix:/run/app.sock`.
    pub(crate) fn url(&self) -> String {
        let uwsgi = self.protocol() == Protocol::Uwsgi;
        match self {
            Listener::Tcp(listener, _) => {
                let scheme = if uwsgi { "uwsgi" } else { "http" };
                match listener.local_addr() {
                    Ok(addr) => format!("{scheme}://{addr}"),
                    Err(_) => format!("{scheme}://?"),
                }
            }
            Listener::Unix { path, .. } => {
                let scheme = if uwsgi { "uwsgi+unix" } else { "unix" };
                format!("{scheme}:{}", path.display())
            }
        }
    }

    /// The protocol it speaks.
    pub fn protocol(&self) -> Protocol {
        match self {
            Listener::Tcp(_, protocol) | Listener::Unix { protocol, .. } => *protocol,
        }
    }

    /// The same socket, speaking `protocol`.
    pub fn with_protocol(self, protocol: Protocol) -> Listener {
        match self {
            Listener::Tcp(listener, _) => Listener::Tcp(listener, protocol),
            Listener::Unix { listener, path, .. } => Listener::Unix {
                listener,
                path,
                protocol,
            },
        }
    }

    /// Removes the socket file of a unix listener that this process created with [`open`], if
    /// the file at its path is still that socket. Does nothing for TCP, abstract and adopted
    /// sockets (systemd's, or a worker's inherited ones), and on a second call. The supervisor
    /// calls it once at its final exit; workers never do.
    pub(crate) fn remove_socket_file(&self) {
        let Listener::Unix { path, .. } = self else {
            return;
        };
        let Some((device, inode)) = forget_created(path) else {
            return;
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() && meta.dev() == device && meta.ino() == inode => {
                if let Err(e) = std::fs::remove_file(path) {
                    log::warn!("cannot remove the socket file {}: {e}", path.display());
                }
            }
            Ok(_) => log::warn!(
                "not removing {}: it is no longer the socket this process created",
                path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot inspect the socket file {}: {e}", path.display()),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Listener::Tcp(listener, _) => listener.as_raw_fd(),
            Listener::Unix { listener, .. } => listener.as_raw_fd(),
        }
    }
}

/// One `--bind` value, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BindSpec {
    /// `HOST:PORT`, resolved (a host name to its first IPv4 address, else its first address).
    Tcp(SocketAddr),
    /// `unix:PATH`: a unix socket file.
    Unix(PathBuf),
    /// `unix:@NAME`: a Linux abstract unix socket (no file, so no permissions: any process of the
    /// network namespace may connect). Holds NAME without the `@`.
    UnixAbstract(Vec<u8>),
}

/// The scheme of a uwsgi TCP listener: `uwsgi://HOST:PORT`.
const UWSGI_TCP_SCHEME: &str = "uwsgi://";
/// The scheme of a uwsgi unix-socket listener: `uwsgi+unix:PATH`.
const UWSGI_UNIX_SCHEME: &str = "uwsgi+unix:";

/// Parses one `--bind` value with its protocol: what [`parse_bind`] takes speaks HTTP/1.1;
/// `uwsgi://HOST:PORT` and `uwsgi+unix:PATH` (or `uwsgi+unix:@NAME`) speak uwsgi.
pub(crate) fn parse_listen(raw: &str) -> Result<(BindSpec, Protocol), String> {
    if let Some(rest) = raw.strip_prefix(UWSGI_UNIX_SCHEME) {
        return parse_unix(raw, rest).map(|spec| (spec, Protocol::Uwsgi));
    }
    if let Some(rest) = raw.strip_prefix(UWSGI_TCP_SCHEME) {
        if rest.starts_with("unix:") || rest.starts_with('/') {
            return Err(format!(
                "--bind {raw:?}: a uwsgi unix socket is written uwsgi+unix:PATH"
            ));
        }
        return match parse_bind(rest) {
            Ok(spec) => Ok((spec, Protocol::Uwsgi)),
            Err(why) => Err(why.replacen(&format!("--bind {rest:?}"), &format!("--bind {raw:?}"), 1)),
        };
    }
    parse_bind(raw).map(|spec| (spec, Protocol::Http1))
}

/// Parses one HTTP `--bind` value: `127.0.0.1:8000`, `[::1]:8000`, `localhost:8000` (resolved),
/// `unix:/run/app.sock` or `unix:@app`. Port 0 asks the kernel for a free port.
pub(crate) fn parse_bind(raw: &str) -> Result<BindSpec, String> {
    const EXPECTED: &str = "expected HOST:PORT (127.0.0.1:8000, [::1]:8000, localhost:8000) or unix:PATH";
    if let Some(rest) = raw.strip_prefix("unix:") {
        return parse_unix(raw, rest);
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(BindSpec::Tcp(addr));
    }
    if raw.contains("://") {
        return Err(format!(
            "--bind {raw:?}: {EXPECTED}, without a scheme (the one scheme is uwsgi://HOST:PORT, for the uwsgi protocol)"
        ));
    }
    if raw.starts_with('/') {
        return Err(format!("--bind {raw:?}: a unix socket is written unix:{raw}"));
    }
    let Some((host, port)) = raw.rsplit_once(':') else {
        return Err(format!("--bind {raw:?}: no port; {EXPECTED}"));
    };
    if host.starts_with('[') {
        return Err(format!(
            "--bind {raw:?}: not an IPv6 address and port such as [::1]:8000"
        ));
    }
    if host.contains(':') {
        return Err(format!(
            "--bind {raw:?}: an IPv6 address is written in brackets, as in [::1]:8000"
        ));
    }
    if host.is_empty() {
        return Err(format!(
            "--bind {raw:?}: no host; use 0.0.0.0{raw} for every IPv4 interface or 127.0.0.1{raw} for this machine"
        ));
    }
    if port.is_empty() {
        return Err(format!("--bind {raw:?}: no port; {EXPECTED}"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("--bind {raw:?}: the port {port:?} is not a number from 0 to 65535"))?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("--bind {raw:?}: cannot resolve the host {host:?}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .map(|addr| BindSpec::Tcp(*addr))
        .ok_or_else(|| format!("--bind {raw:?}: the host {host:?} has no address"))
}

/// Parses what follows `unix:`.
fn parse_unix(raw: &str, rest: &str) -> Result<BindSpec, String> {
    if let Some(name) = rest.strip_prefix('@') {
        if name.is_empty() {
            return Err(format!("--bind {raw:?}: the abstract socket name after @ is empty"));
        }
        if name.len() >= SUN_PATH_BYTES {
            return Err(format!(
                "--bind {raw:?}: the abstract name is {} bytes; at most {} fit",
                name.len(),
                SUN_PATH_BYTES - 1
            ));
        }
        return Ok(BindSpec::UnixAbstract(name.as_bytes().to_vec()));
    }
    if rest.is_empty() {
        return Err(format!("--bind {raw:?}: the unix socket path is empty"));
    }
    if rest.contains('\0') {
        return Err(format!("--bind {raw:?}: the unix socket path holds a NUL byte"));
    }
    if rest.len() >= SUN_PATH_BYTES {
        return Err(format!(
            "--bind {raw:?}: the path is {} bytes; a unix socket path holds at most {}",
            rest.len(),
            SUN_PATH_BYTES - 1
        ));
    }
    Ok(BindSpec::Unix(PathBuf::from(rest)))
}

/// Binds every `--bind` address, or adopts the sockets systemd passed (then `binds` is ignored).
///
/// Every value is parsed before anything is bound. If one fails to bind, the listeners already
/// bound are closed and their socket files removed. `unix_mode` is the permission bits of the
/// unix socket files; `backlog` the kernel's queue of connections not yet accepted.
pub fn open(binds: &[String], unix_mode: u32, backlog: u32) -> Result<Vec<Listener>, String> {
    if let Some(listeners) = systemd_listeners(binds)? {
        if !binds.is_empty() {
            log::info!(
                "listening on the sockets systemd passed; ignoring --bind {}",
                binds.join(" ")
            );
        }
        return Ok(listeners);
    }
    if binds.is_empty() {
        return Err("nothing to listen on: give --bind HOST:PORT or --bind unix:PATH".to_owned());
    }
    let mut specs = Vec::with_capacity(binds.len());
    for raw in binds {
        let (spec, protocol) = parse_listen(raw)?;
        let ephemeral = matches!(spec, BindSpec::Tcp(addr) if addr.port() == 0);
        if !ephemeral && specs.iter().any(|(_, earlier, _)| *earlier == spec) {
            return Err(format!("--bind {raw:?}: this address is given twice"));
        }
        specs.push((raw, spec, protocol));
    }
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    let mut listeners = Vec::with_capacity(specs.len());
    for (raw, spec, protocol) in &specs {
        match bind(raw, spec, unix_mode, backlog) {
            Ok(listener) => listeners.push(listener.with_protocol(*protocol)),
            Err(message) => {
                for listener in &listeners {
                    listener.remove_socket_file();
                }
                return Err(message);
            }
        }
    }
    Ok(listeners)
}

/// Adopts the listening sockets a worker inherited from its supervisor, in the given order.
/// Each must be an inherited (not close-on-exec), listening stream socket; once adopted it is
/// close-on-exec. On error the descriptors already adopted are closed.
pub fn inherit(fds: &[RawFd]) -> Result<Vec<Listener>, String> {
    fds.iter()
        .map(|&fd| adopt(fd, &format!("inherited listener fd {fd}")))
        .collect()
}

/// Binds one parsed `--bind`.
fn bind(raw: &str, spec: &BindSpec, unix_mode: u32, backlog: i32) -> Result<Listener, String> {
    match spec {
        BindSpec::Tcp(addr) => bind_tcp(*addr, backlog)
            .map(|listener| Listener::Tcp(listener, Protocol::Http1))
            .map_err(|e| format!("--bind {raw:?}: cannot listen on {addr}: {e}")),
        BindSpec::Unix(path) => bind_unix_file(raw, path, unix_mode, backlog),
        BindSpec::UnixAbstract(name) => {
            let mut address = vec![0_u8];
            address.extend_from_slice(name);
            let listener = bind_unix(OsStr::from_bytes(&address), backlog, |_| Ok(()))
                .map_err(|e| format!("--bind {raw:?}: cannot listen: {e}"))?;
            let mut shown = b"@".to_vec();
            shown.extend_from_slice(name);
            Ok(Listener::Unix {
                listener,
                path: PathBuf::from(OsStr::from_bytes(&shown)),
                protocol: Protocol::Http1,
            })
        }
    }
}

/// A TCP listener on `addr`.
fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = tcp_socket(addr)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// An unbound TCP socket for `addr`, with SO_REUSEADDR (a restart need not wait for TIME_WAIT)
/// and, on IPv6, IPV6_V6ONLY (so `[::]:8000` serves IPv6 only, and `0.0.0.0:8000` can be bound
/// beside it, whatever `net.ipv6.bindv6only` says).
fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// A unix socket file at `path`: a stale socket file there (nobody listening) is replaced, a live
/// one or any other file refused. The permissions are set between bind and listen, so no client
/// can connect before they apply.
fn bind_unix_file(raw: &str, path: &Path, unix_mode: u32, backlog: i32) -> Result<Listener, String> {
    clear_stale_socket(path).map_err(|why| format!("--bind {raw:?}: {why}"))?;
    let mut bound = false;
    let mut identity = None;
    let listener = bind_unix(path.as_os_str(), backlog, |_| {
        bound = true;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(unix_mode))?;
        let meta = std::fs::symlink_metadata(path)?;
        identity = Some((meta.dev(), meta.ino()));
        Ok(())
    });
    let listener = match listener {
        Ok(listener) => listener,
        Err(e) => {
            if bound {
                let _ = std::fs::remove_file(path);
            }
            return Err(format!("--bind {raw:?}: cannot listen: {e}"));
        }
    };
    if let Some((device, inode)) = identity {
        lock_created().push((path.to_path_buf(), device, inode));
    }
    Ok(Listener::Unix {
        listener,
        path: path.to_path_buf(),
        protocol: Protocol::Http1,
    })
}

/// Creates, binds and listens a unix stream socket, calling `after_bind` in between.
fn bind_unix(
    address: &OsStr,
    backlog: i32,
    after_bind: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<UnixListener> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(address)?)?;
    after_bind(&socket)?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Makes way for a new socket file at `path`: nothing there is fine; a socket nobody listens on
/// (connect is refused) is removed; a socket someone listens on, or anything else, is an error.
fn clear_stale_socket(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        ));
    }
    // A non-blocking probe: a live server with a full backlog answers EAGAIN instead of making
    // the probe wait.
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)
        .and_then(|probe| probe.set_nonblocking(true).map(|()| probe))
        .map_err(|e| format!("cannot probe {}: {e}", path.display()))?;
    let address = SockAddr::unix(path).map_err(|e| format!("cannot probe {}: {e}", path.display()))?;
    match probe.connect(&address) {
        Ok(()) => Err(format!("{} is already in use: a process listens on it", path.display())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))?;
            log::info!(
                "removed the stale socket file {} (nobody listened on it)",
                path.display()
            );
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::EINPROGRESS) => {
            Err(format!("{} is already in use: a process listens on it", path.display()))
        }
        Err(e) => Err(format!("cannot probe {}: {e}", path.display())),
    }
}

fn lock_created() -> std::sync::MutexGuard<'static, Vec<(PathBuf, u64, u64)>> {
    CREATED_SOCKET_FILES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Takes `path` off the list of created socket files; its device and inode if it was there.
fn forget_created(path: &Path) -> Option<(u64, u64)> {
    let mut created = lock_created();
    let index = created.iter().position(|(p, _, _)| p == path)?;
    let (_, device, inode) = created.swap_remove(index);
    Some((device, inode))
}

/// How many sockets systemd passed to this process, from `LISTEN_PID` and `LISTEN_FDS`, as
/// `sd_listen_fds(3)` reads them: `None` when `LISTEN_PID` is unset or names another process (the
/// variables were meant for a parent), or when `LISTEN_FDS` is unset or 0.
pub(crate) fn systemd_fd_count(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    my_pid: u32,
) -> Result<Option<usize>, String> {
    let Some(listen_pid) = listen_pid else {
        return Ok(None);
    };
    let pid: u32 = listen_pid
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("LISTEN_PID={listen_pid:?} is not a process id"))?;
    if pid != my_pid {
        return Ok(None);
    }
    let Some(listen_fds) = listen_fds else {
        return Ok(None);
    };
    let count: usize = listen_fds
        .parse()
        .map_err(|_| format!("LISTEN_FDS={listen_fds:?} is not a count of descriptors"))?;
    let last_fits = i32::try_from(count)
        .ok()
        .and_then(|count| count.checked_add(SYSTEMD_FIRST_FD))
        .is_some();
    if !last_fits {
        return Err(format!("LISTEN_FDS={listen_fds:?} is too large"));
    }
    Ok((count > 0).then_some(count))
}

/// The protocol of a socket systemd passed: uwsgi when its name (`FileDescriptorName=`) is
/// `uwsgi` or starts with `uwsgi-`, or when a `--bind uwsgi://...` / `uwsgi+unix:...` names its
/// address; HTTP/1.1 otherwise.
fn systemd_protocol(name: Option<&str>, listener: &Listener, binds: &[String]) -> Protocol {
    if name.is_some_and(|name| name == "uwsgi" || name.starts_with("uwsgi-")) {
        return Protocol::Uwsgi;
    }
    let named_by_a_uwsgi_bind = binds
        .iter()
        .filter_map(|raw| parse_listen(raw).ok())
        .filter(|(_, protocol)| *protocol == Protocol::Uwsgi)
        .any(|(spec, _)| match (spec, listener) {
            (BindSpec::Tcp(addr), Listener::Tcp(socket, _)) => socket.local_addr().is_ok_and(|local| local == addr),
            (BindSpec::Unix(bound), Listener::Unix { path, .. }) => bound == *path,
            (BindSpec::UnixAbstract(name), Listener::Unix { path, .. }) => {
                path.as_os_str().as_bytes().strip_prefix(b"@") == Some(&name[..])
            }
            _ => false,
        });
    if named_by_a_uwsgi_bind {
        Protocol::Uwsgi
    } else {
        Protocol::Http1
    }
}

/// The sockets systemd passed, when it passed some to this process. Reads and then removes
/// `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`, so that no child misreads them. Each speaks
/// the protocol [`systemd_protocol`] finds from its name and `binds`.
fn systemd_listeners(binds: &[String]) -> Result<Option<Vec<Listener>>, String> {
    let read = |name: &str| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned());
    let (listen_pid, listen_fds, names) = (read("LISTEN_PID"), read("LISTEN_FDS"), read("LISTEN_FDNAMES"));
    if listen_pid.is_none() && listen_fds.is_none() && names.is_none() {
        return Ok(None);
    }
    if let Err(why) = fd::remove_env_vars(&SYSTEMD_ENV) {
        log::debug!("LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES stay in the environment: {why}");
    }
    let Some(count) = systemd_fd_count(listen_pid.as_deref(), listen_fds.as_deref(), std::process::id())? else {
        return Ok(None);
    };
    let names: Vec<&str> = names
        .as_deref()
        .map_or_else(Vec::new, |names| names.split(':').collect());
    let mut listeners = Vec::with_capacity(count);
    for (index, fd) in (SYSTEMD_FIRST_FD..).take(count).enumerate() {
        let named = names.get(index).map(|name| format!(" ({name:?})")).unwrap_or_default();
        let listener = adopt(fd, &format!("LISTEN_FDS: fd {fd}{named}"))?;
        let protocol = systemd_protocol(names.get(index).copied(), &listener, binds);
        let listener = listener.with_protocol(protocol);
        log::info!("adopted systemd's socket fd {fd}{named}: {}", listener.url());
        listeners.push(listener);
    }
    Ok(Some(listeners))
}

/// What an adopted socket turned out to be.
enum Adopted {
    Tcp,
    Unix(PathBuf),
}

/// Takes over an inherited descriptor as a listener; `label` names it in messages
/// ("inherited listener fd 5"). A descriptor that is claimed but then refused is closed.
fn adopt(fd: RawFd, label: &str) -> Result<Listener, String> {
    let owned = fd::claim_inherited(fd).map_err(|e| format!("{label} {e}"))?;
    match classify(&owned).map_err(|why| format!("{label} {why}"))? {
        Adopted::Tcp => Ok(Listener::Tcp(TcpListener::from(owned), Protocol::Http1)),
        Adopted::Unix(path) => Ok(Listener::Unix {
            listener: UnixListener::from(owned),
            path,
            protocol: Protocol::Http1,
        }),
    }
}

/// Checks that `owned` is a listening stream socket of a family we serve.
fn classify(owned: &OwnedFd) -> Result<Adopted, String> {
    match fd::kind(owned.as_fd()) {
        Ok(FdKind::Socket) => {}
        Ok(kind) => return Err(format!("is {}, not a socket", kind.describe())),
        Err(e) => return Err(format!("cannot be inspected: {e}")),
    }
    let socket = SockRef::from(owned);
    let ty = socket
        .r#type()
        .map_err(|e| format!("cannot be inspected (SO_TYPE): {e}"))?;
    if ty != Type::STREAM {
        return Err("is not a stream socket (a datagram socket cannot serve HTTP)".to_owned());
    }
    let listening = socket
        .is_listener()
        .map_err(|e| format!("cannot be inspected (SO_ACCEPTCONN): {e}"))?;
    if !listening {
        return Err(
            "is a socket that is not listening (a connection? systemd must pass listening sockets: Accept=no)"
                .to_owned(),
        );
    }
    let domain = socket
        .domain()
        .map_err(|e| format!("cannot be inspected (SO_DOMAIN): {e}"))?;
    if domain == Domain::IPV4 || domain == Domain::IPV6 {
        match socket.protocol() {
            Ok(None) => {}
            Ok(Some(protocol)) if protocol == socket2::Protocol::TCP || protocol == socket2::Protocol::MPTCP => {}
            Ok(Some(protocol)) => return Err(format!("is not a TCP socket (protocol {protocol:?})")),
            Err(e) => return Err(format!("cannot be inspected (SO_PROTOCOL): {e}")),
        }
        Ok(Adopted::Tcp)
    } else if domain == Domain::UNIX {
        let address = socket
            .local_addr()
            .map_err(|e| format!("cannot be inspected (getsockname): {e}"))?;
        unix_path_of(&address)
            .map(Adopted::Unix)
            .ok_or_else(|| "is an unnamed unix socket".to_owned())
    } else {
        Err(format!(
            "is a socket of family {domain:?}; only IPv4, IPv6 and unix sockets are served"
        ))
    }
}

/// A unix socket's path, or `@name` for an abstract one.
fn unix_path_of(address: &SockAddr) -> Option<PathBuf> {
    if let Some(path) = address.as_pathname() {
        return Some(path.to_path_buf());
    }
    let name = address.as_abstract_namespace()?;
    let mut shown = b"@".to_vec();
    shown.extend_from_slice(name);
    Some(PathBuf::from(OsStr::from_bytes(&shown)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// A fresh directory under the temporary directory, removed (with its contents) on drop.
    pub(crate) struct TestDir(PathBuf);

    impl TestDir {
        pub(crate) fn new(tag: &str) -> TestDir {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let path = std::env::temp_dir().join(format!(
                "nsgi-{tag}-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir(&path).expect("create the test directory");
            TestDir(path)
        }

        pub(crate) fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn unix_bind(path: &Path) -> String {
        format!("unix:{}", path.display())
    }

    /// Hands `fd` over as if inherited across exec: not close-on-exec, owned by no one here.
    fn as_inherited(fd: impl IntoRawFd) -> RawFd {
        let fd = fd.into_raw_fd();
        fd::set_inheritable(fd, true).expect("clear FD_CLOEXEC");
        fd
    }

    fn round_trip_tcp(listener: &TcpListener) {
        let addr = listener.local_addr().expect("local_addr");
        let mut client = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let (mut server, _) = listener.accept().expect("accept");
        server.write_all(b"hi").expect("write");
        let mut buf = [0; 2];
        client.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"hi");
    }

    #[test]
    fn parses_ipv4_ipv6_hostnames_and_unix() {
        assert_eq!(
            parse_bind("127.0.0.1:8000"),
            Ok(BindSpec::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 8000))))
        );
        assert_eq!(
            parse_bind("0.0.0.0:0"),
            Ok(BindSpec::Tcp(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))))
        );
        assert_eq!(
            parse_bind("[::1]:8000"),
            Ok(BindSpec::Tcp(SocketAddr::from((Ipv6Addr::LOCALHOST, 8000))))
        );
        match parse_bind("localhost:8000") {
            Ok(BindSpec::Tcp(addr)) => {
                assert!(addr.ip().is_loopback(), "{addr}");
                assert_eq!(addr.port(), 8000);
            }
            other => panic!("localhost:8000 → {other:?}"),
        }
        assert_eq!(
            parse_bind("unix:/run/app.sock"),
            Ok(BindSpec::Unix(PathBuf::from("/run/app.sock")))
        );
        assert_eq!(
            parse_bind("unix:app.sock"),
            Ok(BindSpec::Unix(PathBuf::from("app.sock")))
        );
        assert_eq!(parse_bind("unix:@app"), Ok(BindSpec::UnixAbstract(b"app".to_vec())));
    }

    #[test]
    fn uwsgi_binds_carry_their_protocol() {
        assert_eq!(
            parse_listen("uwsgi://127.0.0.1:8001"),
            Ok((
                BindSpec::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 8001))),
                Protocol::Uwsgi
            ))
        );
        assert_eq!(
            parse_listen("uwsgi+unix:/run/app.sock"),
            Ok((BindSpec::Unix(PathBuf::from("/run/app.sock")), Protocol::Uwsgi))
        );
        assert_eq!(
            parse_listen("uwsgi+unix:@app"),
            Ok((BindSpec::UnixAbstract(b"app".to_vec()), Protocol::Uwsgi))
        );
        assert_eq!(
            parse_listen("127.0.0.1:8000"),
            Ok((
                BindSpec::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 8000))),
                Protocol::Http1
            ))
        );
        for (raw, why) in [
            ("uwsgi://unix:/run/app.sock", "uwsgi+unix:PATH"),
            ("uwsgi:///run/app.sock", "uwsgi+unix:PATH"),
            ("uwsgi://127.0.0.1", "no port"),
            ("uwsgi+unix:", "empty"),
            ("http://127.0.0.1:8000", "uwsgi://"),
        ] {
            let error = parse_listen(raw).expect_err(raw);
            assert!(error.starts_with(&format!("--bind {raw:?}:")), "{raw}: {error}");
            assert!(error.contains(why), "{raw}: {error}");
        }
    }

    #[test]
    fn uwsgi_listeners_say_so_in_their_url() {
        let dir = TestDir::new("listen-uwsgi");
        let path = dir.path("u.sock");
        let binds = [
            "uwsgi://127.0.0.1:0".to_owned(),
            format!("uwsgi+unix:{}", path.display()),
        ];
        let listeners = open(&binds, 0o600, 16).expect("open");
        assert!(listeners.iter().all(|l| l.protocol() == Protocol::Uwsgi));
        assert!(
            listeners[0].url().starts_with("uwsgi://127.0.0.1:"),
            "{}",
            listeners[0].url()
        );
        assert_eq!(listeners[1].url(), format!("uwsgi+unix:{}", path.display()));
        listeners[1].remove_socket_file();
    }

    #[test]
    fn a_systemd_socket_speaks_uwsgi_by_its_name_or_a_uwsgi_bind() {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let tcp = Listener::Tcp(tcp, Protocol::Http1);
        assert_eq!(systemd_protocol(None, &tcp, &[]), Protocol::Http1);
        assert_eq!(systemd_protocol(Some("web"), &tcp, &[]), Protocol::Http1);
        assert_eq!(systemd_protocol(Some("uwsgi"), &tcp, &[]), Protocol::Uwsgi);
        assert_eq!(systemd_protocol(Some("uwsgi-app"), &tcp, &[]), Protocol::Uwsgi);
        let named = [format!("uwsgi://{addr}")];
        assert_eq!(systemd_protocol(None, &tcp, &named), Protocol::Uwsgi);
        let http = [addr.to_string()];
        assert_eq!(systemd_protocol(None, &tcp, &http), Protocol::Http1);
        let dir = TestDir::new("listen-systemd-uwsgi");
        let path = dir.path("s.sock");
        let unix = Listener::Unix {
            listener: UnixListener::bind(&path).expect("bind"),
            path: path.clone(),
            protocol: Protocol::Http1,
        };
        let named = [format!("uwsgi+unix:{}", path.display())];
        assert_eq!(systemd_protocol(None, &unix, &named), Protocol::Uwsgi);
        assert_eq!(
            systemd_protocol(None, &unix, &[format!("unix:{}", path.display())]),
            Protocol::Http1
        );
    }

    #[test]
    fn refuses_garbage_naming_the_value() {
        for (raw, why) in [
            ("garbage", "no port"),
            ("127.0.0.1", "no port"),
            ("localhost:", "no port"),
            ("[::1]", "IPv6"),
            ("::1:8000", "brackets"),
            (":8000", "no host"),
            ("127.0.0.1:70000", "0 to 65535"),
            ("127.0.0.1:http", "0 to 65535"),
            ("http://127.0.0.1:8000", "scheme"),
            ("/run/app.sock", "unix:/run/app.sock"),
            ("unix:", "empty"),
            ("unix:@", "empty"),
            ("no-such-host.invalid:80", "resolve"),
        ] {
            let error = parse_bind(raw).expect_err(raw);
            assert!(error.starts_with(&format!("--bind {raw:?}:")), "{raw}: {error}");
            assert!(error.contains(why), "{raw}: {error}");
        }
        let long = format!("unix:/{}", "x".repeat(120));
        assert!(parse_bind(&long).expect_err("long").contains("at most 107"));
    }

    #[test]
    fn tcp_ipv4_listener_serves_with_reuseaddr() {
        let listeners = open(&["127.0.0.1:0".to_owned()], 0o660, 16).expect("open");
        let [Listener::Tcp(listener, _)] = listeners.as_slice() else {
            panic!("one TCP listener: {listeners:?}");
        };
        assert!(
            listeners[0].url().starts_with("http://127.0.0.1:"),
            "{}",
            listeners[0].url()
        );
        assert!(SockRef::from(listener).reuse_address().expect("SO_REUSEADDR"));
        assert!(SockRef::from(listener).is_listener().expect("SO_ACCEPTCONN"));
        round_trip_tcp(listener);
    }

    #[test]
    fn tcp_ipv6_listener_is_v6_only() {
        let listeners = match open(&["[::1]:0".to_owned()], 0o660, 16) {
            Ok(listeners) => listeners,
            Err(error) => {
                eprintln!("note: skipping the IPv6 listener test, no IPv6 loopback here: {error}");
                return;
            }
        };
        let [Listener::Tcp(listener, _)] = listeners.as_slice() else {
            panic!("one TCP listener: {listeners:?}");
        };
        assert!(
            listeners[0].url().starts_with("http://[::1]:"),
            "{}",
            listeners[0].url()
        );
        assert!(SockRef::from(listener).only_v6().expect("IPV6_V6ONLY"));
        round_trip_tcp(listener);
    }

    #[test]
    fn tcp_sockets_get_their_options_before_bind() {
        // Checked before bind: binding a specific IPv6 address makes a socket v6-only anyway.
        let v6 = tcp_socket(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)));
        match v6 {
            Ok(v6) => {
                assert!(v6.only_v6().expect("IPV6_V6ONLY"));
                assert!(v6.reuse_address().expect("SO_REUSEADDR"));
            }
            Err(e) => eprintln!("note: skipping the IPv6 socket options check, no IPv6 here: {e}"),
        }
        let v4 = tcp_socket(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("socket");
        assert!(v4.reuse_address().expect("SO_REUSEADDR"));
    }

    #[test]
    fn a_failed_bind_names_the_value() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let raw = taken.local_addr().expect("addr").to_string();
        let error = open(std::slice::from_ref(&raw), 0o660, 16).expect_err("in use");
        assert!(
            error.starts_with(&format!("--bind {raw:?}: cannot listen on {raw}")),
            "{error}"
        );
        let error = open(&["127.0.0.1:9".to_owned(), "127.0.0.1:9".to_owned()], 0o660, 16).expect_err("twice");
        assert!(error.contains("given twice"), "{error}");
        assert!(open(&[], 0o660, 16).is_err());
    }

    #[test]
    fn unix_socket_gets_its_mode_and_serves() {
        let dir = TestDir::new("listen-mode");
        for mode in [0o600, 0o666] {
            let path = dir.path(&format!("{mode:o}.sock"));
            let listeners = open(&[unix_bind(&path)], mode, 16).expect("open");
            let [
                Listener::Unix {
                    listener, path: bound, ..
                },
            ] = listeners.as_slice()
            else {
                panic!("one unix listener: {listeners:?}");
            };
            assert_eq!(bound, &path);
            assert_eq!(listeners[0].url(), format!("unix:{}", path.display()));
            let meta = std::fs::symlink_metadata(&path).expect("socket file");
            assert!(meta.file_type().is_socket());
            assert_eq!(meta.permissions().mode() & 0o777, mode);
            let mut client = UnixStream::connect(&path).expect("connect");
            let (mut server, _) = listener.accept().expect("accept");
            server.write_all(b"ok").expect("write");
            let mut buf = [0; 2];
            client.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            client.read_exact(&mut buf).expect("read");
            assert_eq!(&buf, b"ok");
            listeners[0].remove_socket_file();
            assert!(!path.exists(), "removed at exit");
        }
    }

    #[test]
    fn stale_socket_replaced_live_one_and_other_files_refused() {
        let dir = TestDir::new("listen-stale");
        let path = dir.path("app.sock");
        drop(UnixListener::bind(&path).expect("bind"));
        assert!(path.exists(), "a stale socket file is left behind");
        let listeners = open(&[unix_bind(&path)], 0o600, 16).expect("replaces the stale socket");
        UnixStream::connect(&path).expect("the new socket listens");

        let error = open(&[unix_bind(&path)], 0o600, 16).expect_err("live");
        assert!(error.contains("already in use"), "{error}");
        assert!(error.starts_with(&format!("--bind {:?}", unix_bind(&path))), "{error}");
        UnixStream::connect(&path).expect("the live socket is untouched");
        drop(listeners);

        let file = dir.path("data.txt");
        std::fs::write(&file, "keep me").expect("write");
        let error = open(&[unix_bind(&file)], 0o600, 16).expect_err("not a socket");
        assert!(error.contains("not a socket"), "{error}");
        assert_eq!(std::fs::read_to_string(&file).expect("still there"), "keep me");
    }

    #[test]
    fn a_failed_open_removes_the_socket_files_it_created() {
        let dir = TestDir::new("listen-rollback");
        let first = dir.path("first.sock");
        let missing = dir.path("no-such-dir/second.sock");
        let error = open(&[unix_bind(&first), unix_bind(&missing)], 0o600, 16).expect_err("no dir");
        assert!(error.contains("second.sock"), "{error}");
        assert!(!first.exists(), "the first socket file is removed again");
    }

    #[test]
    fn remove_socket_file_leaves_adopted_and_replaced_files() {
        let dir = TestDir::new("listen-remove");
        let path = dir.path("adopted.sock");
        let foreign = UnixListener::bind(&path).expect("bind");
        let adopted = inherit(&[as_inherited(foreign)]).expect("adopt");
        adopted[0].remove_socket_file();
        assert!(path.exists(), "an adopted socket's file belongs to whoever created it");

        let ours = dir.path("ours.sock");
        let listeners = open(&[unix_bind(&ours)], 0o600, 16).expect("open");
        std::fs::remove_file(&ours).expect("rm");
        std::fs::write(&ours, "someone else's").expect("write");
        listeners[0].remove_socket_file();
        assert!(ours.exists(), "a file that replaced our socket is not removed");
    }

    #[test]
    fn abstract_unix_socket() {
        let name = format!("nsgi-test-{}-abstract", std::process::id());
        let listeners = open(&[format!("unix:@{name}")], 0o600, 16).expect("open");
        assert_eq!(listeners[0].url(), format!("unix:@{name}"));
        use std::os::linux::net::SocketAddrExt;
        let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        UnixStream::connect_addr(&address).expect("connect");
        listeners[0].remove_socket_file();
    }

    #[test]
    fn adopts_listening_tcp_and_unix_sockets() {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let dir = TestDir::new("listen-adopt");
        let path = dir.path("adopt.sock");
        let unix = UnixListener::bind(&path).expect("bind");

        let adopted = inherit(&[as_inherited(tcp), as_inherited(unix)]).expect("adopt");
        let [Listener::Tcp(tcp, _), Listener::Unix { path: unix_path, .. }] = adopted.as_slice() else {
            panic!("TCP then unix: {adopted:?}");
        };
        assert_eq!(tcp.local_addr().expect("addr"), addr);
        assert_eq!(unix_path, &path);
        for listener in &adopted {
            let fd = listener.as_raw_fd();
            assert!(
                fd::claim_inherited(fd).is_err(),
                "fd {fd} is close-on-exec once adopted"
            );
        }
        round_trip_tcp(tcp);
        UnixStream::connect(&path).expect("connect");
    }

    #[test]
    fn refuses_files_and_sockets_that_do_not_listen() {
        let dir = TestDir::new("listen-refuse");
        let file_path = dir.path("file");
        std::fs::write(&file_path, "").expect("write");
        let file = as_inherited(std::fs::File::open(&file_path).expect("open"));
        let error = inherit(&[file]).expect_err("a file");
        assert_eq!(
            error,
            format!("inherited listener fd {file} is a regular file, not a socket")
        );

        let bound = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        bound
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("bind");
        let bound = as_inherited(OwnedFd::from(bound));
        let error = inherit(&[bound]).expect_err("not listening");
        assert!(error.starts_with(&format!("inherited listener fd {bound} ")), "{error}");
        assert!(error.contains("not listening"), "{error}");

        let datagram = as_inherited(std::net::UdpSocket::bind("127.0.0.1:0").expect("udp"));
        let error = inherit(&[datagram]).expect_err("datagram");
        assert!(error.contains("not a stream socket"), "{error}");

        let owned = TcpListener::bind("127.0.0.1:0").expect("bind");
        let error = inherit(&[owned.as_raw_fd()]).expect_err("still owned here");
        assert!(error.contains("close-on-exec"), "{error}");
        round_trip_tcp(&owned);
    }

    /// Set (to the expected address) for [`systemd_activation_child`] by its parent test.
    const SYSTEMD_CHILD_ENV: &str = "NSGI_TEST_SYSTEMD_CHILD_ADDR";

    #[test]
    fn systemd_socket_activation() {
        run_systemd_child("web", "systemd_activation_child");
    }

    #[test]
    fn systemd_socket_named_uwsgi_speaks_uwsgi() {
        run_systemd_child("uwsgi", "systemd_activation_child_uwsgi");
    }

    /// Runs the ignored test `child` of this module in a child process started the way systemd
    /// starts a socket-activated service: fd 3 a listening socket named `name`, LISTEN_* set.
    fn run_systemd_child(name: &str, child: &str) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let exe = std::env::current_exe().expect("the test binary");
        // The child's name follows this module wherever it lives: the path without the crate.
        let module = module_path!().split_once("::").map_or(module_path!(), |(_, path)| path);
        let child_test_name = format!("{module}::{child}");
        let mut command = std::process::Command::new("/bin/sh");
        // `exec` keeps the shell's pid, so LISTEN_PID=$$ names the test binary, as systemd would.
        command
            .arg("-c")
            .arg(format!(
                r#"LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES={name} exec "$0" "$@""#
            ))
            .arg(exe)
            .args(["--ignored", "--exact", &child_test_name])
            .args(["--test-threads=1", "--nocapture"])
            .env(SYSTEMD_CHILD_ENV, addr.to_string())
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        fd::inherit_in_child_as(&mut command, &[listener.as_raw_fd()], SYSTEMD_FIRST_FD);
        let mut child = command.spawn().expect("spawn");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("the child test ran for more than 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "the child test ran:\n{stdout}\n{stderr}");
    }

    /// The child of [`systemd_socket_activation`]: started with fd 3 and LISTEN_* set.
    #[test]
    #[ignore = "run by systemd_socket_activation in a child process"]
    fn systemd_activation_child() {
        let Some(expected) = std::env::var_os(SYSTEMD_CHILD_ENV) else {
            return;
        };
        let listeners = open(&["127.0.0.1:1".to_owned()], 0o600, 16).expect("adopts fd 3");
        let [Listener::Tcp(listener, protocol)] = listeners.as_slice() else {
            panic!("one TCP listener: {listeners:?}");
        };
        assert_eq!(listener.as_raw_fd(), SYSTEMD_FIRST_FD);
        assert_eq!(*protocol, Protocol::Http1, "FileDescriptorName=web");
        let addr = listener.local_addr().expect("addr").to_string();
        assert_eq!(Some(addr.as_str()), expected.to_str(), "fd 3, not --bind 127.0.0.1:1");
        round_trip_tcp(listener);
        assert!(
            fd::claim_inherited(SYSTEMD_FIRST_FD).is_err(),
            "adopted once, close-on-exec"
        );
    }

    /// The child of [`systemd_socket_named_uwsgi_speaks_uwsgi`]: fd 3 is named `uwsgi`.
    #[test]
    #[ignore = "run by systemd_socket_named_uwsgi_speaks_uwsgi in a child process"]
    fn systemd_activation_child_uwsgi() {
        if std::env::var_os(SYSTEMD_CHILD_ENV).is_none() {
            return;
        }
        let listeners = open(&["127.0.0.1:1".to_owned()], 0o600, 16).expect("adopts fd 3");
        let [listener] = listeners.as_slice() else {
            panic!("one listener: {listeners:?}");
        };
        assert_eq!(listener.as_raw_fd(), SYSTEMD_FIRST_FD);
        assert_eq!(listener.protocol(), Protocol::Uwsgi, "FileDescriptorName=uwsgi");
        assert!(listener.url().starts_with("uwsgi://127.0.0.1:"), "{}", listener.url());
    }

    #[test]
    fn systemd_fd_count_follows_sd_listen_fds() {
        assert_eq!(systemd_fd_count(None, None, 42), Ok(None));
        assert_eq!(systemd_fd_count(None, Some("2"), 42), Ok(None));
        assert_eq!(systemd_fd_count(Some("42"), Some("2"), 42), Ok(Some(2)));
        assert_eq!(systemd_fd_count(Some("42"), Some("1"), 42), Ok(Some(1)));
        assert_eq!(
            systemd_fd_count(Some("41"), Some("2"), 42),
            Ok(None),
            "for another process"
        );
        assert_eq!(systemd_fd_count(Some("42"), None, 42), Ok(None));
        assert_eq!(systemd_fd_count(Some("42"), Some("0"), 42), Ok(None));
        for (pid, fds, names) in [
            ("x", "1", "LISTEN_PID"),
            ("0", "1", "LISTEN_PID"),
            ("-1", "1", "LISTEN_PID"),
            ("", "1", "LISTEN_PID"),
            ("42", "two", "LISTEN_FDS"),
            ("42", "-1", "LISTEN_FDS"),
            ("42", " 1", "LISTEN_FDS"),
            ("42", "4294967296", "LISTEN_FDS"),
        ] {
            let error = systemd_fd_count(Some(pid), Some(fds), 42).expect_err(fds);
            assert!(error.starts_with(names), "{pid} {fds}: {error}");
        }
    }
}
