//! `wsgi.errors` for the gateway: what an app writes there goes to the log, line by line.
//!
//! Owns line assembly (an app may write a line in pieces) in a buffer reused across requests.
//! Each complete line becomes one `warn` record with target `nsgi::errors`, tagged with the app's
//! mount name.

use std::io::{self, Write};

/// Longest line kept before it is logged anyway.
const MAX_LINE_BYTES: usize = 16 * 1024;

/// A `Write` that logs complete lines.
pub(crate) struct ErrorsLog<'a> {
    line: &'a mut Vec<u8>,
    mount: &'a str,
}

impl<'a> ErrorsLog<'a> {
    /// A stream writing through `line` (emptied first) for the app mounted as `mount`.
    pub(crate) fn new(line: &'a mut Vec<u8>, mount: &'a str) -> ErrorsLog<'a> {
        line.clear();
        ErrorsLog { line, mount }
    }

    /// A stream going on with `line` (a line started earlier, by a response that parked) for
    /// the app mounted as `mount`.
    pub(crate) fn continuing(line: &'a mut Vec<u8>, mount: &'a str) -> ErrorsLog<'a> {
        ErrorsLog { line, mount }
    }

    fn emit(&mut self) {
        let text = self.line.strip_suffix(b"\n").unwrap_or(self.line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        log::warn!(target: "nsgi::errors", "[{}] {}", self.mount, String::from_utf8_lossy(text));
        self.line.clear();
    }

    /// Logs a last unterminated line, if any.
    pub(crate) fn finish(mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

impl Write for ErrorsLog<'_> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while let Some(newline) = data.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&data[..=newline]);
            self.emit();
            data = &data[newline + 1..];
        }
        self.line.extend_from_slice(data);
        if self.line.len() > MAX_LINE_BYTES {
            self.emit();
        }
        Ok(total)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.emit();
        }
        Ok(())
    }
}
