//! The mount table: which app serves a request path, and how the path splits into SCRIPT_NAME
//! and PATH_INFO.
//!
//! Owns the prefixes of `--mount` (and the positional app at `/`) with `--root-path`, and the
//! routing rule: strip the root path when the request still carries it (as gunicorn does with
//! `SCRIPT_NAME`), then the longest prefix matching on a segment boundary wins (`/api` serves
//! `/api` and `/api/x`, never `/apix`). SCRIPT_NAME is then the root path and the prefix, and
//! PATH_INFO the rest of the decoded path (empty when the prefix was requested exactly, as
//! PEP 3333 allows).
//!
//! Routing works on the percent-decoded path, the bytes PATH_INFO is made of, and never
//! allocates: [`MountTable::route_encoded`] decodes on the fly, so the caller needs no buffer. It
//! never decides what an unmatched request gets (the caller answers 404).

use crate::http::percent_decoded;
use crate::settings::mounts::{MountSpec, normalise_prefix};

/// The mounted prefixes, in app order, and the root path.
///
/// ```
/// use nsgi_gateway::MountTable;
/// let table = MountTable::new(["", "/api", "/api/v2"], "/site").unwrap();
/// let route = table.route_encoded(b"/site/api/v2/users").unwrap();
/// assert_eq!(route.app, 2);
/// assert_eq!(table.script_name(route.app), b"/site/api/v2");
/// assert_eq!(table.route_encoded(b"/apix").unwrap().app, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTable {
    root: Box<[u8]>,
    mounts: Vec<Mount>,
    /// Indices into `mounts`, longest prefix first.
    longest_first: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Mount {
    prefix: Box<[u8]>,
    /// The root path followed by the prefix.
    script_name: Box<[u8]>,
}

/// Where a request goes: the app, and where PATH_INFO starts in the decoded path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The app: an index into the mounts the table was built from.
    pub app: usize,
    /// PATH_INFO is the decoded path from this byte offset on (SCRIPT_NAME is
    /// [`MountTable::script_name`], which may differ from the bytes before the offset when the
    /// request did not carry the root path).
    pub(crate) path_info_start: usize,
}

impl Route {
    /// PATH_INFO within `decoded_path`, the decoded path this route was found for.
    #[cfg(test)]
    pub(crate) fn path_info<'p>(&self, decoded_path: &'p [u8]) -> &'p [u8] {
        decoded_path.get(self.path_info_start..).unwrap_or_default()
    }
}

impl MountTable {
    /// A table of `prefixes` (app `i` is the `i`th) under `root_path`. Prefixes and root path are
    /// normalised like `--mount` and `--root-path` (`/` and `` are the root, a trailing `/` is
    /// dropped); the error names the flag and the value at fault.
    pub fn new<S: AsRef<str>>(prefixes: impl IntoIterator<Item = S>, root_path: &str) -> Result<MountTable, String> {
        let root = normalise_prefix(root_path).map_err(|why| format!("--root-path {root_path:?}: {why}"))?;
        let mut mounts: Vec<Mount> = Vec::new();
        for raw in prefixes {
            let raw = raw.as_ref();
            let prefix = normalise_prefix(raw).map_err(|why| format!("--mount {raw:?}: {why}"))?;
            if mounts.iter().any(|mount| *mount.prefix == *prefix.as_bytes()) {
                let shown = if prefix.is_empty() { "/" } else { &prefix };
                return Err(format!("--mount: the prefix {shown} is mounted twice"));
            }
            let script_name = [root.as_bytes(), prefix.as_bytes()].concat().into_boxed_slice();
            mounts.push(Mount {
                prefix: prefix.into_bytes().into_boxed_slice(),
                script_name,
            });
        }
        let mut longest_first: Vec<usize> = (0..mounts.len()).collect();
        longest_first.sort_by_key(|&i| std::cmp::Reverse(mounts[i].prefix.len()));
        Ok(MountTable {
            root: root.into_bytes().into_boxed_slice(),
            mounts,
            longest_first,
        })
    }

