//! What a check found: [`Finding`], and the request that triggered it ([`RequestLabel`]).
//!
//! Plain data, shared by the validator (which makes findings), the runner and the reports. It
//! never decides severities or formats reports.

use crate::check::{CheckId, Severity};
use core::fmt;
use serde::{Deserialize, Serialize};

/// Longest query string shown in a label; longer ones are cut with `…`.
const LABEL_QUERY_CHARS: usize = 24;

/// The request a finding is about: method, path and the battery's scenario name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestLabel {
    /// REQUEST_METHOD.
    pub method: String,
    /// PATH_INFO, with `?` and the (possibly cut) query string when there is one.
    pub target: String,
    /// The scenario of the battery that sent it (empty outside the runner).
    pub scenario: String,
}

impl RequestLabel {
    /// A label from raw environ values; the query string is cut to a readable length.
    pub fn new(method: &[u8], path: &[u8], query: &[u8]) -> RequestLabel {
        let mut target = String::from_utf8_lossy(path).into_owned();
        if !query.is_empty() {
            target.push('?');
            let query = String::from_utf8_lossy(query);
            let mut chars = query.chars();
            target.extend(chars.by_ref().take(LABEL_QUERY_CHARS));
            if chars.next().is_some() {
                target.push('…');
            }
        }
        RequestLabel {
            method: String::from_utf8_lossy(method).into_owned(),
            target,
            scenario: String::new(),
        }
    }
}

impl fmt::Display for RequestLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)?;
        if !self.scenario.is_empty() {
            write!(f, " ({})", self.scenario)?;
        }
        Ok(())
    }
}

/// One rule an app broke (or, at info level, something worth knowing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The check, e.g. `C39`.
    pub check: CheckId,
    /// How bad it is.
    pub severity: Severity,
    /// What happened, in a sentence.
    pub message: String,
    /// The request that triggered it; `None` for findings about the app as a whole.
    pub request: Option<RequestLabel>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.check, self.severity, self.message)?;
        if let Some(request) = &self.request {
            write!(f, " [{request}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cut_long_queries() {
        let label = RequestLabel::new(b"GET", b"/search", "q=".repeat(100).as_bytes());
        assert!(label.target.starts_with("/search?q=q="));
        assert!(label.target.ends_with('…'));
        let short = RequestLabel {
            scenario: "basic".into(),
            ..RequestLabel::new(b"GET", b"/", b"")
        };
        assert_eq!(short.to_string(), "GET / (basic)");
    }
}
