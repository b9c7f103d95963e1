//! Query strings and `application/x-www-form-urlencoded` bodies.
//!
//! This module owns [`Form`] (a parsed-on-demand list of `name=value` pairs), the one
//! percent-decoder of the app SDK ([`percent_decode`], `+` as space), [`FormError`], and the
//! [`Request`] methods that reach them: [`Request::query`] and [`Request::read_form`]. Decoding
//! follows the WHATWG URL standard's `application/x-www-form-urlencoded` parser: pairs split on
//! `&`, name and value on the first `=`, `+` is a space, `%XX` is a byte, and a `%` not followed
//! by two hex digits stays as it is. It never guesses an encoding: values are bytes, and turning
//! them into `&str` fails with [`FormError::InvalidUtf8`] naming the field instead of silently
//! replacing bytes. It never reads more of a body than the caller's limit.
//!
//! Hand-written rather than taken from `form_urlencoded`: that crate yields only lossily decoded
//! strings (invalid UTF-8 silently becomes U+FFFD), and the C header needs the same rules anyway.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::str;

use super::request::Request;

/// The most bytes [`Request::read_form`] reads from a request body: 1 MiB.
pub const DEFAULT_FORM_LIMIT: usize = 1 << 20;

/// URL-encoded `name=value` pairs: a query string or an `application/x-www-form-urlencoded` body.
///
/// Nothing is decoded until asked for; a pair without escapes is lent from the input without
/// copying. Repeated names are kept in order ([`get_all`](Self::get_all)).
///
/// ```
/// use nsgi::app::Form;
///
/// let form = Form::new(b"q=caf%C3%A9+au+lait&tag=a&tag=b&empty=&flag&bad=%zz");
/// assert_eq!(form.get("q").unwrap().as_deref(), Some("café au lait"));
/// assert_eq!(form.get_all("tag").unwrap(), ["a", "b"]);
/// assert_eq!(form.get("empty").unwrap().as_deref(), Some(""));
/// assert_eq!(form.get("flag").unwrap().as_deref(), Some("")); // no `=`: an empty value
/// assert_eq!(form.get("bad").unwrap().as_deref(), Some("%zz")); // a bad escape stays as is
/// assert_eq!(form.get("missing").unwrap(), None);
///
/// // Bytes that are not UTF-8 are an error naming the field, not a silent replacement...
/// let latin1 = Form::new(b"name=Jos%E9");
/// let error = latin1.get("name").unwrap_err();
/// assert_eq!(error.to_string(), "form field \"name\" is not valid UTF-8");
/// assert_eq!(error.status(), "400 Bad Request");
/// // ...and the raw bytes stay available.
/// assert_eq!(latin1.get_bytes("name").as_deref(), Some(&b"Jos\xE9"[..]));
/// ```
#[derive(Clone)]
pub struct Form<'a> {
    raw: Cow<'a, [u8]>,
}

impl<'a> Form<'a> {
    /// Pairs borrowed from `raw` (a query string without its `?`, or a body).
    pub fn new(raw: &'a [u8]) -> Form<'a> {
        Form {
            raw: Cow::Borrowed(raw),
        }
    }

    /// Pairs owning their bytes (a body read from the request).
    pub fn from_vec(raw: Vec<u8>) -> Form<'static> {
        Form { raw: Cow::Owned(raw) }
    }

    /// The undecoded input.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Every pair in order, decoded. Empty pieces (`a=1&&b=2`) are skipped.
    pub fn pairs(&self) -> impl Iterator<Item = Pair<'_>> + '_ {
        self.raw
            .split(|&b| b == b'&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| {
                let (name, value) = match piece.iter().position(|&b| b == b'=') {
                    Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                    None => (piece, &b""[..]),
                };
                Pair {
                    name: percent_decode(name),
                    value: percent_decode(value),
                }
            })
    }

    /// The first value of `name` as bytes, or `None` when absent.
    pub fn get_bytes(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        self.pairs().find(|p| p.name == name.as_bytes()).map(|p| p.value)
    }

    /// The first value of `name` as text: `Ok(None)` when absent, an error when it is not UTF-8.
    pub fn get(&self, name: &str) -> Result<Option<Cow<'_, str>>, FormError> {
        self.get_bytes(name).map(|value| utf8(name, value)).transpose()
    }

    /// Every value of `name`, in order (`tag=a&tag=b`); empty when absent.
    pub fn get_all(&self, name: &str) -> Result<Vec<Cow<'_, str>>, FormError> {
        self.pairs()
            .filter(|p| p.name == name.as_bytes())
            .map(|p| utf8(name, p.value))
            .collect()
    }
}

