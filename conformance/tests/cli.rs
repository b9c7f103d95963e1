//! The `nsgi-conformance` command end to end: every good sample app passes clean, every broken
//! app of `sample-apps/broken/expected.json` is caught by its own check id, the JSON and JUnit
//! reports are well-formed and agree with the human one, and the exit status is 0, 1 or 2.

use nsgi_testkit::{SAMPLES, build_packages, compile_c_app, sample_library, workspace_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The result of one run of the command.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    json: Option<Value>,
    junit: Option<String>,
}

/// Runs `nsgi-conformance` on `library` with `args`, asking for both machine reports.
fn check(library: &Path, args: &[&str]) -> Run {
    let dir = std::env::temp_dir().join(format!("nsgi-conformance-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let stem = library
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag = format!("{stem}-{}", args.join("").replace('-', ""));
    let (json, junit) = (dir.join(format!("{tag}.json")), dir.join(format!("{tag}.xml")));
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(&junit);
    let output = Command::new(env!("CARGO_BIN_EXE_nsgi-conformance"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit)
        .arg(library)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run nsgi-conformance");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        json: std::fs::read_to_string(&json)
            .ok()
            .map(|text| serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid JSON report: {e}\n{text}"))),
        junit: std::fs::read_to_string(&junit).ok(),
    }
}

fn error_checks(json: &Value) -> Vec<String> {
    json["findings"]
        .as_array()
        .expect("findings[]")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["check"].as_str().expect("check id").to_owned())
        .collect()
}

#[test]
fn every_good_sample_passes_with_no_error() {
    for (package, _) in SAMPLES {
        let run = check(&sample_library(package), &[]);
        assert_eq!(run.code, 0, "{package}:\n{}{}", run.stdout, run.stderr);
        let json = run.json.expect("JSON report");
        assert_eq!(error_checks(&json), Vec::<String>::new(), "{package}");
        assert!(
            json["requests"].as_u64().unwrap_or(0) >= 100,
            "{package}: the whole battery ran"
        );
        assert!(run.stdout.contains(": 0 errors, "), "{package}: {}", run.stdout);
        assert!(
            !run.stdout.lines().any(|l| l.contains(" error ")),
            "{package}: {}",
            run.stdout
        );
    }
}

/// One entry of `sample-apps/broken/expected.json`.
struct Broken {
    package: String,
    library: String,
    check: String,
}

fn broken_apps() -> Vec<Broken> {
    let path = workspace_root().join("sample-apps/broken/expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let field = |entry: &Value, name: &str| -> String {
        entry[name]
            .as_str()
            .unwrap_or_else(|| panic!("{}: an entry without {name:?}", path.display()))
            .to_owned()
    };
    manifest
        .as_array()
        .unwrap_or_else(|| panic!("{}: not an array", path.display()))
        .iter()
        .map(|entry| Broken {
            package: field(entry, "package"),
            library: field(entry, "library"),
            check: field(entry, "check"),
        })
        .collect()
}

#[test]
fn every_broken_app_is_caught_by_its_own_check() {
    let apps = broken_apps();
    assert!(
        apps.len() >= 17,
        "the manifest lists every app-side violation of the issue"
    );
    let mut packages: Vec<&str> = apps.iter().map(|app| app.package.as_str()).collect();
    packages.sort_unstable();
    packages.dedup();
    let profile = build_packages(&packages);
    let mut missed = Vec::new();
    for app in &apps {
        let library: PathBuf = profile.join(&app.library);
        let run = check(&library, &[]);
        let errors = run.json.as_ref().map(error_checks).unwrap_or_default();
        if run.code != 1 || !errors.contains(&app.check) {
            missed.push(format!(
                "{} (expected {}): exit {}, error checks {errors:?}\n{}{}",
                app.library, app.check, run.code, run.stdout, run.stderr
            ));
        }
        let line = run
            .stdout
            .lines()
            .find(|line| line.starts_with(&format!("{:<4} error ", app.check)));
        assert!(
            line.is_some() || !missed.is_empty(),
            "{}: no human line for {}:\n{}",
            app.library,
            app.check,
            run.stdout
        );
    }
    assert!(missed.is_empty(), "not caught by their own id:\n{}", missed.join("\n"));
}

#[test]
fn strict_turns_warnings_into_errors() {
    // The samples are clean even under --strict.
    let hello = check(&sample_library("hello"), &["--strict"]);
    assert_eq!(hello.code, 0, "{}", hello.stdout);

    // An app whose only fault is a warning (content without a Content-Type) passes, and fails
    // under --strict with the same finding as an error.
    let library = compile_c_app(
        "warning_only",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/warning_only.c"),
    );
    let lenient = check(&library, &[]);
    assert_eq!(lenient.code, 0, "{}", lenient.stdout);
    assert!(lenient.stdout.contains("C55  warning "), "{}", lenient.stdout);
    let strict = check(&library, &["--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.stdout);
    assert!(strict.stdout.contains("C55  error "), "{}", strict.stdout);
    assert_eq!(strict.json.expect("JSON")["strict"], true);
}

#[test]
fn json_and_junit_reports_agree_with_the_human_one() {
    let library = build_packages(&["broken-c"]).join("libbroken_c_start_response_twice.so");
    let run = check(&library, &[]);
    assert_eq!(run.code, 1);
    let json = run.json.expect("JSON report");
    let summary = &json["summary"];
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["exit_status"], 1);
    let errors = summary["errors"].as_u64().expect("errors");
    let warnings = summary["warnings"].as_u64().expect("warnings");
    let info = summary["info"].as_u64().expect("info");
    let requests = json["requests"].as_u64().expect("requests");
    let plural = |n: u64, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    let expected_summary = format!(
        "nsgi-conformance: libbroken_c_start_response_twice.so: {}, {}, {info} info in {}",
        plural(errors, "error"),
        plural(warnings, "warning"),
        plural(requests, "request")
    );
    assert!(
        run.stdout.lines().any(|l| l == expected_summary),
        "{expected_summary:?} in\n{}",
        run.stdout
    );
    let findings = json["findings"].as_array().expect("findings");
    assert_eq!(findings.len() as u64, errors + warnings + info);
    assert_eq!(
        run.stdout.lines().count(),
        findings.len() + 1,
        "one line per finding plus the summary"
    );
    assert_eq!(json["app"]["name"], "broken_c_start_response_twice");
    let c39 = findings.iter().find(|f| f["check"] == "C39").expect("C39 finding");
    assert!(c39["count"].as_u64().unwrap_or(0) >= 100, "counted over the requests");
    assert_eq!(c39["requests"][0]["method"], "GET");

    let xml = run.junit.expect("JUnit report");
    let root = parse_xml(&xml);
    assert_eq!(root.name, "testsuites");
    let suite = &root.children[0];
    assert_eq!(suite.name, "testsuite");
    let cases: Vec<&Element> = suite.children.iter().filter(|c| c.name == "testcase").collect();
    let checks_run = json["checks_run"].as_array().expect("checks_run").len();
    assert_eq!(cases.len(), checks_run, "one test case per check run");
    assert_eq!(suite.attr("tests"), Some(checks_run.to_string().as_str()));
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children.iter().any(|x| x.name == "failure"))
        .filter_map(|c| c.attr("name"))
        .collect();
    let error_ids = {
        let mut ids = error_checks(&json);
        ids.dedup();
        ids
    };
    assert_eq!(failed.len(), error_ids.len(), "{failed:?} vs {error_ids:?}");
    assert!(failed.iter().any(|name| name.starts_with("C39 ")), "{failed:?}");
    assert_eq!(suite.attr("failures"), Some(failed.len().to_string().as_str()));
}

#[test]
fn a_file_that_is_not_a_library_exits_2_with_the_reason() {
    let run = check(&workspace_root().join("Cargo.toml"), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("not a loadable shared library"), "{}", run.stderr);
    let json = run.json.expect("a JSON report even so");
    assert!(
        json["load_error"]
            .as_str()
            .is_some_and(|e| e.contains("not a loadable shared library"))
    );
    assert_eq!(json["summary"]["exit_status"], 2);
    let xml = run.junit.expect("a JUnit report even so");
    assert_eq!(parse_xml(&xml).name, "testsuites");
    assert!(xml.contains("<error "), "{xml}");

    let missing = check(Path::new("/nonexistent/libnothing.so"), &[]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no such file"), "{}", missing.stderr);
}

#[test]
fn an_app_whose_init_fails_exits_2_with_its_words() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/init_fails.c");
    let run = check(&compile_c_app("conformance_init_fails", &source), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("db.invalid is unreachable"), "{}", run.stderr);
    let json = run.json.expect("JSON report");
    assert_eq!(error_checks(&json), ["N6"]);
}

#[test]
fn an_app_that_hangs_is_reported_and_the_checker_exits() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/hang.c");
    let run = check(&compile_c_app("conformance_hang", &source), &["--timeout", "1"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "N9   error   the app did not return within 1 s while answering a request; the worker was killed  \
             [GET /some/deep/path (basic)]"
        ),
        "{}",
        run.stdout
    );
    assert!(error_checks(&run.json.expect("JSON report")).contains(&"N9".to_owned()));
}

#[test]
fn an_app_that_crashes_is_reported_with_what_it_found_before() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/crash.c");
    let run = check(&compile_c_app("conformance_crash", &source), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("N10  error   the app ended the process (killed by signal SIGABRT")
            && run
                .stdout
                .contains("while answering a request  [GET /static/hello.txt (basic)]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("C39  error   start_response called a second time"),
        "{}",
        run.stdout
    );
    let json = run.json.expect("JSON report");
    assert_eq!(error_checks(&json), ["C39", "N10"]);
}

/// An XML element, as far as these tests need one.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `xml`, panicking unless it is well-formed: one root, every tag closed in order,
/// attributes quoted, no raw `<` or bare `&` in text or attribute values.
fn parse_xml(xml: &str) -> Element {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("XML declaration")
        .trim();
    let mut stack: Vec<Element> = vec![Element {
        name: String::new(),
        attrs: Vec::new(),
        children: Vec::new(),
    }];
    let mut rest = body;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            check_text(rest);
            break;
        };
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("unterminated tag") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let element = stack.pop().expect("balanced");
            assert_eq!(element.name, name, "closing tag matches");
            stack.last_mut().expect("parent").children.push(element);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs_text) = tag.split_once(' ').unwrap_or((tag, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "tag {name:?}"
        );
        let mut attrs = Vec::new();
        loop {
            attrs_text = attrs_text.trim_start();
            if attrs_text.is_empty() {
                break;
            }
            let (attr, after) = attrs_text.split_once("=\"").expect("attribute name=\"value\"");
            let end = after.find('"').expect("closing quote");
            check_text(&after[..end]);
            attrs.push((attr.to_owned(), after[..end].to_owned()));
            attrs_text = &after[end + 1..];
        }
        let element = Element {
            name: name.to_owned(),
            attrs,
            children: Vec::new(),
        };
        if self_closing {
            stack.last_mut().expect("parent").children.push(element);
        } else {
            stack.push(element);
        }
    }
    assert_eq!(stack.len(), 1, "every element closed");
    let mut document = stack.pop().expect("document");
    assert_eq!(document.children.len(), 1, "one root element");
    document.children.remove(0)
}

