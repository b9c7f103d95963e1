//! `hello-c`: the classic hello app written in C against `nsgi.h` only (`hello.c`).
//!
//! This crate owns no Rust app code: its build script compiles `hello.c` into a shared library
//! (`libhello_c.so`, also copied to `target/<profile>/`), and this library only tells tests where
//! that file is.

/// Absolute path of the `libhello_c.so` built from `hello.c` for this build (in the build
/// script's `OUT_DIR`). Load it with any NSGI host, e.g. `nsgi-gateway`, or `dlopen` it in tests.
pub const LIBRARY_PATH: &str = env!("NSGI_HELLO_C_LIBRARY");
