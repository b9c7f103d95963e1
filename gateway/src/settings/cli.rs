//! The command line: every flag, its default, and its translation into the validated plain types
//! of [`crate::settings::serving`] and [`crate::settings::mounts`] that the runtime modules take.
//!
//! Owns parsing (with clap) and validation with messages that name the flag at fault. The JSON
//! config file (`--config`) uses the same names as the long flags; merging it is `config.rs`.

use crate::http::Limits;
use crate::settings::mounts::{MountSpec, normalise_prefix};
use crate::settings::serving::{HEADER_SLOTS, ServerOptions, Timeouts};
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

/// Serve NSGI app libraries over HTTP/1.1.
///
/// Without APP_LIBRARY (and without --mount), serves the built-in welcome app.
#[derive(Clone, Debug, Parser)]
#[command(name = "nsgi-gateway", version, about, long_about = None)]
pub struct Cli {
    /// The app mounted at `/`: a shared library exporting `nsgi_app_entry_v1` (e.g.
    /// target/release/libhello.so).
    #[arg(value_name = "APP_LIBRARY")]
    pub(crate) app: Option<PathBuf>,

    /// A JSON file of settings, with the long flag names as keys (`"workers": 4`); flags given on
    /// the command line override it.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// Validate the settings, load every app library and run its init, then exit: 0 when valid,
    /// 1 with the reasons otherwise (2 for a command-line usage error). Binds nothing.
    #[arg(long)]
    pub check_config: bool,

    // ---- listeners ----
    /// Where to listen; repeatable: `HOST:PORT` (IPv4, or IPv6 as `[::1]:8000`; port 0 picks a
    /// free port) or `unix:/path/to.sock` for HTTP/1.1; `uwsgi://HOST:PORT` or
    /// `uwsgi+unix:/path/to.sock` for the uwsgi protocol (nginx `uwsgi_pass`, Apache
    /// `mod_proxy_uwsgi`). Ignored when systemd passes sockets (LISTEN_FDS); a passed socket speaks
    /// uwsgi when its FileDescriptorName is `uwsgi` or a `--bind uwsgi...` names its address.
    /// Default: 127.0.0.1:8000.
    #[arg(short, long, value_name = "ADDRESS")]
    pub(crate) bind: Vec<String>,

    /// Permissions of the unix sockets created by `--bind unix:...`, in octal.
    #[arg(long, value_name = "OCTAL", default_value = "660")]
    pub(crate) unix_socket_mode: String,

    /// Length of the kernel's queue of connections not yet accepted.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub backlog: u32,

    // ---- processes and threads ----
    /// Worker processes. 0 serves from this process alone, without a supervisor (for debugging,
    /// or under a supervisor of your own). Default: the number of CPUs.
    #[arg(short, long, value_name = "N")]
    pub workers: Option<usize>,

    /// Threads per worker that run the app; 0 calls the app on the event-loop thread itself
    /// (fastest, but an app call that blocks stalls the worker's other connections).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) threads: usize,

    /// Recycle a worker once it has served this many requests (0: never); it never serves more.
    /// Workers are replaced one at a time, the new one serving before the old one stops.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) max_requests: u64,

    /// Add a random 0..=N to each worker's --max-requests, so that workers do not all recycle at
    /// once.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) max_requests_jitter: u64,

    /// Seconds one request may run in the app before its worker is replaced (0: no limit).
    #[arg(short, long, value_name = "SECS", default_value_t = 30)]
    pub(crate) timeout: u64,

    /// Seconds a graceful stop or reload waits for in-flight requests before killing.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) graceful_timeout: u64,

    /// Run the workers as this user (a name or a numeric id) once the listeners are bound: the
    /// gateway must be started as root, and the workers give up root before they load any app.
    /// The supervisor, which never loads an app, stays root (see docs/security.md).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// The group of --user's workers (a name or a numeric id). Default: the user's primary group.
    #[arg(long, value_name = "GROUP", requires = "user")]
    pub(crate) group: Option<String>,

