//! The event loop of one worker: one mio `Poll` over the listeners, the connections, the stop
//! signals and the app pool's completions.
//!
//! Owns accepting (pausing while the pool is backed up, so other workers take the load),
//! dispatching readiness events to connections, timeouts (a sweep once a second, which also
//! sends the supervisor its heartbeat), `--max-requests` (a hard limit: at it the worker stops
//! accepting and drains) and `--timeout` retirement requests,
//! and stopping: on SIGINT or SIGTERM it stops accepting, lets in-flight requests finish (their
//! responses say `Connection: close`), gives idle keep-alive connections a short grace, and
//! returns when the last connection is gone or the graceful timeout has passed; on SIGQUIT it
//! returns at once.

use crate::serve::conn::{Conn, Shared};
use crate::serve::listen::{Listener, Protocol};
use crate::serve::pool::{Done, Pool};
use crate::serve::respond::{Apps, Responder};
use crate::serve::stream::Stream;
use crate::settings::serving::ServerOptions;
use crate::site::environ::Endpoints;
use crate::site::proxy::TrustedProxies;
use mio::net::{TcpListener, UnixListener};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Token of the signal source.
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Token of the pool's completion waker.
const WAKER_TOKEN: Token = Token(usize::MAX - 2);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 3;
/// Most listeners.
const MAX_LISTENERS: usize = 1024;
/// How often timeouts are checked (and the supervisor hears a heartbeat).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Size of the shared read buffer.
const SCRATCH_BYTES: usize = 64 * 1024;
/// Readiness events taken per poll.
const EVENTS_PER_POLL: usize = 1024;
/// Accepting pauses while more than this many requests per pool thread wait for a thread.
const BACKLOG_PER_THREAD: usize = 8;
/// Most connections one worker accepts from a listener before it serves its other events and
/// comes back for more. Every worker is woken when connections arrive; a worker that took the
/// whole queue (a burst of 200 clients at once) would serve most of them alone while the others
/// idle, and their latency would show it. Taking a few at a time lets the workers share the
/// burst, and still amortises the loop over several connections.
const ACCEPT_BATCH: usize = 8;
/// How long Linux holds a connection to a uwsgi listener that has sent nothing before handing it
/// over anyway (`TCP_DEFER_ACCEPT`); a front sends its packet at once, so it never waits.
const UWSGI_DEFER_SECONDS: u32 = 5;

/// What a supervised server tells its supervisor. The worker's end of the supervisor link
/// (`crate::process::worker_link::WorkerLink`) implements it, so the event loop knows nothing
/// of how workers are started. None of these may block.
pub trait SupervisorLink {
    /// The apps are initialised and the server is accepting.
    fn ready(&mut self);
    /// The event loop is alive (about once a second).
    fn heartbeat(&mut self);
    /// Asks to be replaced (`--max-requests` reached, a request past `--timeout`).
    fn retire(&mut self, reason: &str);
}

/// How the event loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Gracefully: every connection finished (or the graceful timeout passed).
    Graceful,
    /// At once (SIGQUIT): the process should exit without waiting for anything.
    Immediately,
}

/// A listening socket registered with the loop.
enum LoopListener {
    Tcp(TcpListener, TcpAccept, Protocol),
    /// A unix socket and its path (shared by every connection's environ).
    Unix(UnixListener, Arc<Path>, Protocol),
}

/// What a TCP listener lets accepting skip. Each saves a system call per connection, which is
/// a tenth of the calls a `Connection: close` request costs.
#[derive(Clone, Copy, Debug)]
struct TcpAccept {
    /// The listener's own address when it is bound to one address (not `0.0.0.0` / `::`): every
    /// connection's local end, known without `getsockname`.
    local: Option<SocketAddr>,
    /// `TCP_NODELAY` is set on the listener and Linux copies it to accepted sockets.
    nodelay_inherited: bool,
}

impl TcpAccept {
    fn of(listener: &std::net::TcpListener) -> TcpAccept {
        let local = listener.local_addr().ok().filter(|addr| !addr.ip().is_unspecified());
        let nodelay_inherited =
            cfg!(target_os = "linux") && socket2::SockRef::from(listener).set_tcp_nodelay(true).is_ok();
        TcpAccept {
            local,
            nodelay_inherited,
        }
    }
}

