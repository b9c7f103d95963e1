//! `static-files`: serves the files of one directory, the step after the tutorial's `hello`.
//!
//! The classic WSGI tutorials end with a surprise: a page refers to `python-logo.png`, the file
//! sits right next to the app, and yet the browser gets no picture. A WSGI (or NSGI) server does
//! not serve a folder; it calls the app, and only what the app answers exists. The `hello` app
//! answers "Hello, World!" to `/python-logo.png` like to every path, and the C sample `seeds-c`
//! answers 404. This app is the other way: it looks the path up in a directory and sends the
//! file, through the host's file body (the gateway sends it with `sendfile`, or, up to 16 KiB,
//! copies it after the head so that both leave in one write).
//!
//! ```sh
//! cargo build -p static-files
//! nsgi-gateway target/debug/libstatic_files.so   # http://127.0.0.1:8000/python-logo.png
//! echo '{"root": "/srv/site"}' > site.json
//! nsgi-gateway target/debug/libstatic_files.so --app-config site.json
//! ```
//!
//! # Which directory
//!
//! The app gets the *contents* of the `--app-config` file, not its path, and the gateway's working
//! directory is whatever it was started in; so the root is never resolved against either. The
//! config is JSON, `{"root": "/absolute/dir"}` (a relative root is refused at start, naming the
//! problem), with an optional `"resolve"` (see below); a mount option `root` works like `"root"`. Without either, the root is the `public/`
//! directory of this sample's source tree, an absolute path fixed at build time with
//! `env!("CARGO_MANIFEST_DIR")`: right for trying the sample out of a checkout, and the reason a
//! real deployment names its root.
//!
//! # What it answers
//!
//! * `GET` and `HEAD` only (405 with `Allow` otherwise); `HEAD` gets the same headers and no body.
//! * `Content-Type` from the file's extension (a small table; `application/octet-stream` else).
//! * `Last-Modified` and an `ETag` made of the file's size and modification time;
//!   `If-None-Match` (weak comparison, `*`, lists) and, without it, `If-Modified-Since` → 304
//!   (with the `ETag` only, as RFC 9110 §15.4.5 asks).
//! * One `Range: bytes=…` → 206 with `Content-Range`; a range starting past the end → 416 with
//!   `Content-Range: bytes */LEN`. Several ranges get the whole file (200): this app does not
//!   build multipart/byteranges bodies. `If-Range` that does not match the file → whole file.
//! * A directory → its `index.html`, or 404.
//! * 404 for every path that could leave the root or reach what should not be served: a `.` or
//!   `..` segment (also written `%2e%2e`, which the gateway decodes), any segment starting with a
//!   dot (hidden files), an encoded slash or backslash (`%2f`, `%5c`) in the request target, a NUL
//!   byte, anything that is not a regular file (a FIFO, a device), and anything reached through a
//!   symlink that points out of the root (symlinks that stay inside are followed).
//!
//! # How a path is opened
//!
//! By default the kernel checks the path in the same call that opens the file: `openat2` from the
//! root's descriptor with `RESOLVE_BENEATH` (Linux 5.6+), which refuses any `..`, absolute path or
//! symlink that would leave the root, and leaves no window between a check and the open. Where
//! the kernel lacks `openat2`, or with `"resolve": "paths"` in the config, the app resolves the
//! real path (`canonicalize`), checks it lies under the root's (component by component, so
//! `/srv/site-private` is not inside `/srv/site`), and opens it with `O_NOFOLLOW`, so a symlink
//! swapped in after the check is not followed. Both open with `O_NONBLOCK`, so a FIFO cannot
//! block a worker. The path checks above come first in both modes.

mod http_date;
mod range;

