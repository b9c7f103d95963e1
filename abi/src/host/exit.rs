//! How a process that ran an app ended, in words for an operator or an app author: the exit
//! status, or the signal by its name (`SIGSEGV`, never a bare number), with a hint for the
//! signals an app's own fault raises. One description for every host that runs apps in
//! processes: the gateway's supervisor (a worker ended) and the conformance checker (its
//! isolated worker ended). It only describes a status; it never waits for, signals or starts a
//! process.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How a process ended, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// Exit status 0.
    pub clean: bool,
    /// "exited with status 1", "killed by signal SIGSEGV (core dumped)", ...
    pub text: String,
    /// What the signal usually means for an app, when it is one an app's own fault raises
    /// ("an invalid memory access" for `SIGSEGV`).
    pub hint: Option<&'static str>,
}

/// Describes how a process ended.
///
/// ```
/// use nsgi::host::exit::describe_exit;
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// let end = describe_exit(ExitStatus::from_raw(3 << 8));
/// assert_eq!((end.clean, end.text.as_str()), (false, "exited with status 3"));
/// ```
pub fn describe_exit(status: ExitStatus) -> Exit {
    let (text, hint) = if let Some(signal) = status.signal() {
        let core = if status.core_dumped() { " (core dumped)" } else { "" };
        (
            format!("killed by signal {}{core}", signal_name(signal)),
            signal_hint(signal),
        )
    } else if let Some(code) = status.code() {
        (format!("exited with status {code}"), None)
    } else {
        (format!("ended ({status})"), None)
    };
    Exit {
        clean: status.success(),
        text,
        hint,
    }
}

/// What a signal usually means when it ends a process running an app, for the signals an app's
/// own fault raises.
pub fn signal_hint(signal: libc::c_int) -> Option<&'static str> {
    Some(match signal {
        libc::SIGABRT => "an abort, e.g. a panic in an app built with panic = \"abort\"",
        libc::SIGSEGV => "an invalid memory access",
        libc::SIGBUS => "an access to memory that does not exist, e.g. a file truncated while mapped",
        libc::SIGILL => "an illegal instruction, e.g. a trap the compiler put on an unreachable path",
        libc::SIGFPE => "an arithmetic fault, e.g. an integer division by zero",
        _ => return None,
    })
}

/// The conventional name of a signal (`SIGSEGV`), or `signal N` for one without a name here.
pub fn signal_name(signal: libc::c_int) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGSYS => "SIGSYS",
        other => return format!("signal {other}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_described_for_operators() {
        let exited = describe_exit(ExitStatus::from_raw(3 << 8));
        assert_eq!(
            (exited.clean, exited.text.as_str(), exited.hint),
            (false, "exited with status 3", None)
        );
        let clean = describe_exit(ExitStatus::from_raw(0));
        assert_eq!((clean.clean, clean.text.as_str()), (true, "exited with status 0"));
        let segv = describe_exit(ExitStatus::from_raw(libc::SIGSEGV));
        assert_eq!(segv.text, "killed by signal SIGSEGV");
        assert_eq!(segv.hint, Some("an invalid memory access"));
        let core = describe_exit(ExitStatus::from_raw(libc::SIGABRT | 0x80));
        assert_eq!(core.text, "killed by signal SIGABRT (core dumped)");
        assert!(core.hint.is_some_and(|hint| hint.contains("panic = \"abort\"")));
        let killed = describe_exit(ExitStatus::from_raw(libc::SIGKILL));
        assert_eq!((killed.text.as_str(), killed.hint), ("killed by signal SIGKILL", None));
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(libc::SIGSEGV), "SIGSEGV");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(200), "signal 200");
    }
}
