//! The request environ as the host builds it: CGI variables plus the typed `wsgi.*` fields.
//!
//! One [`Environ`] is reused for request after request: clearing it keeps every buffer's capacity,
//! so steady-state requests build their environ without allocating. It owns the bytes that the
//! `nsgi_environ` handed to the app points into, and must not be changed while an app holds it
//! (the exchange borrows it for the whole request).

use crate::sys::{NSGI_ENVIRON_V1_0_SIZE, NSGI_NO_LENGTH, nsgi_bytes, nsgi_environ, nsgi_header};

/// Where one variable's name and value sit in [`Environ::data`].
#[derive(Clone, Copy, Debug)]
struct Span {
    name_start: u32,
    name_end: u32,
    value_start: u32,
    value_end: u32,
}

/// A reusable environ builder and store.
///
/// ```
/// use nsgi::host::Environ;
/// let mut environ = Environ::new();
/// environ.push(b"REQUEST_METHOD", b"GET");
/// environ.push_http_header(b"User-Agent", b"curl/8");
/// environ.push_http_header(b"Accept", b"text/html");
/// environ.push_http_header(b"accept", b"*/*");
/// assert_eq!(environ.get(b"HTTP_USER_AGENT"), Some(&b"curl/8"[..]));
/// assert_eq!(environ.get(b"HTTP_ACCEPT"), Some(&b"text/html, */*"[..]));
/// ```
#[derive(Debug)]
pub struct Environ {
    data: Vec<u8>,
    spans: Vec<Span>,
    vars: Vec<nsgi_header>,
    raw: nsgi_environ,
    https: bool,
}

// SAFETY: the raw pointers inside point only into this value's own buffers; moving or sharing the
// value between threads moves the buffers with it and nothing else aliases them.
unsafe impl Send for Environ {}
// SAFETY: as above; shared access is read-only.
unsafe impl Sync for Environ {}

impl Default for Environ {
    fn default() -> Self {
        Self::new()
    }
}

impl Environ {
    /// An empty environ.
    pub fn new() -> Environ {
        Environ {
            data: Vec::with_capacity(2048),
            spans: Vec::with_capacity(32),
            vars: Vec::with_capacity(32),
            raw: nsgi_environ {
                struct_size: NSGI_ENVIRON_V1_0_SIZE,
                flags: 0,
                vars: core::ptr::null(),
                n_vars: 0,
                url_scheme: nsgi_bytes::EMPTY,
                content_length: NSGI_NO_LENGTH,
            },
            https: false,
        }
    }

    /// Empties the environ for the next request, keeping its capacity.
    pub fn clear(&mut self) {
        self.data.clear();
        self.spans.clear();
        self.vars.clear();
        self.raw.flags = 0;
        self.raw.content_length = NSGI_NO_LENGTH;
        self.https = false;
    }

