//! The `Range` request header (RFC 9110 §14.2), reduced to what this app serves: one byte range.
//!
//! Owns the parsing of `bytes=` range sets against a file's length. It never touches a file and
//! never serves several ranges (a multipart/byteranges body): a set of more than one range is
//! answered with the whole file, which RFC 9110 §14.2 allows (a server may ignore `Range`).

/// What to answer a `Range` header with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 with the whole file: no usable range (another unit, bad syntax, several ranges).
    Whole,
    /// 206 with `len` bytes from `offset`.
    Part { offset: u64, len: u64 },
    /// 416: the one range asked for starts past the end of the file.
    Unsatisfiable,
}

/// Reads `header` (the `Range` value) for a file of `size` bytes.
pub fn answer(header: &str, size: u64) -> RangeAnswer {
    let Some((unit, set)) = header.trim().split_once('=') else {
        return RangeAnswer::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match (first.is_empty(), number(first), number(last)) {
        // `-N`: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                let len = suffix.min(size);
                RangeAnswer::Part {
                    offset: size - len,
                    len,
                }
            }
        }
        // `A-` or `A-B`.
        (false, Some(start), end) if last.is_empty() || end.is_some() => {
            let end = end.unwrap_or(u64::MAX);
            if end < start {
                RangeAnswer::Whole // invalid: a range set that cannot be read is ignored
            } else if start >= size {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Part {
                    offset: start,
                    len: end.min(size - 1) - start + 1,
                }
            }
        }
        _ => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Part, Unsatisfiable, Whole};
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(answer("bytes=0-0", 10), Part { offset: 0, len: 1 });
        assert_eq!(answer("bytes=2-5", 10), Part { offset: 2, len: 4 });
        assert_eq!(answer("bytes=2-", 10), Part { offset: 2, len: 8 });
        assert_eq!(answer("bytes=2-999", 10), Part { offset: 2, len: 8 });
        assert_eq!(answer("bytes=-3", 10), Part { offset: 7, len: 3 });
        assert_eq!(answer("bytes=-30", 10), Part { offset: 0, len: 10 });
        assert_eq!(answer("BYTES = 9-9", 10), Part { offset: 9, len: 1 });
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(answer("bytes=10-", 10), Unsatisfiable);
        assert_eq!(answer("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(answer("bytes=-0", 10), Unsatisfiable);
        assert_eq!(answer("bytes=0-", 0), Unsatisfiable);
        assert_eq!(answer("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn ignored_ranges() {
        for header in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=5-2",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
            "bytes=1",
            "bytes 0-1",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(answer(header, 10), Whole, "{header:?}");
        }
    }
}
