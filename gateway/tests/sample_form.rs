//! End-to-end: the `form` sample (a guestbook) behind a real gateway: posting urlencoded and
//! multipart entries, 303 to the page, escaping, validation naming the field, 413, 415, the
//! bound on kept entries, and concurrent posts on several app threads.

use std::path::{Path, PathBuf};

use nsgi_testkit::{Gateway, build_packages};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn library() -> PathBuf {
    build_packages(&["form"]).join("libform.so")
}

/// One worker process (the guestbook lives in memory) with four app threads.
fn serve() -> Gateway {
    Gateway::start(
        gateway_binary(),
        [
            library().into_os_string(),
            "--workers".into(),
            "1".into(),
            "--threads".into(),
            "4".into(),
        ],
    )
}

fn post(gateway: &Gateway, content_type: &str, body: &[u8]) -> nsgi_testkit::Response {
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    gateway.request(&raw)
}

fn post_form(gateway: &Gateway, body: &str) -> nsgi_testkit::Response {
    post(gateway, "application/x-www-form-urlencoded", body.as_bytes())
}

fn page(gateway: &Gateway) -> String {
    let page = gateway.request(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Content-Type"), Some("text/html; charset=utf-8"));
    page.text()
}

fn multipart(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--B0undary\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("--B0undary--\r\n");
    body.into_bytes()
}

#[test]
fn a_signed_entry_redirects_to_the_page_and_shows_escaped() {
    let gateway = serve();
    assert!(page(&gateway).contains("No entries yet"));
    let signed = post_form(&gateway, "name=Codi&message=%3Cscript%3Ealert(1)%3C%2Fscript%3E+hola");
    assert_eq!(signed.status, 303, "{}", signed.text());
    assert_eq!(signed.header("Location"), Some("/"));

    let by_multipart = post(
        &gateway,
        "multipart/form-data; boundary=B0undary",
        &multipart(&[("name", "Ana & Bo"), ("message", "desde multipart")]),
    );
    assert_eq!(by_multipart.status, 303, "{}", by_multipart.text());

    let text = page(&gateway);
    assert!(!text.contains("<script>"), "{text}");
    assert!(
        text.contains("<b>Codi</b>: <span class=\"message\">&lt;script&gt;alert(1)&lt;/script&gt; hola</span>"),
        "{text}"
    );
    let newest = text.find("Ana &amp; Bo").expect("the multipart entry");
    assert!(
        newest < text.find("Codi").expect("the first entry"),
        "newest first: {text}"
    );
}

#[test]
fn bad_posts_get_the_right_status_naming_the_problem() {
    let gateway = serve();
    let missing = post_form(&gateway, "name=Codi");
    assert_eq!(missing.status, 400);
    assert_eq!(missing.text(), "the field \"message\" is missing\n");

    let blank = post_form(&gateway, "name=+++&message=hi");
    assert_eq!(blank.status, 400);
    assert!(blank.text().contains("\"name\" is empty"), "{}", blank.text());

    let too_long = post_form(&gateway, &format!("name={}&message=hi", "x".repeat(81)));
    assert_eq!(too_long.status, 400);
    assert!(
        too_long.text().contains("\"name\" has 81 characters"),
        "{}",
        too_long.text()
    );

    let not_utf8 = post_form(&gateway, "name=Jos%E9&message=hi");
    assert_eq!(not_utf8.status, 400);
    assert!(not_utf8.text().contains("\"name\""), "{}", not_utf8.text());

    // A bad percent escape is kept as text, not refused.
    assert_eq!(post_form(&gateway, "name=%zz&message=100%").status, 303);
    assert!(page(&gateway).contains("<b>%zz</b>: <span class=\"message\">100%</span>"));

    let huge = post_form(&gateway, &format!("name=a&message={}", "m".repeat(64 * 1024)));
    assert_eq!(huge.status, 413, "{}", huge.text());

    let huge_multipart = post(
        &gateway,
        "multipart/form-data; boundary=B0undary",
        &multipart(&[("name", "a"), ("message", &"m".repeat(64 * 1024))]),
    );
    assert_eq!(huge_multipart.status, 413, "{}", huge_multipart.text());

    let missing_multipart = post(
        &gateway,
        "multipart/form-data; boundary=B0undary",
        &multipart(&[("message", "hi")]),
    );
    assert_eq!(missing_multipart.status, 400);
    assert_eq!(missing_multipart.text(), "the field \"name\" is missing\n");

    let broken_multipart = post(
        &gateway,
        "multipart/form-data; boundary=B0undary",
        b"--B0undary\r\nno end",
    );
    assert_eq!(broken_multipart.status, 400);

    let json = post(&gateway, "application/json", br#"{"name":"a","message":"b"}"#);
    assert_eq!(json.status, 415);
    assert!(json.text().contains("application/json"), "{}", json.text());

    let put = gateway.request(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(put.status, 405);
    assert_eq!(put.header("Allow"), Some("GET, HEAD, POST"));

    assert!(
        page(&gateway).matches("<li>").count() == 1,
        "only the one valid entry is kept"
    );
}

#[test]
fn concurrent_posts_are_all_kept_once() {
    const THREADS: usize = 8;
    const POSTS: usize = 25;
    let gateway = serve();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let gateway = &gateway;
            scope.spawn(move || {
                for n in 0..POSTS {
                    let response = post_form(gateway, &format!("name=t{thread}&message=entry-{thread}-{n}-end"));
                    assert_eq!(response.status, 303, "{}", response.text());
                }
            });
        }
    });
    let text = page(&gateway);
    assert_eq!(text.matches("<li>").count(), THREADS * POSTS);
    for thread in 0..THREADS {
        for n in 0..POSTS {
            let needle = format!(">entry-{thread}-{n}-end<");
            assert_eq!(text.matches(&needle).count(), 1, "{needle} once");
        }
    }
}

#[test]
fn only_the_newest_entries_are_kept() {
    let config = build_packages(&[]).join(format!("sample-form-{}.json", std::process::id()));
    std::fs::write(&config, r#"{"max_entries": 3}"#).expect("write config");
    let gateway = Gateway::start(
        gateway_binary(),
        [
            library().into_os_string(),
            "--workers".into(),
            "1".into(),
            "--app-config".into(),
            config.clone().into(),
        ],
    );
    for n in 1..=5 {
        assert_eq!(post_form(&gateway, &format!("name=n&message=m{n}x")).status, 303);
    }
    let text = page(&gateway);
    let _ = std::fs::remove_file(&config);
    assert_eq!(text.matches("<li>").count(), 3, "{text}");
    assert!(!text.contains("m1x") && !text.contains("m2x"), "{text}");
    assert!(text.contains("m3x") && text.contains("m5x"), "{text}");
}
