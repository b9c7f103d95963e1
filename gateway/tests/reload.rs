//! End-to-end: `--reload`, the author's loop. A real gateway watches a copy of a sample library
//! in a scratch directory while a client keeps requesting; the file is then replaced the ways
//! build tools and people replace it, and the gateway must serve the new app without failing a
//! request, keep the old one serving when the new file does not load (saying why), and not spin
//! while it waits.

use nsgi_testkit::{Gateway, IO_TIMEOUT, Scratch, run_to_exit, sample_library};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

const HELLO: &str = "Hello, World!";
/// The start of every page of the `html` sample.
const HTML_START: &str = "<!";

/// Replaces `to` the way cargo and linkers do: the new file is written under another name, then
/// renamed over the old one.
fn replace_by_rename(from: &Path, to: &Path) {
    let partial = to.with_extension("partial");
    std::fs::copy(from, &partial).expect("copy to the temporary name");
    std::fs::rename(&partial, to).expect("rename into place");
}

/// Rewrites `to` in place with the contents of `from`: truncated, then written in several
/// pieces, the way `cp` or an editor writes over an existing file.
fn overwrite_in_place(from: &Path, to: &Path) {
    let bytes = std::fs::read(from).expect("read the new contents");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(to)
        .expect("open for overwriting");
    for piece in bytes.chunks(bytes.len().div_ceil(4).max(1)) {
        file.write_all(piece).expect("write a piece");
        file.flush().expect("flush");
    }
}

/// The supervisor's pid, from its `--pid` file.
fn supervisor_pid(pid_file: &Path) -> u32 {
    let text = std::fs::read_to_string(pid_file).expect("the pid file exists once the gateway listens");
    text.trim().parse().expect("the pid file holds a pid")
}

