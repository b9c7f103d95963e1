//! `include/nsgi_app.h`, the C helpers, checked three ways:
//! - `tests/c/app_helpers_unit.c` calls every helper with hostile inputs (bad escapes, buffers one
//!   byte short, 100 000 pairs, NULLs) and exits non-zero on a failed check; it is compiled as
//!   C99 and C11 with `-Wall -Wextra -Werror -pedantic` and run;
//! - the header alone compiles as C++ (when a C++ compiler exists), proving its `extern "C"`;
//! - `tests/c/app_helpers.c`, an app whose every response goes through a helper, is served by a
//!   real `nsgi-gateway` and spoken to over HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;

use nsgi_testkit::{Gateway, build_packages, compile_c_app};

fn abi_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn c_compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Runs a compiler and panics with its messages when it fails.
fn compile(program: &str, args: &[&str], what: &str) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} for {what} (a C compiler is required: set CC): {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n$ {program} {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn c_helpers_pass_their_unit_checks_as_c99_and_c11() {
    let include = abi_dir().join("include");
    let source = abi_dir().join("tests/c/app_helpers_unit.c");
    for std in ["-std=c99", "-std=c11"] {
        let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("nsgi_app_helpers_unit{std}"));
        let args = [
            std,
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-I",
            include.to_str().expect("UTF-8 path"),
            source.to_str().expect("UTF-8 path"),
            "-o",
            exe.to_str().expect("UTF-8 path"),
        ];
        compile(&c_compiler(), &args, "compiling tests/c/app_helpers_unit.c");
        let output = Command::new(&exe).output().expect("run the unit checks");
        assert!(
            output.status.success(),
            "nsgi_app.h unit checks failed ({std}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("all checks passed"));
    }
}

#[test]
fn c_helpers_header_compiles_as_cxx() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned());
    if Command::new(&cxx).arg("--version").output().is_err() {
        eprintln!("note: no C++ compiler ({cxx}); the C++ check of nsgi_app.h is skipped");
        return;
    }
    let include = abi_dir().join("include");
    let header = include.join("nsgi_app.h");
    let args = [
        "-x",
        "c++",
        "-std=c++11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-fsyntax-only",
        "-I",
        include.to_str().expect("UTF-8 path"),
        header.to_str().expect("UTF-8 path"),
    ];
    compile(&cxx, &args, "compiling include/nsgi_app.h as C++");
}

fn gateway_binary() -> PathBuf {
    build_packages(&["nsgi-gateway"]).join("nsgi-gateway")
}

fn get(gateway: &Gateway, target: &str) -> nsgi_testkit::Response {
    gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

#[test]
fn a_c_app_built_on_the_helpers_serves_through_the_gateway() {
    let library = compile_c_app("app_helpers", &abi_dir().join("tests/c/app_helpers.c"));
    let gateway = Gateway::start(&gateway_binary(), [&library]);

    let hello = get(&gateway, "/hello");
    assert_eq!(hello.status, 200);
    assert_eq!(hello.header("Content-Length"), Some("13"));
    assert_eq!(hello.body, b"Hello, World!");

    let greet = get(&gateway, "/greet?x=1&name=%3Cb%3EAda+L%C3%B6w%3C/b%3E");
    assert_eq!(greet.status, 200);
    assert_eq!(greet.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(greet.text(), "<p>Hello, &lt;b&gt;Ada Löw&lt;/b&gt;!</p>");
    assert_eq!(
        greet.header("Content-Length"),
        Some(greet.body.len().to_string().as_str())
    );
    assert_eq!(get(&gateway, "/greet").text(), "<p>Hello, world!</p>");
    assert_eq!(get(&gateway, "/greet?name=%zz%4").text(), "<p>Hello, %zz%4!</p>");
    let long = format!("/greet?name={}", "x".repeat(64));
    let too_long = get(&gateway, &long);
    assert_eq!((too_long.status, too_long.text().as_str()), (400, "name too long\n"));

    assert_eq!(get(&gateway, "/tags?tag=a&other=0&tag=b+c&tag=").text(), "a,b c,");

    let post = |body: &str| {
        gateway.request(
            format!(
                "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let echoed = post("a=1&msg=caf%C3%A9+%26+cr%C3%A8me");
    assert_eq!((echoed.status, echoed.text().as_str()), (200, "café & crème"));
    let big = format!("msg={}", "y".repeat(200));
    assert_eq!(post(&big).status, 413);
    assert_eq!(post("nothing=here").status, 400);

    let redirect = get(&gateway, "/redirect");
    assert_eq!(redirect.status, 303);
    assert_eq!(redirect.header("Location"), Some("/hello?from=<redirect>"));
    assert_eq!(redirect.header("Set-Cookie"), Some("seen=1"));
    assert!(
        redirect.text().contains("href=\"/hello?from=&lt;redirect&gt;\""),
        "{}",
        redirect.text()
    );
    assert_eq!(
        redirect.header("Content-Length"),
        Some(redirect.body.len().to_string().as_str())
    );

    let owned = get(&gateway, "/owned");
    assert_eq!((owned.status, owned.body.as_slice()), (200, &b"owned"[..]));
    assert_eq!(get(&gateway, "/double-length").text(), "refused\n");
    assert_eq!(get(&gateway, "/nowhere").status, 404);
    let log = gateway.stderr();
    assert!(!log.contains("violation"), "the helpers broke an ABI rule:\n{log}");
}
