//! The supervisor (master) process: starts the workers, watches them, replaces, reloads and stops
//! them.
//!
//! Owns the life of every worker process: starting it (this binary executed again with the same
//! arguments, the listeners inherited and a control pipe, see `worker_link`), readiness,
//! the `--boot-timeout` and `--timeout` kills, restarts after crashes (at once for a worker that
//! was serving, with a growing back-off per slot for workers that fail while booting),
//! replacements one at a time (`--max-requests`), the graceful reload (SIGHUP: a new generation
//! serves before the old one drains), the graceful stop (SIGTERM, SIGINT), the quick stop
//! (SIGQUIT), SIGTTIN/SIGTTOU (one worker more or fewer) and SIGUSR1 (forwarded to the workers).
//! With `--reload`, a settled change to an app library or config file (see `reload_watch`)
//! starts that same graceful reload.
//!
//! It never loads an app and never accepts a connection: the listeners it holds are only passed
//! on, so a crashing app cannot take it down. It is a single-threaded mio loop that wakes on
//! signals, on the control pipes, at least once a second, and with `--reload` when the watched
//! files are next due to be looked at; it never busy-waits.

use crate::os::{fd, process};
use crate::process::pid_file::PidFile;
use crate::process::reload_watch::ReloadWatch;
use crate::process::sd_notify;
use crate::process::worker;
use crate::process::worker_link::{self, Inbox, Message};
use crate::serve::listen::{Listener, Protocol};
use crate::settings::cli::Cli;
use libc::{SIGCHLD, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1};
use mio::unix::pipe::Receiver;
use mio::{Events, Interest, Poll, Token};
use nsgi::host::exit::{Exit, describe_exit, signal_name};
use signal_hook_mio::v1_0::Signals;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest the loop sleeps without looking at its workers.
const TICK: Duration = Duration::from_secs(1);
/// Wait before restarting a slot whose worker failed to boot for the first time in a row.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
/// Longest wait before restarting a slot whose workers keep failing to boot.
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How often a worker's event loop reports (the worker side's period). A worker is timed out
/// only after `--timeout` plus this much silence: the stuck call may have begun just after the
/// last heartbeat, so the silence proves a call longer than `--timeout` only then.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// Added to `--graceful-timeout` before a stopping worker is killed: the worker's own drain
/// deadline passes first, and it gets this long to shut its apps down and exit.
const STOP_MARGIN: Duration = Duration::from_secs(2);
/// How long SIGQUIT gives the workers before SIGKILL.
const QUIT_GRACE: Duration = Duration::from_secs(1);
/// How long to wait for killed workers to be reaped before giving up on them at exit.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// Bytes read from one control pipe per wake-up, so a chatty worker cannot starve the loop.
const READ_BUDGET: usize = 64 * 1024;
/// Token of the signal source; control pipes use small tokens counting up from 0.
const SIGNAL_TOKEN: Token = Token(usize::MAX);
/// The signals the supervisor handles.
const SIGNALS: [libc::c_int; 8] = [SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGTTIN, SIGTTOU, SIGUSR1];
/// Variables meant for the supervisor alone (systemd's socket activation and notification):
/// workers must not adopt systemd's sockets nor notify systemd themselves.
const SUPERVISOR_ONLY_ENV: [&str; 6] = [
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "NOTIFY_SOCKET",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
];

/// Runs the supervisor over `listeners` until it is stopped: `Ok` after a graceful or quick
/// stop, `Err` when the first workers could not start (their own errors are on stderr) or the
/// supervisor itself failed. Removes the unix socket files and the `--pid` file on the way out.
pub fn run(cli: &Cli, listeners: Vec<Listener>) -> Result<(), String> {
    let outcome = supervise(cli, &listeners);
    for listener in &listeners {
        listener.remove_socket_file();
    }
    outcome
}

fn supervise(cli: &Cli, listeners: &[Listener]) -> Result<(), String> {
    // Refuse bad settings once here, rather than once per worker that would fail on them.
    worker::plan(cli, true)?;
    if listeners.is_empty() {
        return Err("no listener to pass to the workers".to_owned());
    }
    let spawner = Spawner::new(listeners)?;
    let _pid_file = cli.pid.as_deref().map(PidFile::create).transpose()?;
    let mut supervisor = Supervisor::new(cli, spawner, listeners.iter().map(Listener::url).collect())?;
    log::info!(
        "supervisor (pid {}) starting {} worker(s)",
        process::pid(),
        supervisor.target
    );
    let outcome = supervisor.run();
    log::info!("supervisor (pid {}) stopped", process::pid());
    outcome
}

