//! The link between the supervisor and each worker it starts: both ends of one small protocol.
//!
//! The supervisor re-executes the gateway binary with the same arguments and these environment
//! variables: [`ENV_WORKER`] (the worker's id), [`ENV_LISTENER_FDS`] (the inherited listening
//! sockets, in `--bind` order, each with the protocol it speaks), [`ENV_CONTROL_FD`] (the write end of a pipe) and
//! [`ENV_SUPERVISOR_PID`]. The worker reports over the pipe in lines of text: `ready`,
//! `heartbeat`, `retire <reason>` ([`Message`]); each line is written with one `write(2)` of at
//! most `PIPE_BUF` bytes, so lines from a worker never interleave or tear.
//!
//! [`WorkerLink`] is the worker's end: it never blocks (a full pipe drops a heartbeat and keeps
//! the rarer messages for later) and never panics; when the supervisor is gone it stops the
//! worker. [`Inbox`] is the supervisor's end: it splits what it reads into messages, tolerating
//! garbage. Nothing here starts processes or decides policy; that is `supervisor.rs`.

use crate::os::{fd, process};
use crate::serve::listen::Protocol;
use crate::serve::server::SupervisorLink;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, RawFd};

/// The worker's id (1, 2, ...), its slot among the supervisor's workers. Its presence makes the
/// process a worker.
pub(crate) const ENV_WORKER: &str = "NSGI_WORKER";
/// The inherited listening sockets, comma-separated descriptor numbers in `--bind` order; a
/// number is followed by `:uwsgi` when that listener speaks uwsgi (`3,4:uwsgi`).
pub(crate) const ENV_LISTENER_FDS: &str = "NSGI_LISTENER_FDS";
/// The descriptor of the inherited write end of the control pipe.
pub(crate) const ENV_CONTROL_FD: &str = "NSGI_CONTROL_FD";
/// The supervisor's process id: the worker refuses to start if its parent is someone else.
pub(crate) const ENV_SUPERVISOR_PID: &str = "NSGI_SUPERVISOR_PID";
/// Every variable of the link, removed from the worker's environment once read.
pub(crate) const ENV_VARS: [&str; 4] = [ENV_WORKER, ENV_LISTENER_FDS, ENV_CONTROL_FD, ENV_SUPERVISOR_PID];

/// Longest line on the control pipe, newline included; longer lines are discarded whole.
pub(crate) const MAX_LINE_BYTES: usize = 512;
/// Longest `retire` reason kept, in bytes (cut at a character boundary).
const MAX_REASON_BYTES: usize = MAX_LINE_BYTES - 16;
/// Messages kept while the pipe is full (heartbeats are never kept); beyond this the oldest go.
const MAX_UNSENT: usize = 8;

/// A report from a worker to its supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// The worker has initialised its apps and serves.
    Ready,
    /// The worker's event loop is alive.
    Heartbeat,
    /// The worker asks to be replaced, for this reason.
    Retire(String),
    /// A line that is none of the above (logged by the supervisor, otherwise ignored).
    Unknown(String),
}

impl Message {
    /// The line that carries this message, newline included; a reason loses its control
    /// characters and is cut to fit one atomic pipe write.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut line = match self {
            Message::Ready => b"ready".to_vec(),
            Message::Heartbeat => b"heartbeat".to_vec(),
            Message::Retire(reason) => format!("retire {}", clean_reason(reason)).into_bytes(),
            Message::Unknown(text) => clean_reason(text).into_bytes(),
        };
        line.push(b'\n');
        line
    }

    /// The message of one line (without its newline).
    pub(crate) fn decode(line: &[u8]) -> Message {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        match text {
            "ready" => Message::Ready,
            "heartbeat" => Message::Heartbeat,
            _ => match text.strip_prefix("retire") {
                Some("") => Message::Retire(String::new()),
                Some(rest) if rest.starts_with(' ') => Message::Retire(rest[1..].to_owned()),
                _ => Message::Unknown(text.chars().take(MAX_REASON_BYTES).collect()),
            },
        }
    }
}

