//! Builds `seeds.c` into an NSGI app library, `libseeds_c.so`, the way `sample-apps/hello-c`
//! builds `hello.c` (both through `sample-apps/c_build.rs`): the `cc` crate picks the compiler and
//! the target's flags, the library goes to `$OUT_DIR` (exported to `src/lib.rs` as
//! `NSGI_SEEDS_C_LIBRARY`) and is copied to the profile directory (`target/<profile>/`) next to
//! the other samples.

#[path = "../c_build.rs"]
mod c_build;

use c_build::{compile, compiler, copy_atomically, library_file_name, profile_dir};
use std::env;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = manifest_dir.join("seeds.c");
    let include = manifest_dir.join("../../abi/include");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../c_build.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    for header in ["nsgi.h", "nsgi_app.h"] {
        println!("cargo:rerun-if-changed={}", include.join(header).display());
    }
    for var in ["CC", "CFLAGS", "TARGET_CC", "TARGET_CFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let file_name = library_file_name("seeds_c");
    let library = out_dir.join(&file_name);
    compile(&compiler("seeds-c"), &include, &source, &library);
    println!("cargo:rustc-env=NSGI_SEEDS_C_LIBRARY={}", library.display());

    match profile_dir(&out_dir) {
        Some(dir) => copy_atomically(&library, &dir.join(&file_name), "seeds-c"),
        None => println!(
            "cargo:warning=seeds-c: no profile directory above {}",
            out_dir.display()
        ),
    }
}