    /// Allow the workers to run as root. Without it, a gateway started as root refuses to serve
    /// unless --user names another user.
    #[arg(long)]
    pub(crate) allow_root: bool,

    /// Seconds a new worker may take to load and initialise its apps; one that is not ready by
    /// then is killed and counts as failing to boot (a reload fails, the old workers serve on);
    /// 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) boot_timeout: u64,

    /// For development: watch the app libraries and app config files, and reload gracefully (as
    /// SIGHUP does) once one has changed and stayed unchanged for a quarter second, so that a
    /// `cargo build` is all it takes. A library that fails to load leaves the old workers serving
    /// (the log says why). Needs the supervisor (not --workers 0).
    #[arg(long)]
    pub(crate) reload: bool,

    /// Write the supervisor's process id (with --workers 0, the serving process's) to this file
    /// (removed on exit).
    #[arg(long, value_name = "FILE")]
    pub(crate) pid: Option<PathBuf>,

    // ---- limits ----
    /// Longest request line, in bytes (longer → 414).
    #[arg(long, value_name = "BYTES", default_value_t = crate::http::MAX_REQUEST_LINE_BYTES)]
    pub(crate) limit_request_line: usize,

    /// Most header fields in a request (more → 431); at most 256.
    #[arg(long, value_name = "N", default_value_t = crate::http::MAX_HEADERS)]
    pub(crate) limit_request_fields: usize,

    /// Largest request head (request line and all header fields), in bytes (larger → 431).
    #[arg(long, value_name = "BYTES", default_value_t = crate::http::MAX_HEADER_BYTES)]
    pub(crate) limit_request_head: usize,

    /// Most header fields an app may give one response; past it the app's start_response is
    /// refused and the client gets a 500.
    #[arg(long, value_name = "N", default_value_t = nsgi::host::validate::DEFAULT_MAX_RESPONSE_HEADERS)]
    pub(crate) limit_response_headers: usize,

    /// Largest response head an app may give (status line and its header fields), in bytes; past
    /// it the app's start_response is refused and the client gets a 500.
    #[arg(long, value_name = "BYTES", default_value_t = nsgi::host::validate::DEFAULT_MAX_RESPONSE_HEAD_BYTES)]
    pub(crate) limit_response_head: usize,

    /// Largest request body, in bytes (larger → 413).
    #[arg(long, value_name = "BYTES", default_value_t = crate::http::MAX_BODY_BYTES)]
    pub(crate) max_body_size: u64,

    /// Request bodies up to this many bytes are held in memory; larger ones are written to a
    /// temporary file (in --spill-dir) as they arrive, so app threads never wait on a slow client.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    pub(crate) body_buffer_size: u64,

    /// Directory for the temporary files of large request bodies. Default: $TMPDIR or /tmp.
    #[arg(long, value_name = "DIR")]
    pub(crate) spill_dir: Option<PathBuf>,

    /// Most simultaneous client connections per worker; beyond it the worker stops accepting.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) max_connections: usize,

    // ---- timeouts ----
    /// Seconds a client has to send a complete request head (slower → 408 and close).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) header_timeout: u64,

    /// Seconds to wait for the next bytes of a request body (slower → 408 and close).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) body_timeout: u64,

    /// Seconds to wait for a client to take more response bytes (slower → close).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub(crate) send_timeout: u64,

    /// Seconds an idle keep-alive connection is kept open.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub(crate) keep_alive: u64,

    // ---- apps and proxies ----
    /// A file whose contents (JSON by convention) are handed to the `/` app's init as its config.
    /// Needs APP_LIBRARY (a --mount takes its config as PREFIX=LIBRARY:CONFIG).
    #[arg(long, value_name = "FILE")]
    pub(crate) app_config: Option<PathBuf>,

