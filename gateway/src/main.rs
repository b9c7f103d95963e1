//! `nsgi-gateway`: serve NSGI app libraries over HTTP/1.1.
//!
//! Decides this process's role and hands over: a worker started by the supervisor (the
//! `NSGI_WORKER` link in its environment), a single serving process (`--workers 0`), or the
//! supervisor, which binds the listeners and starts the workers. A process that loads apps gives
//! up root first (`--user`, see `privilege.rs`). Every failure before serving is one line on
//! stderr and exit status 1.

use nsgi_gateway::Cli;
use nsgi_gateway::WorkerLink;
use nsgi_gateway::config;
use nsgi_gateway::listen;
use nsgi_gateway::{privilege, supervisor, worker};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The settings: the command line over the `--config` file. A worker is started with its
    // supervisor's arguments, so it reads the same flags and the same file.
    let cli = match config::parse_args(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    init_logging(&cli);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nsgi-gateway: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The error log on stderr, each line tagged with the pid of the process that wrote it, since the
/// supervisor and every worker share it: `[2025-01-01T00:00:00Z INFO  1234 nsgi_gateway::serve::server] ...`.
fn init_logging(cli: &Cli) {
    use std::io::Write;
    let pid = std::process::id();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(cli.log_level.as_str()))
        .format(move |buf, record| {
            let style = buf.default_level_style(record.level());
            writeln!(
                buf,
                "[{} {style}{:<5}{style:#} {pid} {}] {}",
                buf.timestamp(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .init();
}

fn run(cli: &Cli) -> Result<(), String> {
    // First, while the process has one thread: a worker takes its link (and clears it from the
    // environment before any app could read it).
    if let Some(link) = WorkerLink::from_env()? {
        let (fds, protocols): (Vec<_>, Vec<_>) = link.listener_fds().iter().copied().unzip();
        let listeners = listen::inherit(&fds)?
            .into_iter()
            .zip(protocols)
            .map(|(listener, protocol)| listener.with_protocol(protocol))
            .collect();
        // Root is given up before any app is loaded (see privilege.rs).
        privilege::enter(&privilege::plan(cli)?)?;
        return worker::serve(cli, listeners, link);
    }
    if cli.check_config {
        if cli.user.is_some() {
            privilege::plan(cli)?;
        }
        // Binds nothing: prints what was checked, or fails with the reasons.
        for line in worker::check_config(cli)? {
            println!("{line}");
        }
        println!("nsgi-gateway: the configuration is valid");
        return Ok(());
    }
    // Decided before binding, so that a refusal binds nothing; carried out after it.
    let privilege = privilege::plan(cli)?;
    let listeners = listen::open(&cli.binds(), cli.unix_mode()?, cli.backlog)?;
    if cli.worker_count() == 0 {
        return worker::serve_alone(cli, listeners, &privilege);
    }
    supervisor::run(cli, listeners)
}