fn check_text(text: &str) {
    assert!(!text.contains('<'), "raw < in {text:?}");
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let semi = rest[amp..].find(';').expect("entity ends with ;") + amp;
        let entity = &rest[amp + 1..semi];
        assert!(
            ["amp", "lt", "gt", "quot", "apos"].contains(&entity) || entity.starts_with('#'),
            "unknown entity &{entity};"
        );
        rest = &rest[semi + 1..];
    }
}

#[test]
fn head_answered_with_the_get_content_length_and_no_body_passes() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/head_length.c");
    let run = check(&compile_c_app("conformance_head_length", &source), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("C67"), "{}", run.stdout);
    assert!(error_checks(&run.json.expect("JSON report")).is_empty());
}

#[test]
fn a_response_head_past_the_hosts_limits_is_its_own_finding() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/many_headers.c");
    let run = check(&compile_c_app("conformance_many_headers", &source), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let errors = error_checks(&run.json.expect("JSON report"));
    assert!(errors.contains(&"N11".to_owned()), "{errors:?}\n{}", run.stdout);
    assert!(!errors.contains(&"N9".to_owned()), "no request timed out: {errors:?}");
    assert!(
        run.stdout.contains(
            "N11  error   response head refused: 1000000 headers are more than the response head limit of 256 headers"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn an_init_failure_is_an_n6_test_case_in_junit() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/init_fails.c");
    let run = check(&compile_c_app("conformance_init_fails", &source), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let xml = run.junit.expect("JUnit report");
    let suite = &parse_xml(&xml).children[0];
    let n6 = suite
        .children
        .iter()
        .find(|case| case.name == "testcase" && case.attr("name").is_some_and(|n| n.starts_with("N6 ")))
        .unwrap_or_else(|| panic!("an N6 test case: {xml}"));
    let failure = n6
        .children
        .iter()
        .find(|child| child.name == "failure")
        .unwrap_or_else(|| panic!("N6 failed: {xml}"));
    assert!(
        failure
            .attr("message")
            .is_some_and(|message| message.contains("db.invalid is unreachable")),
        "{xml}"
    );
}

#[test]
fn exit_status_2_writes_the_reason_to_stderr_and_nothing_to_stdout() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/init_fails.c");
    let init_fails = check(&compile_c_app("conformance_init_fails", &source), &[]);
    let not_a_library = check(&workspace_root().join("Cargo.toml"), &[]);
    for run in [init_fails, not_a_library] {
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "", "stdout stays empty");
        assert!(run.stderr.starts_with("nsgi-conformance: "), "{}", run.stderr);
    }
}

#[test]
fn an_app_that_keeps_its_request_handle_fails_n8() {
    // The gateway's fixture: from its second request on, every request looks up PATH_INFO through
    // the handle of the request before it, which is closed by then (docs/abi.md §6, §12).
    let source = workspace_root().join("gateway/tests/apps/stale_handle.c");
    let run = check(&compile_c_app("conformance_stale_handle", &source), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("environ_get got a request handle that is not the request this thread is serving"),
        "{}",
        run.stdout
    );
    let json = run.json.expect("JSON report");
    assert!(error_checks(&json).iter().all(|id| id == "N8"), "{json}");
    assert!(error_checks(&json).iter().any(|id| id == "N8"), "{json}");
}

/// Runs `nsgi-conformance` on `library` with `--app-config` holding `config`: (exit code, stdout,
/// stderr).
fn check_with_app_config(library: &Path, test: &str, config: &str) -> (i32, String, String) {
    let path = std::env::temp_dir().join(format!("nsgi-conformance-{test}-{}.json", std::process::id()));
    std::fs::write(&path, config).expect("write the app config");
    let output = Command::new(env!("CARGO_BIN_EXE_nsgi-conformance"))
        .arg("--app-config")
        .arg(&path)
        .arg(library)
        .output()
        .expect("run nsgi-conformance");
    let _ = std::fs::remove_file(&path);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn app_config_reaches_the_apps_init_as_the_gateways_does() {
    let library = sample_library("template");
    let templates = workspace_root().join("sample-apps/template/templates");
    let config = serde_json::json!({ "templates": templates }).to_string();
    let (code, stdout, stderr) = check_with_app_config(&library, "template-ok", &config);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains(": 0 errors, "), "{stdout}");

    // The app reads the config: a directory that does not exist fails its init, in its words.
    let missing = std::env::temp_dir().join("nsgi-conformance-no-such-templates");
    let config = serde_json::json!({ "templates": missing }).to_string();
    let (code, stdout, stderr) = check_with_app_config(&library, "template-missing", &config);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("no-such-templates"), "{stderr}");

    // A config that is not JSON is refused by the app, which says so.
    let (code, _, stderr) = check_with_app_config(&library, "template-not-json", "templates: here");
    assert_eq!(code, 2);
    assert!(stderr.contains("the app config is not JSON"), "{stderr}");
}

#[test]
fn an_unreadable_app_config_exits_2_naming_the_file() {
    let missing = std::env::temp_dir().join("nsgi-conformance-no-such-config.json");
    let output = Command::new(env!("CARGO_BIN_EXE_nsgi-conformance"))
        .arg("--app-config")
        .arg(&missing)
        .arg(sample_library("hello"))
        .output()
        .expect("run nsgi-conformance");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("nsgi-conformance: --app-config ") && stderr.contains("no-such-config.json"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
