//! The uwsgi request packet: a 4-byte header (modifier1 `u8`, datasize `u16` little-endian,
//! modifier2 `u8`), then `datasize` bytes of variables, each a `u16` LE key length, the key, a
//! `u16` LE value length and the value; the request body follows the packet.
//!
//! Owns the strict reading of a packet and its mapping onto a [`RequestHead`]: only modifier1 0
//! (a WSGI request) is served; every length must stay inside the block; REQUEST_METHOD must be a
//! token; CONTENT_LENGTH empty or digits within `--max-body-size`; no control byte in a value
//! that becomes a header value or the target; no more HTTP_* variables than
//! `--limit-request-fields`; no variable that decides the request twice. Reading is in two
//! passes over the block: [`scan`] checks everything and writes the rewritten header names
//! (`HTTP_X_FOO` → `x-foo`) into a caller's buffer, [`assemble`] points the head's slices into
//! the packet and that buffer.
//!
//! It must never read past the block (body bytes are never read as variables), never panic on
//! any input, and never allocate once the caller's buffer is warm.

use crate::http::parse::MAX_METHOD_BYTES;
use crate::http::parse::parse_content_length;
use crate::http::syntax::{is_tchar, parse_host, parse_port};
use crate::http::{Framing, Front, Limits, RequestHead, Version};
use std::fmt;
use std::net::IpAddr;

/// Bytes of the packet header.
pub(crate) const HEADER_BYTES: usize = 4;
/// The one modifier1 served: a WSGI (CGI-variables) request.
const MODIFIER1_WSGI: u8 = 0;
/// The prefix of a variable that carries a request header.
const HTTP_PREFIX: &[u8] = b"HTTP_";
/// Longest SERVER_PROTOCOL accepted (`HTTP/1.1` is 8 bytes).
const MAX_PROTOCOL_BYTES: usize = 16;

/// Why a packet is refused. The connection is closed without a response, except for
/// [`PacketError::ContentTooLarge`] (413).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketError {
    /// modifier1 is not 0 (not a WSGI request).
    UnsupportedModifier(u8),
    /// The variables block is larger than `--limit-request-head`.
    BlockTooLarge(usize),
    /// A key or value length runs past the end of the block.
    Overrun,
    /// A variable with an empty name.
    EmptyName,
    /// A variable that decides the request was sent twice.
    Duplicate(&'static str),
    /// No REQUEST_METHOD.
    MissingMethod,
    /// REQUEST_METHOD is not a token of at most 32 bytes.
    InvalidMethod,
    /// Neither REQUEST_URI nor PATH_INFO.
    MissingTarget,
    /// REQUEST_URI (or PATH_INFO, QUERY_STRING) is not a path: it does not start with `/`, or
    /// holds a control byte, a space or `#`.
    InvalidTarget,
    /// CONTENT_LENGTH is neither empty nor digits that fit 64 bits.
    InvalidContentLength,
    /// CONTENT_LENGTH is larger than `--max-body-size`.
    ContentTooLarge,
    /// An HTTP_* name holds a byte that no header name has.
    InvalidHeaderName,
    /// A value that becomes a header value holds a control byte (NUL, CR, LF, ...).
    InvalidHeaderValue(&'static str),
    /// HTTP_HOST is neither empty nor `uri-host [":" port]`.
    InvalidHost,
    /// SERVER_PROTOCOL is longer than 16 bytes or holds a control byte or a space.
    InvalidProtocol,
    /// More HTTP_* variables than `--limit-request-fields`.
    TooManyHeaders,
}

impl PacketError {
    /// The status to answer with before closing, when the packet was read whole and only a
    /// limit was exceeded; `None` when nothing is answered (the connection is just closed).
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            PacketError::ContentTooLarge => Some(413),
            _ => None,
        }
    }
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketError::UnsupportedModifier(m) => {
                write!(f, "modifier1 {m} is not served (only 0, a WSGI request)")
            }
            PacketError::BlockTooLarge(n) => write!(f, "a variables block of {n} bytes exceeds --limit-request-head"),
            PacketError::Overrun => f.write_str("a variable's length runs past the end of the variables block"),
            PacketError::EmptyName => f.write_str("a variable has an empty name"),
            PacketError::Duplicate(name) => write!(f, "{name} is sent twice"),
            PacketError::MissingMethod => f.write_str("REQUEST_METHOD is missing"),
            PacketError::InvalidMethod => f.write_str("REQUEST_METHOD is not a method token"),
            PacketError::MissingTarget => f.write_str("neither REQUEST_URI nor PATH_INFO is sent"),
            PacketError::InvalidTarget => {
                f.write_str("REQUEST_URI (or PATH_INFO/QUERY_STRING) is not a path without control bytes")
            }
            PacketError::InvalidContentLength => f.write_str("CONTENT_LENGTH is not a number of bytes"),
            PacketError::ContentTooLarge => f.write_str("CONTENT_LENGTH exceeds --max-body-size"),
            PacketError::InvalidHeaderName => f.write_str("an HTTP_* variable's name is not a header name"),
            PacketError::InvalidHeaderValue(name) => write!(f, "{name} holds a control byte (NUL, CR, LF, ...)"),
            PacketError::InvalidHost => f.write_str("HTTP_HOST is not a host[:port]"),
            PacketError::InvalidProtocol => f.write_str("SERVER_PROTOCOL is not a protocol name"),
            PacketError::TooManyHeaders => f.write_str("more HTTP_* variables than --limit-request-fields"),
        }
    }
}

