//! The app thread pool (`--threads N`): the event loop hands complete requests to N threads
//! that call the app, and gets the encoded responses back through a mio [`Waker`], so the loop
//! keeps serving other connections while an app call blocks.
//!
//! Jobs and their buffers are recycled: once warm, handing a request to the pool allocates
//! nothing. The queue is unbounded in type but bounded in practice — a connection has at most
//! one job in flight, and the event loop stops accepting while [`Pool::backlog`] is high.

use crate::http::OwnedHead;
use crate::serve::pump::{FileTail, Sink};
use crate::serve::respond::{After, Apps, Responder, Served};
use crate::serve::spill::BodyBuf;
use crate::settings::serving::HEADER_SLOTS;
use crate::site::environ::Endpoints;
use mio::Waker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// One request handed to the pool, and its response coming back.
#[derive(Debug)]
pub(crate) struct Job {
    /// The connection's slab index.
    pub(crate) conn: usize,
    /// The connection's unique id (slab slots are reused).
    pub(crate) conn_id: u64,
    /// The request head, parsed once by the connection.
    pub(crate) head: OwnedHead,
    /// The request body, finished.
    pub(crate) body: BodyBuf,
    /// The connection the request came on (always set on a submitted job).
    pub(crate) info: Option<Endpoints>,
    /// The server is draining: the response closes the connection.
    pub(crate) closing: bool,
    /// The encoded response.
    pub(crate) out: Vec<u8>,
    /// The file that ends the response (sent by the connection after `out`), if its body is one
    /// (boxed: rare, and it would double the size of every completion).
    pub(crate) file: Option<Box<FileTail>>,
    /// How the response went (set by the pool thread).
    pub(crate) served: Served,
    /// When the loop handed the job over.
    pub(crate) queued_at: Instant,
    /// When the request's first byte arrived, for the access log (the epoch when none is kept).
    pub(crate) received: SystemTime,
}

impl Job {
    fn blank() -> Job {
        Job {
            conn: 0,
            conn_id: 0,
            head: OwnedHead::default(),
            body: BodyBuf::new(),
            info: None,
            closing: false,
            out: Vec::new(),
            file: None,
            served: Served {
                after: After::Close,
                status: 0,
                body_bytes: 0,
            },
            queued_at: Instant::now(),
            received: SystemTime::UNIX_EPOCH,
        }
    }

    fn recycle(&mut self) {
        self.body.clear();
        self.out.clear();
        self.file = None;
        if self.out.capacity() > 256 * 1024 {
            self.out = Vec::new();
        }
        self.head.shrink_if_large();
    }
}

struct Queue {
    jobs: VecDeque<Job>,
    stopping: bool,
}

/// What a pool thread reports to the event loop.
// A finished job travels by value: its buffers are recycled, so boxing it would allocate once
// per request on the hot path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Done {
    /// A job is finished: its response (or its last part) is in `out`.
    Finished(Job),
    /// Part of a job's response is waiting in `flow` for connection `conn`.
    Partial {
        /// The connection's slab index.
        conn: usize,
        /// The connection's unique id.
        conn_id: u64,
        /// The handover between the thread and the loop.
        flow: Arc<Flow>,
    },
}

/// The handover of a streamed response part from a pool thread to the event loop, and back
/// the news of whether the client took it.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    state: Mutex<FlowState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct FlowState {
    part: Vec<u8>,
    phase: Phase,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Idle,
    /// The part is waiting for the loop.
    Handed,
    /// The client took it (`true`) or is gone (`false`).
    Finished(bool),
}

impl Flow {
    /// Loop side: moves the handed part into `out` (to be sent).
    pub(crate) fn take_part(&self, out: &mut Vec<u8>) {
        let mut state = lock(&self.state);
        out.extend_from_slice(&state.part);
        state.part.clear();
    }

    /// Loop side: the part reached the client (`sent`), or never will.
    pub(crate) fn finish(&self, sent: bool) {
        lock(&self.state).phase = Phase::Finished(sent);
        self.changed.notify_one();
    }

    /// Thread side: hands `out` over (it comes back as an empty buffer to reuse).
    fn hand_over(&self, out: &mut Vec<u8>) {
        let mut state = lock(&self.state);
        std::mem::swap(&mut state.part, out);
        state.phase = Phase::Handed;
    }

