//! Request bodies being received: held in memory up to a threshold, spilled to an unlinked
//! temporary file beyond it, so a large upload costs disk rather than memory and the app reads
//! it at disk speed, never waiting on the client.
//!
//! A spill file never has a name: it is created with `O_TMPFILE` (through the `tempfile` crate,
//! which on file systems without it creates a file of random name and unlinks it at once), its
//! mode is 0600 before any byte is written, and it vanishes when the request ends, even if the
//! process is killed. This module must never give a spill file a predictable name,
//! nor keep one past its request.

use crate::settings::serving::SpillPolicy;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

/// A request body: bytes in memory, or (once larger than the policy's limit) an unlinked file.
#[derive(Debug, Default)]
pub(crate) struct BodyBuf {
    mem: Vec<u8>,
    file: Option<File>,
    /// Bytes already in the file.
    file_len: u64,
}

impl BodyBuf {
    /// An empty body.
    pub(crate) fn new() -> BodyBuf {
        BodyBuf::default()
    }

    /// Empties the body, keeping the memory buffer for reuse (up to a sensible size).
    pub(crate) fn clear(&mut self) {
        self.mem.clear();
        if self.mem.capacity() > 256 * 1024 {
            self.mem = Vec::new();
        }
        self.file = None;
        self.file_len = 0;
    }

    /// Total body bytes held.
    pub(crate) fn len(&self) -> u64 {
        self.file_len + self.mem.len() as u64
    }

    /// True when no byte is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the body went to a file.
    #[cfg(test)]
    pub(crate) fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// The memory buffer, for decoders that append to a `Vec` (call [`BodyBuf::settle`] after).
    pub(crate) fn mem_mut(&mut self) -> &mut Vec<u8> {
        &mut self.mem
    }

    /// Appends bytes, spilling to disk when the body outgrows the policy's memory limit (the
    /// connection appends through a decoder and [`BodyBuf::settle`]).
    #[cfg(test)]
    pub(crate) fn append(&mut self, data: &[u8], policy: &SpillPolicy) -> io::Result<()> {
        self.mem.extend_from_slice(data);
        self.settle(policy)
    }

    /// Moves memory bytes to the file once past the limit (or when already spilled and the
    /// memory part has grown to a write-worthy size).
    pub(crate) fn settle(&mut self, policy: &SpillPolicy) -> io::Result<()> {
        let over = self.len() > policy.memory_limit;
        if over && self.file.is_none() {
            self.file = Some(create_unlinked(&policy.dir)?);
        }
        if let Some(file) = &mut self.file
            && (self.mem.len() >= 64 * 1024 || over && self.file_len == 0)
        {
            file.write_all(&self.mem)?;
            self.file_len += self.mem.len() as u64;
            self.mem.clear();
        }
        Ok(())
    }

    /// Finishes receiving: flushes the memory tail to the file when spilled and rewinds it.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.write_all(&self.mem)?;
            self.file_len += self.mem.len() as u64;
            self.mem.clear();
            file.seek(SeekFrom::Start(0))?;
        }
        Ok(())
    }

    /// A reader over the finished body (see [`BodyBuf::finish`]).
    pub(crate) fn reader(&mut self) -> BodyReader<'_> {
        match &mut self.file {
            Some(file) => BodyReader::File(BufReader::with_capacity(64 * 1024, file)),
            None => BodyReader::Memory(&self.mem),
        }
    }
}

/// Reads a finished [`BodyBuf`].
pub(crate) enum BodyReader<'a> {
    /// From memory.
    Memory(&'a [u8]),
    /// From the spill file.
    File(BufReader<&'a mut File>),
}

impl io::Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BodyReader::Memory(bytes) => bytes.read(buf),
            BodyReader::File(file) => file.read(buf),
        }
    }
}

impl BufRead for BodyReader<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            BodyReader::Memory(bytes) => Ok(bytes),
            BodyReader::File(file) => file.fill_buf(),
        }
    }

    fn consume(&mut self, amount: usize) {
        match self {
            BodyReader::Memory(bytes) => *bytes = &bytes[amount.min(bytes.len())..],
            BodyReader::File(file) => file.consume(amount),
        }
    }
}

/// Creates a file in `dir` that only this process can reach and that no name points to.
fn create_unlinked(dir: &Path) -> io::Result<File> {
    let in_dir = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot create a spill file in {}: {e}", dir.display()),
        )
    };
    let file = tempfile::tempfile_in(dir).map_err(in_dir)?;
    // `O_TMPFILE` files get the default mode (0666 less the umask), and a nameless file can
    // still be given a name (linkat): make it the owner's alone before any byte goes in.
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(in_dir)?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn policy(limit: u64) -> SpillPolicy {
        SpillPolicy {
            memory_limit: limit,
            dir: std::env::temp_dir(),
        }
    }

    fn read_all(body: &mut BodyBuf) -> Vec<u8> {
        let mut all = Vec::new();
        body.reader().read_to_end(&mut all).expect("read");
        all
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let mut body = BodyBuf::new();
        body.append(b"hello ", &policy(100)).expect("append");
        body.append(b"world", &policy(100)).expect("append");
        body.finish().expect("finish");
        assert!(!body.is_spilled());
        assert_eq!(body.len(), 11);
        assert_eq!(read_all(&mut body), b"hello world");
    }

    #[test]
    fn large_bodies_spill_to_an_unlinked_file_and_read_back_whole() {
        let dir = std::env::temp_dir().join(format!("nsgi-spill-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a spill dir of its own");
        let policy = SpillPolicy {
            memory_limit: 1000,
            dir: dir.clone(),
        };
        let mut body = BodyBuf::new();
        let mut expected = Vec::new();
        for i in 0..300u32 {
            let piece = format!("{i:05}-abcdefghij;");
            expected.extend_from_slice(piece.as_bytes());
            body.append(piece.as_bytes(), &policy).expect("append");
        }
        assert!(body.is_spilled());
        body.finish().expect("finish");
        assert_eq!(body.len(), expected.len() as u64);
        assert_eq!(read_all(&mut body), expected);
        assert_eq!(
            std::fs::read_dir(&policy.dir).expect("list").count(),
            0,
            "a spill file has no name in its directory"
        );
        {
            use std::os::unix::fs::PermissionsExt;
            let file = body.file.as_ref().expect("spilled");
            let mode = file.metadata().expect("fstat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the owner's alone");
        }
        body.clear();
        assert!(body.is_empty() && !body.is_spilled());
        std::fs::remove_dir(&dir).expect("the spill dir is empty");
    }

    #[test]
    fn an_unusable_spill_dir_is_an_error_naming_it() {
        let policy = SpillPolicy {
            memory_limit: 1,
            dir: std::path::PathBuf::from("/nonexistent/spill"),
        };
        let error = BodyBuf::new().append(b"xyz", &policy).expect_err("no such dir");
        assert!(error.to_string().contains("/nonexistent/spill"), "{error}");
    }
}
