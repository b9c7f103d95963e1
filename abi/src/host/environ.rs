//! The request environ as the host builds it: CGI variables plus the typed `wsgi.*` fields.
//!
//! One [`Environ`] is reused for request after request: clearing it keeps every buffer's capacity,
//! so steady-state requests build their environ without allocating. It owns the bytes that the
//! `nsgi_environ` handed to the app points into, and must not be changed while an app holds it
//! (the exchange borrows it for the whole request).

use super::swar;
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
    /// One bit per [`key_bit`] of every name pushed since the last clear: a name whose bit is
    /// clear is certainly new, so [`Environ::push_http_header`] searches for a repeat only when
    /// the bit is set.
    seen: u64,
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
            seen: 0,
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
        self.seen = 0;
    }

    /// Adds a variable. The caller keeps names unique (use [`Environ::push_http_header`] for
    /// request headers, which merges repeats).
    // Inline: callers pass literal names, so the name's seen bit and its copy become constants.
    #[inline(always)]
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.seen |= key_bit(name);
        let name_start = self.offset();
        self.data.reserve(name.len() + value.len());
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
        self.seen |= key_bit(name);
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
        let name_start = self.offset();
        if swar::eq_ignore_ascii_case(name, b"content-type") {
            self.data.extend_from_slice(b"CONTENT_TYPE");
        } else if swar::eq_ignore_ascii_case(name, b"content-length") {
            self.data.extend_from_slice(b"CONTENT_LENGTH");
        } else {
            self.data.reserve(5 + name.len() + CGI_CHUNK + value.len());
            self.data.extend_from_slice(b"HTTP_");
            let mapped_start = self.data.len();
            self.data.extend_from_slice(name);
            // Zero padding up to whole chunks (zero bytes map to themselves), cut off below.
            self.data.extend_from_slice(&[0; CGI_CHUNK]);
            let chunks = name.len().div_ceil(CGI_CHUNK) * CGI_CHUNK;
            let underscore = cgi_name_in_place(&mut self.data[mapped_start..mapped_start + chunks]);
            self.data.truncate(mapped_start + name.len());
            if underscore {
                self.data.truncate(name_start as usize);
                return false;
            }
        }
        let name_end = self.offset();
        let key = &self.data[name_start as usize..name_end as usize];
        let bit = key_bit(key);
        let existing = if self.seen & bit == 0 {
            None
        } else {
            self.spans.iter().position(|span| {
                span.name_end - span.name_start == key.len() as u32
                    && &self.data[span.name_start as usize..span.name_end as usize] == key
            })
        };
        self.seen |= bit;
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
        // SAFETY: every span lies within `data` (it was recorded from offsets into it).
        let at = |offset: u32| unsafe { base.add(offset as usize) };
        // One extend from an exact-size iterator: a single capacity check, not one per push.
        self.vars.extend(self.spans.iter().map(|span| nsgi_header {
            name: nsgi_bytes {
                ptr: at(span.name_start),
                len: (span.name_end - span.name_start) as usize,
            },
            value: nsgi_bytes {
                ptr: at(span.value_start),
                len: (span.value_end - span.value_start) as usize,
            },
        }));
        self.raw.vars = self.vars.as_ptr();
        self.raw.n_vars = self.vars.len();
        self.raw.url_scheme = nsgi_bytes::from_slice(if self.https { b"https" } else { b"http" });
        &self.raw
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }
}

/// The bit of a variable name in [`Environ`]'s `seen` mask: a multiplicative hash of its length
/// and last two bytes (the first five are `HTTP_` for every request header, so they tell little
/// apart). Equal names always get the same bit; different names may share one, and then the exact
/// search decides. The multiplier was picked so that the CGI variables and the common request
/// headers each get a bit of their own (see the `common_names_get_distinct_bits` test).
fn key_bit(key: &[u8]) -> u64 {
    let last = key.last().copied().unwrap_or(0);
    let before = if key.len() >= 2 { key[key.len() - 2] } else { 0 };
    let word = (key.len() as u32) | u32::from(last) << 8 | u32::from(before) << 16;
    1 << (word.wrapping_mul(0x1FCC_BB0F) >> 26)
}

/// Bytes [`cgi_name_in_place`] maps at a time.
const CGI_CHUNK: usize = 16;

