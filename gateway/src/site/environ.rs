//! Building the NSGI environ of one HTTP request (the CGI variables of PEP 3333).
//!
//! Owns the mapping from a parsed request head, its connection, the mount it was routed to and
//! what trusted proxies say about it, to environ variables: REQUEST_METHOD, SCRIPT_NAME,
//! PATH_INFO (percent-decoded), QUERY_STRING, REQUEST_URI, CONTENT_TYPE, CONTENT_LENGTH,
//! SERVER_NAME, SERVER_PORT, SERVER_PROTOCOL, REMOTE_ADDR, REMOTE_PORT and HTTP_*, plus
//! `wsgi.url_scheme` and the `NSGI_ENV_*` flags. Also owns [`Site`] (the per-server settings the
//! environ depends on) and [`Endpoints`] (both ends of a TCP or unix-socket connection).
//!
//! Writes into a reused [`Environ`] and never allocates once its buffers are warm. Deciding
//! *which* proxy header to believe is `proxy.rs`; which app serves a path is `mount.rs`.
//!
//! # Variables that depend on the connection
//!
//! * REMOTE_ADDR is the client's address (canonical: IPv4-mapped IPv6 is shown as IPv4) and
//!   REMOTE_PORT its port, only when known (a proxy that forwards an address without a port
//!   leaves REMOTE_PORT out rather than pair the client's address with the proxy's port). A
//!   unix-socket peer has no address: REMOTE_ADDR is then empty (CGI requires the variable) and
//!   REMOTE_PORT absent, as gunicorn does; an empty value cannot be mistaken for an address by
//!   apps that validate it, unlike a placeholder such as `unix`. Behind a trusted proxy on a unix
//!   socket the forwarded client address fills it in.
//! * SERVER_NAME / SERVER_PORT come from a trusted forwarded host and port, else the request's
//!   `Host`, else the local address (for a unix socket: its path, and the scheme's port).
//!   Without an explicit port, a known host gets the scheme's default (80 or 443).
//! * When a trusted proxy supplies the host or the port (`Forwarded: host=`,
//!   `X-Forwarded-Host`, `X-Forwarded-Port`), HTTP_HOST is rebuilt as SERVER_NAME, plus
//!   `:SERVER_PORT` unless it is the scheme's default, instead of the `Host` the proxy sent: apps
//!   that rebuild their URL the PEP 3333 way (HTTP_HOST first) then see what the client asked
//!   for. (Werkzeug's ProxyFix does the same.)
//! * A request relayed by a uwsgi front ([`RequestHead::front`]) takes REMOTE_ADDR, REMOTE_PORT,
//!   the scheme, SERVER_NAME and SERVER_PORT from the front's variables
//!   ([`ClientView::from_front`]), SERVER_PROTOCOL from the front's, and the front's SCRIPT_NAME
//!   (the sub-path it serves the app under) before the mount's SCRIPT_NAME.

use crate::http::{Framing, RequestHead, percent_decoded};
use crate::site::mount::{MountTable, Route};
use crate::site::proxy::{ClientView, TrustedProxies, resolve};
use nsgi::host::Environ;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

/// The per-server settings every environ is built from: the mounts, the trusted proxies and the
/// `NSGI_ENV_*` flags (`wsgi.multithread` and friends).
#[derive(Clone, Debug)]
pub struct Site {
    /// The mounted apps and the root path.
    pub mounts: MountTable,
    /// The peers whose forwarding headers are believed.
    pub proxies: TrustedProxies,
    /// `NSGI_ENV_MULTITHREAD` / `NSGI_ENV_MULTIPROCESS` / `NSGI_ENV_RUN_ONCE`, set on every
    /// environ.
    pub flags: u32,
}

/// Where a connection arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Local {
    /// A TCP listener's address.
    Tcp(SocketAddr),
    /// A unix-socket listener's path.
    Unix(Arc<Path>),
}

/// Both ends of the connection a request arrived on, TCP or unix socket.
///
/// Its `Display` is the peer for log lines: `192.0.2.1:50000`, or `unix:/run/app.sock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// The client's address; `None` for a unix-socket peer.
    pub(crate) peer: Option<SocketAddr>,
    /// Where the connection arrived.
    pub(crate) local: Local,
}

