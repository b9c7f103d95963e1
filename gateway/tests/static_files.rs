//! End-to-end: the `static-files` sample (sample-apps/static) served by a real gateway, spoken to
//! over raw HTTP: content types, validators and 304s, ranges (206, 416, several → 200), HEAD, a
//! 5 MiB file byte for byte, and every way out of the root this app must refuse with 404.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use nsgi_testkit::{Gateway, Response, build_packages, read_response, workspace_root};

/// Something only the files outside the root contain: it must never appear in a response.
const SECRET: &str = "top secret, outside the root";

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn library() -> PathBuf {
    build_packages(&["static-files"]).join("libstatic_files.so")
}

/// A site in a temporary directory, and the gateway serving it through `--app-config`.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    big: Vec<u8>,
    gateway: Gateway,
}

/// Bytes that differ at every offset within a period longer than any buffer on the way.
fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn site() -> Site {
    site_resolving(None)
}

/// [`site`] with the config's `"resolve"` set (`"kernel"` or `"paths"`), or left to the app.
fn site_resolving(resolve: Option<&str>) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    // A sibling whose name starts like the root's: a textual prefix check would let it through.
    let look_alike = dir.path().join("root-private");
    for d in [&root, &outside, &look_alike, &root.join("sub"), &root.join("empty")] {
        std::fs::create_dir_all(d).expect("create dir");
    }
    let big = patterned(5 * 1024 * 1024);
    let files: [(PathBuf, &[u8]); 8] = [
        (root.join("index.html"), b"<h1>root index</h1>\n"),
        (root.join("hello.txt"), b"0123456789"),
        (root.join("style.css"), b"body {}\n"),
        (root.join("data.unknownext"), b"??"),
        (root.join("sub/index.html"), b"<h1>sub index</h1>\n"),
        (root.join(".hidden"), SECRET.as_bytes()),
        (outside.join("secret.txt"), SECRET.as_bytes()),
        (look_alike.join("secret.txt"), SECRET.as_bytes()),
    ];
    for (path, data) in files {
        std::fs::write(&path, data).expect("write file");
    }
    std::fs::write(root.join("big.bin"), &big).expect("write big file");
    std::fs::write(root.join("empty.txt"), b"").expect("write empty file");
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("escape")).expect("symlink");
    std::os::unix::fs::symlink(&outside, root.join("escape-dir")).expect("symlink");
    std::os::unix::fs::symlink(&look_alike, root.join("look-alike")).expect("symlink");
    std::os::unix::fs::symlink("hello.txt", root.join("inside-link.txt")).expect("symlink");
    let config = dir.path().join("site.json");
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo failed");
    let json = serde_json::json!({ "root": root.to_str().expect("UTF-8 temp path"), "resolve": resolve });
    std::fs::write(&config, json.to_string()).expect("write config");
    let gateway = Gateway::start(
        gateway_binary(),
        [
            library().into_os_string(),
            "--app-config".into(),
            config.into_os_string(),
        ],
    );
    Site {
        _dir: dir,
        root,
        big,
        gateway,
    }
}

fn get(gateway: &Gateway, target: &str, extra: &str) -> Response {
    gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
}

#[test]
fn default_root_serves_the_shipped_logo_and_index() {
    let gateway = Gateway::start(gateway_binary(), [library()]);
    let logo = get(&gateway, "/python-logo.png", "");
    assert_eq!(logo.status, 200, "{}", logo.text());
    assert_eq!(logo.header("Content-Type"), Some("image/png"));
    let shipped = std::fs::read(workspace_root().join("sample-apps/static/public/python-logo.png")).expect("logo");
    assert!(shipped.starts_with(b"\x89PNG\r\n\x1a\n"), "the shipped logo is a PNG");
    assert_eq!(logo.body, shipped);
    let index = get(&gateway, "/", "");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(index.text().contains("python-logo.png"), "{}", index.text());
}

