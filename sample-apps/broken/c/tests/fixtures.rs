//! Checks the broken-app fixtures themselves, so that the conformance checker's tests can trust
//! them:
//!
//! 1. `sample-apps/broken/expected.json` lists every C app (`*.c`) and every Rust broken
//!    package (`rust/*/`), each once, with a well-formed entry;
//! 2. every listed library loads and passes the NSGI handshake (magic, ABI major 1);
//! 3. driven through a small recording host, every app really commits the violation its entry
//!    names (and, for the start_response ones, only that one).
//!
//! The Rust apps are built here with `cargo build` (as `testkit` does for the samples): `cargo
//! test` never produces a `cdylib`. The Rust apps that panic print the usual panic message to
//! stderr while this runs; that is expected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr;
use std::sync::OnceLock;

use nsgi::host::validate::{check_header, check_status, parse_content_length};
use nsgi::sys::*;
use nsgi_testkit::fake_host::{FakeRequest, FakeTable, Header, HostCall, Phase, environ_not_found, fake_input_read};
use serde_json::Value;

// ---- The manifest --------------------------------------------------------------------------

/// One entry of `expected.json`.
#[derive(Clone, Debug)]
struct Entry {
    package: String,
    library: String,
    check: String,
    language: String,
    violation: String,
}

/// The keys every entry has, and only those.
const ENTRY_KEYS: [&str; 5] = ["check", "language", "library", "package", "violation"];

/// `sample-apps/broken/`.
fn broken_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("broken-c lives in sample-apps/broken/c")
        .to_path_buf()
}

fn workspace_root() -> PathBuf {
    broken_dir().join("../..")
}

fn manifest() -> Vec<Entry> {
    let path = broken_dir().join("expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let entries = value.as_array().expect("expected.json is an array");
    entries
        .iter()
        .map(|entry| {
            let object = entry
                .as_object()
                .unwrap_or_else(|| panic!("entry {entry} is not an object"));
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            assert_eq!(keys, ENTRY_KEYS, "entry {entry} must have exactly these keys");
            let field = |key: &str| {
                object[key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key} of {entry} is not a string"))
                    .to_owned()
            };
            Entry {
                package: field("package"),
                library: field("library"),
                check: field("check"),
                language: field("language"),
                violation: field("violation"),
            }
        })
        .collect()
}

/// True for `C1`..`C104` and `N1`..`N9` (the ids `docs/conformance.md` defines).
fn is_check_id(id: &str) -> bool {
    let (max, digits) = match id.split_at_checked(1) {
        Some(("C", digits)) => (104, digits),
        Some(("N", digits)) => (9, digits),
        _ => return false,
    };
    !digits.starts_with('0') && digits.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
}

/// The `*.c` apps in `sample-apps/broken/c/`, by file name.
fn c_sources() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_dir(dir)
        .expect("read sample-apps/broken/c")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .filter(|name| name.ends_with(".c"))
        .collect()
}

/// A Rust broken package as its `Cargo.toml` declares it.
#[derive(Debug)]
struct RustPackage {
    dir: PathBuf,
    name: String,
    lib_name: String,
    manifest: String,
}

/// The first `key = "value"` after the line `[section]` in a Cargo.toml.
fn toml_string(text: &str, section: &str, key: &str) -> Option<String> {
    let header = format!("[{section}]");
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == header;
        } else if in_section && let Some(rest) = line.strip_prefix(key) {
            let value = rest.trim_start().strip_prefix('=')?.trim();
            return Some(value.strip_prefix('"')?.strip_suffix('"')?.to_owned());
        }
    }
    None
}

