//! The app author's path, end to end: a new cargo project **outside this repository** depends on
//! the SDK by path (`nsgi-sdk = { path = "<checkout>/abi" }`), imports it as `nsgi`, builds a
//! `cdylib` with the helpers of `nsgi::app`, and the built `nsgi-gateway` serves it.
//!
//! Offline: the SDK's app side has no dependencies, so `cargo build --offline` needs nothing
//! from the registry. The project lives in the system temp dir (a project inside this checkout
//! would be taken for a member of its workspace); its target dir is kept in this workspace's
//! `target/tmp`, so later runs build incrementally.

use std::path::{Path, PathBuf};
use std::process::Command;

use nsgi_testkit::{Gateway, build_packages};

const MANIFEST: &str = r#"[package]
name = "outside_app"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
nsgi-sdk = { path = "@ABI@" }

# Not a member of any enclosing workspace.
[workspace]
"#;

const APP: &str = r#"
use std::fs::File;

use nsgi::app::{
    App, Error, InitArgs, MultipartLimits, Redirect, Request, Response, StartResponse, escape_html,
};

struct Outside;

const HTML: (&str, &str) = ("Content-Type", "text/html; charset=utf-8");
const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

impl App for Outside {
    fn init(_args: &InitArgs<'_>) -> Result<Self, Error> {
        Ok(Outside)
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        match req.path_info() {
            "/greet" => {
                let query = req.query();
                let name = match query.get("name") {
                    Ok(name) => name.unwrap_or("world".into()),
                    Err(e) => return Ok(start.respond(e.status(), &[TEXT], e.to_string())?),
                };
                let page = format!("<p>Hello, {}!</p>", escape_html(&name));
                Ok(start.respond("200 OK", &[HTML], page)?)
            }
            "/form" => match req.read_form_with_limit(1024) {
                Ok(form) => {
                    let msg = form.get("msg")?.unwrap_or_default().into_owned();
                    Ok(start.respond("200 OK", &[TEXT], msg)?)
                }
                Err(e) => Ok(start.respond(e.status(), &[TEXT], e.to_string())?),
            },
            "/upload" => {
                let limits = MultipartLimits { max_body_bytes: 4096, ..MultipartLimits::default() };
                match req.read_multipart(&limits) {
                    Ok(form) => {
                        let title = form.text("title")?.unwrap_or_default().to_owned();
                        let file = form.file("doc").ok_or("no doc")?;
                        let text = format!("{title}|{}|{}", file.filename.unwrap_or_default(), file.data.len());
                        Ok(start.respond("200 OK", &[TEXT], text)?)
                    }
                    Err(e) => Ok(start.respond(e.status(), &[TEXT], e.to_string())?),
                }
            }
            "/cookie" => {
                let sid = req.cookies().get("sid").unwrap_or("none").to_owned();
                Ok(start.respond("200 OK", &[TEXT], sid)?)
            }
            "/file" => {
                let file = File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/static.txt"))?;
                let body = req.file_body(&file)?;
                Ok(start.respond("200 OK", &[TEXT], body)?)
            }
            "/login" => Ok(start.redirect(Redirect::SeeOther, "/welcome", &[("Set-Cookie", "sid=42")])?),
            _ => Ok(start.respond("404 Not Found", &[TEXT], "not found\n")?),
        }
    }
}

nsgi::export_app!(Outside);
"#;

