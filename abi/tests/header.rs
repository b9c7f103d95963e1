//! Keeps the committed C header `abi/include/nsgi.h` in step with `abi/src/sys.rs`.
//!
//! The test regenerates the header in memory with cbindgen (configured by `abi/cbindgen.toml`,
//! parsing `src/sys.rs` alone so it does not depend on the rest of the crate) and compares it
//! with the committed file. When they differ it fails, shows the first differing lines and says
//! how to regenerate. With `NSGI_BLESS=1` in the environment it writes the file instead:
//!
//! ```text
//! NSGI_BLESS=1 cargo test -p nsgi-sdk --test header
//! ```
//!
//! cbindgen is fed a *C view* of `sys.rs` made by [`c_view_of_sys`], which applies two textual
//! rules and nothing else:
//! 1. a field typed `Option<nsgi_*_fn>` becomes `nsgi_*_fn`. cbindgen understands
//!    `Option<extern "C" fn(..)>` but not `Option` of a *named* function-pointer type, for which
//!    it would emit an undefined `struct Option_nsgi_*_fn`; in C every function pointer is
//!    nullable, so the typedef itself is the exact C spelling of the Rust field;
//! 2. rustdoc intra-doc links ``[`NSGI_OK`]`` / ``[`nsgi_environ::content_length`]`` become plain
//!    code spans (`` `NSGI_OK` `` / `` `nsgi_environ.content_length` ``) in the C comments.
//!
//! Both rules keep `sys.rs` the single source of truth: the Rust types are unchanged, and the
//! layout test (`tests/layout.rs` with `tests/c/layout.c`) pins that both views agree. A further
//! test checks that every type and constant of `sys.rs` reaches the header.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many differing lines (with a little context) to show on mismatch.
const MAX_DIFF_LINES: usize = 40;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The C view of `sys.rs` that cbindgen parses (see the module documentation for the two rules).
fn c_view_of_sys(src: &str) -> String {
    let unwrapped = unwrap_optional_fn_typedefs(src);
    plain_doc_links(&unwrapped)
}