/// Every package under `sample-apps/broken/rust/`.
fn rust_packages() -> Vec<RustPackage> {
    let root = broken_dir().join("rust");
    let mut packages: Vec<RustPackage> = std::fs::read_dir(&root)
        .expect("read sample-apps/broken/rust")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|dir| dir.is_dir())
        .map(|dir| {
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
                .unwrap_or_else(|e| panic!("{}/Cargo.toml: {e}", dir.display()));
            let name = toml_string(&manifest, "package", "name").expect("package name");
            let lib_name = toml_string(&manifest, "lib", "name").expect("[lib] name");
            RustPackage {
                dir,
                name,
                lib_name,
                manifest,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    packages
}

#[test]
fn manifest_lists_every_broken_app_once() {
    let entries = manifest();
    let mut libraries = BTreeSet::new();
    for entry in &entries {
        assert!(
            is_check_id(&entry.check),
            "{}: bad check id {:?}",
            entry.library,
            entry.check
        );
        assert!(!entry.violation.trim().is_empty(), "{}: empty violation", entry.library);
        assert!(
            libraries.insert(entry.library.clone()),
            "{} is listed twice",
            entry.library
        );
        assert!(
            entry.library.starts_with("lib") && entry.library.ends_with(".so"),
            "{}: the library is named lib<name>.so",
            entry.library
        );
        assert!(
            matches!(entry.language.as_str(), "c" | "rust"),
            "{}: language {:?}",
            entry.library,
            entry.language
        );
    }

    // Every C file, and nothing else, under package broken-c.
    let c_entries: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.language == "c")
        .map(|e| {
            assert_eq!(e.package, "broken-c", "{}: C apps are built by broken-c", e.library);
            let stem = e
                .library
                .strip_prefix("libbroken_c_")
                .and_then(|rest| rest.strip_suffix(".so"))
                .unwrap_or_else(|| panic!("{}: C libraries are named libbroken_c_<file>.so", e.library));
            format!("{stem}.c")
        })
        .collect();
    assert_eq!(
        c_entries,
        c_sources(),
        "expected.json must list every *.c app exactly once"
    );
    let built: BTreeSet<String> = broken_c::LIBRARIES.iter().map(|l| l.source.to_owned()).collect();
    assert_eq!(built, c_sources(), "build.rs must build every *.c app");

    // Every Rust package, and nothing else.
    let rust_entries: BTreeSet<(String, String)> = entries
        .iter()
        .filter(|e| e.language == "rust")
        .map(|e| (e.package.clone(), e.library.clone()))
        .collect();
    let packages: BTreeSet<(String, String)> = rust_packages()
        .iter()
        .map(|p| (p.name.clone(), format!("lib{}.so", p.lib_name)))
        .collect();
    assert_eq!(
        rust_entries, packages,
        "expected.json must list every package under rust/ exactly once"
    );
    assert_eq!(entries.len(), c_entries.len() + rust_entries.len());
}

#[test]
fn rust_packages_follow_the_conventions() {
    for package in rust_packages() {
        let dir_name = package
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 dir name");
        assert_eq!(
            package.name,
            format!("broken-{dir_name}"),
            "package name of {}",
            package.dir.display()
        );
        assert_eq!(
            package.lib_name,
            package.name.replace('-', "_"),
            "[lib] name of {}",
            package.name
        );
        assert!(
            package.manifest.contains("publish = false"),
            "{} must not be published",
            package.name
        );
        assert!(
            package.manifest.contains("crate-type = [\"cdylib\"]"),
            "{} must be a cdylib",
            package.name
        );
    }
}

// ---- Finding and loading the libraries ------------------------------------------------------

/// `target/<profile>`: the test binary is `target/<profile>/deps/<name>-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

/// Builds every Rust broken package (once per test process) into this test's profile directory.
fn build_rust_apps() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("the profile dir has a parent");
        let profile_name = match profile.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(name) => name.to_owned(),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace_root())
            .args(["build", "--quiet", "--profile", &profile_name, "--target-dir"])
            .arg(target);
        for package in rust_packages() {
            command.args(["-p", &package.name]);
        }
        let status = command.status().expect("run cargo build for the Rust broken apps");
        assert!(status.success(), "building the Rust broken apps failed: {status}");
        profile
    })
}

