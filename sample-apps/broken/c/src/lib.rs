//! `broken-c`: NSGI apps written in C that each break one rule on purpose.
//!
//! They are fixtures for `nsgi-conformance`, which must catch every one of them with its own
//! check id. Each `*.c` file in this package's directory is a complete app written against
//! `nsgi.h` alone; the build script compiles `<name>.c` into `libbroken_c_<name>.so` (in
//! `OUT_DIR`, copied to `target/<profile>/`). The rule each one breaks, and the check that must
//! report it, are listed in `sample-apps/broken/expected.json` and in `docs/conformance.md`.
//!
//! This crate holds no app code: it only tells tests where the libraries are.
//!
//! ```
//! for library in broken_c::LIBRARIES {
//!     assert!(library.source.ends_with(".c"));
//!     assert!(library.path.ends_with(library.file_name));
//! }
//! ```

/// One compiled C app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Library {
    /// The source file, relative to this package, e.g. `start_response_twice.c`.
    pub source: &'static str,
    /// The library's file name, e.g. `libbroken_c_start_response_twice.so`.
    pub file_name: &'static str,
    /// Absolute path of the library built for this build (in the build script's `OUT_DIR`).
    pub path: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/libraries.rs"));

/// The library built from `source` (e.g. `"null_chunk.c"`), if there is such an app.
///
/// ```
/// let library = broken_c::library("null_chunk.c").expect("null_chunk.c is an app");
/// assert!(library.file_name.contains("broken_c_null_chunk"));
/// assert!(broken_c::library("no_such_app.c").is_none());
/// ```
pub fn library(source: &str) -> Option<&'static Library> {
    LIBRARIES.iter().find(|library| library.source == source)
}
