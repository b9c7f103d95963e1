//! One request's life cycle on the host side: call → start_response → next … → close.
//!
//! [`RequestSlot`] is the reusable per-request state the app sees as its opaque `nsgi_request`
//! (status and headers it started, bytes it wrote, the rules it broke). [`Exchange`] drives one
//! request through it and hands the response out as [`Step`]s; it enforces the PEP 3333 rules at
//! run time (a C app can break any of them), turns every breach into a [`Violation`], and calls
//! the body's `close` exactly once on every path — including when it is dropped early.
//! It never touches the network. The request's state is `request_state.rs`; the rules an app can
//! break are `violation.rs`; the app's body object and its close-once rule are `app_body.rs`.
//!
//! Where the response stands is one [`Progress`] value and whether the body's `close` is owed
//! one `app_body::CloseDue`, not a set of flags, so that states that cannot happen (a file
//! handed out after the end, an end without the head, a close called twice or owed without a
//! function) cannot be written. The failure is kept beside `Progress`, which then says where the
//! response stood when it failed; `body_done` and `stopped_at_length` stay two facts, as all four
//! of their combinations happen.

use super::app_body::AppBody;
use super::environ::Environ;
use super::handle::{Serving, fresh_token};
use super::instance::AppInstance;
use super::observe::{NextResult, RequestEnd, RequestId};
use super::request_state::{HeadState, Phase, RequestSlot, ResponseHead, WrittenPart, WrittenSink};
use super::store::RequestStore;
use super::violation::{ResponseFailure, Violation};
use crate::sys::{NSGI_DONE, NSGI_OK, nsgi_bytes};
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::io::{BufRead, Write};
use std::os::fd::BorrowedFd;
use std::sync::Arc;

/// Most bytes past the declared Content-Length that a draining exchange pulls before it stops.
const DRAIN_LIMIT_BYTES: u64 = 1 << 20;

impl AppInstance {
    /// Starts answering one request: calls the app and returns the exchange that pulls its
    /// response. The environ gets this instance's flags; `input` is the request body
    /// (`wsgi.input`), `errors` receives `wsgi.errors`.
    #[inline]
    pub fn call<'a>(
        &'a self,
        slot: &'a mut RequestSlot,
        environ: &'a mut Environ,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
    ) -> Exchange<'a> {
        self.start(SlotRef::borrowed(slot), environ, input, errors, None)
    }

    /// [`call`](Self::call) with the request's slot and environ in `store`, which the exchange
    /// takes: such an exchange can be set aside between two steps and resumed later
    /// ([`Exchange::park`]), and gives the store back when it ends ([`Exchange::finish`]).
    /// Build the environ in [`RequestStore::environ_mut`] first.
    #[inline]
    pub fn call_stored<'a>(
        &'a self,
        store: RequestStore,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
    ) -> Exchange<'a> {
        let (slot, environ) = SlotRef::owning(store);
        // SAFETY: `environ` is the store's own, in the heap block the exchange now owns; it is
        // used only during `start` (which keeps raw pointers to it, valid while the block is).
        self.start(slot, unsafe { &mut *environ.as_ptr() }, input, errors, None)
    }

    /// [`call_stored`](Self::call_stored), handing bytes written with `write()` during the call
    /// to `written` as [`call_streaming_writes`](Self::call_streaming_writes) does.
    #[inline]
    pub fn call_stored_streaming_writes<'a>(
        &'a self,
        store: RequestStore,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
        written: WrittenSink<'_>,
    ) -> Exchange<'a> {
        let (slot, environ) = SlotRef::owning(store);
        // SAFETY: as in `call_stored`.
        self.start(slot, unsafe { &mut *environ.as_ptr() }, input, errors, Some(written))
    }

    /// [`call`](Self::call), handing bytes the app writes with `write()` during the call to
    /// `written` as they come (every 64 KiB, the head with the first) instead of holding them
    /// until the call returns; when `written` says the client is gone, `write` answers
    /// `NSGI_E_IO`. The exchange then goes on after what was handed over.
    #[inline]
    pub fn call_streaming_writes<'a>(
        &'a self,
        slot: &'a mut RequestSlot,
        environ: &'a mut Environ,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
        written: WrittenSink<'_>,
    ) -> Exchange<'a> {
        self.start(SlotRef::borrowed(slot), environ, input, errors, Some(written))
    }

    /// The one place that begins an exchange (so the compiler keeps it in one piece).
    fn start<'a>(
        &'a self,
        slot: SlotRef<'a>,
        environ: &mut Environ,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
        written: Option<WrittenSink<'_>>,
    ) -> Exchange<'a> {
        environ.set_flags(self.env_flags());
        Exchange::begin(self, slot, environ, input, errors, written)
    }
}

