//! The access log (`--access-log FILE`, `-` for stdout): one line per request in Apache's
//! combined format,
//!
//! ```text
//! %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"
//! 127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a.gif HTTP/1.1" 200 2326 "http://x/" "curl/8"
//! ```
//!
//! Requests the gateway refuses itself (a malformed head, a timeout, a body too large, ...) have
//! their line too, with what is known of them: `%r` is `-` when the request line was not read.
//! `%t` is when the request's first byte arrived, as in Apache, not when the response was done.
//!
//! Owns the line format, its buffering and the log file (append mode, reopened for rotation).
//! Times are always UTC (`+0000`), whatever the machine's time zone. Every byte that came from
//! the client (request line, user, Referer, User-Agent) is escaped as Apache does it — `"` as
//! `\"`, `\` as `\\`, anything outside printable ASCII as `\xhh` — so a client cannot forge or
//! split log lines.
//!
//! Lines are formatted into one buffer reused for the life of the log, with the `[%t]` text
//! formatted at most once a second, so that recording a request never allocates once the buffer
//! is warm and never touches the disk: the buffer is written when the event loop calls
//! [`AccessLog::flush`] (about once a second, and on exit), when it passes
//! [`FLUSH_THRESHOLD_BYTES`], and when the log is dropped. Only whole lines are written, so the
//! workers of one server can share the file (append mode) or stdout (pipe-sized writes) without
//! their lines interleaving. A failing write is reported once in the error log and its lines are
//! dropped; it never stops the server.

use crate::http::{IMF_FIXDATE_LEN, format_imf_fixdate};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The buffer is written out once it holds this many bytes.
pub(crate) const FLUSH_THRESHOLD_BYTES: usize = 64 * 1024;

/// Permissions of a log file the gateway creates (before the umask): owner read-write, group read.
const LOG_FILE_MODE: u32 = 0o640;

/// Largest write to stdout: writes up to `PIPE_BUF` bytes are atomic on a pipe, so lines from
/// several workers sharing one pipe never interleave.
const PIPE_ATOMIC_BYTES: usize = 4096;

/// Length of the `%t` text without its brackets: `10/Oct/2000:13:55:36 +0000`.
const CLF_TIME_LEN: usize = 26;

/// One request, as the access log needs it. Byte strings are as received; the log escapes them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AccessEntry<'a> {
    /// The client's address without its port (`%h`); for a proxied request, the address the
    /// proxy vouched for. Empty is logged as `-`.
    pub(crate) remote_addr: &'a [u8],
    /// The authenticated user (`%u`), e.g. the app's REMOTE_USER; `None` or empty is `-`.
    pub(crate) remote_user: Option<&'a [u8]>,
    /// When the request's first byte was received (`%t`).
    pub(crate) time: SystemTime,
    /// The request method, target and version, logged as the request line (`%r`). When all
    /// three are empty (the request line could not be read), `%r` is `-`.
    pub(crate) method: &'a [u8],
    /// The request target as sent: `/a.gif?x=1`.
    pub(crate) target: &'a [u8],
    /// `HTTP/1.1`.
    pub(crate) version: &'a [u8],
    /// The status sent (`%>s`).
    pub(crate) status: u16,
    /// Bytes of response body sent, without the head (`%b`; 0 is logged as `-`).
    pub(crate) body_bytes: u64,
    /// The Referer header; `None` is `-`.
    pub(crate) referer: Option<&'a [u8]>,
    /// The User-Agent header; `None` is `-`.
    pub(crate) user_agent: Option<&'a [u8]>,
}

/// Where the lines go.
#[derive(Debug)]
enum Sink {
    Stdout,
    File { path: PathBuf, file: File },
}

/// The access log of one process.
pub(crate) struct AccessLog {
    sink: Sink,
    /// Formatted lines not yet written; emptied (not freed) by each flush.
    pending: Vec<u8>,
    clock: ClfClock,
    /// A write has failed and no write has succeeded since: further failures are not reported.
    failing: bool,
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog")
            .field("sink", &self.sink)
            .field("pending_bytes", &self.pending.len())
            .finish()
    }
}