/// Starts worker processes: this binary, executed again with this process's arguments.
#[derive(Debug)]
struct Spawner {
    program: PathBuf,
    arg0: OsString,
    args: Vec<OsString>,
    listener_fds: Vec<RawFd>,
    /// The protocol of each of `listener_fds`.
    protocols: Vec<Protocol>,
}

impl Spawner {
    fn new(listeners: &[Listener]) -> Result<Spawner, String> {
        let mut argv = std::env::args_os();
        let arg0 = argv.next().unwrap_or_else(|| OsString::from("nsgi-gateway"));
        Ok(Spawner {
            program: own_executable()?,
            arg0,
            args: argv.collect(),
            listener_fds: listeners.iter().map(AsRawFd::as_raw_fd).collect(),
            protocols: listeners.iter().map(Listener::protocol).collect(),
        })
    }

    /// Starts worker `id`, passing it the listeners and the write end of a new control pipe;
    /// returns the child and the pipe's read end (non-blocking).
    fn spawn(&self, id: usize) -> io::Result<(Child, Receiver)> {
        let (read, write) = process::pipe()?;
        process::set_nonblocking(read.as_fd())?;
        let mut command = Command::new(&self.program);
        command.arg0(&self.arg0).args(&self.args).stdin(Stdio::null());
        for name in SUPERVISOR_ONLY_ENV {
            command.env_remove(name);
        }
        let listeners: Vec<(RawFd, Protocol)> = self
            .listener_fds
            .iter()
            .copied()
            .zip(self.protocols.iter().copied())
            .collect();
        command.envs(worker_link::worker_env(
            id,
            &listeners,
            write.as_raw_fd(),
            process::pid(),
        ));
        // Every descriptor stays close-on-exec here; only this child's copies are cleared, so
        // no worker inherits another worker's pipe (its end-of-file would never come).
        let mut inherited = self.listener_fds.clone();
        inherited.push(write.as_raw_fd());
        fd::inherit_in_child(&mut command, &inherited);
        let child = command.spawn()?;
        drop(write);
        Ok((child, Receiver::from(read)))
    }
}

/// The program workers run. On Linux `/proc/self/exe`: the very binary this supervisor runs even
/// if its file was replaced or removed since, so a worker always speaks its supervisor's link
/// protocol (a new gateway binary takes a restart; a reload picks up new app libraries).
fn own_executable() -> Result<PathBuf, String> {
    let proc_exe = Path::new("/proc/self/exe");
    if cfg!(any(target_os = "linux", target_os = "android")) && proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().map_err(|e| format!("cannot find the gateway's own executable to start workers: {e}"))
}

/// What the supervisor expects of a worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Serves in its slot; exiting now is a crash.
    Serving,
    /// Asked to be replaced: serves until its successor in the slot is ready.
    Retiring,
    /// Told to stop (SIGTERM or SIGQUIT); killed if still running at `deadline`.
    Stopping { deadline: Instant },
    /// Sent SIGKILL at `since`.
    Killed { since: Instant },
}

/// One worker process.
#[derive(Debug)]
struct Worker {
    /// The slot, 1..=target; new workers of later generations reuse the ids.
    id: usize,
    generation: u64,
    child: Child,
    pid: u32,
    token: Token,
    /// The control pipe; `None` once the worker closed its end.
    control: Option<Receiver>,
    inbox: Inbox,
    started: Instant,
    ready_at: Option<Instant>,
    /// When the last message (any message) came.
    last_beat: Instant,
    fate: Fate,
    /// Why the worker asked to be replaced, until its turn comes.
    retire_reason: Option<String>,
    /// An unknown message was logged already (a garbling worker is reported once).
    warned_unknown: bool,
    /// Killed for not being ready within `--boot-timeout`: its exit is a boot failure.
    boot_expired: bool,
}

impl Worker {
    fn name(&self) -> String {
        format!("worker {} (pid {})", self.id, self.pid)
    }

    fn is_ready(&self) -> bool {
        self.ready_at.is_some()
    }

    /// Serves or still may (not told to stop).
    fn is_active(&self) -> bool {
        matches!(self.fate, Fate::Serving | Fate::Retiring)
    }
}

/// Restart pacing of one slot: only workers that fail before they are ready slow it down.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The wait before the next restart after a boot failure.
    delay: Duration,
    /// No worker is started in this slot before then.
    not_before: Option<Instant>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            delay: BACKOFF_FIRST,
            not_before: None,
        }
    }
}

