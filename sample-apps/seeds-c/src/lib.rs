//! `seeds-c`: the tutorials' steps (text, HTML, a greeting from the query or a form, and a 404 for
//! `python-logo.png`) as one C app on `nsgi_app.h` (`seeds.c`, under 100 lines).
//!
//! This crate owns no Rust app code: its build script compiles `seeds.c` into `libseeds_c.so`
//! (also copied to `target/<profile>/`), and this library only tells tests where that file is.

/// Absolute path of the `libseeds_c.so` built from `seeds.c` for this build.
pub const LIBRARY_PATH: &str = env!("NSGI_SEEDS_C_LIBRARY");
