//! `template`: the tutorial's third step: dynamic pages rendered from Jinja2-style templates.
//!
//! The `html` step sent one fixed page. Here the page is a template with placeholders
//! (`{{ username }}`), a loop and a conditional, filled from the query string on every request:
//! `/?username=Codi` greets Codi. Templates use the Jinja2 syntax through MiniJinja, with HTML
//! autoescaping on for `.html` files, so a `<script>` in the query is shown as text, never run.
//!
//! This module owns the app: where the templates come from, loading them once in `init`, and
//! rendering them per request. It never reads a template file while serving, and never looks at
//! the gateway's working directory to find them.
//!
//! | request | response |
//! |---|---|
//! | `GET /` | `index.html`, with `username` (default `mundo`) and the repeated `item` values |
//! | `GET /about` | `about.html` |
//! | a template missing from the directory | `500`, the reason written to `wsgi.errors` |
//! | a query field that is not UTF-8 | `400`, naming the field |
//! | any other path | `404` |
//!
//! Where the templates are (see README.md): the `templates` key of the app's config (JSON, e.g.
//! `--app-config template.json` holding `{"templates": "/srv/site/templates"}`; a relative path
//! is taken from the library's directory); otherwise `templates/` beside the library file;
//! otherwise the `templates/` directory of this crate's source, recorded at build time.

use std::fs;
use std::path::{Path, PathBuf};

use minijinja::{Environment, context};
use nsgi::app::{App, Error, InitArgs, Level, Request, Response, StartResponse};

/// The templates shipped with the source, used when none sit beside the library.
const SOURCE_TEMPLATES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");

/// What `index.html` lists in its loop.
const STEPS: [&str; 4] = [
    "Hola mundo in plain text",
    "An HTML page",
    "Templates filled from the query string",
    "A form that posts back",
];

const HTML: (&str, &str) = ("Content-Type", "text/html; charset=utf-8");
const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");

/// The app: every template of the directory, parsed once.
struct Templates {
    env: Environment<'static>,
}

impl App for Templates {
    const NAME: &'static str = "template";

    fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
        let dir = templates_dir(args.config())?;
        let env = load_templates(&dir)?;
        args.host().log(
            Level::Info,
            &format!(
                "template: {} templates loaded from {}",
                env.templates().count(),
                dir.display()
            ),
        );
        Ok(Templates { env })
    }

    fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
        match req.path_info() {
            "/" | "" => {
                let query = req.query();
                let username = match query.get("username") {
                    Ok(name) => name.filter(|n| !n.is_empty()).unwrap_or("mundo".into()).into_owned(),
                    Err(e) => return Ok(start.respond(e.status(), &[TEXT], format!("{e}\n"))?),
                };
                let items = match query.get_all("item") {
                    Ok(items) => items.into_iter().map(|i| i.into_owned()).collect::<Vec<String>>(),
                    Err(e) => return Ok(start.respond(e.status(), &[TEXT], format!("{e}\n"))?),
                };
                let data = context! { title => "NSGI tutorial", username, items, steps => STEPS };
                self.render(req, start, "index.html", data)
            }
            "/about" => self.render(req, start, "about.html", context! { title => "About" }),
            _ => Ok(start.respond("404 Not Found", &[TEXT], "not found\n")?),
        }
    }
}

impl Templates {
    /// Renders `name` with `data`; a missing or failing template is a 500 whose reason goes to
    /// `wsgi.errors` (the client sees only that the page failed).
    fn render(
        &self,
        req: &Request<'_>,
        start: StartResponse<'_>,
        name: &str,
        data: minijinja::Value,
    ) -> Result<Response, Error> {
        match self.env.get_template(name).and_then(|t| t.render(data)) {
            Ok(page) => Ok(start.respond("200 OK", &[HTML], page)?),
            Err(e) => {
                use std::io::Write;
                // A failed log write must not hide the 500 from the client.
                let _ = writeln!(req.errors(), "template: rendering {name:?} failed: {e:#}");
                Ok(start.respond("500 Internal Server Error", &[TEXT], "the page could not be rendered\n")?)
            }
        }
    }
}

/// The templates directory: from the config, else beside the library, else the source's.
fn templates_dir(config: &[u8]) -> Result<PathBuf, Error> {
    let library_dir = own_library_dir();
    if let Some(configured) = configured_dir(config)? {
        if configured.is_absolute() {
            return Ok(configured);
        }
        let base = library_dir.ok_or_else(|| {
            format!(
                "template: the config's templates path {} is relative, and the library's own \
                 directory is unknown here: give an absolute path",
                configured.display()
            )
        })?;
        return Ok(base.join(configured));
    }
    if let Some(beside) = library_dir.map(|d| d.join("templates")).filter(|d| d.is_dir()) {
        return Ok(beside);
    }
    Ok(PathBuf::from(SOURCE_TEMPLATES))
}