impl fmt::Debug for Form<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Form")
            .field(&String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

/// One decoded `name=value` pair of a [`Form`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The decoded name.
    pub name: Cow<'a, [u8]>,
    /// The decoded value (empty for a piece without `=`).
    pub value: Cow<'a, [u8]>,
}

impl Pair<'_> {
    /// The name as text, or `None` when it is not UTF-8.
    pub fn name_str(&self) -> Option<&str> {
        str::from_utf8(&self.name).ok()
    }

    /// The value as text, or [`FormError::InvalidUtf8`] naming the field.
    pub fn value_str(&self) -> Result<&str, FormError> {
        str::from_utf8(&self.value).map_err(|_| FormError::InvalidUtf8 {
            field: String::from_utf8_lossy(&self.name).into_owned(),
        })
    }
}

/// Decodes `%XX` escapes and `+` (as a space). A `%` not followed by two hex digits is kept as
/// it is. Borrows `raw` when there is nothing to decode.
///
/// ```
/// use nsgi::app::percent_decode;
///
/// assert_eq!(percent_decode(b"a+b%20c"), &b"a b c"[..]);
/// assert_eq!(percent_decode(b"100%"), &b"100%"[..]);
/// assert_eq!(percent_decode(b"%4"), &b"%4"[..]);
/// assert_eq!(percent_decode(b"%e9"), &b"\xE9"[..]);
/// ```
pub fn percent_decode(raw: &[u8]) -> Cow<'_, [u8]> {
    if !raw.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let escaped = raw
                    .get(i + 1..i + 3)
                    .and_then(|hex| Some(hex_value(hex[0])? << 4 | hex_value(hex[1])?));
                match escaped {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// `value` as text, or the error naming `field`.
fn utf8<'v>(field: &str, value: Cow<'v, [u8]>) -> Result<Cow<'v, str>, FormError> {
    let invalid = || FormError::InvalidUtf8 {
        field: field.to_owned(),
    };
    match value {
        Cow::Borrowed(bytes) => str::from_utf8(bytes).map(Cow::Borrowed).map_err(|_| invalid()),
        Cow::Owned(bytes) => String::from_utf8(bytes).map(Cow::Owned).map_err(|_| invalid()),
    }
}

/// Why a form could not be read or a field not decoded. Each kind maps to the HTTP status an
/// app should answer with ([`status`](Self::status)).
#[derive(Debug)]
#[non_exhaustive]
pub enum FormError {
    /// The request's `Content-Type` is not the one expected (415).
    WrongContentType {
        /// The type the reader expects.
        expected: &'static str,
        /// The request's `CONTENT_TYPE` (lossily decoded), empty when absent.
        found: String,
    },
    /// The body is longer than the limit (413).
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A field's value is not UTF-8 (400).
    InvalidUtf8 {
        /// The field's name.
        field: String,
    },
    /// Reading the body failed (the client went away, or the host refused) (400).
    Io(std::io::Error),
}

impl FormError {
    /// The HTTP status line that fits this error, e.g. `"413 Content Too Large"`.
    pub fn status(&self) -> &'static str {
        match self {
            FormError::WrongContentType { .. } => "415 Unsupported Media Type",
            FormError::TooLarge { .. } => "413 Content Too Large",
            FormError::InvalidUtf8 { .. } | FormError::Io(_) => "400 Bad Request",
        }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::WrongContentType { expected, found } if found.is_empty() => {
                write!(f, "the request has no Content-Type; expected {expected}")
            }
            FormError::WrongContentType { expected, found } => {
                write!(f, "the request's Content-Type is {found:?}; expected {expected}")
            }
            FormError::TooLarge { limit } => write!(f, "the request body is larger than {limit} bytes"),
            FormError::InvalidUtf8 { field } => write!(f, "form field {field:?} is not valid UTF-8"),
            FormError::Io(e) => write!(f, "reading the request body failed: {e}"),
        }
    }
}

