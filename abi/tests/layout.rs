//! Pins the layout of the NSGI v1 ABI on both sides of the boundary.
//!
//! - The Rust half asserts, with `size_of` / `offset_of!`, the sizes and field offsets of every
//!   `#[repr(C)]` type in [`nsgi::sys`] and the value of every constant.
//! - The C half is `tests/c/layout.c`: the same numbers as `_Static_assert`s against the
//!   generated `include/nsgi.h`. This test compiles it with the system C compiler (`$CC`, else
//!   `cc`) and fails, showing the compiler's messages, if any assertion does not hold. A missing C
//!   compiler is a failure, not a skip: without it the C view is unverified.
//! - The header alone is also compiled as C99 and, when a C++ compiler (`$CXX`, `c++` or `g++`)
//!   exists, as C++ to prove its `extern "C"` guards.
//!
//! The numeric tables are for 64-bit targets; other targets check only what holds everywhere.

use core::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use nsgi::sys::*;

fn abi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Rust half
// ---------------------------------------------------------------------------------------------

#[test]
fn constants_have_their_fixed_values() {
    assert_eq!(NSGI_ABI_MAJOR, 1);
    assert_eq!(NSGI_ABI_MINOR, 0);
    assert_eq!(NSGI_APP_MAGIC, 0x4947_534E);
    assert_eq!(&NSGI_APP_MAGIC.to_le_bytes(), b"NSGI");
    assert_eq!(NSGI_ENTRY_SYMBOL_V1, "nsgi_app_entry_v1");

    let codes: [(nsgi_status, i32); 14] = [
        (NSGI_OK, 0),
        (NSGI_DONE, 1),
        (NSGI_E_INVAL, -1),
        (NSGI_E_STATE, -2),
        (NSGI_E_HEADERS_SENT, -3),
        (NSGI_E_IO, -4),
        (NSGI_E_NOMEM, -5),
        (NSGI_E_NOT_FOUND, -6),
        (NSGI_E_UNSUPPORTED, -7),
        (NSGI_E_TOO_LARGE, -8),
        (NSGI_E_PANIC, -9),
        (NSGI_E_APP, -10),
        (NSGI_E_INTERNAL, -11),
        (NSGI_E_RESERVED_MIN, -999),
    ];
    for (i, (code, want)) in codes.iter().enumerate() {
        assert_eq!(code, want, "status code #{i}");
    }

    assert_eq!(NSGI_APP_THREAD_SAFE, 1);
    assert_eq!(NSGI_APP_PANIC_ABORT, 2);
    assert_eq!(NSGI_ENV_MULTITHREAD, 1);
    assert_eq!(NSGI_ENV_MULTIPROCESS, 2);
    assert_eq!(NSGI_ENV_RUN_ONCE, 4);
    assert_eq!(NSGI_NO_LENGTH, u64::MAX);
    assert_eq!(NSGI_FILE_TO_EOF, u64::MAX);
    assert_eq!(NSGI_FILE_TAKE_FD, 1);

    assert_eq!(NSGI_LOG_ERROR, 1);
    assert_eq!(NSGI_LOG_WARN, 2);
    assert_eq!(NSGI_LOG_INFO, 3);
    assert_eq!(NSGI_LOG_DEBUG, 4);
    assert_eq!(NSGI_LOG_TRACE, 5);
}

#[test]
#[cfg_attr(miri, ignore = "reads the header or runs a C compiler")]
fn entry_symbol_matches_the_header() {
    let header = std::fs::read_to_string(abi_dir().join("include/nsgi.h")).expect("read nsgi.h");
    let want = format!("#define NSGI_ENTRY_SYMBOL_V1 \"{NSGI_ENTRY_SYMBOL_V1}\"");
    assert!(header.lines().any(|l| l == want), "nsgi.h lacks `{want}`");
    let prototype = format!("const nsgi_app_descriptor *{NSGI_ENTRY_SYMBOL_V1}(void);");
    assert!(header.contains(&prototype), "nsgi.h lacks `{prototype}`");
}

/// The header spells every `Option<nsgi_*_fn>` field as the bare C typedef (see
/// `tests/header.rs`). That is sound only if the fields really have exactly these types and
/// `None` is the NULL pointer; this function does not compile otherwise.
#[allow(dead_code)]
fn function_fields_have_the_typedef_types(v: &nsgi_body_vtable, h: &nsgi_host_api, d: &nsgi_app_descriptor) {
    let _: Option<nsgi_body_next_fn> = v.next;
    let _: Option<nsgi_body_close_fn> = v.close;
    let _: Option<nsgi_log_fn> = h.log;
    let _: Option<nsgi_environ_get_fn> = h.environ_get;
    let _: Option<nsgi_input_read_fn> = h.input_read;
    let _: Option<nsgi_input_readline_fn> = h.input_readline;
    let _: Option<nsgi_errors_write_fn> = h.errors_write;
    let _: Option<nsgi_errors_flush_fn> = h.errors_flush;
    let _: Option<nsgi_start_response_fn> = h.start_response;
    let _: Option<nsgi_write_fn> = h.write;
    let _: Option<nsgi_file_body_fn> = h.file_body;
    let _: Option<nsgi_get_extension_fn> = h.get_extension;
    let _: Option<nsgi_app_init_fn> = d.init;
    let _: Option<nsgi_app_call_fn> = d.call;
    let _: Option<nsgi_app_shutdown_fn> = d.shutdown;
}

