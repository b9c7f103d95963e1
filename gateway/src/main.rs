//! `nsgi-gateway`: load an NSGI app library and serve it over HTTP/1.1.
//!
//! Thin: parse the command line, load and initialise the app (inside the conformance Validator
//! with `--validate`), bind, run the event loop, shut the app down. Every failure before serving
//! is one line on stderr and exit status 1.

use clap::Parser;
use nsgi::host::{AppInstance, AppModule, InitOptions};
use nsgi_conformance::Validator;
use nsgi_gateway::cli::Cli;
use nsgi_gateway::respond::Responder;
use nsgi_gateway::server::Server;
use nsgi_gateway::welcome;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nsgi-gateway: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let options = cli.server_options()?;
    let addr = cli.bind_addr()?;
    let module = match &cli.app {
        Some(path) => AppModule::load(path).map_err(|e| e.to_string())?,
        None => AppModule::from_static(welcome::descriptor(), "built-in welcome app").map_err(|e| e.to_string())?,
    };
    let config = match &cli.app_config {
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

    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let server = Server::new(vec![listener], responder, options).map_err(|e| e.to_string())?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "Listening on http://{local} (Ctrl+C to quit)");
        let _ = stdout.flush();
    }
    let responder = server.run().map_err(|e| format!("event loop failed: {e}"))?;
    responder.into_app().shutdown();
    log::info!("stopped");
    Ok(())
}