    /// Thread side: waits for the verdict on the handed part: sent, or never to be.
    fn wait(&self) -> bool {
        let mut state = lock(&self.state);
        loop {
            if let Phase::Finished(sent) = state.phase {
                state.phase = Phase::Idle;
                return sent;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

struct PoolShared {
    queue: Mutex<Queue>,
    available: Condvar,
    done: Mutex<Vec<Done>>,
    waker: Waker,
    /// The server is draining: every response started from now on closes its connection, also
    /// those of requests handed over before the drain began.
    draining: Arc<AtomicBool>,
}

/// The pool of app threads.
pub(crate) struct Pool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
    free: Vec<Job>,
    /// Jobs handed over and not yet collected.
    in_flight: usize,
    /// Reused buffer for collecting completions.
    collected: Vec<Done>,
}

impl Pool {
    /// Starts `threads` threads answering with `apps`; completions wake `waker`.
    pub(crate) fn start(threads: usize, apps: &Arc<Apps>, waker: Waker) -> std::io::Result<Pool> {
        let shared = Arc::new(PoolShared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::with_capacity(1024),
                stopping: false,
            }),
            available: Condvar::new(),
            done: Mutex::new(Vec::with_capacity(1024)),
            waker,
            draining: Arc::new(AtomicBool::new(false)),
        });
        let mut handles = Vec::with_capacity(threads);
        for index in 0..threads {
            let shared = Arc::clone(&shared);
            let responder = Responder::new(Arc::clone(apps)).watching_drain(Arc::clone(&shared.draining));
            let handle = std::thread::Builder::new()
                .name(format!("nsgi-app-{index}"))
                .spawn(move || run_thread(&shared, responder))?;
            handles.push(handle);
        }
        Ok(Pool {
            shared,
            threads: handles,
            free: Vec::new(),
            in_flight: 0,
            collected: Vec::with_capacity(1024),
        })
    }

    /// A recycled (or new) job to fill in.
    pub(crate) fn job(&mut self) -> Job {
        self.free.pop().unwrap_or_else(Job::blank)
    }

    /// Hands a filled-in job to the threads.
    pub(crate) fn submit(&mut self, mut job: Job) {
        job.queued_at = Instant::now();
        self.in_flight += 1;
        lock(&self.shared.queue).jobs.push_back(job);
        self.shared.available.notify_one();
    }

    /// The server started draining: responses not yet started answer `Connection: close`
    /// (docs/operations.md §4), whenever their request was handed over.
    pub(crate) fn drain(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
    }

    /// Jobs waiting for a thread (not yet started).
    pub(crate) fn backlog(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    /// Takes what the threads reported (call when the waker fired); hand the vector back with
    /// [`Pool::recycle`].
    pub(crate) fn collect(&mut self) -> Vec<Done> {
        let mut collected = std::mem::take(&mut self.collected);
        std::mem::swap(&mut *lock(&self.shared.done), &mut collected);
        self.in_flight -= collected.iter().filter(|d| matches!(d, Done::Finished(_))).count();
        collected
    }

    /// Returns finished jobs' buffers for reuse, and the (then empty) collection vector.
    pub(crate) fn recycle(&mut self, mut done: Vec<Done>) {
        for item in done.drain(..) {
            if let Done::Finished(mut job) = item {
                job.recycle();
                self.free.push(job);
            }
        }
        self.collected = done;
    }

    /// Stops the threads after the queued jobs; waits for them unless one is stuck in the app
    /// (a request past `--timeout`): those are left behind, the process exits around them.
    pub(crate) fn stop(self, abandoned: usize) {
        lock(&self.shared.queue).stopping = true;
        self.shared.available.notify_all();
        if abandoned == 0 {
            for handle in self.threads {
                let _ = handle.join();
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run_thread(shared: &PoolShared, mut responder: Responder) {
    let flow = Arc::new(Flow::default());
    loop {
        let mut job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.stopping {
                    return;
                }
                queue = shared
                    .available
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        };
        let (conn, conn_id) = (job.conn, job.conn_id);
        let mut sink = |out: &mut Vec<u8>| {
            flow.hand_over(out);
            report(
                shared,
                Done::Partial {
                    conn,
                    conn_id,
                    flow: Arc::clone(&flow),
                },
            );
            flow.wait()
        };
        answer(&mut responder, &mut job, &mut sink);
        report(shared, Done::Finished(job));
    }
}

/// Queues a report for the event loop and wakes it if it may be asleep.
fn report(shared: &PoolShared, item: Done) {
    let first = {
        let mut done = lock(&shared.done);
        done.push(item);
        done.len() == 1
    };
    if first && let Err(e) = shared.waker.wake() {
        log::error!("cannot wake the event loop: {e}");
    }
}

/// Answers one job into its `out`.
fn answer(responder: &mut Responder, job: &mut Job, sink: Sink<'_>) {
    let Job {
        head,
        body,
        info,
        closing,
        out,
        received,
        ..
    } = job;
    job.served = head.with_view::<HEADER_SLOTS, _>(|head| match info.as_ref() {
        Some(info) => {
            let body_len = body.len();
            responder.respond(
                head,
                &mut body.reader(),
                body_len,
                info,
                out,
                *closing,
                Some(sink),
                *received,
            )
        }
        None => {
            // Unreachable: the loop sets the connection on every job it submits. Fail safe.
            responder.write_error(out, 500, head.method == "HEAD");
            Served {
                after: After::Close,
                status: 500,
                body_bytes: 0,
            }
        }
    });
    job.file = responder.take_file().map(Box::new);
}