use std::ffi::OsStr;
use std::fmt::{self, Write as _};
use std::fs::{File, Metadata, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::range::RangeAnswer;

/// The root used when neither the config nor a mount option names one.
const DEFAULT_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/public");

/// Content types by lower-case file extension.
const CONTENT_TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("ico", "image/x-icon"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("woff2", "font/woff2"),
    ("mp4", "video/mp4"),
];

/// The file a directory is answered with.
const INDEX: &str = "index.html";

/// The type of files whose extension is not in [`CONTENT_TYPES`].
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

/// The app: the canonical root directory, fixed at `init`, and how paths are resolved in it.
struct StaticFiles {
    root: PathBuf,
    resolver: Resolver,
}

/// How a request path becomes an open file inside the root.
enum Resolver {
    /// `openat2` with `RESOLVE_BENEATH` from the root's descriptor: the kernel refuses, in the
    /// one call that opens the file, any `..`, absolute path or symlink that would leave the root
    /// (Linux 5.6 and later).
    Kernel(OwnedFd),
    /// The real path (`canonicalize`) checked against the root's, component by component, then
    /// opened with `O_NOFOLLOW`: for kernels without `openat2`, or `"resolve": "paths"`.
    Paths,
}

impl App for StaticFiles {
    const NAME: &'static str = "static-files";

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        let config = Config::parse(args.config())?;
        let configured = config.root.clone().or(match args.option("root") {
            Some(value) => Some(
                std::str::from_utf8(value)
                    .map_err(|_| "the option `root` is not UTF-8")?
                    .to_owned(),
            ),
            None => None,
        });
        let root = PathBuf::from(configured.as_deref().unwrap_or(DEFAULT_ROOT));
        if !root.is_absolute() {
            return Err(format!(
                "the root {root:?} is relative; give an absolute path (the app cannot know which \
                 directory it would be relative to)"
            )
            .into());
        }
        let root = root
            .canonicalize()
            .map_err(|e| format!("the root {} cannot be opened: {e}", root.display()))?;
        if !root.is_dir() {
            return Err(format!("the root {} is not a directory", root.display()).into());
        }
        let root_dir = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| format!("the root {} cannot be opened: {e}", root.display()))?;
        let resolver = match (
            config.resolve.as_deref(),
            open_beneath(root_dir.as_fd(), Path::new(".")),
        ) {
            (None | Some("kernel"), Ok(_)) => Resolver::Kernel(root_dir),
            (None | Some("paths"), _) => Resolver::Paths,
            (Some("kernel"), Err(e)) => return Err(format!("\"resolve\": \"kernel\" needs openat2: {e}").into()),
            (Some(other), _) => {
                return Err(format!("\"resolve\" is \"kernel\" or \"paths\", not {other:?}").into());
            }
        };
        Ok(StaticFiles { root, resolver })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let method = req.method();
        if method != "GET" && method != "HEAD" {
            let headers = [TEXT, ("Allow", "GET, HEAD")];
            return Ok(start.respond("405 Method Not Allowed", &headers, "Only GET and HEAD are served.\n")?);
        }
        let Some((file, meta, content_type)) = self.open(req) else {
            return Ok(start.respond("404 Not Found", &[TEXT], "Not Found\n")?);
        };
        let size = meta.len();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        // The header values are formatted on the stack, by hand (not with `write!`, which costs
        // more than the rest of the answer): no allocation for a file served.
        let mut etag = StackText::<64>::new();
        etag.push(b"\"");
        etag.push_hex(size);
        etag.push(b"-");
        etag.push_hex(modified.as_secs());
        etag.push(b".");
        etag.push_hex(u64::from(modified.subsec_nanos()));
        etag.push(b"\"");
        let etag = etag.as_str();
        if not_modified(req, etag, modified.as_secs()) {
            // RFC 9110 §15.4.5: with an ETag, a 304 carries no other representation metadata.
            return Ok(start.start("304 Not Modified", &[("ETag", etag)])?.finish());
        }
        let mut last_modified = StackText::<32>::new();
        http_date::write(modified.as_secs(), &mut last_modified)?;
        let last_modified = last_modified.as_str();
        let range = match header(req, "HTTP_RANGE") {
            Some(range) if method == "GET" && if_range_holds(req, etag, last_modified) => range::answer(range, size),
            _ => RangeAnswer::Whole,
        };
        let mut content_range = StackText::<64>::new();
        let mut headers = [
            ("Content-Type", content_type),
            ("Accept-Ranges", "bytes"),
            ("ETag", etag),
            ("Last-Modified", last_modified),
            ("Content-Range", ""),
        ];
        match range {
            RangeAnswer::Whole => {
                let body = req.owned_file_range_body(file, size, 0, size)?;
                Ok(start.respond("200 OK", &headers[..4], body)?)
            }
            RangeAnswer::Part { offset, len } => {
                write!(content_range, "bytes {offset}-{}/{size}", offset + len - 1)?;
                headers[4].1 = content_range.as_str();
                let body = req.owned_file_range_body(file, size, offset, len)?;
                Ok(start.respond("206 Partial Content", &headers, body)?)
            }
            RangeAnswer::Unsatisfiable => {
                write!(content_range, "bytes */{size}")?;
                let headers = [TEXT, ("Content-Range", content_range.as_str())];
                Ok(start.respond("416 Range Not Satisfiable", &headers, "Range Not Satisfiable\n")?)
            }
        }
    }
}

