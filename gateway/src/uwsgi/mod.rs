//! The uwsgi protocol, the gateway's second protocol beside HTTP/1.1: what nginx (`uwsgi_pass`)
//! and Apache (`mod_proxy_uwsgi`) speak to an application server, served on the listeners of
//! `--bind uwsgi://HOST:PORT` and `--bind uwsgi+unix:PATH`.
//!
//! Owns framing a request out of a uwsgi packet ([`packet`]) into the same [`RequestHead`] an HTTP
//! request becomes, so that everything after framing (body, environ, app call, response) is the
//! HTTP path's: the body follows the packet and is read by its CONTENT_LENGTH, and the response
//! goes back as HTTP/1.1 bytes, never chunked, and the connection closes after it (one request
//! per connection, as nginx's uwsgi module expects).
//!
//! It must never touch a socket, never serve a packet it has not checked whole, and never
//! allocate per request once warm: the rewritten header names live in one buffer per thread.

pub(crate) mod packet;

use crate::http::{Limits, RequestHead};
use crate::settings::serving::HEADER_SLOTS;
use packet::PacketError;
use std::cell::Cell;

pub(crate) use packet::packet_len;

/// Header slots on the stack for the usual request; more go to [`HEADER_SLOTS`] slots.
const FEW_HEADERS: usize = 32;

thread_local! {
    /// The header names rewritten from HTTP_* variables (and a target rebuilt from PATH_INFO),
    /// reused by every request framed on this thread (the event loop, or a pool thread).
    static NAMES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Frames the uwsgi request `packet` (its header and variables, as long as [`packet_len`] said)
/// and calls `serve` with its head, or with why it is refused.
pub(crate) fn with_head<R>(
    packet: &[u8],
    limits: &Limits,
    serve: impl FnOnce(Result<&RequestHead<'_, '_>, PacketError>) -> R,
) -> R {
    let mut names = NAMES.with(Cell::take);
    let result = match packet::scan(packet, &mut names, limits) {
        Err(error) => serve(Err(error)),
        Ok(found) if found.headers <= FEW_HEADERS => {
            let mut slots = [httparse::EMPTY_HEADER; FEW_HEADERS];
            serve(Ok(&packet::assemble(packet, &names, &found, &mut slots)))
        }
        Ok(found) => {
            let mut slots = [httparse::EMPTY_HEADER; HEADER_SLOTS];
            serve(Ok(&packet::assemble(packet, &names, &found, &mut slots)))
        }
    };
    NAMES.with(|cell| cell.set(names));
    result
}

/// Frames `input` as the first bytes of a uwsgi connection, the way a connection does, checks
/// every invariant of the head (each slice inside the packet or the target, no control byte in a
/// header value, the limits kept), and describes it: for the fuzz target
/// (`fuzz/fuzz_targets/uwsgi_packet.rs`), which compares descriptions. `None` while the packet is
/// incomplete; the error is why a packet is refused. Panics when an invariant is broken.
#[doc(hidden)]
pub fn frame_for_fuzzing(input: &[u8], limits: &Limits) -> Option<Result<String, String>> {
    let len = match packet_len(input, limits) {
        Ok(Some(len)) if input.len() >= len => len,
        Ok(_) => return None,
        Err(error) => return Some(Err(error.to_string())),
    };
    let packet = &input[..len];
    let within = |part: &[u8], whole: &[u8]| {
        let (start, end) = (part.as_ptr() as usize, part.as_ptr() as usize + part.len());
        part.is_empty() || (whole.as_ptr() as usize <= start && end <= whole.as_ptr() as usize + whole.len())
    };
    Some(with_head(packet, limits, |framed| {
        let head = framed.map_err(|error| error.to_string())?;
        assert!(within(head.method.as_bytes(), packet), "the method is the packet's");
        assert!(within(head.path, head.target), "the path is the target's");
        assert!(within(head.query, head.target), "the query is the target's");
        assert!(head.headers.len() <= limits.max_headers, "more headers than the limit");
        for header in head.headers {
            assert!(within(header.value, packet), "a header value is the packet's");
            assert!(!header.value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
            assert!(!header.name.is_empty() && !header.name.bytes().any(|b| b == b'_' || b.is_ascii_uppercase()));
        }
        assert_eq!(head.head_len, len, "the head is the packet");
        assert!(!head.keep_alive && head.version == crate::http::Version::Http10);
        if let crate::http::Framing::Length(n) = head.framing {
            assert!(n <= limits.max_body);
        }
        Ok(format!(
            "{} {:?} {:?} {:?} {:?} {:?} {:?}",
            head.method,
            head.target,
            head.path,
            head.query,
            head.headers.iter().map(|h| (h.name, h.value)).collect::<Vec<_>>(),
            head.framing,
            head.front
        ))
    }))
}