    /// Mount an app at a path prefix; repeatable: `PREFIX=LIBRARY` or `PREFIX=LIBRARY:CONFIG_FILE`
    /// (e.g. `/api=target/release/libecho.so:api.json`). The longest matching prefix wins; it
    /// becomes SCRIPT_NAME and the rest of the path PATH_INFO.
    #[arg(short, long, value_name = "PREFIX=LIBRARY[:CONFIG]")]
    pub(crate) mount: Vec<String>,

    /// A path prefix the whole server is published under (behind a proxy that strips it):
    /// prepended to every SCRIPT_NAME, and removed from request paths that still carry it.
    #[arg(long, value_name = "PATH", default_value = "")]
    pub(crate) root_path: String,

    /// Peers trusted to set X-Forwarded-For/-Proto/-Host/-Port and Forwarded: a comma-separated
    /// list of IP addresses and CIDR networks, or `*` for any. From other peers these headers are
    /// ignored. A unix-socket peer is trusted unless the list is empty (`""`).
    #[arg(long, value_name = "CIDRS", default_value = "127.0.0.1,::1")]
    pub(crate) forwarded_allow_ips: String,

    /// Peers a uwsgi listener serves: a comma-separated list of IP addresses and CIDR networks,
    /// or `*` for any. A connection from another address is closed unread (one log line). Every
    /// unix-socket peer is served (the socket file's permissions decide who connects). The uwsgi
    /// front is trusted for the client's address and scheme it sends (REMOTE_ADDR, HTTPS).
    #[arg(long, value_name = "CIDRS", default_value = "127.0.0.1,::1")]
    pub(crate) uwsgi_allow_ips: String,

    // ---- logging and checking ----
    /// Write an access log line per request in Apache's combined format to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) access_log: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace (RUST_LOG, when set, takes precedence).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        ignore_case = true,
        value_parser = LOG_LEVELS
    )]
    pub log_level: String,

    /// Run the app inside the conformance Validator: log every NSGI rule it breaks, with its
    /// check id (see docs/conformance.md), and answer 500 to requests where it broke a fatal rule
    /// before its response went out. Slower; meant for development and staging.
    #[arg(long)]
    pub(crate) validate: bool,
}

/// The values of `--log-level`, most severe first (anything else is refused: `env_logger` would
/// take an unknown word for a module filter and log nothing).
pub(crate) const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The default `--bind`.
pub(crate) const DEFAULT_BIND: &str = "127.0.0.1:8000";

impl Cli {
    /// The listener specifications, `--bind` or the default.
    pub fn binds(&self) -> Vec<String> {
        if self.bind.is_empty() {
            vec![DEFAULT_BIND.to_owned()]
        } else {
            self.bind.clone()
        }
    }

    /// The worker count: `--workers` or the number of CPUs.
    pub fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The unix socket permission bits.
    pub fn unix_mode(&self) -> Result<u32, String> {
        u32::from_str_radix(self.unix_socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|mode| *mode <= 0o777)
            .ok_or_else(|| {
                format!(
                    "--unix-socket-mode {}: not an octal permission such as 660",
                    self.unix_socket_mode
                )
            })
    }

    /// The apps to serve: the positional APP_LIBRARY at `/` (or the welcome app when neither it
    /// nor a `/` mount is given), then every `--mount`.
    pub(crate) fn mounts(&self) -> Result<Vec<MountSpec>, String> {
        let mut mounts = Vec::new();
        for raw in &self.mount {
            mounts.push(parse_mount(raw)?);
        }
        let root_mounted = mounts.iter().any(|m| m.prefix.is_empty());
        if self.app_config.is_some() && self.app.is_none() {
            return Err(
                "--app-config is the config of APP_LIBRARY, but no APP_LIBRARY was given (a --mount \
                        takes its config as PREFIX=LIBRARY:CONFIG)"
                    .to_owned(),
            );
        }
        if self.app.is_some() && root_mounted {
            return Err("APP_LIBRARY and a `--mount /=...` both claim the prefix /".to_owned());
        }
        if !root_mounted && (self.app.is_some() || mounts.is_empty()) {
            mounts.insert(
                0,
                MountSpec {
                    prefix: String::new(),
                    library: self.app.clone(),
                    config_file: self.app_config.clone(),
                },
            );
        }
        for (i, mount) in mounts.iter().enumerate() {
            if mounts[..i].iter().any(|m| m.prefix == mount.prefix) {
                let shown = if mount.prefix.is_empty() { "/" } else { &mount.prefix };
                return Err(format!("--mount: the prefix {shown} is mounted twice"));
            }
        }
        Ok(mounts)
    }