impl StaticFiles {
    /// The regular file the request names inside the root, opened, with its metadata and content
    /// type; `None` for every path that must be answered 404 (see the crate docs).
    fn open(&self, req: &Request<'_>) -> Option<(File, Metadata, &'static str)> {
        let raw_target = req.var("REQUEST_URI").unwrap_or_default();
        let raw_path = raw_target.split(|&b| b == b'?').next().unwrap_or_default();
        if has_encoded_separator(raw_path) {
            return None;
        }
        let path_info = req.path_info_bytes();
        for segment in path_info.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
            if segment.starts_with(b".") || segment.contains(&0) || segment.contains(&b'\\') {
                return None;
            }
        }
        // The checked path, relative to the root (empty segments are harmless to the kernel).
        let relative = match path_info.iter().position(|&b| b != b'/') {
            Some(start) => Path::new(OsStr::from_bytes(&path_info[start..])),
            None => Path::new("."),
        };
        let (file, meta) = self.open_inside(self.root_fd(), relative)?;
        if meta.is_dir() {
            let index = Path::new(INDEX);
            let (file, meta) = match &self.resolver {
                Resolver::Kernel(_) => self.open_inside(Some(file.as_fd()), index)?,
                Resolver::Paths => self.open_inside(None, &relative.join(index))?,
            };
            return meta.is_file().then(|| (file, meta, content_type(index)));
        }
        meta.is_file().then(|| (file, meta, content_type(relative)))
    }

    /// The root's descriptor, when the kernel resolves paths.
    fn root_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.resolver {
            Resolver::Kernel(fd) => Some(fd.as_fd()),
            Resolver::Paths => None,
        }
    }

    /// Opens `relative` below `dir` (the root, or a directory already opened inside it) with the
    /// kernel's check, or below the root by real path when `dir` is `None`.
    fn open_inside(&self, dir: Option<BorrowedFd<'_>>, relative: &Path) -> Option<(File, Metadata)> {
        let file = match dir {
            Some(dir) => open_beneath(dir, relative).ok()?,
            None => {
                let real = self.root.join(relative).canonicalize().ok()?;
                if !real.starts_with(&self.root) {
                    return None;
                }
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
                    .open(&real)
                    .ok()?
            }
        };
        let meta = file.metadata().ok()?;
        Some((file, meta))
    }
}

/// `openat2(dir, path, O_RDONLY, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`. `O_NONBLOCK` keeps a
/// FIFO planted in the root from blocking the worker (it is then refused as not a regular file).
fn open_beneath(dir: BorrowedFd<'_>, path: &Path) -> rustix::io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    rustix::fs::openat2(dir, path, flags, Mode::empty(), resolve).map(File::from)
}

/// The app config: JSON, every key optional.
#[derive(Debug, Default, PartialEq)]
struct Config {
    /// `"root"`: the absolute directory to serve.
    root: Option<String>,
    /// `"resolve"`: `"kernel"` (openat2, the default where the kernel has it) or `"paths"`.
    resolve: Option<String>,
}

impl Config {
    /// Reads `{"root": "/srv/site", "resolve": "paths"}`; an empty config is all defaults.
    fn parse(config: &[u8]) -> Result<Config, Error> {
        if config.iter().all(u8::is_ascii_whitespace) {
            return Ok(Config::default());
        }
        let value: serde_json::Value =
            serde_json::from_slice(config).map_err(|e| format!("the app config is not JSON: {e}"))?;
        let text = |key: &str| -> Result<Option<String>, Error> {
            match value.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
                Some(other) => Err(format!("the config's \"{key}\" must be a string, not {other}").into()),
            }
        };
        Ok(Config {
            root: text("root")?,
            resolve: text("resolve")?,
        })
    }
}

/// Text formatted into a fixed buffer on the stack; writing past its end is an error.
struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText { buf: [0; N], len: 0 }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so the bytes are UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl<const N: usize> StackText<N> {
    /// Appends ASCII `bytes`; what does not fit is dropped (the callers' buffers are sized for
    /// the longest text they write).
    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(N);
        self.buf[self.len..end].copy_from_slice(&bytes[..end - self.len]);
        self.len = end;
    }

    /// Appends `n` in lower-case hexadecimal, without leading zeros (`0` for zero).
    fn push_hex(&mut self, n: u64) {
        let mut digits = [0u8; 16];
        let mut start = digits.len();
        let mut rest = n;
        loop {
            start -= 1;
            digits[start] = b"0123456789abcdef"[(rest & 0xf) as usize];
            rest >>= 4;
            if rest == 0 {
                break;
            }
        }
        self.push(&digits[start..]);
    }
}