/// The length of the packet at the start of `input` (header and variables, not the body), once
/// its header has arrived: `Ok(None)` until then. Refuses a modifier1 other than 0 and a block
/// larger than `limits.max_header_bytes` as soon as the header is in.
pub(crate) fn packet_len(input: &[u8], limits: &Limits) -> Result<Option<usize>, PacketError> {
    let [modifier1, low, high, _modifier2, ..] = *input else {
        return Ok(None);
    };
    if modifier1 != MODIFIER1_WSGI {
        return Err(PacketError::UnsupportedModifier(modifier1));
    }
    let datasize = usize::from(u16::from_le_bytes([low, high]));
    if datasize > limits.max_header_bytes {
        return Err(PacketError::BlockTooLarge(datasize));
    }
    Ok(Some(HEADER_BYTES + datasize))
}

/// The variables of a block, in order.
struct Vars<'p> {
    block: &'p [u8],
}

impl<'p> Vars<'p> {
    fn take(&mut self) -> Result<&'p [u8], PacketError> {
        let [low, high, rest @ ..] = self.block else {
            return Err(PacketError::Overrun);
        };
        let len = usize::from(u16::from_le_bytes([*low, *high]));
        if rest.len() < len {
            return Err(PacketError::Overrun);
        }
        let (item, rest) = rest.split_at(len);
        self.block = rest;
        Ok(item)
    }
}

impl<'p> Iterator for Vars<'p> {
    type Item = Result<(&'p [u8], &'p [u8]), PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.block.is_empty() {
            return None;
        }
        let pair = self.take().and_then(|name| {
            if name.is_empty() {
                return Err(PacketError::EmptyName);
            }
            Ok((name, self.take()?))
        });
        if pair.is_err() {
            self.block = &[];
        }
        Some(pair)
    }
}

/// What a variable is to the request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Var {
    Method,
    RequestUri,
    PathInfo,
    QueryString,
    Protocol,
    ContentType,
    ContentLength,
    ServerName,
    ServerPort,
    RemoteAddr,
    RemotePort,
    Https,
    RequestScheme,
    UwsgiScheme,
    ScriptName,
    /// HTTP_HOST: the `Host` header, also the request's host.
    Host,
    /// Any other HTTP_*: a header.
    Header,
    /// HTTP_CONTENT_TYPE / HTTP_CONTENT_LENGTH (CONTENT_TYPE and CONTENT_LENGTH decide) and
    /// HTTP_TRANSFER_ENCODING (a front that de-chunked the body and sends CONTENT_LENGTH leaves
    /// the client's `Transfer-Encoding: chunked` among the headers; the body is not chunked).
    Ignored,
    /// Anything else (DOCUMENT_ROOT, SERVER_SOFTWARE, ...): not used.
    Other,
}