#[test]
fn optional_function_pointers_are_nullable_pointers() {
    const P: usize = size_of::<usize>();
    assert_eq!(size_of::<Option<nsgi_body_next_fn>>(), P);
    assert_eq!(size_of::<Option<nsgi_app_entry_fn>>(), P);
    let none: Option<nsgi_log_fn> = None;
    // SAFETY: `Option<extern fn>` is guaranteed to have the layout of a nullable pointer.
    let raw: usize = unsafe { core::mem::transmute(none) };
    assert_eq!(raw, 0);
}

#[test]
fn layout_independent_of_pointer_width() {
    const P: usize = size_of::<usize>();
    assert_eq!(size_of::<nsgi_status>(), 4);
    assert_eq!(size_of::<nsgi_bytes>(), 2 * P);
    assert_eq!(size_of::<nsgi_header>(), 2 * size_of::<nsgi_bytes>());
    assert_eq!(size_of::<nsgi_body>(), 2 * P);
    assert_eq!(offset_of!(nsgi_environ, struct_size), 0);
    assert_eq!(offset_of!(nsgi_exc_info, struct_size), 0);
    assert_eq!(offset_of!(nsgi_body_vtable, struct_size), 0);
    assert_eq!(offset_of!(nsgi_init_args, struct_size), 0);
    assert_eq!(offset_of!(nsgi_host_api, struct_size), 0);
    assert_eq!(offset_of!(nsgi_app_descriptor, magic), 0);
    assert_eq!(offset_of!(nsgi_app_descriptor, abi_major), 4);
    assert_eq!(offset_of!(nsgi_app_descriptor, abi_minor), 6);
    assert_eq!(offset_of!(nsgi_app_descriptor, struct_size), 8);
    assert_eq!(align_of::<nsgi_bytes>(), P);

    // The v1.0 sizes the host checks against are the sizes of the v1.0 structs.
    assert_eq!(NSGI_APP_DESCRIPTOR_V1_0_SIZE as usize, size_of::<nsgi_app_descriptor>());
    assert_eq!(NSGI_HOST_API_V1_0_SIZE as usize, size_of::<nsgi_host_api>());
    assert_eq!(NSGI_ENVIRON_V1_0_SIZE as usize, size_of::<nsgi_environ>());
    assert_eq!(NSGI_BODY_VTABLE_V1_0_SIZE as usize, size_of::<nsgi_body_vtable>());
    assert_eq!(NSGI_EXC_INFO_V1_0_SIZE as usize, size_of::<nsgi_exc_info>());
    assert_eq!(NSGI_INIT_ARGS_V1_0_SIZE as usize, size_of::<nsgi_init_args>());
}

/// The same table as the `#if UINTPTR_MAX == 0xffffffffffffffff` block of `tests/c/layout.c`.
#[cfg(target_pointer_width = "64")]
#[test]
fn layout_on_64_bit_targets() {
    macro_rules! pin {
        ($t:ty, size $size:expr; $($field:ident @ $off:expr),* $(,)?) => {{
            assert_eq!(size_of::<$t>(), $size, "sizeof({})", stringify!($t));
            $(assert_eq!(
                offset_of!($t, $field), $off,
                "offsetof({}, {})", stringify!($t), stringify!($field)
            );)*
        }};
    }

    pin!(nsgi_bytes, size 16; ptr @ 0, len @ 8);
    pin!(nsgi_header, size 32; name @ 0, value @ 16);
    pin!(nsgi_environ, size 48;
        struct_size @ 0, flags @ 4, vars @ 8, n_vars @ 16, url_scheme @ 24, content_length @ 40);
    pin!(nsgi_exc_info, size 40; struct_size @ 0, code @ 4, type_name @ 8, message @ 24);
    pin!(nsgi_body_vtable, size 24; struct_size @ 0, next @ 8, close @ 16);
    pin!(nsgi_body, size 16; vtable @ 0, state @ 8);
    pin!(nsgi_init_args, size 80;
        struct_size @ 0, flags @ 4, mount_name @ 8, script_name @ 24, config @ 40,
        options @ 56, n_options @ 64, max_concurrency @ 72);
    pin!(nsgi_host_api, size 96;
        struct_size @ 0, abi_major @ 4, abi_minor @ 6, host_data @ 8, log @ 16,
        environ_get @ 24, input_read @ 32, input_readline @ 40, errors_write @ 48,
        errors_flush @ 56, start_response @ 64, write @ 72, file_body @ 80,
        get_extension @ 88);
    pin!(nsgi_app_descriptor, size 72;
        magic @ 0, abi_major @ 4, abi_minor @ 6, struct_size @ 8, flags @ 12, name @ 16,
        sdk_info @ 32, init @ 48, call @ 56, shutdown @ 64);
}

