//! Reports: findings merged and sorted, then written for people (one line per finding and a
//! summary), as JSON, and as JUnit XML for CI systems.
//!
//! Owns the dedupe rule (the same check, severity and message is one entry with a count of the
//! requests that triggered it), `--strict` (warnings count as errors) and the exit status. The
//! JUnit XML is written by hand; every text that goes into it is escaped here.

use crate::check::{CHECKS, CheckId, Severity};
use crate::finding::{Finding, RequestLabel};
use crate::runner::AppInfo;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How many request labels an entry keeps (the count covers them all).
const LABELS_KEPT: usize = 5;

/// Exit status when no error-level finding was made.
pub const EXIT_PASSED: u8 = 0;
/// Exit status when there are error-level findings.
pub const EXIT_FAILED: u8 = 1;
/// Exit status when the library could not be loaded.
pub const EXIT_UNUSABLE: u8 = 2;

/// Findings merged: one per distinct check, severity and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The check.
    pub check: CheckId,
    /// The severity (after `--strict`).
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// How many findings were merged into this entry (one per request).
    pub count: usize,
    /// The first few requests that triggered it (none for findings about the whole app).
    pub requests: Vec<RequestLabel>,
}

/// A complete report of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The library checked.
    pub library: PathBuf,
    /// The app, when it could be loaded.
    pub app: Option<AppInfo>,
    /// Why the library could not be loaded, if it could not.
    pub load_error: Option<String>,
    /// Requests sent.
    pub requests: u64,
    /// Warnings were turned into errors.
    pub strict: bool,
    /// Merged findings, sorted by check, severity (worst first) and message.
    pub entries: Vec<Entry>,
}

impl Report {
    /// Merges and sorts `findings`.
    pub fn new(library: &Path, app: Option<AppInfo>, requests: u64, findings: &[Finding], strict: bool) -> Report {
        let mut entries: Vec<Entry> = Vec::new();
        for finding in findings {
            let severity = if strict && finding.severity == Severity::Warning {
                Severity::Error
            } else {
                finding.severity
            };
            let entry = match entries
                .iter_mut()
                .find(|e| e.check == finding.check && e.severity == severity && e.message == finding.message)
            {
                Some(entry) => entry,
                None => {
                    entries.push(Entry {
                        check: finding.check,
                        severity,
                        message: finding.message.clone(),
                        count: 0,
                        requests: Vec::new(),
                    });
                    entries.last_mut().expect("just pushed")
                }
            };
            entry.count += 1;
            if let Some(label) = &finding.request
                && entry.requests.len() < LABELS_KEPT
                && !entry.requests.contains(label)
            {
                entry.requests.push(label.clone());
            }
        }
        entries.sort_by(|a, b| {
            (a.check.order(), a.check, std::cmp::Reverse(a.severity), &a.message).cmp(&(
                b.check.order(),
                b.check,
                std::cmp::Reverse(b.severity),
                &b.message,
            ))
        });
        Report {
            library: library.to_path_buf(),
            app,
            load_error: None,
            requests,
            strict,
            entries,
        }
    }

    /// A report for a library that could not be loaded.
    pub fn unusable(library: &Path, reason: String) -> Report {
        Report {
            library: library.to_path_buf(),
            app: None,
            load_error: Some(reason),
            requests: 0,
            strict: false,
            entries: Vec::new(),
        }
    }