/// Where the library of `entry` is, built if needed. The manifest says `lib<name>.so`; other
/// platforms spell it their way.
fn library_path(entry: &Entry) -> PathBuf {
    let name = entry
        .library
        .strip_prefix("lib")
        .and_then(|rest| rest.strip_suffix(".so"))
        .expect("lib<name>.so");
    let file = format!("{}{name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    if entry.language == "c" {
        let library = broken_c::LIBRARIES
            .iter()
            .find(|l| l.file_name == file)
            .unwrap_or_else(|| panic!("broken-c did not build {file}"));
        return PathBuf::from(library.path);
    }
    let path = build_rust_apps().join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Loads a library and returns its descriptor. The library is leaked on purpose: NSGI libraries
/// are never unloaded.
fn descriptor(path: &Path) -> &'static nsgi_app_descriptor {
    // SAFETY: these libraries run no initialisers of their own beyond those of the C runtime or
    // Rust's std.
    let lib = unsafe { libloading::Library::new(path) }.unwrap_or_else(|e| panic!("dlopen {}: {e}", path.display()));
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: `nsgi_app_entry_v1` has the `nsgi_app_entry_fn` signature (nsgi.h).
    let entry = unsafe { lib.get::<nsgi_app_entry_fn>(NSGI_ENTRY_SYMBOL_V1.as_bytes()) }
        .unwrap_or_else(|e| panic!("{} does not export nsgi_app_entry_v1: {e}", path.display()));
    // SAFETY: the entry point has no side effects and returns a pointer to static data.
    let desc = unsafe { entry() };
    assert!(!desc.is_null(), "{}: nsgi_app_entry_v1 returned NULL", path.display());
    // SAFETY: non-NULL pointer to a static descriptor in a library that stays loaded.
    unsafe { &*desc }
}

fn bytes(b: nsgi_bytes) -> Vec<u8> {
    if b.len == 0 {
        return Vec::new();
    }
    assert!(!b.ptr.is_null(), "nsgi_bytes with len {} and a NULL ptr", b.len);
    // SAFETY: the ABI guarantees `len` readable bytes at a non-NULL `ptr` during the call.
    unsafe { std::slice::from_raw_parts(b.ptr, b.len) }.to_vec()
}

#[test]
fn every_library_passes_the_handshake() {
    for entry in manifest() {
        let d = descriptor(&library_path(&entry));
        let lib = &entry.library;
        assert_eq!(d.magic, NSGI_APP_MAGIC, "{lib}: magic");
        assert_eq!(d.abi_major, NSGI_ABI_MAJOR, "{lib}: ABI major");
        assert!(d.struct_size >= NSGI_APP_DESCRIPTOR_V1_0_SIZE, "{lib}: struct_size");
        assert!(
            d.init.is_some() && d.call.is_some() && d.shutdown.is_some(),
            "{lib}: functions"
        );
        assert_eq!(d.flags & NSGI_APP_PANIC_ABORT, 0, "{lib}: built with panic=abort");
        assert!(!bytes(d.name).is_empty(), "{lib}: empty name");
        let sdk_info = bytes(d.sdk_info);
        match entry.language.as_str() {
            "c" => assert_eq!(sdk_info, b"C", "{lib}: sdk_info"),
            _ => assert!(sdk_info.starts_with(b"nsgi-sdk/"), "{lib}: sdk_info {sdk_info:?}"),
        }
    }
}

// ---- The recording host ----------------------------------------------------------------------
//
// The shared fake host (`nsgi_testkit::fake_host`): it answers like an NSGI host (docs/abi.md §7,
// §8; the SDK's own status and header rules) so that each app takes the path it takes under the
// real one, but it never stops a response early: it records what the app does.

/// How many times the host calls `next` at most: every fixture ends well before.
const MAX_NEXT_CALLS: usize = 16;

#[derive(Clone, Debug, PartialEq)]
enum Event {
    /// A request function the app called, as the fake host recorded it.
    Host(HostCall),
    /// `next` returned `NSGI_OK` with a chunk of `len` bytes (not read when `null_ptr`).
    Chunk {
        null_ptr: bool,
        len: usize,
    },
    Done,
    NextFailed(nsgi_status),
    Close,
}

