//! Response bodies: PEP 3333's returned iterable, and its `close()`.
//!
//! This module owns [`Body`] and the `next`/`close` trampolines the host calls on it. A body is
//! one heap allocation: a `State<S>` holding the common bookkeeping and a source `S` (a static
//! slice, an owned buffer, an iterator, a reader), type-erased behind an `nsgi_body_vtable`
//! that is a constant per source type. Chunks are lent straight from the source, never copied;
//! each stays valid until the next `next` or `close`, as the ABI requires. Dropping the state is
//! `close()`. No panic leaves a trampoline: a panicking body is poisoned and never touched again.
//! A body the host made (`file_body`) is carried unchanged, so the host recognises its own vtable;
//! it is wrapped in an SDK body only when the app adds a close hook to it. A body also records
//! its length when it is known up front, for the helpers that set `Content-Length`.

use std::ffi::c_void;
use std::fmt;
use std::io::{self, Read};
use std::mem;
use std::ptr::{self, NonNull};

use super::Error;
use super::error::{self, HostError};
use super::host::{Host, Level, RawRequest};
use super::panic::catch;
use crate::sys::{self, nsgi_body, nsgi_body_vtable, nsgi_bytes, nsgi_request, nsgi_status};

/// Size of the blocks [`Body::from_reader`] reads.
const READER_BLOCK: usize = 64 * 1024;

/// A hook run when the host closes the body.
type CloseHook = Box<dyn FnOnce() + Send + 'static>;

/// A response body: PEP 3333's iterable of byte strings, with `close()`.
///
/// Build one from a static or owned buffer (one chunk, never copied), from an iterator of
/// chunks, from an iterator of `Result`s, or from a reader. The host pulls chunks one at a time
/// and calls `close()` exactly once when it is done, on every path (end of body, error, client
/// gone); [`on_close`](Self::on_close) lets the app observe it, and dropping the source is part
/// of it (so a file or a database cursor in an iterator is released then).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use nsgi::app::Body;
///
/// let closed = Arc::new(AtomicU64::new(0));
/// let counter = Arc::clone(&closed);
///
/// let _static = Body::from_static(b"Hello, World!");
/// let _owned = Body::from(format!("{} + {} = {}\n", 2, 2, 4));
/// let _chunks = Body::from_chunks((1..=3).map(|i| format!("line {i}\n")));
/// let _fallible = Body::from_results(vec![Ok::<_, std::io::Error>("ok\n")]);
/// let _read = Body::from_reader(std::io::Cursor::new(vec![0u8; 100_000]));
/// let observed = Body::from("bye\n").on_close(move || {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// drop(observed); // a body dropped without being sent is closed too
/// assert_eq!(closed.load(Ordering::Relaxed), 1);
/// ```
pub struct Body {
    repr: Repr,
    /// How many bytes the body yields, when known before it is sent.
    len: Option<u64>,
}

/// Who made the body.
enum Repr {
    /// The SDK: a `Box<State<S>>` for the `S` the vtable was made for; owned by this `Body`.
    Sdk {
        vtable: &'static nsgi_body_vtable,
        state: NonNull<Common>,
    },
    /// The host (`file_body`): owned by this `Body` until handed back or closed.
    Host(nsgi_body),
}

// SAFETY: a `Body` owns its state exclusively, and every source type and close hook it can hold
// is `Send` (enforced by `Source: Send` and `CloseHook`); the `host` pointer inside refers to a
// `Host`, which is `Sync`. A host-made body may be moved between threads by the ABI (§12: its
// `next` and `close` may run on another thread than `call`).
unsafe impl Send for Body {}

impl Body {
    /// An empty body (no chunks).
    pub fn empty() -> Body {
        Body::new(Once {
            bytes: &[] as &'static [u8],
            sent: true,
        })
        .with_len(0)
    }

    /// A body of one static chunk, lent to the host without copying.
    pub fn from_static(bytes: &'static [u8]) -> Body {
        Body::new(Once { bytes, sent: false }).with_len(bytes.len() as u64)
    }

