//! A request head kept past the read it arrived in: parsed once, stored as bytes plus spans.
//!
//! Owns [`OwnedHead`], the form a request head takes when it must outlive the input buffer it
//! was framed from: a request whose body spans reads (the head waits for the body) and a request
//! handed to a pool thread. It copies the parts of a [`RequestHead`] into one reused buffer and
//! records where each part lies; [`OwnedHead::with_view`] lends a [`RequestHead`] again without
//! parsing or checking anything twice — the spans technique the host SDK uses for response
//! headers. Protocol-neutral: any framer that produces a [`RequestHead`] (HTTP/1.1, the uwsgi
//! protocol) can store it here.
//!
//! Never parses, never validates: what it holds was validated by the framer that produced it.
//! Allocates nothing once its buffers are warm.

use super::Version;
use super::parse::{Framing, Front, RequestHead, RequestLine};
use std::net::IpAddr;
use std::ops::Range;

/// Where one part lies in [`OwnedHead::bytes`].
type Span = Range<u32>;

/// A stored request head; see the module documentation.
#[derive(Debug)]
pub(crate) struct OwnedHead {
    /// The parts, one after another (not the head as received).
    bytes: Vec<u8>,
    method: Span,
    target: Span,
    path: Span,
    query: Span,
    version: Version,
    /// Name and value of each header field, in order.
    headers: Vec<(Span, Span)>,
    head_len: usize,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
    host: Option<Span>,
    forwarded: bool,
    /// What a gateway front stated (uwsgi), with its texts stored like the other parts.
    front: Option<StoredFront>,
}

/// [`Front`] with spans for its texts.
#[derive(Debug)]
struct StoredFront {
    server_protocol: Span,
    remote_addr: Option<Option<IpAddr>>,
    remote_port: Option<u16>,
    https: bool,
    server_name: Option<Span>,
    server_port: Option<u16>,
    script_name: Span,
}

impl Default for OwnedHead {
    fn default() -> OwnedHead {
        OwnedHead {
            bytes: Vec::new(),
            method: 0..0,
            target: 0..0,
            path: 0..0,
            query: 0..0,
            version: Version::Http11,
            headers: Vec::new(),
            head_len: 0,
            framing: Framing::None,
            keep_alive: false,
            expect_continue: false,
            host: None,
            forwarded: false,
            front: None,
        }
    }
}

impl OwnedHead {
    /// Replaces what is stored with `head`.
    pub(crate) fn store(&mut self, head: &RequestHead<'_, '_>) {
        self.bytes.clear();
        self.headers.clear();
        self.method = push(&mut self.bytes, head.method.as_bytes());
        self.target = push(&mut self.bytes, head.target);
        self.path = push(&mut self.bytes, head.path);
        self.query = push(&mut self.bytes, head.query);
        for field in head.headers {
            let name = push(&mut self.bytes, field.name.as_bytes());
            let value = push(&mut self.bytes, field.value);
            self.headers.push((name, value));
        }
        self.host = head.host.map(|host| push(&mut self.bytes, host));
        self.front = head.front.as_ref().map(|front| StoredFront {
            server_protocol: push(&mut self.bytes, front.server_protocol),
            remote_addr: front.remote_addr,
            remote_port: front.remote_port,
            https: front.https,
            server_name: front.server_name.map(|name| push(&mut self.bytes, name)),
            server_port: front.server_port,
            script_name: push(&mut self.bytes, front.script_name),
        });
        self.version = head.version;
        self.head_len = head.head_len;
        self.framing = head.framing;
        self.keep_alive = head.keep_alive;
        self.expect_continue = head.expect_continue;
        self.forwarded = head.forwarded;
    }