    /// Adds a variable. The caller keeps names unique (use [`Environ::push_http_header`] for
    /// request headers, which merges repeats).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let name_start = self.offset();
        self.data.extend_from_slice(name);
        let name_end = self.offset();
        self.data.extend_from_slice(value);
        self.spans.push(Span {
            name_start,
            name_end,
            value_start: name_end,
            value_end: self.offset(),
        });
    }

    /// Adds a variable whose value is formatted by `write` straight into the buffer.
    pub fn push_with(&mut self, name: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        let name_start = self.offset();
        self.data.extend_from_slice(name);
        let name_end = self.offset();
        write(&mut self.data);
        self.spans.push(Span {
            name_start,
            name_end,
            value_start: name_end,
            value_end: self.offset(),
        });
    }

    /// Adds a request header the CGI way: `Content-Type` and `Content-Length` become
    /// `CONTENT_TYPE` / `CONTENT_LENGTH`, any other name `HTTP_` + upper case with `-` → `_`.
    /// A repeated header is joined to the first with `", "` (`"; "` for Cookie, RFC 9110 §5.3).
    ///
    /// Returns false, adding nothing, for a name containing `_`: after the `-` → `_` mapping it
    /// could pose as another header (`X_Forwarded_For` as `X-Forwarded-For`), so such headers are
    /// dropped, as nginx and Apache do by default.
    pub fn push_http_header(&mut self, name: &[u8], value: &[u8]) -> bool {
        if name.contains(&b'_') {
            return false;
        }
        let name_start = self.offset();
        if name.eq_ignore_ascii_case(b"content-type") {
            self.data.extend_from_slice(b"CONTENT_TYPE");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            self.data.extend_from_slice(b"CONTENT_LENGTH");
        } else {
            self.data.extend_from_slice(b"HTTP_");
            self.data.extend(
                name.iter()
                    .map(|&b| if b == b'-' { b'_' } else { b.to_ascii_uppercase() }),
            );
        }
        let name_end = self.offset();
        let key_len = (name_end - name_start) as usize;
        let existing = self.spans.iter().position(|span| {
            span.name_end - span.name_start == key_len as u32
                && self.data[span.name_start as usize..span.name_end as usize]
                    == self.data[name_start as usize..name_end as usize]
        });
        match existing {
            None => {
                self.data.extend_from_slice(value);
                self.spans.push(Span {
                    name_start,
                    name_end,
                    value_start: name_end,
                    value_end: self.offset(),
                });
            }
            Some(index) => {
                // Join: copy the old value to the end, then the separator and the new value. The
                // old bytes stay unused until the next clear(); repeats are rare.
                self.data.truncate(name_start as usize);
                let old = self.spans[index];
                let separator: &[u8] = if name.eq_ignore_ascii_case(b"cookie") {
                    b"; "
                } else {
                    b", "
                };
                let value_start = self.offset();
                self.data
                    .extend_from_within(old.value_start as usize..old.value_end as usize);
                self.data.extend_from_slice(separator);
                self.data.extend_from_slice(value);
                self.spans[index].value_start = value_start;
                self.spans[index].value_end = self.offset();
            }
        }
        true
    }

    /// Sets `wsgi.url_scheme` to `https` (true) or `http` (false).
    pub fn set_https(&mut self, https: bool) {
        self.https = https;
    }

    /// Sets the typed request body length (`None` when unknown, e.g. chunked).
    pub fn set_content_length(&mut self, length: Option<u64>) {
        self.raw.content_length = length.unwrap_or(NSGI_NO_LENGTH);
    }

    /// Sets the `NSGI_ENV_*` flags.
    pub fn set_flags(&mut self, flags: u32) {
        self.raw.flags = flags;
    }

    /// The `NSGI_ENV_*` flags.
    pub fn flags(&self) -> u32 {
        self.raw.flags
    }

    /// True when `wsgi.url_scheme` is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The typed body length.
    pub fn content_length(&self) -> Option<u64> {
        (self.raw.content_length != NSGI_NO_LENGTH).then_some(self.raw.content_length)
    }

    /// Looks a variable up by name.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(key, _)| *key == name).map(|(_, value)| value)
    }

    /// All variables in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans.iter().map(|span| {
            (
                &self.data[span.name_start as usize..span.name_end as usize],
                &self.data[span.value_start as usize..span.value_end as usize],
            )
        })
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when no variable is set.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Points the raw environ at the current buffers and returns it. The pointer is valid until
    /// the next change to `self`.
    pub(crate) fn seal(&mut self) -> *const nsgi_environ {
        self.vars.clear();
        let base = self.data.as_ptr();
        for span in &self.spans {
            // SAFETY: every span lies within `data` (it was recorded from offsets into it).
            let at = |offset: u32| unsafe { base.add(offset as usize) };
            self.vars.push(nsgi_header {
                name: nsgi_bytes {
                    ptr: at(span.name_start),
                    len: (span.name_end - span.name_start) as usize,
                },
                value: nsgi_bytes {
                    ptr: at(span.value_start),
                    len: (span.value_end - span.value_start) as usize,
                },
            });
        }
        self.raw.vars = self.vars.as_ptr();
        self.raw.n_vars = self.vars.len();
        self.raw.url_scheme = nsgi_bytes::from_slice(if self.https { b"https" } else { b"http" });
        &self.raw
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgi_names_and_joins() {
        let mut environ = Environ::new();
        assert!(environ.push_http_header(b"Content-Type", b"text/plain"));
        assert!(environ.push_http_header(b"content-length", b"5"));
        assert!(environ.push_http_header(b"Cookie", b"a=1"));
        assert!(environ.push_http_header(b"X-Trace-Id", b"7"));
        assert!(environ.push_http_header(b"cookie", b"b=2"));
        assert!(!environ.push_http_header(b"X_Trace_Id", b"spoof"));
        assert_eq!(environ.get(b"CONTENT_TYPE"), Some(&b"text/plain"[..]));
        assert_eq!(environ.get(b"CONTENT_LENGTH"), Some(&b"5"[..]));
        assert_eq!(environ.get(b"HTTP_CONTENT_TYPE"), None);
        assert_eq!(environ.get(b"HTTP_COOKIE"), Some(&b"a=1; b=2"[..]));
        assert_eq!(environ.get(b"HTTP_X_TRACE_ID"), Some(&b"7"[..]));
        assert_eq!(environ.len(), 4);
    }

    #[test]
    fn seal_points_into_buffers_and_clear_reuses() {
        let mut environ = Environ::new();
        environ.push(b"REQUEST_METHOD", b"GET");
        environ.set_content_length(Some(3));
        environ.set_https(true);
        let raw = environ.seal();
        // SAFETY: `raw` was just returned by seal() and `environ` is unchanged.
        let raw = unsafe { &*raw };
        assert_eq!(raw.n_vars, 1);
        assert_eq!(raw.content_length, 3);
        // SAFETY: vars has n_vars == 1 entries pointing into environ's buffer.
        let var = unsafe { &*raw.vars };
        // SAFETY: the name points at 14 bytes inside environ's buffer.
        let name = unsafe { core::slice::from_raw_parts(var.name.ptr, var.name.len) };
        assert_eq!(name, b"REQUEST_METHOD");
        let capacity = environ.data.capacity();
        environ.clear();
        assert!(environ.is_empty());
        assert_eq!(environ.content_length(), None);
        assert_eq!(environ.data.capacity(), capacity);
    }
}