    /// The validated `--root-path`: empty, or `/x` without a trailing slash.
    pub(crate) fn root_path(&self) -> Result<String, String> {
        normalise_prefix(&self.root_path).map_err(|why| format!("--root-path {:?}: {why}", self.root_path))
    }

    /// Settings of each worker's event loop (checked by every process that serves, and by
    /// `--check-config`, so the `--reload` refusal lives here too).
    pub(crate) fn server_options(&self) -> Result<ServerOptions, String> {
        if self.reload && self.worker_count() == 0 {
            return Err(
                "--reload needs the supervisor, which --workers 0 leaves out: a single process \
                        cannot swap its app without dropping its connections; use --workers 1"
                    .to_owned(),
            );
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".to_owned());
        }
        for (flag, value) in [
            ("--keep-alive", self.keep_alive),
            ("--header-timeout", self.header_timeout),
            ("--body-timeout", self.body_timeout),
            ("--send-timeout", self.send_timeout),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1 second"));
            }
        }
        for (flag, value, least) in [
            ("--limit-request-line", self.limit_request_line, 16),
            ("--limit-request-fields", self.limit_request_fields, 1),
            ("--limit-request-head", self.limit_request_head, 64),
            ("--limit-response-headers", self.limit_response_headers, 1),
            ("--limit-response-head", self.limit_response_head, 64),
        ] {
            if value < least {
                return Err(format!("{flag} must be at least {least}"));
            }
        }
        if self.limit_request_fields > HEADER_SLOTS {
            return Err(format!("--limit-request-fields must be at most {}", HEADER_SLOTS));
        }
        Ok(ServerOptions {
            limits: Limits {
                max_request_line: self.limit_request_line,
                max_header_bytes: self.limit_request_head,
                max_headers: self.limit_request_fields,
                max_body: self.max_body_size,
                ..Limits::default()
            },
            timeouts: Timeouts {
                header: Duration::from_secs(self.header_timeout),
                body: Duration::from_secs(self.body_timeout),
                keep_alive: Duration::from_secs(self.keep_alive),
                send: Duration::from_secs(self.send_timeout),
            },
            graceful_timeout: Duration::from_secs(self.graceful_timeout),
            max_connections: self.max_connections,
            ..ServerOptions::default()
        })
    }
}

impl Cli {
    /// The response head limits every app instance gets (validated by [`Cli::server_options`]).
    pub(crate) fn response_head_limits(&self) -> nsgi::host::validate::ResponseHeadLimits {
        nsgi::host::validate::ResponseHeadLimits {
            max_headers: self.limit_response_headers,
            max_bytes: self.limit_response_head,
        }
    }
}