impl AccessLog {
    /// Opens the log at `path` for appending, creating it with mode 0640 (less the umask) when it
    /// does not exist; `-` is stdout.
    pub(crate) fn open(path: &Path) -> io::Result<AccessLog> {
        let sink = if path == Path::new("-") {
            Sink::Stdout
        } else {
            Sink::File {
                path: path.to_owned(),
                file: open_append(path)?,
            }
        };
        Ok(AccessLog {
            sink,
            pending: Vec::with_capacity(FLUSH_THRESHOLD_BYTES + 4096),
            clock: ClfClock::new(),
            failing: false,
        })
    }

    /// Adds the line of `entry`; writes the buffer out if it has grown past
    /// [`FLUSH_THRESHOLD_BYTES`].
    pub(crate) fn record(&mut self, entry: &AccessEntry<'_>) {
        write_line(&mut self.pending, &mut self.clock, entry);
        if self.pending.len() >= FLUSH_THRESHOLD_BYTES {
            self.flush();
        }
    }

    /// Writes out every buffered line. Call about once a second and before exiting.
    pub(crate) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let written = match &mut self.sink {
            Sink::Stdout => {
                let mut stdout = io::stdout().lock();
                write_whole_lines(&mut stdout, &self.pending, PIPE_ATOMIC_BYTES).and_then(|()| stdout.flush())
            }
            Sink::File { file, .. } => file.write_all(&self.pending),
        };
        self.pending.clear();
        match written {
            Ok(()) => self.failing = false,
            Err(error) if !self.failing => {
                self.failing = true;
                log::error!(
                    "--access-log {}: cannot write: {error}; access log lines are lost until it works again",
                    self.describe()
                );
            }
            Err(_) => {}
        }
    }

    /// Flushes, then opens the log's path again, so that after a log rotator has renamed the
    /// file, lines go to a new file at the configured path (on SIGUSR1). If the path cannot be
    /// opened, the error is logged and lines keep going to the previous file. No-op for stdout.
    pub(crate) fn reopen(&mut self) {
        self.flush();
        if let Sink::File { path, file } = &mut self.sink {
            match open_append(path) {
                Ok(reopened) => *file = reopened,
                Err(error) => log::error!(
                    "--access-log {}: cannot reopen: {error}; still writing to the file opened before",
                    path.display()
                ),
            }
        }
    }

    fn describe(&self) -> String {
        match &self.sink {
            Sink::Stdout => "-".to_owned(),
            Sink::File { path, .. } => path.display().to_string(),
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

/// Writes `bytes` (whole lines) in writes of at most `max` bytes that each end at a line end; a
/// single line longer than `max` is written alone.
fn write_whole_lines(out: &mut impl Write, mut bytes: &[u8], max: usize) -> io::Result<()> {
    while !bytes.is_empty() {
        let window = &bytes[..bytes.len().min(max)];
        let end = if window.len() == bytes.len() {
            bytes.len()
        } else {
            match window.iter().rposition(|&b| b == b'\n') {
                Some(newline) => newline + 1,
                None => bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |newline| newline + 1),
            }
        };
        out.write_all(&bytes[..end])?;
        bytes = &bytes[end..];
    }
    Ok(())
}

/// Appends the combined-format line of `entry`, newline included, to `out`.
fn write_line(out: &mut Vec<u8>, clock: &mut ClfClock, entry: &AccessEntry<'_>) {
    push_field(out, Some(entry.remote_addr));
    out.extend_from_slice(b" - ");
    push_field(out, entry.remote_user);
    out.extend_from_slice(b" [");
    out.extend_from_slice(clock.at(entry.time));
    out.extend_from_slice(b"] \"");
    push_request_line(out, entry);
    out.extend_from_slice(b"\" ");
    out.extend_from_slice(itoa::Buffer::new().format(entry.status).as_bytes());
    out.push(b' ');
    if entry.body_bytes == 0 {
        out.push(b'-');
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(entry.body_bytes).as_bytes());
    }
    out.extend_from_slice(b" \"");
    push_field(out, entry.referer);
    out.extend_from_slice(b"\" \"");
    push_field(out, entry.user_agent);
    out.extend_from_slice(b"\"\n");
}

