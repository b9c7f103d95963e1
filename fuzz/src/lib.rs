//! Helpers shared by the fuzz targets: how a target reads its input (a cursor over the bytes)
//! and how it cuts a buffer into the reads a connection might see.
//!
//! Nothing here knows about HTTP or the ABI; it must never panic on any input, so that every
//! crash a target reports is a finding in the code under test, not in the harness.

/// A cursor over the fuzz input that never fails: past the end it yields zeros.
pub struct Script<'a> {
    bytes: &'a [u8],
}

impl<'a> Script<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Script<'a> {
        Script { bytes }
    }

    /// Is any input left?
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte, or 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((&b, rest)) => {
                self.bytes = rest;
                b
            }
            None => 0,
        }
    }

    /// A little-endian `u16` (zeros past the end).
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// A length byte followed by that many bytes.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte());
        self.take(n)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.bytes.len())
    }
}

/// The ends of successive reads of a `len`-byte buffer, increasing, the last one `len`.
///
/// `seed` 0 means one byte per read; any other seed gives pseudo-random read sizes of 1 to
/// `seed % 64 + 1` bytes (xorshift, so the same seed always gives the same cuts).
pub struct Splits {
    end: usize,
    len: usize,
    max: usize,
    state: u32,
}

impl Splits {
    /// The cuts for a buffer of `len` bytes.
    pub fn new(seed: u8, len: usize) -> Splits {
        Splits {
            end: 0,
            len,
            max: if seed == 0 { 1 } else { usize::from(seed % 64) + 1 },
            state: u32::from(seed).wrapping_mul(0x9E37_79B9) | 1,
        }
    }
}

impl Iterator for Splits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.end >= self.len {
            return None;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 17;
        self.state ^= self.state << 5;
        let step = (self.state as usize % self.max) + 1;
        self.end = (self.end + step).min(self.len);
        Some(self.end)
    }
}

/// Is `part` a sub-slice of `whole` (by address)? Empty slices count as inside anywhere.
pub fn is_within(whole: &[u8], part: &[u8]) -> bool {
    if part.is_empty() {
        return true;
    }
    let (w, p) = (whole.as_ptr() as usize, part.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_the_buffer_in_increasing_cuts() {
        for seed in 0..=255u8 {
            let cuts: Vec<usize> = Splits::new(seed, 100).collect();
            assert_eq!(cuts.last(), Some(&100));
            assert!(cuts.windows(2).all(|w| w[0] < w[1]));
        }
        assert_eq!(Splits::new(0, 3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(Splits::new(7, 0).count(), 0);
    }

    #[test]
    fn script_yields_zeros_past_the_end() {
        let mut s = Script::new(b"\x02ab");
        assert_eq!(s.short_bytes(), b"ab");
        assert_eq!(s.byte(), 0);
        assert!(s.is_empty());
    }
}
