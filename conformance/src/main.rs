//! `nsgi-conformance`: check an NSGI app library against the NSGI v1 ABI and PEP 3333.
//!
//! Thin: parse the command line, run the battery in a worker thread while watching for an app
//! that hangs, print the human report, write the JSON and JUnit files, exit 0 (no error-level
//! finding), 1 (errors) or 2 (the library cannot be loaded).

use clap::Parser;
use nsgi_conformance::check::N9;
use nsgi_conformance::report::{EXIT_FAILED, EXIT_UNUSABLE};
use nsgi_conformance::{Finding, Report, RunError, RunOptions, Runner, Severity};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

/// How often the watchdog looks at the request in flight.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(200);

/// Check that an NSGI app library obeys the NSGI v1 ABI and PEP 3333.
///
/// Loads the library, drives the app through a battery of requests (no network: straight through
/// the host SDK) and reports every rule it breaks, by check id (C1..C104 from PEP 3333 and the
/// WSGI/Rack linters, N1.. for rules of the C ABI). Exit status: 0 when there is no error-level
/// finding, 1 when there are errors, 2 when the library cannot be loaded or initialised.
#[derive(Debug, Parser)]
#[command(name = "nsgi-conformance", version, about, long_about = None)]
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

    /// How many times the same request is repeated (check C90).
    #[arg(long, value_name = "N", default_value_t = 50)]
    repeat: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = RunOptions { repeat: cli.repeat.max(2), ..RunOptions::default() };
    let report = match Runner::load(&cli.library, &options) {
        Ok(runner) => run_watched(runner, &options, &cli),
        Err(error) => {
            eprintln!("nsgi-conformance: {error}");
            let mut report = Report::unusable(&cli.library, error.to_string());
            if let RunError::Init { app, .. } = &error {
                report.app = Some(app.as_ref().clone());
                report.entries =
                    Report::new(&cli.library, None, 0, &error.finding().into_iter().collect::<Vec<_>>(), false).entries;
            }
            report
        }
    };
    finish(&report, &cli)
}

/// Runs the battery in a worker thread; if one request takes longer than `--timeout`, reports
/// the app as hung (N9) with what was found so far.
fn run_watched(runner: Runner, options: &RunOptions, cli: &Cli) -> Report {
    let app = runner.info().clone();
    let validator = runner.validator().clone();
    let progress = runner.progress().clone();
    let (done_tx, done_rx) = mpsc::channel();
    let worker_options = options.clone();
    std::thread::spawn(move || {
        let outcome = runner.run(&worker_options);
        let _ = done_tx.send(outcome);
    });
    let timeout = Duration::from_secs(cli.timeout.max(1));
    loop {
        match done_rx.recv_timeout(WATCHDOG_PERIOD) {
            Ok(outcome) => {
                return Report::new(&cli.library, Some(outcome.app), outcome.requests, &outcome.findings, cli.strict);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let finding = Finding {
                    check: N9,
                    severity: Severity::Error,
                    message: "the battery stopped unexpectedly (a panic in the checker)".to_owned(),
                    request: None,
                };
                let mut findings = validator.findings();
                findings.push(finding);
                return Report::new(&cli.library, Some(app), validator.requests_seen(), &findings, cli.strict);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some((elapsed, label)) = progress.oldest()
                    && elapsed >= timeout
                {
                    let message = format!("the app did not answer {label} within {} s; giving up", timeout.as_secs());
                    let mut findings = validator.findings();
                    findings.push(Finding { check: N9, severity: Severity::Error, message, request: None });
                    let report = Report::new(&cli.library, Some(app), validator.requests_seen(), &findings, cli.strict);
                    // The app's thread is stuck in native code: finish from here and exit, which
                    // ends it with the process.
                    let status = finish(&report, cli);
                    let _ = std::io::stdout().flush();
                    std::process::exit(if status == ExitCode::SUCCESS { 0 } else { i32::from(EXIT_FAILED) });
                }
            }
        }
    }
}

/// Prints the human report, writes the machine reports, and picks the exit status.
fn finish(report: &Report, cli: &Cli) -> ExitCode {
    if report.load_error.is_none() {
        print!("{}", report.human());
    }
    let mut status = report.exit_status();
    if let Some(path) = &cli.json {
        let text = serde_json::to_string_pretty(&report.json()).unwrap_or_default() + "\n";
        if let Err(e) = write_file(path, &text) {
            eprintln!("nsgi-conformance: --json {}: {e}", path.display());
            status = status.max(EXIT_UNUSABLE);
        }
    }
    if let Some(path) = &cli.junit
        && let Err(e) = write_file(path, &report.junit())
    {
        eprintln!("nsgi-conformance: --junit {}: {e}", path.display());
        status = status.max(EXIT_UNUSABLE);
    }
    let _ = std::io::stdout().flush();
    ExitCode::from(status)
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}