    /// The table of `specs` (as [`Cli::mounts`](crate::settings::cli::Cli::mounts) returns them; app `i`
    /// is `specs[i]`) under `root_path`.
    pub(crate) fn from_specs(specs: &[MountSpec], root_path: &str) -> Result<MountTable, String> {
        MountTable::new(specs.iter().map(|spec| spec.prefix.as_str()), root_path)
    }

    /// Routes a percent-decoded request path (what PATH_INFO is made of). `None`: no app is
    /// mounted there.
    #[cfg(test)]
    pub(crate) fn route(&self, decoded_path: &[u8]) -> Option<Route> {
        self.route_bytes(decoded_path.iter().copied())
    }

    /// Routes a request path as received (still percent-encoded), decoding as it compares;
    /// the same answer as [`MountTable::route`] on the decoded path.
    pub fn route_encoded(&self, raw_path: &[u8]) -> Option<Route> {
        self.route_bytes(percent_decoded(raw_path))
    }

    /// SCRIPT_NAME of an app: the root path and its prefix. Empty for an index out of range.
    pub fn script_name(&self, app: usize) -> &[u8] {
        self.mounts.get(app).map_or(&[], |mount| &mount.script_name)
    }

    /// The normalised prefix of an app (empty for `/`). Empty for an index out of range.
    #[cfg(test)]
    pub(crate) fn prefix(&self, app: usize) -> &[u8] {
        self.mounts.get(app).map_or(&[], |mount| &mount.prefix)
    }

    /// The normalised root path (empty when none).
    #[cfg(test)]
    pub(crate) fn root_path(&self) -> &[u8] {
        &self.root
    }

    /// Number of mounted apps.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.mounts.len()
    }

    /// True when no app is mounted.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.mounts.is_empty()
    }

    fn route_bytes<I: Iterator<Item = u8> + Clone>(&self, path: I) -> Option<Route> {
        let (rest, offset) = match strip_segment_prefix(path.clone(), &self.root) {
            Some(rest) if !self.root.is_empty() => (rest, self.root.len()),
            _ => (path, 0),
        };
        self.longest_first.iter().find_map(|&app| {
            let prefix = &self.mounts[app].prefix;
            strip_segment_prefix(rest.clone(), prefix).map(|_| Route {
                app,
                path_info_start: offset + prefix.len(),
            })
        })
    }
}

