//! The event loop: one mio `Poll` over the listeners, the connections and the stop signals.
//!
//! Owns accepting, dispatching readiness events to connections, timeouts (a sweep once a
//! second), and the graceful stop: on SIGINT or SIGTERM it stops accepting, closes idle
//! connections, lets in-flight requests finish (their responses say `Connection: close`), and
//! returns when the last connection is gone or the graceful timeout has passed.

use crate::conn::{Conn, Shared, Timeouts};
use crate::environ::ConnInfo;
use crate::http::Limits;
use crate::respond::Responder;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use std::io;
use std::time::{Duration, Instant};

/// Token of the signal source.
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 2;
/// Most listeners.
const MAX_LISTENERS: usize = 1024;
/// How often timeouts are checked.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// Size of the shared read buffer.
const SCRATCH_BYTES: usize = 64 * 1024;
/// Readiness events taken per poll.
const EVENTS_PER_POLL: usize = 1024;

/// Settings of the event loop.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Request limits.
    pub limits: Limits,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// Longest time a graceful stop waits for in-flight requests.
    pub graceful_timeout: Duration,
    /// Most simultaneous connections; beyond it, accepting pauses.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            graceful_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

/// Connections by token index.
struct Slab {
    entries: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
}

impl Slab {
    fn insert(&mut self, conn: Conn) -> usize {
        self.live += 1;
        match self.free.pop() {
            Some(index) => {
                self.entries[index] = Some(conn);
                index
            }
            None => {
                self.entries.push(Some(conn));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, index: usize) -> Option<Conn> {
        let conn = self.entries.get_mut(index)?.take()?;
        self.live -= 1;
        self.free.push(index);
        Some(conn)
    }
}

/// The gateway's event loop.
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    signals: Signals,
    conns: Slab,
    responder: Responder,
    scratch: Vec<u8>,
    out: Vec<u8>,
    options: ServerOptions,
    draining_since: Option<Instant>,
    accepting: bool,
}

impl Server {
    /// A server over already-bound listeners.
    pub fn new(
        listeners: Vec<std::net::TcpListener>,
        responder: Responder,
        options: ServerOptions,
    ) -> io::Result<Server> {
        if listeners.len() > MAX_LISTENERS {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "too many listeners"));
        }
        let poll = Poll::new()?;
        let mut mio_listeners = Vec::with_capacity(listeners.len());
        for (index, listener) in listeners.into_iter().enumerate() {
            listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(listener);
            poll.registry()
                .register(&mut listener, Token(LISTENER_BASE - index), Interest::READABLE)?;
            mio_listeners.push(listener);
        }
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        Ok(Server {
            poll,
            listeners: mio_listeners,
            signals,
            conns: Slab {
                entries: Vec::new(),
                free: Vec::new(),
                live: 0,
            },
            responder,
            scratch: vec![0; SCRATCH_BYTES],
            out: Vec::with_capacity(SCRATCH_BYTES),
            options,
            draining_since: None,
            accepting: true,
        })
    }

    /// Serves until a stop signal, then drains; returns the responder (to shut the app down).
    pub fn run(mut self) -> io::Result<Responder> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
        loop {
            let wait = next_sweep.saturating_duration_since(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    SIGNAL_TOKEN => self.on_signal(),
                    Token(t) if t > LISTENER_BASE - MAX_LISTENERS && t <= LISTENER_BASE => {
                        self.accept(LISTENER_BASE - t)
                    }
                    Token(index) => self.on_conn_event(index, event.is_readable(), event.is_writable()),
                }
            }
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_INTERVAL;
            }
            if let Some(since) = self.draining_since {
                if self.conns.live == 0 {
                    log::info!("all connections closed; stopping");
                    break;
                }
                if now.duration_since(since) >= self.options.graceful_timeout {
                    log::warn!(
                        "graceful timeout reached with {} connection(s) open; stopping",
                        self.conns.live
                    );
                    break;
                }
            }
        }
        Ok(self.responder)
    }

    fn on_signal(&mut self) {
        let received: Vec<i32> = self.signals.pending().collect();
        if received.is_empty() || self.draining_since.is_some() {
            return;
        }
        log::info!("received stop signal; finishing {} open connection(s)", self.conns.live);
        self.draining_since = Some(Instant::now());
        for listener in &mut self.listeners {
            let _ = self.poll.registry().deregister(listener);
        }
        self.listeners.clear();
        self.accepting = false;
        for index in 0..self.conns.entries.len() {
            if let Some(conn) = self.conns.entries[index].as_mut() {
                conn.on_drain();
            }
            self.settle(index);
        }
    }

    fn accept(&mut self, listener_index: usize) {
        while self.accepting && self.conns.live < self.options.max_connections {
            let Some(listener) = self.listeners.get(listener_index) else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    let local = stream.local_addr().unwrap_or(peer);
                    let _ = stream.set_nodelay(true);
                    let index = self.conns.free.last().copied().unwrap_or(self.conns.entries.len());
                    if let Err(e) = self
                        .poll
                        .registry()
                        .register(&mut stream, Token(index), Interest::READABLE)
                    {
                        log::warn!("cannot register connection from {peer}: {e}");
                        continue;
                    }
                    let conn = Conn::new(stream, ConnInfo { peer, local }, &self.options.timeouts);
                    let inserted = self.conns.insert(conn);
                    debug_assert_eq!(inserted, index);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: keep serving what we have; the sweep retries later.
                    log::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn shared(&mut self) -> (Shared<'_>, &mut Slab) {
        (
            Shared {
                responder: &mut self.responder,
                scratch: &mut self.scratch,
                out: &mut self.out,
                limits: &self.options.limits,
                timeouts: &self.options.timeouts,
                draining: self.draining_since.is_some(),
            },
            &mut self.conns,
        )
    }

    fn on_conn_event(&mut self, index: usize, readable: bool, writable: bool) {
        let (mut shared, conns) = self.shared();
        let Some(Some(conn)) = conns.entries.get_mut(index) else {
            return;
        };
        if writable {
            conn.on_writable(&mut shared);
        }
        if readable {
            conn.on_readable(&mut shared);
        }
        if shared.draining {
            conn.on_drain();
        }
        self.settle(index);
    }

    /// Removes a finished connection, or sets its interest to what it waits for.
    fn settle(&mut self, index: usize) {
        let Some(Some(conn)) = self.conns.entries.get_mut(index) else {
            return;
        };
        if conn.is_done() {
            if let Some(mut conn) = self.conns.remove(index) {
                let _ = self.poll.registry().deregister(conn.stream_mut());
            }
            return;
        }
        let interest = if conn.wants_write() {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if conn.interest() == interest {
            return;
        }
        conn.set_interest(interest);
        if let Err(e) = self
            .poll
            .registry()
            .reregister(conn.stream_mut(), Token(index), interest)
        {
            log::debug!("reregister failed: {e}");
            if let Some(mut conn) = self.conns.remove(index) {
                let _ = self.poll.registry().deregister(conn.stream_mut());
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        for index in 0..self.conns.entries.len() {
            let (mut shared, conns) = self.shared();
            let Some(Some(conn)) = conns.entries.get_mut(index) else {
                continue;
            };
            if conn.deadline() <= now {
                conn.on_timeout(&mut shared);
                self.settle(index);
            }
        }
        if self.accepting && self.conns.live < self.options.max_connections {
            for index in 0..self.listeners.len() {
                self.accept(index);
            }
        }
    }
}
