//! The tutorials, run as written: `docs/tutorial.md`, `docs/tutorial.es.md` and
//! `docs/new-app.md` are followed step by step in a directory outside this repository, and every
//! output they show is compared with what the commands really print. The Spanish tutorial must
//! also be the English one in other words: the same files, commands and outputs.
//!
//! This file owns the markers those documents use and what each one means here; it never
//! changes a document, and never compares anything but what a reader would see in a terminal.
//!
//! # Markers
//!
//! An HTML comment on the line before a fenced block says what the block is:
//!
//! - `<!-- file: PATH -->`: the block is the whole content of PATH (relative to the directory the
//!   tutorial works in, `/tmp/tutorial` in the text); the test writes it there. In it,
//!   `/path/to/nsgi` stands for the checkout and becomes this workspace's root.
//! - `<!-- excerpt: PATH -->`: the block is a piece of the next `file:` block for PATH, verbatim.
//! - `<!-- run -->`: a `console` block of `$ command` lines, each followed by the lines it
//!   prints. The test runs the commands in order and compares their output exactly, except:
//!   a line `...` in the document stands for any number of lines; `Date:` header values, the
//!   gateway's port, the checkout's path and the working directory's path are normalised;
//!   cargo's progress lines (`Compiling`, `Locking`, ...) and the duration in its `Finished`
//!   line depend on what is already built, so they are left out on both sides; the gateway's
//!   timestamped log lines are left out on both sides (its `Listening on` line, or the errors
//!   of a gateway the document shows failing to start, are compared).
//!
//! Blocks without a marker (installing the gateway, nginx) are not run here: the gateway and
//! `nsgi-conformance` are the ones this workspace builds, and no nginx is started.
//!
//! # How commands run
//!
//! `cd DIR` changes the directory; `cargo build` runs with `--offline`, its `target/` a link to
//! `target/tutorial-NAME` of this workspace so that later runs are incremental; `nsgi-gateway
//! ARGS` (re)starts this workspace's gateway in the background on a free port (or, when the
//! document shows no `Listening on` line after it, runs it until it exits and fails); `curl` is
//! performed by the test itself (the flags `-i -I -s -N -d -H -X`), against that gateway;
//! anything else (`cargo new`, `mkdir`, `cp`, `cc`, `nsgi-conformance`) runs through `sh -c`
//! with this workspace's binaries first on `PATH`.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nsgi_testkit::{Gateway, build_packages, read_response, workspace_root};

/// What the documents call the checkout of this repository.
const CHECKOUT: &str = "/path/to/nsgi";
/// What the documents call the directory they work in.
const WORK_DIR: &str = "/tmp/tutorial";
/// The address the documents' gateway listens on.
const DOC_ADDR: &str = "127.0.0.1:8000";

/// One marked block of a document.
#[derive(Debug, PartialEq)]
enum Block {
    /// A file's whole content.
    File { path: String, content: String },
    /// A piece of the next version of a file.
    Excerpt { path: String, content: String },
    /// Commands and what each prints.
    Run(Vec<Shown>),
}

/// One `$ command` line of a `run` block and the lines shown after it.
#[derive(Debug, PartialEq)]
struct Shown {
    command: String,
    output: Vec<String>,
}

/// A document's marked blocks, each with the line its fence starts on (for messages).
fn parse(doc: &str) -> Vec<(usize, Block)> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(marker) = lines[i].trim().strip_prefix("<!--").and_then(|m| m.strip_suffix("-->")) else {
            i += 1;
            continue;
        };
        let marker = marker.trim();
        let known = marker == "run" || marker.starts_with("file:") || marker.starts_with("excerpt:");
        if !known {
            i += 1;
            continue;
        }
        let fence_at = i + 1;
        assert!(
            lines.get(fence_at).is_some_and(|l| l.starts_with("```")),
            "line {}: the marker `{marker}` must be followed at once by a fenced block",
            i + 1
        );
        let end = (fence_at + 1..lines.len())
            .find(|&j| lines[j] == "```")
            .unwrap_or_else(|| panic!("line {}: the block is never closed", fence_at + 1));
        let body = &lines[fence_at + 1..end];
        let content = body.iter().map(|l| format!("{l}\n")).collect::<String>();
        let block = if marker == "run" {
            Block::Run(parse_console(body, fence_at + 1))
        } else if let Some(path) = marker.strip_prefix("file:") {
            Block::File {
                path: path.trim().to_owned(),
                content,
            }
        } else {
            let path = marker.strip_prefix("excerpt:").unwrap_or_default();
            Block::Excerpt {
                path: path.trim().to_owned(),
                content,
            }
        };
        blocks.push((fence_at + 1, block));
        i = end + 1;
    }
    blocks
}