impl Endpoints {
    /// A TCP connection from `peer` to `local`.
    pub fn tcp(peer: SocketAddr, local: SocketAddr) -> Endpoints {
        Endpoints {
            peer: Some(peer),
            local: Local::Tcp(local),
        }
    }

    /// A connection on the unix socket at `path` (shared by every connection of the listener).
    pub(crate) fn unix(path: Arc<Path>) -> Endpoints {
        Endpoints {
            peer: None,
            local: Local::Unix(path),
        }
    }
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.peer, &self.local) {
            (Some(peer), _) => write!(f, "{peer}"),
            (None, Local::Unix(path)) => write!(f, "unix:{}", path.display()),
            (None, Local::Tcp(_)) => f.write_str("unix:"),
        }
    }
}

/// Fills `environ` for `head`, whose de-chunked body is `body_len` bytes, arriving on `conn` and
/// routed by `site.mounts` to `route`. Returns what was resolved about the client (for the
/// access log). `route` must come from `site.mounts` for this request's path
/// ([`MountTable::route_encoded`] of `head.path`).
pub fn build_request<'a>(
    environ: &mut Environ,
    head: &RequestHead<'a, '_>,
    body_len: u64,
    conn: &Endpoints,
    site: &Site,
    route: &Route,
) -> ClientView<'a> {
    let view = resolve(head, conn.peer, &site.proxies);
    let script_name = site.mounts.script_name(route.app);
    write_environ(
        environ,
        head,
        body_len,
        &view,
        &conn.local,
        script_name,
        route.path_info_start,
    );
    environ.set_flags(site.flags);
    view
}

fn write_environ(
    environ: &mut Environ,
    head: &RequestHead<'_, '_>,
    body_len: u64,
    view: &ClientView<'_>,
    local: &Local,
    script_name: &[u8],
    path_info_start: usize,
) {
    environ.clear();
    environ.push(b"REQUEST_METHOD", head.method.as_bytes());
    match head.front.as_ref().map(|front| front.script_name) {
        Some(front_prefix) if !front_prefix.is_empty() => environ.push_with(b"SCRIPT_NAME", |out| {
            out.extend_from_slice(front_prefix);
            out.extend_from_slice(script_name);
        }),
        _ => environ.push(b"SCRIPT_NAME", script_name),
    }
    environ.push_with(b"PATH_INFO", |out| {
        if !head.path.contains(&b'%') {
            // Nothing to decode (the usual case): one copy.
            out.extend_from_slice(head.path.get(path_info_start..).unwrap_or_default());
        } else {
            out.extend(percent_decoded(head.path).skip(path_info_start));
        }
    });
    environ.push(b"QUERY_STRING", head.query);
    environ.push(b"REQUEST_URI", head.target);
    environ.push(b"SERVER_PROTOCOL", head.protocol_text());
    match (view.server_name, local) {
        (Some(name), _) => environ.push(b"SERVER_NAME", name),
        (None, Local::Tcp(addr)) => environ.push_with(b"SERVER_NAME", |out| push_ip(out, addr.ip())),
        (None, Local::Unix(path)) => {
            use std::os::unix::ffi::OsStrExt;
            environ.push(b"SERVER_NAME", path.as_os_str().as_bytes());
        }
    }
    let server_port = match (view.server_port, view.server_name, local) {
        (Some(port), _, _) => port,
        (None, Some(_), _) | (None, None, Local::Unix(_)) => view.port_or_default(),
        (None, None, Local::Tcp(addr)) => addr.port(),
    };
    environ.push_with(b"SERVER_PORT", |out| push_u64(out, u64::from(server_port)));
    match view.remote_addr {
        Some(ip) => environ.push_with(b"REMOTE_ADDR", |out| push_ip(out, ip)),
        None => environ.push(b"REMOTE_ADDR", b""),
    }
    if let Some(port) = view.remote_port {
        environ.push_with(b"REMOTE_PORT", |out| push_u64(out, u64::from(port)));
    }

    // HTTP_HOST rebuilt from what the trusted proxy said; the request's `Host` is skipped below.
    let rebuild_host = view.authority_forwarded && view.server_name.is_some();
    if rebuild_host {
        environ.push_with(b"HTTP_HOST", |out| view.write_authority(out));
    }
    let chunked = matches!(head.framing, Framing::Chunked);
    for header in head.headers {
        let name = header.name.as_bytes();
        // The body reaches the app de-chunked and complete, so it is described by its length.
        if name.eq_ignore_ascii_case(b"content-length")
            || (chunked && name.eq_ignore_ascii_case(b"transfer-encoding"))
            || (rebuild_host && name.eq_ignore_ascii_case(b"host"))
        {
            continue;
        }
        environ.push_http_header(name, header.value);
    }
    if matches!(head.framing, Framing::None) {
        environ.set_content_length(None);
    } else {
        environ.push_with(b"CONTENT_LENGTH", |out| push_u64(out, body_len));
        environ.set_content_length(Some(body_len));
    }
    environ.set_https(view.https);
}

