//! One serving process: load and initialise the apps, run the event loop over the listeners,
//! shut the apps down. Used by each supervised worker and by `--workers 0`.

use crate::cli::Cli;
use crate::listen::Listener;
use crate::respond::Responder;
use crate::server::Server;
use crate::welcome;
use crate::worker_link::WorkerLink;
use nsgi::host::{AppInstance, AppModule, InitOptions};
use nsgi_conformance::Validator;
use std::sync::Arc;

/// Serves `listeners` until stopped. `link` is the supervisor link of a supervised worker.
pub fn serve(cli: &Cli, listeners: Vec<Listener>, link: Option<WorkerLink>) -> Result<(), String> {
    let options = cli.server_options()?;
    let mounts = cli.mounts()?;
    let root = mounts.first().ok_or("no app to serve")?;
    let module = match &root.library {
        Some(path) => AppModule::load(path).map_err(|e| e.to_string())?,
        None => AppModule::from_static(welcome::descriptor(), "built-in welcome app").map_err(|e| e.to_string())?,
    };
    let config = match &root.config_file {
        Some(path) => std::fs::read(path).map_err(|e| format!("--app-config {}: {e}", path.display()))?,
        None => Vec::new(),
    };
    let init = InitOptions {
        mount_name: module.name(),
        config,
        ..InitOptions::default()
    };
    let responder = if cli.validate {
        let validator = Arc::new(Validator::new());
        let app = AppInstance::init_observed(&module, &init, validator.clone()).map_err(|e| e.to_string())?;
        log::info!(
            "validating app {:?}: NSGI rule breaches are logged with their check ids",
            module.name()
        );
        Responder::with_validator(app, validator)
    } else {
        Responder::new(AppInstance::init(&module, &init).map_err(|e| e.to_string())?)
    };
    log::info!(
        "serving app {:?} ({}) from {}",
        module.name(),
        module.sdk_info(),
        module.origin().display()
    );
    let urls: Vec<String> = listeners.iter().map(Listener::url).collect();
    let tcp = listeners
        .into_iter()
        .filter_map(|l| match l {
            Listener::Tcp(t) => Some(t),
            Listener::Unix { .. } => None,
        })
        .collect();
    let server = Server::new(tcp, responder, options).map_err(|e| e.to_string())?;
    match link {
        Some(mut link) => link.ready(),
        None => announce(&urls),
    }
    let responder = server.run().map_err(|e| format!("event loop failed: {e}"))?;
    responder.into_app().shutdown();
    log::info!("stopped");
    Ok(())
}

/// Prints where the server listens, once it is ready to serve (scripts and tests wait for it).
pub fn announce(urls: &[String]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for url in urls {
        let _ = writeln!(stdout, "Listening on {url} (Ctrl+C to quit)");
    }
    let _ = stdout.flush();
}
