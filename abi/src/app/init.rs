//! What the host tells an app when it creates an instance.
//!
//! This module owns [`InitArgs`], the safe view of `nsgi_init_args`: the mount, the app's own
//! configuration and options, and the concurrency the host will use. It only borrows host
//! memory, for the duration of `init`, and never copies it.

use std::fmt;
use std::str;

use super::host::Host;
use super::raw::{self, Pairs};
use crate::sys::{self, nsgi_init_args};

/// The arguments of [`App::init`](super::App::init): how and where the app is mounted.
///
/// Everything here is borrowed from the host for the duration of `init`; copy what you need.
///
/// ```
/// use nsgi::app::{App, Error, InitArgs, Request, Response, StartResponse};
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// impl App for Greeter {
///     fn init(args: &InitArgs<'_>) -> Result<Self, Error> {
///         // Options are flat key/value pairs from the gateway configuration.
///         let greeting = match args.option("greeting") {
///             Some(value) => std::str::from_utf8(value)?.to_owned(),
///             None => "Hello".to_owned(),
///         };
///         Ok(Greeter { greeting })
///     }
///
///     fn call(&self, req: &mut Request<'_>, start: StartResponse<'_>) -> Result<Response, Error> {
///         let body = format!("{}, {}!\n", self.greeting, req.remote_addr());
///         Ok(start.start("200 OK", &[("Content-Type", "text/plain")])?.body(body))
///     }
/// }
/// # let _ = nsgi::app_descriptor!(Greeter);
/// ```
pub struct InitArgs<'a> {
    flags: u32,
    mount_name: &'a [u8],
    script_name: &'a [u8],
    config: &'a [u8],
    options: Pairs<'a>,
    max_concurrency: u32,
    host: &'a Host,
}

impl<'a> InitArgs<'a> {
    /// Borrows the host's arguments.
    ///
    /// # Safety
    /// `raw` must be the host's `nsgi_init_args` of at least `NSGI_INIT_ARGS_V1_0_SIZE` bytes,
    /// with every buffer it points to valid and unchanging for `'a`.
    pub(crate) unsafe fn new(raw: &'a nsgi_init_args, host: &'a Host) -> InitArgs<'a> {
        // SAFETY: the caller promises that the buffers are valid for `'a`.
        unsafe {
            InitArgs {
                flags: raw.flags,
                mount_name: raw::bytes(raw.mount_name),
                script_name: raw::bytes(raw.script_name),
                config: raw::bytes(raw.config),
                options: Pairs::new(raw.options, raw.n_options),
                max_concurrency: raw.max_concurrency,
                host,
            }
        }
    }

    /// The name of this app instance in the gateway configuration, or `""` when it is not
    /// UTF-8 (see [`mount_name_bytes`](Self::mount_name_bytes)).
    pub fn mount_name(&self) -> &'a str {
        str::from_utf8(self.mount_name).unwrap_or("")
    }

    /// The raw `NSGI_ENV_*` flags (the SDK keeps them to re-initialise an app).
    pub(crate) fn raw_flags(&self) -> u32 {
        self.flags
    }

    /// The name of this app instance, as bytes.
    pub fn mount_name_bytes(&self) -> &'a [u8] {
        self.mount_name
    }

    /// The mount prefix every request's `SCRIPT_NAME` will carry (`""` for the root, or when it
    /// is not UTF-8).
    pub fn script_name(&self) -> &'a str {
        str::from_utf8(self.script_name).unwrap_or("")
    }

    /// The mount prefix, as bytes.
    pub fn script_name_bytes(&self) -> &'a [u8] {
        self.script_name
    }

    /// The app's own configuration section, opaque to the host: JSON text from the gateway
    /// configuration, or empty when there is none.
    pub fn config(&self) -> &'a [u8] {
        self.config
    }

    /// The flat key/value options from the gateway configuration, in the host's order.
    pub fn options(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        self.options.iter()
    }

    /// The value of the option `name`, if set.
    pub fn option(&self, name: &str) -> Option<&'a [u8]> {
        self.options.get(name.as_bytes())
    }

    /// The most calls the host will make into this instance at once.
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    /// `wsgi.multithread` as it will apply to every request.
    pub fn multithread(&self) -> bool {
        self.flags & sys::NSGI_ENV_MULTITHREAD != 0
    }

    /// `wsgi.multiprocess` as it will apply to every request.
    pub fn multiprocess(&self) -> bool {
        self.flags & sys::NSGI_ENV_MULTIPROCESS != 0
    }

    /// The host: log through it, or clone it to keep it.
    pub fn host(&self) -> &'a Host {
        self.host
    }
}

impl fmt::Debug for InitArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitArgs")
            .field("mount_name", &String::from_utf8_lossy(self.mount_name))
            .field("script_name", &String::from_utf8_lossy(self.script_name))
            .field("config_len", &self.config.len())
            .field("n_options", &self.options.len())
            .field("max_concurrency", &self.max_concurrency)
            .field("flags", &self.flags)
            .finish()
    }
}
