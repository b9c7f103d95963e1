//! The steady-state hot path allocates nothing: once a keep-alive connection is warm, serving
//! more requests on it — one at a time or pipelined — makes no heap allocation on any gateway
//! thread, with the app called inline (`--threads 0`) or on the app thread pool (`--threads 2`).
//! On a uwsgi listener, where every request is a new connection, accepting, framing, serving
//! and closing allocates nothing either once warm.
//!
//! # How allocations are counted
//!
//! A counting global allocator wraps `System` and counts `alloc`, `alloc_zeroed` and `realloc`
//! made by *tracked* threads, in one counter per test (so the two tests may run at once):
//!
//! * the event-loop thread a test starts opts in through a thread-local flag naming its counter;
//! * the app pool's threads are spawned inside `Server::new` and cannot opt in themselves, so a
//!   thread that has not opted in is tracked when its OS name (`PR_GET_NAME`) starts with
//!   `nsgi-app-`, the name `pool.rs` gives its threads; they count towards the pooled test,
//!   the only one that starts a pool. (Thread-locals are not inherited by spawned threads, and
//!   counting process-wide would also count the test harness and the client.)
//!
//! The client runs on the test thread, which is not tracked. The app library (`libhello.so`, a
//! Rust cdylib) has its own global allocator, so allocations *inside the app* are not counted:
//! the test measures the gateway and the host side of the ABI only (hello allocates nothing per
//! request anyway).
//!
//! When the count in the measured window is not zero, the first allocations of the window are
//! recorded with a backtrace (captured with tracking suspended on that thread) and printed.
//!
//! # Stopping
//!
//! The server stops only on SIGINT/SIGTERM/SIGQUIT of the whole process, which would also reach
//! the other test's server; so each test leaves its server thread blocked in its idle loop after
//! closing its connection, and the process ends it when the tests are done.

use nsgi::host::{AppInstance, AppModule, InitOptions};
use nsgi_gateway::Apps;
use nsgi_gateway::Listener;
use nsgi_gateway::MountTable;
use nsgi_gateway::Server;
use nsgi_gateway::ServerOptions;
use nsgi_gateway::Site;
use nsgi_gateway::TrustedProxies;
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Requests served before counting, one at a time.
const WARM_UP: usize = 2_000;
/// Requests served one at a time while counting.
const MEASURED: usize = 10_000;
/// Pipelined bursts of each kind (in one write, and split inside a head), and requests per
/// burst, both before and while counting.
const BURSTS: usize = 20;
const BURST_LEN: usize = 100;
/// Backtraces kept of the first allocations in a measured window.
const MAX_SITES: usize = 8;

/// A browser-like GET with eight header lines.
const REQUEST: &[u8] = b"GET /articles/2024/zero-alloc?page=2 HTTP/1.1\r\n\
Host: 127.0.0.1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Cookie: session=6f1e2d3c4b5a69788796a5b4c3d2e1f0; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
\r\n";

// ---- the counting allocator ------------------------------------------------------------------

/// Counter indices (a thread's tracking state is the index; 0 = not opted in).
const UNTRACKED: u8 = 0;
const INLINE: u8 = 1;
const POOLED: u8 = 2;
const UWSGI: u8 = 3;
/// Known never to be tracked (skips the thread-name check).
const IGNORED: u8 = u8::MAX;

static COUNTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// Record backtraces of allocations counted in this counter (during a measured window).
static ARMED: [AtomicBool; 4] = [const { AtomicBool::new(false) }; 4];
static SITES: Mutex<Vec<(u8, Backtrace)>> = Mutex::new(Vec::new());
/// Pool threads found by their name (so the test knows they are counted).
static POOL_THREADS_SEEN: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Which counter this thread's allocations go to.
    static TRACKED: Cell<u8> = const { Cell::new(UNTRACKED) };
    /// Inside the allocator's own bookkeeping (a backtrace capture): do not count.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

struct Counting;

// SAFETY: every request is passed to `System` unchanged; the bookkeeping never touches the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The counter of the calling thread, if it is tracked.
fn counter_of_this_thread() -> Option<u8> {
    let state = TRACKED.try_with(Cell::get).ok()?;
    match state {
        IGNORED => None,
        UNTRACKED if is_pool_thread() => {
            let _ = TRACKED.try_with(|t| t.set(POOLED));
            POOL_THREADS_SEEN.fetch_add(1, Ordering::Relaxed);
            Some(POOLED)
        }
        UNTRACKED => None,
        counter => Some(counter),
    }
}

/// True on the gateway's app pool threads (named `nsgi-app-N` by `pool.rs`).
fn is_pool_thread() -> bool {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes the calling thread's name, at most 16 bytes with its NUL.
    let read = unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr() as libc::c_ulong, 0, 0, 0) };
    read == 0 && name.starts_with(b"nsgi-app-")
}

