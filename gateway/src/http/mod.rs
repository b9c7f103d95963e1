//! The HTTP/1.1 protocol layer: bytes in, decisions and bytes out.
//!
//! This module owns the *syntax* of HTTP/1.1 messages (RFC 9112) and the few semantic rules of
//! RFC 9110 that decide how a message is framed. It is split by concern, one file each:
//!
//! | file        | owns                                                                    |
//! |-------------|-------------------------------------------------------------------------|
//! | `parse.rs`  | the request head: request line, header checks, framing, keep-alive      |
//! | `decode.rs` | request bodies: by `Content-Length` and `chunked`                       |
//! | `owned_head.rs` | a parsed head kept past its read (spans, never parsed twice)        |
//! | `encode.rs` | the response head, chunk framing and the canned error responses         |
//! | `date.rs`   | the cached IMF-fixdate for the `Date` header                            |
//! | `percent.rs`| percent-decoding of the request path (PATH_INFO and routing)            |
//! | `syntax.rs` | RFC 9110 §5.6 character classes and list splitting shared by the above  |
//! | `mutation.rs` | tests only: the mutated messages the property tests feed the parsers  |
//!
//! It must never touch a socket, a clock other than through [`DateCache`], or an app, and it
//! must never allocate per request on the happy path: every buffer it writes to is passed in by
//! the caller and reused across requests. Everything here is a pure function of its inputs,
//! which is what lets the unit tests beside each file cover the smuggling cases byte by byte.
//!
//! Every error this layer reports means "answer with `status()` and close the connection": a
//! parser that has seen a malformed message no longer knows where the next message starts.

/// Declares an error enum of this layer from one table: each variant with its doc comment, the
/// response status and the short reason for logs. The variants, `status()`, `reason()`,
/// `Display` and `ALL` (every variant, for the tests and the fuzz targets) come from that one
/// table, so a variant's name is written once and the lists cannot disagree.
macro_rules! error_table {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident {
            $( $(#[$attr:meta])* $variant:ident => $status:literal, $reason:literal, )*
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(
                $(#[$attr])*
                #[doc = concat!("\n\nAnswered with ", stringify!($status), "; logged as \"", $reason, "\".")]
                $variant,
            )*
        }

        impl $name {
            /// Every variant, in the order of the table.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The status code to answer with before closing the connection.
            pub const fn status(&self) -> u16 {
                match self {
                    $($name::$variant => $status,)*
                }
            }

            /// A short description of the rule that was broken, for logs.
            pub const fn reason(&self) -> &'static str {
                match self {
                    $($name::$variant => $reason,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{} ({})", self.reason(), self.status())
            }
        }

        impl std::error::Error for $name {}
    };
}

pub(crate) mod date;
pub(crate) mod decode;
pub(crate) mod encode;
#[cfg(test)]
mod mutation;
pub(crate) mod owned_head;
pub(crate) mod parse;
pub(crate) mod percent;
pub(crate) mod syntax;

pub(crate) use date::{DateCache, IMF_FIXDATE_LEN, format_imf_fixdate};
pub(crate) use decode::BodyDecoder;
pub(crate) use encode::{
    BodyKind, CHUNK_END, CONTINUE_100, LAST_CHUNK, ResponseHead, framing_for, write_chunk, write_chunk_size_line,
    write_error_response, write_head, write_last_chunk,
};
pub(crate) use owned_head::OwnedHead;
pub(crate) use parse::{
    Framing, Front, ParseError, Parsed, RequestHead, RequestLine, complete_request_line, header_slots, is_head_request,
    parse_head,
};
pub(crate) use percent::percent_decoded;

/// The HTTP version of a request, as read from its request line.
///
/// Only HTTP/1.0 and HTTP/1.1 are spoken; any other version is refused by
/// [`parse_head`] with `505 HTTP Version Not Supported`. Responses are always labelled
/// `HTTP/1.1` (RFC 9110 §6.2); the request version only changes what the response may use
/// (chunked coding, persistent connections by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`: connections close by default, no chunked coding.
    Http10,
    /// `HTTP/1.1`: persistent connections by default, chunked coding allowed.
    Http11,
}

impl Version {
    /// The version as it appears on the wire, e.g. `b"HTTP/1.1"` (also the CGI
    /// `SERVER_PROTOCOL` value).
    pub(crate) const fn as_bytes(self) -> &'static [u8] {
        match self {
            Version::Http10 => b"HTTP/1.0",
            Version::Http11 => b"HTTP/1.1",
        }
    }
}

/// Default [`Limits::max_request_line`], in bytes (the request line without its CRLF).
/// The same as Apache's `LimitRequestLine`.
pub(crate) const MAX_REQUEST_LINE_BYTES: usize = 8190;
/// Default [`Limits::max_header_bytes`], in bytes (the whole head, request line included).
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default [`Limits::max_headers`], a count of header field lines.
pub(crate) const MAX_HEADERS: usize = 100;
/// Default [`Limits::max_body`], in bytes of decoded request content.
pub(crate) const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Default [`Limits::max_chunk_ext`], in bytes of chunk extensions over a whole body.
pub(crate) const MAX_CHUNK_EXT_BYTES: usize = 4096;
/// Default [`Limits::max_trailer_bytes`], in bytes of the trailer section.
pub(crate) const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Size limits applied while parsing a request. Exceeding one is an error whose status
/// names the limit (414, 431 or 413).
///
/// ```
/// use nsgi_gateway::Limits;
/// let limits = Limits { max_body: 1 << 20, ..Limits::default() };
/// assert_eq!(limits.max_headers, 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line accepted, in bytes without the CRLF; longer → 414.
    pub max_request_line: usize,
    /// Longest request head accepted (request line, header lines and the empty line),
    /// in bytes; longer → 431.
    pub max_header_bytes: usize,
    /// Most header field lines accepted; more → 431.
    pub max_headers: usize,
    /// Largest request content accepted, in decoded bytes; larger → 413. Checked against
    /// `Content-Length` up front and against the running total of a chunked body.
    pub max_body: u64,
    /// Most bytes of chunk extensions accepted over one chunked body; more → 400.
    pub max_chunk_ext: usize,
    /// Largest trailer section accepted, in bytes; larger → 431.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: MAX_REQUEST_LINE_BYTES,
            max_header_bytes: MAX_HEADER_BYTES,
            max_headers: MAX_HEADERS,
            max_body: MAX_BODY_BYTES,
            max_chunk_ext: MAX_CHUNK_EXT_BYTES,
            max_trailer_bytes: MAX_TRAILER_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_match_the_named_constants() {
        let l = Limits::default();
        assert_eq!(l.max_request_line, 8190);
        assert_eq!(l.max_header_bytes, 65536);
        assert_eq!(l.max_headers, 100);
        assert_eq!(l.max_body, 64 << 20);
        assert_eq!(l.max_chunk_ext, 4096);
        assert_eq!(l.max_trailer_bytes, 16384);
    }

    #[test]
    fn version_bytes() {
        assert_eq!(Version::Http10.as_bytes(), b"HTTP/1.0");
        assert_eq!(Version::Http11.as_bytes(), b"HTTP/1.1");
    }
}
