//! The catalogue of checks this crate runs: ids, titles and default severities.
//!
//! Ids `C1`..`C104` are the merged PEP 3333 / wsgiref.validate / Rack::Lint / Werkzeug checklist
//! (`docs/conformance.md` lists every one of them, including those that do not apply to a C ABI
//! or that are tests of the gateway rather than of apps). Ids `N1`.. are NSGI's own: rules of the
//! C ABI that have no WSGI counterpart. This module owns the list only; it never decides whether
//! a check fails.

use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How bad a finding is. In JSON, the text of [`Severity::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a fault.
    Info,
    /// Advisory: HTTP or linter practice the ABI does not enforce.
    Warning,
    /// The app broke a rule of the ABI or PEP 3333.
    Error,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The id of a check, such as `C39` or `N2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(&'static str);

impl CheckId {
    /// The id as text.
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue entry of this id.
    pub fn info(self) -> Option<&'static Check> {
        CHECKS.iter().find(|check| check.id == self)
    }

    /// Position in the catalogue, for sorting reports (unknown ids last).
    pub fn order(self) -> usize {
        CHECKS.iter().position(|check| check.id == self).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

/// In JSON, the id as text (`"C39"`).
impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// Only the ids of the catalogue are read back ([`find`]); any other text is an error.
impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        find(&text)
            .map(|check| check.id)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown check id {text:?}")))
    }
}

/// One check the conformance runner makes.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Its id.
    pub id: CheckId,
    /// What it checks, in a few words.
    pub title: &'static str,
    /// The severity of its findings (a few findings of a check may be milder; none is harsher).
    pub severity: Severity,
}

macro_rules! checks {
    ($($name:ident $severity:ident $title:literal;)*) => {
        $(
            #[doc = $title]
            pub const $name: CheckId = CheckId(stringify!($name));
        )*
        /// Every check the runner makes, in report order.
        pub const CHECKS: &[Check] = &[
            $(Check { id: $name, title: $title, severity: Severity::$severity },)*
        ];
    };
}

checks! {
    C19 Error "environ multithread flag tells the truth about concurrent calls";
    C26 Error "wsgi.input ends at CONTENT_LENGTH";
    C32 Error "wsgi.errors gets valid byte strings";
    C39 Error "start_response at most once without exc_info";
    C40 Error "start_response before the first body chunk";
    C41 Error "start_response called at all";
    C44 Error "status code is three ASCII digits in 100..=599";
    C45 Error "status is a code, one space and a reason phrase";
    C46 Error "status has no control characters";
    C48 Error "header array is not NULL when headers are given";
    C50 Error "no Status header";
    C51 Error "header names are tokens";
    C52 Error "header values have no control characters or surrounding whitespace";
    C53 Error "no hop-by-hop headers";
    C54 Error "the app applies no Transfer-Encoding";
    C55 Warning "Content-Type present when the response has content";
    C56 Warning "no Content-Type on 1xx, 204 or 304";
    C57 Warning "no Content-Length on 1xx or 204";
    C58 Warning "304 carries no entity headers";
    C59 Warning "ETag is quoted, weak prefix is W/";
    C60 Warning "Location is absolute";
    C63 Error "call returns a body";
    C67 Error "Content-Length matches the body";
    C68 Error "no body on 1xx, 204 or 304";
    C69 Info "HEAD response has an empty body";
    C72 Error "the app copes with a body that is not read to the end";
    C75 Error "close called exactly once on every path";
    C77 Error "exc_info is a well-formed nsgi_exc_info";
    C80 Error "the app aborts after start_response reports NSGI_E_HEADERS_SENT";
    C83 Error "write() gets a valid byte string";
    C84 Error "write() only after start_response";
    C85 Error "write() never from inside the body (next or close)";
    C88 Info "write() is used (PEP 3333 discourages it for new apps)";
    C90 Error "the app can be called many times";
    C104 Info "the app relies on no inbound hop-by-hop header";
    N1 Error "call does not panic (NSGI_E_PANIC)";
    N2 Error "next does not panic (NSGI_E_PANIC)";
    N3 Error "no chunk with a NULL pointer and a non-zero length";
    N4 Error "next returns NSGI_OK or NSGI_DONE, not an error";
    N5 Error "call returns NSGI_OK for a valid request";
    N6 Error "init succeeds";
    N7 Error "the body has a valid vtable (next, close, struct_size)";
    N8 Error "request functions are used during call/next only, with valid buffers";
    N9 Error "the app returns from every call in time";
    N10 Error "the app does not crash or abort the process";
    N11 Error "the response head stays within the host's limits (header count and bytes)";
}

/// Looks an id up by its text.
pub fn find(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|check| check.id.as_str().eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found() {
        for (i, check) in CHECKS.iter().enumerate() {
            assert_eq!(check.id.order(), i, "{} appears twice", check.id);
            assert_eq!(find(check.id.as_str()).map(|c| c.id), Some(check.id));
        }
        assert!(find("C999").is_none());
    }
}
