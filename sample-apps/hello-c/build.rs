//! Builds `hello.c` into a real NSGI app library, `libhello_c.so`, through
//! `sample-apps/c_build.rs` (the compiler the `cc` crate picks for the target, run for a shared
//! library). The library is written to `$OUT_DIR` (its path is
//! exported to `src/lib.rs` as `NSGI_HELLO_C_LIBRARY`) and copied to the profile directory
//! (`target/<profile>/`) next to the Rust samples' libraries, so users find it where they look.

#[path = "../c_build.rs"]
mod c_build;

use c_build::{compile, compiler, copy_atomically, library_file_name, profile_dir};
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = manifest_dir.join("hello.c");
    let include = manifest_dir.join("../../abi/include");
    let header = include.join("nsgi.h");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../c_build.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed={}", header.display());
    for var in ["CC", "CFLAGS", "TARGET_CC", "TARGET_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let file_name = library_file_name("hello_c");
    let library = out_dir.join(&file_name);

    let tool = compiler("hello-c");
    compile(&tool, &include, &source, &library);

    println!("cargo:rustc-env=NSGI_HELLO_C_LIBRARY={}", library.display());

    match profile_dir(&out_dir) {
        Some(dir) => copy_atomically(&library, &dir.join(&file_name), "hello-c"),
        None => println!(
            "cargo:warning=hello-c: cannot find the profile directory above {}; the library is \
             only at {}",
            out_dir.display(),
            library.display()
        ),
    }
}