// ---------------------------------------------------------------------------------------------
// C half
// ---------------------------------------------------------------------------------------------

/// A compiler command from an environment variable (`CC="ccache gcc"` is split on whitespace) or
/// the first of `fallbacks` that runs.
fn compiler(var: &str, fallbacks: &[&str]) -> Option<Vec<String>> {
    if let Ok(value) = std::env::var(var) {
        let words: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
        if !words.is_empty() {
            return Some(words);
        }
    }
    fallbacks
        .iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|name| vec![(*name).to_owned()])
}

fn c_compiler() -> Vec<String> {
    compiler("CC", &["cc"]).unwrap_or_else(|| {
        panic!(
            "no C compiler found: set CC or install `cc` (e.g. `apt-get install gcc`). The C view of \
             the ABI (include/nsgi.h, tests/c/layout.c) cannot be verified without one."
        )
    })
}

/// Runs `cmd args...` and panics with the compiler's output if it fails.
fn run_compiler(cmd: &[String], args: &[&str], what: &str) {
    let (program, pre) = cmd.split_first().expect("compiler command is not empty");
    let output = Command::new(program)
        .args(pre)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}` for {what}: {e} (a C compiler is required: set CC)"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n$ {} {}\n--- stderr ---\n{}\n--- stdout ---\n{}",
        output.status,
        cmd.join(" "),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout),
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("the workspace path is valid UTF-8")
}

const STRICT: [&str; 4] = ["-Wall", "-Wextra", "-Werror", "-pedantic"];

#[test]
#[cfg_attr(miri, ignore = "reads the header or runs a C compiler")]
fn c_layout_asserts_hold() {
    let cc = c_compiler();
    let include = abi_dir().join("include");
    let layout_c = abi_dir().join("tests/c/layout.c");
    let mut args = vec!["-std=c11"];
    args.extend(STRICT);
    args.extend(["-fsyntax-only", "-I", path_str(&include), path_str(&layout_c)]);
    run_compiler(&cc, &args, "compiling tests/c/layout.c");
}

#[test]
#[cfg_attr(miri, ignore = "reads the header or runs a C compiler")]
fn c_nsgi_has_works_at_run_time() {
    let cc = c_compiler();
    let include = abi_dir().join("include");
    let layout_c = abi_dir().join("tests/c/layout.c");
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nsgi_layout_has");
    let mut args = vec!["-std=c11"];
    args.extend(STRICT);
    args.extend(["-DNSGI_LAYOUT_MAIN", "-I", path_str(&include), path_str(&layout_c)]);
    args.extend(["-o", path_str(&exe)]);
    run_compiler(&cc, &args, "building tests/c/layout.c with -DNSGI_LAYOUT_MAIN");
    let status = Command::new(&exe).status().expect("run the layout program");
    assert!(status.success(), "NSGI_HAS checks in tests/c/layout.c failed: {status}");
}

#[test]
#[cfg_attr(miri, ignore = "reads the header or runs a C compiler")]
fn header_alone_compiles_as_c99() {
    let cc = c_compiler();
    let header = abi_dir().join("include/nsgi.h");
    let mut args = vec!["-x", "c", "-std=c99"];
    args.extend(STRICT);
    args.extend(["-fsyntax-only", path_str(&header)]);
    run_compiler(&cc, &args, "compiling include/nsgi.h as C99");
}

#[test]
#[cfg_attr(miri, ignore = "reads the header or runs a C compiler")]
fn header_alone_compiles_as_cxx() {
    let Some(cxx) = compiler("CXX", &["c++", "g++", "clang++"]) else {
        eprintln!("note: no C++ compiler (CXX, c++, g++, clang++); C++ check of nsgi.h skipped");
        return;
    };
    let header = abi_dir().join("include/nsgi.h");
    let mut args = vec!["-x", "c++", "-std=c++11"];
    args.extend(STRICT);
    args.extend(["-fsyntax-only", path_str(&header)]);
    run_compiler(&cxx, &args, "compiling include/nsgi.h as C++");
}