    /// The stored head, with its header fields written into `slots` (which must hold as many as
    /// were stored: the framers' limit, `HEADER_SLOTS`; extra fields are left out).
    fn view<'s>(&'s self, slots: &'s mut [httparse::Header<'s>]) -> RequestHead<'s, 's> {
        let count = self.headers.len().min(slots.len());
        for (slot, (name, value)) in slots.iter_mut().zip(&self.headers) {
            *slot = httparse::Header {
                name: self.text(name),
                value: self.part(value),
            };
        }
        RequestHead {
            method: self.text(&self.method),
            target: self.part(&self.target),
            path: self.part(&self.path),
            query: self.part(&self.query),
            version: self.version,
            headers: &slots[..count],
            head_len: self.head_len,
            framing: self.framing,
            keep_alive: self.keep_alive,
            expect_continue: self.expect_continue,
            host: self.host.as_ref().map(|span| self.part(span)),
            forwarded: self.forwarded,
            front: self.front.as_ref().map(|front| Front {
                server_protocol: self.part(&front.server_protocol),
                remote_addr: front.remote_addr,
                remote_port: front.remote_port,
                https: front.https,
                server_name: front.server_name.as_ref().map(|span| self.part(span)),
                server_port: front.server_port,
                script_name: self.part(&front.script_name),
            }),
        }
    }

    /// Lets go of buffers grown by an unusually large head.
    pub(crate) fn shrink_if_large(&mut self) {
        if self.bytes.capacity() > 64 * 1024 {
            self.bytes = Vec::new();
        }
        if self.headers.capacity() > 1024 {
            self.headers = Vec::new();
        }
    }

    /// Calls `f` with the stored head lent as a [`RequestHead`]. Its header fields need one slot
    /// each on the stack: a small array for the usual head, `MAX` slots (the framers' limit)
    /// only for a head with many fields.
    pub(crate) fn with_view<const MAX: usize, R>(&self, f: impl FnOnce(&RequestHead<'_, '_>) -> R) -> R {
        /// Enough slots for nearly every real request, cheap to set up.
        const FEW: usize = 32;
        if self.headers.len() <= FEW {
            let mut slots = [httparse::EMPTY_HEADER; FEW];
            f(&self.view(&mut slots))
        } else {
            let mut slots = [httparse::EMPTY_HEADER; MAX];
            f(&self.view(&mut slots))
        }
    }

    /// Does the stored request allow the connection to carry another one?
    pub(crate) fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// The stored request line, for the access log of a request refused after its head.
    pub(crate) fn request_line(&self) -> RequestLine<'_> {
        RequestLine {
            method: self.part(&self.method),
            target: self.part(&self.target),
            version: match &self.front {
                Some(front) => self.part(&front.server_protocol),
                None => self.version.as_bytes(),
            },
        }
    }

    fn part(&self, span: &Span) -> &[u8] {
        self.bytes
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// A part stored from a `&str` (the method, a field name), so valid UTF-8.
    fn text(&self, span: &Span) -> &str {
        std::str::from_utf8(self.part(span)).unwrap_or_default()
    }
}

/// Appends `part` to `bytes`; where it now lies.
fn push(bytes: &mut Vec<u8>, part: &[u8]) -> Span {
    let start = bytes.len();
    bytes.extend_from_slice(part);
    // Heads are capped far below 4 GiB (`--limit-request-head`).
    start as u32..bytes.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Limits, Parsed, header_slots, parse_head};

    fn stored(raw: &[u8]) -> OwnedHead {
        let mut slots = header_slots::<32>();
        let Ok(Parsed::Complete(head)) = parse_head(raw, &mut slots, &Limits::default()) else {
            panic!("test head does not parse");
        };
        let mut owned = OwnedHead::default();
        owned.store(&head);
        owned
    }

    #[test]
    fn a_stored_head_reads_back_as_parsed() {
        let raw: &[u8] =
            b"POST http://example.com/a%20b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc";
        let mut slots = header_slots::<32>();
        let Ok(Parsed::Complete(parsed)) = parse_head(raw, &mut slots, &Limits::default()) else {
            panic!("test head does not parse");
        };
        let mut owned = OwnedHead::default();
        owned.store(&parsed);
        let mut view_slots = [httparse::EMPTY_HEADER; 32];
        let view = owned.view(&mut view_slots);
        assert_eq!(view.method, "POST");
        assert_eq!(view.target, parsed.target);
        assert_eq!(view.path, b"/a%20b");
        assert_eq!(view.query, b"x=1");
        assert_eq!(view.version, Version::Http11);
        assert_eq!(view.headers.len(), 4);
        for (a, b) in view.headers.iter().zip(parsed.headers) {
            assert_eq!((a.name, a.value), (b.name, b.value));
        }
        assert_eq!(view.head_len, parsed.head_len);
        assert_eq!(view.framing, Framing::Length(3));
        assert!(view.keep_alive && view.expect_continue && view.forwarded);
        assert_eq!(view.host, Some(&b"example.com"[..]));
    }

    #[test]
    fn storing_again_replaces_the_head_and_keeps_the_buffers() {
        let mut owned = stored(b"GET /first HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n");
        assert!(!owned.keep_alive());
        let capacity = owned.bytes.capacity();
        let mut slots = header_slots::<32>();
        let Ok(Parsed::Complete(head)) =
            parse_head(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n", &mut slots, &Limits::default())
        else {
            panic!("test head does not parse");
        };
        owned.store(&head);
        assert_eq!(owned.bytes.capacity(), capacity);
        let mut view_slots = [httparse::EMPTY_HEADER; 32];
        let view = owned.view(&mut view_slots);
        assert_eq!((view.path, view.headers.len()), (&b"/2"[..], 1));
        let line = owned.request_line();
        assert_eq!(
            (line.method, line.target, line.version),
            (&b"GET"[..], &b"/2"[..], &b"HTTP/1.1"[..])
        );
    }
}
