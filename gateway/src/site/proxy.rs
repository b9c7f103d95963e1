//! Proxy awareness: which peers may describe the client (`--forwarded-allow-ips`), and what a
//! request's `Forwarded` (RFC 7239) and `X-Forwarded-*` headers say about it when they may.
//!
//! Owns [`TrustedProxies`] (the parsed list of addresses and CIDR networks) and [`resolve`], which
//! turns a request head and its direct peer into a [`ClientView`]: the client's address and port,
//! the scheme, and the host and port the client asked for.
//!
//! A request relayed by a uwsgi front carries the front's own statement of the client
//! ([`ClientView::from_front`]): that front is trusted by `--uwsgi-allow-ips`, and its variables
//! replace forwarding headers.
//!
//! It must never believe a header from a peer that is not trusted, never fail a request (a
//! malformed value is ignored and the connection's own facts are kept), and never allocate: every
//! value borrows the request head.
//!
//! # Rules
//!
//! * The direct peer decides everything. Headers from an untrusted peer are ignored (they still
//!   reach the app as `HTTP_*` variables, like any header). A unix-socket peer (`None`) is trusted
//!   unless the list is empty: only local processes allowed by the socket's permissions can
//!   connect, which in practice is the fronting proxy (gunicorn does the same).
//! * Several field lines of one header count as one comma-separated list; empty elements are
//!   skipped (RFC 9110 §5.6.1).
//! * The client is found by walking the hops from the right (the one nearest to us) and skipping
//!   every hop that is itself a trusted proxy: the first untrusted hop is the client as the last
//!   trusted proxy saw it. When every hop is trusted, the leftmost one is the client. When the hop
//!   found is not an address (`unknown`, an obfuscated `_name`, garbage), the client is unknown
//!   and the peer's own address and port are kept.
//! * `Forwarded` takes precedence over `X-Forwarded-*`, field by field: its chosen element's
//!   `for=`, `proto=` and `host=` win when present and valid; otherwise `X-Forwarded-For`,
//!   `X-Forwarded-Proto` (or `X-Forwarded-Ssl: on`), `X-Forwarded-Host` and
//!   `X-Forwarded-Port` are used. A syntactically broken `Forwarded` header is ignored whole.
//! * `X-Forwarded-Proto`, `-Host` and `-Port` are usually set (not appended) by the nearest proxy:
//!   their rightmost element is used, unless the list has exactly as many elements as
//!   `X-Forwarded-For`, in which case every hop appended to both and the element of the client's
//!   hop is used.
//! * `proto` is only `http` or `https` (any case). A host is `uri-host [":" port]` with the same
//!   strictness as the request's own `Host`. A port is 1 to 65535.
//! * Addresses are reported in canonical form: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`,
//!   what a dual-stack listener sees for IPv4 clients) is reported as IPv4.

use crate::http::syntax::{parse_host, parse_port};
use crate::http::{Front, RequestHead};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The peers trusted to describe the client, parsed from `--forwarded-allow-ips`.
///
/// ```
/// use nsgi_gateway::TrustedProxies;
/// let trusted = TrustedProxies::parse("10.0.0.0/8, ::1").unwrap();
/// assert!(trusted.trusts("10.1.2.3".parse().unwrap()));
/// assert!(trusted.trusts("::ffff:10.1.2.3".parse().unwrap()));
/// assert!(!trusted.trusts("192.0.2.1".parse().unwrap()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// `*`: every peer.
    any: bool,
    /// IPv4 networks as (network, mask).
    v4: Vec<(u32, u32)>,
    /// IPv6 networks as (network, mask).
    v6: Vec<(u128, u128)>,
}

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses (`127.0.0.1`, `::1`) and CIDR networks
    /// (`10.0.0.0/8`, `fd00::/8`); `*` trusts every peer, and an empty list none. The error names
    /// the flag and the entry at fault.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        TrustedProxies::parse_for("--forwarded-allow-ips", list)
    }

    /// [`TrustedProxies::parse`] for another flag of the same form (`--uwsgi-allow-ips`), named
    /// in the error.
    pub fn parse_for(flag: &str, list: &str) -> Result<TrustedProxies, String> {
        let mut trusted = TrustedProxies::default();
        for entry in list.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            if entry == "*" {
                trusted.any = true;
                continue;
            }
            trusted.add(entry).map_err(|why| format!("{flag}: {entry:?} {why}"))?;
        }
        Ok(trusted)
    }

    /// Loopback only: `127.0.0.1` and `::1`.
    pub fn loopback() -> TrustedProxies {
        TrustedProxies {
            any: false,
            v4: vec![(u32::from(Ipv4Addr::LOCALHOST), u32::MAX)],
            v6: vec![(u128::from(Ipv6Addr::LOCALHOST), u128::MAX)],
        }
    }

    /// Trusts no peer at all (not even unix-socket peers).
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Trusts every peer (`*`).
    #[cfg(test)]
    pub(crate) fn any() -> TrustedProxies {
        TrustedProxies {
            any: true,
            ..TrustedProxies::default()
        }
    }

    /// True when no peer is trusted: forwarding headers are never read.
    pub(crate) fn is_empty(&self) -> bool {
        !self.any && self.v4.is_empty() && self.v6.is_empty()
    }

    /// Is `ip` a trusted proxy? IPv4-mapped IPv6 addresses match IPv4 entries and vice versa.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        if self.any {
            return true;
        }
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                self.v4.iter().any(|&(net, mask)| bits & mask == net) || self.trusts_v6(v4.to_ipv6_mapped())
            }
            IpAddr::V6(v6) => self.trusts_v6(v6),
        }
    }

    /// Is the direct peer trusted? `None` is a unix-socket peer: trusted unless the list is empty.
    pub(crate) fn trusts_peer(&self, peer: Option<SocketAddr>) -> bool {
        match peer {
            Some(addr) => self.trusts(addr.ip()),
            None => !self.is_empty(),
        }
    }

    fn trusts_v6(&self, ip: Ipv6Addr) -> bool {
        let bits = u128::from(ip);
        self.v6.iter().any(|&(net, mask)| bits & mask == net)
    }

    /// Adds one `ADDRESS` or `ADDRESS/LEN` entry; the error completes "--flag: "entry" ...".
    fn add(&mut self, entry: &str) -> Result<(), String> {
        let (address, length) = match entry.split_once('/') {
            Some((address, length)) => (address, Some(length)),
            None => (entry, None),
        };
        let ip: IpAddr = address
            .parse()
            .map_err(|_| "is not an IP address or CIDR network (such as 10.0.0.0/8 or fd00::/8)".to_owned())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let length = match length {
            None => max,
            Some(digits) => parse_prefix_length(digits)
                .filter(|&length| length <= max)
                .ok_or_else(|| format!("has a prefix length that is not a number from 0 to {max}"))?,
        };
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
                let bits = u32::from(v4);
                if bits & !mask != 0 {
                    let network = Ipv4Addr::from(bits & mask);
                    return Err(format!(
                        "has bits set after its /{length} prefix (the network is {network}/{length})"
                    ));
                }
                self.v4.push((bits, mask));
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
                let bits = u128::from(v6);
                if bits & !mask != 0 {
                    let network = Ipv6Addr::from(bits & mask);
                    return Err(format!(
                        "has bits set after its /{length} prefix (the network is {network}/{length})"
                    ));
                }
                self.v6.push((bits, mask));
            }
        }
        Ok(())
    }
}

