//! The host SDK: load NSGI app libraries and drive them safely (feature `host`).
//!
//! Servers (`nsgi-gateway`) and test tools (`nsgi-conformance`) use this module so that both drive
//! apps the same way. It owns every host-side `unsafe` interaction with an app: the handshake, the
//! host callback table, and the request life cycle (call → start_response → next … → close). It
//! never does network I/O: the caller supplies the request body as a [`std::io::BufRead`], the
//! error stream as a [`std::io::Write`], and pulls the response out step by step.
//!
//! ```no_run
//! use nsgi::host::{AppModule, AppInstance, Environ, InitOptions, RequestSlot, Step};
//!
//! let module = AppModule::load("target/release/libhello.so")?;
//! let app = AppInstance::init(&module, &InitOptions::default())?;
//! let mut slot = RequestSlot::new();
//! let mut environ = Environ::new();
//! environ.push(b"REQUEST_METHOD", b"GET");
//! environ.push(b"PATH_INFO", b"/");
//! let mut input: &[u8] = b"";
//! let mut errors = std::io::stderr();
//! let mut exchange = app.call(&mut slot, &mut environ, &mut input, &mut errors);
//! loop {
//!     match exchange.next_step() {
//!         Ok(Step::Head { head, data, .. }) => println!("{} {:?}", head.status_str(), data),
//!         Ok(Step::Data(data)) => println!("{data:?}"),
//!         Ok(Step::End) => break,
//!         Err(failure) => { eprintln!("{failure}"); break; }
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An event-driven host that must not wait for one slow client calls the app with
//! [`AppInstance::call_stored`] over a [`RequestStore`]; between two steps it can then
//! [`park`](Exchange::park) the exchange (which borrows nothing once parked), serve other
//! requests, and [`resume`](ParkedExchange::resume) it when the client has room.

mod app_body;
mod callbacks;
mod environ;
mod exchange;
pub mod exit;
mod file_body;
mod handle;
mod instance;
mod load;
pub mod observe;
mod parked;
mod request_state;
mod store;
mod swar;
pub mod validate;
mod violation;

pub use environ::Environ;
pub use exchange::{Exchange, FileStep, Step};
pub use instance::{AppInstance, InitError, InitOptions};
pub use load::{AppModule, LoadError};
pub use observe::{Observer, RequestId};
pub use parked::{ParkedExchange, Resumed};
pub use request_state::{RequestSlot, ResponseHead, WrittenPart, WrittenSink};
pub use store::RequestStore;
pub use violation::{ResponseFailure, Violation};
