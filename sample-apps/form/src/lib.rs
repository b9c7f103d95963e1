//! `form`: the tutorial's fourth step: a guestbook that reads what a browser posts.
//!
//! The earlier steps only answered. Here the page has a form; the browser posts it back, the app
//! reads and checks the fields, keeps the entry, and redirects to the page (303 See Other, the
//! post/redirect/get pattern, so reloading the page does not post twice).
//!
//! This module owns the guestbook: the page, the validation of a posted entry, and the entries
//! kept in memory. It must never put a posted byte on the page unescaped, never keep more than
//! its bounded number of entries, and never read more of a body than [`BODY_LIMIT`].
//!
//! | request | response |
//! |---|---|
//! | `GET /` | `200`, the form and the entries, newest first |
//! | `POST /`, urlencoded or `multipart/form-data`, valid | `303` to the page |
//! | `POST /` with a field missing, empty, too long or not UTF-8 | `400`, naming the field |
//! | `POST /` with a body over [`BODY_LIMIT`] | `413` |
//! | `POST /` of another `Content-Type` | `415` |
//! | another method on `/` | `405` with `Allow` |
//! | any other path | `404` |
//!
//! The entries live in this process: run one worker (`--workers 1`, with `--threads N` as you
//! like) so every request sees the same guestbook.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use nsgi::app::{App, Error, HtmlEscaped, InitArgs, MultipartLimits, Redirect, Request, Response, StartResponse};

/// The most bytes of a posted body (either encoding).
pub const BODY_LIMIT: usize = 16 * 1024;

/// How many entries are kept by default; the oldest go first.
const DEFAULT_MAX_ENTRIES: usize = 1000;

/// The longest `name`, in characters.
const MAX_NAME_CHARS: usize = 80;

/// The longest `message`, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;

const HTML: (&str, &str) = ("Content-Type", "text/html; charset=utf-8");
const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");
const ALLOWED: &str = "GET, HEAD, POST";

/// One signed entry.
struct Entry {
    name: String,
    message: String,
}

/// The guestbook: entries behind a lock, since requests may run on several threads at once.
struct Guestbook {
    entries: Mutex<VecDeque<Entry>>,
    max_entries: usize,
}

/// A refused post: the status and a message naming the problem.
struct Refusal {
    status: &'static str,
    message: String,
}

impl Refusal {
    fn bad_request(message: String) -> Refusal {
        Refusal {
            status: "400 Bad Request",
            message,
        }
    }
}

impl App for Guestbook {
    const NAME: &'static str = "form";

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Guestbook {
            entries: Mutex::new(VecDeque::new()),
            max_entries: max_entries(args.config())?,
        })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        if req.path_info() != "/" {
            return Ok(start.respond("404 Not Found", &[TEXT], "not found\n")?);
        }
        match req.method() {
            "GET" | "HEAD" => Ok(start.respond("200 OK", &[HTML], self.page())?),
            "POST" => match read_entry(req) {
                Ok(entry) => {
                    self.add(entry);
                    let page = format!("{}/", req.script_name());
                    Ok(start.redirect(Redirect::SeeOther, &page, &[])?)
                }
                Err(refusal) => Ok(start.respond(refusal.status, &[TEXT], format!("{}\n", refusal.message))?),
            },
            _ => Ok(start.respond(
                "405 Method Not Allowed",
                &[TEXT, ("Allow", ALLOWED)],
                "method not allowed\n",
            )?),
        }
    }
}