/// `1*3DIGIT` as a prefix length (no sign, no spaces).
fn parse_prefix_length(digits: &str) -> Option<u32> {
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the gateway believes about the client of one request, after proxy headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientView<'a> {
    /// The client's address (REMOTE_ADDR): forwarded when trusted, else the peer's. `None` for a
    /// unix-socket peer when nothing trusted says otherwise.
    pub remote_addr: Option<IpAddr>,
    /// The client's port (REMOTE_PORT), when known: the peer's, or one forwarded with the address.
    pub remote_port: Option<u16>,
    /// `wsgi.url_scheme` is `https`: only ever from a trusted proxy (the gateway speaks plain
    /// HTTP itself).
    pub https: bool,
    /// The host the client asked for, `uri-host [":" port]` as received: a forwarded host when
    /// trusted, else the request's `Host` (or absolute-form authority). `None` only for HTTP/1.0
    /// without `Host`.
    pub(crate) host: Option<&'a [u8]>,
    /// True when a trusted proxy supplied the host or the port, so that [`ClientView::host`] (the
    /// request's `Host`) is not what the client asked for: [`ClientView::write_authority`] is.
    pub(crate) authority_forwarded: bool,
    /// The name part of [`ClientView::host`] (SERVER_NAME), IPv6 literals with their brackets.
    pub server_name: Option<&'a [u8]>,
    /// The port the client connected to (SERVER_PORT), when a header says so. `None`: the
    /// caller uses the scheme's default (80/443) when a host is known, else the local port.
    pub(crate) server_port: Option<u16>,
}

impl<'a> ClientView<'a> {
    /// What the connection and the request's own `Host` say, believing no proxy header.
    pub(crate) fn direct(head: &RequestHead<'a, '_>, peer: Option<SocketAddr>) -> ClientView<'a> {
        let (server_name, port) = match head.host.filter(|host| !host.is_empty()) {
            Some(host) => {
                let (name, port) = split_host(host);
                (Some(name), port.and_then(parse_port))
            }
            None => (None, None),
        };
        ClientView {
            remote_addr: peer.map(|addr| addr.ip().to_canonical()),
            remote_port: peer.map(|addr| addr.port()),
            https: false,
            host: head.host.filter(|host| !host.is_empty()),
            authority_forwarded: false,
            server_name,
            server_port: port,
        }
    }

    /// What a trusted gateway front (uwsgi) stated about the client: its REMOTE_ADDR and
    /// REMOTE_PORT (without a REMOTE_ADDR, the peer, which is the front itself), its scheme, and
    /// its SERVER_NAME and SERVER_PORT (without a SERVER_NAME, the request's `Host`, as for HTTP).
    /// Forwarding headers are not read: the front's variables are the truth.
    pub(crate) fn from_front(
        head: &RequestHead<'a, '_>,
        front: &Front<'a>,
        peer: Option<SocketAddr>,
    ) -> ClientView<'a> {
        let mut view = ClientView::direct(head, peer);
        if let Some(addr) = front.remote_addr {
            view.remote_addr = addr.map(|ip| ip.to_canonical());
            view.remote_port = addr.and(front.remote_port);
        }
        view.https = front.https;
        if let Some(name) = front.server_name {
            view.server_name = Some(name);
            view.server_port = front.server_port;
        } else if view.server_name.is_some() && view.server_port.is_none() {
            view.server_port = front.server_port;
        }
        view
    }

    /// SERVER_PORT when a host name is known: the explicit port, else the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.server_port.unwrap_or(self.default_port())
    }

    /// The scheme's default port: 443 for https, 80 for http.
    pub(crate) fn default_port(&self) -> u16 {
        if self.https { 443 } else { 80 }
    }

    /// Appends the authority the client asked for, `server_name[":" server_port]`, the port only
    /// when it is not the scheme's default; nothing when no host is known. This is HTTP_HOST when
    /// [`ClientView::authority_forwarded`].
    pub(crate) fn write_authority(&self, out: &mut Vec<u8>) {
        let Some(name) = self.server_name else {
            return;
        };
        out.extend_from_slice(name);
        if let Some(port) = self.server_port.filter(|&port| port != self.default_port()) {
            out.push(b':');
            out.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
        }
    }
}

