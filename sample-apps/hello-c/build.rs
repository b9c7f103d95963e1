//! Builds `hello.c` into a real NSGI app library, `libhello_c.so`.
//!
//! The C compiler is the one the `cc` crate picks for the target (honouring `CC`, `CFLAGS` and
//! cross-compilation settings), but it is run here directly because `cc::Build::compile` makes
//! static archives, not shared libraries. The library is written to `$OUT_DIR` (its path is
//! exported to `src/lib.rs` as `NSGI_HELLO_C_LIBRARY`) and copied to the profile directory
//! (`target/<profile>/`) next to the Rust samples' libraries, so users find it where they look.

use std::env;
use std::path::{Path, PathBuf};

/// How `hello.c` is compiled: a position-independent shared library, strict C11, warnings as
/// errors, and hidden visibility so that only what `NSGI_EXPORT` marks (the entry point) is
/// exported.
const C_FLAGS: [&str; 9] = [
    "-shared",
    "-fPIC",
    "-std=c11",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-fvisibility=hidden",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = manifest_dir.join("hello.c");
    let include = manifest_dir.join("../../abi/include");
    let header = include.join("nsgi.h");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", header.display());
    for var in ["CC", "CFLAGS", "TARGET_CC", "TARGET_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let file_name = library_file_name();
    let library = out_dir.join(&file_name);

    let tool = cc::Build::new().cargo_metadata(false).get_compiler();
    if tool.is_like_msvc() {
        panic!(
            "hello-c builds with a GCC- or Clang-compatible C compiler; found MSVC-style `{}`",
            tool.path().display()
        );
    }
    // The compiler with the target's own flags (e.g. --target, -m64), then ours.
    let mut cmd = tool.to_command();
    cmd.args(C_FLAGS)
        .arg("-I")
        .arg(&include)
        .arg(&source)
        .arg("-o")
        .arg(&library);
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{}`: {e}", tool.path().display()));
    if !output.status.success() {
        panic!(
            "compiling hello.c failed ({}):\n{:?}\n{}{}",
            output.status,
            cmd,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    println!("cargo:rustc-env=NSGI_HELLO_C_LIBRARY={}", library.display());

    match profile_dir(&out_dir) {
        Some(dir) => copy_atomically(&library, &dir.join(&file_name)),
        None => println!(
            "cargo:warning=hello-c: cannot find the profile directory above {}; the library is \
             only at {}",
            out_dir.display(),
            library.display()
        ),
    }
}

/// `libhello_c.so`, or the platform's spelling of it.
fn library_file_name() -> String {
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") | Ok("ios") => "libhello_c.dylib".to_owned(),
        Ok("windows") => "hello_c.dll".to_owned(),
        _ => "libhello_c.so".to_owned(),
    }
}

/// `target/<profile>` (or `target/<triple>/<profile>`): `OUT_DIR` is
/// `<profile dir>/build/hello-c-<hash>/out`.
fn profile_dir(out_dir: &Path) -> Option<PathBuf> {
    let build = out_dir.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent().map(Path::to_path_buf)
}

/// Copies through a temporary file and a rename, so a process that has the old library mapped
/// (a running gateway) keeps a consistent file instead of seeing it rewritten under its feet.
fn copy_atomically(from: &Path, to: &Path) {
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    let result = std::fs::copy(from, &tmp).and_then(|_| std::fs::rename(&tmp, to));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        println!(
            "cargo:warning=hello-c: cannot copy the library to {}: {e}",
            to.display()
        );
    }
}
