//! Who serves: the policy of `--user`, `--group` and `--allow-root`.
//!
//! A gateway started as root binds its listeners as root (so it can take port 80), then every
//! process that loads an app gives up root before loading it: each supervised worker, or the
//! single process of `--workers 0`. The supervisor stays root: it never loads an app nor reads a
//! request, and it keeps what it holds as root (the pid file, the unix socket files it removes at
//! exit). Serving an app library as root is refused unless `--allow-root` says so, as the
//! library runs with its worker's privileges (the built-in welcome app alone is not refused).
//!
//! This module decides; the system calls are `os::privileges`'. It never drops anything before
//! the listeners are bound, nor lets a process serve when a drop it was asked for failed.

use crate::os::privileges::{self, Identity};
use crate::settings::cli::Cli;

/// What a process that loads apps must do about its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Serve as it is.
    Stay,
    /// Give up root for this identity, after binding and before loading any app.
    DropTo(Identity),
}

/// The message of a refusal to serve as root.
const ROOT_REFUSAL: &str = "refusing to serve as root: an app library would run with root's privileges; \
     pass --user (and --group) to drop them once the listeners are bound, or --allow-root to serve as root anyway";

/// Decides from the settings and this process's identity. Refuses root without `--user` or
/// `--allow-root`, `--user` without root (unless it names the current user), and unknown names.
pub fn plan(cli: &Cli) -> Result<Plan, String> {
    decide(cli, privileges::effective_uid(), privileges::effective_gid())
}

fn decide(cli: &Cli, uid: u32, gid: u32) -> Result<Plan, String> {
    let Some(user) = &cli.user else {
        if uid == 0 && !cli.allow_root && loads_an_app_library(cli) {
            return Err(ROOT_REFUSAL.to_owned());
        }
        return Ok(Plan::Stay);
    };
    let mut identity = privileges::lookup_user(user)
        .map_err(|e| format!("--user {user}: cannot look it up: {e}"))?
        .ok_or_else(|| format!("--user {user}: no such user"))?;
    if let Some(group) = &cli.group {
        identity.gid = privileges::lookup_group(group)
            .map_err(|e| format!("--group {group}: cannot look it up: {e}"))?
            .ok_or_else(|| format!("--group {group}: no such group"))?;
    }
    if identity.uid == 0 && !cli.allow_root {
        return Err(format!("--user {user} is root; {ROOT_REFUSAL}"));
    }
    if uid == 0 {
        return Ok(Plan::DropTo(identity));
    }
    if identity.uid == uid && identity.gid == gid {
        // Already that user (e.g. started by a service manager as it): nothing to drop.
        return Ok(Plan::Stay);
    }
    Err(format!(
        "--user {user}: changing the user needs the gateway to be started as root (it runs as {})",
        privileges::user_name(uid)
    ))
}

/// True when the gateway will load an app library. The built-in welcome app alone is code of
/// the gateway's own, so serving it as root (say, `cargo run` in a root shell) is not refused.
fn loads_an_app_library(cli: &Cli) -> bool {
    cli.app.is_some() || !cli.mount.is_empty()
}

/// Carries out `plan` in this process (call it after binding and before loading any app).
pub fn enter(plan: &Plan) -> Result<(), String> {
    match plan {
        Plan::Stay => Ok(()),
        Plan::DropTo(identity) => {
            privileges::drop_to(identity).map_err(|e| {
                format!(
                    "cannot drop root for user {} (uid {}, gid {}): {e}",
                    privileges::user_name(identity.uid),
                    identity.uid,
                    identity.gid
                )
            })?;
            log::info!(
                "serving as user {} (uid {}, gid {})",
                privileges::user_name(identity.uid),
                identity.uid,
                identity.gid
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("nsgi-gateway").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn root_without_user_is_refused_unless_allowed() {
        for app in [&["libapp.so"][..], &["--mount", "/api=libapi.so"]] {
            let error = decide(&cli(app), 0, 0).expect_err("refused");
            assert!(error.contains("--user") && error.contains("--allow-root"), "{error}");
            let allowed: Vec<&str> = app.iter().copied().chain(["--allow-root"]).collect();
            assert_eq!(decide(&cli(&allowed), 0, 0), Ok(Plan::Stay));
            assert_eq!(decide(&cli(app), 1000, 1000), Ok(Plan::Stay));
        }
    }

    #[test]
    fn the_built_in_welcome_app_alone_may_be_served_as_root() {
        assert_eq!(decide(&cli(&[]), 0, 0), Ok(Plan::Stay));
    }

    #[test]
    fn root_with_user_drops_to_it() {
        assert_eq!(
            decide(&cli(&["--user", "0", "--group", "5", "--allow-root"]), 0, 0),
            Ok(Plan::DropTo(Identity { uid: 0, gid: 5 }))
        );
        let error = decide(&cli(&["--user", "root"]), 0, 0).expect_err("root is root");
        assert!(error.contains("--allow-root"), "{error}");
    }

    #[test]
    fn a_non_root_process_cannot_change_user() {
        let error = decide(&cli(&["--user", "root", "--allow-root"]), 1000, 1000).expect_err("not root");
        assert!(error.contains("started as root"), "{error}");
        assert_eq!(
            decide(&cli(&["--user", "0", "--allow-root"]), 0, 0),
            Ok(Plan::DropTo(Identity { uid: 0, gid: 0 }))
        );
    }

    #[test]
    fn unknown_names_are_named() {
        let error = decide(&cli(&["--user", "no-such-user-nsgi"]), 0, 0).expect_err("unknown");
        assert!(error.contains("--user no-such-user-nsgi: no such user"), "{error}");
        let error = decide(&cli(&["--user", "root", "--group", "no-such-group-nsgi"]), 0, 0).expect_err("unknown");
        assert!(error.contains("--group no-such-group-nsgi: no such group"), "{error}");
    }
}
