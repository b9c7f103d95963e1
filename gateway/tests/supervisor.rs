//! End-to-end: the supervisor and its workers as real processes — start-up, crashes, timeouts,
//! recycling, reloads under load, stops, and no orphans.
//!
//! The supervisor's pid comes from its `--pid` file; its workers are found in /proc (children of
//! that pid). Load comes from a few client threads sending keep-alive GETs: a connection the
//! server closed while idle is replaced before a request is written on it, but a request that was
//! written and got no complete response counts as a failure.

use nsgi_testkit::{Gateway, IO_TIMEOUT, Scratch, compile_c_app, sample_library};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

/// The C app of `tests/apps/lifecycle.c` (`/crash`, `/sleep`, `/slow`, `/pid`, `/env`).
fn lifecycle_app() -> PathBuf {
    compile_c_app(
        "lifecycle",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/lifecycle.c"),
    )
}

/// The C app of `tests/apps/bootgate.c`: its `init` hangs or fails while a marker file exists.
fn bootgate_app() -> PathBuf {
    compile_c_app(
        "bootgate",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/bootgate.c"),
    )
}

/// The Rust app of `tests/apps/panicky` (`/panic` panics in `call`, `/instance`, else `ok`).
fn panicky_app() -> PathBuf {
    nsgi_testkit::build_packages(&["nsgi-test-panicky"]).join("libnsgi_test_panicky.so")
}

/// A gateway started with `--pid`, so that its supervisor's pid is known.
struct Supervised {
    gateway: Gateway,
    pid: u32,
    pid_file: PathBuf,
}

fn start(scratch: &Scratch, args: &[&str]) -> Supervised {
    let pid_file = scratch.path("gateway.pid");
    let mut all: Vec<String> = vec!["--pid".into(), pid_file.to_string_lossy().into_owned()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let gateway = Gateway::start(gateway_binary(), &all);
    let text = std::fs::read_to_string(&pid_file).expect("the pid file exists once the gateway listens");
    let pid = text.trim().parse().expect("the pid file holds a pid");
    Supervised { gateway, pid, pid_file }
}

/// `/proc/<pid>/stat`: (state, parent pid), or `None` once the process is gone.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; it ends at the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The live (not zombie) children of `parent`.
fn children_of(parent: u32) -> BTreeSet<u32> {
    let mut children = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((state, ppid)) = proc_stat(pid) {
            if ppid == parent && state != 'Z' {
                children.insert(pid);
            }
        }
    }
    children
}