fn note_allocation() {
    if BUSY.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let Some(counter) = counter_of_this_thread() else {
        return;
    };
    COUNTS[counter as usize].fetch_add(1, Ordering::Relaxed);
    if ARMED[counter as usize].load(Ordering::Relaxed) {
        BUSY.with(|busy| busy.set(true));
        let mut sites = SITES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if sites.len() < MAX_SITES {
            sites.push((counter, Backtrace::force_capture()));
        }
        drop(sites);
        BUSY.with(|busy| busy.set(false));
    }
}

fn count(counter: u8) -> u64 {
    COUNTS[counter as usize].load(Ordering::SeqCst)
}

// ---- the client ------------------------------------------------------------------------------

/// One keep-alive connection that reads responses into a reused buffer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    burst: Vec<u8>,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the gateway");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("read timeout");
        Client {
            stream,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            burst: REQUEST.repeat(BURST_LEN),
        }
    }

    /// One request, then its response.
    fn one(&mut self) {
        self.stream.write_all(REQUEST).expect("send a request");
        self.expect_hello();
    }

    /// `BURST_LEN` pipelined requests in one write, then their responses.
    fn burst(&mut self) {
        self.stream.write_all(&self.burst).expect("send a burst");
        for _ in 0..BURST_LEN {
            self.expect_hello();
        }
    }

    /// A burst in two writes split inside a request head, with a pause between them, so the
    /// gateway keeps the partial head of a pipelined request between reads.
    fn split_burst(&mut self) {
        let split = BURST_LEN / 2 * REQUEST.len() + REQUEST.len() / 2;
        self.stream
            .write_all(&self.burst[..split])
            .expect("send a burst's first part");
        std::thread::sleep(Duration::from_millis(2));
        self.stream
            .write_all(&self.burst[split..])
            .expect("send a burst's rest");
        for _ in 0..BURST_LEN {
            self.expect_hello();
        }
    }

    /// Reads one response and checks it is hello's.
    fn expect_hello(&mut self) {
        let head_end = loop {
            if let Some(at) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break self.start + at + 4;
            }
            self.fill();
        };
        let head = &self.buf[self.start..head_end];
        assert!(
            head.starts_with(b"HTTP/1.1 200 "),
            "unexpected response: {}",
            String::from_utf8_lossy(head)
        );
        let length = content_length(head).expect("hello's responses carry Content-Length");
        while self.end - head_end < length {
            self.fill();
        }
        assert_eq!(&self.buf[head_end..head_end + length], b"Hello, World!");
        self.start = head_end + length;
    }

    /// Reads more bytes, compacting the buffer first.
    fn fill(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        assert!(self.end < self.buf.len(), "response larger than the client's buffer");
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => panic!("the gateway closed the connection"),
            Ok(n) => self.end += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("reading a response: {e}"),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let (name, value) = line.split_at(line.iter().position(|&b| b == b':')?);
        if !name.eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(&value[1..]).ok()?.trim().parse().ok()
    })
}

// ---- the tests -------------------------------------------------------------------------------

/// Starts a server for hello on a loopback port, its loop thread counting into `counter`.
fn start_server(counter: u8, threads: usize) -> std::net::SocketAddr {
    start_server_speaking(counter, threads, nsgi_gateway::Protocol::Http1)
}

/// [`start_server`] with a listener that speaks `protocol`.
fn start_server_speaking(counter: u8, threads: usize, protocol: nsgi_gateway::Protocol) -> std::net::SocketAddr {
    let module = AppModule::load(nsgi_testkit::sample_library("hello")).expect("load libhello.so");
    let instance = AppInstance::init(
        &module,
        &InitOptions {
            max_concurrency: threads.max(1) as u32,
            ..InitOptions::default()
        },
    )
    .expect("init hello");
    let site = Site {
        mounts: MountTable::new([""], "").expect("a root mount"),
        proxies: TrustedProxies::none(),
        flags: 0,
    };
    let apps = Arc::new(Apps::new(vec![instance], site, None));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let options = ServerOptions {
        threads,
        ..ServerOptions::default()
    };
    let (ready, started) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("zero-alloc-loop-{counter}"))
        .spawn(move || {
            TRACKED.with(|t| t.set(counter));
            let server = match Server::new(vec![Listener::Tcp(listener, protocol)], apps, options, None) {
                Ok(server) => server,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            if let Err(e) = server.run() {
                eprintln!("the server stopped with an error: {e}");
            }
        })
        .expect("spawn the server thread");
    started
        .recv_timeout(Duration::from_secs(30))
        .expect("the server thread answers")
        .expect("the server starts");
    addr
}

