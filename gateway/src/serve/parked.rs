//! A response parked on a slow client, and the request body it takes along.
//!
//! With `--threads 0` the event loop calls the app itself. When a response's client does not
//! take its bytes as fast as the app produces them (its socket is full), or the response has
//! had its share of a turn of the loop, the loop stops pulling: it parks the app's exchange
//! here, with what the rest of the response needs, and serves its other connections. The
//! connection resumes the response when its socket has room (see `Responder::resume`). Parking
//! allocates, which only slow clients and large or endless bodies cost; the usual request never
//! parks. This module only holds; it never calls the app and never touches a socket.

use crate::http::OwnedHead;
use crate::serve::pump::Outgoing;
use crate::serve::spill::BodyReader;
use nsgi::host::ParkedExchange;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::time::SystemTime;

/// A response set aside between two steps of the app.
pub(crate) struct ParkedResponse {
    /// The app's exchange, with its store (the environ the app was given stays in place).
    pub(crate) exchange: ParkedExchange,
    /// What went out so far, and how the rest is framed.
    pub(crate) outgoing: Outgoing,
    /// The request's head (for log lines, the access log and the response's framing).
    pub(crate) head: OwnedHead,
    /// The rest of the request body, which the app may still read (`wsgi.input`).
    pub(crate) input: Box<dyn BufRead>,
    /// A line the app started on `wsgi.errors` and has not ended yet.
    pub(crate) errors_line: Vec<u8>,
    /// When the request's first byte arrived (the access log's `%t`).
    pub(crate) received: SystemTime,
}

/// A request body as the app reads it (`wsgi.input`), which a response that parks can take
/// along when the connection's buffers go on to other requests.
pub trait RequestInput {
    /// The body, to read from now.
    fn reader(&mut self) -> &mut dyn BufRead;
    /// The unread rest of the body, owned. A body that cannot be taken along (its spill file
    /// cannot be duplicated) ends where it is: the app then reads end-of-body, and a log line
    /// says why.
    fn detach(&mut self) -> Box<dyn BufRead>;
}

impl RequestInput for &[u8] {
    fn reader(&mut self) -> &mut dyn BufRead {
        self
    }

    fn detach(&mut self) -> Box<dyn BufRead> {
        Box::new(Cursor::new(std::mem::take(self).to_vec()))
    }
}

impl RequestInput for BodyReader<'_> {
    fn reader(&mut self) -> &mut dyn BufRead {
        self
    }

    fn detach(&mut self) -> Box<dyn BufRead> {
        match self {
            BodyReader::Memory(bytes) => bytes.detach(),
            BodyReader::File(file) => {
                // What the reader has buffered, then the file from where the reader left it (a
                // duplicate descriptor shares the offset; the connection closes its own).
                let buffered = file.buffer().to_vec();
                match file.get_ref().try_clone() {
                    Ok(rest) => Box::new(Cursor::new(buffered).chain(BufReader::new(rest))),
                    Err(e) => {
                        log::error!("cannot keep the spilled request body for a parked response: {e}");
                        Box::new(io::empty())
                    }
                }
            }
        }
    }
}