/// Gone, or a zombie nobody has reaped yet: either way it runs no more.
fn is_dead(pid: u32) -> bool {
    proc_stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after the IO timeout.
fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The worker pids once there are exactly `count` of them.
fn wait_for_workers(supervisor: u32, count: usize) -> BTreeSet<u32> {
    wait_until(&format!("the supervisor has {count} worker(s)"), || {
        let children = children_of(supervisor);
        (children.len() == count).then_some(children)
    })
}

/// How many times `needle` occurs in the gateway's stderr.
fn log_count(gateway: &Gateway, needle: &str) -> usize {
    gateway.stderr().matches(needle).count()
}

fn wait_for_log_count(gateway: &Gateway, needle: &str, count: usize) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while log_count(gateway, needle) < count {
        assert!(
            Instant::now() < deadline,
            "the gateway never logged {needle:?} {count} time(s); stderr:\n{}",
            gateway.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One response: status and body, or why there was none.
fn try_get(stream: &mut BufReader<TcpStream>, path: &str) -> Result<(u16, String, bool), String> {
    stream
        .get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    read_reply(stream)
}

/// Reads one response with a Content-Length body: (status, body, server closes after it).
fn read_reply(stream: &mut BufReader<TcpStream>) -> Result<(u16, String, bool), String> {
    let mut status = None;
    let mut length = None;
    let mut close = false;
    for _ in 0..200 {
        let mut line = String::new();
        let n = stream.read_line(&mut line).map_err(|e| format!("read head: {e}"))?;
        if n == 0 {
            return Err("connection closed before a complete response".to_owned());
        }
        let line = line.trim_end();
        if line.is_empty() {
            let status = status.ok_or("no status line")?;
            let length: usize = length.ok_or("no Content-Length")?;
            let mut body = vec![0; length];
            stream.read_exact(&mut body).map_err(|e| format!("read body: {e}"))?;
            return Ok((status, String::from_utf8_lossy(&body).into_owned(), close));
        }
        if status.is_none() {
            status = line.get(9..12).and_then(|s| s.parse::<u16>().ok());
            if status.is_none() {
                return Err(format!("bad status line {line:?}"));
            }
        } else if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            } else if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    Err("response head too long".to_owned())
}

fn connect(addr: SocketAddr) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(BufReader::new(stream))
}

/// One GET on a new connection: (status, body).
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let mut stream = connect(addr).map_err(|e| format!("connect: {e}"))?;
    try_get(&mut stream, path).map(|(status, body, _)| (status, body))
}

/// Whether the server has closed (or reset) this idle connection: a non-blocking peek.
fn closed_by_server(stream: &BufReader<TcpStream>) -> bool {
    if !stream.buffer().is_empty() {
        return true; // bytes nobody asked for: do not reuse
    }
    let socket = stream.get_ref();
    if socket.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = !matches!(socket.peek(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
    closed || socket.set_nonblocking(false).is_err()
}

/// What the load threads saw.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    failed: u64,
    failures: Vec<String>,
    /// Response bodies and how often each came.
    bodies: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.failures.extend(other.failures);
        for (body, n) in other.bodies {
            *self.bodies.entry(body).or_default() += n;
        }
    }
}

/// Client threads sending keep-alive GETs until stopped (or `per_thread` requests each).
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    fn start(addr: SocketAddr, threads: usize, path: &'static str, per_thread: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || client(addr, path, per_thread, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the clients and adds up what they saw.
    fn finish(mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for thread in std::mem::take(&mut self.threads) {
            tally.add(thread.join().expect("a load thread panicked"));
        }
        tally
    }
}

impl Drop for Load {
    /// A test that fails half-way stops its load too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn client(addr: SocketAddr, path: &str, limit: u64, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    let fail = |tally: &mut Tally, why: String| {
        tally.failed += 1;
        if tally.failures.len() < 10 {
            tally.failures.push(why);
        }
    };
    for _ in 0..limit {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if conn.as_ref().is_some_and(closed_by_server) {
            conn = None;
        }
        let reused = conn.is_some();
        let mut stream = match conn.take() {
            Some(stream) => stream,
            None => match connect(addr) {
                Ok(stream) => stream,
                Err(e) => {
                    fail(&mut tally, format!("connect: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        if let Err(e) = stream.get_mut().write_all(request.as_bytes()) {
            if !reused {
                fail(&mut tally, format!("write on a new connection: {e}"));
            }
            // On a reused connection the server had closed it before the request went out.
            continue;
        }
        match read_reply(&mut stream) {
            Ok((200, body, close)) => {
                tally.ok += 1;
                *tally.bodies.entry(body).or_default() += 1;
                if !close {
                    conn = Some(stream);
                }
            }
            Ok((status, body, _)) => fail(&mut tally, format!("status {status}: {body}")),
            Err(why) => fail(
                &mut tally,
                format!("{why} (on a {} connection)", if reused { "reused" } else { "new" }),
            ),
        }
    }
    tally
}

/// Runs the gateway to its exit (bounded): (status, stdout, stderr).
fn run_bounded(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let mut child = Command::new(gateway_binary())
        .args(nsgi_testkit::root_flags())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = wait_until("the gateway exits", || child.try_wait().expect("try_wait"));
    (
        status,
        out.join().expect("stdout reader"),
        err.join().expect("stderr reader"),
    )
}

// ---- 1. start-up ----

#[test]
fn two_workers_serve_as_children_of_the_supervisor() {
    let scratch = Scratch::new("two");
    let app = lifecycle_app();
    let sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let workers = wait_for_workers(sup.pid, 2);
    assert!(!workers.contains(&sup.pid));
    let addr = sup.gateway.addr();
    let (status, body) = get(addr, "/").expect("GET /");
    assert_eq!((status, body.as_str()), (200, "ok"));
    for _ in 0..20 {
        let (_, pid) = get(addr, "/pid").expect("GET /pid");
        let pid: u32 = pid.parse().expect("a pid");
        assert!(
            workers.contains(&pid),
            "served by {pid}, not one of the workers {workers:?}"
        );
    }
    let (_, env) = get(addr, "/env").expect("GET /env");
    assert_eq!(env, "clean", "apps do not see the supervisor link's variables");
    let log = sup.gateway.stderr();
    assert!(
        log.contains("booting worker 1 (pid ") && log.contains("booting worker 2 (pid "),
        "{log}"
    );
    // Both workers may answer before the supervisor has read the second one's readiness.
    sup.gateway.wait_for_log("2 worker(s) serving");
}

// ---- 2. a worker killed under load ----

#[test]
fn a_killed_worker_is_replaced_and_only_its_requests_fail() {
    let scratch = Scratch::new("kill9");
    let app = lifecycle_app();
    let sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let before = wait_for_workers(sup.pid, 2);
    let victim = *before.iter().next().expect("a worker");
    const CLIENTS: usize = 3;
    let load = Load::start(sup.gateway.addr(), CLIENTS, "/", 100_000);
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    sup.gateway
        .wait_for_log(&format!("(pid {victim}) killed by signal SIGKILL; restarting it now"));
    let after = wait_until("a replacement worker runs", || {
        let now = children_of(sup.pid);
        (now.len() == 2 && !now.contains(&victim)).then_some(now)
    });
    std::thread::sleep(Duration::from_millis(300));
    let tally = load.finish();
    eprintln!(
        "kill -9 under load: {} ok, {} failed: {:?}",
        tally.ok, tally.failed, tally.failures
    );
    assert!(tally.ok > 0, "{tally:?}");
    assert!(
        tally.failed <= CLIENTS as u64,
        "only requests in flight on the killed worker may fail: {tally:?}"
    );
    assert_eq!(after.intersection(&before).count(), 1, "{before:?} → {after:?}");
    assert_eq!(get(sup.gateway.addr(), "/").expect("GET / after").0, 200);
}

// ---- 3. reload ----

/// Copies `from` over `to` the way a deploy should: a new file renamed into place.
fn install_library(from: &Path, to: &Path) {
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial).expect("copy the library");
    std::fs::rename(&partial, to).expect("rename the library into place");
}

const HELLO: &str = "Hello, World!";
const ECHO_USAGE_START: &str = "echo: send a POST";

#[test]
fn sighup_under_load_drops_nothing_and_serves_the_new_library() {
    let scratch = Scratch::new("reload");
    let app = scratch.path("app.so");
    install_library(&sample_library("hello"), &app);
    let sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let old = wait_for_workers(sup.pid, 2);
    assert_eq!(get(sup.gateway.addr(), "/").expect("GET /").1, HELLO);

    let load = Load::start(sup.gateway.addr(), 3, "/", 100_000);
    std::thread::sleep(Duration::from_millis(300));
    install_library(&sample_library("echo"), &app);
    sup.gateway.signal("HUP");
    sup.gateway.wait_for_log("reload complete: generation 2 is serving");
    wait_until("the old workers are gone", || {
        old.iter().all(|&pid| is_dead(pid)).then_some(())
    });
    std::thread::sleep(Duration::from_millis(300));
    let tally = load.finish();
    eprintln!(
        "reload under load: {} ok, {} failed, bodies {:?}",
        tally.ok, tally.failed, tally.bodies
    );
    assert_eq!(tally.failed, 0, "a reload drops no request: {tally:?}");
    assert!(tally.bodies.get(HELLO).is_some_and(|n| *n > 0), "{:?}", tally.bodies);
    assert!(
        tally.bodies.keys().any(|body| body.starts_with(ECHO_USAGE_START)),
        "the new library served during the load: {:?}",
        tally.bodies
    );
    let new = wait_for_workers(sup.pid, 2);
    assert!(new.is_disjoint(&old), "every worker was replaced: {old:?} → {new:?}");
    let (status, body) = get(sup.gateway.addr(), "/").expect("GET / after the reload");
    assert_eq!(status, 200);
    assert!(body.starts_with(ECHO_USAGE_START), "{body}");
    let log = sup.gateway.stderr();
    assert!(log.contains("reloading: generation 2"), "{log}");
}

#[test]
fn a_broken_deploy_keeps_the_old_workers_serving() {
    let scratch = Scratch::new("baddeploy");
    let app = scratch.path("app.so");
    install_library(&sample_library("hello"), &app);
    let sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let old = wait_for_workers(sup.pid, 2);

    let not_a_library = scratch.path("garbage.txt");
    std::fs::write(&not_a_library, "not a shared library").expect("write");
    install_library(&not_a_library, &app);
    sup.gateway.signal("HUP");
    sup.gateway.wait_for_log("reload failed: worker");
    sup.gateway.wait_for_log("generation 1 keeps serving");
    assert_eq!(get(sup.gateway.addr(), "/").expect("GET /").1, HELLO);
    assert!(sup.gateway.stderr().contains("not a loadable shared library"));
    // The failed generation is gone, the old one untouched.
    let now = wait_for_workers(sup.pid, 2);
    assert_eq!(now, old);

    // The fixed deploy goes through.
    install_library(&sample_library("echo"), &app);
    sup.gateway.signal("HUP");
    sup.gateway.wait_for_log("reload complete: generation 3 is serving");
    let (_, body) = get(sup.gateway.addr(), "/").expect("GET /");
    assert!(body.starts_with(ECHO_USAGE_START), "{body}");
}

// ---- 4. crashes ----

/// GET `path` on new connections until a response comes (at most `tries` attempts): a request
/// made while no worker runs waits in the backlog, but one accepted by a dying worker is lost.
fn get_with_retries(addr: SocketAddr, path: &str, tries: usize) -> (u16, String) {
    let mut last = String::new();
    for _ in 0..tries {
        match get(addr, path) {
            Ok(reply) => return reply,
            Err(why) => last = why,
        }
    }
    panic!("no response to GET {path} in {tries} tries; last: {last}");
}

#[test]
fn a_worker_that_crashed_after_it_was_ready_is_replaced_at_once_every_time() {
    let scratch = Scratch::new("segv");
    let app = lifecycle_app();
    let sup = start(&scratch, &["--workers", "1", &app.to_string_lossy()]);
    let addr = sup.gateway.addr();
    const CRASHES: usize = 10;
    for round in 1..=CRASHES {
        let crashed = get(addr, "/crash");
        assert!(crashed.is_err(), "no response from a crashed worker: {crashed:?}");
        wait_for_log_count(&sup.gateway, "killed by signal SIGSEGV", round);
        assert_eq!(get_with_retries(addr, "/", 3), (200, "ok".to_owned()), "round {round}");
    }
    let log = sup.gateway.stderr();
    assert_eq!(
        log_count(&sup.gateway, "killed by signal SIGSEGV; restarting it now"),
        CRASHES,
        "{log}"
    );
    assert!(
        !log.contains("restarting in"),
        "no back-off for workers that were ready: {log}"
    );
    assert_eq!(wait_for_workers(sup.pid, 1).len(), 1);
}

#[test]
fn a_slot_whose_workers_fail_to_boot_backs_off_until_they_boot_again() {
    let scratch = Scratch::new("bootfail");
    let app = bootgate_app();
    let marker = scratch.path("marker");
    let config = scratch.path("config");
    std::fs::write(&config, marker.to_string_lossy().as_bytes()).expect("write the app config");
    let sup = start(
        &scratch,
        &[
            "--workers",
            "1",
            "--app-config",
            &config.to_string_lossy(),
            &app.to_string_lossy(),
        ],
    );
    let addr = sup.gateway.addr();
    let fail = scratch.path("marker.fail");
    std::fs::write(&fail, "").expect("create the fail marker");
    assert!(get(addr, "/crash").is_err());
    sup.gateway.wait_for_log("killed by signal SIGSEGV; restarting it now");
    for delay in ["0.1s", "0.2s", "0.4s"] {
        sup.gateway
            .wait_for_log(&format!("before it was ready; restarting in {delay}"));
    }
    std::fs::remove_file(&fail).expect("remove the fail marker");
    assert_eq!(get_with_retries(addr, "/", 3), (200, "ok".to_owned()));
}

// ---- 5. --timeout ----

#[test]
fn a_request_past_timeout_gets_its_worker_killed_and_replaced() {
    let scratch = Scratch::new("timeout");
    let app = lifecycle_app();
    // --timeout 2 rather than 1: a healthy worker reports every second, and on a busy machine a
    // report can come late; the test checks below that healthy workers are never timed out.
    let sup = start(&scratch, &["--workers", "2", "--timeout", "2", &app.to_string_lossy()]);
    let before = wait_for_workers(sup.pid, 2);
    let addr = sup.gateway.addr();
    let mut stuck = connect(addr).expect("connect");
    stuck
        .get_mut()
        .write_all(b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    sup.gateway
        .wait_for_log("timed out: a request ran longer than --timeout 2s; replaced");
    let reply = read_reply(&mut stuck);
    assert!(reply.is_err(), "the stuck request gets no response: {reply:?}");
    for _ in 0..10 {
        assert_eq!(
            get(addr, "/").expect("other requests are served"),
            (200, "ok".to_owned())
        );
    }
    let after = wait_until("the stuck worker is replaced", || {
        let now = children_of(sup.pid);
        (now.len() == 2 && now != before).then_some(now)
    });
    assert_eq!(
        after.intersection(&before).count(),
        1,
        "only the stuck worker was replaced"
    );
    // Healthy workers are not timed out: their heartbeats keep coming (silence would be acted on
    // after 3 s).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(children_of(sup.pid), after, "{}", sup.gateway.stderr());
    assert_eq!(log_count(&sup.gateway, "timed out"), 1, "{}", sup.gateway.stderr());
}

// ---- 6. --max-requests ----

#[test]
fn max_requests_recycles_the_worker_without_dropping_a_request() {
    recycles_at_the_limit("maxreq", "0");
}

#[test]
fn max_requests_recycles_the_worker_without_dropping_a_request_with_threads() {
    recycles_at_the_limit("maxreq-threads", "3");
}

/// `--max-requests 20` under keep-alive load from several clients: no request fails, and no
/// worker serves more than 20.
fn recycles_at_the_limit(test: &str, threads: &str) {
    let scratch = Scratch::new(test);
    let app = lifecycle_app();
    let sup = start(
        &scratch,
        &[
            "--workers",
            "1",
            "--threads",
            threads,
            "--max-requests",
            "20",
            &app.to_string_lossy(),
        ],
    );
    let first = wait_for_workers(sup.pid, 1);
    let load = Load::start(sup.gateway.addr(), 3, "/pid", 1_000_000);
    wait_for_log_count(&sup.gateway, "replaced by pid", 3);
    wait_until("the first worker is gone", || {
        first.iter().all(|&pid| is_dead(pid)).then_some(())
    });
    std::thread::sleep(Duration::from_millis(200));
    let tally = load.finish();
    eprintln!(
        "recycling under load: {} ok, {} failed, bodies {:?}",
        tally.ok, tally.failed, tally.bodies
    );
    assert_eq!(tally.failed, 0, "recycling drops no request: {tally:?}");
    assert!(tally.ok > 20, "{tally:?}");
    assert!(
        tally.bodies.len() >= 2,
        "requests were served by the old and the new worker: {:?}",
        tally.bodies
    );
    for (pid, served) in &tally.bodies {
        assert!(
            *served <= 20,
            "worker {pid} served {served} requests, past --max-requests 20"
        );
    }
    let now = wait_for_workers(sup.pid, 1);
    assert!(now.is_disjoint(&first), "{first:?} → {now:?}");
    assert!(sup.gateway.stderr().contains("asks to be replaced"));
}

// ---- 7. stops ----

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let scratch = Scratch::new("term");
    let app = lifecycle_app();
    let mut sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let workers = wait_for_workers(sup.pid, 2);
    let mut slow = connect(sup.gateway.addr()).expect("connect");
    slow.get_mut()
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    sup.gateway.signal("TERM");
    let reply = read_reply(&mut slow).expect("the in-flight request completes");
    assert_eq!((reply.0, reply.1.as_str()), (200, "slow"));
    let status = sup.gateway.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(workers.iter().all(|&pid| is_dead(pid)), "no worker outlives a stop");
    assert!(!sup.pid_file.exists(), "the pid file is removed");
    let log = sup.gateway.stderr();
    assert!(log.contains("received SIGTERM: stopping gracefully"), "{log}");
    assert!(log.contains(&format!("supervisor (pid {}) stopped", sup.pid)), "{log}");
}

#[test]
fn sigquit_stops_at_once_cutting_in_flight_requests() {
    let scratch = Scratch::new("quit");
    let app = lifecycle_app();
    let mut sup = start(
        &scratch,
        &["--workers", "1", "--graceful-timeout", "60", &app.to_string_lossy()],
    );
    let workers = wait_for_workers(sup.pid, 1);
    let mut stuck = connect(sup.gateway.addr()).expect("connect");
    stuck
        .get_mut()
        .write_all(b"GET /sleep HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    std::thread::sleep(Duration::from_millis(200));
    sup.gateway.signal("QUIT");
    let reply = read_reply(&mut stuck);
    assert!(reply.is_err(), "a quick stop does not wait for the request: {reply:?}");
    let status = sup.gateway.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert!(workers.iter().all(|&pid| is_dead(pid)));
}

#[test]
fn a_worker_that_cannot_boot_fails_the_start() {
    let (status, stdout, stderr) =
        run_bounded(&["--bind", "127.0.0.1:0", "--workers", "2", "/nonexistent/libnothing.so"]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("Listening"), "{stdout}");
    assert!(
        stderr.contains("nsgi-gateway: error: worker failed to boot (see above)"),
        "{stderr}"
    );
    assert!(stderr.contains("/nonexistent/libnothing.so: no such file"), "{stderr}");
    assert!(stderr.contains("before it was ready"), "{stderr}");
}

// ---- 8. no orphans ----

#[test]
fn workers_do_not_outlive_a_killed_supervisor() {
    let scratch = Scratch::new("orphans");
    let app = lifecycle_app();
    let mut sup = start(&scratch, &["--workers", "2", &app.to_string_lossy()]);
    let workers = wait_for_workers(sup.pid, 2);
    sup.gateway.signal("KILL");
    sup.gateway.wait_exit();
    wait_until("every worker has exited", || {
        workers.iter().all(|&pid| is_dead(pid)).then_some(())
    });
}

// ---- signals that change the workers ----

#[test]
fn ttin_and_ttou_change_the_worker_count_and_usr1_reaches_the_workers() {
    let scratch = Scratch::new("ttin");
    let app = lifecycle_app();
    let sup = start(&scratch, &["--workers", "1", &app.to_string_lossy()]);
    let one = wait_for_workers(sup.pid, 1);
    sup.gateway.signal("TTIN");
    let two = wait_for_workers(sup.pid, 2);
    assert!(two.is_superset(&one));
    let added = *two.difference(&one).next().expect("a new worker");
    sup.gateway.wait_for_log(&format!("worker 2 (pid {added}) ready"));
    sup.gateway.signal("TTOU");
    sup.gateway.wait_for_log("stopping: the worker count is now 1");
    sup.gateway.wait_for_log(&format!("worker 2 (pid {added}) stopped"));
    assert_eq!(wait_for_workers(sup.pid, 1), one, "the highest slot goes");
    sup.gateway.signal("TTOU");
    sup.gateway.wait_for_log("the worker count stays at 1");

    sup.gateway.signal("USR1");
    sup.gateway.wait_for_log("asking 1 worker(s) to reopen their logs");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(children_of(sup.pid), one, "SIGUSR1 does not kill a worker");
    assert_eq!(get(sup.gateway.addr(), "/").expect("GET /").0, 200);
}

// ---- Ctrl+C: a signal to the whole process group ----

/// Starts the gateway as the leader of its own process group, as a shell does for a foreground
/// job, with `env` added; returns the child and its stderr, once it listens.
fn start_group_leader(args: &[&str], env: &[(&str, &Path)]) -> (std::process::Child, JoinHandle<String>) {
    let (mut child, err) = spawn_group_leader(args, env);
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("Listening on "), "{first:?}");
    std::thread::spawn(move || for _ in lines {});
    (child, err)
}

/// Starts the gateway as the leader of its own process group, without waiting for anything;
/// its stdout stays piped, its stderr is collected by the returned thread.
fn spawn_group_leader(args: &[&str], env: &[(&str, &Path)]) -> (std::process::Child, JoinHandle<String>) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(gateway_binary())
        .args(nsgi_testkit::root_flags())
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut stderr = child.stderr.take().expect("piped");
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    (child, err)
}

/// The lines of `log` at level ERROR or WARN.
fn noisy_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| line.contains(" ERROR ") || line.contains(" WARN "))
        .collect()
}