/// Maps a request header name to its CGI form in place: ASCII lower case to upper case, `-` to
/// `_`, every other byte unchanged. `bytes.len()` must be a
/// multiple of [`CGI_CHUNK`]. Returns true when the name held a `_` before mapping.
///
/// Each chunk is mapped by branch-free code over a fixed-size array, which the compiler turns into
/// a few vector instructions (SSE2 on x86-64): one round for most header names.
fn cgi_name_in_place(bytes: &mut [u8]) -> bool {
    let mut underscore = false;
    let mut rest = bytes;
    while let Some((chunk, tail)) = rest.split_first_chunk_mut::<CGI_CHUNK>() {
        underscore |= cgi_chunk(chunk);
        rest = tail;
    }
    underscore
}

/// [`cgi_name_in_place`] for one chunk.
#[inline(always)]
fn cgi_chunk(chunk: &mut [u8; CGI_CHUNK]) -> bool {
    let underscore = chunk.iter().fold(false, |any, &b| any | (b == b'_'));
    for byte in chunk.iter_mut() {
        let upper = if byte.wrapping_sub(b'a') < 26 {
            *byte - 0x20
        } else {
            *byte
        };
        *byte = if upper == b'-' { b'_' } else { upper };
    }
    underscore
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

    /// The old byte-by-byte rule: the `_` check, then `-` → `_` and ASCII upper case.
    fn old_cgi_name(name: &[u8]) -> Option<Vec<u8>> {
        if name.contains(&b'_') {
            return None;
        }
        Some(
            name.iter()
                .map(|&b| if b == b'-' { b'_' } else { b.to_ascii_uppercase() })
                .collect(),
        )
    }

    /// The word-wise mapping of `name` (padded as push_http_header pads it).
    fn new_cgi_name(name: &[u8]) -> Option<Vec<u8>> {
        let mut buf = name.to_vec();
        buf.resize(name.len().div_ceil(CGI_CHUNK) * CGI_CHUNK, 0);
        let underscore = cgi_name_in_place(&mut buf);
        buf.truncate(name.len());
        (!underscore).then_some(buf)
    }

    #[test]
    fn word_mapping_matches_bytewise_for_every_byte_at_every_position() {
        // Every byte value at every position of names of 1..=33 bytes (one, two and three chunks,
        // so each lane of a chunk and the padded tail are covered), in a name of letters and dashes.
        for len in 1..=33usize {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut name: Vec<u8> = (0..len).map(|i| b"aZ-q9x"[i % 6]).collect();
                    name[at] = byte;
                    assert_eq!(
                        new_cgi_name(&name),
                        old_cgi_name(&name),
                        "len {len}, byte 0x{byte:02x} at {at}"
                    );
                }
            }
        }
        // Neighbours that could disturb one another through carries or borrows.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let name = [a, b, a, b, b, a, b, a, a];
                assert_eq!(new_cgi_name(&name), old_cgi_name(&name), "{a:02x} {b:02x}");
            }
        }
        assert_eq!(new_cgi_name(b""), Some(Vec::new()));
    }

    #[test]
    fn push_http_header_matches_old_rule() {
        let names: [&[u8]; 9] = [
            b"Host",
            b"user-agent",
            b"X-Forwarded-For",
            b"x_forwarded_for",
            b"A",
            b"\xff-\x80z",
            b"Accept-Encoding-Long-Header-Name",
            b"trailing_",
            b"",
        ];
        for name in names {
            let mut environ = Environ::new();
            let added = environ.push_http_header(name, b"v");
            match old_cgi_name(name) {
                None => {
                    assert!(!added);
                    assert!(environ.is_empty());
                    assert!(environ.data.is_empty());
                }
                Some(mapped) => {
                    assert!(added);
                    let key = [&b"HTTP_"[..], &mapped].concat();
                    assert_eq!(environ.iter().collect::<Vec<_>>(), vec![(&key[..], &b"v"[..])]);
                    assert_eq!(environ.data.len(), key.len() + 1);
                }
            }
        }
    }

    #[test]
    fn repeats_join_whatever_pushed_the_first() {
        let mut environ = Environ::new();
        environ.push(b"REQUEST_METHOD", b"GET");
        environ.push_with(b"HTTP_HOST", |out| out.extend_from_slice(b"a.example"));
        environ.push(b"HTTP_X_SET", b"1");
        environ.push_with(b"", |_| {});
        assert!(environ.push_http_header(b"Host", b"b.example"));
        assert!(environ.push_http_header(b"x-set", b"2"));
        assert!(environ.push_http_header(b"Accept", b"text/html"));
        assert!(environ.push_http_header(b"ACCEPT", b"*/*"));
        assert!(environ.push_http_header(b"accept", b"x/y"));
        assert!(environ.push_http_header(b"Cookie", b"a=1"));
        assert!(environ.push_http_header(b"COOKIE", b"b=2"));
        assert_eq!(environ.get(b"HTTP_HOST"), Some(&b"a.example, b.example"[..]));
        assert_eq!(environ.get(b"HTTP_X_SET"), Some(&b"1, 2"[..]));
        assert_eq!(environ.get(b"HTTP_ACCEPT"), Some(&b"text/html, */*, x/y"[..]));
        assert_eq!(environ.get(b"HTTP_COOKIE"), Some(&b"a=1; b=2"[..]));
        assert_eq!(environ.len(), 6);
        // After clear() nothing counts as seen any more.
        environ.clear();
        assert!(environ.push_http_header(b"Host", b"c.example"));
        assert_eq!(
            environ.iter().collect::<Vec<_>>(),
            vec![(&b"HTTP_HOST"[..], &b"c.example"[..])]
        );
    }

    #[test]
    fn joins_with_every_seen_bit_set() {
        // With every bit set, every header takes the exact search; it must still tell new names
        // from repeats.
        let mut environ = Environ::new();
        environ.seen = u64::MAX;
        let names: Vec<Vec<u8>> = (0..200).map(|i| format!("X-Header-{i}").into_bytes()).collect();
        for name in &names {
            assert!(environ.push_http_header(name, b"1"));
        }
        for name in &names {
            assert!(environ.push_http_header(name, b"2"));
        }
        assert_eq!(environ.len(), 200);
        assert!(environ.iter().all(|(_, value)| value == b"1, 2"));
    }

    #[test]
    fn key_bit_is_one_bit() {
        for key in [&b""[..], b"A", b"AB", b"HTTP_HOST", b"REQUEST_METHOD"] {
            assert_eq!(key_bit(key).count_ones(), 1);
        }
    }

    #[test]
    fn common_names_get_distinct_bits() {
        // Not needed for correctness (a shared bit only costs an exact search), but the hot path
        // relies on it: a header set like a browser's never needs the search after the variables
        // the gateway pushes. SERVER_PORT and REMOTE_PORT share a bit; both are pushed, never
        // looked up.
        let cgi: &[&[u8]] = &[
            b"REQUEST_METHOD",
            b"SCRIPT_NAME",
            b"PATH_INFO",
            b"QUERY_STRING",
            b"REQUEST_URI",
            b"SERVER_PROTOCOL",
            b"SERVER_NAME",
            b"SERVER_PORT",
            b"REMOTE_ADDR",
            b"REMOTE_PORT",
        ];
        let headers: &[&[u8]] = &[
            b"Host",
            b"User-Agent",
            b"Accept",
            b"Accept-Encoding",
            b"Accept-Language",
            b"Connection",
            b"Cookie",
            b"Referer",
            b"Content-Type",
            b"Content-Length",
            b"Cache-Control",
            b"Origin",
            b"Authorization",
            b"X-Forwarded-For",
            b"Upgrade-Insecure-Requests",
            b"Sec-Fetch-Mode",
            b"Sec-Fetch-Site",
            b"Sec-Fetch-Dest",
            b"Sec-Fetch-User",
            b"X-Request-Id",
            b"If-None-Match",
            b"If-Modified-Since",
            b"Pragma",
            b"DNT",
            b"TE",
            b"X-Forwarded-Proto",
            b"X-Real-IP",
            b"Range",
            b"If-Match",
        ];
        let mut environ = Environ::new();
        for name in cgi {
            environ.push(name, b"");
        }
        for name in headers {
            let seen = environ.seen;
            assert!(environ.push_http_header(name, b""));
            assert_eq!(
                seen.count_ones() + 1,
                environ.seen.count_ones(),
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
