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

/// Frames `input` as the first bytes of a uwsgi connection, the way a connection does, and reads
/// every part of the head: for the fuzz target (`fuzz/fuzz_targets/uwsgi_packet.rs`). `None`
/// while the packet is incomplete; the error names why a packet is refused.
#[doc(hidden)]
pub fn frame_for_fuzzing(input: &[u8], limits: &Limits) -> Option<Result<usize, String>> {
    let len = match packet_len(input, limits) {
        Ok(Some(len)) if input.len() >= len => len,
        Ok(_) => return None,
        Err(error) => return Some(Err(error.to_string())),
    };
    Some(with_head(&input[..len], limits, |framed| {
        let head = framed.map_err(|error| error.to_string())?;
        let seen = head.method.len()
            + head.target.len()
            + head.path.len()
            + head.query.len()
            + head.headers.iter().map(|h| h.name.len() + h.value.len()).sum::<usize>()
            + head.protocol_text().len()
            + head.host.map_or(0, <[u8]>::len);
        assert!(head.headers.len() <= limits.max_headers, "more headers than the limit");
        assert_eq!(head.head_len, len, "the head is the packet");
        Ok(seen)
    }))
}