/// Parses `PREFIX=LIBRARY[:CONFIG]`.
pub(crate) fn parse_mount(raw: &str) -> Result<MountSpec, String> {
    let (prefix, rest) = raw
        .split_once('=')
        .ok_or_else(|| format!("--mount {raw:?}: expected PREFIX=LIBRARY or PREFIX=LIBRARY:CONFIG"))?;
    let prefix = normalise_prefix(prefix).map_err(|why| format!("--mount {raw:?}: {why}"))?;
    let (library, config) = match rest.split_once(':') {
        Some((library, config)) => (library, Some(config)),
        None => (rest, None),
    };
    if library.is_empty() {
        return Err(format!("--mount {raw:?}: the library path is empty"));
    }
    if config == Some("") {
        return Err(format!("--mount {raw:?}: the config file path after ':' is empty"));
    }
    Ok(MountSpec {
        prefix,
        library: Some(PathBuf::from(library)),
        config_file: config.map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("nsgi-gateway").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn defaults() {
        let cli = cli(&[]);
        assert_eq!(cli.binds(), ["127.0.0.1:8000"]);
        assert_eq!(cli.threads, 0);
        assert_eq!(cli.timeout, 30);
        assert_eq!(cli.unix_mode(), Ok(0o660));
        let mounts = cli.mounts().expect("mounts");
        assert_eq!(
            mounts,
            [MountSpec {
                prefix: String::new(),
                library: None,
                config_file: None
            }]
        );
        assert!(cli.server_options().is_ok());
    }

    #[test]
    fn mounts_parse_and_conflict() {
        let cli = cli(&["lib.so", "--mount", "/api/=a.so:a.json", "-m", "/b=b.so"]);
        let mounts = cli.mounts().expect("mounts");
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].library.as_deref(), Some(std::path::Path::new("lib.so")));
        assert_eq!(mounts[1].prefix, "/api");
        assert_eq!(mounts[1].config_file.as_deref(), Some(std::path::Path::new("a.json")));
        assert_eq!(mounts[2].config_file, None);

        let only_mounts = super::tests::cli(&["--mount", "/api=a.so"]);
        assert_eq!(
            only_mounts.mounts().expect("mounts").len(),
            1,
            "no welcome app at / then"
        );

        assert!(super::tests::cli(&["lib.so", "--mount", "/=x.so"]).mounts().is_err());
        assert!(
            super::tests::cli(&["-m", "/a=x.so", "-m", "/a/=y.so"])
                .mounts()
                .is_err()
        );
        assert!(parse_mount("api=x.so").is_err());
        assert!(parse_mount("/api").is_err());
        assert!(parse_mount("/api=").is_err());
        assert!(parse_mount("/api=x.so:").is_err());
    }

    #[test]
    fn prefixes_are_normalised_or_refused() {
        assert_eq!(normalise_prefix("/"), Ok(String::new()));
        assert_eq!(normalise_prefix(""), Ok(String::new()));
        assert_eq!(normalise_prefix("/a/b/"), Ok("/a/b".to_owned()));
        for bad in ["a", "/a//b", "/a/../b", "/./a", "/a?x", "/a%20", "/a b"] {
            assert!(normalise_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        let error = cli(&["--keep-alive", "0"]).server_options().expect_err("zero");
        assert!(error.contains("--keep-alive"), "{error}");
        let error = cli(&["--unix-socket-mode", "999"]).unix_mode().expect_err("not octal");
        assert!(error.contains("--unix-socket-mode"), "{error}");
        let error = Cli::try_parse_from(["nsgi-gateway", "--log-level", "verbose"]).expect_err("not a level");
        assert!(error.to_string().contains("error, warn, info, debug, trace"), "{error}");
        assert_eq!(cli(&["--log-level", "Debug"]).log_level, "Debug");
        let error = cli(&["--app-config", "a.json"]).mounts().expect_err("no APP_LIBRARY");
        assert!(error.contains("--app-config"), "{error}");
        let error = cli(&["--limit-request-fields", "100000"])
            .server_options()
            .expect_err("too many");
        assert!(error.contains("--limit-request-fields"), "{error}");
        for flag in ["--limit-response-headers", "--limit-response-head"] {
            let error = cli(&[flag, "0"]).server_options().expect_err("zero");
            assert!(error.contains(flag), "{error}");
        }
        let limits = cli(&["--limit-response-headers", "7", "--limit-response-head", "4096"]).response_head_limits();
        assert_eq!((limits.max_headers, limits.max_bytes), (7, 4096));
    }
}