    /// Entries of one severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.entries.iter().filter(|e| e.severity == severity).count()
    }

    /// True when the library loaded and no error-level finding was made.
    pub fn passed(&self) -> bool {
        self.load_error.is_none() && self.count(Severity::Error) == 0
    }

    /// The process exit status: 0 passed, 1 errors, 2 unusable library.
    pub fn exit_status(&self) -> u8 {
        if self.load_error.is_some() {
            EXIT_UNUSABLE
        } else if self.passed() {
            EXIT_PASSED
        } else {
            EXIT_FAILED
        }
    }

    fn library_name(&self) -> String {
        self.library.file_name().map_or_else(
            || self.library.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The human report: one line per entry, grouped by check, then the summary line.
    ///
    /// `C39 error   start_response called a second time without exc_info  [GET / (basic)] ×3`
    pub fn human(&self) -> String {
        let mut out = String::new();
        if let Some(reason) = &self.load_error {
            let _ = writeln!(
                out,
                "nsgi-conformance: {}: cannot be checked: {reason}",
                self.library_name()
            );
            return out;
        }
        for entry in &self.entries {
            let _ = write!(out, "{:<4} {:<7} {}", entry.check, entry.severity, entry.message);
            match entry.requests.first() {
                Some(label) => {
                    let _ = write!(out, "  [{label}]");
                }
                None => out.push_str("  [app]"),
            }
            if entry.count > 1 {
                let _ = write!(out, " ×{}", entry.count);
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }

    /// `nsgi-conformance: libfoo.so: 2 errors, 1 warning, 0 info in 412 requests`
    pub fn summary(&self) -> String {
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        format!(
            "nsgi-conformance: {}: {}, {}, {} info in {}{}",
            self.library_name(),
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            self.count(Severity::Info),
            plural(self.requests as usize, "request"),
            if self.strict { " (strict)" } else { "" }
        )
    }

    /// The JSON report (docs/conformance.md, "Reports"). Its keys come out in alphabetical order
    /// at every level, as a [`Value`]'s map keeps them.
    pub fn json(&self) -> Value {
        let report = JsonReport {
            tool: "nsgi-conformance",
            version: env!("CARGO_PKG_VERSION"),
            library: self.library.display().to_string(),
            load_error: self.load_error.as_deref(),
            app: self.app.as_ref(),
            strict: self.strict,
            requests: self.requests,
            checks_run: CHECKS.iter().map(|check| check.id).collect(),
            findings: self.entries.iter().map(JsonEntry::from).collect(),
            summary: JsonSummary {
                errors: self.count(Severity::Error),
                warnings: self.count(Severity::Warning),
                info: self.count(Severity::Info),
                passed: self.passed(),
                exit_status: self.exit_status(),
            },
        };
        // Plain structs with string keys: serializing them cannot fail.
        serde_json::to_value(report).unwrap_or_default()
    }

    /// The JUnit XML report: one test suite, one test case per check run, a failure for each
    /// error-level entry; warnings and info go to the test case's `system-out`. A library that
    /// could not be checked is one test case in error (`load`), or, when that is a finding (an
    /// init failure, N6), that finding's failed test case.
    pub fn junit(&self) -> String {
        let suite = format!("nsgi-conformance: {}", self.library_name());
        let classname = format!("nsgi-conformance.{}", self.library_name());
        let mut cases = String::new();
        let mut tests = 0;
        let mut failures = 0;
        let mut errors = 0;
        if let Some(reason) = self.load_error.as_ref().filter(|_| self.entries.is_empty()) {
            tests = 1;
            errors = 1;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"load\">\n      <error message=\"{}\" type=\"load\"/>\n    </testcase>\n",
                xml_escape(&classname),
                xml_escape(reason)
            );
        } else {
            // A checked app lists every check; one that could not be checked (its init failed:
            // N6) lists only the checks it has findings for.
            let mut ids: Vec<(CheckId, &str)> = if self.load_error.is_none() {
                CHECKS.iter().map(|c| (c.id, c.title)).collect()
            } else {
                Vec::new()
            };
            for entry in &self.entries {
                if !ids.iter().any(|(id, _)| *id == entry.check) {
                    ids.push((entry.check, entry.check.info().map_or("", |check| check.title)));
                }
            }
            for (id, title) in ids {
                tests += 1;
                let name = if title.is_empty() {
                    id.to_string()
                } else {
                    format!("{id} {title}")
                };
                let _ = writeln!(
                    cases,
                    "    <testcase classname=\"{}\" name=\"{}\">",
                    xml_escape(&classname),
                    xml_escape(&name)
                );
                let mine: Vec<&Entry> = self.entries.iter().filter(|e| e.check == id).collect();
                let failed: Vec<String> = mine
                    .iter()
                    .filter(|e| e.severity == Severity::Error)
                    .map(|e| entry_line(e))
                    .collect();
                if let Some(first) = failed.first() {
                    failures += 1;
                    let _ = writeln!(
                        cases,
                        "      <failure message=\"{}\" type=\"error\">{}</failure>",
                        xml_escape(first),
                        xml_escape(&failed.join("\n"))
                    );
                }
                let notes: Vec<String> = mine
                    .iter()
                    .filter(|e| e.severity != Severity::Error)
                    .map(|e| format!("{}: {}", e.severity, entry_line(e)))
                    .collect();
                if !notes.is_empty() {
                    let _ = writeln!(
                        cases,
                        "      <system-out>{}</system-out>",
                        xml_escape(&notes.join("\n"))
                    );
                }
                cases.push_str("    </testcase>\n");
            }
        }
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"nsgi-conformance\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
            xml_escape(&suite)
        );
        out.push_str("    <properties>\n");
        let mut property = |name: &str, value: &str| {
            let _ = writeln!(
                out,
                "      <property name=\"{}\" value=\"{}\"/>",
                xml_escape(name),
                xml_escape(value)
            );
        };
        property("library", &self.library.display().to_string());
        if let Some(app) = &self.app {
            property("app", &app.name);
            property("sdk_info", &app.sdk_info);
        }
        property("requests", &self.requests.to_string());
        property("strict", if self.strict { "true" } else { "false" });
        out.push_str("    </properties>\n");
        out.push_str(&cases);
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// The JSON report's object; the app and each request label are written by their own derives.
#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    library: String,
    load_error: Option<&'a str>,
    app: Option<&'a AppInfo>,
    strict: bool,
    requests: u64,
    checks_run: Vec<CheckId>,
    findings: Vec<JsonEntry<'a>>,
    summary: JsonSummary,
}

/// One entry of the JSON report's `findings`: an [`Entry`] with its check's title.
#[derive(Serialize)]
struct JsonEntry<'a> {
    check: CheckId,
    title: Option<&'static str>,
    severity: Severity,
    message: &'a str,
    count: usize,
    requests: &'a [RequestLabel],
}

impl<'a> From<&'a Entry> for JsonEntry<'a> {
    fn from(entry: &'a Entry) -> Self {
        JsonEntry {
            check: entry.check,
            title: entry.check.info().map(|check| check.title),
            severity: entry.severity,
            message: &entry.message,
            count: entry.count,
            requests: &entry.requests,
        }
    }
}