#[test]
fn content_type_by_extension() {
    let site = site();
    for (target, want) in [
        ("/hello.txt", "text/plain; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/data.unknownext", "application/octet-stream"),
        ("/big.bin", "application/octet-stream"),
    ] {
        let response = get(&site.gateway, target, "");
        assert_eq!(response.status, 200, "{target}");
        assert_eq!(response.header("Content-Type"), Some(want), "{target}");
        assert_eq!(response.header("Accept-Ranges"), Some("bytes"), "{target}");
    }
    let empty = get(&site.gateway, "/empty.txt", "");
    assert_eq!((empty.status, empty.header("Content-Length")), (200, Some("0")));
    let linked = get(&site.gateway, "/inside-link.txt", "");
    assert_eq!(
        (linked.status, linked.body.as_slice()),
        (200, &b"0123456789"[..]),
        "a symlink inside the root is served"
    );
}

#[test]
fn five_mib_file_byte_exact() {
    let site = site();
    let response = get(&site.gateway, "/big.bin", "");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Length"), Some("5242880"));
    assert!(response.body == site.big, "the 5 MiB body differs from the file");
}

#[test]
fn directories_serve_their_index_or_404() {
    let site = site();
    for (target, want) in [("/", "root index"), ("/sub/", "sub index"), ("/sub", "sub index")] {
        let response = get(&site.gateway, target, "");
        assert_eq!(response.status, 200, "{target}");
        assert!(response.text().contains(want), "{target}: {}", response.text());
    }
    assert_eq!(get(&site.gateway, "/empty/", "").status, 404);
    assert_eq!(get(&site.gateway, "/missing.txt", "").status, 404);
}

#[test]
fn traversal_and_hidden_files_are_404() {
    for resolve in ["kernel", "paths"] {
        traversal_and_hidden_files_are_404_resolving(resolve);
    }
}

fn traversal_and_hidden_files_are_404_resolving(resolve: &str) {
    let site = site_resolving(Some(resolve));
    let targets = [
        "/../outside/secret.txt",
        "/sub/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/sub%2f..%2f..%2foutside%2fsecret.txt",
        "/%2Fetc%2Fpasswd",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/hello.txt%00.png",
        "/hello.txt%00",
        "/./hello.txt",
        "/.hidden",
        "/%2ehidden",
        "/escape",
        "/escape-dir/secret.txt",
        "/look-alike/secret.txt",
        "//etc/passwd",
        "/fifo",
        "/sub/../hello.txt",
    ];
    // Every target is tried, so a failure lists all the forms that got through.
    let let_through: Vec<String> = targets
        .iter()
        .map(|target| (target, get(&site.gateway, target, "")))
        .filter(|(_, response)| response.status != 404 || response.text().contains(SECRET))
        .map(|(target, response)| format!("{target} → {}", response.status_line))
        .collect();
    assert!(
        let_through.is_empty(),
        "resolving by {resolve}, not refused with 404: {let_through:#?}"
    );
    // Symlinks inside the root still work in both modes.
    let linked = get(&site.gateway, "/inside-link.txt", "");
    assert_eq!(
        (linked.status, linked.body.as_slice()),
        (200, &b"0123456789"[..]),
        "{resolve}"
    );
    assert!(
        get(&site.gateway, "/sub/", "").text().contains("sub index"),
        "{resolve}"
    );
    // The symlinks really do point at readable files: only the app's checks stop them.
    assert!(std::fs::read_to_string(site.root.join("escape")).is_ok_and(|s| s == SECRET));
}

