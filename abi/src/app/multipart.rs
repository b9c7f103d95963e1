//! `multipart/form-data` bodies (RFC 7578): HTML forms with file uploads.
//!
//! This module owns [`Multipart`] (a body read whole and split into parts), [`Part`],
//! [`MultipartLimits`], [`MultipartError`] and [`Request::read_multipart`]. It reads at most
//! `max_body_bytes` and keeps at most `max_parts` parts, each with at most
//! `max_part_header_bytes` of headers; past any limit, or on a body that does not follow
//! RFC 2046's boundary rules, it stops with an error naming the problem and the HTTP status that
//! fits. Part contents are never copied: each [`Part`] borrows from the one body buffer. It never
//! decodes a `Content-Transfer-Encoding` (RFC 7578 §4.7 forbids senders to use one) and ignores
//! `filename*` (§4.2).
//!
//! Hand-written: the sync `multipart` crate is unmaintained, and `multer` is async; the format
//! needs a bounded boundary scan and a small header parser, no more.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::str;

use super::form::{FormError, media_type_is, read_body_limited};
use super::request::Request;

/// How much of a `multipart/form-data` request [`Request::read_multipart`] accepts.
///
/// ```
/// use nsgi::app::MultipartLimits;
///
/// let uploads = MultipartLimits { max_body_bytes: 32 << 20, ..MultipartLimits::default() };
/// assert_eq!(uploads.max_parts, 128);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartLimits {
    /// The most bytes of body read (all parts, with their headers and boundaries). 8 MiB.
    pub max_body_bytes: usize,
    /// The most parts (fields and files). 128.
    pub max_parts: usize,
    /// The most bytes of headers one part may have. 8 KiB.
    pub max_part_header_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> MultipartLimits {
        MultipartLimits {
            max_body_bytes: 8 << 20,
            max_parts: 128,
            max_part_header_bytes: 8 << 10,
        }
    }
}

/// A `multipart/form-data` body, split into its parts.
///
/// ```
/// use nsgi::app::{Multipart, MultipartLimits};
///
/// let body = b"--XyZ\r\n\
///     Content-Disposition: form-data; name=\"title\"\r\n\r\n\
///     Holiday\r\n\
///     --XyZ\r\n\
///     Content-Disposition: form-data; name=\"photo\"; filename=\"beach.jpg\"\r\n\
///     Content-Type: image/jpeg\r\n\r\n\
///     \xFF\xD8\xFF\r\n\
///     --XyZ--\r\n";
/// let form = Multipart::parse(b"multipart/form-data; boundary=XyZ", body.to_vec(), &MultipartLimits::default())?;
/// assert_eq!(form.text("title")?, Some("Holiday"));
/// let photo = form.file("photo").expect("a photo");
/// assert_eq!(photo.filename, Some("beach.jpg"));
/// assert_eq!(photo.content_type, Some("image/jpeg"));
/// assert_eq!(photo.data, b"\xFF\xD8\xFF");
/// # Ok::<(), nsgi::app::MultipartError>(())
/// ```
pub struct Multipart {
    body: Vec<u8>,
    parts: Vec<PartInfo>,
}

/// Where one part lies in the body, and its parsed headers.
struct PartInfo {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Range<usize>,
}

/// One part of a [`Multipart`] body: a form field, or a file when it has a `filename`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part<'a> {
    /// The field's name (`name=` of its `Content-Disposition`).
    pub name: &'a str,
    /// The file's name as the client sent it (`filename=`), for files; may be empty (a file
    /// input left empty). Never use it as a path without cleaning it.
    pub filename: Option<&'a str>,
    /// The part's `Content-Type`, when it has one.
    pub content_type: Option<&'a str>,
    /// The part's content.
    pub data: &'a [u8],
}