impl Var {
    fn of(name: &[u8]) -> Var {
        match name {
            b"REQUEST_METHOD" => Var::Method,
            b"REQUEST_URI" => Var::RequestUri,
            b"PATH_INFO" => Var::PathInfo,
            b"QUERY_STRING" => Var::QueryString,
            b"SERVER_PROTOCOL" => Var::Protocol,
            b"CONTENT_TYPE" => Var::ContentType,
            b"CONTENT_LENGTH" => Var::ContentLength,
            b"SERVER_NAME" => Var::ServerName,
            b"SERVER_PORT" => Var::ServerPort,
            b"REMOTE_ADDR" => Var::RemoteAddr,
            b"REMOTE_PORT" => Var::RemotePort,
            b"HTTPS" => Var::Https,
            b"REQUEST_SCHEME" => Var::RequestScheme,
            b"UWSGI_SCHEME" => Var::UwsgiScheme,
            b"SCRIPT_NAME" => Var::ScriptName,
            b"HTTP_HOST" => Var::Host,
            b"HTTP_CONTENT_TYPE" | b"HTTP_CONTENT_LENGTH" | b"HTTP_TRANSFER_ENCODING" => Var::Ignored,
            _ if name.starts_with(HTTP_PREFIX) => Var::Header,
            _ => Var::Other,
        }
    }

    /// The variable's name, for messages.
    fn name(self) -> &'static str {
        match self {
            Var::Method => "REQUEST_METHOD",
            Var::RequestUri => "REQUEST_URI",
            Var::PathInfo => "PATH_INFO",
            Var::QueryString => "QUERY_STRING",
            Var::Protocol => "SERVER_PROTOCOL",
            Var::ContentType => "CONTENT_TYPE",
            Var::ContentLength => "CONTENT_LENGTH",
            Var::ServerName => "SERVER_NAME",
            Var::ServerPort => "SERVER_PORT",
            Var::RemoteAddr => "REMOTE_ADDR",
            Var::RemotePort => "REMOTE_PORT",
            Var::Https => "HTTPS",
            Var::RequestScheme => "REQUEST_SCHEME",
            Var::UwsgiScheme => "UWSGI_SCHEME",
            Var::ScriptName => "SCRIPT_NAME",
            Var::Host => "HTTP_HOST",
            Var::Header => "an HTTP_* variable",
            Var::Ignored | Var::Other => "a variable",
        }
    }

    /// Does this variable become a header of the request?
    fn is_header(self) -> bool {
        matches!(self, Var::Header | Var::Host | Var::ContentType)
    }
}

/// What [`scan`] found: the request's singular variables, as slices of the packet.
#[derive(Default)]
pub(crate) struct Scanned<'p> {
    method: Option<&'p [u8]>,
    request_uri: Option<&'p [u8]>,
    path_info: Option<&'p [u8]>,
    query_string: Option<&'p [u8]>,
    protocol: Option<&'p [u8]>,
    content_type: Option<&'p [u8]>,
    content_length: Option<&'p [u8]>,
    server_name: Option<&'p [u8]>,
    server_port: Option<&'p [u8]>,
    remote_addr: Option<&'p [u8]>,
    remote_port: Option<&'p [u8]>,
    https: Option<&'p [u8]>,
    request_scheme: Option<&'p [u8]>,
    uwsgi_scheme: Option<&'p [u8]>,
    script_name: Option<&'p [u8]>,
    host: Option<&'p [u8]>,
    /// The header fields the request will have.
    pub(crate) headers: usize,
    /// The request body's length (CONTENT_LENGTH), when there is one.
    body_length: Option<u64>,
    /// Where the target rebuilt from PATH_INFO and QUERY_STRING starts in the names buffer
    /// (when there is no REQUEST_URI); it runs to the buffer's end.
    rebuilt_target: Option<usize>,
}