impl std::error::Error for FormError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Whether the media type of the `Content-Type` value `content_type` (what comes before any
/// `;` parameter, trimmed) is `expected`, compared ASCII case-insensitively.
pub(crate) fn media_type_is(content_type: &[u8], expected: &str) -> bool {
    let media = content_type.split(|&b| b == b';').next().unwrap_or_default();
    media.trim_ascii().eq_ignore_ascii_case(expected.as_bytes())
}

/// Reads the whole request body, refusing more than `limit` bytes (without reading past
/// `limit + 1`).
pub(crate) fn read_body_limited(req: &mut Request<'_>, limit: usize) -> Result<Vec<u8>, FormError> {
    if req.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FormError::TooLarge { limit });
    }
    let mut body = Vec::new();
    req.input()
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut body)
        .map_err(FormError::Io)?;
    if body.len() > limit {
        return Err(FormError::TooLarge { limit });
    }
    Ok(body)
}

const URLENCODED: &str = "application/x-www-form-urlencoded";

impl<'req> Request<'req> {
    /// The query string's pairs (`QUERY_STRING`, borrowed, decoded on demand).
    ///
    /// ```
    /// use nsgi::app::{Error, Request, Response, StartResponse, escape_html};
    ///
    /// fn greet(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let query = req.query();
    ///     let name = match query.get("name") {
    ///         Ok(name) => name.unwrap_or("world".into()),
    ///         Err(e) => return Ok(start.respond(e.status(), &[], e.to_string())?),
    ///     };
    ///     let page = format!("<p>Hello, {}!</p>", escape_html(&name));
    ///     Ok(start.respond("200 OK", &[("Content-Type", "text/html; charset=utf-8")], page)?)
    /// }
    /// # let _ = greet;
    /// ```
    pub fn query(&self) -> Form<'req> {
        Form::new(self.query_string_bytes())
    }

    /// Reads an `application/x-www-form-urlencoded` body of at most [`DEFAULT_FORM_LIMIT`]
    /// bytes. See [`read_form_with_limit`](Self::read_form_with_limit).
    pub fn read_form(&mut self) -> Result<Form<'static>, FormError> {
        self.read_form_with_limit(DEFAULT_FORM_LIMIT)
    }

    /// Reads the request body as an `application/x-www-form-urlencoded` form (an HTML
    /// `<form method="post">`), refusing a body of more than `limit` bytes
    /// ([`FormError::TooLarge`], before reading it when `Content-Length` says so) and a request
    /// of another `Content-Type` ([`FormError::WrongContentType`]).
    ///
    /// ```
    /// use nsgi::app::{Error, Request, Response, StartResponse};
    ///
    /// fn comment(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let form = match req.read_form_with_limit(64 * 1024) {
    ///         Ok(form) => form,
    ///         Err(e) => return Ok(start.respond(e.status(), &[], e.to_string())?),
    ///     };
    ///     let text = form.get("text")?.unwrap_or_default();
    ///     Ok(start.respond("200 OK", &[], format!("{} characters\n", text.chars().count()))?)
    /// }
    /// # let _ = comment;
    /// ```
    pub fn read_form_with_limit(&mut self, limit: usize) -> Result<Form<'static>, FormError> {
        let content_type = self.var("CONTENT_TYPE").unwrap_or_default();
        if !media_type_is(content_type, URLENCODED) {
            return Err(FormError::WrongContentType {
                expected: URLENCODED,
                found: String::from_utf8_lossy(content_type).into_owned(),
            });
        }
        read_body_limited(self, limit).map(Form::from_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        Form::new(raw)
            .pairs()
            .map(|p| (p.name.into_owned(), p.value.into_owned()))
            .collect()
    }

    #[test]
    fn splits_pairs_like_the_whatwg_parser() {
        let pairs = decoded(b"a=1&&b=&c&=d&e=f=g&");
        let want: Vec<(Vec<u8>, Vec<u8>)> = [("a", "1"), ("b", ""), ("c", ""), ("", "d"), ("e", "f=g")]
            .iter()
            .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(pairs, want);
        assert!(decoded(b"").is_empty());
        assert!(decoded(b"&&&").is_empty());
    }

    #[test]
    fn plus_and_escapes_decode_in_names_and_values() {
        let form = Form::new(b"full+name=Ada+Lovelace&na%6De=x&sym=%26%3D%2B%25");
        assert_eq!(form.get("full name").unwrap().as_deref(), Some("Ada Lovelace"));
        assert_eq!(form.get("name").unwrap().as_deref(), Some("x"));
        assert_eq!(form.get("sym").unwrap().as_deref(), Some("&=+%"));
        // `%2B` is a literal plus, never a space.
        assert_eq!(&*percent_decode(b"%2B+"), b"+ ");
    }

    #[test]
    fn bad_escapes_stay_literal() {
        for (raw, want) in [
            (&b"%"[..], &b"%"[..]),
            (b"%%", b"%%"),
            (b"%4", b"%4"),
            (b"%4g", b"%4g"),
            (b"%g4", b"%g4"),
            (b"a%", b"a%"),
            (b"%%41", b"%A"),
            (b"%00", b"\0"),
            (b"%fF", b"\xFF"),
        ] {
            assert_eq!(&*percent_decode(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn nothing_to_decode_is_borrowed() {
        assert!(matches!(percent_decode(b"plain"), Cow::Borrowed(_)));
        let form = Form::new(b"k=v");
        assert!(matches!(form.get("k").unwrap(), Some(Cow::Borrowed("v"))));
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_field() {
        let form = Form::new(b"ok=1&bad=%FF%FE&raw=\xC3");
        assert!(form.get("ok").is_ok());
        let e = form.get("bad").unwrap_err();
        assert!(matches!(&e, FormError::InvalidUtf8 { field } if field == "bad"), "{e}");
        assert!(form.get("raw").is_err());
        assert!(form.get_all("bad").is_err());
        assert_eq!(form.get_bytes("bad").as_deref(), Some(&b"\xFF\xFE"[..]));
        // A pair whose name is not UTF-8 is reachable through `pairs`.
        let odd = Form::new(b"%FF=1");
        let pair = odd.pairs().next().unwrap();
        assert_eq!(pair.name_str(), None);
        assert_eq!(pair.value_str().unwrap(), "1");
    }

    #[test]
    fn repeated_keys_keep_their_order() {
        let form = Form::new(b"x=3&y=0&x=1&x=2");
        assert_eq!(form.get_all("x").unwrap(), ["3", "1", "2"]);
        assert_eq!(form.get("x").unwrap().as_deref(), Some("3"));
        assert!(form.get_all("z").unwrap().is_empty());
    }

    #[test]
    fn huge_input_decodes_linearly() {
        // 1 MiB of escapes and 100 000 pairs: the decoder is one pass, nothing quadratic.
        let escapes = "%41".repeat(1 << 18);
        let raw = format!("big={escapes}");
        let form = Form::new(raw.as_bytes());
        let value = form.get("big").unwrap().unwrap();
        assert_eq!(value.len(), 1 << 18);
        assert!(value.bytes().all(|b| b == b'A'));
        let many: String = (0..100_000).map(|i| format!("k{i}=v&")).collect();
        let form = Form::new(many.as_bytes());
        assert_eq!(form.pairs().count(), 100_000);
        assert_eq!(form.get("k99999").unwrap().as_deref(), Some("v"));
    }

    #[test]
    fn media_types_compare_without_parameters() {
        assert!(media_type_is(b"application/x-www-form-urlencoded", URLENCODED));
        assert!(media_type_is(
            b"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            URLENCODED
        ));
        assert!(media_type_is(b" application/x-www-form-urlencoded ;", URLENCODED));
        assert!(!media_type_is(b"application/x-www-form-urlencodedx", URLENCODED));
        assert!(!media_type_is(b"", URLENCODED));
        assert!(!media_type_is(b"multipart/form-data; boundary=x", URLENCODED));
    }

    #[test]
    fn errors_say_what_and_which_status() {
        let e = FormError::TooLarge { limit: 10 };
        assert_eq!(e.to_string(), "the request body is larger than 10 bytes");
        assert_eq!(e.status(), "413 Content Too Large");
        let e = FormError::WrongContentType {
            expected: URLENCODED,
            found: String::new(),
        };
        assert_eq!(e.status(), "415 Unsupported Media Type");
        assert!(e.to_string().contains("no Content-Type"), "{e}");
    }
}