impl Multipart {
    /// Splits `body` according to the boundary of `content_type` (the request's
    /// `Content-Type`), within `limits` (`max_body_bytes` is checked against `body` too).
    pub fn parse(content_type: &[u8], body: Vec<u8>, limits: &MultipartLimits) -> Result<Multipart, MultipartError> {
        if !media_type_is(content_type, FORM_DATA) {
            return Err(MultipartError::WrongContentType {
                found: String::from_utf8_lossy(content_type).into_owned(),
            });
        }
        if body.len() > limits.max_body_bytes {
            return Err(MultipartError::TooLarge {
                limit: limits.max_body_bytes,
            });
        }
        let content_type = str::from_utf8(content_type).map_err(|_| MultipartError::MissingBoundary)?;
        let boundary = parameters(content_type.split_once(';').map_or("", |(_, p)| p))
            .find(|(key, _)| key.eq_ignore_ascii_case("boundary"))
            .map(|(_, value)| value)
            .ok_or(MultipartError::MissingBoundary)?;
        // RFC 2046 §5.1.1: 1 to 70 characters.
        if boundary.is_empty() || boundary.len() > 70 {
            return Err(MultipartError::BadBoundary { length: boundary.len() });
        }
        let parts = split(&body, boundary.as_bytes(), limits)?;
        Ok(Multipart { body, parts })
    }

    /// Every part, in the order the client sent them.
    pub fn parts(&self) -> impl Iterator<Item = Part<'_>> + '_ {
        self.parts.iter().map(|info| Part {
            name: &info.name,
            filename: info.filename.as_deref(),
            content_type: info.content_type.as_deref(),
            data: &self.body[info.data.clone()],
        })
    }

    /// The first part called `name`, field or file.
    pub fn part(&self, name: &str) -> Option<Part<'_>> {
        self.parts().find(|p| p.name == name)
    }

    /// The first text field (a part without `filename`) called `name`, as text: `Ok(None)`
    /// when absent, [`MultipartError::InvalidUtf8`] when it is not UTF-8.
    pub fn text(&self, name: &str) -> Result<Option<&str>, MultipartError> {
        match self.parts().find(|p| p.name == name && p.filename.is_none()) {
            None => Ok(None),
            Some(part) => str::from_utf8(part.data)
                .map(Some)
                .map_err(|_| MultipartError::InvalidUtf8 { field: name.to_owned() }),
        }
    }

    /// The first file (a part with a `filename`) called `name`.
    pub fn file(&self, name: &str) -> Option<Part<'_>> {
        self.parts().find(|p| p.name == name && p.filename.is_some())
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.parts().map(|p| (p.name, p.filename, p.data.len())))
            .finish()
    }
}

const FORM_DATA: &str = "multipart/form-data";

/// Why a `multipart/form-data` body was refused. Each kind maps to the HTTP status an app
/// should answer with ([`status`](Self::status)).
#[derive(Debug)]
#[non_exhaustive]
pub enum MultipartError {
    /// The request is not `multipart/form-data` (415).
    WrongContentType {
        /// The request's `CONTENT_TYPE` (lossily decoded), empty when absent.
        found: String,
    },
    /// The `Content-Type` has no `boundary` parameter (400).
    MissingBoundary,
    /// The boundary is empty or longer than RFC 2046's 70 characters (400).
    BadBoundary {
        /// Its length.
        length: usize,
    },
    /// The body is longer than `max_body_bytes` (413).
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body has more than `max_parts` parts (413).
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// The body does not contain the boundary at all (400).
    NoBoundaryInBody,
    /// The body ends before the closing boundary `--boundary--` (400).
    Unterminated,
    /// A part's headers are malformed or too large (400).
    BadPart {
        /// The part's position, from 1.
        part: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A text field's value is not UTF-8 (400).
    InvalidUtf8 {
        /// The field's name.
        field: String,
    },
    /// Reading the body failed (400).
    Io(std::io::Error),
}

impl MultipartError {
    /// The HTTP status line that fits this error, e.g. `"413 Content Too Large"`.
    pub fn status(&self) -> &'static str {
        match self {
            MultipartError::WrongContentType { .. } => "415 Unsupported Media Type",
            MultipartError::TooLarge { .. } | MultipartError::TooManyParts { .. } => "413 Content Too Large",
            _ => "400 Bad Request",
        }
    }
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::WrongContentType { found } if found.is_empty() => {
                write!(f, "the request has no Content-Type; expected {FORM_DATA}")
            }
            MultipartError::WrongContentType { found } => {
                write!(f, "the request's Content-Type is {found:?}; expected {FORM_DATA}")
            }
            MultipartError::MissingBoundary => write!(f, "the multipart Content-Type has no boundary parameter"),
            MultipartError::BadBoundary { length } => {
                write!(
                    f,
                    "the multipart boundary is {length} characters long; it must be 1 to 70"
                )
            }
            MultipartError::TooLarge { limit } => write!(f, "the request body is larger than {limit} bytes"),
            MultipartError::TooManyParts { limit } => write!(f, "the multipart body has more than {limit} parts"),
            MultipartError::NoBoundaryInBody => write!(f, "the multipart body does not contain its boundary"),
            MultipartError::Unterminated => {
                write!(f, "the multipart body ends before its closing boundary")
            }
            MultipartError::BadPart { part, problem } => write!(f, "multipart part {part}: {problem}"),
            MultipartError::InvalidUtf8 { field } => write!(f, "form field {field:?} is not valid UTF-8"),
            MultipartError::Io(e) => write!(f, "reading the request body failed: {e}"),
        }
    }
}

