//! Process calls: the pipes of the supervisor link, the non-blocking flag, signals to other
//! processes, signal dispositions, the parent-death signal, signal names for messages, and the
//! open-file limit.
//!
//! Every function is safe to call: each checks what the OS call needs (a positive pid, an open
//! descriptor) instead of trusting its caller. Nothing here decides policy; the supervisor and the
//! worker link do. Close-on-exec flags and claiming inherited descriptors are `os::fd`'s.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit, as a server that
/// holds a descriptor per connection needs (the soft limit is often 1024). Returns the soft
/// limit now in force.
pub(crate) fn raise_open_file_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit, as getrlimit requires.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // An unlimited hard limit still stops at the kernel's per-process maximum (`fs.nr_open`,
    // 1048576 unless changed), and a soft limit above that is refused.
    const KERNEL_DEFAULT_NR_OPEN: libc::rlim_t = 1 << 20;
    let target = if limit.rlim_max == libc::RLIM_INFINITY {
        KERNEL_DEFAULT_NR_OPEN
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to the hard one needs no
        // privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(limit.rlim_cur)
}

/// A new pipe, `(read end, write end)`, both close-on-exec and blocking. Pass an end to one child
/// with [`crate::os::fd::inherit_in_child`].
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    #[cfg(not(target_vendor = "apple"))]
    {
        // SAFETY: `fds` is a valid, writable array of two ints, as pipe2 requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(target_vendor = "apple")]
    {
        // SAFETY: `fds` is a valid, writable array of two ints, as pipe requires.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: pipe2/pipe succeeded, so both descriptors are open and owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(target_vendor = "apple")]
    {
        crate::os::fd::set_inheritable(read.as_raw_fd(), false)?;
        crate::os::fd::set_inheritable(write.as_raw_fd(), false)?;
    }
    Ok((read, write))
}

/// Puts `fd` in non-blocking mode: reads and writes that would wait fail with `WouldBlock`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor the borrow guarantees is open; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL with an int argument on an open descriptor; no memory is passed.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends `signal` to the process `pid`. Refuses pid 0 and pids beyond `pid_t`, which `kill(2)`
/// would take as a process group or as "every process".
pub(crate) fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let target = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{pid} is not a process id")))?;
    // SAFETY: kill takes plain integers; `target` is a single positive pid.
    if unsafe { libc::kill(target, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// The id of this process's parent (1, or a subreaper's, once the original parent has died).
pub(crate) fn parent_pid() -> u32 {
    // SAFETY: getppid takes no arguments and cannot fail.
    let ppid = unsafe { libc::getppid() };
    u32::try_from(ppid).unwrap_or(0)
}

/// Asks the kernel to send `signal` to this process when its parent dies (Linux
/// `PR_SET_PDEATHSIG`). Elsewhere it does nothing and returns `Ok(false)`; `Ok(true)` when set.
///
/// The kernel's notion of "parent" is the thread that started this process: the parent must
/// start its children from a thread that lives as long as it does (the supervisor has one
/// thread). Check the parent pid after setting it: a parent that died before is not reported.
pub(crate) fn set_parent_death_signal(signal: libc::c_int) -> io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let arg = libc::c_ulong::try_from(signal)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{signal} is not a signal")))?;
        // SAFETY: PR_SET_PDEATHSIG takes the signal number as its only argument; the unused
        // arguments are zero as prctl(2) asks.
        if unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                arg,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(true)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = signal;
        Ok(false)
    }
}

/// Makes this process ignore `signal` (its disposition becomes `SIG_IGN`, which a handler
/// installed later replaces).
pub(crate) fn ignore_signal(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: an all-zero sigaction is a valid value of this plain C struct (empty mask, no
    // flags); the handler field is then set to SIG_IGN.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_IGN;
    // SAFETY: `action` is a valid sigaction; a null old-action pointer is allowed. SIG_IGN runs
    // no code of ours, so nothing about async-signal safety is at stake.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    #[test]
    fn pipe_ends_are_close_on_exec_and_carry_bytes() {
        let (read, write) = pipe().expect("pipe");
        for end in [&read, &write] {
            // SAFETY: F_GETFD on a descriptor the OwnedFd keeps open.
            let flags = unsafe { libc::fcntl(end.as_raw_fd(), libc::F_GETFD) };
            assert!(flags >= 0 && flags & libc::FD_CLOEXEC != 0, "close-on-exec");
        }
        let mut reader = std::fs::File::from(read);
        set_nonblocking(reader.as_fd()).expect("nonblocking");
        let mut buf = [0u8; 8];
        let empty = reader.read(&mut buf).expect_err("nothing written yet");
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        std::fs::File::from(write).write_all(b"hi").expect("write");
        assert_eq!(reader.read(&mut buf).expect("read"), 2);
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(reader.read(&mut buf).expect("eof once the writer is gone"), 0);
    }

    #[test]
    fn kill_refuses_group_targets_and_reaches_a_child() {
        assert!(kill(0, libc::SIGTERM).is_err());
        assert!(kill(u32::MAX, libc::SIGTERM).is_err());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        kill(child.id(), libc::SIGKILL).expect("kill the child");
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        assert!(kill(pid(), 0).is_ok(), "signal 0 probes a live process");
    }

    #[test]
    fn parent_pid_is_a_process() {
        assert!(parent_pid() > 0);
        assert_ne!(parent_pid(), pid());
    }
}