#[test]
fn a_signal_to_the_whole_process_group_stops_cleanly() {
    let app = lifecycle_app();
    for signal in ["INT", "TERM"] {
        for round in 1..=3 {
            let (mut child, stderr) = start_group_leader(&["--workers", "2", &app.to_string_lossy()], &[]);
            let group = child.id();
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), "--", &format!("-{group}")])
                .status()
                .expect("run kill");
            assert!(sent.success());
            let status = wait_until("the gateway exits", || child.try_wait().expect("try_wait"));
            let log = stderr.join().expect("stderr reader");
            assert!(status.success(), "SIG{signal} round {round}: exit {status}; {log}");
            let noisy = noisy_lines(&log);
            assert!(noisy.is_empty(), "SIG{signal} round {round}: {noisy:?}\n{log}");
            assert!(
                log.contains(&format!("received SIG{signal}: stopping gracefully")),
                "{log}"
            );
        }
    }
}

// ---- a panic in a Rust app's call ----

#[test]
fn one_panic_in_a_rust_app_does_not_disable_its_worker() {
    one_panic_then_served("panic", "0");
}

#[test]
fn one_panic_in_a_rust_app_does_not_disable_its_worker_with_threads() {
    one_panic_then_served("panic-threads", "4");
}

fn one_panic_then_served(test: &str, threads: &str) {
    let scratch = Scratch::new(test);
    let app = panicky_app();
    let sup = start(
        &scratch,
        &["--workers", "1", "--threads", threads, &app.to_string_lossy()],
    );
    let workers = wait_for_workers(sup.pid, 1);
    let addr = sup.gateway.addr();
    assert_eq!(get(addr, "/instance").expect("GET /instance"), (200, "1".to_owned()));
    let (status, _) = get(addr, "/panic").expect("GET /panic");
    assert_eq!(status, 500, "a panic is answered 500");
    let mut stream = connect(addr).expect("connect");
    for i in 0..100 {
        let (status, body, close) = try_get(&mut stream, "/").expect("GET / after the panic");
        assert_eq!((status, body.as_str()), (200, "ok"), "request {i} after the panic");
        assert!(!close, "kept alive");
    }
    assert_eq!(get(addr, "/instance").expect("GET /instance"), (200, "2".to_owned()));
    assert_eq!(children_of(sup.pid), workers, "the same worker serves on");
    assert_eq!(
        log_count(&sup.gateway, "initialised a fresh instance"),
        1,
        "{}",
        sup.gateway.stderr()
    );
}

