//! File bodies: PEP 3333's `wsgi.file_wrapper`, through the host's `file_body` when it has one.
//!
//! This module owns [`Request::file_body`], [`Request::file_range_body`] and
//! [`Request::owned_file_range_body`], and the SDK's own
//! file source used when the host lacks `file_body`. With the host's, the body is the host's own
//! object, returned to it unchanged, so the host can send the file without the app copying a
//! byte (and with sendfile where it does that). Without it, the file is read in 64 KiB blocks
//! with positioned reads. Either way the body's length is known, so
//! [`StartResponse::respond`](super::StartResponse::respond) sets `Content-Length`. It never
//! moves the file's shared offset, and takes ownership of a descriptor only when it is given the
//! [`File`] itself.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;

use super::Error;
use super::body::{Body, Source};
use super::host::{FileFd, RawRequest};
use super::request::Request;

/// Size of one read of the SDK's fallback file body.
const FILE_BLOCK: usize = 64 * 1024;

impl<'req> Request<'req> {
    /// A body sending the whole of `file`, as long as it is now.
    ///
    /// ```no_run
    /// use std::fs::File;
    ///
    /// use nsgi::app::{Error, Request, Response, StartResponse};
    ///
    /// fn logo(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let file = match File::open("static/logo.png") {
    ///         Ok(file) => file,
    ///         Err(_) => return Ok(start.respond("404 Not Found", &[], "no logo\n")?),
    ///     };
    ///     let body = req.file_body(&file)?; // Content-Length: the file's size
    ///     Ok(start.respond("200 OK", &[("Content-Type", "image/png")], body)?)
    /// }
    /// # let _ = logo;
    /// ```
    ///
    /// The host duplicates the descriptor, so `file` may be dropped at once. A file that shrinks
    /// before it is sent ends the body short, and the host aborts the response (its
    /// `Content-Length` promised more).
    pub fn file_body(&self, file: &File) -> io::Result<Body> {
        let len = file.metadata()?.len();
        self.file_range_body(file, 0, len)
    }

    /// A body sending `len` bytes of `file` from `offset` (for `Range` requests). Refused with
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) when the range ends past the file's size.
    pub fn file_range_body(&self, file: &File, offset: u64, len: u64) -> io::Result<Body> {
        check_range(offset, len, file.metadata()?.len())?;
        if let Some(raw) = self.raw().file_body(FileFd::Borrowed(file.as_fd()), offset, len)? {
            // SAFETY: the host just made `raw` with `file_body` and hands it to us.
            return Ok(unsafe { Body::from_host(raw, Some(len)) });
        }
        Ok(file_blocks(file.try_clone()?, offset, len))
    }

    /// Like [`file_range_body`](Self::file_range_body), for a caller that has just read the
    /// file's size (`file_size`, from the metadata of this open file) and needs the file no
    /// more: the size is not read again, and the descriptor is handed to the host
    /// (`NSGI_FILE_TAKE_FD`) instead of duplicated, so the host neither duplicates nor closes a
    /// second one. A static-file server saves three system calls per file this way.
    ///
    /// ```no_run
    /// use std::fs::File;
    ///
    /// use nsgi::app::{Error, Request, Response, StartResponse};
    ///
    /// fn logo(req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
    ///     let file = File::open("static/logo.png")?;
    ///     let size = file.metadata()?.len(); // the app reads it anyway (ETag, Range)
    ///     let body = req.owned_file_range_body(file, size, 0, size)?;
    ///     Ok(start.respond("200 OK", &[("Content-Type", "image/png")], body)?)
    /// }
    /// # let _ = logo;
    /// ```
    ///
    /// A `file_size` larger than the file ends the body short, and the host aborts the response
    /// (its `Content-Length` promised more). A host that has `file_body` but refuses it with
    /// `NSGI_E_UNSUPPORTED` has already closed the descriptor (docs/abi.md §10): then this fails
    /// with [`Unsupported`](io::ErrorKind::Unsupported), where `file_range_body` falls back to
    /// reading the file itself.
    pub fn owned_file_range_body(&self, file: File, file_size: u64, offset: u64, len: u64) -> io::Result<Body> {
        check_range(offset, len, file_size)?;
        if !self.raw().has_file_body() {
            return Ok(file_blocks(file, offset, len));
        }
        match self.raw().file_body(FileFd::Owned(OwnedFd::from(file)), offset, len)? {
            // SAFETY: the host just made `raw` with `file_body` and hands it to us.
            Some(raw) => Ok(unsafe { Body::from_host(raw, Some(len)) }),
            None => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the host refused file_body (NSGI_E_UNSUPPORTED) and closed the descriptor",
            )),
        }
    }
}

/// Refuses a range that ends past `size` with [`InvalidInput`](io::ErrorKind::InvalidInput).
fn check_range(offset: u64, len: u64, size: u64) -> io::Result<()> {
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the range {offset}+{len} ends past the end of the file ({size} bytes)"),
        ));
    }
    Ok(())
}

/// The SDK's own body over `file`, for hosts without `file_body`.
fn file_blocks(file: File, offset: u64, len: u64) -> Body {
    let source = FileBlocks {
        file,
        offset,
        remaining: len,
        buf: Vec::new(),
    };
    Body::new(source).with_len(len)
}

/// The SDK's file body: positioned reads of a duplicated descriptor.
struct FileBlocks {
    file: File,
    offset: u64,
    remaining: u64,
    buf: Vec<u8>,
}

impl Source for FileBlocks {
    fn next_chunk(&mut self, _req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(self.remaining).map_or(FILE_BLOCK, |r| r.min(FILE_BLOCK));
        self.buf.resize(want, 0);
        let n = loop {
            match self.file.read_at(&mut self.buf[..want], self.offset) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(format!("the file ended {} bytes before the body's length", self.remaining).into());
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(Some(&self.buf[..n]))
    }
}