/// The JSON report's `summary`.
#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    info: usize,
    passed: bool,
    exit_status: u8,
}

/// An entry as one line of text (message, first request, count).
fn entry_line(entry: &Entry) -> String {
    let mut line = entry.message.clone();
    if let Some(label) = entry.requests.first() {
        let _ = write!(line, " [{label}]");
    }
    if entry.count > 1 {
        let _ = write!(line, " ×{}", entry.count);
    }
    line
}

/// Escapes text for XML attribute values and element content. Characters XML 1.0 cannot carry
/// at all (most C0 controls) become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{C39, C55, C88};

    fn finding(check: CheckId, severity: Severity, message: &str, path: &str) -> Finding {
        Finding {
            check,
            severity,
            message: message.to_owned(),
            request: Some(RequestLabel::new(b"GET", path.as_bytes(), b"")),
        }
    }

    #[test]
    fn merges_counts_and_sorts() {
        let findings = [
            finding(C55, Severity::Warning, "no type", "/a"),
            finding(C39, Severity::Error, "twice", "/a"),
            finding(C39, Severity::Error, "twice", "/b"),
            finding(C39, Severity::Error, "twice", "/a"),
            finding(C88, Severity::Info, "write", "/a"),
        ];
        let report = Report::new(Path::new("/x/libfoo.so"), None, 7, &findings, false);
        assert_eq!(report.entries.len(), 3);
        assert_eq!((report.entries[0].check, report.entries[0].count), (C39, 3));
        assert_eq!(report.entries[0].requests.len(), 2);
        assert_eq!(
            report.summary(),
            "nsgi-conformance: libfoo.so: 1 error, 1 warning, 1 info in 7 requests"
        );
        assert!(
            report.human().starts_with("C39  error   twice  [GET /a] ×3\n"),
            "{}",
            report.human()
        );
        assert_eq!(report.exit_status(), EXIT_FAILED);
        let strict = Report::new(Path::new("libfoo.so"), None, 7, &findings[..1], true);
        assert_eq!((strict.count(Severity::Error), strict.exit_status()), (1, EXIT_FAILED));
        let lenient = Report::new(Path::new("libfoo.so"), None, 7, &findings[..1], false);
        assert_eq!(lenient.exit_status(), EXIT_PASSED);
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(
            xml_escape("a<b>&\"c\"'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#10;\u{fffd}"
        );
    }

    /// The JSON report is a documented format: its keys, their order and their values.
    #[test]
    fn json_report_keeps_its_shape() {
        let app = AppInfo {
            library: PathBuf::from("/x/libfoo.so"),
            name: "foo".into(),
            sdk_info: "sdk \"1\"".into(),
            abi_minor: 3,
            thread_safe: true,
        };
        let findings = [
            finding(C39, Severity::Error, "twice", "/a"),
            Finding {
                request: None,
                ..finding(C55, Severity::Warning, "no type", "/")
            },
        ];
        let report = Report::new(Path::new("/x/libfoo.so"), Some(app), 7, &findings, true);
        let checks_run: Vec<String> = CHECKS.iter().map(|c| format!("\"{}\"", c.id)).collect();
        let expected = format!(
            concat!(
                r#"{{"app":{{"abi_minor":3,"name":"foo","sdk_info":"sdk \"1\"","thread_safe":true}},"#,
                r#""checks_run":[{}],"findings":["#,
                r#"{{"check":"C39","count":1,"message":"twice","#,
                r#""requests":[{{"method":"GET","scenario":"","target":"/a"}}],"severity":"error","#,
                r#""title":"start_response at most once without exc_info"}},"#,
                r#"{{"check":"C55","count":1,"message":"no type","requests":[],"severity":"error","#,
                r#""title":"Content-Type present when the response has content"}}],"#,
                r#""library":"/x/libfoo.so","load_error":null,"requests":7,"strict":true,"#,
                r#""summary":{{"errors":2,"exit_status":1,"info":0,"passed":false,"warnings":0}},"#,
                r#""tool":"nsgi-conformance","version":"{}"}}"#
            ),
            checks_run.join(","),
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(report.json().to_string(), expected);
        let unusable = Report::unusable(Path::new("libbar.so"), "no such file".into()).json();
        assert_eq!(
            (&unusable["app"], &unusable["load_error"]),
            (&Value::Null, &Value::from("no such file"))
        );
        assert_eq!(unusable["summary"]["exit_status"], EXIT_UNUSABLE);
    }
}
