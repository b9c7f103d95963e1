//! Shared by the build scripts of the C samples (`hello-c`, `seeds-c`, `broken/c`), each of which
//! includes this file with `#[path]`: how a C app becomes an NSGI app library. The compiler is the
//! one the `cc` crate picks for the target (honouring `CC`, `CFLAGS` and cross-compilation
//! settings), run directly because `cc::Build::compile` makes static archives, not shared
//! libraries. Never reads or writes anything but the paths it is given.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// How every C app is compiled: a position-independent shared library, strict C11, warnings as
/// errors, and hidden visibility so that only what `NSGI_EXPORT` marks (the entry point) is
/// exported.
pub const C_FLAGS: [&str; 9] = [
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

/// The target's C compiler; `package` names the sample in the refusal of an MSVC-style one.
pub fn compiler(package: &str) -> cc::Tool {
    let tool = cc::Build::new().cargo_metadata(false).get_compiler();
    if tool.is_like_msvc() {
        panic!(
            "{package} builds with a GCC- or Clang-compatible C compiler; found MSVC-style `{}`",
            tool.path().display()
        );
    }
    tool
}

/// Compiles `source` against the headers in `include` into the shared library `library`: the
/// compiler with the target's own flags (e.g. --target, -m64), then [`C_FLAGS`].
pub fn compile(tool: &cc::Tool, include: &Path, source: &Path, library: &Path) {
    let mut cmd = tool.to_command();
    cmd.args(C_FLAGS)
        .arg("-I")
        .arg(include)
        .arg(source)
        .arg("-o")
        .arg(library);
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{}`: {e}", tool.path().display()));
    if !output.status.success() {
        panic!(
            "compiling {} failed ({}):\n{:?}\n{}{}",
            source.display(),
            output.status,
            cmd,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `lib<name>.so`, or the platform's spelling of it.
pub fn library_file_name(name: &str) -> String {
    match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") | Ok("ios") => format!("lib{name}.dylib"),
        Ok("windows") => format!("{name}.dll"),
        _ => format!("lib{name}.so"),
    }
}

/// `target/<profile>` (or `target/<triple>/<profile>`): `OUT_DIR` is
/// `<profile dir>/build/<package>-<hash>/out`.
pub fn profile_dir(out_dir: &Path) -> Option<PathBuf> {
    let build = out_dir.parent()?.parent()?;
    if build.file_name()? != "build" {
        return None;
    }
    build.parent().map(Path::to_path_buf)
}

/// Copies through a temporary file and a rename, so a process that has the old library mapped
/// (a running gateway or checker) keeps a consistent file instead of seeing it rewritten.
pub fn copy_atomically(from: &Path, to: &Path, package: &str) {
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    let result = fs::copy(from, &tmp).and_then(|_| fs::rename(&tmp, to));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        println!(
            "cargo:warning={package}: cannot copy the library to {}: {e}",
            to.display()
        );
    }
}
