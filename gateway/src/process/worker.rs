//! One serving process: load and initialise the mounted apps, run the event loop over the
//! listeners, shut the apps down. Used by each supervised worker and by `--workers 0`; also
//! validates everything for `--check-config`.

use crate::logs::access_log::AccessLog;
use crate::process::privilege;
use crate::process::worker_link::WorkerLink;
use crate::serve::listen::Listener;
use crate::serve::respond::Apps;
use crate::serve::server::{Server, Stopped, SupervisorLink};
use crate::settings::cli::Cli;
use crate::settings::mounts::MountSpec;
use crate::settings::serving::{ServerOptions, SpillPolicy};
use crate::site::environ::Site;
use crate::site::mount::MountTable;
use crate::site::proxy::TrustedProxies;
use crate::site::welcome;
use nsgi::host::{AppInstance, AppModule, InitOptions};
use nsgi_conformance::Validator;
use std::sync::Arc;
use std::time::Duration;

/// Everything a worker needs, validated from the command line.
pub(crate) struct WorkerPlan {
    /// Event-loop settings.
    pub(crate) options: ServerOptions,
    /// The apps and their prefixes.
    pub(crate) mounts: Vec<MountSpec>,
}

/// Validates the settings a worker uses (not the listeners).
pub(crate) fn plan(cli: &Cli, supervised: bool) -> Result<WorkerPlan, String> {
    let mut options = cli.server_options()?;
    let mounts = cli.mounts()?;
    cli.root_path()?;
    TrustedProxies::parse(&cli.forwarded_allow_ips)?;
    TrustedProxies::parse_for("--uwsgi-allow-ips", &cli.uwsgi_allow_ips)?;
    MountTable::from_specs(&mounts, &cli.root_path()?)?;
    options.threads = cli.threads;
    options.app_timeout = (cli.timeout > 0).then(|| Duration::from_secs(cli.timeout));
    if cli.max_requests > 0 {
        if supervised {
            let jitter = if cli.max_requests_jitter > 0 {
                random_below(cli.max_requests_jitter + 1)
            } else {
                0
            };
            options.max_requests = Some(cli.max_requests + jitter);
        } else {
            log::warn!("--max-requests needs the supervisor (--workers 1 or more); ignored");
        }
    }
    options.spill = SpillPolicy {
        memory_limit: cli.body_buffer_size,
        dir: cli.spill_dir.clone().unwrap_or_else(std::env::temp_dir),
    };
    if !options.spill.dir.is_dir() {
        return Err(format!("--spill-dir {}: not a directory", options.spill.dir.display()));
    }
    Ok(WorkerPlan { options, mounts })
}

/// Loads and initialises every mounted app.
fn start_apps(cli: &Cli, mounts: &[MountSpec], supervised: bool) -> Result<Apps, String> {
    let validator = cli.validate.then(|| Arc::new(Validator::new()));
    let mut instances = Vec::with_capacity(mounts.len());
    for mount in mounts {
        let shown = if mount.prefix.is_empty() { "/" } else { &mount.prefix };
        let module = match &mount.library {
            Some(path) => AppModule::load(path).map_err(|e| e.to_string())?,
            None => AppModule::from_static(welcome::descriptor(), "built-in welcome app").map_err(|e| e.to_string())?,
        };
        let config = match &mount.config_file {
            Some(path) => {
                std::fs::read(path).map_err(|e| format!("config of the app at {shown}: {}: {e}", path.display()))?
            }
            None => Vec::new(),
        };
        let thread_safe = module.thread_safe();
        let init = InitOptions {
            mount_name: module.name(),
            script_name: mount.prefix.clone(),
            config,
            multithread: cli.threads > 1 && thread_safe,
            // With a supervisor, even of one worker, another process may serve the same app at
            // the same time: the old and the new worker of a reload or a recycle overlap.
            multiprocess: supervised,
            max_concurrency: if thread_safe { cli.threads.max(1) as u32 } else { 1 },
            response_head_limits: cli.response_head_limits(),
            ..InitOptions::default()
        };
        let instance = match &validator {
            Some(validator) => AppInstance::init_observed(&module, &init, validator.clone()),
            None => AppInstance::init(&module, &init),
        }
        .map_err(|e| e.to_string())?;
        if cli.threads > 1 && !thread_safe {
            log::warn!(
                "app {:?} at {shown} is not thread-safe: its calls are serialised across the {} threads",
                module.name(),
                cli.threads
            );
        }
        log::info!(
            "serving app {:?} ({}) at {shown} from {}",
            module.name(),
            module.sdk_info(),
            module.origin().display()
        );
        instances.push(instance);
    }
    if validator.is_some() {
        let names: Vec<String> = instances.iter().map(|i| format!("{:?}", i.mount_name())).collect();
        log::info!(
            "validating app {}: NSGI rule breaches are logged with their check ids",
            names.join(", ")
        );
    }
    let site = Site {
        mounts: MountTable::from_specs(mounts, &cli.root_path()?)?,
        proxies: TrustedProxies::parse(&cli.forwarded_allow_ips)?,
        flags: 0,
    };
    let mut apps = Apps::new(instances, site, validator);
    if let Some(path) = &cli.access_log {
        let log = AccessLog::open(path).map_err(|e| format!("--access-log {}: {e}", path.display()))?;
        apps = apps.with_access_log(log);
    }
    Ok(apps)
}

