//! End-to-end in a real browser: headless Chromium, driven through chromedriver
//! (`nsgi_testkit::webdriver`), loads the tutorial's sample pages from a real gateway and the test
//! checks what a user would see: the greeting of the `template` page, the `form` guestbook after
//! a submit and its 303, and the logo on the `static` sample's page. A `<script>` typed by the
//! user is shown as text and never runs.
//!
//! Without `chromium` and `chromedriver` on PATH each test says it skips and passes;
//! `NSGI_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.

use std::path::{Path, PathBuf};

use nsgi_testkit::webdriver::Browser;
use nsgi_testkit::{Gateway, build_packages};
use serde_json::{Value, json};

/// What the hostile inputs would set if a script of theirs ran.
const INJECTED_FLAG: &str = "nsgiInjected";

fn gateway_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsgi-gateway"))
}

/// The library `file` of the sample apps this test serves, built if needed.
fn library(file: &str) -> PathBuf {
    let path = build_packages(&["template", "form", "static-files"]).join(file);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn base_url(gateway: &Gateway) -> String {
    format!("http://{}/", gateway.addr())
}

/// Checks that no script of the hostile input ran and that the page holds no element it tried to
/// inject.
fn assert_nothing_injected(browser: &Browser) {
    let ran = browser.execute(&format!("return typeof window.{INJECTED_FLAG};"), &[]);
    assert_eq!(ran, json!("undefined"), "a script from the input ran");
    let injected = browser.execute(
        "return document.querySelectorAll('script, img[src=\"x\"]').length;",
        &[],
    );
    assert_eq!(injected, json!(0), "the input became elements of the page");
}

#[test]
fn template_page_greets_the_username_and_shows_a_script_as_text() {
    let Some(browser) = Browser::start_or_skip("template_page_greets_the_username_and_shows_a_script_as_text") else {
        return;
    };
    let gateway = Gateway::start(gateway_binary(), [library("libtemplate.so")]);
    let base = base_url(&gateway);

    browser.goto(&format!("{base}?username=Codi"));
    assert_eq!(browser.title(), "NSGI tutorial");
    assert_eq!(browser.find("h1").text(), "Hola Codi");
    assert_eq!(browser.find("h1 + p").text(), "Welcome back, Codi.");

    // `<script>window.nsgiInjected=1</script>`, percent-encoded in the query.
    browser.goto(&format!(
        "{base}?username=%3Cscript%3Ewindow.{INJECTED_FLAG}%3D1%3C%2Fscript%3E"
    ));
    assert_eq!(
        browser.find("h1").text(),
        format!("Hola <script>window.{INJECTED_FLAG}=1</script>")
    );
    assert_nothing_injected(&browser);
}

#[test]
fn form_submit_follows_the_303_and_shows_the_entry_escaped() {
    let Some(browser) = Browser::start_or_skip("form_submit_follows_the_303_and_shows_the_entry_escaped") else {
        return;
    };
    let gateway = Gateway::start(
        gateway_binary(),
        [library("libform.so").into_os_string(), "--workers".into(), "1".into()],
    );
    let base = base_url(&gateway);

    browser.goto(&base);
    assert_eq!(browser.title(), "Guestbook");
    assert!(
        browser.find("body").text().contains("No entries yet"),
        "a new guestbook is empty"
    );

    let name = format!("Ana <script>window.{INJECTED_FLAG}=1</script> Núñez");
    let message = format!("Hola & <img src=\"x\" onerror=\"window.{INJECTED_FLAG}=2\"> adiós");
    browser.find("input[name=name]").send_keys(&name);
    browser.find("textarea[name=message]").send_keys(&message);
    browser.find("form button").click();

    // The page after the post: the form's 303 was followed to a GET of the page.
    browser.wait_until(
        "the page with the new entry loaded",
        "return document.readyState === 'complete' && document.querySelector('ul li') !== null;",
    );
    assert_eq!(browser.url(), base, "the 303 leads back to the page");
    let navigation = browser.execute(
        "const n = performance.getEntriesByType('navigation')[0];\
         return [n.type, n.redirectCount];",
        &[],
    );
    assert_eq!(
        navigation,
        json!(["navigate", 1]),
        "the page came from following one redirect"
    );
    assert_eq!(browser.find("ul li b").text(), name);
    assert_eq!(browser.find("ul li .message").text(), message);
    assert_nothing_injected(&browser);
}

#[test]
fn static_page_shows_the_python_logo() {
    let Some(browser) = Browser::start_or_skip("static_page_shows_the_python_logo") else {
        return;
    };
    // No config: the sample serves the `public/` directory it ships.
    let gateway = Gateway::start(gateway_binary(), [library("libstatic_files.so")]);
    let logo = std::fs::read(nsgi_testkit::workspace_root().join("sample-apps/static/public/python-logo.png"))
        .expect("read the shipped logo");
    // The width in the PNG's IHDR chunk (RFC 2083: signature, chunk length and type, then width).
    let logo_width = u32::from_be_bytes(logo[16..20].try_into().expect("four bytes"));

    browser.goto(&base_url(&gateway));
    assert_eq!(browser.title(), "Archivos estáticos");
    assert_eq!(browser.find("h1").text(), "Hola mundo");
    browser.wait_until(
        "the logo finished loading",
        "return document.querySelector('img[src=\"python-logo.png\"]').complete;",
    );
    let natural_width = browser.execute(
        "return document.querySelector('img[src=\"python-logo.png\"]').naturalWidth;",
        &[],
    );
    assert_eq!(
        natural_width,
        Value::from(logo_width),
        "the browser decoded the logo the gateway served"
    );
}
