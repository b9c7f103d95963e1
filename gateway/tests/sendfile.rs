//! End-to-end: response bodies made by `file_body` go from the file to the socket (sendfile,
//! framed by Content-Length or chunked as the head says), inline and on the pool, keep their
//! place among pipelined responses, and the descriptor rule of docs/abi.md §10 holds.

use nsgi_testkit::{Gateway, compile_c_app, read_response};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn files_app() -> PathBuf {
    compile_c_app(
        "files",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/files.c"),
    )
}

fn serve(flags: &[&str]) -> Gateway {
    let library = files_app();
    let mut args: Vec<&std::ffi::OsStr> = vec![library.as_os_str(), "--workers".as_ref(), "0".as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    Gateway::start(gateway_binary(), args)
}

/// A temporary file of `len` patterned bytes (no run repeats at a block boundary).
fn patterned_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(&data).expect("write the file");
    (file, data)
}

fn get(path: &str, file: &Path) -> String {
    format!("GET {path}?{} HTTP/1.1\r\nHost: t\r\n\r\n", file.display())
}

#[test]
fn file_bodies_arrive_whole_in_every_framing_inline_and_pooled_in_pipelined_order() {
    let (file, data) = patterned_file(3 * 1024 * 1024 + 7);
    for threads in ["0", "2"] {
        let gateway = serve(&["--threads", threads]);
        let mut stream = gateway.connect();
        let batch = [
            get("/chunked", file.path()),
            get("/length", file.path()),
            get("/written", file.path()),
            get("/length", file.path()),
        ]
        .concat();
        stream.write_all(batch.as_bytes()).expect("send");
        let mut reader = BufReader::new(stream);

        let chunked = read_response(&mut reader, false);
        assert_eq!(chunked.status, 200, "--threads {threads}");
        assert!(chunked.chunked, "no Content-Length: chunked (--threads {threads})");
        assert!(chunked.body == data, "chunked file body differs (--threads {threads})");

        let length = read_response(&mut reader, false);
        assert!(!length.chunked, "--threads {threads}");
        assert_eq!(length.header("content-length"), Some(data.len().to_string().as_str()));
        assert!(
            length.body == data,
            "length-framed file body differs (--threads {threads})"
        );

        // Bytes written with write() go out before the file.
        let written = read_response(&mut reader, false);
        assert!(written.chunked, "--threads {threads}");
        assert_eq!(&written.body[..5], b"head:");
        assert!(
            written.body[5..] == data[..],
            "file after write() differs (--threads {threads})"
        );

        let again = read_response(&mut reader, false);
        assert!(
            again.body == data,
            "the connection stays usable after file bodies (--threads {threads})"
        );
    }
}

#[test]
fn a_file_shorter_than_its_content_length_is_refused_with_500() {
    let (file, _) = patterned_file(1000);
    let gateway = serve(&[]);
    let response = gateway.request(get("/short", file.path()).as_bytes());
    assert_eq!(response.status, 500);
    gateway.wait_for_log("ended after 1000 bytes but Content-Length declared 1010");
}

#[test]
fn a_descriptor_handed_over_with_take_fd_is_closed_when_file_body_refuses_it() {
    let (file, _) = patterned_file(10);
    let gateway = serve(&[]);
    let response = gateway.request(get("/take-refused", file.path()).as_bytes());
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "closed");
}
