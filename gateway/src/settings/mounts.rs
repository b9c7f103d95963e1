//! An app mount as the settings give it: its path prefix (normalised here, the one rule for what
//! a prefix may be) and its library and config file. Nothing here opens a file.

use std::path::PathBuf;

/// One `--mount`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountSpec {
    /// The path prefix, normalised: empty for `/`, otherwise `/x` without a trailing slash.
    pub(crate) prefix: String,
    /// The app library; `None` is the built-in welcome app.
    pub(crate) library: Option<PathBuf>,
    /// The file handed to the app's init as its config.
    pub(crate) config_file: Option<PathBuf>,
}

/// `/` and `` → ``; `/a/b/` → `/a/b`; anything not starting with `/`, or holding `//`, `.`/`..`
/// segments, `?`, `#` or `%`, is refused.
pub(crate) fn normalise_prefix(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err("a path prefix must start with /".to_owned());
    }
    if trimmed.contains(['?', '#', '%']) || trimmed.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("a path prefix holds no query, fragment, escape, space or control character".to_owned());
    }
    if trimmed[1..]
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err("a path prefix has no empty, `.` or `..` segment".to_owned());
    }
    Ok(trimmed.to_owned())
}