/// Resolves the client of `head`, which arrived from `peer` (`None`: a unix-socket peer).
///
/// ```
/// use nsgi_gateway::{Limits, Parsed, parse_head};
/// use nsgi_gateway::{TrustedProxies, resolve};
/// let raw = b"GET / HTTP/1.1\r\nHost: app:8000\r\nX-Forwarded-For: 203.0.113.9\r\n\
///             X-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\n\r\n";
/// let mut slots = nsgi_gateway::header_slots::<8>();
/// let Ok(Parsed::Complete(head)) = parse_head(raw, &mut slots, &Limits::default()) else { panic!() };
/// let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
/// let view = resolve(&head, Some("127.0.0.1:40000".parse().unwrap()), &trusted);
/// assert_eq!(view.remote_addr, Some("203.0.113.9".parse().unwrap()));
/// assert_eq!(view.remote_port, None);
/// assert!(view.https);
/// assert_eq!(view.server_name, Some(&b"example.com"[..]));
/// assert_eq!(view.port_or_default(), 443);
/// ```
pub fn resolve<'a>(head: &RequestHead<'a, '_>, peer: Option<SocketAddr>, trusted: &TrustedProxies) -> ClientView<'a> {
    if let Some(front) = &head.front {
        return ClientView::from_front(head, front, peer);
    }
    let mut view = ClientView::direct(head, peer);
    // Most requests carry no forwarding field at all: then there is nothing to believe, and the
    // header scans below are skipped.
    if !head.forwarded || !trusted.trusts_peer(peer) {
        return view;
    }
    let headers = head.headers;
    let forwarded = forwarded_element(headers, trusted);
    let xff = pick_hop(list_elements(headers, "x-forwarded-for").map(parse_node), |node| {
        node.trusted_by(trusted)
    });

    // The client's address.
    let client = match forwarded.as_ref().and_then(|element| element.for_node) {
        Some(value) => Some(parse_node(value)),
        None => xff.as_ref().map(|pick| pick.item),
    };
    if let Some(Node::Ip(ip, port)) = client {
        view.remote_addr = Some(ip.to_canonical());
        view.remote_port = port;
    }

    // Where X-Forwarded-Proto/-Host/-Port elements line up with X-Forwarded-For.
    let hop = xff.as_ref().map(|pick| (pick.index, pick.count));

    // The scheme.
    let proto = forwarded
        .as_ref()
        .and_then(|element| element.proto)
        .and_then(parse_proto)
        .or_else(|| aligned(headers, "x-forwarded-proto", hop).and_then(parse_proto))
        .or_else(|| {
            list_elements(headers, "x-forwarded-ssl")
                .last()
                .map(|value| value.eq_ignore_ascii_case(b"on"))
        });
    if let Some(https) = proto {
        view.https = https;
    }

    // The host and port.
    let forwarded_host = forwarded
        .as_ref()
        .and_then(|element| element.host)
        .and_then(|host| parse_host(host).map(|(name, port)| (host, name, port)));
    if let Some((host, name, port)) = forwarded_host {
        // RFC 7239 `host=` is the Host the proxy received: its port (or none) is the truth.
        view.host = Some(host);
        view.authority_forwarded = true;
        view.server_name = Some(name);
        view.server_port = port;
        return view;
    }
    let x_host = aligned(headers, "x-forwarded-host", hop)
        .and_then(|host| parse_host(host).map(|(name, port)| (host, name, port)));
    if let Some((host, name, port)) = x_host {
        view.host = Some(host);
        view.authority_forwarded = true;
        view.server_name = Some(name);
        view.server_port = port;
    }
    if let Some(port) = aligned(headers, "x-forwarded-port", hop).and_then(parse_port) {
        view.authority_forwarded = true;
        view.server_port = Some(port);
    }
    view
}

/// One hop's node, as written in `Forwarded: for=` or `X-Forwarded-For`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    /// An address, with its port when one was given (an obfuscated port is `None`).
    Ip(IpAddr, Option<u16>),
    /// `unknown`, an obfuscated `_identifier`, or a malformed value: not an address.
    Unknown,
}

impl Node {
    fn trusted_by(&self, trusted: &TrustedProxies) -> bool {
        matches!(*self, Node::Ip(ip, _) if trusted.trusts(ip))
    }
}

