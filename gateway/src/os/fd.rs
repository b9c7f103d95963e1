//! File-descriptor calls: the close-on-exec flag, claiming descriptors inherited across `exec`
//! (systemd's `LISTEN_FDS`, the supervisor's listeners), asking what kind of file a descriptor
//! is, and removing environment variables at start-up.
//!
//! Every `unsafe` block of this module is here so that `listen.rs`, `sd_notify.rs` and the
//! supervisor need none. Ownership rule: a descriptor becomes an [`OwnedFd`] exactly once, through
//! [`claim_inherited`], which only accepts descriptors that cannot be owned by anything else in
//! this process (see its docs).

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::Mutex;

/// Serialises [`claim_inherited`] so that two threads cannot both claim the same descriptor.
static CLAIM_LOCK: Mutex<()> = Mutex::new(());

/// The descriptor's `FD_CLOEXEC` flag is set.
fn is_close_on_exec(fd: RawFd) -> io::Result<bool> {
    // SAFETY: F_GETFD takes no pointer argument; on a number that is not an open descriptor the
    // kernel answers EBADF, it touches no memory of ours.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & libc::FD_CLOEXEC != 0)
}

/// Sets or clears the descriptor's `FD_CLOEXEC` flag.
fn set_close_on_exec(fd: RawFd, close_on_exec: bool) -> io::Result<()> {
    // SAFETY: as in `is_close_on_exec`: no pointer is passed, a bad number yields EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = if close_on_exec {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    if wanted != flags {
        // SAFETY: F_SETFD takes an integer flag set, not a pointer; it changes only whether the
        // descriptor survives `exec`, which no Rust object relies on for memory safety.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, wanted) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `fd` survive `exec` (`inheritable`: clears `FD_CLOEXEC`) or not (sets it).
///
/// The supervisor clears it on its listeners so that workers spawned with
/// [`std::process::Command`] inherit them under the same numbers. Every descriptor Rust's standard
/// library, socket2 and mio open is close-on-exec; this is how one is deliberately passed on.
/// [`inherit_in_child`] does the same for one child only, without touching the parent's flag.
#[cfg(test)]
pub(crate) fn set_inheritable(fd: RawFd, inheritable: bool) -> io::Result<()> {
    set_close_on_exec(fd, !inheritable)
}

/// Arranges for `fds` to be inherited by the child that `command` spawns, and by no other: their
/// `FD_CLOEXEC` flag is cleared in the child between `fork` and `exec`, the parent's descriptors
/// keep theirs. The descriptors must stay open until the child is spawned.
pub(crate) fn inherit_in_child(command: &mut Command, fds: &[RawFd]) {
    use std::os::unix::process::CommandExt;
    let fds = fds.to_vec();
    let clear_in_child = move || -> io::Result<()> {
        for &fd in &fds {
            // SAFETY: fcntl is async-signal-safe and takes no pointer here, and this loop
            // neither allocates nor locks, as code between fork and exec must not.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            // SAFETY: as above; F_SETFD takes an integer flag set.
            if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only calls fcntl on integers it
    // owns a copy of (see the SAFETY comments inside), so it is async-signal-safe and cannot
    // observe locks or allocator state left inconsistent by other threads of the parent.
    unsafe {
        command.pre_exec(clear_in_child);
    }
}

/// Arranges for the child that `command` spawns to inherit `fds` under the numbers `first`,
/// `first + 1`, ... (in order), as systemd passes sockets from 3 on; the parent's descriptors are
/// untouched. The descriptors must stay open until the child is spawned.
#[cfg(test)]
pub(crate) fn inherit_in_child_as(command: &mut Command, fds: &[RawFd], first: RawFd) {
    use std::os::unix::process::CommandExt;
    let fds = fds.to_vec();
    // Allocated here: code between fork and exec must not allocate.
    let mut parked = vec![-1; fds.len()];
    let above_targets = RawFd::try_from(fds.len())
        .ok()
        .and_then(|count| first.checked_add(count))
        .unwrap_or(RawFd::MAX);
    let move_in_child = move || -> io::Result<()> {
        // First copy every source above the target range, so that moving one into place cannot
        // overwrite another source that sits in that range; the copies are close-on-exec.
        for (slot, &fd) in parked.iter_mut().zip(&fds) {
            // SAFETY: fcntl is async-signal-safe and F_DUPFD_CLOEXEC takes an integer argument.
            *slot = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, above_targets) };
            if *slot < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        for (target, &copy) in (first..).zip(&parked) {
            // SAFETY: dup2 is async-signal-safe and takes integers only; the descriptor it
            // creates has no FD_CLOEXEC, so it survives exec.
            if unsafe { libc::dup2(copy, target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec, and only calls fcntl and dup2 on
    // integers, writing to a vector allocated before the fork (see the SAFETY comments inside):
    // it is async-signal-safe and touches no lock or allocator state of the parent's threads.
    unsafe {
        command.pre_exec(move_in_child);
    }
}

/// Takes ownership of a descriptor this process inherited across `exec`: a socket systemd passed
/// (`LISTEN_FDS`) or a listener the supervisor passed to a worker.
///
/// Refused, without claiming anything, when `fd` is standard input, output or error, is not open,
/// or is close-on-exec. The last check is what makes the claim sound: everything Rust's standard
/// library, socket2 and mio open is close-on-exec, so a descriptor without the flag was not opened
/// by Rust code of this process and is owned by no `OwnedFd`, `File` or socket here (the one way
/// to break this is to clear the flag with [`set_inheritable`] on a descriptor one still owns, and
/// then claim it: don't). A claimed descriptor gets `FD_CLOEXEC`, so it is not passed on to
/// children by accident, and a second claim of it is refused.
pub(crate) fn claim_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd <= libc::STDERR_FILENO {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is standard input, output or error, not an inherited socket",
        ));
    }
    let _guard = CLAIM_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match is_close_on_exec(fd) {
        Ok(false) => {}
        Ok(true) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is close-on-exec: it was opened by this process (or claimed already), not inherited",
            ));
        }
        Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
            return Err(io::Error::new(io::ErrorKind::NotFound, "is not an open descriptor"));
        }
        Err(e) => return Err(e),
    }
    set_close_on_exec(fd, true)?;
    // SAFETY: `fd` is open (F_GETFD succeeded) and had no FD_CLOEXEC, so no Rust object of this
    // process owns it (see the function docs); CLAIM_LOCK is held and the flag is now set, so no
    // other call can claim it again. The OwnedFd is therefore its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What kind of file a descriptor refers to (the `S_IFMT` bits of `fstat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A socket.
    Socket,
    /// A regular file.
    RegularFile,
    /// A directory.
    Directory,
    /// A pipe or FIFO.
    Pipe,
    /// A character device (a terminal, `/dev/null`, ...).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A symbolic link (only seen through `O_PATH` descriptors).
    Symlink,
    /// Anything else.
    Other,
}

