//! `stream`: a response produced over time, chunk by chunk, and server-sent events.
//!
//! Every earlier step built its whole page before answering. Here the body is a generator: an
//! iterator whose `next()` the gateway calls each time it can send more, so the app produces
//! each chunk only when it is wanted, pausing between them. With no `Content-Length` the
//! gateway sends HTTP/1.1 chunked coding, one HTTP chunk per item, and sends each item as soon
//! as the app yields it (PEP 3333 lets a server delay no block), in every mode.
//!
//! This module owns the two generators and their query parameters. It must never hold a
//! request-scoped value in a body (a body outlives `call`), and never stream past a bound
//! unless the client asked for an endless stream (which then ends when the client leaves).
//!
//! | request | response |
//! |---|---|
//! | `GET /` | `text/plain`, `n` lines (default 5, at most 1000), one every `delay_ms` (default 200) |
//! | `GET /events` | `text/event-stream`, `n` events one every `delay_ms`, then the end |
//! | `GET /events?endless` | events until the client goes away |
//! | a bad `n` or `delay_ms` | `400`, naming the parameter |
//! | any other path | `404` |
//!
//! PEP 3333 lets a generator call `start_response` lazily, inside its first `next()`, and the
//! C ABI allows it (docs/abi.md §7.3). The plain-text generator does so with
//! [`StartResponse::lazily`]: `call` only checks the query and returns; the gateway's first
//! `next()` starts the response (`200 OK`, `text/plain`) and yields the first line. The events
//! endpoint starts its response in `call`, the eager way. On the wire both look the same: the
//! gateway sends the status and headers with the first non-empty chunk.
//! The pauses block the thread running the body: serve with `--threads N`.

use std::thread;
use std::time::Duration;

use nsgi::app::{App, Body, Error, Host, InitArgs, Level, Request, Response, StartResponse};

/// The most items a bounded stream may ask for.
const MAX_COUNT: u64 = 1000;

/// The longest pause between items, in milliseconds.
const MAX_DELAY_MS: u64 = 10_000;

const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

/// The app keeps the host, to log when an endless stream ends.
struct Stream {
    host: Host,
}

/// What one generator produces.
#[derive(Clone, Copy)]
enum Kind {
    /// Plain text lines.
    Lines,
    /// Server-sent events.
    Events,
}

/// The generator: the next item's number, how many there are (`None`: endless), the pause.
struct Ticker {
    kind: Kind,
    next: u64,
    count: Option<u64>,
    delay: Duration,
}

impl Iterator for Ticker {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.count.is_some_and(|count| self.next >= count) {
            return None;
        }
        if self.next > 0 {
            thread::sleep(self.delay);
        }
        let n = self.next + 1;
        self.next = n;
        Some(match (self.kind, self.count) {
            (Kind::Lines, Some(count)) => format!("line {n} of {count}\n"),
            (Kind::Lines, None) => format!("line {n}\n"),
            // One event: its id, its type and one data line, ended by an empty line.
            (Kind::Events, _) => format!("id: {n}\nevent: tick\ndata: tick {n}\n\n"),
        })
    }
}

impl App for Stream {
    const NAME: &'static str = "stream";

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Stream {
            host: args.host().clone(),
        })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        let (kind, default_delay_ms) = match req.path_info() {
            "/" | "" => (Kind::Lines, 200),
            "/events" => (Kind::Events, 500),
            _ => return Ok(start.respond("404 Not Found", &[TEXT], "not found\n")?),
        };
        let query = req.query();
        let parsed = (|| -> Result<(Option<u64>, u64), String> {
            let count = number(
                query.get("n").map_err(|e| e.to_string())?.as_deref(),
                "n",
                5,
                1,
                MAX_COUNT,
            )?;
            let delay = number(
                query.get("delay_ms").map_err(|e| e.to_string())?.as_deref(),
                "delay_ms",
                default_delay_ms,
                0,
                MAX_DELAY_MS,
            )?;
            let endless = matches!(kind, Kind::Events) && query.get_bytes("endless").is_some();
            Ok((if endless { None } else { Some(count) }, delay))
        })();
        let (count, delay_ms) = match parsed {
            Ok(parsed) => parsed,
            Err(message) => return Ok(start.respond("400 Bad Request", &[TEXT], format!("{message}\n"))?),
        };
        let ticker = Ticker {
            kind,
            next: 0,
            count,
            delay: Duration::from_millis(delay_ms),
        };
        if let Kind::Lines = kind {
            // The generator's way: start_response runs in the first next(), then the first line.
            return Ok(start.lazily(move |later| {
                let started = later.start("200 OK", &[TEXT])?;
                Ok(started.body(Body::from_chunks(ticker)))
            }));
        }
        let headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")];
        let started = start.start("200 OK", &headers)?;
        let mut body = Body::from_chunks(ticker);
        if count.is_none() {
            let host = self.host.clone();
            body = body.on_close(move || host.log(Level::Info, "stream: an endless event stream was closed"));
        }
        Ok(started.body(body))
    }
}

/// The query parameter `name` as a whole number in `min..=max`, `default` when absent.
fn number(value: Option<&str>, name: &str, default: u64, min: u64, max: u64) -> Result<u64, String> {
    let Some(value) = value else {
        return Ok(default);
    };
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("the parameter {name:?} must be a whole number from {min} to {max}, not {value:?}"))
}

nsgi::export_app!(Stream);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_ticker_yields_its_items_then_ends() {
        let lines: Vec<String> = Ticker {
            kind: Kind::Lines,
            next: 0,
            count: Some(2),
            delay: Duration::ZERO,
        }
        .collect();
        assert_eq!(lines, ["line 1 of 2\n", "line 2 of 2\n"]);
        let mut events = Ticker {
            kind: Kind::Events,
            next: 0,
            count: None,
            delay: Duration::ZERO,
        };
        assert_eq!(
            events.nth(41).as_deref(),
            Some("id: 42\nevent: tick\ndata: tick 42\n\n")
        );
    }

    #[test]
    fn parameters_are_checked_by_name() {
        assert_eq!(number(None, "n", 5, 1, 10), Ok(5));
        assert_eq!(number(Some("7"), "n", 5, 1, 10), Ok(7));
        let refused = number(Some("0"), "n", 5, 1, 10).unwrap_err();
        assert_eq!(
            refused,
            "the parameter \"n\" must be a whole number from 1 to 10, not \"0\""
        );
        assert!(
            number(Some("-1"), "delay_ms", 5, 0, 10)
                .unwrap_err()
                .contains("\"delay_ms\"")
        );
    }
}
