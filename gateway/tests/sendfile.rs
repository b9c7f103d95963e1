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

/// Bytes the process `pid` wrote through `write(2)` and `sendfile(2)` (`wchar` of
/// /proc/PID/io, summed over its threads). Bytes sent on a socket with `send(2)` are not
/// counted, so a file body sent with sendfile adds its length, and one copied into the
/// response's buffer (and sent with the head) adds nothing.
fn bytes_written_by_syscalls(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/<pid>/io (task I/O accounting)");
    io.lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|value| value.trim().parse().ok())
        .expect("a wchar line in /proc/<pid>/io")
}

/// The gateway's `COPIED_FILE_MAX` (gateway/src/serve/respond.rs): file bodies up to this size
/// are copied after the head, larger ones go out with sendfile.
const COPIED_FILE_MAX: usize = 16 * 1024;

#[test]
fn small_file_bodies_are_copied_after_the_head_and_larger_ones_go_out_with_sendfile() {
    let (small, small_data) = patterned_file(COPIED_FILE_MAX);
    let (large, large_data) = patterned_file(COPIED_FILE_MAX + 1);
    for threads in ["0", "2"] {
        let gateway = serve(&["--threads", threads]);
        for route in ["/length", "/chunked"] {
            let before = bytes_written_by_syscalls(gateway.pid());
            let response = gateway.request(get(route, small.path()).as_bytes());
            assert_eq!(response.status, 200, "{route} --threads {threads}");
            assert_eq!(response.chunked, route == "/chunked", "{route} --threads {threads}");
            assert!(
                response.body == small_data,
                "small file body differs ({route}, --threads {threads})"
            );
            let written = bytes_written_by_syscalls(gateway.pid()) - before;
            assert!(
                written < small_data.len() as u64,
                "a {}-byte file went out with sendfile ({written} bytes written; {route}, --threads {threads})",
                small_data.len()
            );

            let before = bytes_written_by_syscalls(gateway.pid());
            let response = gateway.request(get(route, large.path()).as_bytes());
            assert_eq!(response.status, 200, "{route} --threads {threads}");
            assert!(
                response.body == large_data,
                "large file body differs ({route}, --threads {threads})"
            );
            let written = bytes_written_by_syscalls(gateway.pid()) - before;
            assert!(
                written >= large_data.len() as u64,
                "a {}-byte file did not go out with sendfile ({written} bytes written; {route}, --threads {threads})",
                large_data.len()
            );
        }

        // Pipelined: copied bodies keep their place among the others, and the connection goes on.
        let mut stream = gateway.connect();
        let batch = [
            get("/length", small.path()),
            get("/chunked", large.path()),
            get("/written", small.path()),
            get("/chunked", small.path()),
        ]
        .concat();
        stream.write_all(batch.as_bytes()).expect("send");
        let mut reader = BufReader::new(stream);
        for (expected, chunked) in [
            (&small_data, false),
            (&large_data, true),
            (&small_data, true),
            (&small_data, true),
        ] {
            let response = read_response(&mut reader, false);
            assert_eq!(response.status, 200, "--threads {threads}");
            assert_eq!(response.chunked, chunked, "--threads {threads}");
            let body = response.body.strip_prefix(b"head:").unwrap_or(&response.body);
            assert!(body == &expected[..], "pipelined body differs (--threads {threads})");
        }
    }
}
