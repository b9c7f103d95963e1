//! `--reload`: notices that an app library or an app config file changed on disk, so that the
//! supervisor reloads (the same graceful reload as SIGHUP).
//!
//! Owns the list of watched files (every mounted library and every `--app-config` or mount
//! CONFIG file), their signatures (device, inode, size, modification time, as `stat` sees them
//! through symlinks), and the settle rule: a change counts once no watched file has changed for
//! [`SETTLE`], so a library being written in several steps (a linker's writes, cargo's
//! remove-then-link, a copy followed by a rename) causes one reload, of the finished file. A file
//! that is missing (between cargo's remove and link, or after `cargo clean`) never causes a
//! reload: its return does.
//!
//! It polls: the supervisor's loop calls [`ReloadWatch::check`] when [`ReloadWatch::next_check`]
//! comes, every [`POLL_INTERVAL`]. Polling a few files with `stat` costs next to nothing, needs
//! no thread, no crate and no `unsafe`, follows symlinks and replaced directories (`cargo clean`
//! removes `target/` itself, which an inotify watch would not survive), and works on every file
//! system, including those that send no change events (network and container mounts).
//!
//! It never reads a file's contents, never loads a library, never signals anyone and never
//! sleeps: deciding that a change settled is all it does; the supervisor reloads.

use crate::settings::mounts::MountSpec;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often the watched files are looked at.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long every watched file must stay unchanged before a change counts.
pub(crate) const SETTLE: Duration = Duration::from_millis(250);

/// What `stat` says of a file: enough to tell a rewritten or replaced file from the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signature {
    /// No file there (or one that cannot be looked at).
    Missing,
    Present {
        device: u64,
        inode: u64,
        size: u64,
        modified_secs: i64,
        modified_nanos: i64,
    },
}

impl Signature {
    fn of(path: &Path) -> Signature {
        match std::fs::metadata(path) {
            Ok(meta) => Signature::Present {
                device: meta.dev(),
                inode: meta.ino(),
                size: meta.size(),
                modified_secs: meta.mtime(),
                modified_nanos: meta.mtime_nsec(),
            },
            Err(_) => Signature::Missing,
        }
    }
}

/// One watched file.
#[derive(Debug)]
struct WatchedFile {
    path: PathBuf,
    /// "app library" or "app config file", for the log.
    kind: &'static str,
    /// The file the serving workers were started from (as far as the watch knows): the
    /// signature when the watch began or at the last reload it asked for.
    loaded: Signature,
    /// The signature at the last look, and since when it has been so.
    seen: Signature,
    seen_since: Instant,
    /// Its absence was logged (once per absence).
    missing_logged: bool,
}

/// The watched files of one gateway.
#[derive(Debug)]
pub(crate) struct ReloadWatch {
    files: Vec<WatchedFile>,
    next_check: Instant,
}

impl ReloadWatch {
    /// Watches every library and config file of `mounts` (the built-in welcome app has none),
    /// taking their signatures now as those of the files being served.
    pub(crate) fn of_mounts(mounts: &[MountSpec], now: Instant) -> ReloadWatch {
        let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
        for mount in mounts {
            let library = mount.library.iter().map(|path| (path, "app library"));
            let config = mount.config_file.iter().map(|path| (path, "app config file"));
            for (path, kind) in library.chain(config) {
                if !files.iter().any(|(known, _)| known == path) {
                    files.push((path.clone(), kind));
                }
            }
        }
        ReloadWatch::new(files, now)
    }

    fn new(files: Vec<(PathBuf, &'static str)>, now: Instant) -> ReloadWatch {
        let files = files
            .into_iter()
            .map(|(path, kind)| {
                let signature = Signature::of(&path);
                WatchedFile {
                    path,
                    kind,
                    loaded: signature,
                    seen: signature,
                    seen_since: now,
                    missing_logged: false,
                }
            })
            .collect();
        ReloadWatch {
            files,
            next_check: now + POLL_INTERVAL,
        }
    }

    /// The watched paths, in mount order.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|file| file.path.as_path())
    }

    /// When [`Self::check`] next has something to do.
    pub(crate) fn next_check(&self) -> Instant {
        self.next_check
    }