impl<const N: usize> fmt::Write for StackText<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self
            .len
            .checked_add(text.len())
            .filter(|&end| end <= N)
            .ok_or(fmt::Error)?;
        self.buf[self.len..end].copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// True when the raw request path holds `%2f` or `%5c` (an encoded `/` or `\`), in any case.
fn has_encoded_separator(raw_path: &[u8]) -> bool {
    raw_path.windows(3).any(|w| {
        w[0] == b'%'
            && (w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f') || w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c'))
    })
}

/// The request header whose CGI variable is `var` (`HTTP_RANGE` for `Range`) as text, when
/// present and UTF-8. Looked up by variable name: cheaper than
/// [`Request::header`](nsgi::app::Request::header)'s comparison of every variable with a header
/// name, and this app reads four headers per request.
fn header<'r>(req: &Request<'r>, var: &str) -> Option<&'r str> {
    req.var(var).and_then(|v| std::str::from_utf8(v).ok())
}

/// RFC 9110 §13.2.2: `If-None-Match` (weak comparison) decides when present; otherwise
/// `If-Modified-Since`, when it is a date this app can read.
fn not_modified(req: &Request<'_>, etag: &str, modified_secs: u64) -> bool {
    if let Some(tags) = header(req, "HTTP_IF_NONE_MATCH") {
        return tags
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
    }
    header(req, "HTTP_IF_MODIFIED_SINCE")
        .and_then(http_date::parse)
        .is_some_and(|since| modified_secs <= since)
}

/// RFC 9110 §13.1.5: without `If-Range`, or when it names the current file (the same strong
/// `ETag`, or exactly its `Last-Modified`), the `Range` applies.
fn if_range_holds(req: &Request<'_>, etag: &str, last_modified: &str) -> bool {
    header(req, "HTTP_IF_RANGE").is_none_or(|value| value == etag || value == last_modified)
}

/// The content type of `path` by its extension (what follows the last dot of the last segment,
/// as [`Path::extension`] has it, read from the bytes without parsing the whole path).
fn content_type(path: &Path) -> &'static str {
    let bytes = path.as_os_str().as_bytes();
    let name = bytes
        .rsplit(|&b| b == b'/')
        .find(|segment| !segment.is_empty())
        .unwrap_or_default();
    let extension = match name.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => &name[dot + 1..],
        _ => return DEFAULT_CONTENT_TYPE,
    };
    CONTENT_TYPES
        .iter()
        .find(|(ext, _)| ext.as_bytes().eq_ignore_ascii_case(extension))
        .map_or(DEFAULT_CONTENT_TYPE, |(_, t)| t)
}

nsgi::export_app!(StaticFiles);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_separators() {
        assert!(has_encoded_separator(b"/a%2fb"));
        assert!(has_encoded_separator(b"/a%2Fb"));
        assert!(has_encoded_separator(b"/a%5cb"));
        assert!(!has_encoded_separator(b"/a%20b/c"));
        assert!(!has_encoded_separator(b"/%2"));
    }

    #[test]
    fn stack_text_refuses_what_does_not_fit() {
        let mut text = StackText::<4>::new();
        assert!(write!(text, "abcd").is_ok());
        assert_eq!(text.as_str(), "abcd");
        assert!(write!(text, "e").is_err());
        assert_eq!(text.as_str(), "abcd");
    }

    #[test]
    fn stack_text_pushes_hex_and_bytes() {
        let mut text = StackText::<24>::new();
        text.push(b"\"");
        text.push_hex(0);
        text.push(b"-");
        text.push_hex(0x1000);
        text.push(b"-");
        text.push_hex(u64::MAX);
        assert_eq!(text.as_str(), "\"0-1000-ffffffffffffffff");
        text.push(b"past the end");
        assert_eq!(text.as_str().len(), 24, "cut at the buffer's end");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("/x/logo.PNG")), "image/png");
        assert_eq!(content_type(Path::new("/x/index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("/x/data.bin")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type(Path::new("/x/README")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type(Path::new("x.d/README")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type(Path::new("/x/.png")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type(Path::new("/x/a.tar.gz")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type(Path::new("a/b.css/")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
    }

    #[test]
    fn config() {
        assert_eq!(Config::parse(b" ").ok(), Some(Config::default()));
        let parsed = Config::parse(br#"{"root": "/srv", "resolve": "paths"}"#).ok();
        assert_eq!(parsed.as_ref().and_then(|c| c.root.as_deref()), Some("/srv"));
        assert_eq!(parsed.as_ref().and_then(|c| c.resolve.as_deref()), Some("paths"));
        assert!(Config::parse(br#"{"root": 7}"#).is_err());
        assert!(Config::parse(b"root=/srv").is_err());
    }
}