/// What the response does next, pulled by [`Exchange::next_step`].
#[derive(Debug)]
pub enum Step<'s> {
    /// The head, always first, with the first data. `data` is empty and `end` true when the body
    /// ended without data.
    Head {
        /// Status and headers.
        head: ResponseHead<'s>,
        /// The first body bytes (never empty unless `end`).
        data: &'s [u8],
        /// True when the body is complete.
        end: bool,
    },
    /// More body bytes (never empty), valid until the next call.
    Data(&'s [u8]),
    /// The response is complete and the body is closed.
    End,
}

/// The rest of a response that is a host file body (`file_body`), handed out by
/// [`Exchange::take_file`] so that the server sends it itself (sendfile) instead of iterating.
#[derive(Debug)]
pub struct FileStep<'s> {
    /// The head, when it was not handed out before (then the file is the whole body).
    pub head: Option<ResponseHead<'s>>,
    /// The file, borrowed: it closes with the body. Duplicate it to keep it past the next step.
    pub fd: BorrowedFd<'s>,
    /// Where the bytes to send start.
    pub offset: u64,
    /// How many bytes to send (never 0; already within the declared Content-Length).
    pub length: u64,
}

/// Where the response stands, as the caller has seen it. A plain `Copy` value: moving between
/// states is one store (this is on every request's path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Nothing handed out yet: the head goes with the next step.
    BeforeHead,
    /// The head went out (by a step, or with the bytes written during `call`); data follows.
    Body,
    /// The rest of the body is a file range the caller sends itself ([`Exchange::take_file`]):
    /// the next step closes the body and ends.
    FileHanded,
    /// The response is complete and the body closed: only [`Step::End`] remains.
    Ended,
}

/// One request being answered by an app. Dropping it closes the body (a client that went away).
pub struct Exchange<'a> {
    instance: &'a AppInstance,
    slot: SlotRef<'a>,
    body: AppBody,
    progress: Progress,
    /// The response failed (the body is closed): every later step returns this. `progress` then
    /// stays where the response stood when it failed.
    failure: Option<ResponseFailure>,
    /// `next` returned `NSGI_DONE` (or a file body was handed out whole). With
    /// `stopped_at_length` it makes four states, and all four happen (a draining exchange stops
    /// at the length and reads on to the end), so they are two facts, not one enum.
    body_done: bool,
    /// The host stopped pulling at the declared Content-Length.
    stopped_at_length: bool,
    /// Bytes handed out so far.
    sent: u64,
    /// The last step lent out the slot's `pending` bytes: clear them on the next step.
    pending_lent: bool,
    /// Keep calling `next` past the declared Content-Length (discarding the excess).
    drain_past_length: bool,
    /// The request is a HEAD: its response may declare the Content-Length of the GET body and
    /// produce any number of bytes (none go out).
    head_request: bool,
    /// The request went on in another value ([`park`](Self::park)) or has ended and its store
    /// was given back ([`finish`](Self::finish)): dropping this one does nothing.
    detached: bool,
}

/// The slot an exchange drives: the caller's, borrowed for `'a`, or the one in a
/// [`RequestStore`] the exchange owns. A pointer either way, so that every access is one load
/// and an owned store can move with the exchange without its block moving.
pub(crate) struct SlotRef<'a> {
    slot: NonNull<RequestSlot>,
    /// The store the slot lives in, when the exchange owns it (freed after the exchange's last
    /// use of the slot: `Exchange::drop` runs before its fields drop).
    store: Option<RequestStore>,
    _borrow: PhantomData<&'a mut RequestSlot>,
}