/// Where the supervisor is in its life.
#[derive(Debug)]
enum Phase {
    /// Starting the first workers (until they are all ready), then serving.
    Running,
    /// Waiting for the workers to exit; then returns `outcome`.
    Stopping { outcome: Result<(), String> },
}

struct Supervisor {
    poll: Poll,
    signals: Signals,
    spawner: Spawner,
    workers: Vec<Worker>,
    /// Indexed by worker id - 1.
    slots: Vec<Slot>,
    /// How many workers should serve.
    target: usize,
    /// The generation serving (the first one, until it is ready, is generation 1).
    committed: u64,
    /// The generation a reload is starting.
    pending: Option<u64>,
    last_generation: u64,
    /// The first generation became ready and "Listening on" was printed.
    announced: bool,
    urls: Vec<String>,
    /// `--timeout`, `None` when 0.
    timeout: Option<Duration>,
    /// `--boot-timeout`, `None` when 0.
    boot_timeout: Option<Duration>,
    graceful_timeout: Duration,
    phase: Phase,
    next_token: usize,
    /// Control pipes that still held bytes when their read budget ran out.
    unread: Vec<Token>,
    /// `--reload`: the app files whose changes start a reload.
    watch: Option<ReloadWatch>,
}

impl Supervisor {
    fn new(cli: &Cli, spawner: Spawner, urls: Vec<String>) -> Result<Supervisor, String> {
        let poll = Poll::new().map_err(|e| format!("supervisor: cannot create the event loop: {e}"))?;
        let mut signals =
            Signals::new(SIGNALS).map_err(|e| format!("supervisor: cannot install signal handlers: {e}"))?;
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)
            .map_err(|e| format!("supervisor: cannot watch signals: {e}"))?;
        Ok(Supervisor {
            poll,
            signals,
            spawner,
            workers: Vec::new(),
            slots: Vec::new(),
            target: cli.worker_count().max(1),
            committed: 1,
            pending: None,
            last_generation: 1,
            announced: false,
            urls,
            timeout: (cli.timeout > 0).then(|| Duration::from_secs(cli.timeout)),
            boot_timeout: (cli.boot_timeout > 0).then(|| Duration::from_secs(cli.boot_timeout)),
            graceful_timeout: Duration::from_secs(cli.graceful_timeout),
            phase: Phase::Running,
            next_token: 0,
            unread: Vec::new(),
            watch: cli.reload.then(|| start_watch(cli)).transpose()?,
        })
    }

    /// The loop: act on the state, sleep until something happens or a deadline comes, take in
    /// signals, messages and exits; repeat until the last worker is gone after a stop.
    fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(64);
        loop {
            let now = Instant::now();
            if let Some(outcome) = self.step(now) {
                return outcome;
            }
            let wait = if self.unread.is_empty() {
                self.next_wakeup(now).saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.abandon_workers();
                    return Err(format!("supervisor: waiting for events failed: {e}"));
                }
            }
            let mut signalled = false;
            let mut readable = std::mem::take(&mut self.unread);
            for event in events.iter() {
                if event.token() == SIGNAL_TOKEN {
                    signalled = true;
                } else {
                    readable.push(event.token());
                }
            }
            let now = Instant::now();
            if signalled {
                self.on_signals(now);
            }
            for token in readable {
                self.read_control(token, now);
            }
            self.reap(now);
        }
    }

    /// Everything that follows from the state at `now`; `Some` when the supervisor is done.
    fn step(&mut self, now: Instant) -> Option<Result<(), String>> {
        self.enforce_deadlines(now);
        if let Phase::Stopping { outcome } = &self.phase {
            return self.stopped(now, outcome.clone());
        }
        self.reload_on_changes(now);
        self.trim_excess(now);
        self.start_retirement();
        self.spawn_missing(now);
        if matches!(self.phase, Phase::Stopping { .. }) {
            return None;
        }
        self.finish_replacements(now);
        self.commit_generation(now);
        None
    }

    /// The next moment something falls due, at most a [`TICK`] away. Only instants after `now`
    /// count: whatever was due by `now` was dealt with by the step just taken, and an instant that
    /// stays past (a killed worker not reaped yet) must not turn the loop into a busy one.
    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut at = now + TICK;
        let mut consider = |when: Instant| {
            if when > now {
                at = at.min(when);
            }
        };
        if matches!(self.phase, Phase::Running) {
            self.slots
                .iter()
                .filter_map(|slot| slot.not_before)
                .for_each(&mut consider);
            if let Some(watch) = &self.watch {
                consider(watch.next_check());
            }
        }
        for worker in &self.workers {
            match worker.fate {
                Fate::Killed { .. } => continue,
                Fate::Stopping { deadline } => consider(deadline),
                Fate::Serving | Fate::Retiring => {}
            }
            if let (Some(timeout), true) = (self.timeout, worker.is_ready()) {
                consider(worker.last_beat + timeout + HEARTBEAT_PERIOD + Duration::from_millis(1));
            }
            if let (Some(boot_timeout), false) = (self.boot_timeout, worker.is_ready() || worker.boot_expired) {
                consider(worker.started + boot_timeout);
            }
        }
        at
    }

    // ---- acting on the state ----

    /// Kills workers past their stop deadline, workers not ready within `--boot-timeout`, and
    /// workers whose event loop went silent for longer than `--timeout` (plus one heartbeat
    /// period).
    fn enforce_deadlines(&mut self, now: Instant) {
        for index in 0..self.workers.len() {
            let worker = &self.workers[index];
            if let Fate::Stopping { deadline } = worker.fate {
                if now >= deadline {
                    log::warn!("{} did not stop in time; killing it (SIGKILL)", worker.name());
                    self.kill(index, now);
                    continue;
                }
            }
            if let Some(boot_timeout) = self.boot_timeout
                && worker.is_active()
                && !worker.is_ready()
                && !worker.boot_expired
                && now.duration_since(worker.started) >= boot_timeout
            {
                // Its exit, once reaped, is handled as a failure to boot (see `on_exit`).
                let worker = &mut self.workers[index];
                worker.boot_expired = true;
                if let Err(e) = process::kill(worker.pid, SIGKILL) {
                    log::warn!("cannot send SIGKILL to {}: {e}", worker.name());
                }
                continue;
            }
            let Some(timeout) = self.timeout else {
                continue;
            };
            if !worker.is_ready() || matches!(worker.fate, Fate::Killed { .. }) {
                continue;
            }
            if now.duration_since(worker.last_beat) > timeout + HEARTBEAT_PERIOD {
                let what = if worker.fate == Fate::Serving {
                    "replaced"
                } else {
                    "killed"
                };
                log::error!(
                    "{} timed out: a request ran longer than --timeout {}s; {what}",
                    worker.name(),
                    timeout.as_secs()
                );
                self.kill(index, now);
            }
        }
    }

    /// `--reload`: reloads once the watched files changed and settled. Not before the first
    /// workers serve: a change made while they boot is found at the first look after.
    fn reload_on_changes(&mut self, now: Instant) {
        if !self.announced {
            return;
        }
        let Some(watch) = self.watch.as_mut() else {
            return;
        };
        let changed = watch.check(now);
        if !changed.is_empty() {
            self.reload(&changed.join(", "), now);
        }
    }

    /// Stops the workers of slots above the target (after SIGTTOU).
    fn trim_excess(&mut self, now: Instant) {
        for index in 0..self.workers.len() {
            let worker = &self.workers[index];
            if worker.is_active() && worker.id > self.target {
                log::info!("{} stopping: the worker count is now {}", worker.name(), self.target);
                self.stop(index, SIGTERM, now + self.graceful_timeout + STOP_MARGIN);
            }
        }
        self.slots.truncate(self.target);
    }

    /// Marks the next worker that asked to be replaced as retiring (its successor is then
    /// started by [`Self::spawn_missing`]), one at a time and never during a reload.
    fn start_retirement(&mut self) {
        if self.pending.is_some() || self.workers.iter().any(|w| w.fate == Fate::Retiring) {
            return;
        }
        let committed = self.committed;
        let next = self.workers.iter_mut().find(|w| {
            w.fate == Fate::Serving && w.generation == committed && w.is_ready() && w.retire_reason.is_some()
        });
        if let Some(worker) = next {
            worker.fate = Fate::Retiring;
            log::info!(
                "replacing {} ({}): starting its successor first",
                worker.name(),
                worker.retire_reason.as_deref().unwrap_or("asked to be replaced")
            );
        }
    }

    /// Starts a worker in every slot of the serving (and the reloading) generation that has no
    /// serving worker, once the slot's back-off has passed.
    fn spawn_missing(&mut self, now: Instant) {
        let generations: Vec<u64> = std::iter::once(self.committed).chain(self.pending).collect();
        for generation in generations {
            for id in 1..=self.target {
                let still_wanted = matches!(self.phase, Phase::Running)
                    && (generation == self.committed || self.pending == Some(generation));
                if !still_wanted {
                    return;
                }
                let occupied = self
                    .workers
                    .iter()
                    .any(|w| w.generation == generation && w.id == id && w.fate == Fate::Serving);
                if occupied {
                    continue;
                }
                if generation == self.committed && self.slot(id).not_before.is_some_and(|t| t > now) {
                    continue;
                }
                if generation == self.committed {
                    self.slot(id).not_before = None;
                }
                self.start_worker(id, generation, now);
            }
        }
    }

    /// Stops each retiring worker whose successor is ready.
    fn finish_replacements(&mut self, now: Instant) {
        for index in 0..self.workers.len() {
            let retiring = &self.workers[index];
            if retiring.fate != Fate::Retiring {
                continue;
            }
            let successor = self.workers.iter().find(|w| {
                w.fate == Fate::Serving && w.id == retiring.id && w.generation == retiring.generation && w.is_ready()
            });
            if let Some(successor) = successor {
                log::info!(
                    "{} replaced by pid {}; stopping it gracefully",
                    retiring.name(),
                    successor.pid
                );
                self.stop(index, SIGTERM, now + self.graceful_timeout + STOP_MARGIN);
            }
        }
    }

    /// Once every slot of the starting generation has a ready worker: announces the first one,
    /// or completes a reload by stopping the previous generation.
    fn commit_generation(&mut self, now: Instant) {
        let generation = if self.announced {
            match self.pending {
                Some(generation) => generation,
                None => return,
            }
        } else {
            self.committed
        };
        let complete = (1..=self.target).all(|id| {
            self.workers
                .iter()
                .any(|w| w.generation == generation && w.id == id && w.fate == Fate::Serving && w.is_ready())
        });
        if !complete {
            return;
        }
        if !self.announced {
            self.announced = true;
            log::info!("{} worker(s) serving", self.target);
            worker::announce(&self.urls);
            sd_notify::status(&format!("{} workers serving", self.target));
            sd_notify::ready();
            return;
        }
        self.pending = None;
        let previous = std::mem::replace(&mut self.committed, generation);
        let old: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].generation < generation && self.workers[i].is_active())
            .collect();
        log::info!(
            "reload complete: generation {generation} is serving with {} worker(s); stopping {} worker(s) of generation {previous}",
            self.target,
            old.len()
        );
        for index in old {
            self.stop(index, SIGTERM, now + self.graceful_timeout + STOP_MARGIN);
        }
        sd_notify::status(&format!("{} workers serving (generation {generation})", self.target));
        sd_notify::ready();
    }

    /// Once stopping: done when every worker is gone (or only unkillable ones are left).
    fn stopped(&mut self, now: Instant, outcome: Result<(), String>) -> Option<Result<(), String>> {
        if self.workers.is_empty() {
            return Some(outcome);
        }
        let hopeless = self
            .workers
            .iter()
            .all(|w| matches!(w.fate, Fate::Killed { since } if now.duration_since(since) >= KILL_WAIT));
        if hopeless {
            let pids: Vec<String> = self.workers.iter().map(|w| w.pid.to_string()).collect();
            log::error!(
                "worker pid(s) {} did not exit after SIGKILL; leaving them behind",
                pids.join(", ")
            );
            return Some(outcome);
        }
        None
    }

    // ---- workers ----

    fn slot(&mut self, id: usize) -> &mut Slot {
        if self.slots.len() < id {
            self.slots.resize(id, Slot::default());
        }
        &mut self.slots[id - 1]
    }

    fn start_worker(&mut self, id: usize, generation: u64, now: Instant) {
        let (mut child, mut control) = match self.spawner.spawn(id) {
            Ok(started) => started,
            Err(e) => return self.start_failed(id, generation, &format!("cannot start worker {id}: {e}"), now),
        };
        let token = Token(self.next_token);
        self.next_token += 1;
        if let Err(e) = self.poll.registry().register(&mut control, token, Interest::READABLE) {
            let _ = child.kill();
            let _ = child.wait();
            return self.start_failed(
                id,
                generation,
                &format!("cannot watch the control pipe of worker {id}: {e}"),
                now,
            );
        }
        let pid = child.id();
        if generation > 1 {
            log::info!("booting worker {id} (pid {pid}), generation {generation}");
        } else {
            log::info!("booting worker {id} (pid {pid})");
        }
        self.workers.push(Worker {
            id,
            generation,
            child,
            pid,
            token,
            control: Some(control),
            inbox: Inbox::new(),
            started: now,
            ready_at: None,
            last_beat: now,
            fate: Fate::Serving,
            retire_reason: None,
            warned_unknown: false,
            boot_expired: false,
        });
    }

    /// A worker could not be started: fatal while starting up, the end of a reload, or a crash
    /// of its slot otherwise.
    fn start_failed(&mut self, id: usize, generation: u64, message: &str, now: Instant) {
        if !self.announced {
            log::error!("{message}");
            self.begin_stop(true, Err(message.to_owned()), now);
        } else if self.pending == Some(generation) {
            self.abort_reload(message, now);
        } else {
            let delay = self.back_off(id, now);
            log::error!("{message}; retrying in {}", seconds(delay));
        }
    }

    /// Records a failure to boot in slot `id`; returns the wait before its next start, which
    /// doubles with every failure in a row.
    fn back_off(&mut self, id: usize, now: Instant) -> Duration {
        let slot = self.slot(id);
        let delay = slot.delay;
        slot.delay = (delay * 2).min(BACKOFF_MAX);
        slot.not_before = Some(now + delay);
        delay
    }

    /// Sends `signal` to the worker at `index` and expects it gone by `deadline`.
    fn stop(&mut self, index: usize, signal: libc::c_int, deadline: Instant) {
        let worker = &mut self.workers[index];
        if let Err(e) = process::kill(worker.pid, signal) {
            log::warn!("cannot send {} to {}: {e}", signal_name(signal), worker.name());
        }
        let deadline = match worker.fate {
            Fate::Stopping { deadline: earlier } => earlier.min(deadline),
            _ => deadline,
        };
        worker.fate = Fate::Stopping { deadline };
    }

    /// SIGKILLs the worker at `index`.
    fn kill(&mut self, index: usize, now: Instant) {
        let worker = &mut self.workers[index];
        if let Err(e) = process::kill(worker.pid, SIGKILL) {
            log::warn!("cannot send SIGKILL to {}: {e}", worker.name());
        }
        worker.fate = Fate::Killed { since: now };
    }

    /// Reads what the worker with `token` wrote and acts on it.
    fn read_control(&mut self, token: Token, now: Instant) {
        let Some(index) = self.workers.iter().position(|w| w.token == token) else {
            return;
        };
        let (messages, more) = self.take_messages(index);
        if more {
            self.unread.push(token);
        }
        for message in messages {
            self.on_message(index, message, now);
        }
    }

    /// Drains the control pipe of the worker at `index` (up to [`READ_BUDGET`] bytes); returns
    /// its messages and whether bytes were left. Closes the pipe at end-of-file.
    fn take_messages(&mut self, index: usize) -> (Vec<Message>, bool) {
        let worker = &mut self.workers[index];
        let mut messages = Vec::new();
        let Some(control) = worker.control.as_mut() else {
            return (messages, false);
        };
        let mut buf = [0u8; 4096];
        let mut budget = READ_BUDGET;
        let mut closed = false;
        while budget > 0 {
            match control.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    messages.extend(worker.inbox.feed(&buf[..n]));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!("cannot read the control pipe of {}: {e}", worker.name());
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            if let Some(mut control) = worker.control.take() {
                let _ = self.poll.registry().deregister(&mut control);
            }
        }
        (messages, budget == 0 && !closed)
    }

    fn on_message(&mut self, index: usize, message: Message, now: Instant) {
        let worker = &mut self.workers[index];
        worker.last_beat = now;
        match message {
            Message::Ready => {
                if worker.ready_at.is_none() && !worker.boot_expired {
                    worker.ready_at = Some(now);
                    log::info!("{} ready", worker.name());
                    let id = worker.id;
                    // The slot boots again: its next failure to boot starts the back-off afresh.
                    *self.slot(id) = Slot::default();
                }
            }
            Message::Heartbeat => {}
            Message::Retire(reason) => {
                let reason = if reason.is_empty() {
                    "asked to be replaced".to_owned()
                } else {
                    reason
                };
                if worker.fate == Fate::Serving && worker.retire_reason.is_none() {
                    log::info!("{} asks to be replaced: {reason}", worker.name());
                    worker.retire_reason = Some(reason);
                }
            }
            Message::Unknown(text) => {
                if !worker.warned_unknown {
                    worker.warned_unknown = true;
                    log::warn!(
                        "{} sent an unknown message on its control pipe: {text:?}",
                        worker.name()
                    );
                }
            }
        }
    }

    /// Collects every worker that has exited and acts on each exit.
    fn reap(&mut self, now: Instant) {
        let mut index = 0;
        while index < self.workers.len() {
            let exit = match self.workers[index].child.try_wait() {
                Ok(None) => {
                    index += 1;
                    continue;
                }
                Ok(Some(status)) => describe_exit(status),
                Err(e) => Exit {
                    clean: false,
                    text: format!("could not be waited for ({e})"),
                    hint: None,
                },
            };
            // Messages written just before the exit (a last "ready") still count.
            let (messages, _) = self.take_messages(index);
            for message in messages {
                self.on_message(index, message, now);
            }
            let mut worker = self.workers.remove(index);
            if let Some(mut control) = worker.control.take() {
                let _ = self.poll.registry().deregister(&mut control);
            }
            if worker.is_active() && matches!(self.phase, Phase::Running) {
                // A worker that exits unasked may have been stopped by a signal sent to the whole
                // process group (Ctrl+C): a clean exit once it serves, death by the signal while
                // it boots. That signal reached this process before the exit could be seen
                // here: act on it first, so the exit is part of a stop, not a failure.
                self.on_signals(now);
            }
            self.on_exit(worker, &exit, now);
        }
    }

    fn on_exit(&mut self, worker: Worker, exit: &Exit, now: Instant) {
        let name = worker.name();
        match worker.fate {
            Fate::Stopping { .. } if exit.clean => log::info!("{name} stopped"),
            Fate::Stopping { .. } | Fate::Killed { .. } => log::info!("{name} stopped: {}", exit.text),
            Fate::Serving | Fate::Retiring if exit.clean && matches!(self.phase, Phase::Stopping { .. }) => {
                log::info!("{name} stopped");
            }
            Fate::Serving | Fate::Retiring if worker.boot_expired => {
                let what = format!(
                    "{name} was not ready after --boot-timeout {}s; killed",
                    self.boot_timeout.map_or(0, |t| t.as_secs())
                );
                self.on_unexpected_exit(&worker, &what, now);
            }
            Fate::Serving | Fate::Retiring => {
                let what = match (exit.clean, worker.is_ready()) {
                    (true, true) => format!("{} without being asked to stop", exit.text),
                    (true, false) => format!("{} before it was ready, without being asked to stop", exit.text),
                    (false, true) => exit.text.clone(),
                    (false, false) => format!("{} before it was ready", exit.text),
                };
                self.on_unexpected_exit(&worker, &format!("{name} {what}"), now);
            }
        }
    }

    fn on_unexpected_exit(&mut self, worker: &Worker, what: &str, now: Instant) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            log::info!("{what}");
        } else if self.pending == Some(worker.generation) {
            self.abort_reload(what, now);
        } else if !self.announced && !worker.is_ready() {
            log::error!("{what}");
            self.begin_stop(true, Err("worker failed to boot (see above)".to_owned()), now);
        } else if worker.fate == Fate::Retiring {
            log::error!("{what} while being replaced");
        } else if worker.generation != self.committed || worker.id > self.target {
            log::error!("{what}");
        } else if worker.is_ready() {
            // It served: whatever killed it (one request, most likely), a new worker boots at
            // once, so one bad request costs one worker start, not a growing outage.
            log::error!("{what}; restarting it now");
        } else {
            let delay = self.back_off(worker.id, now);
            log::error!("{what}; restarting in {}", seconds(delay));
        }
    }

    // ---- signals and their actions ----

    fn on_signals(&mut self, now: Instant) {
        let received: Vec<libc::c_int> = self.signals.pending().collect();
        let got = |signal| received.contains(&signal);
        let stopping = matches!(self.phase, Phase::Stopping { .. });
        if got(SIGQUIT) {
            log::info!("received SIGQUIT: stopping now");
            self.begin_stop(false, Ok(()), now);
        } else if got(SIGTERM) || got(SIGINT) {
            let name = if got(SIGTERM) { "SIGTERM" } else { "SIGINT" };
            if stopping {
                log::info!("received {name}: already stopping");
            } else {
                log::info!("received {name}: stopping gracefully");
                self.begin_stop(true, Ok(()), now);
            }
        }
        if got(SIGUSR1) {
            let live: Vec<usize> = (0..self.workers.len())
                .filter(|&i| !matches!(self.workers[i].fate, Fate::Killed { .. }))
                .collect();
            log::info!("received SIGUSR1: asking {} worker(s) to reopen their logs", live.len());
            for index in live {
                let worker = &self.workers[index];
                if let Err(e) = process::kill(worker.pid, SIGUSR1) {
                    log::warn!("cannot send SIGUSR1 to {}: {e}", worker.name());
                }
            }
        }
        if matches!(self.phase, Phase::Stopping { .. }) {
            for (signal, name) in [(SIGHUP, "SIGHUP"), (SIGTTIN, "SIGTTIN"), (SIGTTOU, "SIGTTOU")] {
                if got(signal) {
                    log::info!("received {name}: ignored while stopping");
                }
            }
            return;
        }
        if got(SIGHUP) {
            self.reload("received SIGHUP", now);
        }
        if got(SIGTTIN) {
            self.target += 1;
            log::info!("received SIGTTIN: raising the worker count to {}", self.target);
        }
        if got(SIGTTOU) {
            if self.target > 1 {
                self.target -= 1;
                log::info!("received SIGTTOU: lowering the worker count to {}", self.target);
            } else {
                log::info!("received SIGTTOU: the worker count stays at 1");
            }
        }
    }

    /// Starts a new generation of workers (SIGHUP, or a change seen by `--reload`, as `cause`
    /// says); they are spawned by [`Self::spawn_missing`] and the old ones stopped by
    /// [`Self::commit_generation`].
    fn reload(&mut self, cause: &str, now: Instant) {
        if !self.announced {
            log::warn!("{cause}: ignored, the first workers are still starting");
            return;
        }
        if let Some(abandoned) = self.pending.take() {
            log::warn!("{cause} while generation {abandoned} was starting: abandoning it for a new one");
            self.stop_generation(abandoned, now);
        }
        self.last_generation += 1;
        let generation = self.last_generation;
        self.pending = Some(generation);
        log::info!(
            "{cause}: reloading: generation {generation} ({} worker(s)) will replace generation {}",
            self.target,
            self.committed
        );
        sd_notify::reloading();
    }

    /// A worker of the reloading generation failed: the serving generation stays.
    fn abort_reload(&mut self, reason: &str, now: Instant) {
        let Some(generation) = self.pending.take() else {
            return;
        };
        log::error!(
            "reload failed: {reason}; stopping generation {generation}, generation {} keeps serving",
            self.committed
        );
        self.stop_generation(generation, now);
        sd_notify::status(&format!(
            "reload failed; generation {} keeps serving: {reason}",
            self.committed
        ));
        sd_notify::ready();
    }

    fn stop_generation(&mut self, generation: u64, now: Instant) {
        for index in 0..self.workers.len() {
            if self.workers[index].generation == generation && self.workers[index].is_active() {
                self.stop(index, SIGTERM, now + self.graceful_timeout + STOP_MARGIN);
            }
        }
    }

    /// Stops every worker: gracefully (SIGTERM, then SIGKILL after `--graceful-timeout`) or
    /// quickly (SIGQUIT, then SIGKILL after [`QUIT_GRACE`]). A quick stop may follow a graceful
    /// one; the first outcome stays.
    fn begin_stop(&mut self, graceful: bool, outcome: Result<(), String>, now: Instant) {
        let outcome = match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Stopping { outcome: earlier } => {
                if graceful {
                    self.phase = Phase::Stopping { outcome: earlier };
                    return;
                }
                earlier
            }
            Phase::Running => {
                sd_notify::stopping();
                outcome
            }
        };
        self.phase = Phase::Stopping { outcome };
        self.pending = None;
        let (signal, deadline) = if graceful {
            (SIGTERM, now + self.graceful_timeout + STOP_MARGIN)
        } else {
            (SIGQUIT, now + QUIT_GRACE)
        };
        let targets: Vec<usize> = (0..self.workers.len())
            .filter(|&i| !matches!(self.workers[i].fate, Fate::Killed { .. }))
            .collect();
        if !targets.is_empty() {
            log::info!(
                "sending {} to {} worker(s); killing those still running after {}",
                signal_name(signal),
                targets.len(),
                seconds(deadline.saturating_duration_since(now))
            );
        }
        for index in targets {
            self.stop(index, signal, deadline);
        }
    }

    /// The loop itself failed: make sure no worker outlives the supervisor.
    fn abandon_workers(&mut self) {
        for worker in &mut self.workers {
            let _ = process::kill(worker.pid, SIGKILL);
            let _ = worker.child.wait();
        }
        self.workers.clear();
    }
}

/// The `--reload` watch over the app files of `cli`'s mounts, from the files as they are now.
fn start_watch(cli: &Cli) -> Result<ReloadWatch, String> {
    let watch = ReloadWatch::of_mounts(&cli.mounts()?, Instant::now());
    let paths: Vec<String> = watch.paths().map(|path| path.display().to_string()).collect();
    if paths.is_empty() {
        log::warn!("--reload: no app library or app config file to watch (the built-in welcome app serves /)");
    } else {
        log::info!("--reload: watching {} for changes", paths.join(", "));
    }
    Ok(watch)
}

/// `0.1s`, `2s`: a duration for the log.
fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{}s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(Duration::from_millis(100)), "0.1s");
        assert_eq!(seconds(Duration::from_millis(1600)), "1.6s");
        assert_eq!(seconds(Duration::from_secs(10)), "10s");
    }
}