    /// How many bytes the body yields, when that is known before it is sent: for a buffer (static
    /// or owned), an empty body and a file body; `None` for iterators and readers.
    /// [`StartResponse::respond`](super::StartResponse::respond) turns it into `Content-Length`.
    ///
    /// ```
    /// use nsgi::app::Body;
    ///
    /// assert_eq!(Body::from("hello").known_len(), Some(5));
    /// assert_eq!(Body::from(vec![0u8; 3]).known_len(), Some(3));
    /// assert_eq!(Body::from_chunks(["a", "b"]).known_len(), None);
    /// ```
    pub fn known_len(&self) -> Option<u64> {
        self.len
    }

    /// A body of the chunks `chunks` yields, lent to the host one at a time. Empty chunks are
    /// allowed (the host skips them).
    pub fn from_chunks<I>(chunks: I) -> Body
    where
        I: IntoIterator,
        I::IntoIter: Send + 'static,
        I::Item: AsRef<[u8]> + Send + 'static,
    {
        Body::new(Chunks {
            iter: chunks.into_iter(),
            current: None,
        })
    }

    /// A body of the chunks `results` yields, until the first `Err`: that error is logged
    /// through the host and the host aborts the response (the status and headers have usually
    /// been sent by then, so the client sees a truncated response).
    pub fn from_results<I, T, E>(results: I) -> Body
    where
        I: IntoIterator<Item = Result<T, E>>,
        I::IntoIter: Send + 'static,
        T: AsRef<[u8]> + Send + 'static,
        E: Into<Error>,
    {
        Body::new(Results {
            iter: results.into_iter(),
            current: None,
        })
    }

