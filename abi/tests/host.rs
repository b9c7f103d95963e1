//! The host SDK against real shared libraries written in C against `nsgi.h` alone: every load
//! refusal names its cause, and the exchange enforces the PEP 3333 rules at run time.

use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, LoadError, RequestSlot, Step, Violation};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `tests/c/<source>` with `defines` into a shared library named `name`.
fn compile(source: &str, name: &str, defines: &[&str]) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = std::env::current_exe().expect("current_exe");
    let out_dir = exe.parent().expect("deps dir").join("nsgi-host-test-libs");
    std::fs::create_dir_all(&out_dir).expect("create output dir");
    let output = out_dir.join(format!("lib{name}.so"));
    // Parallel tests may compile the same library: write a private file, then rename it into place.
    let partial = out_dir.join(format!(".lib{name}.so.{:?}", std::thread::current().id()));
    let compiler = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let result = Command::new(&compiler)
        .args(["-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra", "-Werror"])
        // Each variant uses only some of the fixture's functions.
        .args(["-Wno-unused-function", "-Wno-unused-const-variable"])
        .args(defines.iter().map(|d| format!("-D{d}")))
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(manifest.join("tests/c").join(source))
        .arg("-o")
        .arg(&partial)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {compiler:?}: {e}"));
    assert!(
        result.status.success(),
        "compiling {source} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::rename(&partial, &output).expect("move the compiled library into place");
    output
}