/// A fresh project directory in the system temp dir, removed when dropped.
struct Project {
    dir: PathBuf,
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn create_project() -> Project {
    let dir = std::env::temp_dir().join(format!("nsgi-outside-app-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("create the project");
    let abi = Path::new(env!("CARGO_MANIFEST_DIR"));
    let abi = abi.to_str().expect("UTF-8 checkout path");
    std::fs::write(dir.join("Cargo.toml"), MANIFEST.replace("@ABI@", abi)).expect("write Cargo.toml");
    std::fs::write(dir.join("src/lib.rs"), APP).expect("write src/lib.rs");
    std::fs::write(dir.join("static.txt"), "served from a file\n".repeat(5000)).expect("write static.txt");
    Project { dir }
}

#[test]
fn an_app_outside_the_repo_builds_with_a_path_dependency_and_is_served() {
    let project = create_project();
    assert!(
        !project.dir.starts_with(nsgi_testkit::workspace_root()),
        "the project must live outside the checkout"
    );
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("outside-app-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(&project.dir)
        .args(["build", "--offline", "--quiet", "--target-dir"])
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "building the outside project failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let library = target.join("debug/liboutside_app.so");
    assert!(library.exists(), "{} was not built", library.display());

    let gateway = Gateway::start(&build_packages(&["nsgi-gateway"]).join("nsgi-gateway"), [&library]);
    let get = |target: &str, extra: &str| {
        gateway.request(format!("GET {target} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").as_bytes())
    };

    let greet = get("/greet?name=%3Cem%3EAda+Lovelace%3C%2Fem%3E", "");
    assert_eq!(greet.status, 200);
    assert_eq!(greet.text(), "<p>Hello, &lt;em&gt;Ada Lovelace&lt;/em&gt;!</p>");
    assert_eq!(
        greet.header("Content-Length"),
        Some(greet.body.len().to_string().as_str())
    );
    let latin1 = get("/greet?name=Jos%E9", "");
    assert_eq!(latin1.status, 400);
    assert_eq!(latin1.text(), "form field \"name\" is not valid UTF-8");

    let form = "msg=caf%C3%A9+%26+more";
    let posted = gateway.request(
        format!(
            "POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        )
        .as_bytes(),
    );
    assert_eq!((posted.status, posted.text().as_str()), (200, "café & more"));
    let wrong_type =
        gateway.request(b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(wrong_type.status, 415);

    let multipart = "--XX\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nNotes\r\n\
                     --XX\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n\
                     Content-Type: text/plain\r\n\r\n0123456789\r\n--XX--\r\n";
    let upload = |body: &str| {
        gateway.request(
            format!(
                "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XX\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let uploaded = upload(multipart);
    assert_eq!((uploaded.status, uploaded.text().as_str()), (200, "Notes|a.txt|10"));
    let cut = upload(&multipart[..multipart.len() - 8]);
    assert_eq!(cut.status, 400);
    assert!(
        cut.text().contains("ends before its closing boundary"),
        "{}",
        cut.text()
    );
    let huge = format!("--XX\r\n{}", "z".repeat(5000));
    assert_eq!(upload(&huge).status, 413);

    assert_eq!(get("/cookie", "Cookie: a=1; sid=s3cr3t\r\n").text(), "s3cr3t");

    let file = get("/file", "");
    let expected = std::fs::read(project.dir.join("static.txt")).expect("read static.txt");
    assert_eq!(file.status, 200);
    assert_eq!(file.header("Content-Length"), Some(expected.len().to_string().as_str()));
    assert_eq!(file.body, expected);

    let login = get("/login", "");
    assert_eq!(login.status, 303);
    assert_eq!(login.header("Location"), Some("/welcome"));
    assert_eq!(login.header("Set-Cookie"), Some("sid=42"));
}

#[test]
fn the_published_package_ships_both_headers_and_its_readme() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(nsgi_testkit::workspace_root())
        .args(["package", "-p", "nsgi-sdk", "--list", "--allow-dirty", "--offline"])
        .output()
        .expect("run cargo package --list");
    assert!(
        output.status.success(),
        "cargo package --list failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let files = String::from_utf8_lossy(&output.stdout);
    for wanted in [
        "include/nsgi.h",
        "include/nsgi_app.h",
        "README.md",
        "src/lib.rs",
        "src/app/form.rs",
    ] {
        assert!(
            files.lines().any(|f| f == wanted),
            "{wanted} is not in the package:\n{files}"
        );
    }
    assert!(
        !files.lines().any(|f| f.starts_with("tests/")),
        "tests are not shipped:\n{files}"
    );
}