/// Appends an IP address without allocating (see [`ip_text`]).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    out.extend_from_slice(ip_text(ip, &mut [0; IP_TEXT_BYTES]));
}

/// Room for the longest IP address text (an IPv6 address with an embedded IPv4 one is 45 bytes).
pub(crate) const IP_TEXT_BYTES: usize = 64;

/// An IP address as text, written into `buf` without allocating: the one way the gateway spells
/// an address (environ, access log). IPv4, the common case, is written by hand: four small
/// numbers cost a few dozen instructions, where `Display` costs several hundred.
pub(crate) fn ip_text(ip: IpAddr, buf: &mut [u8; IP_TEXT_BYTES]) -> &[u8] {
    match ip {
        IpAddr::V4(v4) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    buf[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    buf[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                buf[len] = b'0' + octet % 10;
                len += 1;
            }
            &buf[..len]
        }
        IpAddr::V6(_) => {
            use std::io::Write;
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{ip}");
            let len = cursor.position() as usize;
            &buf[..len]
        }
    }
}

fn push_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Limits, Parsed, parse_head};
    use nsgi::sys::{NSGI_ENV_MULTIPROCESS, NSGI_ENV_MULTITHREAD};

    fn site(prefixes: &[&str], root: &str, trusted: &str) -> Site {
        Site {
            mounts: MountTable::new(prefixes, root).expect("valid mounts"),
            proxies: TrustedProxies::parse(trusted).expect("valid list"),
            flags: NSGI_ENV_MULTITHREAD | NSGI_ENV_MULTIPROCESS,
        }
    }

    /// Parses `raw`, routes it through `site`, and builds the environ into `environ`.
    fn build_into(environ: &mut Environ, raw: &[u8], body_len: u64, conn: &Endpoints, site: &Site) -> Option<usize> {
        let mut slots = crate::http::header_slots::<32>();
        let head = match parse_head(raw, &mut slots, &Limits::default()) {
            Ok(Parsed::Complete(head)) => head,
            other => panic!("test request does not parse: {other:?}"),
        };
        let route = site.mounts.route_encoded(head.path)?;
        build_request(environ, &head, body_len, conn, site, &route);
        Some(route.app)
    }

    fn var<'e>(environ: &'e Environ, name: &str) -> Option<&'e str> {
        environ
            .get(name.as_bytes())
            .map(|value| std::str::from_utf8(value).expect("utf-8 test value"))
    }

    fn tcp(peer: &str, local: &str) -> Endpoints {
        Endpoints::tcp(peer.parse().expect("peer"), local.parse().expect("local"))
    }

    #[test]
    fn direct_request_to_a_mount() {
        let site = site(&["", "/api"], "", "127.0.0.1");
        let mut environ = Environ::new();
        let raw = b"POST /api/items%20x?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 3\r\n\
                    Content-Type: text/plain\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n\r\n";
        let app = build_into(&mut environ, raw, 3, &tcp("198.51.100.7:5000", "10.0.0.5:80"), &site);
        assert_eq!(app, Some(1));
        assert_eq!(var(&environ, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(var(&environ, "SCRIPT_NAME"), Some("/api"));
        assert_eq!(var(&environ, "PATH_INFO"), Some("/items x"));
        assert_eq!(var(&environ, "QUERY_STRING"), Some("q=1"));
        assert_eq!(var(&environ, "REQUEST_URI"), Some("/api/items%20x?q=1"));
        assert_eq!(var(&environ, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(var(&environ, "SERVER_NAME"), Some("example.com"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("8080"));
        assert_eq!(
            var(&environ, "REMOTE_ADDR"),
            Some("198.51.100.7"),
            "untrusted peer: XFF ignored"
        );
        assert_eq!(var(&environ, "REMOTE_PORT"), Some("5000"));
        assert_eq!(var(&environ, "CONTENT_LENGTH"), Some("3"));
        assert_eq!(var(&environ, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&environ, "HTTP_HOST"), Some("example.com:8080"));
        assert_eq!(
            var(&environ, "HTTP_X_FORWARDED_FOR"),
            Some("6.6.6.6"),
            "still visible as a header"
        );
        assert!(!environ.is_https());
        assert_eq!(environ.content_length(), Some(3));
        assert_eq!(environ.flags(), NSGI_ENV_MULTITHREAD | NSGI_ENV_MULTIPROCESS);
    }

    #[test]
    fn behind_a_trusted_proxy_with_a_root_path() {
        let site = site(&["", "/api"], "/site", "10.0.0.0/8");
        let mut environ = Environ::new();
        let raw = b"GET /site/api HTTP/1.1\r\nHost: backend:8000\r\n\
                    X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.3\r\nX-Forwarded-Proto: https\r\n\
                    X-Forwarded-Host: www.example.com\r\n\r\n";
        let app = build_into(&mut environ, raw, 0, &tcp("10.0.0.2:41000", "10.0.0.5:8000"), &site);
        assert_eq!(app, Some(1));
        assert_eq!(var(&environ, "SCRIPT_NAME"), Some("/site/api"));
        assert_eq!(var(&environ, "PATH_INFO"), Some(""));
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some("203.0.113.9"));
        assert_eq!(var(&environ, "REMOTE_PORT"), None);
        assert_eq!(var(&environ, "SERVER_NAME"), Some("www.example.com"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("443"));
        assert_eq!(
            var(&environ, "HTTP_HOST"),
            Some("www.example.com"),
            "the forwarded host"
        );
        assert_eq!(environ.iter().filter(|(name, _)| *name == b"HTTP_HOST").count(), 1);
        assert_eq!(var(&environ, "CONTENT_LENGTH"), None);
        assert_eq!(environ.content_length(), None);
        assert!(environ.is_https());

        // The same request from a proxy that stripped the root path.
        let raw =
            b"GET /api/x HTTP/1.1\r\nHost: backend:8000\r\nForwarded: for=\"[2001:db8::5]:777\";proto=https\r\n\r\n";
        build_into(&mut environ, raw, 0, &tcp("10.0.0.2:41000", "10.0.0.5:8000"), &site);
        assert_eq!(var(&environ, "SCRIPT_NAME"), Some("/site/api"));
        assert_eq!(var(&environ, "PATH_INFO"), Some("/x"));
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some("2001:db8::5"));
        assert_eq!(var(&environ, "REMOTE_PORT"), Some("777"));
        assert_eq!(var(&environ, "SERVER_NAME"), Some("backend"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("8000"));
        assert_eq!(var(&environ, "HTTP_HOST"), Some("backend:8000"));
        assert!(environ.is_https());
    }

    #[test]
    fn forwarded_port_and_host_rebuild_http_host() {
        let site = site(&[""], "", "127.0.0.1");
        let conn = tcp("127.0.0.1:41000", "127.0.0.1:8000");
        let mut environ = Environ::new();
        let cases: [(&[u8], &str, &str, bool); 4] = [
            (
                b"Host: example.com\r\nX-Forwarded-Port: 8443\r\nX-Forwarded-Proto: https",
                "8443",
                "example.com:8443",
                true,
            ),
            (
                b"Host: example.com:8000\r\nX-Forwarded-Port: 80",
                "80",
                "example.com",
                false,
            ),
            (
                b"Host: backend\r\nForwarded: host=\"[2001:db8::1]:443\";proto=https",
                "443",
                "[2001:db8::1]",
                true,
            ),
            (
                b"Host: backend\r\nX-Forwarded-Host: example.org:8080",
                "8080",
                "example.org:8080",
                false,
            ),
        ];
        for (lines, port, host, https) in cases {
            let raw = [&b"GET / HTTP/1.1\r\n"[..], lines, b"\r\n\r\n"].concat();
            build_into(&mut environ, &raw, 0, &conn, &site);
            let shown = String::from_utf8_lossy(lines);
            assert_eq!(var(&environ, "SERVER_PORT"), Some(port), "{shown}");
            assert_eq!(var(&environ, "HTTP_HOST"), Some(host), "{shown}");
            assert_eq!(environ.is_https(), https, "{shown}");
        }
    }

    #[test]
    fn unix_socket_connections() {
        let site = site(&[""], "", "127.0.0.1");
        let mut environ = Environ::new();
        let conn = Endpoints::unix(Arc::from(Path::new("/run/app.sock")));
        assert_eq!(conn.to_string(), "unix:/run/app.sock");
        // HTTP/1.0 without Host: the socket path names the server.
        build_into(&mut environ, b"GET / HTTP/1.0\r\n\r\n", 0, &conn, &site);
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some(""));
        assert_eq!(var(&environ, "REMOTE_PORT"), None);
        assert_eq!(var(&environ, "SERVER_NAME"), Some("/run/app.sock"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("80"));
        // nginx on the socket is trusted.
        let raw =
            b"GET / HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 192.0.2.4\r\nX-Forwarded-Proto: https\r\n\r\n";
        build_into(&mut environ, raw, 0, &conn, &site);
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some("192.0.2.4"));
        assert_eq!(var(&environ, "SERVER_NAME"), Some("example.com"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("443"));
        assert!(environ.is_https());
    }

    #[test]
    fn local_address_without_host_and_mapped_peers() {
        let site = site(&[""], "", "");
        let mut environ = Environ::new();
        let conn = tcp("[::ffff:192.0.2.9]:6000", "[::1]:8000");
        assert_eq!(conn.to_string(), "[::ffff:192.0.2.9]:6000");
        build_into(&mut environ, b"GET /%7Euser HTTP/1.0\r\n\r\n", 0, &conn, &site);
        assert_eq!(var(&environ, "PATH_INFO"), Some("/~user"));
        assert_eq!(var(&environ, "SERVER_NAME"), Some("::1"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("8000"));
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some("192.0.2.9"));
        assert_eq!(var(&environ, "REMOTE_PORT"), Some("6000"));
    }

    #[test]
    fn chunked_bodies_are_described_by_length() {
        let site = site(&[""], "", "127.0.0.1");
        let mut environ = Environ::new();
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX_Spoof: 1\r\n\r\n";
        build_into(&mut environ, raw, 11, &tcp("127.0.0.1:1", "127.0.0.1:2"), &site);
        assert_eq!(var(&environ, "CONTENT_LENGTH"), Some("11"));
        assert_eq!(var(&environ, "HTTP_TRANSFER_ENCODING"), None);
        assert_eq!(var(&environ, "HTTP_X_SPOOF"), None);
        assert_eq!(environ.content_length(), Some(11));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("80"));
    }

    #[test]
    fn a_uwsgi_front_states_the_client_protocol_and_sub_path() {
        let site = site(&["", "/api"], "", "127.0.0.1");
        let mut environ = Environ::new();
        let conn = tcp("127.0.0.1:41000", "127.0.0.1:8001");
        let build = |environ: &mut Environ, vars: &[(&str, &str)]| {
            let bytes = crate::uwsgi::packet::tests::packet(vars);
            crate::uwsgi::with_head(&bytes, &Limits::default(), |framed| {
                let head = framed.expect("frames");
                let route = site.mounts.route_encoded(head.path).expect("routed");
                build_request(environ, head, 0, &conn, &site, &route);
            });
        };
        build(
            &mut environ,
            &[
                ("REQUEST_METHOD", "GET"),
                ("REQUEST_URI", "/shop/api/x%20y?q=1"),
                ("SCRIPT_NAME", "/shop"),
                ("SERVER_PROTOCOL", "HTTP/2.0"),
                ("REMOTE_ADDR", "::ffff:192.0.2.7"),
                ("REMOTE_PORT", "5000"),
                ("UWSGI_SCHEME", "https"),
                ("SERVER_NAME", "shop.example"),
                ("SERVER_PORT", "8443"),
                ("HTTP_HOST", "shop.example:8443"),
                ("HTTP_X_FORWARDED_FOR", "6.6.6.6"),
            ],
        );
        assert_eq!(var(&environ, "SCRIPT_NAME"), Some("/shop/api"));
        assert_eq!(var(&environ, "PATH_INFO"), Some("/x y"));
        assert_eq!(var(&environ, "QUERY_STRING"), Some("q=1"));
        assert_eq!(var(&environ, "REQUEST_URI"), Some("/shop/api/x%20y?q=1"));
        assert_eq!(var(&environ, "SERVER_PROTOCOL"), Some("HTTP/2.0"));
        assert_eq!(
            var(&environ, "REMOTE_ADDR"),
            Some("192.0.2.7"),
            "the front's, canonical"
        );
        assert_eq!(var(&environ, "REMOTE_PORT"), Some("5000"));
        assert_eq!(var(&environ, "SERVER_NAME"), Some("shop.example"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("8443"));
        assert_eq!(var(&environ, "HTTP_HOST"), Some("shop.example:8443"));
        assert!(environ.is_https());

        // nginx's REMOTE_ADDR for a client on a unix socket is `unix:`: no address, no port;
        // without SERVER_NAME the Host decides, as for HTTP.
        build(
            &mut environ,
            &[
                ("REQUEST_METHOD", "GET"),
                ("REQUEST_URI", "/"),
                ("REMOTE_ADDR", "unix:"),
                ("REMOTE_PORT", ""),
                ("HTTP_HOST", "h.example"),
            ],
        );
        assert_eq!(var(&environ, "REMOTE_ADDR"), Some(""));
        assert_eq!(var(&environ, "REMOTE_PORT"), None);
        assert_eq!(var(&environ, "SERVER_NAME"), Some("h.example"));
        assert_eq!(var(&environ, "SERVER_PORT"), Some("80"));
        assert_eq!(var(&environ, "SERVER_PROTOCOL"), Some("HTTP/1.0"), "none sent");
        assert!(!environ.is_https());
    }

    #[test]
    fn unrouted_paths_get_no_route() {
        let site = site(&["/api"], "", "127.0.0.1");
        let mut environ = Environ::new();
        let raw = b"GET /apix HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            build_into(&mut environ, raw, 0, &tcp("127.0.0.1:1", "127.0.0.1:2"), &site),
            None
        );
    }

    #[test]
    fn warm_environ_is_rebuilt_without_growing() {
        let site = site(&["", "/api"], "", "*");
        let mut environ = Environ::new();
        let raw = b"GET /api/x HTTP/1.1\r\nHost: a\r\nForwarded: for=192.0.2.1;host=b\r\n\r\n";
        let conn = tcp("127.0.0.1:1", "127.0.0.1:2");
        build_into(&mut environ, raw, 0, &conn, &site);
        let first: Vec<(Vec<u8>, Vec<u8>)> = environ.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        build_into(&mut environ, raw, 0, &conn, &site);
        let second: Vec<(Vec<u8>, Vec<u8>)> = environ.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        assert_eq!(first, second, "clear() leaves nothing behind");
        assert_eq!(var(&environ, "HTTP_HOST"), Some("b"));
    }

    #[test]
    fn ipv4_is_written_as_display_writes_it() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "192.168.100.255",
            "255.255.255.255",
            "1.10.100.9",
        ] {
            let ip: IpAddr = text.parse().expect("address");
            let mut out = b"x=".to_vec();
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x={text}").as_bytes());
        }
        let mut out = Vec::new();
        push_ip(&mut out, "2001:db8::1".parse().expect("address"));
        assert_eq!(out, b"2001:db8::1");
    }
}
