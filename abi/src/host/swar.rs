//! Byte tests eight bytes at a time on a `u64` ("SIMD within a register"), for the short byte
//! strings of the request path (header names and values), where a call into a vectorised routine
//! would cost more than the work.

/// `0x01` in every byte.
pub(crate) const ONES: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// `byte` in every byte.
pub(crate) const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// The high bit of each byte of `word` that is zero, and of no other byte: exact per byte,
/// because adding to the low seven bits never carries into the next byte.
pub(crate) const fn zero_bytes(word: u64) -> u64 {
    !(((word & !HIGHS) + !HIGHS) | word) & HIGHS
}

/// The high bit of each byte of `word` that equals `byte`, and of no other byte.
pub(crate) const fn eq_bytes(word: u64, byte: u8) -> u64 {
    zero_bytes(word ^ splat(byte))
}

/// The high bit of each byte of `word` that is below `bound` (`bound` <= 0x80), and of no other
/// byte: exact per byte, like [`zero_bytes`].
pub(crate) const fn lt_bytes(word: u64, bound: u8) -> u64 {
    // (0x80 + low7 - bound) has its high bit set iff low7 >= bound; no byte borrows from the
    // next. A byte with its own high bit set is never below `bound`.
    !((word & !HIGHS) + splat(0x80 - bound)) & !word & HIGHS
}

/// The eight bytes of `chunk` (which must hold exactly eight) as a little-endian word.
pub(crate) fn load(chunk: &[u8]) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(chunk);
    u64::from_le_bytes(bytes)
}

/// `0x20` in each byte of `lower` that is an ASCII lower-case letter, `0` in every other byte.
const fn letter_case_bits(lower: u64) -> u64 {
    (!lt_bytes(lower, b'a') & lt_bytes(lower, b'z' + 1)) >> 2
}

/// `bytes.eq_ignore_ascii_case(lower)` for a constant `lower` that holds no upper-case letter,
/// in two overlapping word compares when `lower` has 8 to 16 bytes (the case bits of `lower` fold
/// to constants once inlined). Exact: in a letter's place, `b | 0x20` equals the letter only for
/// the letter and its upper case; every other place compares whole bytes.
#[inline(always)]
pub(crate) fn eq_ignore_ascii_case(bytes: &[u8], lower: &[u8]) -> bool {
    debug_assert!(!lower.iter().any(u8::is_ascii_uppercase));
    let n = lower.len();
    if bytes.len() != n {
        return false;
    }
    if !(8..=16).contains(&n) {
        return bytes.eq_ignore_ascii_case(lower);
    }
    let word_eq = |at: usize| {
        let want = load(&lower[at..at + 8]);
        load(&bytes[at..at + 8]) | letter_case_bits(want) == want
    };
    word_eq(0) && word_eq(n - 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_tests_are_exact_in_every_lane() {
        // Every byte value in every lane, next to neighbours that could carry or borrow into it.
        for lane in 0..8 {
            for byte in 0..=255u8 {
                for fill in [0x00u8, 0x01, 0x1f, 0x20, 0x7f, 0x80, 0xff] {
                    let mut bytes = [fill; 8];
                    bytes[lane] = byte;
                    let word = u64::from_le_bytes(bytes);
                    let lane_bits = |predicate: &dyn Fn(u8) -> bool| {
                        bytes
                            .iter()
                            .enumerate()
                            .filter(|&(_, &b)| predicate(b))
                            .fold(0u64, |acc, (i, _)| acc | 0x80 << (8 * i))
                    };
                    assert_eq!(zero_bytes(word), lane_bits(&|b| b == 0));
                    for probe in [b'-', b'_', 0x7f, 0x00, 0xff] {
                        assert_eq!(eq_bytes(word, probe), lane_bits(&|b| b == probe));
                    }
                    for bound in [0x01u8, 0x20, 0x61, 0x7b, 0x80] {
                        assert_eq!(lt_bytes(word, bound), lane_bits(&|b| b < bound), "{bytes:?} < {bound}");
                    }
                }
            }
        }
    }

    #[test]
    fn case_insensitive_compare_matches_std_for_every_byte_everywhere() {
        for lower in [
            &b"content-length"[..],
            b"content-type",
            b"connection",
            b"te",
            b"12345678",
            b"x-0123456789-abc",
        ] {
            let mut name = lower.to_vec();
            for at in 0..lower.len() {
                for byte in 0..=255u8 {
                    name[at] = byte;
                    assert_eq!(
                        eq_ignore_ascii_case(&name, lower),
                        name.eq_ignore_ascii_case(lower),
                        "{name:?}"
                    );
                }
                name[at] = lower[at].to_ascii_uppercase();
            }
            assert!(eq_ignore_ascii_case(&name, lower));
            assert!(!eq_ignore_ascii_case(&name[1..], lower));
        }
    }
}
