//! Fuzz target: the chunked body decoder (`gateway/src/http/decode.rs`), checked against itself
//! and against the chunk encoder (`gateway/src/http/encode.rs`).
//!
//! Input: a mode byte, a byte choosing how the body arrives in reads (see `Splits`), then data.
//! - Even mode: the data is a chunked body off the wire. Decoding it in the chosen reads must
//!   give exactly what decoding it in one buffer gives (bytes, consumed count, done, error),
//!   and never consume a byte past the end of the body. A body that decodes is then re-encoded
//!   with `write_chunk` and must decode to the same bytes.
//! - Odd mode: the data is a payload. It is cut into chunks, framed with the encoder, followed
//!   by the next request's bytes, and the decoder must return the payload and stop exactly at
//!   the end of the last chunk.
//!
//! The mode byte also picks small limits so that every limit is reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsgi_fuzz::{Script, Splits};
use nsgi_gateway::{ChunkedDecoder, DecodeError, Limits, write_chunk, write_chunk_size_line, write_last_chunk};

/// The bytes of the next pipelined request, appended after an encoded body.
const NEXT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n";

/// (decoded bytes, bytes consumed, done) or the error.
type Outcome = Result<(Vec<u8>, usize, bool), DecodeError>;

fn limits_for(mode: u8) -> Limits {
    if mode & 2 == 0 {
        return Limits::default();
    }
    Limits {
        max_body: [0, 5, 100, u64::MAX][usize::from(mode >> 2 & 3)],
        max_chunk_ext: [0, 3, 40, 4096][usize::from(mode >> 4 & 3)],
        // The final CRLF counts towards the trailer limit, so 2 is the least that accepts a body.
        max_trailer_bytes: [2, 4, 40, 16384][usize::from(mode >> 6 & 3)],
        ..Limits::default()
    }
}

/// Decode `input` in one call.
fn at_once(input: &[u8], limits: &Limits) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    let progress = decoder.decode(input, &mut out, limits)?;
    assert_eq!(progress.done, decoder.is_done());
    // A decoder that is done takes nothing more.
    if progress.done {
        let again = decoder.decode(b"0\r\n\r\n", &mut out, limits);
        assert_eq!(again.map(|p| (p.consumed, p.done)), Ok((0, true)));
    }
    Ok((out, progress.consumed, progress.done))
}

/// Decode `input` in the reads `Splits` gives for `seed`, the way the connection feeds it.
fn in_reads(input: &[u8], seed: u8, limits: &Limits) -> Outcome {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut consumed = 0;
    let mut start = 0;
    for end in Splits::new(seed, input.len()) {
        let piece = &input[start..end];
        start = end;
        let progress = match decoder.decode(piece, &mut out, limits) {
            Ok(progress) => progress,
            Err(e) => {
                assert!(DecodeError::ALL.contains(&e) && (400..=599).contains(&e.status()), "{e:?}");
                // A failed decoder keeps failing the same way.
                assert_eq!(decoder.decode(b"x", &mut out, limits), Err(e));
                return Err(e);
            }
        };
        assert!(progress.consumed <= piece.len());
        consumed += progress.consumed;
        if progress.done {
            return Ok((out, consumed, true));
        }
        assert_eq!(
            progress.consumed,
            piece.len(),
            "a decoder that is not done takes the whole read"
        );
    }
    Ok((out, consumed, decoder.is_done()))
}

fuzz_target!(|input: &[u8]| {
    let mut script = Script::new(input);
    let mode = script.byte();
    let seed = script.byte();
    let data = script.rest();
    let limits = limits_for(mode);
    if mode & 1 == 0 {
        wire(data, seed, &limits);
    } else {
        payload(data, seed, &limits);
    }
});

fn wire(body: &[u8], seed: u8, limits: &Limits) {
    let whole = at_once(body, limits);
    let split = in_reads(body, seed, limits);
    match (&whole, &split) {
        (Ok(_), Ok(_)) => assert_eq!(whole, split, "reads changed the decoded body"),
        (Err(a), Err(b)) => assert_eq!(a, b, "reads changed the error"),
        _ => panic!("reads changed the outcome: whole {whole:?}, in reads {split:?}"),
    }
    let Ok((out, consumed, done)) = whole else { return };
    assert!(consumed <= body.len());
    assert!(out.len() <= consumed && out.len() as u64 <= limits.max_body);
    if !done {
        assert_eq!(consumed, body.len());
        return;
    }
    // Re-encode what was decoded: the decoder must give it back.
    let mut encoded = Vec::new();
    write_chunk(&mut encoded, &out);
    write_last_chunk(&mut encoded);
    assert_eq!(at_once(&encoded, limits), Ok((out, encoded.len(), true)));
}

fn payload(payload: &[u8], seed: u8, limits: &Limits) {
    // Frame the payload in chunks cut where `Splits` cuts, alternating the two encoder entry
    // points (the whole chunk, or the size line with the data and CRLF written separately).
    let mut encoded = Vec::new();
    let mut start = 0;
    for (i, end) in Splits::new(seed.wrapping_add(1), payload.len()).enumerate() {
        let data = &payload[start..end];
        start = end;
        if i % 2 == 0 {
            write_chunk(&mut encoded, data);
        } else {
            write_chunk_size_line(&mut encoded, data.len());
            encoded.extend_from_slice(data);
            encoded.extend_from_slice(b"\r\n");
        }
    }
    write_last_chunk(&mut encoded);
    let body_len = encoded.len();
    encoded.extend_from_slice(NEXT_REQUEST);

    let expected = if payload.len() as u64 > limits.max_body {
        Err(DecodeError::TooLarge)
    } else {
        Ok((payload.to_vec(), body_len, true))
    };
    let whole = at_once(&encoded, limits);
    assert_eq!(whole, expected, "one buffer");
    if whole.is_ok() {
        assert_eq!(in_reads(&encoded, seed, limits), expected, "in reads");
    }
}