/// The `$ command` lines of a console block and the lines after each.
fn parse_console(body: &[&str], fence_line: usize) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    for (n, line) in body.iter().enumerate() {
        if let Some(command) = line.strip_prefix("$ ") {
            shown.push(Shown {
                command: command.to_owned(),
                output: Vec::new(),
            });
        } else {
            let last = shown
                .last_mut()
                .unwrap_or_else(|| panic!("line {}: output before any `$ command`", fence_line + 1 + n));
            last.output.push((*line).to_owned());
        }
    }
    shown
}

/// A tutorial being followed: where it works, and the gateway it started.
struct Follower {
    /// Stands for `/tmp/tutorial`; removed at the end.
    root: PathBuf,
    cwd: PathBuf,
    /// The shared target dir every `cargo build` of this document uses.
    target: PathBuf,
    /// This workspace's `nsgi-gateway` and `nsgi-conformance`.
    bin_dir: PathBuf,
    gateway: Option<Gateway>,
    /// Which files the document has written, for its excerpts.
    pending_excerpts: Vec<(usize, String, String)>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.gateway = None;
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Follower {
    fn new(name: &str) -> Follower {
        let root = std::env::temp_dir().join(format!("nsgi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the tutorial's directory");
        assert!(
            !root.starts_with(workspace_root()),
            "the tutorial must be followed outside the checkout"
        );
        Follower {
            cwd: root.clone(),
            root,
            target: workspace_root().join("target").join(format!("tutorial-{name}")),
            bin_dir: build_packages(&["nsgi-gateway", "nsgi-conformance"]),
            gateway: None,
            pending_excerpts: Vec::new(),
        }
    }

    fn follow(&mut self, doc_name: &str, blocks: &[(usize, Block)]) {
        for (line, block) in blocks {
            match block {
                Block::File { path, content } => self.write_file(doc_name, *line, path, content),
                Block::Excerpt { path, content } => {
                    self.pending_excerpts.push((*line, path.clone(), content.clone()));
                }
                Block::Run(shown) => {
                    for step in shown {
                        let actual = self.run(doc_name, *line, step);
                        compare(doc_name, *line, step, &actual, self.is_cargo(&step.command));
                    }
                }
            }
        }
        assert!(
            self.pending_excerpts.is_empty(),
            "{doc_name}: excerpts with no later file block: {:?}",
            self.pending_excerpts
        );
    }

    fn is_cargo(&self, command: &str) -> bool {
        command.starts_with("cargo ")
    }

    fn write_file(&mut self, doc_name: &str, line: usize, path: &str, content: &str) {
        for (excerpt_line, excerpt_path, excerpt) in std::mem::take(&mut self.pending_excerpts) {
            if excerpt_path != path {
                self.pending_excerpts.push((excerpt_line, excerpt_path, excerpt));
                continue;
            }
            assert!(
                content.contains(&excerpt),
                "{doc_name}:{excerpt_line}: this excerpt of {path} is not in the file as listed at line {line}"
            );
        }
        let content = content.replace(CHECKOUT, &workspace_root().display().to_string());
        let file = self.root.join(path);
        std::fs::create_dir_all(file.parent().expect("a file has a parent")).expect("create the file's directory");
        std::fs::write(&file, content).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    }

    /// Runs one command as the documents describe, and returns what a terminal would show.
    fn run(&mut self, doc_name: &str, line: usize, step: &Shown) -> String {
        let command = step.command.as_str();
        let words = split_words(command);
        match words.first().map(String::as_str) {
            Some("cd") => {
                self.cwd = self
                    .cwd
                    .join(words[1].replace(WORK_DIR, &self.root.display().to_string()));
                String::new()
            }
            Some("nsgi-gateway") if !step.output.iter().any(|l| l.starts_with("Listening on ")) => {
                self.gateway = None;
                self.gateway_failing_to_start(&words[1..])
            }
            Some("nsgi-gateway") => {
                self.gateway = None;
                let gateway = Gateway::start(&self.bin_dir.join("nsgi-gateway"), self.in_cwd(&words[1..]));
                let listening =
                    format!("{}\n", gateway.listening_line()).replace(&gateway.addr().to_string(), DOC_ADDR);
                self.gateway = Some(gateway);
                listening
            }
            Some("curl") => {
                let gateway = self
                    .gateway
                    .as_ref()
                    .unwrap_or_else(|| panic!("{doc_name}:{line}: `{command}` with no gateway started"));
                curl(gateway, &words[1..])
            }
            Some("cargo") if words.get(1).is_some_and(|w| w == "build") => {
                let link = self.cwd.join("target");
                if !link.exists() {
                    std::fs::create_dir_all(&self.target).expect("create the shared target dir");
                    std::os::unix::fs::symlink(&self.target, &link).expect("link target/ to the shared target dir");
                }
                self.shell(&format!("{command} --offline"))
            }
            _ => self.shell(command),
        }
    }

    /// What a gateway that the document shows failing to start prints, once it has exited
    /// (with a bounded wait). Paths in its messages are shown relative to the current directory,
    /// as the document's command gave them.
    fn gateway_failing_to_start(&self, args: &[String]) -> String {
        let mut child = Command::new(self.bin_dir.join("nsgi-gateway"))
            .args(["--bind", "127.0.0.1:0"])
            .args(nsgi_testkit::root_flags())
            .args(self.in_cwd(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nsgi-gateway");
        let deadline = Instant::now() + nsgi_testkit::IO_TIMEOUT;
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the gateway the document shows failing to start is still running");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("the gateway's output");
        assert!(
            !output.status.success(),
            "the gateway was expected to fail, and exited with success"
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        text.replace(&format!("{}/", self.cwd.display()), "")
    }

    /// Arguments that name files relative to the current directory, made absolute (the gateway
    /// runs in the test's directory).
    fn in_cwd(&self, args: &[String]) -> Vec<String> {
        args.iter()
            .map(|arg| {
                let path = self.cwd.join(arg);
                if !arg.starts_with('-') && path.exists() {
                    path.display().to_string()
                } else {
                    arg.clone()
                }
            })
            .collect()
    }

    /// Runs `command` with `sh -c` in the current directory; stdout, then stderr.
    fn shell(&self, command: &str) -> String {
        let command = command
            .replace(CHECKOUT, &workspace_root().display().to_string())
            .replace(WORK_DIR, &self.root.display().to_string());
        let path = std::env::join_paths(
            std::iter::once(self.bin_dir.clone())
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        let output = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(&self.cwd)
            .env("PATH", path)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .output()
            .unwrap_or_else(|e| panic!("run {command}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "`{command}` failed ({}):\n{text}",
            output.status
        );
        text.replace(&self.root.display().to_string(), WORK_DIR)
            .replace(&workspace_root().display().to_string(), CHECKOUT)
    }
}

/// Words of a command line: blanks separate them, '…' and "…" quote.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unclosed quote in `{line}`");
    words.extend(word);
    words
}

/// What `curl ARGS` prints, for the flags the documents use.
fn curl(gateway: &Gateway, args: &[String]) -> String {
    let (mut include, mut head, mut method, mut data, mut headers, mut url) =
        (false, false, None, None, Vec::new(), None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .unwrap_or_else(|| panic!("curl {arg} needs a value"))
        };
        match arg.as_str() {
            "-i" => include = true,
            "-I" => head = true,
            "-s" | "-N" => {}
            "-d" => data = Some(value()),
            "-H" => headers.push(value()),
            "-X" => method = Some(value()),
            flag if flag.starts_with('-') => panic!("the tutorial test does not know the curl flag {flag}"),
            _ => url = Some(arg.clone()),
        }
    }
    let url = url.expect("curl needs a URL");
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    assert_eq!(authority, DOC_ADDR, "the documents' gateway is at {DOC_ADDR}");
    let method = method.unwrap_or_else(|| {
        if head {
            "HEAD".into()
        } else if data.is_some() {
            "POST".into()
        } else {
            "GET".into()
        }
    });
    let target = if target.is_empty() { "/" } else { target };
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: curl\r\nAccept: */*\r\n",
        gateway.addr()
    );
    for header in &headers {
        request.push_str(&format!("{header}\r\n"));
    }
    if let Some(data) = &data {
        if !headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with("content-type:"))
        {
            request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{data}", data.len()));
    } else {
        request.push_str("\r\n");
    }
    let mut stream = gateway.connect();
    stream.write_all(request.as_bytes()).expect("send the request");
    let response = read_response(&mut BufReader::new(stream), method == "HEAD");
    let mut shown = String::new();
    if include || head {
        shown.push_str(&String::from_utf8_lossy(&response.raw_head).replace("\r\n", "\n"));
    }
    if !head {
        shown.push_str(&response.text());
    }
    shown.replace(&gateway.addr().to_string(), DOC_ADDR)
}

/// The lines compared: `Date:` values normalised; for cargo, progress lines dropped and the
/// build's duration blanked.
fn comparable(lines: impl IntoIterator<Item = String>, cargo: bool) -> Vec<String> {
    const PROGRESS: &[&str] = &[
        "Compiling",
        "Locking",
        "Adding",
        "Updating",
        "Downloading",
        "Downloaded",
        "Blocking",
        "Checking",
    ];
    lines
        .into_iter()
        .filter(|line| !(cargo && PROGRESS.contains(&line.split_whitespace().next().unwrap_or(""))))
        .map(|line| {
            if line.starts_with("Date: ") {
                "Date: (a date)".to_owned()
            } else if let (true, Some(at)) = (cargo, line.find(" target(s) in ")) {
                format!("{} target(s) in (a while)", &line[..at])
            } else {
                line
            }
        })
        .collect()
}

/// Whether `actual` matches `expected`, where a `...` line stands for any number of lines.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "..." => (0..=actual.len()).any(|skip| matches(rest, &actual[skip..])),
        Some((first, rest)) => actual.first() == Some(first) && matches(rest, &actual[1..]),
    }
}

/// Compares what `step` shows with what its command printed, or fails naming the document line.
fn compare(doc_name: &str, line: usize, step: &Shown, actual: &str, cargo: bool) {
    let gateway = step.command.starts_with("nsgi-gateway");
    // The gateway's log lines carry a timestamp and process ids: they are left out on both sides.
    let not_log = |l: &String| !(gateway && l.starts_with("[20"));
    let expected = comparable(step.output.iter().filter(|l| not_log(l)).cloned(), cargo);
    let actual_lines = comparable(actual.lines().map(str::to_owned).filter(not_log), cargo);
    assert!(
        matches(&expected, &actual_lines) && (actual.is_empty() || actual.ends_with('\n')),
        "{doc_name} (block at line {line}): `{}` printed something else.\n--- the document shows:\n{}\n--- the command printed:\n{actual}",
        step.command,
        expected.join("\n"),
    );
}

fn read_doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Follows `doc` in a fresh directory. Documents of the same `name` share a target dir; all take
/// turns, so that one cargo build runs at a time and each `libmyapp.so` has one user.
fn follow(doc: &str, name: &str) {
    static TURNS: Mutex<()> = Mutex::new(());
    let _turn = TURNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let blocks = parse(&read_doc(doc));
    assert!(
        blocks.iter().any(|(_, b)| matches!(b, Block::Run(_))),
        "{doc} has no `<!-- run -->` block"
    );
    Follower::new(name).follow(doc, &blocks);
}

#[test]
fn the_tutorial_runs_as_written() {
    follow("tutorial.md", "tutorial");
}

#[test]
fn the_spanish_tutorial_runs_as_written() {
    follow("tutorial.es.md", "tutorial");
}

#[test]
fn the_spanish_tutorial_has_the_same_files_commands_and_outputs() {
    let english = parse(&read_doc("tutorial.md"));
    let spanish = parse(&read_doc("tutorial.es.md"));
    assert_eq!(
        english.len(),
        spanish.len(),
        "tutorial.es.md has another number of marked blocks than tutorial.md"
    );
    for ((en_line, en), (es_line, es)) in english.iter().zip(&spanish) {
        assert_eq!(
            en, es,
            "tutorial.es.md line {es_line} differs from tutorial.md line {en_line}"
        );
    }
}

#[test]
fn the_new_app_page_runs_as_written() {
    follow("new-app.md", "new-app");
}

#[test]
fn a_wrong_output_in_a_document_is_caught() {
    let step = Shown {
        command: "curl http://127.0.0.1:8000/".into(),
        output: vec!["Hola, mundo".into()],
    };
    compare("doc", 1, &step, "Hola, mundo\n", false);
    let caught = std::panic::catch_unwind(|| compare("doc", 1, &step, "Hello, world\n", false));
    assert!(caught.is_err(), "a different output must fail the comparison");
    let cargo = Shown {
        command: "cargo build --release".into(),
        output: vec![
            "   Compiling myapp v0.1.0 (/tmp/tutorial/myapp)".into(),
            "    Finished `release` profile [optimized] target(s) in 4.48s".into(),
        ],
    };
    compare(
        "doc",
        1,
        &cargo,
        "    Finished `release` profile [optimized] target(s) in 0.05s\n",
        true,
    );
    assert!(matches(
        &["...".into(), "b".into()],
        &["a".into(), "a".into(), "b".into()]
    ));
    assert!(!matches(&["a".into()], &["a".into(), "b".into()]));
    assert_eq!(
        split_words(r#"curl -d 'a=1&b=2' "x y" z"#),
        ["curl", "-d", "a=1&b=2", "x y", "z"]
    );
}