impl LoopListener {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            LoopListener::Tcp(l, _, _) => l,
            LoopListener::Unix(l, _, _) => l,
        }
    }

    fn protocol(&self) -> Protocol {
        match self {
            LoopListener::Tcp(_, _, protocol) | LoopListener::Unix(_, _, protocol) => *protocol,
        }
    }

    /// Accepts one connection: the stream and who is on the other end.
    fn accept(&self) -> io::Result<(Stream, Endpoints)> {
        match self {
            LoopListener::Tcp(listener, known, _) => {
                let (stream, peer) = listener.accept()?;
                let local = match known.local {
                    Some(local) => local,
                    None => stream.local_addr().unwrap_or(peer),
                };
                if !known.nodelay_inherited {
                    let _ = stream.set_nodelay(true);
                }
                Ok((Stream::Tcp(stream), Endpoints::tcp(peer, local)))
            }
            LoopListener::Unix(listener, path, _) => {
                let (stream, _) = listener.accept()?;
                Ok((Stream::Unix(stream), Endpoints::unix(Arc::clone(path))))
            }
        }
    }
}

/// A worker's event loop.
pub struct Server {
    poll: Poll,
    listeners: Vec<LoopListener>,
    signals: Signals,
    /// Connections by token index.
    conns: Slab<Conn>,
    next_conn_id: u64,
    responder: Responder,
    pool: Option<Pool>,
    scratch: Vec<u8>,
    out: Vec<u8>,
    options: ServerOptions,
    link: Option<Box<dyn SupervisorLink>>,
    served: u64,
    retire_requested: bool,
    /// `--max-requests` is spent: no more connections are taken, open ones are drained.
    at_request_limit: bool,
    /// Pooled requests abandoned past `--timeout` (their threads are stuck in the app).
    abandoned: usize,
    draining_since: Option<Instant>,
    /// A listener may still have connections queued: the last accept stopped at
    /// [`ACCEPT_BATCH`], not at `EAGAIN` (and no new event comes for them, the socket being
    /// edge-triggered). The loop polls without waiting and accepts again.
    accept_pending: bool,
    /// Connections whose parked response can go on without waiting for an event (its client
    /// takes everything it is sent; it had its share of the last turn): each gets a turn after
    /// the next poll, which then does not wait.
    turns: Vec<usize>,
    /// The list of turns being given (kept to reuse its buffer).
    giving: Vec<usize>,
    quit: bool,
    accepting: bool,
    /// The last accept failed for want of resources (EMFILE...): logged once until one succeeds.
    accept_failing: bool,
    /// The peers a uwsgi listener serves (`--uwsgi-allow-ips`).
    uwsgi_allow: TrustedProxies,
}

/// May `peer` send uwsgi packets? A unix-socket peer always may (the socket file's permissions
/// decide who connects); a TCP peer when `allowed` lists its address.
fn uwsgi_peer_allowed(allowed: &TrustedProxies, peer: &Endpoints) -> bool {
    peer.peer.is_none_or(|addr| allowed.trusts(addr.ip()))
}

impl Server {
    /// A server over already-bound listeners, answering with `apps`; `link` is the supervisor
    /// link of a supervised worker.
    pub fn new(
        listeners: Vec<Listener>,
        apps: Arc<Apps>,
        options: ServerOptions,
        link: Option<Box<dyn SupervisorLink>>,
    ) -> io::Result<Server> {
        if listeners.len() > MAX_LISTENERS {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many listeners"));
        }
        let poll = Poll::new()?;
        let mut loop_listeners = Vec::with_capacity(listeners.len());
        for (index, listener) in listeners.into_iter().enumerate() {
            let mut listener = match listener {
                Listener::Tcp(l, protocol) => {
                    l.set_nonblocking(true)?;
                    if protocol == Protocol::Uwsgi {
                        // A front sends its packet as soon as it connects: accept it then, so
                        // that the accept finds the request (see `accept`).
                        if let Err(e) =
                            crate::os::socket::defer_accept(std::os::fd::AsFd::as_fd(&l), UWSGI_DEFER_SECONDS)
                        {
                            log::debug!("TCP_DEFER_ACCEPT on a uwsgi listener: {e}");
                        }
                    }
                    let known = TcpAccept::of(&l);
                    LoopListener::Tcp(TcpListener::from_std(l), known, protocol)
                }
                Listener::Unix {
                    listener,
                    path,
                    protocol,
                } => {
                    listener.set_nonblocking(true)?;
                    LoopListener::Unix(UnixListener::from_std(listener), Arc::from(path.as_path()), protocol)
                }
            };
            poll.registry()
                .register(listener.source(), Token(LISTENER_BASE - index), Interest::READABLE)?;
            loop_listeners.push(listener);
        }
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        let pool = if options.threads > 0 {
            let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
            Some(Pool::start(options.threads, &apps, waker)?)
        } else {
            None
        };
        Ok(Server {
            poll,
            listeners: loop_listeners,
            signals,
            conns: Slab::new(),
            next_conn_id: 0,
            responder: Responder::new(apps),
            pool,
            scratch: vec![0; SCRATCH_BYTES],
            out: Vec::with_capacity(SCRATCH_BYTES),
            options,
            link,
            served: 0,
            retire_requested: false,
            at_request_limit: false,
            abandoned: 0,
            draining_since: None,
            accept_pending: false,
            turns: Vec::new(),
            giving: Vec::new(),
            quit: false,
            accepting: true,
            accept_failing: false,
            uwsgi_allow: TrustedProxies::loopback(),
        })
    }