/// The recorded allocation sites of `counter`, formatted (the frames of this workspace first).
fn describe_sites(counter: u8) -> String {
    let sites = std::mem::take(&mut *SITES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    let mut text = String::new();
    for (index, (_, backtrace)) in sites.iter().filter(|(c, _)| *c == counter).enumerate() {
        let full = backtrace.to_string();
        eprintln!("---- allocation {index} of the measured window ----\n{full}");
        // Frames of the gateway and the host SDK, each with its `at file:line` line.
        let mut ours = Vec::new();
        let mut lines = full.lines().map(str::trim).peekable();
        while let Some(frame) = lines.next() {
            let location = lines.next_if(|line| line.starts_with("at "));
            if frame.contains("nsgi") && !frame.contains("zero_alloc::") {
                ours.push(match location {
                    Some(location) => format!("{frame} {location}"),
                    None => frame.to_owned(),
                });
            }
        }
        text.push_str(&format!("\n  allocation {index}:\n    {}", ours.join("\n    ")));
    }
    text
}

fn assert_steady_state_allocates_nothing(counter: u8, threads: usize) {
    TRACKED.with(|t| t.set(IGNORED));
    let addr = start_server(counter, threads);
    let mut client = Client::connect(addr);
    for _ in 0..WARM_UP {
        client.one();
    }
    for _ in 0..BURSTS {
        client.burst();
        client.split_burst();
    }
    // Once more one at a time, so the measured window starts like the warm-up did.
    for _ in 0..10 {
        client.one();
    }

    // The counting works: setting up the server and the connection allocated on its threads.
    assert!(
        count(counter) > 0,
        "no allocation counted on the gateway's threads at all"
    );
    if threads > 0 {
        assert_eq!(
            POOL_THREADS_SEEN.load(Ordering::SeqCst),
            threads,
            "every pool thread is found by its name and counted"
        );
    }

    let before = count(counter);
    ARMED[counter as usize].store(true, Ordering::SeqCst);
    for _ in 0..MEASURED {
        client.one();
    }
    for _ in 0..BURSTS {
        client.burst();
        client.split_burst();
    }
    ARMED[counter as usize].store(false, Ordering::SeqCst);
    let allocations = count(counter) - before;
    drop(client);

    let requests = MEASURED + 2 * BURSTS * BURST_LEN;
    assert!(
        allocations == 0,
        "--threads {threads}: {allocations} allocation(s) on gateway threads while serving {requests} warm \
         requests (first sites, full backtraces on stderr):{}",
        describe_sites(counter)
    );
}

#[test]
fn inline_calls_allocate_nothing_once_warm() {
    assert_steady_state_allocates_nothing(INLINE, 0);
}

#[test]
fn pooled_calls_allocate_nothing_once_warm() {
    assert_steady_state_allocates_nothing(POOLED, 2);
}

/// An nginx-like uwsgi packet for `GET /articles/2024/zero-alloc?page=2`, with the headers of
/// [`REQUEST`].
fn uwsgi_packet() -> Vec<u8> {
    let vars: &[(&str, &str)] = &[
        ("QUERY_STRING", "page=2"),
        ("REQUEST_METHOD", "GET"),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", "/articles/2024/zero-alloc?page=2"),
        ("PATH_INFO", "/articles/2024/zero-alloc"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "https"),
        ("HTTPS", "on"),
        ("REMOTE_ADDR", "203.0.113.9"),
        ("REMOTE_PORT", "51234"),
        ("SERVER_PORT", "443"),
        ("SERVER_NAME", "example.com"),
        ("HTTP_HOST", "example.com"),
        (
            "HTTP_USER_AGENT",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "HTTP_ACCEPT",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("HTTP_ACCEPT_LANGUAGE", "en-US,en;q=0.5"),
        ("HTTP_COOKIE", "session=6f1e2d3c4b5a69788796a5b4c3d2e1f0; theme=dark"),
    ];
    nsgi_testkit::uwsgi_packet(0, vars)
}

/// One uwsgi request on a new connection: the packet, then the response until the close.
fn uwsgi_request(addr: std::net::SocketAddr, packet: &[u8], buf: &mut Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to the gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream.write_all(packet).expect("send a packet");
    buf.clear();
    stream.read_to_end(buf).expect("read the response");
    assert!(
        buf.starts_with(b"HTTP/1.1 200 ") && buf.ends_with(b"Hello, World!"),
        "unexpected response: {}",
        String::from_utf8_lossy(buf)
    );
}

#[test]
fn uwsgi_connections_allocate_nothing_once_warm() {
    const CONNECTIONS_WARM_UP: usize = 500;
    const CONNECTIONS_MEASURED: usize = 2_000;
    TRACKED.with(|t| t.set(IGNORED));
    let addr = start_server_speaking(UWSGI, 0, nsgi_gateway::Protocol::Uwsgi);
    let packet = uwsgi_packet();
    let mut buf = Vec::with_capacity(4096);
    for _ in 0..CONNECTIONS_WARM_UP {
        uwsgi_request(addr, &packet, &mut buf);
    }
    assert!(count(UWSGI) > 0, "no allocation counted on the gateway's thread at all");
    let before = count(UWSGI);
    ARMED[UWSGI as usize].store(true, Ordering::SeqCst);
    for _ in 0..CONNECTIONS_MEASURED {
        uwsgi_request(addr, &packet, &mut buf);
    }
    ARMED[UWSGI as usize].store(false, Ordering::SeqCst);
    let allocations = count(UWSGI) - before;
    assert!(
        allocations == 0,
        "uwsgi: {allocations} allocation(s) on the gateway's thread while serving {CONNECTIONS_MEASURED} warm \
         connections (first sites, full backtraces on stderr):{}",
        describe_sites(UWSGI)
    );
}