    /// A body read from `reader` in blocks of 64 KiB until it reports the end; a read error
    /// ends the response like an `Err` in [`from_results`](Self::from_results).
    pub fn from_reader<R: Read + Send + 'static>(reader: R) -> Body {
        Body::new(Reader {
            reader,
            buf: Vec::new(),
        })
    }

    /// Runs `hook` when the host closes the body (PEP 3333's `close()`), after the body's
    /// source has been dropped. Hooks added by several calls run in the order they were added.
    ///
    /// The hook runs exactly once, unless the body panicked earlier: a poisoned body is never
    /// touched again, and its hooks never run.
    pub fn on_close(self, hook: impl FnOnce() + Send + 'static) -> Body {
        let mut this = match self.repr {
            Repr::Sdk { .. } => self,
            Repr::Host(raw) => {
                let len = self.len;
                mem::forget(self);
                Body::new(RawBody { raw, closed: false }).with_len_option(len)
            }
        };
        let common = this.common_mut();
        common.on_close = Some(match common.on_close.take() {
            None => Box::new(hook),
            Some(earlier) => Box::new(move || {
                earlier();
                hook();
            }),
        });
        this
    }

    /// Hands the body over as a raw `nsgi_body` (to the host, or to the lazy body that produced
    /// it); from now on the new owner must `close` it. `host` must outlive that `close` (the ABI
    /// guarantees it: bodies close before `shutdown`).
    pub(crate) fn into_raw(mut self, host: &Host) -> nsgi_body {
        let raw = match self.repr {
            Repr::Sdk { vtable, state } => {
                self.common_mut().host = host;
                nsgi_body {
                    vtable,
                    state: state.as_ptr().cast(),
                }
            }
            Repr::Host(raw) => raw,
        };
        mem::forget(self);
        raw
    }

    /// Wraps a body the host made with `file_body`; `len` is how many bytes it yields.
    ///
    /// # Safety
    /// `raw` must be a body the host just returned from `file_body` (valid vtable with `next`
    /// and `close`, not closed), handed over to the new `Body`.
    pub(crate) unsafe fn from_host(raw: nsgi_body, len: Option<u64>) -> Body {
        Body {
            repr: Repr::Host(raw),
            len,
        }
    }

    pub(crate) fn with_len(self, len: u64) -> Body {
        self.with_len_option(Some(len))
    }

    fn with_len_option(mut self, len: Option<u64>) -> Body {
        self.len = len;
        self
    }

    pub(crate) fn new<S: Source>(source: S) -> Body {
        let state = Box::new(State {
            common: Common::default(),
            source,
        });
        let state = NonNull::from(Box::leak(state)).cast::<Common>();
        Body {
            repr: Repr::Sdk {
                vtable: vtable::<S>(),
                state,
            },
            len: None,
        }
    }

    /// The SDK body's bookkeeping. Only called on `Repr::Sdk` bodies.
    fn common_mut(&mut self) -> &mut Common {
        match &mut self.repr {
            // SAFETY: `state` points to a live `State<S>`, owned by `self` (so not aliased while
            // we hold `&mut self`), and `State` is `repr(C)` with `Common` first.
            Repr::Sdk { state, .. } => unsafe { state.as_mut() },
            Repr::Host(_) => unreachable!("common_mut is only called on SDK bodies"),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        // A body dropped before reaching the host is closed here, like the host would. No
        // request is involved any more, hence NULL.
        let (vtable, state) = match self.repr {
            Repr::Sdk { vtable, state } => (vtable as *const nsgi_body_vtable, state.as_ptr().cast()),
            Repr::Host(raw) => (raw.vtable, raw.state),
        };
        // SAFETY: `vtable` is the SDK's static vtable or the host's, valid until its body is
        // closed, which has not happened (`into_raw` forgets `self`, so this runs only for
        // bodies that never reached the host).
        if let Some(close) = unsafe { vtable.as_ref() }.and_then(|v| v.close) {
            // SAFETY: `state` is the live state this vtable was made for, owned by `self` and
            // not closed yet.
            unsafe { close(state, ptr::null_mut()) };
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body").finish_non_exhaustive()
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from_static(text.as_bytes())
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Body {
        Body::from_static(bytes)
    }
}

impl<const N: usize> From<&'static [u8; N]> for Body {
    fn from(bytes: &'static [u8; N]) -> Body {
        Body::from_static(bytes)
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(text.into_bytes())
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        let len = bytes.len() as u64;
        Body::new(Once { bytes, sent: false }).with_len(len)
    }
}

/// Where a body's chunks come from. A returned chunk must stay valid until the next call.
pub(crate) trait Source: Send + 'static {
    /// The next chunk, `None` at the end. `req` is the request the host passed to `next`, usable
    /// for the host's `[request]` functions during this call only (`None` when the host passed
    /// NULL). An error is logged as a body failure, unless it is [`AlreadyLogged`].
    fn next_chunk(&mut self, req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error>;

    /// Called once by `close` before the source is dropped; `req` is the request the host passed
    /// (NULL when the body is dropped without reaching the host).
    fn close(&mut self, _req: *mut nsgi_request) {}
}

/// The heap state behind an `nsgi_body`. `repr(C)` so that a pointer to it is also a pointer
/// to its `Common`, whatever `S` is.
#[repr(C)]
struct State<S> {
    common: Common,
    source: S,
}

/// Bookkeeping shared by every body.
struct Common {
    /// The app instance's host, set when the body is handed over (NULL before): for logging.
    host: *const Host,
    /// A panic was caught in this body: never call into it again.
    poisoned: bool,
    /// The source reported its end: keep answering `NSGI_DONE`.
    done: bool,
    on_close: Option<CloseHook>,
}

impl Default for Common {
    fn default() -> Common {
        Common {
            host: ptr::null(),
            poisoned: false,
            done: false,
            on_close: None,
        }
    }
}

impl Common {
    fn log(&self, req: *mut nsgi_request, msg: &str) {
        // SAFETY: `host` is NULL or points to the app instance's `Host`, which outlives every
        // body it handed over (see `Body::into_raw`).
        if let Some(host) = unsafe { self.host.as_ref() } {
            host.log_for(req, Level::Error, msg.as_bytes());
        }
    }
}

/// The vtable for bodies whose source is `S`: a constant, so it is `'static` and shared.
fn vtable<S: Source>() -> &'static nsgi_body_vtable {
    const {
        &nsgi_body_vtable {
            struct_size: sys::NSGI_BODY_VTABLE_V1_0_SIZE,
            next: Some(next_trampoline::<S>),
            close: Some(close_trampoline::<S>),
        }
    }
}

