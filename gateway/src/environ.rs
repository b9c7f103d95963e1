//! Building the NSGI environ of one HTTP request (the CGI variables of PEP 3333).
//!
//! Owns the mapping from a parsed request head and its connection to environ variables:
//! REQUEST_METHOD, SCRIPT_NAME, PATH_INFO (percent-decoded), QUERY_STRING, REQUEST_URI,
//! CONTENT_TYPE, CONTENT_LENGTH, SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, REMOTE_ADDR,
//! REMOTE_PORT and HTTP_*. Writes into a reused [`Environ`]; never allocates once warm.

use crate::http::RequestHead;
use nsgi::host::Environ;
use std::net::SocketAddr;

/// The connection a request arrived on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the request came in on.
    pub local: SocketAddr,
}

/// Fills `environ` for `head` with a body of `body_len` bytes, mounted at `script_name`.
pub fn build(environ: &mut Environ, head: &RequestHead<'_, '_>, body_len: usize, conn: &ConnInfo, script_name: &[u8]) {
    environ.clear();
    environ.push(b"REQUEST_METHOD", head.method.as_bytes());
    environ.push(b"SCRIPT_NAME", script_name);
    environ.push_with(b"PATH_INFO", |out| percent_decode_into(head.path, out));
    environ.push(b"QUERY_STRING", head.query);
    environ.push(b"REQUEST_URI", head.target);
    environ.push(b"SERVER_PROTOCOL", head.version.as_bytes());
    let (server_name, server_port) = split_host(head.host);
    match server_name {
        Some(name) => environ.push(b"SERVER_NAME", name),
        None => environ.push_with(b"SERVER_NAME", |out| push_ip(out, conn.local)),
    }
    match server_port {
        Some(port) => environ.push(b"SERVER_PORT", port),
        None if server_name.is_some() => environ.push(b"SERVER_PORT", b"80"),
        None => environ.push_with(b"SERVER_PORT", |out| push_u64(out, u64::from(conn.local.port()))),
    }
    environ.push_with(b"REMOTE_ADDR", |out| push_ip(out, conn.peer));
    environ.push_with(b"REMOTE_PORT", |out| push_u64(out, u64::from(conn.peer.port())));

    let chunked = matches!(head.framing, crate::http::Framing::Chunked);
    for header in head.headers {
        let name = header.name.as_bytes();
        // The body reaches the app de-chunked and complete, so it is described by its length.
        if name.eq_ignore_ascii_case(b"content-length") || (chunked && name.eq_ignore_ascii_case(b"transfer-encoding"))
        {
            continue;
        }
        environ.push_http_header(name, header.value);
    }
    let has_body = !matches!(head.framing, crate::http::Framing::None);
    if has_body {
        environ.push_with(b"CONTENT_LENGTH", |out| push_u64(out, body_len as u64));
        environ.set_content_length(Some(body_len as u64));
    } else {
        environ.set_content_length(None);
    }
    environ.set_https(false);
}

/// Splits a Host header value into name and port (`example.com:8080`, `[::1]:8000`).
fn split_host(host: Option<&[u8]>) -> (Option<&[u8]>, Option<&[u8]>) {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return (None, None);
    };
    if host.first() == Some(&b'[') {
        if let Some(end) = host.iter().position(|&b| b == b']') {
            let name = &host[..=end];
            let port = host[end + 1..].strip_prefix(b":").filter(|p| !p.is_empty());
            return (Some(name), port);
        }
        return (Some(host), None);
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(colon) if colon + 1 < host.len() => (Some(&host[..colon]), Some(&host[colon + 1..])),
        Some(colon) => (Some(&host[..colon]), None),
        None => (Some(host), None),
    }
}

/// Appends the IP address of `addr` without allocating.
fn push_ip(out: &mut Vec<u8>, addr: SocketAddr) {
    use std::io::Write;
    let _ = write!(out, "{}", addr.ip());
}

fn push_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `raw` with `%XX` escapes decoded. Invalid escapes are kept as they are (as Apache and
/// most WSGI servers do), so decoding never fails.
pub fn percent_decode_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte == b'%'
            && i + 2 < raw.len()
            && let (Some(hi), Some(lo)) = (hex(raw[i + 1]), hex(raw[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(byte);
        i += 1;
    }
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        percent_decode_into(raw, &mut out);
        out
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode(b"/a%20b"), b"/a b");
        assert_eq!(decode(b"/%2Fx"), b"//x");
        assert_eq!(decode(b"/%zz%4"), b"/%zz%4");
        assert_eq!(decode(b"/%e2%82%ac"), "/€".as_bytes());
        assert_eq!(decode(b"%41"), b"A");
    }

    #[test]
    fn host_splitting() {
        assert_eq!(
            split_host(Some(b"example.com:8080")),
            (Some(&b"example.com"[..]), Some(&b"8080"[..]))
        );
        assert_eq!(split_host(Some(b"example.com")), (Some(&b"example.com"[..]), None));
        assert_eq!(
            split_host(Some(b"[::1]:8000")),
            (Some(&b"[::1]"[..]), Some(&b"8000"[..]))
        );
        assert_eq!(split_host(Some(b"[::1]")), (Some(&b"[::1]"[..]), None));
        assert_eq!(split_host(Some(b"")), (None, None));
        assert_eq!(split_host(None), (None, None));
    }
}