/// `reason` on one line: control characters become spaces, cut to [`MAX_REASON_BYTES`].
fn clean_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON_BYTES));
    for c in reason.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_REASON_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// The environment the supervisor gives worker `id`: its listeners, its end of the control pipe
/// and the supervisor's pid.
pub(crate) fn worker_env(
    id: usize,
    listener_fds: &[(RawFd, Protocol)],
    control_fd: RawFd,
    supervisor_pid: u32,
) -> [(&'static str, String); 4] {
    let fds: Vec<String> = listener_fds
        .iter()
        .map(|(fd, protocol)| match protocol {
            Protocol::Http1 => fd.to_string(),
            other => format!("{fd}:{}", other.tag()),
        })
        .collect();
    [
        (ENV_WORKER, id.to_string()),
        (ENV_LISTENER_FDS, fds.join(",")),
        (ENV_CONTROL_FD, control_fd.to_string()),
        (ENV_SUPERVISOR_PID, supervisor_pid.to_string()),
    ]
}

/// What [`worker_env`] set, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LinkEnv {
    id: usize,
    listener_fds: Vec<(RawFd, Protocol)>,
    control_fd: RawFd,
    supervisor_pid: u32,
}

/// Reads the link's variables through `get`; `None` when [`ENV_WORKER`] is absent. Errors name
/// the variable at fault.
fn parse_env(get: impl Fn(&str) -> Option<OsString>) -> Result<Option<LinkEnv>, String> {
    let Some(id) = get(ENV_WORKER) else {
        return Ok(None);
    };
    let value = |name: &str| -> Result<String, String> {
        let raw = get(name).ok_or_else(|| format!("{ENV_WORKER} is set but {name} is not"))?;
        raw.into_string()
            .map_err(|raw| format!("{name}={}: not UTF-8", raw.to_string_lossy()))
    };
    let number = |name: &str, text: &str| -> Result<u64, String> {
        text.trim()
            .parse::<u64>()
            .map_err(|_| format!("{name}={text:?}: not a number"))
    };
    let id_text = id
        .into_string()
        .map_err(|raw| format!("{ENV_WORKER}={}: not UTF-8", raw.to_string_lossy()))?;
    let id = number(ENV_WORKER, &id_text)?;
    let fd_number = |name: &str, text: &str| -> Result<RawFd, String> {
        number(name, text).and_then(|n| RawFd::try_from(n).map_err(|_| format!("{name}={text:?}: not a descriptor")))
    };
    let fds_text = value(ENV_LISTENER_FDS)?;
    let listener_fds = if fds_text.trim().is_empty() {
        Vec::new()
    } else {
        fds_text
            .split(',')
            .map(|item| {
                let (fd, tag) = item.split_once(':').unwrap_or((item, ""));
                let protocol = Protocol::from_tag(tag)
                    .ok_or_else(|| format!("{ENV_LISTENER_FDS}={item:?}: {tag:?} is not a protocol"))?;
                Ok((fd_number(ENV_LISTENER_FDS, fd)?, protocol))
            })
            .collect::<Result<_, String>>()?
    };
    let control_fd = fd_number(ENV_CONTROL_FD, &value(ENV_CONTROL_FD)?)?;
    let supervisor_text = value(ENV_SUPERVISOR_PID)?;
    let supervisor_pid = u32::try_from(number(ENV_SUPERVISOR_PID, &supervisor_text)?)
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| format!("{ENV_SUPERVISOR_PID}={supervisor_text:?}: not a process id"))?;
    Ok(Some(LinkEnv {
        id: usize::try_from(id).map_err(|_| format!("{ENV_WORKER}={id}: too large"))?,
        listener_fds,
        control_fd,
        supervisor_pid,
    }))
}

/// The worker side of the supervisor link.
#[derive(Debug)]
pub struct WorkerLink {
    id: usize,
    supervisor_pid: u32,
    listener_fds: Vec<(RawFd, Protocol)>,
    /// The control pipe; `None` once the supervisor is known to be gone.
    control: Option<File>,
    /// Ready/retire lines that met a full pipe, oldest first.
    unsent: Vec<Vec<u8>>,
}