/// # Safety
/// `req` is a live `FakeRequest` not otherwise borrowed (these tests pass one).
unsafe fn request<'a>(req: *mut nsgi_request) -> &'a mut FakeRequest {
    // SAFETY: per the contract above.
    unsafe { &mut *req.cast::<FakeRequest>() }
}

/// Moves the host calls the app made since the last time into `events`, in order.
fn record_host_calls(req: *mut nsgi_request, events: &mut Vec<Event>) {
    // SAFETY: called between calls into the app, when nothing else borrows the request.
    let calls = std::mem::take(&mut unsafe { request(req) }.calls);
    events.extend(calls.into_iter().map(Event::Host));
}

/// What one request did.
#[derive(Debug)]
struct Outcome {
    call: nsgi_status,
    events: Vec<Event>,
}

impl Outcome {
    fn start_responses(&self) -> Vec<(&[u8], &[Header], bool, nsgi_status)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Host(HostCall::StartResponse {
                    status,
                    headers,
                    exc_info,
                    result,
                }) => Some((status.as_slice(), headers.as_slice(), *exc_info, *result)),
                _ => None,
            })
            .collect()
    }

    fn body_bytes(&self) -> usize {
        self.events
            .iter()
            .map(|e| if let Event::Chunk { len, .. } = e { *len } else { 0 })
            .sum()
    }

    /// The Content-Length the last successful start_response declared.
    fn content_length(&self) -> Option<usize> {
        let (_, headers, _, _) = self.start_responses().into_iter().rev().find(|s| s.3 == NSGI_OK)?;
        let (_, value) = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))?;
        usize::try_from(parse_content_length(value)?).ok()
    }

    fn closes(&self) -> usize {
        self.events.iter().filter(|e| **e == Event::Close).count()
    }
}