#[test]
fn if_none_match_and_if_modified_since_give_304() {
    let site = site();
    let first = get(&site.gateway, "/hello.txt", "");
    let etag = first.header("ETag").expect("an ETag").to_owned();
    let last_modified = first.header("Last-Modified").expect("a Last-Modified").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(
        last_modified.ends_with(" GMT") && last_modified.len() == 29,
        "{last_modified}"
    );

    for condition in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: W/{etag}\r\n"),
        format!("If-None-Match: \"other\", {etag}\r\n"),
        "If-None-Match: *\r\n".to_owned(),
        format!("If-Modified-Since: {last_modified}\r\n"),
        "If-Modified-Since: Fri, 31 Dec 2100 23:59:59 GMT\r\n".to_owned(),
    ] {
        let response = get(&site.gateway, "/hello.txt", &condition);
        assert_eq!(response.status, 304, "{condition:?}");
        assert!(response.body.is_empty());
        assert_eq!(response.header("ETag"), Some(etag.as_str()), "{condition:?}");
        // RFC 9110 §15.4.5: with an ETag there, other representation metadata stays out.
        assert!(response.header("Last-Modified").is_none(), "{condition:?}");
    }
    for condition in [
        "If-None-Match: \"other\"\r\n".to_owned(),
        "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_owned(),
        "If-Modified-Since: not a date\r\n".to_owned(),
        // If-None-Match decides when both are present.
        format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {last_modified}\r\n"),
    ] {
        let response = get(&site.gateway, "/hello.txt", &condition);
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"0123456789"[..]),
            "{condition:?}"
        );
    }
}

#[test]
fn single_range_is_206() {
    let site = site();
    for (range, want, content_range) in [
        ("bytes=2-5", &b"2345"[..], "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ] {
        let response = get(&site.gateway, "/hello.txt", &format!("Range: {range}\r\n"));
        assert_eq!(response.status, 206, "{range}");
        assert_eq!(response.body, want, "{range}");
        assert_eq!(response.header("Content-Range"), Some(content_range), "{range}");
        assert_eq!(response.header("Content-Length"), Some(want.len().to_string().as_str()));
    }
    let offset = 3 * 1024 * 1024 + 17;
    let response = get(&site.gateway, "/big.bin", &format!("Range: bytes={offset}-\r\n"));
    assert_eq!(response.status, 206);
    assert!(response.body == site.big[offset..], "the tail of the big file differs");
}

#[test]
fn unsatisfiable_range_is_416() {
    let site = site();
    for range in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        let response = get(&site.gateway, "/hello.txt", &format!("Range: {range}\r\n"));
        assert_eq!(response.status, 416, "{range}");
        assert_eq!(response.header("Content-Range"), Some("bytes */10"), "{range}");
    }
}

#[test]
fn several_or_unusable_ranges_get_the_whole_file() {
    let site = site();
    let first = get(&site.gateway, "/hello.txt", "");
    let etag = first.header("ETag").expect("an ETag").to_owned();
    for extra in [
        "Range: bytes=0-1,4-5\r\n".to_owned(),
        "Range: items=0-1\r\n".to_owned(),
        "Range: bytes=5-2\r\n".to_owned(),
        "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n".to_owned(),
    ] {
        let response = get(&site.gateway, "/hello.txt", &extra);
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"0123456789"[..]),
            "{extra:?}"
        );
        assert!(response.header("Content-Range").is_none(), "{extra:?}");
    }
    let matching = get(
        &site.gateway,
        "/hello.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!((matching.status, matching.body.as_slice()), (206, &b"01"[..]));
}