/// Parses `IPv4[:port]`, `[IPv6][:port]` or a bare IPv6 address; anything else is
/// [`Node::Unknown`]. A port may be obfuscated (`_abc`), which keeps the address.
fn parse_node(value: &[u8]) -> Node {
    let (address, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return Node::Unknown;
        };
        let (address, after) = (&rest[..close], &rest[close + 1..]);
        match after {
            [] => (address, None),
            [b':', port @ ..] => (address, Some(port)),
            _ => return Node::Unknown,
        }
    } else {
        match value.iter().filter(|&&b| b == b':').count() {
            0 => (value, None),
            1 => match value.iter().position(|&b| b == b':') {
                Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
                None => (value, None),
            },
            // Several colons and no brackets: a bare IPv6 address, which cannot carry a port.
            _ => (value, None),
        }
    };
    let Some(ip) = std::str::from_utf8(address).ok().and_then(|s| s.parse::<IpAddr>().ok()) else {
        return Node::Unknown;
    };
    if value.first() == Some(&b'[') && ip.is_ipv4() {
        return Node::Unknown;
    }
    match port {
        None => Node::Ip(ip, None),
        Some(port) if is_obfuscated(port) => Node::Ip(ip, None),
        Some(port) => match parse_port(port) {
            Some(port) => Node::Ip(ip, Some(port)),
            None => Node::Unknown,
        },
    }
}

/// `obfnode` / `obfport` (RFC 7239 §6.3): `_` then letters, digits, `.`, `_` or `-`.
fn is_obfuscated(value: &[u8]) -> bool {
    matches!(value, [b'_', rest @ ..] if !rest.is_empty()
        && rest.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
}

/// `http` → false, `https` → true (any case); anything else is ignored.
fn parse_proto(value: &[u8]) -> Option<bool> {
    if value.eq_ignore_ascii_case(b"https") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"http") {
        Some(false)
    } else {
        None
    }
}

/// Splits `uri-host [":" port]` into the name (IPv6 literals keep their brackets) and the port
/// digits, without judging either: for a `Host` the request parser already validated.
pub(crate) fn split_host(host: &[u8]) -> (&[u8], Option<&[u8]>) {
    if host.first() == Some(&b'[') {
        if let Some(end) = host.iter().position(|&b| b == b']') {
            let port = host[end + 1..].strip_prefix(b":").filter(|p| !p.is_empty());
            return (&host[..=end], port);
        }
        return (host, None);
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(colon) => (&host[..colon], Some(&host[colon + 1..]).filter(|p| !p.is_empty())),
        None => (host, None),
    }
}

/// The values of every field line named `name`.
fn field_values<'a, 'h>(
    headers: &'h [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + 'h {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value)
}

/// The non-empty elements of the comma-separated lists of every `name` field line, in order,
/// trimmed of spaces and tabs.
fn list_elements<'a, 'h>(
    headers: &'h [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> + Clone + 'h {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name))
        .flat_map(|header| header.value.split(|&b| b == b','))
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &value[start..end]
}

/// The element of `X-Forwarded-Proto`/`-Host`/`-Port` to believe: the client hop's when the list
/// lines up with `X-Forwarded-For` (`hop` = its chosen index and length), else the rightmost.
fn aligned<'a>(headers: &[httparse::Header<'a>], name: &'static str, hop: Option<(usize, usize)>) -> Option<&'a [u8]> {
    let elements = list_elements(headers, name);
    match hop {
        Some((index, count)) if count > 1 && elements.clone().count() == count => elements.clone().nth(index),
        _ => elements.last(),
    }
}

/// The hop chosen by the walk from the right, with its position in the list.
#[derive(Clone, Copy, Debug)]
struct Pick<T> {
    item: T,
    index: usize,
    count: usize,
}

/// Walks the hops from the right, skipping trusted ones, in one forward pass: the chosen hop is
/// the rightmost untrusted one, or the leftmost when every hop is trusted.
fn pick_hop<T: Copy>(hops: impl Iterator<Item = T>, trusted: impl Fn(&T) -> bool) -> Option<Pick<T>> {
    let mut first = None;
    let mut last_untrusted = None;
    let mut count = 0;
    for (index, hop) in hops.enumerate() {
        if first.is_none() {
            first = Some((index, hop));
        }
        if !trusted(&hop) {
            last_untrusted = Some((index, hop));
        }
        count = index + 1;
    }
    last_untrusted
        .or(first)
        .map(|(index, item)| Pick { item, index, count })
}

/// The parameters of one `Forwarded` element that matter here; `by=` and extensions are
/// skipped. A quoted value with a backslash escape is kept as an empty (so invalid) value: none
/// of these parameters can legitimately need one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Element<'a> {
    for_node: Option<&'a [u8]>,
    proto: Option<&'a [u8]>,
    host: Option<&'a [u8]>,
}

/// The `Forwarded` element chosen by the walk from the right, or `None` when there is no
/// `Forwarded` header or one of its field lines is malformed.
fn forwarded_element<'a>(headers: &[httparse::Header<'a>], trusted: &TrustedProxies) -> Option<Element<'a>> {
    let mut malformed = false;
    let elements = field_values(headers, "forwarded")
        .flat_map(|value| ForwardedElements {
            rest: value,
            failed: false,
        })
        .map_while(|element| {
            if element.is_none() {
                malformed = true;
            }
            element
        });
    let pick = pick_hop(elements, |element| {
        element
            .for_node
            .is_some_and(|node| parse_node(node).trusted_by(trusted))
    });
    if malformed { None } else { pick.map(|pick| pick.item) }
}

/// The elements of one `Forwarded` field value (RFC 7239 §4), yielding `None` once, then
/// stopping, at the first syntax error. Spaces and tabs are allowed around `,` and `;`.
struct ForwardedElements<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for ForwardedElements<'a> {
    type Item = Option<Element<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            self.rest = trim_ows(self.rest);
            match self.rest.first() {
                None => return None,
                Some(b',') => self.rest = &self.rest[1..],
                Some(_) => break,
            }
        }
        match self.element() {
            Some(element) => Some(Some(element)),
            None => {
                self.failed = true;
                Some(None)
            }
        }
    }
}

