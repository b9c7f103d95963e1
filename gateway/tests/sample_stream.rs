//! End-to-end: the `stream` sample behind a real gateway: a body produced chunk by chunk (sent
//! with chunked coding, one HTTP chunk per item), server-sent events bounded and endless, the
//! endless stream closed when the client leaves, and bad parameters refused by name.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use nsgi_testkit::{Gateway, build_packages};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn library() -> PathBuf {
    build_packages(&["stream"]).join("libstream.so")
}

/// Two app threads, so a pausing body never stalls the event loop.
fn serve() -> Gateway {
    Gateway::start(
        gateway_binary(),
        [
            library().into_os_string(),
            "--workers".into(),
            "0".into(),
            "--threads".into(),
            "2".into(),
        ],
    )
}

fn get(gateway: &Gateway, target: &str) -> nsgi_testkit::Response {
    gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
}

/// The head and the chunks of a chunked response read until the server closes.
fn raw_chunks(gateway: &Gateway, target: &str) -> (String, Vec<String>) {
    let raw = gateway
        .exchange_until_close(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes());
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, mut rest) = text.split_once("\r\n\r\n").expect("a complete head");
    let mut chunks = Vec::new();
    loop {
        let (size, after) = rest.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size, 16).expect("hex chunk size");
        if size == 0 {
            assert_eq!(after, "\r\n", "the last chunk ends the response");
            break;
        }
        chunks.push(after[..size].to_owned());
        assert_eq!(&after[size..size + 2], "\r\n");
        rest = &after[size + 2..];
    }
    (head.to_owned(), chunks)
}

#[test]
fn lines_go_out_as_separate_chunks_without_content_length() {
    let gateway = serve();
    let (head, chunks) = raw_chunks(&gateway, "/?n=4&delay_ms=5");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("content-length"), "{head}");
    assert_eq!(
        chunks,
        ["line 1 of 4\n", "line 2 of 4\n", "line 3 of 4\n", "line 4 of 4\n"]
    );
}

#[test]
fn a_bounded_event_stream_sends_its_events_then_ends() {
    let gateway = serve();
    let (head, chunks) = raw_chunks(&gateway, "/events?n=3&delay_ms=5");
    assert!(head.contains("Content-Type: text/event-stream"), "{head}");
    assert!(head.contains("Cache-Control: no-cache"), "{head}");
    assert_eq!(chunks.len(), 3);
    for (i, event) in chunks.iter().enumerate() {
        let n = i + 1;
        assert_eq!(event, &format!("id: {n}\nevent: tick\ndata: tick {n}\n\n"));
    }
}

/// Reads events from `/events` with `query` until it has seen `count` ids, then drops the
/// connection; returns the ids seen.
fn read_events_then_leave(gateway: &Gateway, query: &str, count: usize) -> Vec<String> {
    let mut stream = gateway.connect();
    stream
        .write_all(format!("GET /events?{query} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .expect("send");
    let mut reader = BufReader::new(stream);
    let mut seen = Vec::new();
    let mut line = String::new();
    while seen.len() < count {
        line.clear();
        let n = reader.read_line(&mut line).expect("read the stream");
        assert!(n > 0, "the endless stream ended; got {seen:?}");
        if let Some(id) = line.trim_end().strip_prefix("id: ") {
            seen.push(id.to_owned());
        }
    }
    seen
}

#[test]
fn an_endless_event_stream_is_closed_when_the_client_leaves() {
    let gateway = serve();
    assert_eq!(
        read_events_then_leave(&gateway, "endless&delay_ms=0", 3),
        ["1", "2", "3"]
    );
    gateway.wait_for_log("an endless event stream was closed");
    assert_eq!(get(&gateway, "/?n=1").text(), "line 1 of 1\n", "the server goes on");
}

/// PEP 3333 (Buffering and Streaming): a gateway must not delay a block the app yields. An
/// endless stream never ends, so reading its first events proves they are sent as produced.
#[test]
fn paced_events_reach_the_client_as_they_are_produced() {
    let gateway = serve();
    assert_eq!(read_events_then_leave(&gateway, "endless&delay_ms=20", 2), ["1", "2"]);
}

#[test]
fn bad_parameters_are_refused_by_name() {
    let gateway = serve();
    for (target, name) in [
        ("/?n=0", "\"n\""),
        ("/?n=abc", "\"n\""),
        ("/?n=%zz", "\"n\""),
        ("/?n=99999", "\"n\""),
        ("/events?delay_ms=-1", "\"delay_ms\""),
        ("/events?delay_ms=100000", "\"delay_ms\""),
        ("/?n=%FF", "\"n\""),
    ] {
        let response = get(&gateway, target);
        assert_eq!(response.status, 400, "{target}");
        assert!(response.text().contains(name), "{target}: {}", response.text());
    }
    assert_eq!(get(&gateway, "/nowhere").status, 404);
}

/// The plain-text generator starts its response lazily: loaded by the host SDK (as the gateway
/// loads it), its `call` returns without `start_response`, which comes inside the first `next()`;
/// the events endpoint starts in `call`. No violation either way.
#[test]
fn the_line_generator_calls_start_response_inside_its_first_next() {
    use nsgi::host::observe::{CallPhase, Observer, StartResponseCall};
    use nsgi::host::{AppInstance, AppModule, Environ, InitOptions, RequestId, RequestSlot, Step, Violation};
    use std::sync::{Arc, Mutex};

    /// Where each start_response came from, and the violations.
    #[derive(Default)]
    struct Phases {
        starts: Mutex<Vec<(CallPhase, String)>>,
        violations: Mutex<Vec<Violation>>,
    }
    impl Observer for Phases {
        fn start_response(&self, _req: RequestId, call: &StartResponseCall<'_>) {
            let status = String::from_utf8_lossy(call.status).into_owned();
            self.starts.lock().expect("starts").push((call.phase, status));
        }
        fn violation(&self, _req: RequestId, violation: &Violation) {
            self.violations.lock().expect("violations").push(violation.clone());
        }
    }

    let module = AppModule::load(library()).expect("load libstream.so");
    let phases = Arc::new(Phases::default());
    let app = AppInstance::init_observed(&module, &InitOptions::default(), phases.clone()).expect("init");
    let mut slot = RequestSlot::new();
    for (path, query, expected) in [
        ("/", "n=2&delay_ms=0", "line 1 of 2\nline 2 of 2\n"),
        ("/events", "n=1&delay_ms=0", "id: 1\nevent: tick\ndata: tick 1\n\n"),
    ] {
        let mut environ = Environ::new();
        environ.push(b"REQUEST_METHOD", b"GET");
        environ.push(b"PATH_INFO", path.as_bytes());
        environ.push(b"QUERY_STRING", query.as_bytes());
        let (mut input, mut errors) = (&b""[..], Vec::new());
        let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
        let mut body = Vec::new();
        // Bounded: two lines or one event.
        for _ in 0..8 {
            match exchange.next_step().expect("a response") {
                Step::Head { head, data, end } => {
                    assert_eq!(head.status_str(), "200 OK");
                    body.extend_from_slice(data);
                    if end {
                        break;
                    }
                }
                Step::Data(data) => body.extend_from_slice(data),
                Step::End => break,
            }
        }
        drop(exchange);
        assert_eq!(String::from_utf8_lossy(&body), expected, "{path}");
    }
    assert_eq!(
        *phases.starts.lock().expect("starts"),
        [
            (CallPhase::Next, "200 OK".to_owned()),
            (CallPhase::Call, "200 OK".to_owned())
        ]
    );
    assert_eq!(*phases.violations.lock().expect("violations"), []);
    app.shutdown();
}