// ---- --boot-timeout ----

/// A bootgate app whose markers are `<scratch>/marker.*`; returns (library, config file).
fn bootgate_with_config(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let config = scratch.path("config");
    std::fs::write(&config, scratch.path("marker").to_string_lossy().as_bytes()).expect("write the app config");
    (bootgate_app(), config)
}

#[test]
fn a_reload_whose_workers_hang_in_init_fails_at_the_boot_timeout() {
    let scratch = Scratch::new("boothang");
    let (app, config) = bootgate_with_config(&scratch);
    let sup = start(
        &scratch,
        &[
            "--workers",
            "1",
            "--boot-timeout",
            "2",
            "--app-config",
            &config.to_string_lossy(),
            &app.to_string_lossy(),
        ],
    );
    let old = wait_for_workers(sup.pid, 1);
    let hang = scratch.path("marker.hang");
    std::fs::write(&hang, "").expect("create the hang marker");
    sup.gateway.signal("HUP");
    sup.gateway.wait_for_log("booting worker 1 (pid ");
    let log = sup.gateway.wait_for_log("reload failed: ");
    assert!(log.contains("not ready after --boot-timeout 2s"), "{log}");
    sup.gateway.wait_for_log("generation 1 keeps serving");
    let (_, pid) = get(sup.gateway.addr(), "/pid").expect("GET /pid");
    assert!(old.contains(&pid.parse().expect("a pid")), "the old worker serves");
    assert_eq!(wait_for_workers(sup.pid, 1), old, "the stuck worker is gone");

    std::fs::remove_file(&hang).expect("remove the hang marker");
    sup.gateway.signal("HUP");
    sup.gateway.wait_for_log("reload complete: generation 3 is serving");
    let (status, _) = get(sup.gateway.addr(), "/pid").expect("GET /pid");
    assert_eq!(status, 200);
}