/// `next`: lends the source's next chunk to the host.
///
/// # Safety
/// `state` must be a live `State<S>` made by `Body::new::<S>` and not closed; `chunk_out` must
/// be NULL or writable; no other call on this body may run at the same time.
unsafe extern "C" fn next_trampoline<S: Source>(
    state: *mut c_void,
    req: *mut nsgi_request,
    chunk_out: *mut nsgi_bytes,
) -> nsgi_status {
    if state.is_null() || chunk_out.is_null() {
        return sys::NSGI_E_INVAL;
    }
    // SAFETY: per the contract above, `state` is a live `State<S>` nobody else is using.
    let state = unsafe { &mut *state.cast::<State<S>>() };
    // SAFETY: `chunk_out` is non-NULL and writable per the contract.
    unsafe { chunk_out.write(nsgi_bytes::EMPTY) };
    if state.common.poisoned {
        return sys::NSGI_E_PANIC;
    }
    if state.common.done {
        return sys::NSGI_DONE;
    }
    // SAFETY: `host` is NULL or the app instance's `Host`, which outlives every body it handed
    // over (see `Body::into_raw`); the borrow ends with this call.
    let host = unsafe { state.common.host.as_ref() };
    // SAFETY: `req` is the request the host passed to this `next`: live until the body's `close`
    // returns (abi.md §6), and usable for `[request]` functions on this thread during this call
    // (§12). The `RawRequest` borrows `host` for this call only, and `Source::next_chunk` takes
    // it for a lifetime of its own, so no source can keep it past this `next`.
    let request = match (NonNull::new(req), host) {
        (Some(req), Some(host)) => Some(unsafe { RawRequest::new(req, host) }),
        _ => None,
    };
    // The chunk goes out as raw `nsgi_bytes`, valid until the source is next touched; errors
    // are formatted inside `catch`, since their `Display` is app code too.
    let source = &mut state.source;
    match catch(move || {
        source
            .next_chunk(request)
            .map(|c| c.map(nsgi_bytes::from_slice))
            .map_err(|e| match e.downcast_ref::<AlreadyLogged>() {
                Some(&AlreadyLogged(code)) => Failed::Silently(code),
                None => Failed::Because(error::chain(&*e)),
            })
    }) {
        Ok(Ok(Some(chunk))) => {
            // SAFETY: as above.
            unsafe { chunk_out.write(chunk) };
            sys::NSGI_OK
        }
        Ok(Ok(None)) => {
            state.common.done = true;
            sys::NSGI_DONE
        }
        Ok(Err(Failed::Because(message))) => {
            state.common.log(req, &format!("the response body failed: {message}"));
            sys::NSGI_E_APP
        }
        Ok(Err(Failed::Silently(code))) => code,
        Err(panic) => {
            state.common.poisoned = true;
            state.common.log(req, &format!("the response body panicked: {panic}"));
            sys::NSGI_E_PANIC
        }
    }
}

/// `close`: drops the source, then runs the close hooks. A no-op for a poisoned body (its
/// state is leaked rather than touched again).
///
/// # Safety
/// `state` must be NULL or a live `State<S>` made by `Body::new::<S>`; it is dead afterwards.
unsafe extern "C" fn close_trampoline<S: Source>(state: *mut c_void, req: *mut nsgi_request) {
    if state.is_null() {
        return;
    }
    // SAFETY: per the contract, `state` came from `Box::leak` of a `Box<State<S>>` in
    // `Body::new`, and ownership comes back to us exactly once, here.
    let state = unsafe { Box::from_raw(state.cast::<State<S>>()) };
    if state.common.poisoned {
        mem::forget(state);
        return;
    }
    let State { mut common, mut source } = *state;
    if let Err(panic) = catch(move || {
        source.close(req);
        drop(source)
    }) {
        common.log(req, &format!("the response body panicked while closing: {panic}"));
    }
    if let Some(hook) = common.on_close.take() {
        if let Err(panic) = catch(hook) {
            common.log(req, &format!("an on_close hook panicked: {panic}"));
        }
    }
}

/// One buffer, sent as a single chunk.
struct Once<B> {
    bytes: B,
    sent: bool,
}

impl<B: AsRef<[u8]> + Send + 'static> Source for Once<B> {
    fn next_chunk(&mut self, _req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        if mem::replace(&mut self.sent, true) {
            return Ok(None);
        }
        Ok(Some(self.bytes.as_ref()))
    }
}

/// An iterator of chunks; the current chunk is kept until the next one is asked for.
struct Chunks<I: Iterator> {
    iter: I,
    current: Option<I::Item>,
}