impl std::error::Error for MultipartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MultipartError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl<'req> Request<'req> {
    /// Reads the request body as `multipart/form-data` (an HTML form with
    /// `enctype="multipart/form-data"`, the way browsers upload files), within `limits`: a body
    /// announced or found longer than `max_body_bytes` is refused without being read further.
    ///
    /// ```
    /// use nsgi::app::{Error, MultipartLimits, Request, Response, StartResponse};
    ///
    /// fn upload(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let form = match req.read_multipart(&MultipartLimits::default()) {
    ///         Ok(form) => form,
    ///         Err(e) => return Ok(start.respond(e.status(), &[], e.to_string())?),
    ///     };
    ///     let Some(file) = form.file("upload") else {
    ///         return Ok(start.respond("400 Bad Request", &[], "no file in field \"upload\"\n")?);
    ///     };
    ///     let text = format!("{} bytes in {:?}\n", file.data.len(), file.filename.unwrap_or_default());
    ///     Ok(start.respond("200 OK", &[], text)?)
    /// }
    /// # let _ = upload;
    /// ```
    pub fn read_multipart(&mut self, limits: &MultipartLimits) -> Result<Multipart, MultipartError> {
        let content_type = self.var("CONTENT_TYPE").unwrap_or_default();
        if !media_type_is(content_type, FORM_DATA) {
            return Err(MultipartError::WrongContentType {
                found: String::from_utf8_lossy(content_type).into_owned(),
            });
        }
        let body = read_body_limited(self, limits.max_body_bytes).map_err(|e| match e {
            FormError::TooLarge { limit } => MultipartError::TooLarge { limit },
            FormError::Io(e) => MultipartError::Io(e),
            other => MultipartError::Io(std::io::Error::other(other.to_string())),
        })?;
        Multipart::parse(content_type, body, limits)
    }
}

/// Splits `body` on `--boundary` lines (RFC 2046 §5.1.1) into parts.
fn split(body: &[u8], boundary: &[u8], limits: &MultipartLimits) -> Result<Vec<PartInfo>, MultipartError> {
    let mut dash_boundary = Vec::with_capacity(boundary.len() + 4);
    dash_boundary.extend_from_slice(b"\r\n--");
    dash_boundary.extend_from_slice(boundary);
    let delimiter = &dash_boundary[..]; // CRLF "--" boundary
    let first_line = &dash_boundary[2..]; // the first one may open the body without a CRLF

    let mut pos = if body.starts_with(first_line) {
        first_line.len()
    } else {
        find(body, delimiter, 0).ok_or(MultipartError::NoBoundaryInBody)? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        // After a boundary: `--` closes the body; else optional padding, then CRLF.
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let padding = rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        let rest = &rest[padding..];
        if rest.is_empty() || rest == b"\r" || rest == b"-" {
            return Err(MultipartError::Unterminated);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(MultipartError::BadPart {
                part: parts.len() + 1,
                problem: "the boundary line is not followed by CRLF",
            });
        }
        if parts.len() == limits.max_parts {
            return Err(MultipartError::TooManyParts {
                limit: limits.max_parts,
            });
        }
        let headers_start = pos + padding + 2;
        let part_number = parts.len() + 1;
        // The headers end at the first empty line; a part may have no header at all.
        let (headers, data_start) = if body[headers_start..].starts_with(b"\r\n") {
            (&body[headers_start..headers_start], headers_start + 2)
        } else {
            let window = limits.max_part_header_bytes.saturating_add(4);
            let window_end = body.len().min(headers_start.saturating_add(window));
            match find(&body[..window_end], b"\r\n\r\n", headers_start) {
                Some(end) => (&body[headers_start..end], end + 4),
                None if window_end < body.len() => {
                    return Err(MultipartError::BadPart {
                        part: part_number,
                        problem: "its headers are larger than max_part_header_bytes",
                    });
                }
                None => return Err(MultipartError::Unterminated),
            }
        };
        let data_end = find(body, delimiter, data_start).ok_or(MultipartError::Unterminated)?;
        let (name, filename, content_type) = part_headers(headers).map_err(|problem| MultipartError::BadPart {
            part: part_number,
            problem,
        })?;
        parts.push(PartInfo {
            name,
            filename,
            content_type,
            data: data_start..data_end,
        });
        pos = data_end + delimiter.len();
    }
}

