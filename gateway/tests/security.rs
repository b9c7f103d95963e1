//! End-to-end: the gateway's security properties, over a real `nsgi-gateway` process (see
//! docs/security.md for the threat model they answer).
//!
//! Request-body temp files have no name and are readable by the worker alone, and never outlive
//! their request; unix sockets get the requested mode; a gateway started as root refuses to
//! serve as root unless told to, and with `--user` its workers give up root before any app is
//! loaded. (A response header carrying CR or LF is refused: `misbehaving_app_gets_500_and_the_
//! server_goes_on` in tests/serve.rs, case `/bad-header`.)

use nsgi_testkit::{Gateway, IO_TIMEOUT, compile_c_app, read_response, running_as_root};
use std::io::{BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

/// The C app of `tests/apps/counting.c` (`/pid`, `/init-ids`, ...).
fn counting_app() -> PathBuf {
    compile_c_app(
        "counting",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/counting.c"),
    )
}

/// A directory of the test's own under the target dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = nsgi_testkit::profile_dir().join(format!("nsgi-test-security-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

fn worker_pid(gateway: &Gateway) -> u32 {
    let response = gateway.request(&get("/pid"));
    assert_eq!(response.status, 200);
    response.text().parse().expect("a process id")
}

/// The descriptors of process `pid` that lead into `dir`: (descriptor path, link text).
fn descriptors_into(pid: u32, dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            target
                .starts_with(dir)
                .then(|| (entry.path(), target.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Waits (bounded) until `check` holds.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn request_body_spill_files_are_private_unnamed_and_gone_with_their_request() {
    const BODY: usize = 512 * 1024;
    for threads in ["0", "2"] {
        let spill = Scratch::new(&format!("spill-t{threads}"));
        let app = counting_app();
        let spill_dir = spill.0.to_string_lossy().into_owned();
        let gateway = Gateway::start(
            gateway_binary(),
            [
                app.to_str().expect("UTF-8 path"),
                "--workers",
                "0",
                "--threads",
                threads,
                "--body-buffer-size",
                "1024",
                "--spill-dir",
                &spill_dir,
            ],
        );
        let pid = worker_pid(&gateway);
        // Two uploads under way: one will finish, the other's client will leave half-way.
        let mut uploads = Vec::new();
        for _ in 0..2 {
            let mut stream = gateway.connect();
            write!(stream, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {BODY}\r\n\r\n").expect("send the head");
            stream.write_all(&vec![b'a'; BODY / 2]).expect("send half the body");
            uploads.push(stream);
        }
        wait_until("both bodies spilled", || descriptors_into(pid, &spill.0).len() == 2);
        for (descriptor, target) in descriptors_into(pid, &spill.0) {
            // No name: the link reads as an unlinked file, and the directory lists nothing.
            assert!(target.ends_with(" (deleted)"), "--threads {threads}: {target}");
            let meta = std::fs::metadata(&descriptor).expect("stat the spill file");
            assert_eq!(
                meta.permissions().mode() & 0o777,
                0o600,
                "--threads {threads}: {target}"
            );
            assert_eq!(meta.uid(), own_euid(), "owned by the worker's user");
        }
        let names: Vec<_> = std::fs::read_dir(&spill.0).expect("list").collect();
        assert!(
            names.is_empty(),
            "--threads {threads}: names in the spill dir: {names:?}"
        );

        let mut finished = uploads.remove(0);
        finished.write_all(&vec![b'a'; BODY / 2]).expect("send the rest");
        let response = read_response(&mut BufReader::new(finished), false);
        assert_eq!(response.status, 200, "--threads {threads}");
        drop(uploads); // the other client leaves mid-body
        wait_until("no spill file is left open", || {
            descriptors_into(pid, &spill.0).is_empty()
        });
        assert_eq!(gateway.request(&get("/")).status, 200);
    }
}

/// This process's effective uid, which the worker (started by it, without `--user`) shares.
fn own_euid() -> u32 {
    std::fs::metadata("/proc/self").expect("/proc/self").uid()
}

#[test]
fn unix_sockets_get_the_requested_mode() {
    let scratch = Scratch::new("unix-mode");
    let app = counting_app();
    for mode in ["600", "660", "666"] {
        let socket = scratch.0.join(format!("{mode}.sock"));
        let bind = format!("unix:{}", socket.display());
        let _gateway = Gateway::start(
            gateway_binary(),
            [
                app.to_str().expect("UTF-8 path"),
                "--workers",
                "0",
                "--bind",
                &bind,
                "--unix-socket-mode",
                mode,
            ],
        );
        let meta = std::fs::metadata(&socket).expect("the socket file");
        assert_eq!(
            format!("{:o}", meta.permissions().mode() & 0o777),
            mode,
            "{}",
            socket.display()
        );
        let mut client = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
        client.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        client.write_all(&get("/")).expect("send");
        assert_eq!(read_response(&mut BufReader::new(client), false).status, 200);
    }
}

/// Runs the gateway directly (without the test kit's `--allow-root`) to its exit, bounded.
fn run_without_root_flags(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(gateway_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + IO_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the gateway did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().expect("stderr"))
}

#[test]
fn serving_as_root_is_refused_without_allow_root() {
    let app = counting_app();
    let app = app.to_str().expect("UTF-8 path");
    if running_as_root() {
        for workers in ["0", "1"] {
            let (status, stderr) = run_without_root_flags(&["--bind", "127.0.0.1:0", "--workers", workers, app]);
            assert_eq!(status.code(), Some(1), "--workers {workers}: {stderr}");
            assert!(
                stderr.contains("refusing to serve as root")
                    && stderr.contains("--user")
                    && stderr.contains("--allow-root"),
                "--workers {workers}: {stderr}"
            );
        }
        let (status, stderr) = run_without_root_flags(&["--bind", "127.0.0.1:0", "--user", "root", app]);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("--user root is root"), "{stderr}");
    } else {
        // Not root: changing the user is impossible, and said so.
        let (status, stderr) = run_without_root_flags(&["--bind", "127.0.0.1:0", "--user", "root", app]);
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("needs the gateway to be started as root"), "{stderr}");
    }
}

/// `Uid:` and `Gid:` (real, effective, saved, file system) and `Groups:` of a process.
fn ids_of(pid: u32) -> (String, String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(|rest| rest.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("Uid:"), field("Gid:"), field("Groups:"))
}

/// The parent of process `pid`.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    after_name
        .split_whitespace()
        .nth(1)
        .and_then(|ppid| ppid.parse().ok())
        .expect("ppid")
}

#[test]
fn with_user_the_workers_give_up_root_before_loading_the_app() {
    if !running_as_root() {
        // The refusal of --user without root is checked by serving_as_root_is_refused_...;
        // dropping needs root.
        eprintln!("not root: the drop itself cannot be tried here");
        return;
    }
    let nobody = "65534";
    let app = counting_app();
    for workers in ["0", "1"] {
        let gateway = Gateway::start(
            gateway_binary(),
            [
                app.to_str().expect("UTF-8 path"),
                "--workers",
                workers,
                "--user",
                "nobody",
            ],
        );
        let pid = worker_pid(&gateway);
        let (uid, gid, groups) = ids_of(pid);
        assert_eq!(uid, [nobody; 4].join(" "), "--workers {workers}: Uid");
        assert_eq!(gid, [nobody; 4].join(" "), "--workers {workers}: Gid");
        assert_eq!(groups, nobody, "--workers {workers}: Groups");
        // The app's init already ran as nobody.
        let init = gateway.request(&get("/init-ids"));
        assert_eq!(init.text(), format!("uid={nobody},{nobody} gid={nobody},{nobody}"));
        if workers == "1" {
            // The supervisor, which never loads an app, stays root.
            let (supervisor_uid, _, _) = ids_of(parent_of(pid));
            assert_eq!(supervisor_uid, "0 0 0 0");
            gateway.wait_for_log("serving as user nobody (uid 65534, gid 65534)");
        }
    }
}

#[test]
fn dropped_workers_still_die_with_their_supervisor() {
    if !running_as_root() {
        eprintln!("not root: the drop itself cannot be tried here");
        return;
    }
    let app = counting_app();
    let gateway = Gateway::start(
        gateway_binary(),
        [app.to_str().expect("UTF-8 path"), "--workers", "1", "--user", "nobody"],
    );
    let worker = worker_pid(&gateway);
    let supervisor = parent_of(worker);
    let status = Command::new("kill")
        .args(["-KILL", &supervisor.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    wait_until("the worker is gone", || {
        std::fs::read_to_string(format!("/proc/{worker}/stat")).map_or(true, |stat| stat.contains(") Z "))
    });
    drop(gateway);
}