impl<'p> Scanned<'p> {
    fn slot(&mut self, var: Var) -> Option<&mut Option<&'p [u8]>> {
        Some(match var {
            Var::Method => &mut self.method,
            Var::RequestUri => &mut self.request_uri,
            Var::PathInfo => &mut self.path_info,
            Var::QueryString => &mut self.query_string,
            Var::Protocol => &mut self.protocol,
            Var::ContentType => &mut self.content_type,
            Var::ContentLength => &mut self.content_length,
            Var::ServerName => &mut self.server_name,
            Var::ServerPort => &mut self.server_port,
            Var::RemoteAddr => &mut self.remote_addr,
            Var::RemotePort => &mut self.remote_port,
            Var::Https => &mut self.https,
            Var::RequestScheme => &mut self.request_scheme,
            Var::UwsgiScheme => &mut self.uwsgi_scheme,
            Var::ScriptName => &mut self.script_name,
            Var::Host => &mut self.host,
            Var::Header | Var::Ignored | Var::Other => return None,
        })
    }
}

/// A value that becomes a header value or part of the target: no control byte but HTAB.
fn is_clean_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// A target path or query byte: anything visible (bytes above 0x7f pass: the front accepted
/// them), no space, no control byte, no `#`.
fn is_target_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && b != b'#'
}

/// Checks `packet` (header and variables block, as measured by [`packet_len`]) and writes the
/// lowercase header name of every HTTP_* variable into `names`, in order (`HTTP_X_FOO` →
/// `x-foo`), then the target rebuilt from PATH_INFO and QUERY_STRING when REQUEST_URI is missing.
pub(crate) fn scan<'p>(packet: &'p [u8], names: &mut Vec<u8>, limits: &Limits) -> Result<Scanned<'p>, PacketError> {
    names.clear();
    let block = packet.get(HEADER_BYTES..).unwrap_or_default();
    let mut found = Scanned::default();
    for pair in (Vars { block }) {
        let (name, value) = pair?;
        let var = Var::of(name);
        if let Some(slot) = found.slot(var) {
            if slot.replace(value).is_some() {
                return Err(PacketError::Duplicate(var.name()));
            }
        }
        if var.is_header() {
            if !is_clean_value(value) {
                return Err(PacketError::InvalidHeaderValue(var.name()));
            }
            if var == Var::ContentType && value.is_empty() {
                continue; // nginx sends an empty CONTENT_TYPE for a request without one
            }
            found.headers += 1;
            if found.headers > limits.max_headers {
                return Err(PacketError::TooManyHeaders);
            }
            if var != Var::ContentType {
                let suffix = &name[HTTP_PREFIX.len()..];
                if suffix.is_empty() || !suffix.iter().all(|&b| is_tchar(b)) {
                    return Err(PacketError::InvalidHeaderName);
                }
                names.extend(suffix.iter().map(|&b| match b {
                    b'_' => b'-',
                    other => other.to_ascii_lowercase(),
                }));
            }
        }
    }
    let method = found.method.ok_or(PacketError::MissingMethod)?;
    if method.is_empty() || method.len() > MAX_METHOD_BYTES || !method.iter().all(|&b| is_tchar(b)) {
        return Err(PacketError::InvalidMethod);
    }
    if let Some(host) = found.host
        && !host.is_empty()
        && parse_host(host).is_none()
    {
        return Err(PacketError::InvalidHost);
    }
    if let Some(protocol) = found.protocol
        && (protocol.len() > MAX_PROTOCOL_BYTES || !protocol.iter().all(|&b| b > 0x20 && b < 0x7f))
    {
        return Err(PacketError::InvalidProtocol);
    }
    found.body_length = match found.content_length {
        None | Some(b"") => None,
        Some(digits) => {
            let length = parse_content_length(digits)
                .filter(|_| digits.iter().all(u8::is_ascii_digit))
                .ok_or(PacketError::InvalidContentLength)?;
            if length > limits.max_body {
                return Err(PacketError::ContentTooLarge);
            }
            Some(length)
        }
    };
    match found.request_uri {
        Some(uri) => {
            if uri.first() != Some(&b'/') || !uri.iter().all(|&b| is_target_byte(b)) {
                return Err(PacketError::InvalidTarget);
            }
        }
        None => {
            let path = found.path_info.ok_or(PacketError::MissingTarget)?;
            let query = found.query_string.unwrap_or_default();
            if path.first() != Some(&b'/') || !is_clean_value(path) || !query.iter().all(|&b| is_target_byte(b)) {
                return Err(PacketError::InvalidTarget);
            }
            found.rebuilt_target = Some(names.len());
            percent_encode_path(path, names);
            if !query.is_empty() {
                names.push(b'?');
                names.extend_from_slice(query);
            }
        }
    }
    Ok(found)
}