/// The `templates` key of the JSON config; `None` when the config is empty or has no such key.
fn configured_dir(config: &[u8]) -> Result<Option<PathBuf>, Error> {
    if config.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| format!("template: the app config is not JSON: {e}"))?;
    let object = value
        .as_object()
        .ok_or("template: the app config must be a JSON object such as {\"templates\": \"/path\"}")?;
    if let Some(unknown) = object.keys().find(|k| *k != "templates") {
        return Err(format!("template: unknown key {unknown:?} in the app config (known: \"templates\")").into());
    }
    match object.get("templates") {
        None => Ok(None),
        Some(serde_json::Value::String(path)) if !path.is_empty() => Ok(Some(PathBuf::from(path))),
        Some(_) => Err("template: the config's \"templates\" must be a non-empty string (a directory)".into()),
    }
}

/// Parses every `*.html` file of `dir` into an environment (autoescaping HTML by extension).
fn load_templates(dir: &Path) -> Result<Environment<'static>, Error> {
    let entries = fs::read_dir(dir)
        .map_err(|e| format!("template: cannot read the templates directory {}: {e}", dir.display()))?;
    let mut env = Environment::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("html") {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let source = fs::read_to_string(&path).map_err(|e| format!("template: cannot read {}: {e}", path.display()))?;
        env.add_template_owned(name.to_owned(), source)
            .map_err(|e| format!("template: {} does not parse: {e:#}", path.display()))?;
    }
    Ok(env)
}

/// The directory of the library this code was loaded from, found by looking up the address of
/// one of its functions in `/proc/self/maps` (Linux); `None` elsewhere or when not found.
fn own_library_dir() -> Option<PathBuf> {
    let address = own_library_dir as fn() -> Option<PathBuf> as usize;
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .find_map(|line| mapping_path_containing(line, address))
        .and_then(|file| file.parent().map(Path::to_path_buf))
}

/// The file of one `/proc/self/maps` line (`start-end perms offset dev inode path`) when its
/// address range holds `address`.
fn mapping_path_containing(line: &str, address: usize) -> Option<PathBuf> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    if !(start..end).contains(&address) {
        return None;
    }
    let path = fields.nth(4)?.trim_start();
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    path.starts_with('/').then(|| PathBuf::from(path))
}

nsgi::export_app!(Templates);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maps_line_gives_its_file_only_for_addresses_inside() {
        let line = "7f0000001000-7f0000002000 r-xp 00001000 08:01 42     /opt/my apps/libtemplate.so";
        assert_eq!(
            mapping_path_containing(line, 0x7f0000001800),
            Some(PathBuf::from("/opt/my apps/libtemplate.so"))
        );
        assert_eq!(mapping_path_containing(line, 0x7f0000002000), None);
        assert_eq!(
            mapping_path_containing("7f00-7f10 rw-p 00000000 00:00 0 ", 0x7f01),
            None
        );
        let deleted = "1000-2000 r-xp 0 08:01 7 /x/lib.so (deleted)";
        assert_eq!(
            mapping_path_containing(deleted, 0x1000),
            Some(PathBuf::from("/x/lib.so"))
        );
    }

    #[test]
    fn the_library_of_this_code_is_found() {
        // In a test binary the code lives in the test executable: its directory is found.
        let dir = own_library_dir().expect("a directory on Linux");
        assert!(dir.is_dir(), "{}", dir.display());
    }

    #[test]
    fn config_keys_are_checked() {
        assert_eq!(configured_dir(b"").unwrap(), None);
        assert_eq!(configured_dir(b"{}").unwrap(), None);
        assert_eq!(
            configured_dir(br#"{"templates": "/t"}"#).unwrap(),
            Some(PathBuf::from("/t"))
        );
        assert!(
            configured_dir(br#"{"template": "/t"}"#)
                .unwrap_err()
                .to_string()
                .contains("\"template\"")
        );
        assert!(configured_dir(b"[1]").unwrap_err().to_string().contains("JSON object"));
        assert!(
            configured_dir(br#"{"templates": 3}"#)
                .unwrap_err()
                .to_string()
                .contains("non-empty string")
        );
        assert!(configured_dir(b"{").unwrap_err().to_string().contains("not JSON"));
    }

    #[test]
    fn the_shipped_templates_parse() {
        let env = load_templates(Path::new(SOURCE_TEMPLATES)).expect("shipped templates load");
        let page = env
            .get_template("index.html")
            .and_then(|t| t.render(context! { username => "<b>", items => ["x"], steps => STEPS }))
            .expect("renders");
        assert!(page.contains("Hola &lt;b&gt;"), "{page}");
    }
}