    /// Serves uwsgi listeners only to the peers in `allowed` (and unix-socket peers); by default
    /// loopback (`127.0.0.1,::1`).
    pub fn with_uwsgi_allow(mut self, allowed: TrustedProxies) -> Server {
        self.uwsgi_allow = allowed;
        self
    }

    /// Tells the supervisor (if any) that this worker serves.
    pub(crate) fn ready(&mut self) {
        if let Some(link) = &mut self.link {
            link.ready();
        }
    }

    /// Serves until a stop signal; returns how it stopped and the apps (to shut them down).
    pub fn run(mut self) -> io::Result<(Stopped, Arc<Apps>)> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
        loop {
            let wait = if self.accept_pending || !self.turns.is_empty() {
                Duration::ZERO
            } else {
                next_sweep.saturating_duration_since(Instant::now())
            };
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => self.on_signal(),
                    WAKER_TOKEN => self.on_completions(),
                    Token(t) if t > LISTENER_BASE - MAX_LISTENERS && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t)
                    }
                    Token(index) => self.on_conn_event(index, event),
                }
                // After each event, not each batch: one batch can serve a request on every
                // connection, and the limit counts one more request per open connection only
                // from the moment they are drained.
                self.check_max_requests();
            }
            if std::mem::take(&mut self.accept_pending) && self.accepting {
                self.accept_all();
            }
            if !self.turns.is_empty() {
                self.give_turns();
            }
            if self.quit {
                log::info!("stopping at once (SIGQUIT)");
                self.responder.apps().flush_access_log();
                return Ok((Stopped::Immediately, Arc::clone(self.responder.apps())));
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_INTERVAL;
            }
            if let Some(since) = self.draining_since {
                if self.conns.is_empty() {
                    log::info!("all connections closed; stopping");
                    break;
                }
                if now.duration_since(since) >= self.options.graceful_timeout {
                    log::warn!(
                        "graceful timeout reached with {} connection(s) open; stopping",
                        self.conns.len()
                    );
                    break;
                }
            }
        }
        let apps = Arc::clone(self.responder.apps());
        apps.flush_access_log();
        if let Some(pool) = self.pool.take() {
            pool.stop(self.abandoned);
        }
        Ok((Stopped::Graceful, apps))
    }

    fn on_signal(&mut self) {
        let received: Vec<i32> = self.signals.pending().collect();
        for signal in received {
            match signal {
                SIGQUIT => self.quit = true,
                SIGUSR1 => {
                    log::info!("reopening the access log");
                    self.responder.apps().reopen_access_log();
                }
                SIGHUP if self.link.is_none() => {
                    log::warn!("SIGHUP ignored: graceful reload needs the supervisor (run with --workers 1 or more)")
                }
                SIGHUP => log::debug!("SIGHUP is the supervisor's; ignored by the worker"),
                _ => self.start_drain(),
            }
        }
    }

    fn start_drain(&mut self) {
        if self.draining_since.is_some() {
            return;
        }
        log::info!(
            "received stop signal; finishing {} open connection(s)",
            self.conns.len()
        );
        self.draining_since = Some(Instant::now());
        for listener in &mut self.listeners {
            let _ = self.poll.registry().deregister(listener.source());
        }
        self.listeners.clear();
        self.accepting = false;
        if let Some(pool) = self.pool.as_ref() {
            pool.drain();
        }
        for index in 0..self.conns.capacity() {
            if let Some(conn) = self.conns.get_mut(index) {
                conn.on_drain();
            }
            self.settle(index);
        }
    }

    /// `--max-requests` is a hard limit: once the requests served plus those the open
    /// connections may still bring reach it, the worker takes no more connections, answers each
    /// open one's next request with `Connection: close` (the drain), and asks to be replaced.
    /// Checked after every connection event and every pool completion, so the count moves by one
    /// request at a time between checks (unless a client pipelines several).
    fn check_max_requests(&mut self) {
        let Some(limit) = self.request_limit() else {
            return;
        };
        if self.at_request_limit || self.committed_requests(0, limit) < limit {
            return;
        }
        self.at_request_limit = true;
        log::info!(
            "served {} requests, {} connection(s) open: --max-requests reached; taking no more \
             connections and asking to be replaced",
            self.served,
            self.conns.len()
        );
        for listener in &mut self.listeners {
            let _ = self.poll.registry().deregister(listener.source());
        }
        self.accepting = false;
        for index in 0..self.conns.capacity() {
            if let Some(conn) = self.conns.get_mut(index) {
                conn.on_drain();
            }
            self.settle(index);
        }
        if let Some(link) = self.link.as_mut()
            && !self.retire_requested
        {
            link.retire("max-requests");
            self.retire_requested = true;
        }
    }

    /// `--max-requests` (with its jitter), for a supervised worker.
    fn request_limit(&self) -> Option<u64> {
        self.options.max_requests.filter(|_| self.link.is_some())
    }

    /// The requests served, plus those the open connections (and `more` new ones) may still
    /// bring: one each once drained, and one more for each whose request is with the app pool
    /// (counted as served only when it comes back). Below `limit`, an upper bound will do.
    fn committed_requests(&self, more: usize, limit: u64) -> u64 {
        let open = (self.conns.len() + more) as u64;
        let bound = self.served + 2 * open;
        if bound < limit {
            return bound;
        }
        let with_app = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.has_request_in_flight())
            .count() as u64;
        self.served + open + with_app
    }

    fn backed_up(&self) -> bool {
        self.pool
            .as_ref()
            .is_some_and(|pool| pool.backlog() > self.options.threads * BACKLOG_PER_THREAD)
    }

    fn accept(&mut self, listener_index: usize) {
        let mut accepted = 0;
        while self.accepting
            && self.conns.len() < self.options.max_connections
            && !self.backed_up()
            && self
                .request_limit()
                .is_none_or(|limit| self.committed_requests(1, limit) <= limit)
        {
            if accepted == ACCEPT_BATCH {
                self.accept_pending = true;
                return;
            }
            let Some(listener) = self.listeners.get(listener_index) else {
                return;
            };
            let protocol = listener.protocol();
            match listener.accept() {
                Ok((_, info)) if protocol == Protocol::Uwsgi && !uwsgi_peer_allowed(&self.uwsgi_allow, &info) => {
                    // Dropping the stream closes it: nothing is read, nothing served.
                    log::warn!("{info}: uwsgi connection refused: the peer is not in --uwsgi-allow-ips");
                }
                Ok((stream, info)) => {
                    accepted += 1;
                    self.next_conn_id += 1;
                    let conn = Conn::new(
                        stream,
                        info,
                        protocol,
                        self.next_conn_id,
                        self.conns.vacant_key(),
                        &self.options.timeouts,
                    );
                    let index = self.conns.insert(conn);
                    if self.accept_failing {
                        self.accept_failing = false;
                        log::info!("accepting connections again");
                    }
                    // Read before registering: the client usually sent its request right after
                    // connecting, so it is often answered (and, with `Connection: close`, closed)
                    // here, without the connection ever entering epoll. `settle` registers it
                    // when it is still open; epoll reports readiness present at registration,
                    // so nothing that arrives in between is missed.
                    let (mut shared, conns) = self.parts();
                    if let Some(conn) = conns.get_mut(index) {
                        conn.on_readable(&mut shared, false);
                    }
                    self.settle(index);
                    self.check_max_requests();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE and friends: keep serving what we have; the sweep (or the next
                    // connection) retries. Logged once until an accept succeeds again: every
                    // client arriving meanwhile fails the same way.
                    if self.accept_failing {
                        log::debug!("accept failed: {e}");
                    } else {
                        self.accept_failing = true;
                        log::warn!(
                            "accept failed: {e}; new connections wait in the listen queue until \
                             one closes (not logged again until accepting works)"
                        );
                    }
                    return;
                }
            }
        }
    }

    fn accept_all(&mut self) {
        for index in 0..self.listeners.len() {
            self.accept(index);
        }
    }

    fn on_completions(&mut self) {
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let mut done = pool.collect();
        for item in &mut done {
            let index = match item {
                Done::Finished(job) => job.conn,
                Done::Partial { conn, .. } => *conn,
            };
            let (mut shared, conns) = self.parts();
            let conn = conns.get_mut(index);
            match (item, conn) {
                (Done::Finished(job), Some(conn)) if conn.id() == job.conn_id => {
                    conn.on_job_done(
                        &job.out,
                        job.file.take().map(|file| *file),
                        job.served.after,
                        &mut shared,
                    );
                    if shared.draining {
                        conn.on_drain();
                    }
                }
                (Done::Partial { conn_id, flow, .. }, Some(conn)) if conn.id() == *conn_id => {
                    conn.on_partial(Arc::clone(flow), &mut shared);
                }
                (Done::Partial { flow, .. }, _) => flow.finish(false),
                (Done::Finished(_), _) => {}
            }
            self.settle(index);
            self.check_max_requests();
        }
        if let Some(pool) = self.pool.as_mut() {
            pool.recycle(done);
        }
        if self.accepting && !self.backed_up() {
            self.accept_all();
        }
    }

    fn on_conn_event(&mut self, index: usize, event: &mio::event::Event) {
        let (mut shared, conns) = self.parts();
        let Some(conn) = conns.get_mut(index) else {
            return;
        };
        if event.is_writable() {
            conn.on_writable(&mut shared);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            // After the client's FIN (or an error) no further event comes: read to the end.
            conn.on_readable(&mut shared, event.is_read_closed() || event.is_error());
        }
        if shared.draining {
            conn.on_drain();
        }
        self.settle(index);
        self.check_max_requests();
    }

    /// Gives each connection in `turns` its turn (see [`Conn::on_turn`]).
    fn give_turns(&mut self) {
        std::mem::swap(&mut self.turns, &mut self.giving);
        let mut giving = std::mem::take(&mut self.giving);
        giving.sort_unstable();
        giving.dedup();
        for &index in &giving {
            let (mut shared, conns) = self.parts();
            if let Some(conn) = conns.get_mut(index)
                && conn.wants_turn()
            {
                conn.on_turn(&mut shared);
                if shared.draining {
                    conn.on_drain();
                }
            }
            self.settle(index);
            self.check_max_requests();
        }
        giving.clear();
        self.giving = giving;
    }

    /// Removes a finished connection, or sets its interest to what it waits for (and a turn,
    /// when its parked response can go on at once).
    fn settle(&mut self, index: usize) {
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        if conn.wants_turn() {
            self.turns.push(index);
        }
        if conn.is_done() {
            // No deregistering: closing the socket (its only descriptor) removes it from epoll,
            // and an explicit EPOLL_CTL_DEL would be one more system call per connection.
            self.conns.try_remove(index);
            return;
        }
        let interest = if conn.wants_write() {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let registry = self.poll.registry();
        let result = match conn.interest() {
            Some(current) if current == interest => return,
            Some(_) => registry.reregister(conn.stream_mut(), Token(index), interest),
            None => registry.register(conn.stream_mut(), Token(index), interest),
        };
        match result {
            Ok(()) => conn.set_interest(interest),
            Err(e) => {
                log::warn!("{}: cannot register the connection: {e}", conn.info());
                if let Some(mut conn) = self.conns.try_remove(index) {
                    let _ = self.poll.registry().deregister(conn.stream_mut());
                }
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        if let Some(link) = &mut self.link {
            link.heartbeat();
        }
        self.responder.apps().flush_access_log();
        for index in 0..self.conns.capacity() {
            let (mut shared, conns) = self.parts();
            let Some(conn) = conns.get_mut(index) else {
                continue;
            };
            if conn.deadline() <= now {
                if conn.on_timeout(&mut shared) {
                    self.abandoned += 1;
                    self.retire_for_timeout();
                }
                self.settle(index);
            }
        }
        if self.accepting && self.conns.len() < self.options.max_connections {
            self.accept_all();
        }
    }

    /// Borrows what a connection event needs, separately from the slab of connections.
    fn parts(&mut self) -> (Shared<'_>, &mut Slab<Conn>) {
        (
            Shared {
                responder: &mut self.responder,
                pool: self.pool.as_mut(),
                spill: &self.options.spill,
                app_timeout: self.options.app_timeout,
                served: &mut self.served,
                scratch: &mut self.scratch,
                out: &mut self.out,
                limits: &self.options.limits,
                timeouts: &self.options.timeouts,
                draining: self.draining_since.is_some() || self.at_request_limit,
            },
            &mut self.conns,
        )
    }

    fn retire_for_timeout(&mut self) {
        match self.link.as_mut() {
            Some(link) if !self.retire_requested => {
                link.retire("timeout");
                self.retire_requested = true;
            }
            Some(_) => {}
            None => log::error!(
                "an app thread is stuck past --timeout; {} of {} threads are lost until restart",
                self.abandoned,
                self.options.threads
            ),
        }
    }
}