/// `path` after `prefix` when it starts with it on a segment boundary (followed by `/` or the
/// end). The empty prefix matches every path.
fn strip_segment_prefix<I: Iterator<Item = u8> + Clone>(mut path: I, prefix: &[u8]) -> Option<I> {
    if prefix.is_empty() {
        return Some(path);
    }
    for &expected in prefix {
        if path.next() != Some(expected) {
            return None;
        }
    }
    match path.clone().next() {
        None | Some(b'/') => Some(path),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(prefixes: &[&str], root: &str) -> MountTable {
        MountTable::new(prefixes, root).expect("valid table")
    }

    /// (app, SCRIPT_NAME, PATH_INFO) for `path`, checking that both routing entry points agree.
    fn split(table: &MountTable, path: &str) -> Option<(usize, String, String)> {
        let route = table.route(path.as_bytes());
        let encoded: String = path
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(table.route_encoded(encoded.as_bytes()), route, "encoded {encoded}");
        route.map(|route| {
            (
                route.app,
                String::from_utf8_lossy(table.script_name(route.app)).into_owned(),
                String::from_utf8_lossy(route.path_info(path.as_bytes())).into_owned(),
            )
        })
    }

    fn ok(app: usize, script_name: &str, path_info: &str) -> Option<(usize, String, String)> {
        Some((app, script_name.to_owned(), path_info.to_owned()))
    }

    #[test]
    fn longest_prefix_wins() {
        let t = table(&["/api", "", "/api/v2", "/static"], "");
        assert_eq!(split(&t, "/api/v2/users"), ok(2, "/api/v2", "/users"));
        assert_eq!(split(&t, "/api/v1/users"), ok(0, "/api", "/v1/users"));
        assert_eq!(split(&t, "/static/a.css"), ok(3, "/static", "/a.css"));
        assert_eq!(split(&t, "/"), ok(1, "", "/"));
        assert_eq!(split(&t, "/other"), ok(1, "", "/other"));
        assert_eq!(split(&t, "*"), ok(1, "", "*"));
    }

    #[test]
    fn segment_boundaries_and_exact_prefixes() {
        let t = table(&["/api", "/api/v2"], "");
        assert_eq!(split(&t, "/apix"), None);
        assert_eq!(split(&t, "/api/v20"), ok(0, "/api", "/v20"));
        assert_eq!(split(&t, "/api"), ok(0, "/api", ""));
        assert_eq!(split(&t, "/api/"), ok(0, "/api", "/"));
        assert_eq!(split(&t, "/api/v2"), ok(1, "/api/v2", ""));
        assert_eq!(split(&t, "/ap"), None);
        assert_eq!(split(&t, ""), None);
        assert_eq!(split(&t, "/"), None, "no app at / means 404");
    }

    #[test]
    fn root_path_is_stripped_when_present() {
        let t = table(&["", "/api"], "/site/");
        assert_eq!(t.root_path(), b"/site");
        assert_eq!(split(&t, "/site/api/x"), ok(1, "/site/api", "/x"));
        assert_eq!(split(&t, "/site/x"), ok(0, "/site", "/x"));
        assert_eq!(split(&t, "/site"), ok(0, "/site", ""));
        // A proxy that already stripped the root path.
        assert_eq!(split(&t, "/api/x"), ok(1, "/site/api", "/x"));
        assert_eq!(split(&t, "/x"), ok(0, "/site", "/x"));
        // Only on a segment boundary.
        assert_eq!(split(&t, "/sitemap.xml"), ok(0, "/site", "/sitemap.xml"));
        let api_only = table(&["/api"], "/site");
        assert_eq!(split(&api_only, "/site/apix"), None);
        assert_eq!(split(&api_only, "/site"), None);
    }

    #[test]
    fn routes_on_decoded_bytes() {
        let t = table(&["", "/caf\u{e9}"], "");
        assert_eq!(
            t.route_encoded(b"/caf%C3%A9/menu"),
            Some(Route {
                app: 1,
                path_info_start: 6
            })
        );
        assert_eq!(
            t.route_encoded(b"/caf%c3%a9"),
            Some(Route {
                app: 1,
                path_info_start: 6
            })
        );
        assert_eq!(
            t.route_encoded(b"/caf%C3%A9x"),
            Some(Route {
                app: 0,
                path_info_start: 0
            })
        );
        let api = table(&["/api"], "");
        // An encoded slash is a slash once decoded, as PATH_INFO shows it.
        assert_eq!(
            api.route_encoded(b"/api%2Fx"),
            Some(Route {
                app: 0,
                path_info_start: 4
            })
        );
        assert_eq!(
            api.route_encoded(b"/ap%69"),
            Some(Route {
                app: 0,
                path_info_start: 4
            })
        );
        assert_eq!(api.route_encoded(b"/ap%zz"), None);
    }

    #[test]
    fn bad_tables_name_their_flag() {
        let error = MountTable::new(["/api", "/api/"], "").expect_err("twice");
        assert!(error.contains("--mount") && error.contains("/api"), "{error}");
        let error = MountTable::new(["api"], "").expect_err("relative");
        assert!(error.contains("--mount \"api\""), "{error}");
        let error = MountTable::new([""], "site").expect_err("relative root");
        assert!(error.starts_with("--root-path"), "{error}");
        let empty = MountTable::new(Vec::<String>::new(), "").expect("empty is valid");
        assert!(empty.is_empty());
        assert_eq!(empty.route(b"/"), None);
        assert_eq!(empty.script_name(3), b"");
    }

    #[test]
    fn from_cli_specs() {
        let specs = [
            MountSpec {
                prefix: String::new(),
                library: None,
                config_file: None,
            },
            MountSpec {
                prefix: "/api".to_owned(),
                library: None,
                config_file: None,
            },
        ];
        let t = MountTable::from_specs(&specs, "/root").expect("valid");
        assert_eq!(t.len(), 2);
        assert_eq!(t.prefix(1), b"/api");
        assert_eq!(t.script_name(0), b"/root");
        assert_eq!(t.script_name(1), b"/root/api");
    }
}