/// The `name`, `filename` and `Content-Type` from one part's header block.
#[allow(clippy::type_complexity)]
fn part_headers(block: &[u8]) -> Result<(String, Option<String>, Option<String>), &'static str> {
    let block = str::from_utf8(block).map_err(|_| "its headers are not UTF-8")?;
    let mut disposition = None;
    let mut content_type = None;
    for line in block.split("\r\n").filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or("a header line has no colon")?;
        if name.is_empty() || name.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err("a header name is empty or holds whitespace");
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value);
        } else if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        }
    }
    let disposition = disposition.ok_or("it has no Content-Disposition header")?;
    let (kind, params) = disposition.split_once(';').unwrap_or((disposition, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err("its Content-Disposition is not form-data");
    }
    let mut name = None;
    let mut filename = None;
    for (key, value) in parameters(params) {
        if key.eq_ignore_ascii_case("name") && name.is_none() {
            name = Some(value.into_owned());
        } else if key.eq_ignore_ascii_case("filename") && filename.is_none() {
            filename = Some(value.into_owned());
        }
    }
    let name = name.ok_or("its Content-Disposition has no name")?;
    Ok((name, filename, content_type))
}

/// The `key=value` parameters of a header value after its first `;` (RFC 9110 §5.6.6), with
/// quoted values unquoted. A `;` inside quotes does not split. Malformed pieces are skipped.
fn parameters(text: &str) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ';']);
            if rest.is_empty() {
                return None;
            }
            let key_end = rest.find(['=', ';']).unwrap_or(rest.len());
            let key = rest[..key_end].trim_matches([' ', '\t']);
            if !rest[key_end..].starts_with('=') {
                rest = &rest[key_end..];
                continue;
            }
            let after = rest[key_end + 1..].trim_start_matches([' ', '\t']);
            let (value, remaining) = match after.strip_prefix('"') {
                Some(quoted) => unquote(quoted),
                None => {
                    let end = after.find(';').unwrap_or(after.len());
                    (Cow::Borrowed(after[..end].trim_end_matches([' ', '\t'])), &after[end..])
                }
            };
            rest = remaining;
            if !key.is_empty() {
                return Some((key, value));
            }
        }
    })
}

/// A quoted string's content (after its opening quote), with `\` escapes removed, and the text
/// after its closing quote. An unclosed string runs to the end.
fn unquote(quoted: &str) -> (Cow<'_, str>, &str) {
    let mut end = None;
    let mut escaped = false;
    let mut has_escapes = false;
    for (i, c) in quoted.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => {
                escaped = true;
                has_escapes = true;
            }
            (false, '"') => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (content, rest) = match end {
        Some(i) => (&quoted[..i], &quoted[i + 1..]),
        None => (quoted, ""),
    };
    if !has_escapes {
        return (Cow::Borrowed(content), rest);
    }
    let mut out = String::with_capacity(content.len());
    let mut chars = content.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    (Cow::Owned(out), rest)
}