/// Serves `listeners` until stopped, as the supervised worker of `link`.
pub fn serve(cli: &Cli, listeners: Vec<Listener>, link: WorkerLink) -> Result<(), String> {
    if serve_until_stopped(cli, listeners, Some(link))? == Stopped::Immediately {
        std::process::exit(0);
    }
    Ok(())
}

/// `--workers 0`: serves `listeners` from this process alone until stopped. Writes the `--pid`
/// file first, then gives up root as `privilege` says (before any app is loaded); removes the
/// pid file and the unix socket files it created on the way out, however it stopped.
pub fn serve_alone(cli: &Cli, listeners: Vec<Listener>, privilege: &privilege::Plan) -> Result<(), String> {
    // The pid file is written before root is given up, so it may live where only root writes
    // (`/run`); removing it at exit then needs that the directory lets `--user` do so.
    let pid_file = cli
        .pid
        .as_deref()
        .map(crate::process::pid_file::PidFile::create)
        .transpose()?;
    privilege::enter(privilege)?;
    // The server owns the listeners; these duplicates name the socket files to remove.
    let socket_files: Vec<Listener> = listeners
        .iter()
        .filter_map(|listener| match listener {
            Listener::Unix {
                listener,
                path,
                protocol,
            } => listener.try_clone().ok().map(|listener| Listener::Unix {
                listener,
                path: path.clone(),
                protocol: *protocol,
            }),
            Listener::Tcp(..) => None,
        })
        .collect();
    let outcome = serve_until_stopped(cli, listeners, None);
    for listener in &socket_files {
        listener.remove_socket_file();
    }
    drop(pid_file);
    if outcome? == Stopped::Immediately {
        std::process::exit(0);
    }
    Ok(())
}

/// Loads the apps, serves until a stop signal, and shuts the apps down after a graceful stop
/// (a quick stop leaves them: the process exits at once).
fn serve_until_stopped(cli: &Cli, listeners: Vec<Listener>, link: Option<WorkerLink>) -> Result<Stopped, String> {
    let supervised = link.is_some();
    let plan = plan(cli, supervised)?;
    check_open_file_limit(plan.options.max_connections);
    let apps = Arc::new(start_apps(cli, &plan.mounts, supervised)?);
    let urls: Vec<String> = listeners.iter().map(Listener::url).collect();
    let link = link.map(|link| Box::new(link) as Box<dyn SupervisorLink>);
    let mut server = Server::new(listeners, apps, plan.options, link)
        .map_err(|e| e.to_string())?
        .with_uwsgi_allow(TrustedProxies::parse_for("--uwsgi-allow-ips", &cli.uwsgi_allow_ips)?);
    if supervised {
        server.ready();
    } else {
        announce(&urls);
    }
    let (stopped, apps) = server.run().map_err(|e| format!("event loop failed: {e}"))?;
    if stopped == Stopped::Immediately {
        return Ok(stopped);
    }
    if apps.shutdown().is_err() {
        log::warn!("apps not shut down: requests still hold them");
    }
    log::info!("stopped");
    Ok(stopped)
}

/// Raises the open-file limit as far as it goes, and warns when it is still too low for
/// `--max-connections` (each connection is a descriptor; the listeners, the app's files and
/// spilled bodies need some more).
fn check_open_file_limit(max_connections: usize) {
    const SPARE_DESCRIPTORS: u64 = 64;
    match crate::os::process::raise_open_file_limit() {
        Ok(limit) if limit < max_connections as u64 + SPARE_DESCRIPTORS => log::warn!(
            "the open-file limit is {limit}, too low for --max-connections {max_connections}: \
             connections past it will be refused (raise the hard limit, e.g. LimitNOFILE= in systemd)"
        ),
        Ok(limit) => log::debug!("open-file limit: {limit}"),
        Err(e) => log::warn!("cannot raise the open-file limit: {e}"),
    }
}

/// `--check-config`: validates every setting and loads and initialises every app (then shuts
/// them down). Returns what was checked, or every problem found.
pub fn check_config(cli: &Cli) -> Result<Vec<String>, String> {
    let plan = plan(cli, false)?;
    for bind in cli.binds() {
        crate::serve::listen::parse_listen(&bind)?;
    }
    cli.unix_mode()?;
    let apps = Arc::new(start_apps(cli, &plan.mounts, false)?);
    let mut report: Vec<String> = plan
        .mounts
        .iter()
        .map(|m| {
            let at = if m.prefix.is_empty() { "/" } else { &m.prefix };
            match &m.library {
                Some(path) => format!("app at {at}: {} loads and initialises", path.display()),
                None => format!("app at {at}: the built-in welcome app"),
            }
        })
        .collect();
    report.push(format!("listeners: {}", cli.binds().join(", ")));
    if apps.shutdown().is_err() {
        log::warn!("apps not shut down");
    }
    Ok(report)
}

/// Prints where the server listens, once it is ready to serve (scripts and tests wait for it).
pub(crate) fn announce(urls: &[String]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for url in urls {
        let _ = writeln!(stdout, "Listening on {url} (Ctrl+C to quit)");
    }
    let _ = stdout.flush();
}

/// A number in `0..bound`, random enough to spread worker recycling.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish() % bound.max(1)
}
