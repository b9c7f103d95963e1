//! `nsgi-gateway`: serve NSGI app libraries over HTTP/1.1.
//!
//! Decides this process's role and hands over: a worker started by the supervisor, a single
//! serving process (`--workers 0`), or the supervisor. Every failure before serving is one line
//! on stderr and exit status 1.

use clap::Parser;
use nsgi_gateway::cli::Cli;
use nsgi_gateway::worker_link::WorkerLink;
use nsgi_gateway::{listen, worker};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(cli.log_level.as_str())).init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nsgi-gateway: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    if let Some(link) = WorkerLink::from_env()? {
        let listeners = listen::inherit(link.listener_fds())?;
        return worker::serve(cli, listeners, Some(link));
    }
    let listeners = listen::open(&cli.binds(), cli.unix_mode()?, cli.backlog)?;
    worker::serve(cli, listeners, None)
}
