//! Fuzz target: the uwsgi packet framer (`gateway/src/uwsgi/packet.rs`).
//!
//! Input: one byte choosing the limits, one byte choosing how the packet arrives in reads (see
//! `Splits`), then the bytes a front sent. The packet is framed the way the connection does it —
//! the whole buffer again after every read, until it is complete — and that answer must be the
//! answer for the whole buffer: how a packet was cut into reads must never change whether it is
//! accepted, nor what it says. A framed head must point only into its own packet (header values,
//! method) or its target (path, query), carry no control byte in a header value, keep the limits,
//! and say HTTP/1.0 without keep-alive (one request per connection, never chunked). Bytes after
//! the packet (a body) are never read as variables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsgi_fuzz::{Script, Splits};
use nsgi_gateway::{Limits, frame_uwsgi_packet};

/// Small limits make every limit reachable from short inputs.
fn limits_for(choice: u8) -> Limits {
    if choice & 1 == 0 {
        return Limits::default();
    }
    Limits {
        max_header_bytes: [16, 64, 300, 65536][usize::from(choice >> 3 & 3)],
        max_headers: [0, 1, 3, 100][usize::from(choice >> 5 & 3)],
        max_body: if choice & 0x80 != 0 { 10 } else { u64::MAX },
        ..Limits::default()
    }
}

fuzz_target!(|input: &[u8]| {
    let mut script = Script::new(input);
    let limits = limits_for(script.byte());
    let split_seed = script.byte();
    let buf = script.rest();

    let whole = frame_uwsgi_packet(buf, &limits);

    // The connection's view: frame again after every read until the packet is complete.
    for cut in Splits::new(split_seed, buf.len()) {
        let early = frame_uwsgi_packet(&buf[..cut], &limits);
        if early.is_none() {
            continue;
        }
        assert_eq!(
            early, whole,
            "the answer after {cut} of {} bytes differs from the answer for the whole buffer",
            buf.len()
        );
        break;
    }

    // Bytes after a complete packet change nothing: they are the body.
    if whole.is_some() {
        let mut longer = buf.to_vec();
        longer.extend_from_slice(b"\x00\x0e\x00\x00\x0e\x00REQUEST_METHOD\x06\x00DELETE");
        assert_eq!(frame_uwsgi_packet(&longer, &limits), whole);
    }
});