#[test]
fn head_sends_headers_only() {
    let site = site();
    let mut stream = site.gateway.connect();
    // HEAD, then GET on the same connection: any body bytes after the HEAD would corrupt the GET.
    stream
        .write_all(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send");
    let mut reader = BufReader::new(stream);
    let head = read_response(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("5242880"));
    assert_eq!(head.header("Content-Type"), Some("application/octet-stream"));
    assert!(head.header("ETag").is_some() && head.header("Last-Modified").is_some());
    let next = read_response(&mut reader, false);
    assert_eq!((next.status, next.body.as_slice()), (200, &b"0123456789"[..]));
}

#[test]
fn other_methods_are_405() {
    let site = site();
    let response = site
        .gateway
        .request(b"POST /hello.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn bad_roots_are_refused_at_start_naming_the_problem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, b"x").expect("write");
    let library = library();
    for (config, want) in [
        (r#"{"root": "public"}"#.to_owned(), "is relative"),
        (
            r#"{"root": "/nonexistent/nsgi-static-root"}"#.to_owned(),
            "cannot be opened",
        ),
        (
            serde_json::json!({ "root": file.to_str().expect("UTF-8") }).to_string(),
            "not a directory",
        ),
        ("root = /srv".to_owned(), "not JSON"),
        (r#"{"resolve": "magic"}"#.to_owned(), "not \"magic\""),
    ] {
        let path = dir.path().join("config.json");
        std::fs::write(&path, &config).expect("write config");
        let args = [
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "0",
            library.to_str().expect("UTF-8"),
            "--app-config",
            path.to_str().expect("UTF-8"),
        ];
        let (status, _, stderr) = nsgi_testkit::run_to_exit(gateway_binary(), &args);
        assert!(!status.success(), "{config}: the gateway started");
        assert!(stderr.contains(want), "{config}: stderr lacks {want:?}:\n{stderr}");
    }
}

#[test]
fn validate_finds_nothing_wrong_with_its_answers() {
    let gateway = Gateway::start(gateway_binary(), [library().as_os_str(), "--validate".as_ref()]);
    let mut stream = gateway.connect();
    stream
        .write_all(b"HEAD /python-logo.png HTTP/1.1\r\nHost: t\r\n\r\n")
        .expect("send HEAD");
    let head = read_response(&mut BufReader::new(stream), true);
    assert_eq!(head.status, 200);
    let etag = head.header("ETag").expect("an ETag");
    // The answers whose bodies are not file bodies (see the ignored test below for those).
    let answers: Vec<u16> = [
        ("/python-logo.png", format!("If-None-Match: {etag}\r\n")),
        ("/python-logo.png", "Range: bytes=999999-\r\n".to_owned()),
        ("/../Cargo.toml", String::new()),
    ]
    .iter()
    .map(|(target, extra)| get(&gateway, target, extra).status)
    .collect();
    assert_eq!(answers, [304, 416, 404]);
    let log = gateway.stderr();
    let findings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(" error: ") || line.contains(" warning: "))
        .collect();
    assert!(findings.is_empty(), "{findings:#?}");
}

/// Found with this sample: under `--validate`, a file body sent with sendfile was counted as 0
/// bytes produced, so the Validator logged a false C67 error ("body ended after 0 bytes but
/// Content-Length declared N") for every file served. The host now tells its observer
/// (`Observer::file_sent`).
#[test]
fn validate_counts_the_bytes_of_file_bodies() {
    let gateway = Gateway::start(gateway_binary(), [library().as_os_str(), "--validate".as_ref()]);
    let full = get(&gateway, "/python-logo.png", "");
    assert_eq!(full.status, 200);
    let part = get(&gateway, "/python-logo.png", "Range: bytes=1-4\r\n");
    assert_eq!(part.status, 206);
    assert_eq!(
        (full.body.len(), part.body.len()),
        (306, 4),
        "the bytes themselves do arrive"
    );
    let log = gateway.stderr();
    assert!(!log.contains("C67"), "{log}");
}

#[test]
fn mounted_under_a_prefix() {
    let mount = format!("/static={}", library().display());
    let gateway = Gateway::start(gateway_binary(), ["--mount", mount.as_str()]);
    let logo = get(&gateway, "/static/python-logo.png", "");
    assert_eq!((logo.status, logo.header("Content-Type")), (200, Some("image/png")));
    assert_eq!(get(&gateway, "/static/..%2fCargo.toml", "").status, 404);
    assert_eq!(get(&gateway, "/static/../Cargo.toml", "").status, 404);
}