    /// Looks at the files when due. Returns, once every file has been unchanged for [`SETTLE`],
    /// a description of each one that differs from what is served ("app library
    /// target/debug/libapp.so changed"), and takes those as served from then on; an empty list
    /// when there is nothing to reload (yet).
    pub(crate) fn check(&mut self, now: Instant) -> Vec<String> {
        if now < self.next_check {
            return Vec::new();
        }
        self.next_check = now + POLL_INTERVAL;
        for file in &mut self.files {
            let signature = Signature::of(&file.path);
            if signature != file.seen {
                file.seen = signature;
                file.seen_since = now;
            }
        }
        if self
            .files
            .iter()
            .any(|file| now.duration_since(file.seen_since) < SETTLE)
        {
            return Vec::new(); // something is still being written
        }
        let mut changed = Vec::new();
        for file in &mut self.files {
            match file.seen {
                Signature::Missing => {
                    if !file.missing_logged {
                        file.missing_logged = true;
                        log::warn!(
                            "--reload: {} {} is missing; the workers serve on, and a reload follows once it is back",
                            file.kind,
                            file.path.display()
                        );
                    }
                }
                present if present != file.loaded => {
                    file.loaded = present;
                    file.missing_logged = false;
                    changed.push(format!("{} {} changed", file.kind, file.path.display()));
                }
                _ => file.missing_logged = false,
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(test: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("nsgi-reload-watch-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create the test directory");
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mount(library: &Path, config: Option<&Path>) -> MountSpec {
        MountSpec {
            prefix: String::new(),
            library: Some(library.to_path_buf()),
            config_file: config.map(Path::to_path_buf),
        }
    }

    /// Checks at `start + at`.
    fn check_at(watch: &mut ReloadWatch, start: Instant, at: Duration) -> Vec<String> {
        watch.check(start + at)
    }

    #[test]
    fn a_change_counts_once_it_has_settled_and_only_once() {
        let dir = Dir::new("settle");
        let library = dir.0.join("libapp.so");
        std::fs::write(&library, "one").expect("write");
        let start = Instant::now();
        let mut watch = ReloadWatch::of_mounts(&[mount(&library, None)], start);
        assert!(check_at(&mut watch, start, POLL_INTERVAL).is_empty(), "nothing changed");

        std::fs::write(&library, "two, longer").expect("rewrite");
        let seen = POLL_INTERVAL * 2;
        assert!(
            check_at(&mut watch, start, seen).is_empty(),
            "just changed: not settled"
        );
        // Not due yet: nothing is looked at.
        assert!(check_at(&mut watch, start, seen + POLL_INTERVAL / 2).is_empty());
        let changed = check_at(&mut watch, start, seen + SETTLE.max(POLL_INTERVAL));
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert!(
            changed[0].contains("app library") && changed[0].contains("libapp.so"),
            "{changed:?}"
        );
        assert!(
            check_at(&mut watch, start, seen + SETTLE.max(POLL_INTERVAL) * 2).is_empty(),
            "reported once"
        );
    }

    #[test]
    fn a_file_still_being_written_holds_back_every_change() {
        let dir = Dir::new("writing");
        let library = dir.0.join("libapp.so");
        let config = dir.0.join("app.json");
        std::fs::write(&library, "lib").expect("write");
        std::fs::write(&config, "{}").expect("write");
        let start = Instant::now();
        let mut watch = ReloadWatch::of_mounts(&[mount(&library, Some(&config))], start);
        assert_eq!(watch.paths().count(), 2);

        std::fs::write(&config, "{\"a\": 1}").expect("rewrite the config");
        let mut at = POLL_INTERVAL;
        assert!(check_at(&mut watch, start, at).is_empty());
        // The library changes at every look: nothing counts while it does.
        for round in 0..4 {
            std::fs::write(&library, "x".repeat(10 + round)).expect("write more");
            at += POLL_INTERVAL;
            assert!(check_at(&mut watch, start, at).is_empty(), "round {round}");
        }
        at += SETTLE.max(POLL_INTERVAL);
        let changed = check_at(&mut watch, start, at);
        assert_eq!(changed.len(), 2, "both, in one reload: {changed:?}");
        assert!(changed[1].contains("app config file"), "{changed:?}");
    }

    #[test]
    fn a_replaced_file_counts_and_a_missing_one_waits_for_its_return() {
        let dir = Dir::new("replace");
        let library = dir.0.join("libapp.so");
        std::fs::write(&library, "same").expect("write");
        let start = Instant::now();
        let mut watch = ReloadWatch::of_mounts(&[mount(&library, None)], start);

        // Written before the original goes, so that it cannot reuse the original's inode.
        let partial = dir.0.join("libapp.so.partial");
        std::fs::write(&partial, "same").expect("write");
        std::fs::remove_file(&library).expect("remove");
        let mut at = Duration::ZERO;
        for _ in 0..4 {
            at += POLL_INTERVAL.max(SETTLE);
            assert!(
                check_at(&mut watch, start, at).is_empty(),
                "a missing file reloads nothing"
            );
        }
        // Same size and contents, a new inode (the way cargo links a library into place).
        std::fs::rename(&partial, &library).expect("rename");
        at += POLL_INTERVAL;
        assert!(check_at(&mut watch, start, at).is_empty(), "not settled yet");
        at += POLL_INTERVAL.max(SETTLE);
        assert_eq!(check_at(&mut watch, start, at).len(), 1);
    }

    #[test]
    fn each_file_is_watched_once_and_the_welcome_app_has_none() {
        let shared = Path::new("shared.json");
        let mounts = [
            mount(Path::new("a.so"), Some(shared)),
            MountSpec {
                prefix: "/b".to_owned(),
                library: Some(PathBuf::from("b.so")),
                config_file: Some(shared.to_path_buf()),
            },
            MountSpec {
                prefix: "/w".to_owned(),
                library: None,
                config_file: None,
            },
        ];
        let watch = ReloadWatch::of_mounts(&mounts, Instant::now());
        let paths: Vec<&Path> = watch.paths().collect();
        assert_eq!(paths, [Path::new("a.so"), shared, Path::new("b.so")]);
    }
}
