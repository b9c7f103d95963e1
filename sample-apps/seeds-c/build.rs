//! Builds `seeds.c` into an NSGI app library, `libseeds_c.so`, the way `sample-apps/hello-c`
//! builds `hello.c`: the `cc` crate picks the compiler and the target's flags, the library goes to
//! `$OUT_DIR` (exported to `src/lib.rs` as `NSGI_SEEDS_C_LIBRARY`) and is copied to the profile
//! directory (`target/<profile>/`) next to the other samples.

use std::env;
use std::path::{Path, PathBuf};

/// A position-independent shared library, strict C11, warnings as errors, only the entry point
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
    let source = manifest_dir.join("seeds.c");
    let include = manifest_dir.join("../../abi/include");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    for header in ["nsgi.h", "nsgi_app.h"] {
        println!("cargo:rerun-if-changed={}", include.join(header).display());
    }
    for var in ["CC", "CFLAGS", "TARGET_CC", "TARGET_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let file_name = match env::var("CARGO_CFG_TARGET_OS").as_deref() {
        Ok("macos") | Ok("ios") => "libseeds_c.dylib",
        Ok("windows") => "seeds_c.dll",
        _ => "libseeds_c.so",
    };
    let library = out_dir.join(file_name);

    let tool = cc::Build::new().cargo_metadata(false).get_compiler();
    if tool.is_like_msvc() {
        panic!(
            "seeds-c builds with a GCC- or Clang-compatible C compiler; found MSVC-style `{}`",
            tool.path().display()
        );
    }
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
            "compiling seeds.c failed ({}):\n{:?}\n{}{}",
            output.status,
            cmd,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("cargo:rustc-env=NSGI_SEEDS_C_LIBRARY={}", library.display());

    // OUT_DIR is <profile dir>/build/seeds-c-<hash>/out.
    let profile = out_dir
        .parent()
        .and_then(Path::parent)
        .filter(|build| build.file_name().is_some_and(|n| n == "build"))
        .and_then(Path::parent);
    match profile {
        Some(dir) => copy_atomically(&library, &dir.join(file_name)),
        None => println!(
            "cargo:warning=seeds-c: no profile directory above {}",
            out_dir.display()
        ),
    }
}

/// Copies through a temporary file and a rename, so a running gateway that has the old library
/// mapped never sees it rewritten in place.
fn copy_atomically(from: &Path, to: &Path) {
    let tmp = to.with_extension(format!("tmp{}", std::process::id()));
    let result = std::fs::copy(from, &tmp).and_then(|_| std::fs::rename(&tmp, to));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        println!(
            "cargo:warning=seeds-c: cannot copy the library to {}: {e}",
            to.display()
        );
    }
}
