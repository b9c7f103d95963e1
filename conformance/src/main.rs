//! `nsgi-conformance`: check an NSGI app library against the NSGI v1 ABI and PEP 3333.
//!
//! Thin: parse the command line, run the battery in a worker process (this same executable with
//! a hidden flag) so that an app that crashes or hangs is reported rather than fatal, print the
//! human report, write the JSON and JUnit files, and exit 0 (no error-level finding), 1 (errors)
//! or 2 (the library cannot be loaded or initialised).

use clap::Parser;
use nsgi_conformance::isolate::{self, Supervised, WORKER_FLAG};
use nsgi_conformance::report::EXIT_UNUSABLE;
use nsgi_conformance::{Report, RunOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Check that an NSGI app library obeys the NSGI v1 ABI and PEP 3333.
///
/// Loads the library, drives the app through a battery of requests (no network: straight through
/// the host SDK, in a worker process) and reports every rule it breaks, by check id (C1..C104
/// from PEP 3333 and the WSGI/Rack linters, N1.. for rules of the C ABI; see
/// docs/conformance.md). Exit status: 0 when there is no error-level finding, 1 when there are
/// errors, 2 when the library cannot be loaded or initialised.
#[derive(Debug, Parser)]
#[command(name = "nsgi-conformance", version)]
struct Cli {
    /// The app: a shared library exporting `nsgi_app_entry_v1` (e.g. target/debug/libhello.so).
    #[arg(value_name = "APP_LIBRARY")]
    library: PathBuf,

    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also write the report as JUnit XML to FILE (one test case per check).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,

    /// Seconds one request may take before the app is declared hung (check N9).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,

    /// A file whose contents (JSON by convention) are handed to the app's init as its config, as
    /// the gateway's --app-config does: for apps that need one (a templates directory, a
    /// document root).
    #[arg(long, value_name = "FILE")]
    app_config: Option<PathBuf>,

    /// How many times the same request is repeated (check C90).
    #[arg(long, value_name = "N", default_value_t = 50)]
    repeat: usize,

    /// Run the battery in this process (the worker side of the default isolation).
    #[arg(long = "internal-worker", hide = true)]
    internal_worker: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let app_config = match &cli.app_config {
        Some(path) => match std::fs::read(path) {
            Ok(config) => config,
            Err(e) => {
                let reason = format!("--app-config {}: {e}", path.display());
                eprintln!("nsgi-conformance: {reason}");
                return finish(&Report::unusable(&cli.library, reason), &cli);
            }
        },
        None => Vec::new(),
    };
    let options = RunOptions {
        repeat: cli.repeat.max(2),
        app_config,
        ..RunOptions::default()
    };
    if cli.internal_worker {
        let status = isolate::worker_main(&cli.library, &options);
        let _ = std::io::stdout().flush();
        return ExitCode::from(u8::try_from(status).unwrap_or(EXIT_UNUSABLE));
    }
    let report = match supervised(&cli) {
        Ok(Supervised::Ran(outcome)) => Report::new(
            &cli.library,
            Some(outcome.app),
            outcome.requests,
            &outcome.findings,
            cli.strict,
        ),
        Ok(Supervised::Unusable { app, reason, finding }) => {
            eprintln!("nsgi-conformance: {reason}");
            let findings: Vec<_> = finding.into_iter().collect();
            let mut report = Report::new(&cli.library, app, 0, &findings, cli.strict);
            report.load_error = Some(reason);
            report
        }
        Err(error) => {
            let reason = format!("cannot start the checker's worker process: {error}");
            eprintln!("nsgi-conformance: {reason}");
            Report::unusable(&cli.library, reason)
        }
    };
    finish(&report, &cli)
}

/// Runs the battery in a worker: this executable again, with the hidden worker flag.
fn supervised(cli: &Cli) -> std::io::Result<Supervised> {
    let exe = std::env::current_exe()?;
    let mut worker = Command::new(exe);
    worker.arg(WORKER_FLAG).arg("--repeat").arg(cli.repeat.to_string());
    if let Some(config) = &cli.app_config {
        worker.arg("--app-config").arg(config);
    }
    worker.arg(&cli.library);
    isolate::supervise(&mut worker, &cli.library, Duration::from_secs(cli.timeout.max(1)))
}

/// Prints the human report, writes the machine reports, and picks the exit status.
fn finish(report: &Report, cli: &Cli) -> ExitCode {
    if report.load_error.is_none() {
        print!("{}", report.human());
    }
    let mut status = report.exit_status();
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report.json()).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("nsgi-conformance: --json {}: {e}", path.display());
            status = status.max(EXIT_UNUSABLE);
        }
    }
    if let Some(path) = &cli.junit
        && let Err(e) = std::fs::write(path, report.junit())
    {
        eprintln!("nsgi-conformance: --junit {}: {e}", path.display());
        status = status.max(EXIT_UNUSABLE);
    }
    let _ = std::io::stdout().flush();
    ExitCode::from(status)
}