impl Guestbook {
    /// Keeps `entry`, dropping the oldest past the bound.
    fn add(&self, entry: Entry) {
        // A panic elsewhere while holding the lock leaves the queue consistent (each operation
        // on it is complete), so a poisoned lock is still usable.
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() == self.max_entries {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The page: the form, then the entries, newest first, every posted text escaped.
    fn page(&self) -> String {
        let mut page = String::from(PAGE_HEAD);
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.is_empty() {
            page.push_str("<p>No entries yet: be the first.</p>\n");
        } else {
            page.push_str("<ul>\n");
            for entry in entries.iter().rev() {
                let _ = writeln!(
                    page,
                    "<li><b>{}</b>: <span class=\"message\">{}</span></li>",
                    HtmlEscaped(&entry.name),
                    HtmlEscaped(&entry.message)
                );
            }
            page.push_str("</ul>\n");
        }
        drop(entries);
        page.push_str("</body>\n</html>\n");
        page
    }
}

const PAGE_HEAD: &str = r#"<!DOCTYPE html>
<html lang="es">
<head>
  <meta charset="utf-8">
  <title>Guestbook</title>
</head>
<body>
<h1>Guestbook</h1>
<form method="post">
  <p><label>Name <input name="name" maxlength="80" required></label></p>
  <p><label>Message <textarea name="message" maxlength="2000" required></textarea></label></p>
  <p><button>Sign</button></p>
</form>
<h2>Entries</h2>
"#;

/// Reads and checks a posted entry, urlencoded or multipart.
fn read_entry(req: &mut Request<'_>) -> Result<Entry, Refusal> {
    let content_type = req.content_type();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("multipart/form-data") {
        let limits = MultipartLimits {
            max_body_bytes: BODY_LIMIT,
            max_parts: 8,
            ..MultipartLimits::default()
        };
        let form = req.read_multipart(&limits).map_err(|e| Refusal {
            status: e.status(),
            message: e.to_string(),
        })?;
        let field = |name: &str| {
            form.text(name)
                .map(|v| v.map(str::to_owned))
                .map_err(|e| Refusal::bad_request(e.to_string()))
        };
        entry(field("name")?, field("message")?)
    } else if media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        let form = req.read_form_with_limit(BODY_LIMIT).map_err(|e| Refusal {
            status: e.status(),
            message: e.to_string(),
        })?;
        let field = |name: &str| {
            form.get(name)
                .map(|v| v.map(|v| v.into_owned()))
                .map_err(|e| Refusal::bad_request(e.to_string()))
        };
        entry(field("name")?, field("message")?)
    } else {
        let found = if content_type.is_empty() { "none" } else { content_type };
        Err(Refusal {
            status: "415 Unsupported Media Type",
            message: format!(
                "the request's Content-Type is {found:?}; expected application/x-www-form-urlencoded \
                 or multipart/form-data"
            ),
        })
    }
}

/// Checks both fields: present, not blank, not too long.
fn entry(name: Option<String>, message: Option<String>) -> Result<Entry, Refusal> {
    Ok(Entry {
        name: checked("name", name, MAX_NAME_CHARS)?,
        message: checked("message", message, MAX_MESSAGE_CHARS)?,
    })
}

/// The field `field`, trimmed, or a refusal naming it.
fn checked(field: &str, value: Option<String>, max_chars: usize) -> Result<String, Refusal> {
    let value = value.ok_or_else(|| Refusal::bad_request(format!("the field {field:?} is missing")))?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Refusal::bad_request(format!("the field {field:?} is empty")));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(Refusal::bad_request(format!(
            "the field {field:?} has {chars} characters; at most {max_chars} are allowed"
        )));
    }
    Ok(trimmed.to_owned())
}

/// The bound on kept entries: the `max_entries` key of the JSON config, or the default.
fn max_entries(config: &[u8]) -> Result<usize, Error> {
    if config.iter().all(u8::is_ascii_whitespace) {
        return Ok(DEFAULT_MAX_ENTRIES);
    }
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("form: the app config is not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("form: the app config must be a JSON object such as {\"max_entries\": 100}")?;
    if let Some(unknown) = object.keys().find(|k| *k != "max_entries") {
        return Err(format!("form: unknown key {unknown:?} in the app config (known: \"max_entries\")").into());
    }
    match object.get("max_entries") {
        None => Ok(DEFAULT_MAX_ENTRIES),
        Some(n) => n
            .as_u64()
            .filter(|&n| n >= 1)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| "form: \"max_entries\" must be a whole number of at least 1".into()),
    }
}

nsgi::export_app!(Guestbook);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_by_name() {
        let missing = checked("name", None, 5).expect_err("refused");
        assert_eq!(missing.message, "the field \"name\" is missing");
        let blank = checked("message", Some("  ".into()), 5).expect_err("refused");
        assert_eq!(blank.message, "the field \"message\" is empty");
        let long = checked("name", Some("ñññññn".into()), 5).expect_err("refused");
        assert!(long.message.contains("6 characters; at most 5"), "{}", long.message);
        assert_eq!(checked("name", Some(" Ana ".into()), 5).ok().as_deref(), Some("Ana"));
    }

    #[test]
    fn the_config_bounds_the_entries() {
        assert_eq!(max_entries(b"").unwrap(), DEFAULT_MAX_ENTRIES);
        assert_eq!(max_entries(br#"{"max_entries": 3}"#).unwrap(), 3);
        assert!(max_entries(br#"{"max_entries": 0}"#).is_err());
        assert!(
            max_entries(br#"{"max": 3}"#)
                .unwrap_err()
                .to_string()
                .contains("\"max\"")
        );
    }
}
