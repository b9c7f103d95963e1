//! [`ParkedExchange`]: a request set aside between two steps of its response, owning all it
//! needs to go on — its instance (an `Arc`), its [`RequestStore`] (slot and environ at the
//! addresses the app was given) and the body — and borrowing nothing.
//!
//! An event-driven server parks the exchange of a response its client does not take fast enough
//! and serves its other connections; when the socket has room it resumes the exchange with the
//! request body and error stream of that moment ([`ParkedExchange::resume`]). The app sees one
//! request, called step by step; docs/abi.md §12 allows the steps of several requests to
//! interleave on one thread. The view a resume hands out ([`Resumed`]) exposes the steps but
//! never the exchange itself, so that the `'static` exchange inside cannot be swapped for one
//! that borrows something shorter-lived.

use super::environ::Environ;
use super::exchange::{Exchange, FileStep, Step};
use super::instance::AppInstance;
use super::observe::RequestId;
use super::store::RequestStore;
use super::violation::{ResponseFailure, Violation};
use std::io::{BufRead, Write};
use std::sync::Arc;

impl<'a> Exchange<'a> {
    /// Sets this exchange aside between two steps, to go on later with
    /// [`ParkedExchange::resume`] — for a server that stops pulling while its client's socket is
    /// full and serves other requests meanwhile, on the same thread or another.
    ///
    /// Only an exchange begun with [`AppInstance::call_stored`] can be parked (its slot and
    /// environ go with it, the environ at the address the app was given), and `instance` must be
    /// the instance it was begun on. Otherwise the request ends there, as
    /// [`finish`](Exchange::finish) would end it, and its store (if it had one) comes back. The
    /// request body and error stream it was begun with are let go: the app can reach them again
    /// only while a later step runs, through the ones given to `resume`.
    pub fn park(self, instance: Arc<AppInstance>) -> Result<ParkedExchange, Option<RequestStore>> {
        let exchange = self.into_parkable(&instance)?;
        Ok(ParkedExchange { exchange, instance })
    }
}

/// An exchange set aside by [`Exchange::park`]. Dropping it ends the request (the body's `close`
/// is called, with no request body or error stream to reach).
pub struct ParkedExchange {
    /// Declared before `instance`: it drops first, while the instance it refers to lives.
    exchange: Exchange<'static>,
    instance: Arc<AppInstance>,
}

impl ParkedExchange {
    /// Goes on with the request: until the view is dropped, the app reads its body from `input`
    /// and writes its error stream to `errors` (pass the unread rest of the body it was called
    /// with, and the same stream, so that the app sees one request).
    pub fn resume<'s>(&'s mut self, input: &'s mut dyn BufRead, errors: &'s mut dyn Write) -> Resumed<'s> {
        self.exchange.bind_io(input, errors);
        Resumed {
            exchange: &mut self.exchange,
        }
    }

    /// Ends the request (the body's `close` is called if it is still open, reaching `errors`)
    /// and gives back its store, for the next request.
    pub fn finish(mut self, errors: &mut dyn Write) -> RequestStore {
        let mut no_input: &[u8] = b"";
        self.exchange.bind_io(&mut no_input, errors);
        self.exchange.finish_in_place().unwrap_or_default()
    }

    /// The instance answering the request.
    pub fn instance(&self) -> &Arc<AppInstance> {
        &self.instance
    }

    /// The environ the request was called with.
    pub fn environ(&self) -> Option<&Environ> {
        self.exchange.stored_environ()
    }

    /// This request's id within its app instance.
    pub fn request_id(&self) -> RequestId {
        self.exchange.request_id()
    }

    /// Every violation recorded so far.
    pub fn violations(&self) -> &[Violation] {
        self.exchange.violations()
    }

    /// The name the instance was mounted under.
    pub fn mount_name(&self) -> &str {
        self.exchange.mount_name()
    }
}

impl std::fmt::Debug for ParkedExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkedExchange")
            .field("mount", &self.mount_name())
            .field("request", &self.request_id())
            .finish_non_exhaustive()
    }
}

impl Drop for ParkedExchange {
    fn drop(&mut self) {
        // No body or error stream outlives a resume: the close finds none.
        self.exchange.unbind_io();
    }
}

/// A parked exchange going on, with the request body and error stream given to
/// [`ParkedExchange::resume`]: the same steps as [`Exchange`].
pub struct Resumed<'s> {
    exchange: &'s mut Exchange<'static>,
}

impl Resumed<'_> {
    /// [`Exchange::next_step`].
    pub fn next_step(&mut self) -> Result<Step<'_>, ResponseFailure> {
        self.exchange.next_step()
    }

    /// [`Exchange::take_file`].
    pub fn take_file(&mut self) -> Result<Option<FileStep<'_>>, ResponseFailure> {
        self.exchange.take_file()
    }

    /// [`Exchange::request_id`].
    pub fn request_id(&self) -> RequestId {
        self.exchange.request_id()
    }

    /// [`Exchange::violations`].
    pub fn violations(&self) -> &[Violation] {
        self.exchange.violations()
    }

    /// [`Exchange::head_emitted`].
    pub fn head_emitted(&self) -> bool {
        self.exchange.head_emitted()
    }

    /// [`Exchange::mount_name`].
    pub fn mount_name(&self) -> &str {
        self.exchange.mount_name()
    }
}

impl Drop for Resumed<'_> {
    fn drop(&mut self) {
        self.exchange.unbind_io();
    }
}