/// Runs one GET request through the app: init, call, next until the end, close, shutdown.
fn drive(d: &nsgi_app_descriptor) -> Outcome {
    let mut host = FakeTable::new();
    host.api_mut().environ_get = Some(environ_not_found);
    host.api_mut().input_readline = Some(fake_input_read);
    let args = nsgi_init_args {
        struct_size: NSGI_INIT_ARGS_V1_0_SIZE,
        flags: 0,
        mount_name: nsgi_bytes::from_slice(b"broken"),
        script_name: nsgi_bytes::EMPTY,
        config: nsgi_bytes::EMPTY,
        options: ptr::null(),
        n_options: 0,
        max_concurrency: 1,
    };
    let mut app = ptr::null_mut();
    // SAFETY: a valid host table, args and out-pointer for the duration of the call.
    let rc = unsafe { d.init.expect("init")(host.api(), &args, &mut app) };
    assert_eq!(rc, NSGI_OK, "init failed: {}", host.log_text());

    let var = |name: &'static [u8], value: &'static [u8]| nsgi_header {
        name: nsgi_bytes::from_slice(name),
        value: nsgi_bytes::from_slice(value),
    };
    let vars = [
        var(b"REQUEST_METHOD", b"GET"),
        var(b"SCRIPT_NAME", b""),
        var(b"PATH_INFO", b"/"),
        var(b"QUERY_STRING", b""),
        var(b"SERVER_NAME", b"localhost"),
        var(b"SERVER_PORT", b"80"),
        var(b"SERVER_PROTOCOL", b"HTTP/1.1"),
        var(b"REMOTE_ADDR", b"127.0.0.1"),
    ];
    let environ = nsgi_environ {
        struct_size: NSGI_ENVIRON_V1_0_SIZE,
        flags: 0,
        vars: vars.as_ptr(),
        n_vars: vars.len(),
        url_scheme: nsgi_bytes::from_slice(b"http"),
        content_length: NSGI_NO_LENGTH,
    };
    let mut fake_request = FakeRequest::default();
    let mut events = Vec::new();
    let req: *mut nsgi_request = fake_request.handle();
    let mut body = nsgi_body {
        vtable: ptr::null(),
        state: ptr::null_mut(),
    };
    // SAFETY: a live app, request, environ and out-pointer; `fake_request` outlives the request.
    let call = unsafe { d.call.expect("call")(app, req, &environ, &mut body) };
    record_host_calls(req, &mut events);
    // SAFETY: `req` points to `fake_request`, which nothing else borrows now.
    unsafe { request(req) }.phase = Phase::Other;

    if call == NSGI_OK {
        assert!(!body.vtable.is_null(), "call returned NSGI_OK without a body");
        // SAFETY: a successful call returned a valid vtable.
        let vt = unsafe { &*body.vtable };
        let (next, close) = (vt.next.expect("next"), vt.close.expect("close"));
        for _ in 0..MAX_NEXT_CALLS {
            let mut chunk = nsgi_bytes::EMPTY;
            // SAFETY: as above.
            unsafe { request(req) }.phase = Phase::Next;
            // SAFETY: the live body state; the chunk is copied before the next call.
            let rc = unsafe { next(body.state, req, &mut chunk) };
            record_host_calls(req, &mut events);
            // SAFETY: as above.
            let ex = unsafe { request(req) };
            ex.phase = Phase::Other;
            match rc {
                NSGI_OK if chunk.ptr.is_null() && chunk.len > 0 => {
                    events.push(Event::Chunk {
                        null_ptr: true,
                        len: chunk.len,
                    });
                    break; // never read through it
                }
                NSGI_OK => {
                    // Reading the bytes proves the pointer is good for `len` bytes.
                    let len = bytes(chunk).len();
                    if len > 0 {
                        ex.headers_sent = true;
                    }
                    events.push(Event::Chunk { null_ptr: false, len });
                }
                NSGI_DONE => {
                    events.push(Event::Done);
                    break;
                }
                code => {
                    events.push(Event::NextFailed(code));
                    break;
                }
            }
        }
        // SAFETY: close exactly once, after which the state is gone.
        unsafe { close(body.state, req) };
        record_host_calls(req, &mut events);
        events.push(Event::Close);
    } else {
        assert!(body.vtable.is_null(), "a failed call must leave body_out->vtable NULL");
    }

    if let Some(shutdown) = d.shutdown {
        // SAFETY: no request is in flight; the app is not used afterwards.
        unsafe { shutdown(app) };
    }
    Outcome { call, events }
}

// ---- Each app breaks its own rule ----------------------------------------------------------