#[test]
fn a_first_worker_that_hangs_in_init_fails_the_start_at_the_boot_timeout() {
    let scratch = Scratch::new("firsthang");
    let (app, config) = bootgate_with_config(&scratch);
    std::fs::write(scratch.path("marker.hang"), "").expect("create the hang marker");
    let (status, stdout, stderr) = run_bounded(&[
        "--bind",
        "127.0.0.1:0",
        "--workers",
        "1",
        "--boot-timeout",
        "1",
        "--app-config",
        &config.to_string_lossy(),
        &app.to_string_lossy(),
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("Listening"), "{stdout}");
    assert!(stderr.contains("not ready after --boot-timeout 1s"), "{stderr}");
}

// ---- --workers 0: one process, no supervisor ----

#[test]
fn a_single_process_writes_its_pid_file_and_removes_it_and_its_socket_file() {
    let scratch = Scratch::new("single");
    let pid_file = scratch.path("gateway.pid");
    let socket = scratch.path("http.sock");
    let mut gateway = Gateway::start(
        gateway_binary(),
        [
            "--workers",
            "0",
            "--pid",
            &pid_file.to_string_lossy(),
            "--bind",
            &format!("unix:{}", socket.display()),
        ],
    );
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the pid file exists once the gateway listens")
        .trim()
        .parse()
        .expect("a pid");
    assert!(socket.exists(), "the socket file exists while serving");
    assert!(children_of(pid).is_empty(), "one process, no workers");
    assert_eq!(get(gateway.addr(), "/").expect("GET /").0, 200);
    gateway.signal("TERM");
    assert!(gateway.wait_exit().success());
    assert!(!pid_file.exists(), "the pid file is removed");
    assert!(!socket.exists(), "the socket file is removed");
}

#[test]
fn a_single_process_with_threads_answers_503_past_timeout() {
    let app = lifecycle_app();
    let gateway = Gateway::start(
        gateway_binary(),
        [
            "--workers",
            "0",
            "--threads",
            "2",
            "--timeout",
            "1",
            &app.to_string_lossy(),
        ],
    );
    let mut stuck = connect(gateway.addr()).expect("connect");
    let (status, _, close) = try_get(&mut stuck, "/sleep").expect("a response");
    assert_eq!(status, 503, "--timeout is enforced for pooled calls");
    assert!(close);
    // Nothing replaces the process: the stuck thread stays lost (and this app, not thread-safe,
    // is called one request at a time, so it stays blocked too).
    gateway.wait_for_log("an app thread is stuck past --timeout; 1 of 2 threads are lost until restart");
}

#[test]
fn a_failed_reload_tells_systemd_why() {
    use std::os::unix::net::UnixDatagram;
    let scratch = Scratch::new("notify");
    let (app, config) = bootgate_with_config(&scratch);
    let notify_path = scratch.path("notify.sock");
    let systemd = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    systemd.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
    let (mut child, stderr) = start_group_leader(
        &[
            "--workers",
            "1",
            "--boot-timeout",
            "1",
            "--app-config",
            &config.to_string_lossy(),
            &app.to_string_lossy(),
        ],
        &[("NOTIFY_SOCKET", notify_path.as_path())],
    );
    std::fs::write(scratch.path("marker.hang"), "").expect("create the hang marker");
    let sent = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let mut seen = Vec::new();
    let status = loop {
        let mut buf = [0u8; 4096];
        let n = systemd.recv(&mut buf).expect("a notification before the timeout");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.starts_with("STATUS=reload failed") {
            break message;
        }
        seen.push(message);
        assert!(seen.len() < 50, "no failed-reload status among {seen:?}");
    };
    assert!(status.contains("generation 1 keeps serving"), "{status}");
    assert!(status.contains("not ready after --boot-timeout 1s"), "{status}");
    assert!(seen.iter().any(|m| m.starts_with("RELOADING=1")), "{seen:?}");
    let _ = child.kill();
    let _ = child.wait();
    drop(stderr);
}

#[test]
fn ctrl_c_while_the_workers_boot_stops_cleanly() {
    let scratch = Scratch::new("bootint");
    let (app, config) = bootgate_with_config(&scratch);
    std::fs::write(scratch.path("marker.hang"), "").expect("create the hang marker");
    for round in 1..=3 {
        let (mut child, stderr) = spawn_group_leader(
            &[
                "--workers",
                "2",
                "--app-config",
                &config.to_string_lossy(),
                &app.to_string_lossy(),
            ],
            &[],
        );
        let group = child.id();
        wait_for_workers(group, 2);
        let sent = Command::new("kill")
            .args(["-INT", "--", &format!("-{group}")])
            .status()
            .expect("run kill");
        assert!(sent.success());
        let status = wait_until("the gateway exits", || child.try_wait().expect("try_wait"));
        let log = stderr.join().expect("stderr reader");
        assert!(status.success(), "round {round}: exit {status}; {log}");
        let noisy = noisy_lines(&log);
        assert!(noisy.is_empty(), "round {round}: {noisy:?}\n{log}");
    }
}