/// Rule 1: `Option<nsgi_xxx_fn>` → `nsgi_xxx_fn`.
fn unwrap_optional_fn_typedefs(src: &str) -> String {
    const OPEN: &str = "Option<nsgi_";
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + "Option<".len()..];
        let ident_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let ident = &after[..ident_len];
        if ident.ends_with("_fn") && after[ident_len..].starts_with('>') {
            out.push_str(ident);
            rest = &after[ident_len + 1..];
        } else {
            out.push_str(OPEN);
            rest = &rest[at + OPEN.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// Rule 2: ``[`a::b`]`` → `` `a.b` `` (only links whose target is a plain path).
fn plain_doc_links(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find("[`") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find("`]") {
            Some(end)
                if after[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') =>
            {
                out.push('`');
                out.push_str(&after[..end].replace("::", "."));
                out.push('`');
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("[`");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Runs cbindgen over the C view of `src/sys.rs` with `cbindgen.toml` and returns the header.
fn generate(root: &Path) -> String {
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .expect("abi/cbindgen.toml should be a valid cbindgen configuration");
    let sys = std::fs::read_to_string(root.join("src/sys.rs")).expect("read abi/src/sys.rs");
    // cbindgen parses files, not strings: write the C view to this test's scratch directory,
    // under a name of its own (tests run in parallel, and several may generate at once).
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let view =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("nsgi_sys_c_view_{}_{n}.rs", std::process::id()));
    std::fs::write(&view, c_view_of_sys(&sys)).expect("write the C view of sys.rs");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(&view)
        .generate()
        .expect("cbindgen should generate bindings from abi/src/sys.rs");
    let _ = std::fs::remove_file(&view);
    let mut out = Vec::new();
    bindings.write(&mut out);
    let header = String::from_utf8(out).expect("cbindgen output should be UTF-8");
    // Anything cbindgen could not translate shows up as an opaque `Option_*` struct: refuse it
    // rather than commit a header that does not compile.
    assert!(
        !header.contains("Option_"),
        "cbindgen emitted an untranslated Option type; extend c_view_of_sys:\n{header}"
    );
    header
}

/// A short line diff: the first region where the two texts differ, with a few lines of context,
/// in a unified-diff-like format (`-` committed, `+` generated).
fn first_differences(committed: &str, generated: &str) -> String {
    let old: Vec<&str> = committed.lines().collect();
    let new: Vec<&str> = generated.lines().collect();

    // Skip the common prefix and the common suffix; what is left is the changed region.
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count();

    let context = 3;
    let start = prefix.saturating_sub(context);
    let mut out = format!(
        "@@ line {} (committed has {} lines, generated has {}) @@\n",
        prefix + 1,
        old.len(),
        new.len()
    );
    let mut shown = 0;
    for line in &old[start..prefix] {
        out.push_str(&format!(" {line}\n"));
    }
    for line in &old[prefix..old.len() - suffix] {
        if shown == MAX_DIFF_LINES {
            break;
        }
        out.push_str(&format!("-{line}\n"));
        shown += 1;
    }
    for line in &new[prefix..new.len() - suffix] {
        if shown == 2 * MAX_DIFF_LINES {
            break;
        }
        out.push_str(&format!("+{line}\n"));
        shown += 1;
    }
    if shown >= MAX_DIFF_LINES {
        out.push_str("... (more differences not shown)\n");
    }
    out
}

#[test]
#[cfg_attr(miri, ignore = "runs cbindgen over files")]
fn header_is_up_to_date() {
    let root = manifest_dir();
    let path = root.join("include/nsgi.h");
    let generated = generate(&root);

    if std::env::var_os("NSGI_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(root.join("include")).expect("create abi/include");
        std::fs::write(&path, &generated).expect("write abi/include/nsgi.h");
        eprintln!("wrote {}", path.display());
        return;
    }

    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nGenerate it with: NSGI_BLESS=1 cargo test -p nsgi-sdk --test header",
            path.display()
        )
    });
    // Normalise line endings so a checkout with CRLF conversion does not fail spuriously.
    let committed = committed.replace("\r\n", "\n");
    if committed != generated {
        panic!(
            "abi/include/nsgi.h is out of date with abi/src/sys.rs / abi/cbindgen.toml.\n\
             Regenerate it with: NSGI_BLESS=1 cargo test -p nsgi-sdk --test header\n\n{}",
            first_differences(&committed, &generated)
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "runs cbindgen over files")]
fn diff_shows_the_changed_lines() {
    let diff = first_differences("a\nb\nc\nd\n", "a\nb\nX\nd\n");
    assert!(diff.contains("-c\n"), "{diff}");
    assert!(diff.contains("+X\n"), "{diff}");
    assert!(diff.contains(" b\n"), "{diff}");
    assert!(!diff.contains("-d"), "{diff}");
}

#[test]
#[cfg_attr(miri, ignore = "runs cbindgen over files")]
fn c_view_unwraps_optional_fn_typedefs_only() {
    let src = "pub next: Option<nsgi_body_next_fn>,\npub x: Option<nsgi_bytes>,\n";
    assert_eq!(
        c_view_of_sys(src),
        "pub next: nsgi_body_next_fn,\npub x: Option<nsgi_bytes>,\n"
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs cbindgen over files")]
fn c_view_turns_doc_links_into_code_spans() {
    let src = "/// [`NSGI_OK`] or [`nsgi_environ::content_length`]; [`a b`] stays.";
    assert_eq!(
        c_view_of_sys(src),
        "/// `NSGI_OK` or `nsgi_environ.content_length`; [`a b`] stays."
    );
}

/// Names declared in `sys.rs` by lines starting with `prefix` (e.g. `pub struct `).
fn declared_names<'a>(sys: &'a str, prefix: &str) -> Vec<&'a str> {
    sys.lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|rest| {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// `[export] include` must list every type, or cbindgen silently drops the ones no function
/// mentions; and every constant must reach the header except the `size_of`-based ones.
#[test]
#[cfg_attr(miri, ignore = "runs cbindgen over files")]
fn header_declares_everything_in_sys() {
    let root = manifest_dir();
    let sys = std::fs::read_to_string(root.join("src/sys.rs")).expect("read abi/src/sys.rs");
    let header = generate(&root);

    let types: Vec<&str> = [declared_names(&sys, "pub struct "), declared_names(&sys, "pub type ")].concat();
    assert!(types.len() >= 20, "too few types found in sys.rs: {types:?}");
    for name in types {
        let typedef = format!(" {name};");
        let fn_typedef = format!("(*{name})(");
        assert!(
            header.contains(&typedef) || header.contains(&fn_typedef),
            "nsgi.h does not define the type `{name}`: add it to [export] include in abi/cbindgen.toml"
        );
    }

    let constants = declared_names(&sys, "pub const ");
    assert!(
        constants.len() >= 30,
        "too few constants found in sys.rs: {constants:?}"
    );
    for name in constants {
        if name.ends_with("_V1_0_SIZE") {
            assert!(
                !header.contains(name),
                "`{name}` is size_of-based and must stay out of nsgi.h"
            );
            continue;
        }
        let define = format!("#define {name} ");
        assert!(header.contains(&define), "nsgi.h lacks `{define}...`");
    }
}