/// `%r`: the non-empty parts of method, target and version, space-separated; `-` if none.
fn push_request_line(out: &mut Vec<u8>, entry: &AccessEntry<'_>) {
    let mut first = true;
    for part in [entry.method, entry.target, entry.version] {
        if part.is_empty() {
            continue;
        }
        if !first {
            out.push(b' ');
        }
        push_escaped(out, part);
        first = false;
    }
    if first {
        out.push(b'-');
    }
}

/// The escaped value, or `-` when absent or empty.
fn push_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(value) if !value.is_empty() => push_escaped(out, value),
        _ => out.push(b'-'),
    }
}

/// Copies `bytes`, escaping `"` and `\` with a backslash and every byte outside printable ASCII
/// (0x20..=0x7E) as `\xhh`.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[plain_from..i]);
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            _ => out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
        }
        plain_from = i + 1;
    }
    out.extend_from_slice(&bytes[plain_from..]);
}

/// The `%t` text (`10/Oct/2000:13:55:36 +0000`), reformatted only when the second changes.
#[derive(Clone, Debug)]
struct ClfClock {
    /// The second `text` was formatted for; `None` before the first call.
    second: Option<u64>,
    text: [u8; CLF_TIME_LEN],
}

impl ClfClock {
    const fn new() -> ClfClock {
        ClfClock {
            second: None,
            text: [0; CLF_TIME_LEN],
        }
    }

    /// `time` in UTC; times before 1970 are the epoch, after 9999 the last second of 9999.
    fn at(&mut self, time: SystemTime) -> &[u8; CLF_TIME_LEN] {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.second != Some(secs) {
            format_clf_time(secs, &mut self.text);
            self.second = Some(secs);
        }
        &self.text
    }
}

