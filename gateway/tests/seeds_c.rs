//! End-to-end: the `seeds-c` sample (sample-apps/seeds-c, the tutorials' steps in C on
//! `nsgi_app.h`) served by a real gateway over raw HTTP.

use std::path::{Path, PathBuf};

use nsgi_testkit::{Gateway, Response, build_packages, workspace_root};

fn serve() -> Gateway {
    let library: PathBuf = build_packages(&["seeds-c"]).join("libseeds_c.so");
    Gateway::start(Path::new(env!("CARGO_BIN_EXE_nsgi-gateway")), [library])
}

fn get(gateway: &Gateway, target: &str) -> Response {
    gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
}

#[test]
fn root_is_plain_text_hola_mundo() {
    let gateway = serve();
    let response = get(&gateway, "/");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(response.header("Content-Length"), Some("11"));
    assert_eq!(response.body, b"Hola mundo\n");
}

#[test]
fn html_step_is_a_page() {
    let gateway = serve();
    let response = get(&gateway, "/html");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Content-Type"), Some("text/html; charset=utf-8"));
    let text = response.text();
    assert!(
        text.starts_with("<!DOCTYPE html>") && text.contains("<h1>Hola mundo</h1>"),
        "{text}"
    );
    assert_eq!(
        response.header("Content-Length"),
        Some(response.body.len().to_string().as_str())
    );
}

#[test]
fn greeting_from_the_query_is_escaped() {
    let gateway = serve();
    let plain = get(&gateway, "/hola?nombre=Ana+Mar%C3%ADa");
    assert_eq!(plain.status, 200);
    assert!(plain.text().contains("<h1>Hola, Ana María</h1>"), "{}", plain.text());
    let nobody = get(&gateway, "/hola");
    assert!(nobody.text().contains("<h1>Hola, mundo</h1>"), "{}", nobody.text());

    let hostile = get(&gateway, "/hola?nombre=%3Cscript%3Ealert(%22x%22)%3C/script%3E%26'");
    assert_eq!(hostile.status, 200);
    let text = hostile.text();
    assert!(
        !text.contains("<script>"),
        "the name reached the page unescaped:\n{text}"
    );
    assert!(
        text.contains("<h1>Hola, &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</h1>"),
        "{text}"
    );
}

#[test]
fn greeting_from_a_form_post_is_escaped() {
    let gateway = serve();
    let body = "nombre=%3Cscript%3Ex%3C%2Fscript%3E";
    let response = gateway.request(
        format!(
            "POST /hola HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 200);
    assert!(
        response
            .text()
            .contains("<h1>Hola, &lt;script&gt;x&lt;/script&gt;</h1>"),
        "{}",
        response.text()
    );
}

#[test]
fn oversized_name_and_form_are_refused() {
    let gateway = serve();
    let long = get(&gateway, &format!("/hola?nombre={}", "a".repeat(300)));
    assert_eq!(long.status, 400, "{}", long.text());
    let body = format!("nombre={}", "b".repeat(5000));
    let response = gateway.request(
        format!(
            "POST /hola HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(response.status, 413, "{}", response.text());
}

#[test]
fn the_logo_beside_the_app_is_not_served() {
    let gateway = serve();
    for target in ["/python-logo.png", "/seeds.c", "/html/"] {
        let response = get(&gateway, target);
        assert_eq!(response.status, 404, "{target}");
        assert_eq!(response.body, b"No encontrado\n", "{target}");
    }
}

#[test]
fn seeds_c_stays_under_100_lines() {
    let source = workspace_root().join("sample-apps/seeds-c/seeds.c");
    let text = std::fs::read_to_string(&source).expect("read seeds.c");
    let lines = text.lines().count();
    assert!(
        lines < 100,
        "seeds.c has {lines} lines; the sample promises fewer than 100"
    );
}
