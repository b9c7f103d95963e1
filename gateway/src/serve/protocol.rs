//! The protocols the gateway serves: HTTP/1.1 (`crate::http`) or uwsgi (`crate::uwsgi`). A
//! listener carries its [`Protocol`], and so does every connection it accepts; the connection
//! frames each request by it (`conn.rs`), once, into the protocol-neutral `RequestHead`.
//!
//! It must never hold protocol logic itself: it only dispatches.

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