impl<'a> SlotRef<'a> {
    fn borrowed(slot: &'a mut RequestSlot) -> SlotRef<'a> {
        SlotRef {
            slot: NonNull::from(slot),
            store: None,
            _borrow: PhantomData,
        }
    }

    /// The slot in `store`, owning it, and the store's environ.
    fn owning(store: RequestStore) -> (SlotRef<'a>, NonNull<Environ>) {
        let block = store.block();
        // SAFETY: the block is live (owned by `store`); only field addresses are taken.
        let (slot, environ) = unsafe {
            (
                NonNull::new_unchecked(&raw mut (*block.as_ptr()).slot),
                NonNull::new_unchecked(&raw mut (*block.as_ptr()).environ),
            )
        };
        (
            SlotRef {
                slot,
                store: Some(store),
                _borrow: PhantomData,
            },
            environ,
        )
    }
}

impl core::ops::Deref for SlotRef<'_> {
    type Target = RequestSlot;
    #[inline(always)]
    fn deref(&self) -> &RequestSlot {
        // SAFETY: the slot is borrowed exclusively for `'a` or lives in the store this value
        // owns; the exchange is its only user meanwhile.
        unsafe { self.slot.as_ref() }
    }
}

impl core::ops::DerefMut for SlotRef<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut RequestSlot {
        // SAFETY: as in `deref`, and `&mut self` makes this the only reference.
        unsafe { self.slot.as_mut() }
    }
}

impl<'a> Exchange<'a> {
    /// Calls the app. `environ` is the caller's, borrowed for `'a`, or the one in the store
    /// `slot` owns: either way it stays where it is until the exchange ends.
    pub(crate) fn begin(
        instance: &'a AppInstance,
        mut slot: SlotRef<'a>,
        environ: &mut Environ,
        input: &'a mut dyn BufRead,
        errors: &'a mut dyn Write,
        written: Option<WrittenSink<'_>>,
    ) -> Exchange<'a> {
        slot.reset();
        let head_request = environ.get(b"REQUEST_METHOD") == Some(b"HEAD");
        let raw_environ = environ.seal();
        let state = &mut slot.state;
        // SAFETY (lifetime erasure): the pointers are cleared in `close_body`, in `park` or in
        // the next reset(), all of which happen before `'a` ends — the exchange borrows them for
        // `'a` and closes on drop. Between those points only host callbacks for this request use
        // them.
        state.input = Some(unsafe {
            core::mem::transmute::<*mut (dyn BufRead + 'a), *mut (dyn BufRead + 'static)>(input as *mut _)
        });
        // SAFETY: as above.
        state.errors = Some(unsafe {
            core::mem::transmute::<*mut (dyn Write + 'a), *mut (dyn Write + 'static)>(errors as *mut _)
        });
        state.environ = environ as *const Environ;
        state.shared = instance.shared();
        state.id = instance.next_request_id();
        state.handle_token = fresh_token();
        state.observer = instance.observer().cloned();
        if let Some(observer) = state.observer() {
            observer.call_started(state.id, environ);
        }
        state.phase = Phase::InCall;
        let mut raw_body = AppBody::out_param();
        if let Some(written) = written {
            // SAFETY (lifetime erasure): the pointer is removed right after the call below, while
            // the borrow of `written` is still live; only write() during that call uses it.
            slot.state.written_sink = Some(unsafe {
                core::mem::transmute::<
                    *mut (dyn FnMut(WrittenPart<'_>) -> bool + '_),
                    *mut (dyn FnMut(WrittenPart<'_>) -> bool + 'static),
                >(written as *mut _)
            });
        }
        let status = instance.invoke_call(Serving::new(&mut slot.state), raw_environ, &mut raw_body);
        slot.state.written_sink = None;
        slot.state.phase = Phase::Between;
        let (flushed, head_out) = (slot.state.written_flushed, slot.state.written_head_out);

        let (body, body_problem) = if status == NSGI_OK {
            AppBody::after_call(raw_body)
        } else {
            // The app released its own state; a body it may have left behind is not ours to close.
            (AppBody::after_failed_call(), None)
        };
        let mut exchange = Exchange {
            instance,
            slot,
            body,
            progress: if head_out { Progress::Body } else { Progress::BeforeHead },
            failure: None,
            body_done: false,
            stopped_at_length: false,
            sent: flushed,
            pending_lent: false,
            drain_past_length: false,
            head_request,
            detached: false,
        };
        let state = &mut exchange.slot.state;
        if let Some(observer) = state.observer() {
            observer.call_returned(state.id, status, body_problem);
        }
        if status != NSGI_OK {
            state.violate(if state.head_state.is_aborted() {
                Violation::AbortedAfterHeadersSent
            } else {
                Violation::CallFailed(status)
            });
        } else if let Some(problem) = body_problem {
            // The body is closed, when it can be, as the failure is sealed on the next step.
            state.violate(Violation::InvalidBody(problem));
        }
        exchange
    }

    /// The request as the app sees it, for one call into the app (take it just before the call).
    fn serving(&mut self) -> Serving {
        Serving::new(&mut self.slot.state)
    }

    /// The response head, once the app has started it.
    pub fn head(&self) -> Option<ResponseHead<'_>> {
        self.slot.state.head_state.is_stored().then(|| self.slot.state.head())
    }