/// Writes `secs` after the epoch as `DD/Mon/YYYY:HH:MM:SS +0000`, by rearranging the fields of
/// the IMF-fixdate the `Date` header uses (`Sun, 06 Nov 1994 08:49:37 GMT`), whose calendar
/// arithmetic lives in `http/date.rs`.
fn format_clf_time(secs: u64, out: &mut [u8; CLF_TIME_LEN]) {
    let mut imf = [0u8; IMF_FIXDATE_LEN];
    format_imf_fixdate(secs, &mut imf);
    out[0..2].copy_from_slice(&imf[5..7]); // day
    out[2] = b'/';
    out[3..6].copy_from_slice(&imf[8..11]); // month name
    out[6] = b'/';
    out[7..11].copy_from_slice(&imf[12..16]); // year
    out[11] = b':';
    out[12..20].copy_from_slice(&imf[17..25]); // HH:MM:SS
    out[20..26].copy_from_slice(b" +0000");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// 10/Oct/2000:13:55:36 +0000.
    const APACHE_EXAMPLE_SECS: u64 = 971_186_136;

    fn sample() -> AccessEntry<'static> {
        AccessEntry {
            remote_addr: b"127.0.0.1",
            remote_user: None,
            time: UNIX_EPOCH + Duration::from_secs(APACHE_EXAMPLE_SECS),
            method: b"GET",
            target: b"/a.gif",
            version: b"HTTP/1.1",
            status: 200,
            body_bytes: 2326,
            referer: Some(b"http://x/"),
            user_agent: Some(b"curl/8"),
        }
    }

    fn line(entry: &AccessEntry<'_>) -> String {
        let mut out = Vec::new();
        write_line(&mut out, &mut ClfClock::new(), entry);
        String::from_utf8(out).expect("a log line is ASCII")
    }

    /// A directory removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "nsgi-access-log-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("create the temp dir");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).expect("read the log")
    }

    #[test]
    fn combined_format_line() {
        assert_eq!(
            line(&sample()),
            "127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a.gif HTTP/1.1\" 200 2326 \"http://x/\" \"curl/8\"\n"
        );
        let with_user = AccessEntry {
            remote_user: Some(b"frank"),
            status: 404,
            ..sample()
        };
        assert!(
            line(&with_user).starts_with("127.0.0.1 - frank [10/Oct/2000"),
            "{}",
            line(&with_user)
        );
        assert!(line(&with_user).contains("\" 404 2326 \""));
    }

    #[test]
    fn missing_values_are_dashes() {
        let entry = AccessEntry {
            remote_addr: b"",
            remote_user: Some(b""),
            body_bytes: 0,
            referer: None,
            user_agent: None,
            ..sample()
        };
        assert_eq!(
            line(&entry),
            "- - - [10/Oct/2000:13:55:36 +0000] \"GET /a.gif HTTP/1.1\" 200 - \"-\" \"-\"\n"
        );
        let unreadable = AccessEntry {
            method: b"",
            target: b"",
            version: b"",
            status: 400,
            ..sample()
        };
        assert!(line(&unreadable).contains("] \"-\" 400 "), "{}", line(&unreadable));
    }

    #[test]
    fn client_bytes_cannot_forge_lines() {
        let entry = AccessEntry {
            target: b"/a\"b\\c\x1b[31m\xff",
            referer: Some(b"\t"),
            user_agent: Some(
                b"x\"\n127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \"GET /admin HTTP/1.1\" 200 1 \"-\" \"y",
            ),
            ..sample()
        };
        let text = line(&entry);
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        assert!(text.ends_with("\"\n"));
        assert!(text.contains("\"GET /a\\\"b\\\\c\\x1b[31m\\xff HTTP/1.1\""), "{text}");
        assert!(text.contains(" \"\\x09\" "), "{text}");
        assert!(
            text.contains("\"x\\\"\\x0a127.0.0.1 - - [01/Jan/2000:00:00:00 +0000] \\\"GET /admin HTTP/1.1\\\" 200 1 \\\"-\\\" \\\"y\"\n"),
            "{text}"
        );
        // Every `"` left unescaped is one of the six delimiters of the format.
        let bare_quotes = text
            .as_bytes()
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'"' && (i == 0 || text.as_bytes()[i - 1] != b'\\'))
            .count();
        assert_eq!(bare_quotes, 6, "{text}");
    }

    #[test]
    fn escaping_keeps_printable_ascii_and_escapes_the_rest() {
        let mut out = Vec::new();
        let all: Vec<u8> = (0..=255).collect();
        push_escaped(&mut out, &all);
        let text = String::from_utf8(out).expect("ASCII");
        assert!(text.starts_with("\\x00\\x01"));
        assert!(text.contains(" !\\\"#"));
        assert!(text.contains("[\\\\]"));
        assert!(text.contains("}~\\x7f\\x80"));
        assert!(text.ends_with("\\xfe\\xff"));
        assert!(text.bytes().all(|b| (0x20..=0x7e).contains(&b)));
    }

    #[test]
    fn time_is_utc_and_the_cache_changes_with_the_second() {
        let t = UNIX_EPOCH + Duration::from_secs(APACHE_EXAMPLE_SECS);
        let mut clock = ClfClock::new();
        assert_eq!(clock.at(t), b"10/Oct/2000:13:55:36 +0000");
        clock.text[0] = b'X'; // poisoned: proves the same second reuses the text
        assert_eq!(&clock.at(t + Duration::from_millis(999))[..2], b"X0");
        assert_eq!(clock.at(t + Duration::from_secs(1)), b"10/Oct/2000:13:55:37 +0000");
        assert_eq!(clock.at(UNIX_EPOCH), b"01/Jan/1970:00:00:00 +0000");
        assert_eq!(
            clock.at(UNIX_EPOCH - Duration::from_secs(5)),
            b"01/Jan/1970:00:00:00 +0000"
        );
        assert_eq!(
            clock.at(UNIX_EPOCH + Duration::from_secs(951_868_799)),
            b"29/Feb/2000:23:59:59 +0000"
        );
    }

    #[test]
    fn writes_to_a_file_and_reopens_after_rotation() {
        let dir = TempDir::new();
        let path = dir.0.join("access.log");
        let rotated = dir.0.join("access.log.1");
        std::fs::write(&path, "earlier line\n").expect("seed the log");
        let mut log = AccessLog::open(&path).expect("open");
        log.record(&sample());
        assert_eq!(read(&path), "earlier line\n", "nothing written before a flush");
        log.flush();
        let first = line(&sample());
        assert_eq!(read(&path), format!("earlier line\n{first}"), "appended");

        std::fs::rename(&path, &rotated).expect("rotate");
        let second = AccessEntry {
            status: 500,
            ..sample()
        };
        log.record(&second);
        log.reopen(); // flushes to the renamed file, then opens a new one
        let third = AccessEntry {
            status: 204,
            body_bytes: 0,
            ..sample()
        };
        log.record(&third);
        drop(log); // flushes
        assert_eq!(read(&rotated), format!("earlier line\n{first}{}", line(&second)));
        assert_eq!(read(&path), line(&third));
    }

    #[test]
    fn a_new_file_is_not_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        let path = dir.0.join("new.log");
        let _log = AccessLog::open(&path).expect("open");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode & !LOG_FILE_MODE, 0, "mode {mode:o} is at most 0640");
    }

    #[test]
    fn opening_an_impossible_path_fails() {
        let dir = TempDir::new();
        assert!(AccessLog::open(&dir.0.join("no-such-dir").join("a.log")).is_err());
        assert!(matches!(AccessLog::open(Path::new("-")).map(|log| log.describe()), Ok(d) if d == "-"));
    }

    #[test]
    fn the_buffer_flushes_itself_past_the_threshold_and_is_reused() {
        let dir = TempDir::new();
        let path = dir.0.join("busy.log");
        let mut log = AccessLog::open(&path).expect("open");
        let one = line(&sample()).len();
        let capacity = log.pending.capacity();
        let mut lines = 0;
        loop {
            log.record(&sample());
            lines += 1;
            if log.pending.is_empty() {
                break;
            }
            assert!(lines * one < FLUSH_THRESHOLD_BYTES, "not flushed at the threshold");
        }
        assert_eq!(
            lines,
            FLUSH_THRESHOLD_BYTES.div_ceil(one),
            "flushed as soon as the threshold was reached"
        );
        assert_eq!(read(&path).len(), lines * one);
        for _ in 0..lines {
            log.record(&sample());
        }
        assert_eq!(log.pending.capacity(), capacity, "no reallocation once warm");
    }

    /// Records each `write` call.
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pipe_writes_are_whole_lines_within_the_atomic_size() {
        let mut bytes = Vec::new();
        for n in 0..50 {
            bytes.extend_from_slice(format!("line {n} {}\n", "x".repeat(n * 3)).as_bytes());
        }
        bytes.extend_from_slice(format!("{}\n", "y".repeat(300)).as_bytes());
        bytes.extend_from_slice(b"last\n");
        let mut out = Writes(Vec::new());
        write_whole_lines(&mut out, &bytes, 256).expect("write");
        assert_eq!(out.0.concat(), bytes);
        assert!(out.0.len() > 1);
        for write in &out.0 {
            assert!(write.ends_with(b"\n"));
            assert!(write.len() <= 256 || write.iter().filter(|&&b| b == b'\n').count() == 1);
        }
    }
}