fn load_variant(variant: &str) -> Result<AppModule, LoadError> {
    let name = format!("handshake_{}", variant.to_ascii_lowercase());
    AppModule::load(compile("handshake.c", &name, &[&format!("VARIANT_{variant}")]))
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn a_good_library_loads_with_any_minor() {
    let module = load_variant("GOOD").expect("a good library loads");
    assert_eq!(module.name(), "fixture");
    assert_eq!(module.sdk_info(), "C");
    assert_eq!(module.abi_minor(), 3, "a newer minor of the same major is accepted");
    assert!(!module.thread_safe());
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn each_refusal_names_its_cause() {
    let missing = AppModule::load("/nonexistent/libapp.so").expect_err("missing file");
    assert!(matches!(missing, LoadError::NotFound(_)));
    assert_eq!(missing.to_string(), "/nonexistent/libapp.so: no such file");

    let not_a_library = AppModule::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect_err("text");
    assert!(
        matches!(not_a_library, LoadError::NotALibrary { .. }),
        "{not_a_library}"
    );
    assert!(
        not_a_library.to_string().contains("not a loadable shared library"),
        "{not_a_library}"
    );

    let cases: [(&str, &str); 7] = [
        ("NO_ENTRY", "does not export the entry symbol `nsgi_app_entry_v1`"),
        ("V2_ONLY", "built for NSGI ABI 2, this host speaks ABI 1"),
        ("WRONG_MAJOR", "built for NSGI ABI 2, this host speaks ABI 1"),
        ("BAD_MAGIC", "magic is 0x12345678, expected 0x4947534e"),
        ("NULL_DESCRIPTOR", "returned NULL instead of a descriptor"),
        ("TOO_SMALL", "app descriptor is 16 bytes"),
        ("NO_CALL", "has no `call` function"),
    ];
    for (variant, expected) in cases {
        let error = load_variant(variant).expect_err(variant);
        let message = error.to_string();
        assert!(message.contains(expected), "{variant}: {message}");
        assert!(
            message.contains(&format!("libhandshake_{}.so", variant.to_ascii_lowercase())),
            "{message}"
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn a_failing_init_says_why() {
    let module = load_variant("INIT_FAILS").expect("loads");
    let error = AppInstance::init(&module, &InitOptions::default())
        .err()
        .expect("init fails");
    assert_eq!(error.status, nsgi::sys::NSGI_E_APP);
    let message = error.to_string();
    assert!(
        message.contains("app init failed (-10): missing setting `db_url` in the app config"),
        "{message}"
    );
}

/// A response pulled to the end: status line, headers, body, and the violations recorded.
struct Outcome {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    failure: Option<String>,
    violations: Vec<Violation>,
}

/// The scenarios app, compiled once per test process and shared by the tests that keep no count.
fn scenarios() -> AppInstance {
    static LIBRARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let library = LIBRARY.get_or_init(|| compile("scenarios.c", "scenarios", &[]));
    let module = AppModule::load(library).expect("scenarios loads");
    AppInstance::init(&module, &InitOptions::default()).expect("init")
}

/// A private copy of the scenarios app: its global counters see only the calling test, not the
/// tests running beside it on other threads (the dynamic loader shares one copy per path).
fn private_scenarios(name: &str) -> AppInstance {
    let module = AppModule::load(compile("scenarios.c", name, &[])).expect("scenarios loads");
    AppInstance::init(&module, &InitOptions::default()).expect("init")
}

fn run(app: &AppInstance, path: &str, input: &[u8]) -> Outcome {
    let mut slot = RequestSlot::new();
    let mut environ = Environ::new();
    environ.push(b"REQUEST_METHOD", b"GET");
    environ.push(b"PATH_INFO", path.as_bytes());
    let mut input = input;
    let mut errors = Vec::new();
    let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    let mut outcome = Outcome {
        status: String::new(),
        headers: Vec::new(),
        body: Vec::new(),
        failure: None,
        violations: Vec::new(),
    };
    loop {
        match exchange.next_step() {
            Ok(Step::Head { head, data, end }) => {
                outcome.status = head.status_str().into_owned();
                outcome.headers = head
                    .headers()
                    .map(|(n, v)| {
                        (
                            String::from_utf8_lossy(n).into_owned(),
                            String::from_utf8_lossy(v).into_owned(),
                        )
                    })
                    .collect();
                outcome.body.extend_from_slice(data);
                if end {
                    break;
                }
            }
            Ok(Step::Data(data)) => outcome.body.extend_from_slice(data),
            Ok(Step::End) => break,
            Err(failure) => {
                outcome.failure = Some(failure.to_string());
                break;
            }
        }
    }
    outcome.violations = exchange.violations().to_vec();
    outcome
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn plain_response_and_write_before_iteration() {
    let app = scenarios();
    let plain = run(&app, "/", b"");
    assert_eq!(
        (plain.status.as_str(), plain.body.as_slice()),
        ("200 OK", &b"plain"[..])
    );
    assert_eq!(plain.headers, [("Content-Type".to_owned(), "text/plain".to_owned())]);
    assert!(plain.violations.is_empty());

    let written = run(&app, "/write", b"");
    assert_eq!(written.body, b"written plain", "write() output precedes the iterable's");
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn start_response_may_come_lazily_from_the_first_next() {
    let lazy = run(&scenarios(), "/lazy", b"");
    assert_eq!(
        (lazy.status.as_str(), lazy.body.as_slice()),
        ("201 Created", &b"lazy"[..])
    );
    assert!(lazy.failure.is_none());
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn empty_chunks_are_skipped() {
    let outcome = run(&scenarios(), "/empty-chunks", b"");
    assert_eq!(outcome.body, b"after empties");
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn exc_info_before_headers_replaces_the_response() {
    let outcome = run(&scenarios(), "/exc-before", b"");
    assert_eq!(outcome.status, "503 Service Unavailable");
    assert_eq!(outcome.body, b"plain");
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn exc_info_after_headers_aborts_the_response() {
    let outcome = run(&scenarios(), "/exc-after", b"");
    assert_eq!(outcome.status, "200 OK");
    assert_eq!(outcome.body, b"partial");
    let failure = outcome.failure.expect("the response is aborted");
    assert!(
        failure.contains("aborted the response after its headers were sent"),
        "{failure}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn content_length_stops_the_body_and_excess_is_a_warning() {
    let outcome = run(&scenarios(), "/long", b"");
    assert_eq!(outcome.body, b"012345678901234", "exactly Content-Length bytes");
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.violations, [Violation::BodyTooLong { declared: 15 }]);
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn close_runs_exactly_once_on_every_path() {
    let app = private_scenarios("scenarios_close_count");
    let closes = |app: &AppInstance| -> usize {
        let outcome = run(app, "/closes", b"");
        String::from_utf8_lossy(&outcome.body)
            .trim_end_matches("plain")
            .parse()
            .expect("a count")
    };
    let before = closes(&app); // this request's own body is closed after its count was taken
    // Early stop: take the head and one chunk, then drop the exchange (a client disconnect).
    {
        let mut slot = RequestSlot::new();
        let mut environ = Environ::new();
        environ.push(b"PATH_INFO", b"/many");
        let mut input: &[u8] = b"";
        let mut errors = Vec::new();
        let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
        assert!(matches!(exchange.next_step(), Ok(Step::Head { .. })));
    }
    run(&app, "/exc-after", b""); // error path
    run(&app, "/", b""); // normal end
    assert_eq!(
        closes(&app),
        before + 1 + 3,
        "the previous /closes body, the early stop, the error, the normal end"
    );
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn input_is_read_and_readline_respects_its_cap() {
    let app = scenarios();
    let echoed = run(&app, "/input", b"request body bytes");
    assert_eq!(echoed.body, b"request body bytesplain");
    let lines = run(&app, "/lines", b"ab\ncdefg\nh");
    // readline(4) returns at most 4 bytes, stopping after a newline.
    assert_eq!(lines.body, b"ab\ncdefg\nh");
    assert!(lines.failure.is_none());
}

#[test]
#[cfg_attr(miri, ignore = "compiles C and loads it with dlopen")]
fn errors_stream_reaches_the_host_writer() {
    let app = scenarios();
    let mut slot = RequestSlot::new();
    let mut environ = Environ::new();
    environ.push(b"PATH_INFO", b"/errors");
    let mut input: &[u8] = b"";
    let mut errors = Vec::new();
    let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
    while let Ok(step) = exchange.next_step() {
        if matches!(step, Step::End | Step::Head { end: true, .. }) {
            break;
        }
    }
    drop(exchange);
    assert_eq!(errors, b"first line\nsecond line\n");
}