/// Asserts that `outcome` shows the violation `entry` names.
fn assert_breaks(entry: &Entry, o: &Outcome) {
    let starts = o.start_responses();
    let first_ok = || {
        let (status, headers, exc, result) = starts.first().copied().expect("a start_response call");
        assert!(
            !exc && result == NSGI_OK,
            "the first start_response should succeed: {status:?} {headers:?}"
        );
    };
    // For the refused-start_response apps: a single call, refused, for exactly one reason.
    let single_refused_start = |bad_status: bool, problem: Option<&str>| {
        assert_eq!(starts.len(), 1, "one start_response call");
        let (status, headers, _, result) = starts[0];
        assert_eq!(result, NSGI_E_INVAL, "the host refuses it");
        assert_eq!(
            check_status(status).is_err(),
            bad_status,
            "status {:?}",
            String::from_utf8_lossy(status)
        );
        // The SDK's rule each header breaks, by the name of its `Problem` variant.
        let problems: Vec<String> = headers
            .iter()
            .filter_map(|(n, v)| check_header(n, v).err())
            .map(|p| format!("{p:?}"))
            .collect();
        assert!(
            problems.len() == usize::from(problem.is_some())
                && problems.iter().zip(problem).all(|(seen, name)| seen.starts_with(name)),
            "header problems {problems:?}, expected {problem:?}"
        );
    };
    match entry.check.as_str() {
        "C41" => {
            assert_eq!(o.call, NSGI_OK);
            assert!(starts.is_empty(), "start_response must never be called");
            assert_eq!(o.body_bytes(), 0, "the body is empty, so no chunk gives the bug away");
            assert!(o.events.contains(&Event::Done));
        }
        "C39" => {
            assert_eq!(o.call, NSGI_OK);
            first_ok();
            assert_eq!(starts.len(), 2);
            assert!(
                !starts[1].2 && starts[1].3 == NSGI_E_STATE,
                "second call without exc_info"
            );
            assert_eq!(o.content_length(), Some(o.body_bytes()), "otherwise a correct response");
        }
        "C80" => {
            first_ok();
            let refused = o
                .events
                .iter()
                .position(|e| {
                    matches!(
                        e,
                        Event::Host(HostCall::StartResponse {
                            exc_info: true,
                            result: NSGI_E_HEADERS_SENT,
                            ..
                        })
                    )
                })
                .expect("a start_response with exc_info refused with NSGI_E_HEADERS_SENT");
            let carried_on = o.events[refused..]
                .iter()
                .any(|e| matches!(e, Event::Chunk { len, .. } if *len > 0));
            assert!(carried_on, "the app goes on yielding data afterwards");
        }
        "C84" => {
            assert!(
                matches!(
                    o.events.first(),
                    Some(Event::Host(HostCall::Write {
                        in_next: false,
                        result: NSGI_E_STATE
                    }))
                ),
                "the first thing the app does is a refused write(): {:?}",
                o.events
            );
            assert_eq!(starts.len(), 1);
            first_ok();
        }
        "C85" => {
            first_ok();
            assert!(
                o.events
                    .iter()
                    .any(|e| matches!(e, Event::Host(HostCall::Write { in_next: true, .. }))),
                "write() inside next()"
            );
        }
        "N3" => {
            first_ok();
            assert!(
                o.events
                    .iter()
                    .any(|e| matches!(e, Event::Chunk { null_ptr: true, len, .. } if *len > 0))
            );
        }
        "C44" => single_refused_start(true, None),
        "C52" => single_refused_start(false, Some("HeaderValueControl")),
        "C51" => single_refused_start(false, Some("HeaderNameNotToken")),
        "C53" => single_refused_start(false, Some("HopByHop")),
        "C50" => single_refused_start(false, Some("StatusHeader")),
        "N1" => assert_eq!(o.call, NSGI_E_PANIC, "call panics"),
        "N2" => {
            first_ok();
            assert!(
                o.events.contains(&Event::NextFailed(NSGI_E_PANIC)),
                "next panics: {:?}",
                o.events
            );
        }
        "N4" => {
            first_ok();
            let failed = o.events.iter().find_map(|e| {
                if let Event::NextFailed(code) = e {
                    Some(*code)
                } else {
                    None
                }
            });
            assert!(
                failed.is_some_and(|code| code < 0 && code != NSGI_E_PANIC),
                "next fails without panicking: {:?}",
                o.events
            );
        }
        "C67" => {
            first_ok();
            let declared = o.content_length().expect("a Content-Length");
            assert_ne!(declared, o.body_bytes(), "declared and sent lengths differ");
        }
        "C68" => {
            first_ok();
            let code = &starts[0].0[..3];
            assert!(code == b"204" || code == b"304", "a bodiless status");
            assert!(o.body_bytes() > 0, "body bytes on a bodiless status");
        }
        other => panic!(
            "{}: no behaviour check for {other}; add one to assert_breaks",
            entry.library
        ),
    }
    if o.call == NSGI_OK {
        assert_eq!(o.closes(), 1, "close exactly once");
    }
}

#[test]
fn every_app_breaks_its_own_rule() {
    for entry in manifest() {
        let d = descriptor(&library_path(&entry));
        let outcome = drive(d);
        assert_breaks(&entry, &outcome);
    }
}

#[test]
fn check_ids_are_recognised() {
    for good in ["C1", "C39", "C104", "N1", "N9"] {
        assert!(is_check_id(good), "{good}");
    }
    for bad in ["C0", "C105", "C041", "N0", "N10", "X1", "C", "c39", ""] {
        assert!(!is_check_id(bad), "{bad}");
    }
}