impl FdKind {
    /// `"a socket"`, `"a regular file"`, ...: for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FdKind::Socket => "a socket",
            FdKind::RegularFile => "a regular file",
            FdKind::Directory => "a directory",
            FdKind::Pipe => "a pipe",
            FdKind::CharDevice => "a character device",
            FdKind::BlockDevice => "a block device",
            FdKind::Symlink => "a symbolic link",
            FdKind::Other => "not a socket",
        }
    }
}

/// The kind of file `fd` refers to.
pub(crate) fn kind(fd: BorrowedFd<'_>) -> io::Result<FdKind> {
    use std::os::fd::AsRawFd;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fd` is a live borrowed descriptor and `stat` points to writable memory the size of
    // `struct stat`, which fstat fills entirely when it returns 0.
    if unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat returned 0, so it initialised the whole struct.
    let mode = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    Ok(match mode {
        libc::S_IFSOCK => FdKind::Socket,
        libc::S_IFREG => FdKind::RegularFile,
        libc::S_IFDIR => FdKind::Directory,
        libc::S_IFIFO => FdKind::Pipe,
        libc::S_IFCHR => FdKind::CharDevice,
        libc::S_IFBLK => FdKind::BlockDevice,
        libc::S_IFLNK => FdKind::Symlink,
        _ => FdKind::Other,
    })
}

/// Removes the environment variables `names` from this process, provided it runs a single thread
/// (the only case in which that is sound: another thread could be reading the environment through
/// libc's `getenv`, which no lock protects). Returns an error, removing nothing, otherwise.
pub(crate) fn remove_env_vars(names: &[&str]) -> Result<(), String> {
    let threads = thread_count().map_err(|e| format!("cannot count this process's threads: {e}"))?;
    if threads != 1 {
        return Err(format!(
            "{threads} threads are running; the environment can only be changed safely by one"
        ));
    }
    for name in names {
        // SAFETY: this process runs one thread (checked just above; with no other thread, none can
        // be started behind our back), so nothing reads or writes the environment concurrently.
        unsafe { std::env::remove_var(name) };
    }
    Ok(())
}

/// How many threads this process runs, from `/proc/self/task`.
fn thread_count() -> io::Result<usize> {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc/self/task")? {
        entry?;
        count += 1;
    }
    Ok(count)
}

/// Waits until `fd` can be written to (or has failed, which the next write reports), for at most
/// `timeout`. Returns `Ok(false)` when the time ran out first. For the rare places where the
/// event loop itself must wait on one socket (a large response of an app called inline).
pub(crate) fn wait_writable(fd: BorrowedFd<'_>, timeout: std::time::Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        let mut watched = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: `watched` is one valid, writable pollfd for a descriptor the borrow keeps open,
        // and the count passed is 1.
        let ready = unsafe { libc::poll(&mut watched, 1, millis) };
        match ready {
            0 if left.is_zero() || std::time::Instant::now() >= deadline => return Ok(false),
            0 => continue,
            n if n > 0 => return Ok(true),
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}

/// `CLOCK_MONOTONIC` in microseconds: the clock systemd's `MONOTONIC_USEC=` (sd_notify) uses.
/// `std::time::Instant` reads the same clock but does not expose its value.
pub(crate) fn monotonic_usec() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, and on
    // failure `now` keeps its zero value.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let micros = u64::try_from(now.tv_nsec / 1_000).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd, IntoRawFd};
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};

    #[test]
    fn inheritable_flag_round_trips() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = listener.as_raw_fd();
        assert!(is_close_on_exec(fd).expect("get"), "std opens close-on-exec");
        set_inheritable(fd, true).expect("clear");
        assert!(!is_close_on_exec(fd).expect("get"));
        set_inheritable(fd, false).expect("set");
        assert!(is_close_on_exec(fd).expect("get"));
        assert!(set_inheritable(-1, true).is_err());
    }

    #[test]
    fn claim_takes_inherited_descriptors_once() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let fd = socket.into_raw_fd();
        // Still close-on-exec: looks like something this process owns, so it is refused.
        let refused = claim_inherited(fd).expect_err("close-on-exec");
        assert!(refused.to_string().contains("close-on-exec"), "{refused}");
        set_inheritable(fd, true).expect("clear");
        let owned = claim_inherited(fd).expect("claims");
        assert_eq!(owned.as_raw_fd(), fd);
        assert!(is_close_on_exec(fd).expect("get"), "claiming sets FD_CLOEXEC");
        assert!(claim_inherited(fd).is_err(), "a second claim is refused");
        assert_eq!(kind(owned.as_fd()).expect("kind"), FdKind::Socket);
    }

    #[test]
    fn claim_refuses_stdio_and_closed_numbers() {
        for fd in [-1, 0, 1, 2] {
            assert!(claim_inherited(fd).is_err(), "{fd}");
        }
        // Far above any descriptor this process holds (parallel tests own the low numbers).
        let error = claim_inherited(i32::MAX - 1).expect_err("not open");
        assert!(error.to_string().contains("not an open descriptor"), "{error}");
    }

    #[test]
    fn kinds() {
        let file = std::fs::File::open("/proc/self/status").expect("open");
        assert_eq!(kind(file.as_fd()).expect("kind"), FdKind::RegularFile);
        let dir = std::fs::File::open("/").expect("open");
        assert_eq!(kind(dir.as_fd()).expect("kind"), FdKind::Directory);
        let null = std::fs::File::open("/dev/null").expect("open");
        assert_eq!(kind(null.as_fd()).expect("kind"), FdKind::CharDevice);
        let mut child = Command::new("true")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn true");
        let pipe = child.stdout.take().expect("piped");
        assert_eq!(kind(pipe.as_fd()).expect("kind"), FdKind::Pipe);
        drop(pipe);
        child.wait().expect("wait");
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        assert_eq!(kind(a.as_fd()).expect("kind"), FdKind::Socket);
    }

    #[test]
    fn remove_env_vars_refuses_while_other_threads_run() {
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || {
            let _ = parked.recv_timeout(Duration::from_secs(30));
        });
        let error = remove_env_vars(&["NSGI_TEST_NEVER_SET"]).expect_err("two threads at least");
        assert!(error.contains("threads"), "{error}");
        drop(stop);
        helper.join().expect("helper");
        assert!(thread_count().expect("count") >= 1);
    }

    #[test]
    fn monotonic_clock_advances_like_instant() {
        let started = Instant::now();
        let first = monotonic_usec();
        std::thread::sleep(Duration::from_millis(20));
        let second = monotonic_usec();
        let elapsed = u64::try_from(started.elapsed().as_micros()).expect("fits");
        assert!(first > 0);
        assert!(second >= first + 20_000, "{first} → {second}");
        assert!(
            second - first <= elapsed + 1_000,
            "{first} → {second}, Instant saw {elapsed} µs"
        );
    }

    #[test]
    fn inherit_in_child_passes_only_to_that_child() {
        let dir = std::env::temp_dir().join(format!("nsgi-fd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("child.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind");
        let fd = listener.as_raw_fd();
        let probe = format!("test -e /proc/$$/fd/{fd}");

        let mut with = Command::new("/bin/sh");
        with.args(["-c", &probe]);
        inherit_in_child(&mut with, &[fd]);
        let inherited = with.status().expect("spawn sh");
        let without = Command::new("/bin/sh").args(["-c", &probe]).status().expect("spawn sh");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&dir);

        assert!(inherited.success(), "the child sees fd {fd}");
        assert!(!without.success(), "another child does not");
        assert!(is_close_on_exec(fd).expect("get"), "the parent's flag is untouched");
    }

    #[test]
    fn wait_writable_sees_room_and_times_out_on_a_full_socket() {
        use std::io::Write;
        use std::os::fd::AsFd;
        let (mut full, _peer) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        assert!(wait_writable(full.as_fd(), std::time::Duration::from_secs(5)).expect("poll"));
        full.set_nonblocking(true).expect("nonblocking");
        let block = [0u8; 64 * 1024];
        while full.write(&block).is_ok() {}
        assert!(!wait_writable(full.as_fd(), std::time::Duration::from_millis(50)).expect("poll"));
    }
}