/// The first position at or after `from` where `needle` occurs in `hay`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut at = from;
    while at + needle.len() <= hay.len() {
        let offset = hay[at..hay.len() - tail.len()].iter().position(|&b| b == first)?;
        let candidate = at + offset;
        if &hay[candidate + 1..candidate + needle.len()] == tail {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &[u8] = b"multipart/form-data; boundary=B";

    fn parse(body: &[u8]) -> Result<Multipart, MultipartError> {
        Multipart::parse(CT, body.to_vec(), &MultipartLimits::default())
    }

    fn field(name: &str, value: &str) -> String {
        format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    }

    #[test]
    fn fields_files_preamble_epilogue_and_padding() {
        let body = format!(
            "preamble to ignore\r\n{}--B  \t\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a;b \\\"q\\\".txt\"\r\n\
             Content-Type: text/plain\r\n\r\nline1\r\nline2\r\n\r\n{}--B--\r\nepilogue --B",
            field("a", "1"),
            field("empty", ""),
        );
        let form = parse(body.as_bytes()).unwrap();
        let names: Vec<&str> = form.parts().map(|p| p.name).collect();
        assert_eq!(names, ["a", "f", "empty"]);
        assert_eq!(form.text("a").unwrap(), Some("1"));
        assert_eq!(form.text("empty").unwrap(), Some(""));
        let file = form.file("f").unwrap();
        assert_eq!(file.filename, Some("a;b \"q\".txt"));
        assert_eq!(file.content_type, Some("text/plain"));
        assert_eq!(file.data, b"line1\r\nline2\r\n");
        assert_eq!(form.text("f").unwrap(), None, "a file is not a text field");
        assert!(form.file("a").is_none());
    }

    #[test]
    fn quoted_boundary_and_case() {
        let body = b"--a b\r\ncontent-disposition: FORM-DATA; NAME=x\r\n\r\nv\r\n--a b--";
        let form = Multipart::parse(
            b"Multipart/Form-Data; charset=utf-8; Boundary=\"a b\"",
            body.to_vec(),
            &MultipartLimits::default(),
        )
        .unwrap();
        assert_eq!(form.text("x").unwrap(), Some("v"));
    }

    #[test]
    fn missing_or_bad_boundaries_are_named() {
        let limits = MultipartLimits::default();
        let err = |ct: &[u8], body: &[u8]| Multipart::parse(ct, body.to_vec(), &limits).unwrap_err().to_string();
        assert!(err(b"multipart/form-data", b"").contains("no boundary"));
        assert!(err(b"multipart/form-data; boundary=", b"").contains("1 to 70"));
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert!(err(long.as_bytes(), b"").contains("71 characters"));
        assert!(err(b"text/plain", b"").contains("expected multipart/form-data"));
        assert!(err(CT, b"no boundary here at all").contains("does not contain"));
        assert!(err(CT, b"").contains("does not contain"));
    }

    #[test]
    fn truncated_bodies_are_unterminated() {
        let whole = field("a", "1") + "--B--";
        for cut in 3..whole.len() - 2 {
            let result = parse(&whole.as_bytes()[..cut]);
            assert!(result.is_err(), "a body cut at {cut} bytes was accepted");
        }
        for body in ["--B", "--B\r\n", "--B \t", &field("a", "1")] {
            let e = parse(body.as_bytes()).unwrap_err();
            assert!(matches!(e, MultipartError::Unterminated), "{body:?}: {e}");
            assert_eq!(e.status(), "400 Bad Request");
        }
    }

    #[test]
    fn bad_part_headers_name_the_part() {
        let cases: [(&[u8], &str); 7] = [
            (b"--B\r\nContent-Disposition form-data\r\n\r\nx\r\n--B--", "no colon"),
            (
                b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--",
                "no Content-Disposition",
            ),
            (
                b"--B\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--B--",
                "not form-data",
            ),
            (
                b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",
                "has no name",
            ),
            (b"--B\r\n\r\nx\r\n--B--", "no Content-Disposition"),
            (b"--Bjunk\r\n", "not followed by CRLF"),
            (
                b"--B\r\nContent-Disposition: form-data; name=\"\xFF\"\r\n\r\nx\r\n--B--",
                "not UTF-8",
            ),
        ];
        for (body, needle) in cases {
            let e = Multipart::parse(CT, body.to_vec(), &MultipartLimits::default());
            let shown = String::from_utf8_lossy(body);
            let message = match e {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{shown:?} was accepted"),
            };
            assert!(
                message.contains(needle) && message.contains("part 1"),
                "{shown:?}: {message}"
            );
        }
        let second = field("a", "1") + "--B\r\nX: y\r\n\r\n\r\n--B--";
        assert!(parse(second.as_bytes()).unwrap_err().to_string().contains("part 2"));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = MultipartLimits {
            max_body_bytes: 1000,
            max_parts: 2,
            max_part_header_bytes: 64,
        };
        let big = vec![b'x'; 1001];
        let e = Multipart::parse(CT, big, &limits).unwrap_err();
        assert!(matches!(e, MultipartError::TooLarge { limit: 1000 }), "{e}");
        assert_eq!(e.status(), "413 Content Too Large");

        let three = field("a", "1") + &field("b", "2") + &field("c", "3") + "--B--";
        let e = Multipart::parse(CT, three.into_bytes(), &limits).unwrap_err();
        assert!(matches!(e, MultipartError::TooManyParts { limit: 2 }), "{e}");

        let long_header = format!("--B\r\nX-Pad: {}\r\n\r\nv\r\n--B--", "p".repeat(80));
        let e = Multipart::parse(CT, long_header.into_bytes(), &limits).unwrap_err();
        assert!(e.to_string().contains("max_part_header_bytes"), "{e}");
    }

    #[test]
    fn the_largest_limits_do_not_overflow() {
        let limits = MultipartLimits {
            max_body_bytes: usize::MAX,
            max_parts: usize::MAX,
            max_part_header_bytes: usize::MAX,
        };
        let body = field("a", "1") + "--B--";
        let form = Multipart::parse(CT, body.into_bytes(), &limits).unwrap();
        assert_eq!(form.text("a").unwrap(), Some("1"));
    }

    #[test]
    fn invalid_utf8_text_is_an_error_but_the_bytes_are_there() {
        let body = b"--B\r\nContent-Disposition: form-data; name=t\r\n\r\n\xFF\r\n--B--";
        let form = parse(body).unwrap();
        assert!(matches!(form.text("t"), Err(MultipartError::InvalidUtf8 { .. })));
        assert_eq!(form.part("t").unwrap().data, b"\xFF");
    }

    #[test]
    fn a_large_file_with_near_boundaries_inside() {
        // Content full of CRLF and "--" and a boundary prefix: only the real delimiter splits.
        let mut content = Vec::new();
        for _ in 0..50_000 {
            content.extend_from_slice(b"\r\n--\r\n-B\r\n--");
        }
        let mut body = b"--BB\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n".to_vec();
        body.extend_from_slice(&content);
        body.extend_from_slice(b"\r\n--BB--\r\n");
        let form = Multipart::parse(b"multipart/form-data; boundary=BB", body, &MultipartLimits::default()).unwrap();
        assert_eq!(form.file("f").unwrap().data, &content[..]);
    }

    #[test]
    fn find_edges() {
        assert_eq!(find(b"abc", b"abc", 0), Some(0));
        assert_eq!(find(b"abc", b"c", 0), Some(2));
        assert_eq!(find(b"abc", b"abcd", 0), None);
        assert_eq!(find(b"aab", b"ab", 0), Some(1));
        assert_eq!(find(b"abab", b"ab", 1), Some(2));
        assert_eq!(find(b"ab", b"ab", 3), None);
        assert_eq!(find(b"", b"a", 0), None);
    }

    #[test]
    fn parameter_parsing() {
        let params: Vec<(&str, String)> = parameters(" a=1; b=\"x;y\" ;c ; d=\"un\\\"q\"; =e; f=\"open")
            .map(|(k, v)| (k, v.into_owned()))
            .collect();
        let want = [("a", "1"), ("b", "x;y"), ("d", "un\"q"), ("f", "open")];
        let want: Vec<(&str, String)> = want.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        assert_eq!(params, want);
    }
}
