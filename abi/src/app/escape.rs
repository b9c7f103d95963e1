//! HTML escaping: text made safe to put inside HTML elements and quoted attribute values.
//!
//! This module owns [`escape_html`] and [`HtmlEscaped`]. It escapes the five characters that
//! can end text or an attribute (`&`, `<`, `>`, `"`, `'`) and nothing else; it never decodes,
//! never strips, and never makes text safe for other contexts (a URL in `href`, a script, CSS).

use std::borrow::Cow;
use std::fmt;

/// `text` with `&`, `<`, `>`, `"` and `'` replaced by character references; borrowed when it
/// has none of them.
///
/// ```
/// use nsgi::app::escape_html;
///
/// assert_eq!(escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
///            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
/// assert_eq!(escape_html("plain"), "plain");
/// ```
pub fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(HtmlEscaped(text).to_string())
}

/// Writes its text HTML-escaped, like [`escape_html`], without building a string first: for
/// `format!` and `write!`.
///
/// ```
/// use nsgi::app::HtmlEscaped;
///
/// let name = "<script>";
/// assert_eq!(format!("<p>Hi {}</p>", HtmlEscaped(name)), "<p>Hi &lt;script&gt;</p>");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HtmlEscaped<'a>(pub &'a str);

impl fmt::Display for HtmlEscaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.bytes().position(needs_escape) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_and_nothing_else() {
        assert_eq!(escape_html("&<>\"'"), "&amp;&lt;&gt;&quot;&#39;");
        assert_eq!(
            escape_html("&amp;"),
            "&amp;amp;",
            "escaping is not idempotent, by design"
        );
        assert_eq!(escape_html("é ñ 日本 \u{0} \t"), "é ñ 日本 \u{0} \t");
        assert_eq!(escape_html(""), "");
        assert!(matches!(escape_html("no specials"), Cow::Borrowed(_)));
    }

    #[test]
    fn multibyte_text_around_escapes_is_kept_whole() {
        assert_eq!(escape_html("日<本>語"), "日&lt;本&gt;語");
        assert_eq!(escape_html("<<<"), "&lt;&lt;&lt;");
    }

    #[test]
    fn huge_input() {
        let text = "<&>".repeat(100_000);
        let escaped = escape_html(&text);
        assert_eq!(escaped.len(), 100_000 * "&lt;&amp;&gt;".len());
    }
}