/// Appends `path` (decoded, as PATH_INFO is) percent-encoded: every byte but the unreserved ones
/// (RFC 3986 §2.3), `/` and the sub-delims, `:` and `@` that a path segment may hold as they are.
fn percent_encode_path(path: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in path {
        let plain = b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b);
        if plain {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// The request head of a packet [`scan`] accepted: every slice points into `packet` or into
/// `names` (as `scan` left it); the header fields go into `slots` (at least `found.headers`).
pub(crate) fn assemble<'b, 'h>(
    packet: &'b [u8],
    names: &'b [u8],
    found: &Scanned<'b>,
    slots: &'h mut [httparse::Header<'b>],
) -> RequestHead<'b, 'h> {
    let block = packet.get(HEADER_BYTES..).unwrap_or_default();
    let mut count = 0;
    let mut name_at = 0;
    for (name, value) in (Vars { block }).flatten() {
        let var = Var::of(name);
        if !var.is_header() || (var == Var::ContentType && value.is_empty()) {
            continue;
        }
        let header_name: &'b str = if var == Var::ContentType {
            "content-type"
        } else {
            let len = name.len() - HTTP_PREFIX.len();
            let text = names.get(name_at..name_at + len).unwrap_or_default();
            name_at += len;
            // Token bytes only (checked by scan): always ASCII.
            std::str::from_utf8(text).unwrap_or_default()
        };
        if let Some(slot) = slots.get_mut(count) {
            *slot = httparse::Header {
                name: header_name,
                value,
            };
            count += 1;
        }
    }
    let target: &'b [u8] = match (found.request_uri, found.rebuilt_target) {
        (Some(uri), _) => uri,
        (None, Some(start)) => names.get(start..).unwrap_or_default(),
        (None, None) => b"/",
    };
    let (mut path, query) = match target.iter().position(|&b| b == b'?') {
        Some(at) => (&target[..at], &target[at + 1..]),
        None => (target, &b""[..]),
    };
    let mut script_name: &'b [u8] = b"";
    if let Some(prefix) = found.script_name.filter(|prefix| prefix.len() > 1) {
        let prefix = prefix.strip_suffix(b"/").unwrap_or(prefix);
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest.first() == Some(&b'/'))
        {
            path = rest;
            script_name = prefix;
        } else {
            log::debug!(
                "uwsgi: SCRIPT_NAME {:?} does not start the path {:?}; ignored",
                String::from_utf8_lossy(prefix),
                String::from_utf8_lossy(path)
            );
        }
    }
    let is_https = |value: Option<&[u8]>| value.is_some_and(|v| v.eq_ignore_ascii_case(b"https"));
    let front = Front {
        server_protocol: found.protocol.unwrap_or(Version::Http10.as_bytes()),
        remote_addr: found.remote_addr.map(|text| {
            std::str::from_utf8(text)
                .ok()
                .and_then(|text| text.parse::<IpAddr>().ok())
        }),
        remote_port: found.remote_port.and_then(parse_port),
        https: found.https.is_some_and(|v| v.eq_ignore_ascii_case(b"on") || v == b"1")
            || is_https(found.request_scheme)
            || is_https(found.uwsgi_scheme),
        server_name: found.server_name.filter(|name| !name.is_empty()),
        server_port: found.server_port.and_then(parse_port),
        script_name,
    };
    RequestHead {
        // Token bytes only (checked by scan): always ASCII.
        method: found.method.and_then(|m| std::str::from_utf8(m).ok()).unwrap_or("GET"),
        target,
        path,
        query,
        version: Version::Http10,
        headers: &slots[..count.min(slots.len())],
        head_len: packet.len(),
        framing: found.body_length.map_or(Framing::None, Framing::Length),
        keep_alive: false,
        expect_continue: false,
        host: found.host.filter(|host| !host.is_empty()),
        forwarded: false,
        front: Some(front),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::uwsgi::with_head;

    /// A uwsgi packet (header and variables) of `vars`, with modifier1 0.
    pub(crate) fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
        nsgi_testkit::uwsgi_packet(0, vars)
    }

    const NGINX_GET: &[(&str, &str)] = &[
        ("QUERY_STRING", "q=1&r=%20"),
        ("REQUEST_METHOD", "GET"),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("REQUEST_URI", "/items/a%2Fb?q=1&r=%20"),
        ("PATH_INFO", "/items/a/b"),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/2.0"),
        ("REQUEST_SCHEME", "https"),
        ("HTTPS", "on"),
        ("REMOTE_ADDR", "203.0.113.9"),
        ("REMOTE_PORT", "51234"),
        ("SERVER_PORT", "443"),
        ("SERVER_NAME", "example.com"),
        ("HTTP_HOST", "example.com"),
        ("HTTP_USER_AGENT", "curl/8"),
        ("HTTP_X_REQUEST_ID", "abc"),
    ];

    /// What a framed head shows, owned, for assertions.
    #[derive(Debug)]
    struct Shown {
        method: String,
        target: String,
        path: String,
        query: String,
        headers: Vec<(String, String)>,
        framing: Framing,
        keep_alive: bool,
        version: Version,
        protocol: String,
        host: Option<String>,
        front: String,
    }

    fn frame(bytes: &[u8], limits: &Limits) -> Result<Shown, PacketError> {
        let len = packet_len(bytes, limits)?.expect("a whole header");
        assert!(bytes.len() >= len, "a whole packet");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        with_head(&bytes[..len], limits, |framed| {
            framed.map(|head| Shown {
                method: head.method.to_owned(),
                target: text(head.target),
                path: text(head.path),
                query: text(head.query),
                headers: head
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), text(h.value)))
                    .collect(),
                framing: head.framing,
                keep_alive: head.keep_alive,
                version: head.version,
                protocol: text(head.protocol_text()),
                host: head.host.map(text),
                front: format!("{:?}", head.front),
            })
        })
    }

    #[test]
    fn an_nginx_get_maps_to_a_request_head() {
        let shown = frame(&packet(NGINX_GET), &Limits::default()).expect("frames");
        assert_eq!(shown.method, "GET");
        assert_eq!(shown.target, "/items/a%2Fb?q=1&r=%20", "REQUEST_URI, still encoded");
        assert_eq!(shown.path, "/items/a%2Fb");
        assert_eq!(shown.query, "q=1&r=%20");
        assert_eq!(
            shown.headers,
            [
                ("host", "example.com"),
                ("user-agent", "curl/8"),
                ("x-request-id", "abc")
            ]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert_eq!(shown.framing, Framing::None, "an empty CONTENT_LENGTH is no body");
        assert!(!shown.keep_alive, "one request per connection");
        assert_eq!(
            shown.version,
            Version::Http10,
            "the response is framed as for HTTP/1.0: never chunked"
        );
        assert_eq!(shown.protocol, "HTTP/2.0", "the environ shows the front's protocol");
        assert_eq!(shown.host.as_deref(), Some("example.com"));
        for part in ["203.0.113.9", "51234", "https: true", "server_port: Some(443)"] {
            assert!(shown.front.contains(part), "{part} in {}", shown.front);
        }
    }

    #[test]
    fn body_length_content_type_and_script_name() {
        let vars = [
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/app/form?x=1"),
            ("SCRIPT_NAME", "/app"),
            ("CONTENT_LENGTH", "11"),
            ("CONTENT_TYPE", "text/plain"),
            ("HTTP_CONTENT_TYPE", "text/plain"),
            ("HTTP_CONTENT_LENGTH", "11"),
            ("HTTP_TRANSFER_ENCODING", "chunked"),
        ];
        let shown = frame(&packet(&vars), &Limits::default()).expect("frames");
        assert_eq!(shown.framing, Framing::Length(11));
        assert_eq!(shown.path, "/form", "SCRIPT_NAME is removed from the path");
        assert!(
            shown.front.contains("script_name: [47, 97, 112, 112]"),
            "{}",
            shown.front
        );
        assert_eq!(
            shown.headers,
            [("content-type".to_owned(), "text/plain".to_owned())],
            "only CONTENT_TYPE; the de-chunked body is not chunked"
        );
        // A SCRIPT_NAME that does not start the path is not removed.
        let vars = [
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/application"),
            ("SCRIPT_NAME", "/app"),
        ];
        let shown = frame(&packet(&vars), &Limits::default()).expect("frames");
        assert_eq!(shown.path, "/application");
        assert!(shown.front.contains("script_name: []"), "{}", shown.front);
    }

    #[test]
    fn without_request_uri_the_target_is_rebuilt_encoded() {
        let vars = [
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/a b/ü"),
            ("QUERY_STRING", "k=v"),
            ("HTTP_X_A", "1"),
        ];
        let shown = frame(&packet(&vars), &Limits::default()).expect("frames");
        assert_eq!(shown.target, "/a%20b/%C3%BC?k=v");
        assert_eq!(shown.path, "/a%20b/%C3%BC");
        assert_eq!(shown.query, "k=v");
        assert_eq!(shown.headers, [("x-a".to_owned(), "1".to_owned())]);
        assert_eq!(shown.protocol, "HTTP/1.0", "no SERVER_PROTOCOL");
        // An empty HTTP_HOST is no host (an HTTP/1.0 client may send none).
        let vars = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_HOST", "")];
        assert_eq!(frame(&packet(&vars), &Limits::default()).expect("frames").host, None);
    }

    #[test]
    fn malformed_packets_are_refused_with_their_reason() {
        let limits = Limits::default();
        let get = |extra: &[(&str, &str)]| {
            let mut vars = vec![("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")];
            vars.extend_from_slice(extra);
            packet(&vars)
        };
        let cases: Vec<(Vec<u8>, PacketError)> = vec![
            (
                nsgi_testkit::uwsgi_packet(5, &[("A", "b")]),
                PacketError::UnsupportedModifier(5),
            ),
            (packet(&[("REQUEST_URI", "/")]), PacketError::MissingMethod),
            (
                packet(&[("REQUEST_METHOD", "G T"), ("REQUEST_URI", "/")]),
                PacketError::InvalidMethod,
            ),
            (packet(&[("REQUEST_METHOD", "GET")]), PacketError::MissingTarget),
            (
                packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "x")]),
                PacketError::InvalidTarget,
            ),
            (
                packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a b")]),
                PacketError::InvalidTarget,
            ),
            (get(&[("CONTENT_LENGTH", "-1")]), PacketError::InvalidContentLength),
            (get(&[("CONTENT_LENGTH", "1,1")]), PacketError::InvalidContentLength),
            (
                get(&[("CONTENT_LENGTH", "99999999999999999999999")]),
                PacketError::InvalidContentLength,
            ),
            (get(&[("CONTENT_LENGTH", "999999999999")]), PacketError::ContentTooLarge),
            (
                get(&[("HTTP_X_EVIL", "a\r\nb")]),
                PacketError::InvalidHeaderValue("an HTTP_* variable"),
            ),
            (
                get(&[("HTTP_X_NUL", "a\0b")]),
                PacketError::InvalidHeaderValue("an HTTP_* variable"),
            ),
            (
                get(&[("CONTENT_TYPE", "a\nb")]),
                PacketError::InvalidHeaderValue("CONTENT_TYPE"),
            ),
            (get(&[("HTTP_", "x")]), PacketError::InvalidHeaderName),
            (get(&[("HTTP_A B", "x")]), PacketError::InvalidHeaderName),
            (get(&[("HTTP_HOST", "a b")]), PacketError::InvalidHost),
            (
                get(&[("SERVER_PROTOCOL", "HTTP/1.1\r\n")]),
                PacketError::InvalidProtocol,
            ),
            (
                get(&[("REQUEST_METHOD", "POST")]),
                PacketError::Duplicate("REQUEST_METHOD"),
            ),
            (
                get(&[("CONTENT_LENGTH", "1"), ("CONTENT_LENGTH", "2")]),
                PacketError::Duplicate("CONTENT_LENGTH"),
            ),
            (get(&[("", "x")]), PacketError::EmptyName),
        ];
        for (bytes, expected) in cases {
            let error = frame(&bytes, &limits).expect_err(&format!("{expected:?}"));
            assert_eq!(error, expected);
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(PacketError::ContentTooLarge.status(), Some(413));
        assert_eq!(PacketError::Overrun.status(), None);
    }

    #[test]
    fn lengths_that_overrun_the_block_are_refused() {
        let mut bytes = packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]);
        // The last value says it is one byte longer than what the block holds.
        let at = bytes.len() - 3;
        bytes[at] += 1;
        assert_eq!(frame(&bytes, &Limits::default()).unwrap_err(), PacketError::Overrun);
        // A key length alone, its second byte missing.
        let mut bytes = packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")]);
        bytes.push(7);
        let size = (bytes.len() - HEADER_BYTES) as u16;
        bytes[1..3].copy_from_slice(&size.to_le_bytes());
        assert_eq!(frame(&bytes, &Limits::default()).unwrap_err(), PacketError::Overrun);
    }

    #[test]
    fn limits_on_the_block_and_the_header_count() {
        let limits = Limits {
            max_headers: 2,
            max_header_bytes: 80,
            ..Limits::default()
        };
        let many = packet(&[
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/"),
            ("HTTP_A", "1"),
            ("HTTP_B", "2"),
            ("HTTP_C", "3"),
        ]);
        assert_eq!(frame(&many, &limits).unwrap_err(), PacketError::TooManyHeaders);
        let long = format!("/{}", "x".repeat(80));
        let big = packet(&[("REQUEST_METHOD", "GET"), ("REQUEST_URI", &long)]);
        assert!(matches!(packet_len(&big, &limits), Err(PacketError::BlockTooLarge(_))));
        // More headers than the stack slots: the large slot array takes them.
        let names: Vec<String> = (0..40).map(|i| format!("HTTP_X_{i}")).collect();
        let mut vars = vec![("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")];
        vars.extend(names.iter().map(|n| (n.as_str(), "v")));
        let shown = frame(&packet(&vars), &Limits::default()).expect("frames");
        assert_eq!(shown.headers.len(), 40);
        assert_eq!(shown.headers[39].0, "x-39");
    }

    #[test]
    fn body_bytes_are_never_read_as_variables() {
        let mut bytes = packet(&[
            ("REQUEST_METHOD", "POST"),
            ("REQUEST_URI", "/"),
            ("CONTENT_LENGTH", "40"),
        ]);
        let packet_end = bytes.len();
        // A body that is itself a well-formed variables block asking for another method.
        let body = packet(&[("REQUEST_METHOD", "DELETE"), ("HTTP_X_INJECTED", "1")]);
        bytes.extend_from_slice(&body[HEADER_BYTES..]);
        assert_eq!(packet_len(&bytes, &Limits::default()), Ok(Some(packet_end)));
        let shown = frame(&bytes, &Limits::default()).expect("frames");
        assert_eq!(shown.method, "POST");
        assert!(shown.headers.is_empty(), "{:?}", shown.headers);
        assert_eq!(shown.framing, Framing::Length(40));
    }

    #[test]
    fn a_packet_fed_byte_by_byte_frames_once_whole() {
        let bytes = packet(NGINX_GET);
        let limits = Limits::default();
        for end in 0..bytes.len() {
            match packet_len(&bytes[..end], &limits) {
                Ok(None) => assert!(end < HEADER_BYTES),
                Ok(Some(len)) => assert!(end < len, "complete at {end} of {len}?"),
                Err(e) => panic!("a prefix of {end} bytes refused: {e}"),
            }
        }
        assert_eq!(packet_len(&bytes, &limits), Ok(Some(bytes.len())));
        assert!(frame(&bytes, &limits).is_ok());
    }

    #[test]
    fn the_names_buffer_stops_growing_once_warm() {
        let bytes = packet(NGINX_GET);
        let limits = Limits::default();
        frame(&bytes, &limits).expect("frames");
        let capacity = crate::uwsgi::NAMES.with(|cell| {
            let names = cell.take();
            let capacity = names.capacity();
            cell.set(names);
            capacity
        });
        assert!(capacity > 0);
        frame(&bytes, &limits).expect("frames");
        let again = crate::uwsgi::NAMES.with(|cell| {
            let names = cell.take();
            let capacity = names.capacity();
            cell.set(names);
            capacity
        });
        assert_eq!(capacity, again);
    }
}
