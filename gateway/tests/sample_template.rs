//! End-to-end: the `template` sample (MiniJinja templates loaded once at init) behind a real
//! gateway: greeting from the query string, loop, conditional, autoescaping, hostile queries,
//! the templates directory from the app config, and a missing template answered with a 500.

use std::path::{Path, PathBuf};

use nsgi_testkit::{Gateway, build_packages};

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

fn library() -> PathBuf {
    build_packages(&["template"]).join("libtemplate.so")
}

fn get(gateway: &Gateway, target: &str) -> nsgi_testkit::Response {
    gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes())
}

/// A directory in the target dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = build_packages(&[]).join(format!("sample-template-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn greets_the_username_from_the_query_with_loop_and_conditional() {
    let gateway = Gateway::start(gateway_binary(), [library()]);
    let page = get(&gateway, "/?username=Codi&item=uno&item=dos");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        page.header("Content-Length"),
        Some(page.body.len().to_string().as_str())
    );
    let text = page.text();
    assert!(text.contains("<h1>Hola Codi</h1>"), "{text}");
    assert!(text.contains("Welcome back, Codi."), "the else branch: {text}");
    assert!(
        text.contains("1. uno</li>") && text.contains("2. dos</li>"),
        "the item loop: {text}"
    );
    assert!(text.contains("<li>An HTML page</li>"), "the steps loop: {text}");

    let default = get(&gateway, "/");
    let text = default.text();
    assert!(text.contains("<h1>Hola mundo</h1>"), "{text}");
    assert!(text.contains("?username=YourName"), "the if branch: {text}");
    assert!(!text.contains("class=\"item\""), "no items, no list: {text}");

    let about = get(&gateway, "/about");
    assert_eq!(about.status, 200);
    assert!(about.text().contains("<h1>About</h1>"));
    assert_eq!(get(&gateway, "/nope").status, 404);
}

#[test]
fn a_script_in_the_query_is_escaped_and_bad_input_is_refused() {
    let gateway = Gateway::start(gateway_binary(), [library()]);
    let page = get(&gateway, "/?username=%3Cscript%3Ealert(1)%3C/script%3E&item=%22%26%27");
    assert_eq!(page.status, 200);
    let text = page.text();
    assert!(!text.contains("<script>"), "{text}");
    assert!(
        text.contains("Hola &lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{text}"
    );
    assert!(text.contains("&quot;&amp;&#x27;"), "{text}");

    // A bad percent escape stays as it is (and is escaped on the page).
    let bad_escape = get(&gateway, "/?username=%zz%4");
    assert_eq!(bad_escape.status, 200);
    assert!(bad_escape.text().contains("Hola %zz%4</h1>"), "{}", bad_escape.text());

    // Bytes that are not UTF-8: 400 naming the field.
    let latin1 = get(&gateway, "/?username=Jos%E9");
    assert_eq!(latin1.status, 400);
    assert!(latin1.text().contains("\"username\""), "{}", latin1.text());
}

#[test]
fn the_default_templates_do_not_depend_on_the_working_directory() {
    // The gateway runs from the test's directory, which has no templates; the library finds them
    // from its own location.
    let gateway = Gateway::start(gateway_binary(), [library()]);
    assert!(get(&gateway, "/?username=Codi").text().contains("Hola Codi"));
    let log = gateway.wait_for_log("templates loaded from");
    assert!(log.contains("templates loaded from /"), "{log}");
}

#[test]
fn a_configured_directory_is_used_and_a_missing_template_is_a_logged_500() {
    let dir = TempDir::new("config");
    let templates = dir.0.join("only-index");
    std::fs::create_dir_all(&templates).expect("create templates dir");
    std::fs::write(templates.join("index.html"), "<p>Custom {{ username }}</p>").expect("write template");
    let config = dir.0.join("template.json");
    let json = format!("{{\"templates\": {:?}}}", templates.display().to_string());
    std::fs::write(&config, json).expect("write config");

    let gateway = Gateway::start(
        gateway_binary(),
        [
            library().into_os_string(),
            "--app-config".into(),
            config.into_os_string(),
        ],
    );
    let page = get(&gateway, "/?username=%3Cb%3E");
    assert_eq!(page.text(), "<p>Custom &lt;b&gt;</p>");

    let missing = get(&gateway, "/about");
    assert_eq!(missing.status, 500);
    assert!(
        !missing.text().contains("about.html"),
        "the reason is logged, not shown: {}",
        missing.text()
    );
    let log = gateway.wait_for_log("rendering \"about.html\" failed");
    assert!(log.contains("not found") || log.contains("not exist"), "{log}");
}

#[test]
fn a_bad_config_is_refused_at_start_naming_the_problem() {
    let dir = TempDir::new("bad");
    let config = dir.0.join("bad.json");
    std::fs::write(&config, r#"{"templates": "/no/such/dir/nsgi"}"#).expect("write config");
    let library = library();
    let args = [
        library.to_str().expect("utf-8 path"),
        "--app-config",
        config.to_str().expect("utf-8 path"),
        "--bind",
        "127.0.0.1:0",
        "--check-config",
    ];
    let (status, stdout, stderr) = nsgi_testkit::run_to_exit(gateway_binary(), &args);
    assert!(!status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("/no/such/dir/nsgi"), "{stderr}");
}
