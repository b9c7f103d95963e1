//! Percent-decoding of a request path (RFC 3986 §2.1), the one rule that the environ's
//! PATH_INFO and the mount table's routing share. Invalid escapes are kept as they are, so
//! decoding never fails; it never allocates (the iterator decodes lazily).

/// Appends `raw` with `%XX` escapes decoded. Invalid escapes are kept as they are (as Apache and
/// most WSGI servers do), so decoding never fails.
#[cfg(test)]
pub(crate) fn percent_decode_into(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(raw.len());
    out.extend(percent_decoded(raw));
}

/// The bytes of `raw` with `%XX` escapes decoded, lazily (see [`percent_decode_into`]).
pub(crate) fn percent_decoded(raw: &[u8]) -> PercentDecoded<'_> {
    PercentDecoded { rest: raw }
}

/// Iterator of [`percent_decoded`].
#[derive(Clone, Debug)]
pub(crate) struct PercentDecoded<'a> {
    rest: &'a [u8],
}

impl Iterator for PercentDecoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&byte, rest) = self.rest.split_first()?;
        if byte == b'%'
            && let [hi, lo, tail @ ..] = rest
            && let (Some(hi), Some(lo)) = (hex(*hi), hex(*lo))
        {
            self.rest = tail;
            return Some(hi << 4 | lo);
        }
        self.rest = rest;
        Some(byte)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len().div_ceil(3), Some(self.rest.len()))
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
        assert_eq!(decode(b"%4"), b"%4");
        assert_eq!(decode(b"%"), b"%");
        assert_eq!(decode(b"%%41"), b"%A");
    }
}