impl<'a> ForwardedElements<'a> {
    /// Reads `pair *( ";" pair )` up to the next `,` or the end; `None` on a syntax error or a
    /// parameter given twice.
    fn element(&mut self) -> Option<Element<'a>> {
        let mut element = Element::default();
        loop {
            self.skip_ows();
            match self.rest.first() {
                None | Some(b',') => return Some(element),
                Some(b';') => {
                    self.rest = &self.rest[1..];
                    continue;
                }
                Some(_) => {}
            }
            let name_len = self.rest.iter().take_while(|&&b| is_tchar(b)).count();
            let (name, after) = self.rest.split_at(name_len);
            let [b'=', after @ ..] = after else {
                return None;
            };
            if name.is_empty() {
                return None;
            }
            self.rest = after;
            let value = self.value()?;
            let slot = if name.eq_ignore_ascii_case(b"for") {
                Some(&mut element.for_node)
            } else if name.eq_ignore_ascii_case(b"proto") {
                Some(&mut element.proto)
            } else if name.eq_ignore_ascii_case(b"host") {
                Some(&mut element.host)
            } else {
                None
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return None;
                }
                *slot = Some(value);
            }
            self.skip_ows();
            match self.rest.first() {
                None | Some(b',' | b';') => {}
                Some(_) => return None,
            }
        }
    }

    /// Reads a `token` (leniently: any visible bytes but `"`, `,`, `;`) or a `quoted-string`.
    fn value(&mut self) -> Option<&'a [u8]> {
        if let [b'"', inner @ ..] = self.rest {
            let mut escaped = false;
            let mut i = 0;
            loop {
                match *inner.get(i)? {
                    b'"' => break,
                    b'\\' => {
                        if !inner
                            .get(i + 1)
                            .is_some_and(|&b| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff))
                        {
                            return None;
                        }
                        escaped = true;
                        i += 2;
                    }
                    b'\t' | b' '..=b'~' | 0x80..=0xff => i += 1,
                    _ => return None,
                }
            }
            self.rest = &inner[i + 1..];
            return Some(if escaped { &[] } else { &inner[..i] });
        }
        let len = self
            .rest
            .iter()
            .take_while(|&&b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';'))
            .count();
        if len == 0 {
            return None;
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(value)
    }

    fn skip_ows(&mut self) {
        let n = self.rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        self.rest = &self.rest[n..];
    }
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Limits, Parsed, parse_head};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("test socket address"))
    }

    /// Parses `GET / HTTP/1.1` with `lines` (each `Name: value`) and resolves it.
    fn resolve_with(lines: &[&str], from: Option<SocketAddr>, trusted: &str) -> ClientView<'static> {
        let mut raw = b"GET /x HTTP/1.1\r\n".to_vec();
        if !lines.iter().any(|line| line.to_ascii_lowercase().starts_with("host:")) {
            raw.extend_from_slice(b"Host: internal:8000\r\n");
        }
        for line in lines {
            raw.extend_from_slice(line.as_bytes());
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        // Leaked so that the view can borrow the request for the rest of the test.
        let raw: &'static [u8] = Box::leak(raw.into_boxed_slice());
        let slots: &'static mut [crate::http::parse::HeaderSlot<'static>] =
            Box::leak(vec![crate::http::parse::HeaderSlot::uninit(); 32].into_boxed_slice());
        let head = match parse_head(raw, slots, &Limits::default()) {
            Ok(Parsed::Complete(head)) => head,
            other => panic!("test request does not parse: {other:?}"),
        };
        let trusted = TrustedProxies::parse(trusted).expect("test list");
        resolve(&head, from, &trusted)
    }

    #[test]
    fn cidr_v4_matching() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7 ,172.16.0.0/12").expect("valid");
        assert!(trusted.trusts(ip("10.0.0.0")));
        assert!(trusted.trusts(ip("10.255.255.255")));
        assert!(!trusted.trusts(ip("11.0.0.0")));
        assert!(!trusted.trusts(ip("9.255.255.255")));
        assert!(trusted.trusts(ip("192.168.1.7")));
        assert!(!trusted.trusts(ip("192.168.1.8")));
        assert!(trusted.trusts(ip("172.31.255.1")));
        assert!(!trusted.trusts(ip("172.32.0.1")));
        assert!(!trusted.trusts(ip("::1")));
        let everything = TrustedProxies::parse("0.0.0.0/0").expect("valid");
        assert!(everything.trusts(ip("203.0.113.1")));
        assert!(
            !everything.trusts(ip("2001:db8::1")),
            "an IPv4 network holds no IPv6 address"
        );
    }

    #[test]
    fn cidr_v6_and_mapped_matching() {
        let trusted = TrustedProxies::parse("fd00::/8,::1,127.0.0.1").expect("valid");
        assert!(trusted.trusts(ip("fd12:3456::1")));
        assert!(!trusted.trusts(ip("fe80::1")));
        assert!(trusted.trusts(ip("::1")));
        assert!(!trusted.trusts(ip("::2")));
        assert!(
            trusted.trusts(ip("::ffff:127.0.0.1")),
            "a mapped peer matches an IPv4 entry"
        );
        assert!(!trusted.trusts(ip("::ffff:127.0.0.2")));
        let mapped_entry = TrustedProxies::parse("::ffff:10.0.0.0/104").expect("valid");
        assert!(
            mapped_entry.trusts(ip("10.9.9.9")),
            "an IPv4 peer matches a mapped IPv6 entry"
        );
        assert!(!mapped_entry.trusts(ip("11.0.0.1")));
        let odd = TrustedProxies::parse("2001:db8:0:2::/63").expect("valid");
        assert!(odd.trusts(ip("2001:db8:0:2::5")));
        assert!(odd.trusts(ip("2001:db8:0:3:ffff::5")));
        assert!(!odd.trusts(ip("2001:db8:0:1::5")));
        assert!(!odd.trusts(ip("2001:db8:0:4::5")));
        assert!(TrustedProxies::parse("::/0").expect("valid").trusts(ip("2001:db8::1")));
    }

    #[test]
    fn star_empty_and_unix_peers() {
        let any = TrustedProxies::parse(" * ").expect("valid");
        assert!(any.trusts(ip("203.0.113.1")));
        assert!(any.trusts(ip("2001:db8::1")));
        assert_eq!(any, TrustedProxies::any());
        let none = TrustedProxies::parse("").expect("valid");
        assert!(none.is_empty());
        assert!(!none.trusts(ip("127.0.0.1")));
        assert!(
            !none.trusts_peer(None),
            "an empty list turns proxy headers off, unix peers included"
        );
        assert_eq!(none, TrustedProxies::none());
        let loopback = TrustedProxies::parse("127.0.0.1").expect("valid");
        assert!(loopback.trusts_peer(None), "a unix-socket peer is trusted");
        assert!(!loopback.trusts_peer(peer("10.0.0.1:5")));
        assert!(
            TrustedProxies::parse("127.0.0.1,")
                .expect("trailing comma")
                .trusts(ip("127.0.0.1"))
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for (list, bad) in [
            ("127.0.0.1,localhost", "\"localhost\""),
            ("10.0.0.0/33", "\"10.0.0.0/33\""),
            ("fd00::/129", "\"fd00::/129\""),
            ("10.0.0.0/", "\"10.0.0.0/\""),
            ("10.0.0.0/+8", "\"10.0.0.0/+8\""),
            ("10.0.0.0/8/8", "\"10.0.0.0/8/8\""),
            ("10.0.0.1/8", "\"10.0.0.1/8\""),
            ("[::1]", "\"[::1]\""),
            ("1.2.3", "\"1.2.3\""),
        ] {
            let error = TrustedProxies::parse(list).expect_err(list);
            assert!(error.starts_with("--forwarded-allow-ips"), "{error}");
            assert!(error.contains(bad), "{list}: {error}");
        }
        let error = TrustedProxies::parse("10.1.0.0/8").expect_err("host bits");
        assert!(error.contains("10.0.0.0/8"), "suggests the network: {error}");
    }

    #[test]
    fn untrusted_peers_cannot_spoof() {
        let view = resolve_with(
            &[
                "X-Forwarded-For: 1.2.3.4",
                "X-Forwarded-Proto: https",
                "X-Forwarded-Host: evil.example",
                "X-Forwarded-Port: 443",
                "Forwarded: for=5.6.7.8;proto=https;host=evil.example",
            ],
            peer("198.51.100.7:5000"),
            "127.0.0.1",
        );
        assert_eq!(view.remote_addr, Some(ip("198.51.100.7")));
        assert_eq!(view.remote_port, Some(5000));
        assert!(!view.https);
        assert_eq!(view.host, Some(&b"internal:8000"[..]));
        assert!(!view.authority_forwarded);
        assert_eq!(view.server_name, Some(&b"internal"[..]));
        assert_eq!(view.server_port, Some(8000));
    }

    #[test]
    fn x_forwarded_from_a_trusted_peer() {
        let view = resolve_with(
            &[
                "X-Forwarded-For: 203.0.113.9",
                "X-Forwarded-Proto: HTTPS",
                "X-Forwarded-Host: example.com",
                "X-Forwarded-Port: 8443",
            ],
            peer("127.0.0.1:40000"),
            "127.0.0.1",
        );
        assert_eq!(view.remote_addr, Some(ip("203.0.113.9")));
        assert_eq!(view.remote_port, None, "the proxy's port is not the client's");
        assert!(view.https);
        assert_eq!(view.host, Some(&b"example.com"[..]));
        assert!(view.authority_forwarded);
        assert_eq!(view.server_name, Some(&b"example.com"[..]));
        assert_eq!(view.server_port, Some(8443));

        let ssl = resolve_with(&["X-Forwarded-Ssl: on"], peer("127.0.0.1:1"), "127.0.0.1");
        assert!(ssl.https);
        assert_eq!(ssl.port_or_default(), 8000, "the Host port still stands");
        let proto_wins = resolve_with(
            &["X-Forwarded-Proto: http", "X-Forwarded-Ssl: on"],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert!(!proto_wins.https);
    }

    #[test]
    fn forwarded_port_overrides_the_host_port() {
        let view = resolve_with(
            &[
                "Host: example.com:8000",
                "X-Forwarded-Port: 443",
                "X-Forwarded-Proto: https",
            ],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert!(view.authority_forwarded, "the port came from the proxy");
        assert_eq!(view.host, Some(&b"example.com:8000"[..]));
        assert_eq!(view.server_name, Some(&b"example.com"[..]));
        assert_eq!(view.server_port, Some(443));
        let mut authority = Vec::new();
        view.write_authority(&mut authority);
        assert_eq!(authority, b"example.com", "the default port is left out");
        let default = resolve_with(
            &["Host: example.com", "X-Forwarded-Proto: https"],
            peer("127.0.0.1:1"),
            "*",
        );
        assert_eq!(default.server_port, None);
        assert_eq!(default.port_or_default(), 443);
        assert!(!default.authority_forwarded, "only the scheme was forwarded");
    }

    #[test]
    fn multi_hop_x_forwarded_for() {
        let lines = ["X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.2, 10.0.0.3"];
        let view = resolve_with(&lines, peer("10.0.0.1:1"), "10.0.0.0/8");
        assert_eq!(
            view.remote_addr,
            Some(ip("203.0.113.9")),
            "skip trusted hops, stop at the client"
        );
        let only_last = resolve_with(&lines, peer("10.0.0.1:1"), "10.0.0.1");
        assert_eq!(
            only_last.remote_addr,
            Some(ip("10.0.0.3")),
            "10.0.0.3 is not trusted: it is the client"
        );
        let all = resolve_with(&lines, peer("10.0.0.1:1"), "*");
        assert_eq!(all.remote_addr, Some(ip("6.6.6.6")), "all trusted: the leftmost");

        // Several field lines are one list.
        let split = resolve_with(
            &["X-Forwarded-For: 6.6.6.6, 203.0.113.9", "X-Forwarded-For: 10.0.0.2,,"],
            peer("10.0.0.1:1"),
            "10.0.0.0/8",
        );
        assert_eq!(split.remote_addr, Some(ip("203.0.113.9")));

        // Ports and bracketed IPv6 in X-Forwarded-For.
        let with_port = resolve_with(
            &["X-Forwarded-For: [2001:db8::7]:4711"],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert_eq!(with_port.remote_addr, Some(ip("2001:db8::7")));
        assert_eq!(with_port.remote_port, Some(4711));
        let bare_v6 = resolve_with(&["X-Forwarded-For: 2001:db8::8"], peer("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(bare_v6.remote_addr, Some(ip("2001:db8::8")));
        let v4_port = resolve_with(&["X-Forwarded-For: 192.0.2.4:81"], peer("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(
            (v4_port.remote_addr, v4_port.remote_port),
            (Some(ip("192.0.2.4")), Some(81))
        );
        let mapped = resolve_with(&["X-Forwarded-For: ::ffff:192.0.2.5"], peer("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(mapped.remote_addr, Some(ip("192.0.2.5")), "reported canonical");
    }

    #[test]
    fn aligned_x_forwarded_lists() {
        // Every hop appended to all three lists: use the client hop's proto and host.
        let view = resolve_with(
            &[
                "X-Forwarded-For: 203.0.113.9, 10.0.0.2",
                "X-Forwarded-Proto: https, http",
                "X-Forwarded-Host: example.com, edge.internal",
            ],
            peer("10.0.0.1:1"),
            "10.0.0.0/8",
        );
        assert!(view.https);
        assert_eq!(view.server_name, Some(&b"example.com"[..]));
        // Lists that do not line up: the nearest proxy's (rightmost) value.
        let set_by_nearest = resolve_with(
            &[
                "X-Forwarded-For: 6.6.6.6, 203.0.113.9",
                "X-Forwarded-Proto: http, https, https",
            ],
            peer("10.0.0.1:1"),
            "10.0.0.0/8",
        );
        assert!(set_by_nearest.https);
        let spoof_attempt = resolve_with(
            &["X-Forwarded-For: 6.6.6.6, 203.0.113.9", "X-Forwarded-Proto: https"],
            peer("10.0.0.1:1"),
            "10.0.0.0/8",
        );
        assert!(spoof_attempt.https);
    }

    #[test]
    fn forwarded_header() {
        let view = resolve_with(
            &["Forwarded: for=\"[2001:db8::1]:4711\";proto=https;host=example.com"],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert_eq!(view.remote_addr, Some(ip("2001:db8::1")));
        assert_eq!(view.remote_port, Some(4711));
        assert!(view.https);
        assert_eq!(view.server_name, Some(&b"example.com"[..]));
        assert_eq!(view.server_port, None);
        assert_eq!(view.port_or_default(), 443);

        // Case-insensitive names, OWS around `;`, quoted IPv4 with port, host with port.
        let view = resolve_with(
            &["Forwarded: For=\"192.0.2.60:8080\" ; PROTO=http; by=203.0.113.43; host=\"example.com:8080\""],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert_eq!(
            (view.remote_addr, view.remote_port),
            (Some(ip("192.0.2.60")), Some(8080))
        );
        assert!(!view.https);
        assert_eq!(view.host, Some(&b"example.com:8080"[..]));
        assert_eq!(view.server_port, Some(8080));
    }

    #[test]
    fn forwarded_takes_precedence_over_x_forwarded() {
        let view = resolve_with(
            &[
                "X-Forwarded-For: 198.51.100.1",
                "X-Forwarded-Proto: http",
                "X-Forwarded-Host: other.example",
                "Forwarded: for=192.0.2.1;proto=https;host=example.com",
            ],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert_eq!(view.remote_addr, Some(ip("192.0.2.1")));
        assert!(view.https);
        assert_eq!(view.server_name, Some(&b"example.com"[..]));
        // Field by field: a Forwarded without for= leaves the address to X-Forwarded-For.
        let view = resolve_with(
            &["X-Forwarded-For: 198.51.100.1", "Forwarded: proto=https"],
            peer("127.0.0.1:1"),
            "127.0.0.1",
        );
        assert_eq!(view.remote_addr, Some(ip("198.51.100.1")));
        assert!(view.https);
    }

    #[test]
    fn forwarded_multi_hop_and_obfuscated() {
        let view = resolve_with(
            &[
                "Forwarded: for=6.6.6.6;proto=http, for=192.0.2.1;proto=https",
                "Forwarded: for=10.0.0.2;proto=http",
            ],
            peer("10.0.0.1:1"),
            "10.0.0.0/8",
        );
        assert_eq!(view.remote_addr, Some(ip("192.0.2.1")));
        assert!(view.https, "proto of the chosen element");

        for hidden in [
            "for=_hidden",
            "for=unknown",
            "for=\"_a.b-c:_port\"",
            "for=\"[::1\"",
            "for=\"\\1.2.3.4\"",
        ] {
            let view = resolve_with(
                &[&format!("Forwarded: {hidden};proto=https")],
                peer("127.0.0.1:9"),
                "127.0.0.1",
            );
            assert_eq!(view.remote_addr, Some(ip("127.0.0.1")), "{hidden}: the peer is kept");
            assert_eq!(view.remote_port, Some(9), "{hidden}");
            assert!(view.https, "{hidden}: the rest of the element still counts");
        }
        let obfuscated_port = resolve_with(&["Forwarded: for=\"192.0.2.3:_p1\""], peer("127.0.0.1:9"), "127.0.0.1");
        assert_eq!(
            (obfuscated_port.remote_addr, obfuscated_port.remote_port),
            (Some(ip("192.0.2.3")), None)
        );
    }

    #[test]
    fn malformed_values_fall_back() {
        for line in [
            "Forwarded: for=192.0.2.1;proto=https;for=192.0.2.2",
            "Forwarded: for=\"192.0.2.1;proto=https",
            "Forwarded: for=192.0.2.1 proto=https",
            "Forwarded: =192.0.2.1",
            "Forwarded: for",
        ] {
            let view = resolve_with(
                &[line, "X-Forwarded-For: 198.51.100.2"],
                peer("127.0.0.1:9"),
                "127.0.0.1",
            );
            assert_eq!(
                view.remote_addr,
                Some(ip("198.51.100.2")),
                "{line}: Forwarded ignored whole"
            );
            assert!(!view.https, "{line}");
        }
        for line in [
            "X-Forwarded-For: not-an-ip",
            "X-Forwarded-For: 192.0.2.1:99999",
            "X-Forwarded-For: [192.0.2.1]",
            "X-Forwarded-For: 192.0.2.1, garbage",
        ] {
            let view = resolve_with(&[line], peer("127.0.0.1:9"), "127.0.0.1");
            assert_eq!(view.remote_addr, Some(ip("127.0.0.1")), "{line}");
            assert_eq!(view.remote_port, Some(9), "{line}");
        }
        let view = resolve_with(
            &[
                "X-Forwarded-Proto: ftp",
                "X-Forwarded-Host: bad host",
                "X-Forwarded-Port: 0",
                "Forwarded: host=\"a,b\";proto=gopher",
            ],
            peer("127.0.0.1:9"),
            "127.0.0.1",
        );
        assert!(!view.https);
        assert_eq!(view.host, Some(&b"internal:8000"[..]));
        assert!(!view.authority_forwarded);
        assert_eq!(view.server_port, Some(8000));
        for host in [
            "example.com:70000",
            "example.com:0",
            "[::1",
            "[not-v6]",
            "ex%41mple.com",
            "a@b",
            "",
            ":80",
        ] {
            assert_eq!(parse_host(host.as_bytes()), None, "{host}");
        }
        assert_eq!(
            parse_host(b"example.com:"),
            Some((&b"example.com"[..], None)),
            "as the request parser allows"
        );
        assert_eq!(parse_host(b"[::1]:8080"), Some((&b"[::1]"[..], Some(8080))));
    }

    #[test]
    fn unix_socket_peer() {
        let view = resolve_with(&["X-Forwarded-For: 192.0.2.8"], None, "127.0.0.1");
        assert_eq!(view.remote_addr, Some(ip("192.0.2.8")));
        let view = resolve_with(&[], None, "127.0.0.1");
        assert_eq!((view.remote_addr, view.remote_port), (None, None));
        let off = resolve_with(&["X-Forwarded-For: 192.0.2.8"], None, "");
        assert_eq!(off.remote_addr, None, "an empty list trusts nobody");
    }

    #[test]
    fn host_splitting() {
        assert_eq!(
            split_host(b"example.com:8080"),
            (&b"example.com"[..], Some(&b"8080"[..]))
        );
        assert_eq!(split_host(b"example.com"), (&b"example.com"[..], None));
        assert_eq!(split_host(b"[::1]:8000"), (&b"[::1]"[..], Some(&b"8000"[..])));
        assert_eq!(split_host(b"[::1]"), (&b"[::1]"[..], None));
        assert_eq!(split_host(b"example.com:"), (&b"example.com"[..], None));
    }

    #[test]
    fn nodes_and_ports() {
        assert_eq!(parse_node(b"192.0.2.1"), Node::Ip(ip("192.0.2.1"), None));
        assert_eq!(parse_node(b"[::1]:80"), Node::Ip(ip("::1"), Some(80)));
        assert_eq!(parse_node(b"[::1]x"), Node::Unknown);
        assert_eq!(parse_node(b"::1"), Node::Ip(ip("::1"), None));
        assert_eq!(parse_node(b"192.0.2.1:"), Node::Unknown);
        assert_eq!(parse_node(b"_secret"), Node::Unknown);
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b"0"), None);
        assert_eq!(parse_port(b"+80"), None);
        assert!(is_obfuscated(b"_a-b.c_d"));
        assert!(!is_obfuscated(b"_"));
        assert!(!is_obfuscated(b"a_b"));
    }
}