impl<I> Source for Chunks<I>
where
    I: Iterator + Send + 'static,
    I::Item: AsRef<[u8]> + Send + 'static,
{
    fn next_chunk(&mut self, _req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        self.current = self.iter.next();
        Ok(self.current.as_ref().map(AsRef::as_ref))
    }
}

/// An iterator of `Result` chunks.
struct Results<I, T> {
    iter: I,
    current: Option<T>,
}

impl<I, T, E> Source for Results<I, T>
where
    I: Iterator<Item = Result<T, E>> + Send + 'static,
    T: AsRef<[u8]> + Send + 'static,
    E: Into<Error>,
{
    fn next_chunk(&mut self, _req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        self.current = self.iter.next().transpose().map_err(Into::into)?;
        Ok(self.current.as_ref().map(AsRef::as_ref))
    }
}

/// A reader, read in blocks into one reused buffer.
struct Reader<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: Read + Send + 'static> Source for Reader<R> {
    fn next_chunk(&mut self, _req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        if self.buf.is_empty() {
            self.buf = vec![0; READER_BLOCK];
        }
        let n = loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        Ok((n > 0).then(|| &self.buf[..n]))
    }
}

/// How a source's `next` failed, as the trampoline reports it.
enum Failed {
    /// An error to log as a body failure (`NSGI_E_APP`).
    Because(String),
    /// A status to return as it is: whoever failed has logged why.
    Silently(nsgi_status),
}

/// A source's error whose reason is already logged (or is the host's own): `next` returns the
/// status without logging again.
#[derive(Debug)]
pub(crate) struct AlreadyLogged(pub(crate) nsgi_status);

impl fmt::Display for AlreadyLogged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the body failed with {} (logged already)",
            error::status_name(self.0)
        )
    }
}

impl std::error::Error for AlreadyLogged {}

/// A body held as a raw `nsgi_body` and driven through its vtable: one the host made, wrapped so
/// that the SDK can run close hooks after the host's `close`; or the body a lazy response
/// produced (see `lazy.rs`).
pub(crate) struct RawBody {
    raw: nsgi_body,
    closed: bool,
}

impl RawBody {
    /// Takes over `body`; for an SDK body, `host` becomes the one it logs through.
    pub(crate) fn adopt(body: Body, host: &Host) -> RawBody {
        RawBody {
            raw: body.into_raw(host),
            closed: false,
        }
    }
}

// SAFETY: the ABI lets a body's `next` and `close` run on another thread than `call` (§12), so
// host-made bodies may be moved between threads, and an SDK body is `Send` by construction (see
// `Body`); this wrapper owns the body exclusively.
unsafe impl Send for RawBody {}

impl Source for RawBody {
    fn next_chunk(&mut self, req: Option<RawRequest<'_>>) -> Result<Option<&[u8]>, Error> {
        // SAFETY: `raw.vtable` is the vtable for this live, unclosed body.
        let next = unsafe { self.raw.vtable.as_ref() }
            .and_then(|v| v.next)
            .ok_or("the body has no next function")?;
        let mut chunk = nsgi_bytes::EMPTY;
        let req = req.map_or(ptr::null_mut(), RawRequest::as_ptr);
        // SAFETY: calling the body's own `next`, with the request the host passed us (or NULL,
        // which a body refuses) and a writable out-pointer.
        let status = unsafe { next(self.raw.state, req, &mut chunk) };
        match status {
            sys::NSGI_OK => {
                // SAFETY: the host lends the chunk until the next `next` or `close`, which is
                // how long the returned borrow of `self` lasts.
                let bytes = unsafe { super::raw::bytes(chunk) };
                Ok(Some(bytes))
            }
            sys::NSGI_DONE => Ok(None),
            code => Err(HostError::from_code("body next", code).into()),
        }
    }

    fn close(&mut self, req: *mut nsgi_request) {
        if mem::replace(&mut self.closed, true) {
            return;
        }
        // SAFETY: the host's vtable for this live body, closed exactly once (guarded above).
        if let Some(close) = unsafe { self.raw.vtable.as_ref() }.and_then(|v| v.close) {
            // SAFETY: as above; `req` is the host's request, or NULL outside of one.
            unsafe { close(self.raw.state, req) };
        }
    }
}

impl Drop for RawBody {
    fn drop(&mut self) {
        self.close(ptr::null_mut());
    }
}