    /// This request's id within its app instance (the id observers see).
    pub fn request_id(&self) -> RequestId {
        self.slot.state.id
    }

    /// With `drain`, the exchange keeps calling `next` after the declared Content-Length has gone
    /// out, until the body ends, discarding the excess (and recording
    /// [`Violation::BodyTooLong`] if there is any). Off by default: a server stops pulling at the
    /// declared length. Conformance checkers turn it on to see a body that is too long even when
    /// the excess comes in a separate chunk.
    pub fn drain_past_content_length(&mut self, drain: bool) {
        self.drain_past_length = drain;
    }

    /// Every violation recorded so far, fatal or not.
    pub fn violations(&self) -> &[Violation] {
        &self.slot.state.violations
    }

    /// True once a [`Step::Head`] was handed out.
    pub fn head_emitted(&self) -> bool {
        !matches!(self.progress, Progress::BeforeHead)
    }

    /// Pulls the response forward: the head with the first data, then data, then [`Step::End`].
    /// After an `Err`, every later call returns the same `Err`; the body is already closed.
    pub fn next_step(&mut self) -> Result<Step<'_>, ResponseFailure> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        match self.progress {
            Progress::FileHanded => {
                // The server sent the file itself: the body is over.
                self.release_pending();
                self.close_body();
                self.progress = Progress::Ended;
                return Ok(Step::End);
            }
            Progress::Ended => {
                self.release_pending();
                return Ok(Step::End);
            }
            Progress::BeforeHead | Progress::Body => self.release_pending(),
        }
        if let Some(failure) = self.check_fatal() {
            return Err(failure);
        }
        // Stop pulling once the declared length has gone out.
        if let Some(declared) = self.slot.state.content_length
            && matches!(self.progress, Progress::Body)
            && self.sent >= declared
        {
            return self.stop_at_length();
        }
        loop {
            if !self.slot.state.pending.is_empty() {
                self.pending_lent = true;
                return self.emit_pending();
            }
            match self.pull_chunk() {
                Pulled::Chunk(ptr, len) => {
                    if let Some(failure) = self.check_fatal() {
                        return Err(failure);
                    }
                    if !self.slot.state.pending.is_empty() {
                        // Data written before this chunk goes first; keep the chunk for later.
                        // (Only reachable through the WriteInsideNext violation, which is fatal.)
                        continue;
                    }
                    if len == 0 {
                        continue;
                    }
                    // SAFETY: the app returned a non-NULL pointer to `len` bytes it owns, valid
                    // until the next call into this body (which happens only after the caller has
                    // finished with the returned step).
                    let data = unsafe { core::slice::from_raw_parts(ptr, len) };
                    return self.emit(data);
                }
                Pulled::Done => return self.body_ended(),
                Pulled::Failed => {
                    return Err(self
                        .check_fatal()
                        .unwrap_or_else(|| self.fail(Violation::NextFailed(0))));
                }
            }
        }
    }

    /// The `pending` bytes the last step lent out are sent: drop them.
    fn release_pending(&mut self) {
        if self.pending_lent {
            self.slot.state.pending.clear();
            self.pending_lent = false;
        }
    }

    /// When the rest of the response is a host file body (`file_body`), hands out its range
    /// (with the head, if not handed out yet) for the caller to send itself, e.g. with
    /// sendfile; the next [`next_step`](Self::next_step) then closes the body and returns
    /// [`Step::End`]. `Ok(None)` means: go on with `next_step` (not a file body, bytes written
    /// with `write()` go first, a HEAD request, a bodiless status, an empty file, a pipe). A
    /// file shorter than the declared Content-Length fails here, before anything is sent.
    #[inline]
    pub fn take_file(&mut self) -> Result<Option<FileStep<'_>>, ResponseFailure> {
        if !super::file_body::is_file_body(self.body.raw()) {
            return Ok(None); // the usual case, decided by one comparison
        }
        self.take_file_range()
    }

    fn take_file_range(&mut self) -> Result<Option<FileStep<'_>>, ResponseFailure> {
        let head_emitted = match self.progress {
            Progress::BeforeHead => false,
            Progress::Body => true,
            Progress::FileHanded | Progress::Ended => return Ok(None),
        };
        if self.failure.is_some() {
            return Ok(None);
        }
        if !self.body.is_open() {
            return Ok(None);
        }
        self.release_pending();
        let state = &self.slot.state;
        if self.head_request
            || self.drain_past_length
            || !state.pending.is_empty()
            || !state.head_state.is_stored()
            || state.head_state.is_aborted()
            || state.first_fatal().is_some()
            || self.is_bodiless_status()
        {
            return Ok(None);
        }
        let Some((offset, available)) = super::file_body::unread_range(self.body.raw()) else {
            return Ok(None);
        };
        let mut length = available;
        let mut truncated = false;
        if let Some(declared) = self.slot.state.content_length {
            let room = declared.saturating_sub(self.sent);
            if length > room {
                self.slot.state.violate(Violation::BodyTooLong { declared });
                length = room;
                truncated = true;
                self.stopped_at_length = true;
            } else if length < room {
                return Err(self.fail(Violation::BodyTooShort {
                    declared,
                    sent: self.sent + length,
                }));
            }
        }
        if length == 0 {
            return Ok(None);
        }
        self.body_done = !truncated;
        self.sent += length;
        self.progress = Progress::FileHanded;
        if let Some(observer) = self.slot.state.observer() {
            observer.file_sent(self.slot.state.id, length);
        }
        self.slot.state.head_state = HeadState::Sent;
        let head = (!head_emitted).then(|| self.slot.state.head());
        let Some(fd) = super::file_body::descriptor(self.body.raw()) else {
            return Ok(None); // unreachable: unread_range saw the same file body
        };
        Ok(Some(FileStep {
            head,
            fd,
            offset,
            length,
        }))
    }

    fn emit_pending(&mut self) -> Result<Step<'_>, ResponseFailure> {
        // Split borrows: take the pending bytes out through a raw view of the slot's buffer.
        let pending: *const [u8] = self.slot.state.pending.as_slice();
        // SAFETY: `pending` is not touched again until the next call to next_step (pending_lent
        // is set, and the app is not called before then), so the slice stays valid for the
        // returned borrow of `self`.
        let data = unsafe { &*pending };
        self.emit(data)
    }

    fn emit<'s>(&'s mut self, data: &'s [u8]) -> Result<Step<'s>, ResponseFailure> {
        let state = &mut self.slot.state;
        if !state.head_state.is_stored() {
            return Err(self.fail(Violation::NoStartResponse));
        }
        if state.head_state.is_aborted() {
            return Err(self.fail(Violation::ContinuedAfterHeadersSent));
        }
        state.head_state = HeadState::Sent;
        let mut data = data;
        if let Some(declared) = state.content_length {
            let room = declared.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                // A HEAD response sends no body at all: its excess is no breach.
                if !self.head_request {
                    state.violate(Violation::BodyTooLong { declared });
                }
                data = &data[..room as usize];
            }
        }
        self.sent += data.len() as u64;
        if matches!(self.progress, Progress::Body) {
            if data.is_empty() {
                // Everything past the declared length was dropped.
                return self.stop_at_length();
            }
            return Ok(Step::Data(data));
        }
        if data.is_empty() {
            // A declared length of 0 with a non-empty chunk: the body is over.
            self.drain_excess()?;
            self.stopped_at_length = true;
            self.close_body();
            self.progress = Progress::Ended;
            return Ok(Step::Head {
                head: self.slot.state.head(),
                data: &[],
                end: true,
            });
        }
        self.progress = Progress::Body;
        Ok(Step::Head {
            head: self.slot.state.head(),
            data,
            end: false,
        })
    }

    /// The declared length has gone out: end the response (after draining the rest of the body
    /// when asked to).
    fn stop_at_length(&mut self) -> Result<Step<'_>, ResponseFailure> {
        self.drain_excess()?;
        self.stopped_at_length = true;
        self.close_body();
        self.progress = Progress::Ended;
        Ok(Step::End)
    }

    /// In drain mode, pulls the body to its end, dropping every byte and recording the excess.
    fn drain_excess(&mut self) -> Result<(), ResponseFailure> {
        if !self.drain_past_length {
            return Ok(());
        }
        let mut excess: u64 = 0;
        loop {
            match self.pull_chunk() {
                Pulled::Chunk(_, 0) => {}
                Pulled::Chunk(_, len) => {
                    let state = &mut self.slot.state;
                    if let Some(declared) = state.content_length
                        && !self.head_request
                        && !state.violations.contains(&Violation::BodyTooLong { declared })
                    {
                        state.violate(Violation::BodyTooLong { declared });
                    }
                    excess = excess.saturating_add(len as u64);
                    if excess > DRAIN_LIMIT_BYTES {
                        // An endless body: enough is known; stop as a server would.
                        return Ok(());
                    }
                }
                Pulled::Done => return Ok(()),
                Pulled::Failed => {
                    return Err(self
                        .check_fatal()
                        .unwrap_or_else(|| self.fail(Violation::NextFailed(0))));
                }
            }
        }
    }

    fn body_ended(&mut self) -> Result<Step<'_>, ResponseFailure> {
        self.close_body();
        if let Some(failure) = self.check_fatal() {
            return Err(failure);
        }
        let state = &self.slot.state;
        if !state.head_state.is_stored() {
            return Err(self.fail(Violation::NoStartResponse));
        }
        if let Some(declared) = state.content_length
            && self.sent < declared
            && !self.head_request
            && !(declared > 0 && self.sent == 0 && self.is_bodiless_status())
        {
            return Err(self.fail(Violation::BodyTooShort {
                declared,
                sent: self.sent,
            }));
        }
        let head_emitted = matches!(self.progress, Progress::Body);
        self.progress = Progress::Ended;
        if head_emitted {
            return Ok(Step::End);
        }
        Ok(Step::Head {
            head: self.slot.state.head(),
            data: &[],
            end: true,
        })
    }

    /// 1xx, 204 and 304 responses carry no body whatever their Content-Length says.
    fn is_bodiless_status(&self) -> bool {
        super::validate::status_has_no_body(self.slot.state.status_code)
    }

    fn pull_chunk(&mut self) -> Pulled {
        if !self.body.is_open() {
            return Pulled::Done;
        }
        let Some((next, state_ptr)) = self.body.next() else {
            return Pulled::Failed;
        };
        let mut chunk = nsgi_bytes::EMPTY;
        self.slot.state.phase = Phase::InNext;
        if let Some(observer) = self.slot.state.observer() {
            observer.next_started(self.slot.state.id);
        }
        let serving = self.serving();
        let status = self.instance.enter(serving, || {
            // SAFETY: the app's own next function with the state and request it was made for.
            unsafe { next(state_ptr, serving.handle(), &mut chunk) }
        });
        self.slot.state.phase = Phase::Between;
        if let Some(observer) = self.slot.state.observer() {
            let result = NextResult {
                status,
                chunk_len: chunk.len,
                chunk_null: chunk.ptr.is_null(),
            };
            observer.next_returned(self.slot.state.id, &result);
        }
        match status {
            NSGI_OK => {
                if chunk.ptr.is_null() && chunk.len != 0 {
                    self.fail(Violation::NullChunk);
                    return Pulled::Failed;
                }
                Pulled::Chunk(chunk.ptr, chunk.len)
            }
            NSGI_DONE => {
                self.body_done = true;
                Pulled::Done
            }
            code if code < 0 => {
                let violation = if self.slot.state.head_state.is_aborted() {
                    Violation::AbortedAfterHeadersSent
                } else {
                    Violation::NextFailed(code)
                };
                self.fail(violation);
                Pulled::Failed
            }
            code => {
                self.fail(Violation::NextUnknownStatus(code));
                Pulled::Failed
            }
        }
    }

    fn check_fatal(&mut self) -> Option<ResponseFailure> {
        let violation = self.slot.state.first_fatal()?.clone();
        Some(self.seal_failure(violation))
    }

    fn fail(&mut self, violation: Violation) -> ResponseFailure {
        self.slot.state.violate(violation.clone());
        self.seal_failure(violation)
    }

    fn seal_failure(&mut self, violation: Violation) -> ResponseFailure {
        self.close_body();
        let failure = ResponseFailure {
            violation,
            head_emitted: self.head_emitted(),
        };
        self.failure = Some(failure.clone());
        failure
    }

    fn close_body(&mut self) {
        if let Some((close, state_ptr)) = self.body.take_close() {
            if let Some(observer) = self.slot.state.observer() {
                observer.close_called(self.slot.state.id, self.body.close_calls());
            }
            self.slot.state.phase = Phase::InClose;
            let serving = self.serving();
            self.instance.enter(serving, || {
                // SAFETY: the app's own close, called exactly once with its own state.
                unsafe { close(state_ptr, serving.handle()) }
            });
        }
        let state = &mut self.slot.state;
        state.phase = Phase::Idle;
        state.input = None;
        state.errors = None;
        state.environ = core::ptr::null();
    }

    /// Logs every violation recorded so far through the app's error stream tag (for hosts that
    /// want the messages without formatting them themselves).
    pub fn describe_violations(&self) -> impl Iterator<Item = String> + '_ {
        self.slot.state.violations.iter().map(|v| v.to_string())
    }

    /// The name the instance was mounted under.
    pub fn mount_name(&self) -> &str {
        self.instance.mount_name()
    }
}

