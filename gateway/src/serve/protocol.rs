//! The protocols the gateway serves, and the one place that frames a request by its protocol:
//! HTTP/1.1 (`crate::http`) or uwsgi (`crate::uwsgi`). A listener carries its [`Protocol`], and so
//! does every connection it accepts and every request handed to the pool.
//!
//! It must never hold protocol logic itself: it only dispatches.

use crate::http::{Limits, Parsed, RequestHead, header_slots, parse_head};
use crate::settings::serving::HEADER_SLOTS;
use crate::uwsgi;

/// The protocol a listener speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (`--bind HOST:PORT`, `--bind unix:PATH`).
    #[default]
    Http1,
    /// The uwsgi protocol of nginx's `uwsgi_pass` and Apache's `mod_proxy_uwsgi`
    /// (`--bind uwsgi://HOST:PORT`, `--bind uwsgi+unix:PATH`): one request per connection.
    Uwsgi,
}

impl Protocol {
    /// The word that names it where a listener is passed on (`uwsgi`), empty for HTTP/1.1.
    pub(crate) const fn tag(self) -> &'static str {
        match self {
            Protocol::Http1 => "",
            Protocol::Uwsgi => "uwsgi",
        }
    }

    /// The protocol named by [`Protocol::tag`].
    pub(crate) fn from_tag(tag: &str) -> Option<Protocol> {
        match tag {
            "" => Some(Protocol::Http1),
            "uwsgi" => Some(Protocol::Uwsgi),
            _ => None,
        }
    }
}

/// Frames a saved request head again (one the connection already framed once, handed to the pool
/// or kept while its body arrived), by the protocol it came in: `None` only if it no longer
/// frames, which cannot happen to the same bytes (the caller fails safe with a 500).
pub(crate) fn with_saved_head<R>(
    protocol: Protocol,
    bytes: &[u8],
    limits: &Limits,
    serve: impl FnOnce(Option<&RequestHead<'_, '_>>) -> R,
) -> R {
    match protocol {
        Protocol::Http1 => {
            let mut headers = header_slots::<HEADER_SLOTS>();
            let slots = limits.max_headers.min(HEADER_SLOTS);
            match parse_head(bytes, &mut headers[..slots], limits) {
                Ok(Parsed::Complete(head)) => serve(Some(&head)),
                _ => serve(None),
            }
        }
        Protocol::Uwsgi => uwsgi::with_head(bytes, limits, |framed| serve(framed.ok())),
    }
}