/// Starts a gateway with `--reload`, one worker and a `--pid` file in `scratch`.
fn start(scratch: &Scratch, args: &[&str]) -> (Gateway, u32) {
    let pid_file = scratch.path("gateway.pid");
    let mut all: Vec<String> = vec![
        "--reload".into(),
        "--workers".into(),
        "1".into(),
        "--pid".into(),
        pid_file.to_string_lossy().into_owned(),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    let gateway = Gateway::start(gateway_binary(), &all);
    let pid = supervisor_pid(&pid_file);
    (gateway, pid)
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

fn wait_for_log_count(gateway: &Gateway, needle: &str, count: usize) {
    wait_until(&format!("the gateway logged {needle:?} {count} time(s)"), || {
        (gateway.stderr().matches(needle).count() >= count).then_some(())
    });
}

fn connect(addr: SocketAddr) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(BufReader::new(stream))
}

/// Sends a GET of `/` and reads a response with a Content-Length body: (status, body, whether
/// the server closes the connection after it).
fn exchange(stream: &mut BufReader<TcpStream>) -> Result<(u16, String, bool), String> {
    stream
        .get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut status = None;
    let mut length = None;
    let mut close = false;
    for _ in 0..100 {
        let mut line = String::new();
        if stream.read_line(&mut line).map_err(|e| format!("read head: {e}"))? == 0 {
            return Err("connection closed before a complete response".to_owned());
        }
        let line = line.trim_end();
        if line.is_empty() {
            let status = status.ok_or("no status line")?;
            let mut body = vec![0; length.ok_or("no Content-Length")?];
            stream.read_exact(&mut body).map_err(|e| format!("read body: {e}"))?;
            return Ok((status, String::from_utf8_lossy(&body).into_owned(), close));
        }
        if status.is_none() {
            status = Some(line.get(9..12).and_then(|s| s.parse().ok()).ok_or("bad status line")?);
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

/// One GET of `/` on a new connection: its body, or why there was none.
fn get(addr: SocketAddr) -> Result<String, String> {
    let mut stream = connect(addr).map_err(|e| format!("connect: {e}"))?;
    match exchange(&mut stream)? {
        (200, body, _) => Ok(body),
        (status, body, _) => Err(format!("status {status}: {body}")),
    }
}

/// Whether the server closed (or reset) this idle connection: a non-blocking peek.
fn closed_by_server(stream: &BufReader<TcpStream>) -> bool {
    if !stream.buffer().is_empty() {
        return true;
    }
    let socket = stream.get_ref();
    if socket.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    let closed = !matches!(socket.peek(&mut byte), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
    closed || socket.set_nonblocking(false).is_err()
}

/// What the client saw so far.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    failures: Vec<String>,
    /// The first 40 bytes of each body, and how often it came.
    bodies: BTreeMap<String, u64>,
}

impl Tally {
    fn saw(&self, start: &str) -> bool {
        self.bodies.keys().any(|body| body.starts_with(start))
    }
}

/// A client thread sending keep-alive GETs of `/` back to back, until stopped or `limit`
/// requests are sent. An idle connection the server closed is replaced before a request is
/// written on it (as browsers do); a request written that gets no complete `200` is a failure.
struct Client {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    fn start(addr: SocketAddr, limit: u64) -> Client {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let (thread_stop, thread_tally) = (Arc::clone(&stop), Arc::clone(&tally));
        let thread = std::thread::spawn(move || {
            let mut conn: Option<BufReader<TcpStream>> = None;
            let record = |outcome: Result<String, String>| {
                let mut tally = thread_tally.lock().expect("tally lock");
                match outcome {
                    Ok(body) => {
                        tally.ok += 1;
                        let key: String = body.chars().take(40).collect();
                        *tally.bodies.entry(key).or_default() += 1;
                    }
                    Err(why) => tally.failures.push(why),
                }
            };
            for _ in 0..limit {
                if thread_stop.load(Ordering::Relaxed) {
                    break;
                }
                if conn.as_ref().is_some_and(closed_by_server) {
                    conn = None;
                }
                let mut stream = match conn.take() {
                    Some(stream) => stream,
                    None => match connect(addr) {
                        Ok(stream) => stream,
                        Err(e) => {
                            record(Err(format!("connect: {e}")));
                            continue;
                        }
                    },
                };
                match exchange(&mut stream) {
                    Ok((200, body, close)) => {
                        record(Ok(body));
                        if !close {
                            conn = Some(stream);
                        }
                    }
                    Ok((status, body, _)) => record(Err(format!("status {status}: {body}"))),
                    Err(why) => record(Err(why)),
                }
            }
        });
        Client {
            stop,
            tally,
            thread: Some(thread),
        }
    }

    /// Waits until the client has had a response whose body starts with `start`.
    fn wait_for_body(&self, start: &str) {
        wait_until(&format!("the client gets a body starting with {start:?}"), || {
            self.tally.lock().expect("tally lock").saw(start).then_some(())
        });
    }

    /// Stops the client and returns what it saw.
    fn finish(mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the client thread panicked");
        }
        std::mem::take(&mut *self.tally.lock().expect("tally lock"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// GETs `/` on new connections until the body starts with `start` (bounded): the app being
/// swapped in is eventually what serves.
fn wait_until_served(addr: SocketAddr, start: &str) {
    wait_until(&format!("GET / answers a body starting with {start:?}"), || {
        get(addr).ok().filter(|body| body.starts_with(start))
    });
}

#[test]
fn replacing_the_library_swaps_the_app_in_without_failing_a_request() {
    let scratch = Scratch::new("swap");
    let app = scratch.path("libapp.so");
    replace_by_rename(&sample_library("hello"), &app);
    let (gateway, _) = start(&scratch, &[&app.to_string_lossy()]);
    gateway.wait_for_log(&format!("--reload: watching {}", app.display()));
    let addr = gateway.addr();
    assert_eq!(get(addr).expect("GET / before"), HELLO);
    let client = Client::start(addr, 1_000_000);
    client.wait_for_body(HELLO);

    // 1. The way cargo and linkers write: a new file renamed into place.
    replace_by_rename(&sample_library("html"), &app);
    wait_for_log_count(&gateway, "reload complete: generation 2 is serving", 1);
    client.wait_for_body(HTML_START);
    wait_until_served(addr, HTML_START);
    let log = gateway.stderr();
    assert!(
        log.contains(&format!(
            "app library {} changed: reloading: generation 2",
            app.display()
        )),
        "the reload names the file that changed:\n{log}"
    );

    // 2. Not a library: the html app keeps serving, and the log says which file and why.
    let garbage = scratch.path("garbage.txt");
    std::fs::write(&garbage, "this is not a shared library\n").expect("write");
    replace_by_rename(&garbage, &app);
    wait_for_log_count(&gateway, "reload failed: worker", 1);
    let log = gateway.stderr();
    assert!(log.contains("generation 2 keeps serving"), "{log}");
    assert!(
        log.contains(&format!("{}: not a loadable shared library", app.display())),
        "the log names the file and the loader's error:\n{log}"
    );
    assert!(
        get(addr)
            .expect("GET / after the failed reload")
            .starts_with(HTML_START)
    );

    // 3. A good library again, this time written over the (unloaded) bad file in place.
    overwrite_in_place(&sample_library("hello"), &app);
    wait_until_served(addr, HELLO);
    assert_eq!(
        gateway.stderr().matches("reload complete").count(),
        2,
        "html, then hello again:\n{}",
        gateway.stderr()
    );
    let tally = client.finish();
    eprintln!(
        "reload under a client: {} ok, {} failed, bodies {:?}",
        tally.ok,
        tally.failures.len(),
        tally.bodies
    );
    assert!(tally.failures.is_empty(), "no request failed: {tally:?}");
    assert!(tally.saw(HELLO) && tally.saw(HTML_START), "{tally:?}");
}

#[test]
fn app_config_files_of_mounts_are_watched_too_and_reload_can_come_from_the_config_file() {
    let scratch = Scratch::new("config");
    let app = scratch.path("libapp.so");
    replace_by_rename(&sample_library("hello"), &app);
    let app_config = scratch.path("app.json");
    std::fs::write(&app_config, "{}").expect("write the app config");
    let settings = scratch.path("gateway.json");
    let mount = format!("/api={}:{}", app.display(), app_config.display());
    let json = serde_json::json!({ "reload": true, "workers": 1, "mount": [mount] });
    std::fs::write(&settings, json.to_string()).expect("write the gateway config");
    let gateway = Gateway::start(gateway_binary(), ["--config", &settings.to_string_lossy()]);
    gateway.wait_for_log(&format!(
        "--reload: watching {}, {}",
        app.display(),
        app_config.display()
    ));

    std::fs::write(&app_config, "{\"greeting\": \"changed\"}").expect("rewrite the app config");
    gateway.wait_for_log("reload complete: generation 2 is serving");
    let log = gateway.stderr();
    assert!(
        log.contains(&format!("app config file {} changed", app_config.display())),
        "{log}"
    );
}

/// utime + stime of `pid`, in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    let after_name = &stat[stat.rfind(')').expect("a command name in parentheses") + 1..];
    // Fields from the state (field 3) on: utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields[i - 3].parse::<u64>().expect("a tick count");
    ticks(14) + ticks(15)
}

/// The unit of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on every common Linux).
fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The supervisor's CPU time over a `window` of idling, in clock ticks, and the ticks a
/// process running flat out would have used in it.
fn idle_ticks(pid: u32, window: Duration) -> (u64, u64) {
    let before = cpu_ticks(pid);
    let started = Instant::now();
    std::thread::sleep(window);
    let used = cpu_ticks(pid) - before;
    let ticks_per_second = clock_ticks_per_second();
    let elapsed = started.elapsed().as_millis() as u64;
    (used, elapsed * ticks_per_second / 1000)
}

#[test]
fn the_watch_does_not_spin_while_waiting_nor_while_the_library_is_missing() {
    let scratch = Scratch::new("idle");
    let app = scratch.path("libapp.so");
    replace_by_rename(&sample_library("hello"), &app);
    let (gateway, pid) = start(&scratch, &[&app.to_string_lossy()]);
    gateway.wait_for_log("--reload: watching");
    let window = Duration::from_secs(2);
    // A busy loop uses most of a CPU; the watch looks at one file four times a second. The
    // bound is generous: it is about spinning, not about speed.
    let (used, flat_out) = idle_ticks(pid, window);
    eprintln!("idle supervisor with --reload: {used} of {flat_out} clock ticks");
    assert!(
        used * 5 < flat_out,
        "the idle supervisor used {used} of {flat_out} ticks"
    );

    std::fs::remove_file(&app).expect("remove the library");
    gateway.wait_for_log("is missing; the workers serve on");
    let (used, flat_out) = idle_ticks(pid, window);
    eprintln!("idle supervisor with --reload: {used} of {flat_out} clock ticks");
    assert!(
        used * 5 < flat_out,
        "the supervisor waiting for a missing library used {used} of {flat_out} ticks"
    );
    assert_eq!(get(gateway.addr()).expect("GET / meanwhile"), HELLO);

    replace_by_rename(&sample_library("html"), &app);
    wait_until_served(gateway.addr(), HTML_START);
}

#[test]
fn reload_without_a_supervisor_is_refused() {
    let app = sample_library("hello");
    let (status, _, stderr) = run_to_exit(
        gateway_binary(),
        &[
            "--reload",
            "--workers",
            "0",
            "--bind",
            "127.0.0.1:0",
            &app.to_string_lossy(),
        ],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--reload needs the supervisor") && stderr.contains("--workers 0"),
        "{stderr}"
    );
    let (status, stdout, stderr) = run_to_exit(
        gateway_binary(),
        &["--check-config", "--reload", "--workers", "0", &app.to_string_lossy()],
    );
    assert_eq!(
        status.code(),
        Some(1),
        "--check-config refuses it too: {stdout}{stderr}"
    );
    assert!(stderr.contains("--reload needs the supervisor"), "{stderr}");
}