impl WorkerLink {
    /// The link when this process was started as a worker by the supervisor, `None` otherwise.
    ///
    /// Call it first thing in `main`, while the process has one thread. A worker asks the kernel
    /// for SIGTERM when its supervisor dies, refuses to start (an error) if the supervisor is
    /// already gone, takes its end of the control pipe, removes the link's variables from its
    /// environment (apps do not see them) and ignores the signals meant for the supervisor alone
    /// (SIGHUP, SIGTTIN, SIGTTOU; and SIGUSR1 until the event loop handles it), so that a signal
    /// sent to the whole process group does not kill it.
    pub fn from_env() -> Result<Option<WorkerLink>, String> {
        let Some(env) = parse_env(|name| std::env::var_os(name))? else {
            return Ok(None);
        };
        // First the death signal, then the check: a supervisor dying in between is still seen.
        process::set_parent_death_signal(libc::SIGTERM)
            .map_err(|e| format!("worker {}: cannot set the parent-death signal: {e}", env.id))?;
        let parent = process::parent_pid();
        if parent != env.supervisor_pid {
            return Err(format!(
                "worker {}: its supervisor (pid {}) is gone (parent is now pid {parent}); not starting",
                env.id, env.supervisor_pid
            ));
        }
        let control =
            fd::claim_inherited(env.control_fd).map_err(|e| format!("{ENV_CONTROL_FD}={}: {e}", env.control_fd))?;
        match fd::kind(control.as_fd()) {
            Ok(fd::FdKind::Pipe) => {}
            Ok(kind) => {
                return Err(format!(
                    "{ENV_CONTROL_FD}={}: is {}, not a pipe",
                    env.control_fd,
                    kind.describe()
                ));
            }
            Err(e) => return Err(format!("{ENV_CONTROL_FD}={}: {e}", env.control_fd)),
        }
        process::set_nonblocking(control.as_fd())
            .map_err(|e| format!("{ENV_CONTROL_FD}={}: cannot make it non-blocking: {e}", env.control_fd))?;
        if let Err(why) = fd::remove_env_vars(&ENV_VARS) {
            log::warn!(
                "worker {}: the supervisor link's variables stay visible to apps: {why}",
                env.id
            );
        }
        for signal in [libc::SIGHUP, libc::SIGTTIN, libc::SIGTTOU, libc::SIGUSR1] {
            if let Err(e) = process::ignore_signal(signal) {
                log::warn!(
                    "worker {}: cannot ignore {}: {e}",
                    env.id,
                    nsgi::host::exit::signal_name(signal)
                );
            }
        }
        Ok(Some(WorkerLink {
            id: env.id,
            supervisor_pid: env.supervisor_pid,
            listener_fds: env.listener_fds,
            control: Some(File::from(control)),
            unsent: Vec::new(),
        }))
    }

    /// The listening sockets inherited from the supervisor, in `--bind` order, with the protocol
    /// each speaks.
    pub fn listener_fds(&self) -> &[(RawFd, Protocol)] {
        &self.listener_fds
    }

