//! The shared grammar of RFC 9110 §5.6: character classes (`tchar`, `OWS`, `field-vchar`,
//! `qdtext`), the splitting of comma-separated lists (`#rule`), and `uri-host [":" port]`.
//!
//! It owns nothing but these predicates; it must never decide what a header *means* (that is
//! `parse.rs`) and never allocate.

/// Is `b` a `tchar` (RFC 9110 §5.6.2), a byte of a `token`: methods, field names, codings? The
/// host SDK's table, which also checks the field names apps send.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    nsgi::host::validate::is_token_byte(b)
}

/// `unreserved` (RFC 3986 §2.3): the bytes of a registered name or IPv4 address in a host.
static UNRESERVED: [bool; 256] = {
    let mut map = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        map[i] = matches!(b, b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'-' | b'.' | b'_' | b'~');
        i += 1;
    }
    map
};

/// Is `b` an `unreserved` byte (RFC 3986 §2.3)?
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[b as usize]
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2), the one reading of a `Host`, of an
/// absolute-form authority and of a forwarded host: the host is an IPv6 literal in brackets that
/// is an IPv6 address, or a reg-name / IPv4 address of `unreserved` bytes only (so no
/// percent-encoding, no sub-delims such as list commas, no userinfo or path); the port, when
/// digits follow the colon, is [`parse_port`]'s (an empty port is no port). Returns the host
/// (brackets kept) and the port.
pub(crate) fn parse_host(value: &[u8]) -> Option<(&[u8], Option<u16>)> {
    let (host, rest) = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        let literal = std::str::from_utf8(&value[1..close]).ok()?;
        literal.parse::<std::net::Ipv6Addr>().ok()?;
        value.split_at(close + 1)
    } else {
        let end = value.iter().position(|&b| !is_unreserved(b)).unwrap_or(value.len());
        if end == 0 {
            return None;
        }
        value.split_at(end)
    };
    match rest {
        [] | [b':'] => Some((host, None)),
        [b':', digits @ ..] => parse_port(digits).map(|port| (host, Some(port))),
        _ => None,
    }
}

/// A `port` (RFC 3986 §3.2.3) that can name a listening socket: one to five digits, 1 to 65535.
pub(crate) fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok().filter(|&port| port != 0)
}

/// Is `b` optional whitespace (`SP / HTAB`, RFC 9110 §5.6.3)?
#[inline]
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Is `b` allowed inside a field value (`field-vchar / SP / HTAB`, RFC 9110 §5.5)?
/// Excludes every control byte (NUL, CR, LF, DEL, ...) but admits `obs-text`.
#[inline]
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// Is `b` a `qdtext` byte of a `quoted-string` (RFC 9110 §5.6.4)?
#[inline]
pub(crate) fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

/// May `b` follow a backslash in a `quoted-pair` (`HTAB / SP / VCHAR / obs-text`)?
#[inline]
pub(crate) fn is_quoted_pair_byte(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// `s` without leading and trailing `OWS`.
#[inline]
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ows(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ows(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// The elements of a comma-separated list field value (`#element`, RFC 9110 §5.6.1), each
/// trimmed of `OWS`. Empty elements are yielded (as empty slices) so that callers can decide
/// whether to ignore or reject them. Commas inside quoted strings are not special-cased:
/// none of the fields this layer reads carries one in a valid message.
#[inline]
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rule for a host and its port, whoever reads it: the request parser (`Host`, an
    /// absolute-form authority) and the forwarded headers (`site/proxy.rs`) used to disagree
    /// on port 0 and on bracketed literals that are no IPv6 address.
    #[test]
    fn host_and_port_have_one_rule() {
        assert_eq!(parse_host(b"example.com:8080"), Some((&b"example.com"[..], Some(8080))));
        assert_eq!(parse_host(b"[::1]:80"), Some((&b"[::1]"[..], Some(80))));
        assert_eq!(parse_host(b"h:"), Some((&b"h"[..], None)));
        for refused in [
            &b"h:0"[..],
            b"[::1]:0",
            b"[:::]",
            b"[1:2]",
            b"[::1]x",
            b"h:65536",
            b"",
            b"[]",
        ] {
            assert_eq!(parse_host(refused), None, "{:?}", String::from_utf8_lossy(refused));
        }
        assert_eq!(parse_port(b"0"), None);
        assert_eq!(parse_port(b"00080"), Some(80));
        assert_eq!(parse_port(b"65535"), Some(65535));
    }

    #[test]
    fn tchar_is_exactly_the_rfc_set() {
        let delimiters = b"\"(),/:;<=>?@[\\]{}";
        for b in 0u8..=255 {
            let expected = b.is_ascii_graphic() && !delimiters.contains(&b);
            assert_eq!(is_tchar(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn unreserved_is_exactly_the_rfc_set() {
        for b in 0u8..=255 {
            let expected = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            assert_eq!(is_unreserved(b), expected, "byte {b:#04x}");
        }
    }

    #[test]
    fn field_value_bytes_exclude_controls() {
        for b in [0u8, 0x01, 0x0b, 0x0c, b'\r', b'\n', 0x1f, 0x7f] {
            assert!(!is_field_value_byte(b), "{b:#04x}");
        }
        for b in [b'\t', b' ', b'a', b'~', 0x80, 0xa0, 0xff] {
            assert!(is_field_value_byte(b), "{b:#04x}");
        }
    }

    #[test]
    fn qdtext_excludes_quote_and_backslash() {
        assert!(!is_qdtext(b'"'));
        assert!(!is_qdtext(b'\\'));
        assert!(!is_qdtext(0x7f));
        assert!(!is_qdtext(b'\r'));
        assert!(is_qdtext(b' '));
        assert!(is_qdtext(b'!'));
        assert!(is_quoted_pair_byte(b'"'));
        assert!(!is_quoted_pair_byte(b'\n'));
    }

    #[test]
    fn trim_ows_trims_only_space_and_tab() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"\x0bx\x0c"), b"\x0bx\x0c");
    }

    #[test]
    fn list_elements_split_and_trim() {
        let v: Vec<&[u8]> = list_elements(b"gzip , chunked").collect();
        assert_eq!(v, [&b"gzip"[..], b"chunked"]);
        let v: Vec<&[u8]> = list_elements(b",a,, b ,").collect();
        assert_eq!(v, [&b""[..], b"a", b"", b"b", b""]);
        let v: Vec<&[u8]> = list_elements(b"").collect();
        assert_eq!(v, [&b""[..]]);
    }
}
