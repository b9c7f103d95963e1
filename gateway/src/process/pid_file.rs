//! The `--pid` file of the supervisor (or of the single process of `--workers 0`): written
//! atomically at start, removed at exit only if it still holds this process's id. It must never
//! remove another process's pid file.

use crate::os::process;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

/// The `--pid` file: written (atomically) when the supervisor (or the single process of
/// `--workers 0`) starts, removed when it exits if it still holds this process's id.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    pub(crate) fn create(path: &Path) -> Result<PidFile, String> {
        let name = path
            .file_name()
            .ok_or_else(|| format!("--pid {}: not a file path", path.display()))?;
        let mut partial_name = OsString::from(".");
        partial_name.push(name);
        partial_name.push(format!(".{}.tmp", process::pid()));
        let partial = path.with_file_name(partial_name);
        let written =
            std::fs::write(&partial, format!("{}\n", process::pid())).and_then(|()| std::fs::rename(&partial, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&partial);
            return Err(format!("--pid {}: cannot write the pid file: {e}", path.display()));
        }
        Ok(PidFile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours = process::pid().to_string();
        match std::fs::read_to_string(&self.path) {
            Ok(content) if content.trim() == ours => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("cannot remove the pid file {}: {e}", self.path.display());
                }
            }
            Ok(_) => log::warn!(
                "not removing the pid file {}: it no longer holds pid {ours}",
                self.path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot read the pid file {}: {e}", self.path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_is_written_and_removed_only_while_ours() {
        let dir = std::env::temp_dir().join(format!("nsgi-pid-test-{}", process::pid()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("gateway.pid");
        let file = PidFile::create(&path).expect("create");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{}\n", process::pid())
        );
        drop(file);
        assert!(!path.exists(), "removed on drop");

        let file = PidFile::create(&path).expect("create");
        std::fs::write(&path, "1\n").expect("overwrite");
        drop(file);
        assert!(path.exists(), "another process's pid file is left alone");
        std::fs::remove_file(&path).expect("clean up");

        let error = PidFile::create(&dir.join("missing-dir/x.pid")).expect_err("no such directory");
        assert!(error.contains("--pid") && error.contains("missing-dir"), "{error}");
        let _ = std::fs::remove_dir(&dir);
    }
}