    /// Writes `message`, after any kept ones. When the pipe is full, a message worth keeping is
    /// kept for the next call, a heartbeat dropped (a later one will do).
    fn send(&mut self, message: &Message, keep: bool) {
        let line = message.encode();
        if self.control.is_none() {
            return;
        }
        while let Some(kept) = self.unsent.first() {
            let kept = kept.clone();
            match self.write_line(&kept) {
                Ok(true) => {
                    self.unsent.remove(0);
                }
                Ok(false) => break,
                Err(e) => return self.supervisor_gone(&e),
            }
        }
        if self.unsent.is_empty() {
            match self.write_line(&line) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => return self.supervisor_gone(&e),
            }
        }
        if keep {
            if self.unsent.len() == MAX_UNSENT {
                self.unsent.remove(0);
            }
            self.unsent.push(line);
        }
    }

    /// One line in one write: `Ok(true)` sent, `Ok(false)` the pipe is full.
    fn write_line(&mut self, line: &[u8]) -> io::Result<bool> {
        let Some(control) = self.control.as_mut() else {
            return Ok(false);
        };
        loop {
            // A pipe write of at most PIPE_BUF bytes is atomic: all of it, or EAGAIN.
            return match control.write(line) {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// The pipe is broken: the supervisor has exited. Stop serving, as the parent-death signal
    /// would have done (this also covers systems without one).
    fn supervisor_gone(&mut self, error: &io::Error) {
        self.control = None;
        self.unsent.clear();
        log::warn!(
            "worker {}: lost the supervisor (pid {}): {error}; stopping",
            self.id,
            self.supervisor_pid
        );
        if let Err(e) = process::kill(process::pid(), libc::SIGTERM) {
            log::error!("worker {}: cannot stop itself: {e}", self.id);
        }
    }
}

impl SupervisorLink for WorkerLink {
    /// The worker has initialised its apps and is serving.
    fn ready(&mut self) {
        self.send(&Message::Ready, true);
    }

    /// The worker's event loop is alive (called about once a second).
    fn heartbeat(&mut self) {
        self.send(&Message::Heartbeat, false);
    }

    /// Asks the supervisor to replace this worker (e.g. `--max-requests` reached, or a request
    /// ran past `--timeout`): it starts a new worker, then stops this one gracefully.
    fn retire(&mut self, reason: &str) {
        self.send(&Message::Retire(reason.to_owned()), true);
    }
}

/// The supervisor's end of one worker's control pipe: bytes in, messages out.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    partial: Vec<u8>,
    /// The current line grew past [`MAX_LINE_BYTES`]: drop bytes up to its newline.
    discarding: bool,
}

impl Inbox {
    /// An empty inbox.
    pub(crate) fn new() -> Inbox {
        Inbox::default()
    }

    /// Appends `bytes` and returns the messages of the lines they complete; an overlong line is
    /// returned as one [`Message::Unknown`] and otherwise skipped.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut messages = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (&rest[..end], true),
                None => (rest, false),
            };
            rest = if complete { &rest[piece.len() + 1..] } else { &[] };
            if !self.discarding {
                if self.partial.len() + piece.len() < MAX_LINE_BYTES {
                    self.partial.extend_from_slice(piece);
                } else {
                    self.partial.clear();
                    self.discarding = true;
                    messages.push(Message::Unknown(format!("a line longer than {MAX_LINE_BYTES} bytes")));
                }
            }
            if complete {
                if !self.discarding {
                    messages.push(Message::decode(&self.partial));
                }
                self.partial.clear();
                self.discarding = false;
            }
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Read;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Ready,
            Message::Heartbeat,
            Message::Retire("max-requests (1000) reached".to_owned()),
            Message::Retire(String::new()),
        ] {
            let line = message.encode();
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(Message::decode(&line[..line.len() - 1]), message);
        }
        assert_eq!(Message::decode(b"retired"), Message::Unknown("retired".to_owned()));
        assert_eq!(Message::decode(b"bogus"), Message::Unknown("bogus".to_owned()));
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        let line = Message::Retire("a\nb\r\tc".to_owned()).encode();
        assert_eq!(line, b"retire a b  c\n");
        let long = "é".repeat(1000);
        let line = Message::Retire(long).encode();
        assert!(line.len() <= MAX_LINE_BYTES, "{}", line.len());
        assert!(String::from_utf8(line).is_ok(), "cut at a character boundary");
    }

    #[test]
    fn inbox_splits_lines_across_reads_and_skips_overlong_ones() {
        let mut inbox = Inbox::new();
        assert_eq!(inbox.feed(b"rea"), []);
        assert_eq!(
            inbox.feed(b"dy\nheartbeat\nretire x"),
            [Message::Ready, Message::Heartbeat]
        );
        assert_eq!(inbox.feed(b" y\n"), [Message::Retire("x y".to_owned())]);
        let mut flood = vec![b'z'; MAX_LINE_BYTES * 3];
        flood.extend_from_slice(b"\nready\n");
        let messages = inbox.feed(&flood);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(matches!(&messages[0], Message::Unknown(why) if why.contains("longer than")));
        assert_eq!(messages[1], Message::Ready);
        // An overlong line arriving in pieces is reported once.
        assert_eq!(inbox.feed(&vec![b'z'; MAX_LINE_BYTES]).len(), 1);
        assert_eq!(inbox.feed(&vec![b'z'; MAX_LINE_BYTES]), []);
        assert_eq!(inbox.feed(b"z\nheartbeat\n"), [Message::Heartbeat]);
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn environment_round_trips_and_errors_name_the_variable() {
        assert_eq!(parse_env(env_of(&[])), Ok(None));
        let env = worker_env(3, &[(3, Protocol::Http1), (4, Protocol::Uwsgi)], 7, 1234);
        assert_eq!(env[1].1, "3,4:uwsgi");
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            parse_env(env_of(&pairs)),
            Ok(Some(LinkEnv {
                id: 3,
                listener_fds: vec![(3, Protocol::Http1), (4, Protocol::Uwsgi)],
                control_fd: 7,
                supervisor_pid: 1234
            }))
        );
        let missing = parse_env(env_of(&[(ENV_WORKER, "1")])).expect_err("incomplete");
        assert!(missing.contains(ENV_LISTENER_FDS), "{missing}");
        let bad = parse_env(env_of(&[
            (ENV_WORKER, "1"),
            (ENV_LISTENER_FDS, "3,x"),
            (ENV_CONTROL_FD, "5"),
            (ENV_SUPERVISOR_PID, "9"),
        ]))
        .expect_err("bad fd");
        assert!(bad.contains(ENV_LISTENER_FDS) && bad.contains("not a number"), "{bad}");
        let unknown = parse_env(env_of(&[
            (ENV_WORKER, "1"),
            (ENV_LISTENER_FDS, "3:gopher"),
            (ENV_CONTROL_FD, "5"),
            (ENV_SUPERVISOR_PID, "9"),
        ]))
        .expect_err("unknown protocol");
        assert!(
            unknown.contains("gopher") && unknown.contains("not a protocol"),
            "{unknown}"
        );
        let zero = parse_env(env_of(&[
            (ENV_WORKER, "1"),
            (ENV_LISTENER_FDS, ""),
            (ENV_CONTROL_FD, "5"),
            (ENV_SUPERVISOR_PID, "0"),
        ]))
        .expect_err("pid 0");
        assert!(zero.contains(ENV_SUPERVISOR_PID), "{zero}");
    }

    fn link_over_pipe() -> (WorkerLink, File) {
        let (read, write) = process::pipe().expect("pipe");
        process::set_nonblocking(write.as_fd()).expect("nonblocking");
        process::set_nonblocking(read.as_fd()).expect("nonblocking");
        let link = WorkerLink {
            id: 1,
            supervisor_pid: process::parent_pid(),
            listener_fds: Vec::new(),
            control: Some(File::from(write)),
            unsent: Vec::new(),
        };
        (link, File::from(read))
    }

    fn drain(reader: &mut File) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        for _ in 0..1024 {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        all
    }

    #[test]
    fn a_full_pipe_drops_heartbeats_and_keeps_the_rest() {
        let (mut link, mut reader) = link_over_pipe();
        link.ready();
        // Fill the pipe (bounded: a pipe holds at most 1 MiB, 100k of these lines).
        let mut written = 0;
        while written < 200_000 && link.write_line(b"heartbeat\n").expect("write") {
            written += 1;
        }
        assert!(
            written > 0 && written < 200_000,
            "the pipe filled after {written} lines"
        );
        link.heartbeat();
        link.retire("max-requests");
        link.heartbeat();
        assert_eq!(link.unsent.len(), 1, "the retire line is kept, heartbeats are not");
        let mut inbox = Inbox::new();
        let first = inbox.feed(&drain(&mut reader));
        assert_eq!(first.first(), Some(&Message::Ready));
        assert!(first[1..].iter().all(|m| *m == Message::Heartbeat));
        link.heartbeat();
        let second = inbox.feed(&drain(&mut reader));
        assert_eq!(
            second,
            [Message::Retire("max-requests".to_owned()), Message::Heartbeat],
            "the kept line goes first"
        );
    }
}