enum Pulled {
    Chunk(*const u8, usize),
    Done,
    Failed,
}

impl std::fmt::Debug for Exchange<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("mount", &self.mount_name())
            .field("request", &self.request_id())
            .field("progress", &self.progress)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl Drop for Exchange<'_> {
    fn drop(&mut self) {
        if !self.detached {
            self.end();
        }
    }
}

impl<'a> Exchange<'a> {
    /// This exchange, with nothing borrowed for `'a`, for [`park`](Self::park) (in
    /// `parked.rs`): the body and error stream it was begun with are let go, and `instance` (the
    /// instance it was begun on, which the caller keeps alive for as long as the result) takes
    /// the place of the borrowed one. Refused — the request ends as [`finish`](Self::finish)
    /// would end it and its store comes back — unless it owns a store and `instance` is its own.
    pub(crate) fn into_parkable(
        mut self,
        instance: &Arc<AppInstance>,
    ) -> Result<Exchange<'static>, Option<RequestStore>> {
        if !core::ptr::eq(self.instance, &**instance) || self.slot.store.is_none() {
            return Err(self.finish());
        }
        let state = &mut self.slot.state;
        state.input = None;
        state.errors = None;
        let slot = SlotRef {
            slot: self.slot.slot,
            store: self.slot.store.take(),
            _borrow: PhantomData,
        };
        // SAFETY (lifetime extension): the caller keeps `instance` alive for as long as the
        // exchange (a parked exchange holds it in a field that drops after the exchange, and
        // never hands the exchange out by value or `&mut`).
        let instance_ref: &'static AppInstance = unsafe { &*Arc::as_ptr(instance) };
        let parkable = Exchange {
            instance: instance_ref,
            slot,
            body: std::mem::replace(&mut self.body, AppBody::after_failed_call()),
            progress: self.progress,
            failure: self.failure.take(),
            body_done: self.body_done,
            stopped_at_length: self.stopped_at_length,
            sent: self.sent,
            pending_lent: self.pending_lent,
            drain_past_length: self.drain_past_length,
            head_request: self.head_request,
            detached: false,
        };
        self.detached = true;
        Ok(parkable)
    }

    /// Ends the request as dropping it would (closing the body if it is still open) and gives
    /// back the store of an exchange begun with [`AppInstance::call_stored`], for the next
    /// request; `None` for an exchange over a borrowed slot.
    #[inline]
    pub fn finish(mut self) -> Option<RequestStore> {
        // The store leaves first; its block lives on in `store` while `drop` (run here, at the
        // end of this function, before the store is returned) ends the request through it.
        let store = self.slot.store.take();
        drop(self);
        store
    }

    /// [`finish`](Self::finish) through a reference: the exchange is left inert.
    #[inline]
    pub(crate) fn finish_in_place(&mut self) -> Option<RequestStore> {
        if self.detached {
            return None;
        }
        self.end();
        self.detached = true;
        self.slot.store.take()
    }

    /// Binds the request body and error stream the app reaches during the next calls into it
    /// (a resumed exchange gets new ones each time).
    pub(crate) fn bind_io(&mut self, input: &mut dyn BufRead, errors: &mut dyn Write) {
        let state = &mut self.slot.state;
        // SAFETY (lifetime erasure): cleared before the borrows can end — by the next
        // `bind_io` or `unbind_io`, which the resumed view calls when it is dropped, and by
        // `close_body`; only callbacks during this exchange's calls into the app read them.
        state.input = Some(unsafe {
            core::mem::transmute::<*mut (dyn BufRead + '_), *mut (dyn BufRead + 'static)>(input as *mut _)
        });
        // SAFETY: as above.
        state.errors = Some(unsafe {
            core::mem::transmute::<*mut (dyn Write + '_), *mut (dyn Write + 'static)>(errors as *mut _)
        });
    }

    /// Lets go of the request body and error stream bound last.
    pub(crate) fn unbind_io(&mut self) {
        if self.detached {
            return; // the slot may have gone with its store
        }
        let state = &mut self.slot.state;
        state.input = None;
        state.errors = None;
    }

    /// The environ in the store of an exchange begun with [`AppInstance::call_stored`].
    pub(crate) fn stored_environ(&self) -> Option<&Environ> {
        self.slot.store.as_ref().map(RequestStore::environ)
    }

    /// Closes the body if it is still open and tells the observer the request ended.
    fn end(&mut self) {
        self.close_body();
        if let Some(observer) = self.slot.state.observer.take() {
            let end = RequestEnd {
                close_owed: self.body.close_was_owed(),
                close_calls: self.body.close_calls(),
                body_done: self.body_done,
                stopped_at_content_length: self.stopped_at_length,
                head_emitted: self.head_emitted(),
                bytes_emitted: self.sent,
                failure: self.failure.as_ref(),
            };
            observer.request_ended(self.slot.state.id, &end);
        }
    }
}
