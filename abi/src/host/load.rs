//! Loading an app library and checking its handshake.
//!
//! Owns every check made before an app is trusted: the file exists and is a shared library, it
//! exports `nsgi_app_entry_v1`, the descriptor is non-NULL, carries the magic, the exact ABI major
//! and at least the v1.0 size, and names `init` and `call`. Each refusal is a [`LoadError`] that
//! names the cause. Libraries are never unloaded (a body or a thread of the app may outlive any
//! point where unloading would look safe).

use crate::sys::{
    NSGI_ABI_MAJOR, NSGI_APP_DESCRIPTOR_V1_0_SIZE, NSGI_APP_MAGIC, nsgi_app_descriptor, nsgi_app_entry_fn,
};
use core::fmt;
use std::path::{Path, PathBuf};

/// Why a library could not be used as an NSGI app.
#[derive(Debug)]
pub enum LoadError {
    /// No file at the path.
    NotFound(PathBuf),
    /// The dynamic loader refused the file (not a shared library, wrong architecture, a missing
    /// dependency, ...).
    NotALibrary {
        /// The library.
        path: PathBuf,
        /// The loader's message.
        reason: String,
    },
    /// The library exports no `nsgi_app_entry_v1`.
    MissingEntry(PathBuf),
    /// The library was built for another ABI major.
    WrongMajor {
        /// The library.
        path: PathBuf,
        /// The major it was built for.
        found: u32,
    },
    /// `nsgi_app_entry_v1` returned NULL.
    NullDescriptor(PathBuf),
    /// The descriptor does not start with the NSGI magic.
    BadMagic {
        /// The library.
        path: PathBuf,
        /// The value found instead.
        found: u32,
    },
    /// The descriptor is smaller than a v1.0 descriptor.
    DescriptorTooSmall {
        /// The library.
        path: PathBuf,
        /// Its `struct_size`.
        found: u32,
    },
    /// A required function (`init` or `call`) is NULL.
    MissingFunction {
        /// The library.
        path: PathBuf,
        /// The field name.
        function: &'static str,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound(path) => write!(f, "{}: no such file", path.display()),
            LoadError::NotALibrary { path, reason } => {
                write!(f, "{}: not a loadable shared library: {reason}", path.display())
            }
            LoadError::MissingEntry(path) => write!(
                f,
                "{}: not an NSGI app: it does not export the entry symbol `nsgi_app_entry_v1`",
                path.display()
            ),
            LoadError::WrongMajor { path, found } => write!(
                f,
                "{}: built for NSGI ABI {found}, this host speaks ABI {NSGI_ABI_MAJOR}; rebuild the app against nsgi {NSGI_ABI_MAJOR}.x",
                path.display()
            ),
            LoadError::NullDescriptor(path) => {
                write!(
                    f,
                    "{}: `nsgi_app_entry_v1` returned NULL instead of a descriptor",
                    path.display()
                )
            }
            LoadError::BadMagic { path, found } => write!(
                f,
                "{}: garbled app descriptor: magic is 0x{found:08x}, expected 0x{NSGI_APP_MAGIC:08x} (\"NSGI\")",
                path.display()
            ),
            LoadError::DescriptorTooSmall { path, found } => write!(
                f,
                "{}: app descriptor is {found} bytes, smaller than the {NSGI_APP_DESCRIPTOR_V1_0_SIZE} bytes of ABI v1.0",
                path.display()
            ),
            LoadError::MissingFunction { path, function } => {
                write!(f, "{}: app descriptor has no `{function}` function", path.display())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// A checked app: its descriptor and where it came from. Cheap to clone.
#[derive(Clone, Copy, Debug)]
pub struct AppModule {
    descriptor: &'static nsgi_app_descriptor,
    origin: &'static Path,
}

/// The prefix every descriptor shares, whatever its minor version.
#[repr(C)]
#[derive(Clone, Copy)]
struct DescriptorPrefix {
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
    struct_size: u32,
}

impl AppModule {
    /// Loads the shared library at `path` and checks its handshake. The library stays loaded for
    /// the life of the process.
    pub fn load(path: impl AsRef<Path>) -> Result<AppModule, LoadError> {
        let given = path.as_ref();
        // dlopen looks a name without a slash up in the library search path, not in the current
        // directory: `libapp.so` would fail, or load some other library of that name. The
        // operator means the file here.
        let local;
        let path = if given.as_os_str().as_encoded_bytes().contains(&b'/') {
            given
        } else {
            local = Path::new(".").join(given);
            local.as_path()
        };
        if !path.exists() {
            return Err(LoadError::NotFound(given.to_path_buf()));
        }
        // SAFETY: loading a library runs its initialisers. The operator named this library as the
        // app to serve, so its code is trusted exactly as much as the app itself.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::NotALibrary {
            path: path.to_path_buf(),
            reason: loader_message(&e),
        })?;
        // The library is never unloaded: leak it so that every pointer into it stays valid.
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        let origin: &'static Path = Box::leak(path.to_path_buf().into_boxed_path());

        // SAFETY: `nsgi_app_entry_v1` is specified with exactly the type `nsgi_app_entry_fn`.
        let entry = match unsafe { library.get::<nsgi_app_entry_fn>(b"nsgi_app_entry_v1\0") } {
            Ok(symbol) => *symbol,
            Err(_) => return Err(Self::diagnose_missing_entry(library, origin)),
        };
        // SAFETY: the entry function takes no arguments and only returns a pointer to static data.
        let descriptor = unsafe { entry() };
        Self::check(descriptor, origin)
    }

    /// Checks a descriptor linked into this program (a built-in app) exactly as a loaded one.
    pub fn from_static(descriptor: &'static nsgi_app_descriptor, origin: &'static str) -> Result<AppModule, LoadError> {
        Self::check(descriptor, Path::new(origin))
    }

    fn diagnose_missing_entry(library: &libloading::Library, origin: &'static Path) -> LoadError {
        for major in 2..=9u32 {
            let symbol = format!("nsgi_app_entry_v{major}\0");
            // SAFETY: only the symbol's presence is tested; the pointer is never called.
            if unsafe { library.get::<*const ()>(symbol.as_bytes()) }.is_ok() {
                return LoadError::WrongMajor {
                    path: origin.to_path_buf(),
                    found: major,
                };
            }
        }
        LoadError::MissingEntry(origin.to_path_buf())
    }

    fn check(descriptor: *const nsgi_app_descriptor, origin: &'static Path) -> Result<AppModule, LoadError> {
        let path = || origin.to_path_buf();
        if descriptor.is_null() {
            return Err(LoadError::NullDescriptor(path()));
        }
        // SAFETY: non-NULL; every descriptor of any version starts with this 12-byte prefix, and
        // the app promises the pointer refers to static data.
        let prefix = unsafe { descriptor.cast::<DescriptorPrefix>().read_unaligned() };
        if prefix.magic != NSGI_APP_MAGIC {
            return Err(LoadError::BadMagic {
                path: path(),
                found: prefix.magic,
            });
        }
        if u32::from(prefix.abi_major) != u32::from(NSGI_ABI_MAJOR) {
            return Err(LoadError::WrongMajor {
                path: path(),
                found: u32::from(prefix.abi_major),
            });
        }
        if prefix.struct_size < NSGI_APP_DESCRIPTOR_V1_0_SIZE {
            return Err(LoadError::DescriptorTooSmall {
                path: path(),
                found: prefix.struct_size,
            });
        }
        // SAFETY: the app declared at least the v1.0 size, which is all this host reads.
        let descriptor: &'static nsgi_app_descriptor = unsafe { &*descriptor };
        if descriptor.init.is_none() {
            return Err(LoadError::MissingFunction {
                path: path(),
                function: "init",
            });
        }
        if descriptor.call.is_none() {
            return Err(LoadError::MissingFunction {
                path: path(),
                function: "call",
            });
        }
        Ok(AppModule { descriptor, origin })
    }

    /// The checked descriptor.
    pub fn descriptor(&self) -> &'static nsgi_app_descriptor {
        self.descriptor
    }

    /// Where the app came from (a library path, or the name given to [`AppModule::from_static`]).
    pub fn origin(&self) -> &'static Path {
        self.origin
    }

    /// The app's name from its descriptor, lossily decoded.
    pub fn name(&self) -> String {
        // SAFETY: the descriptor and its name are the app's static data (docs/abi.md §6).
        String::from_utf8_lossy(unsafe { crate::app::raw::bytes_of(&self.descriptor.name) }).into_owned()
    }

    /// The app's build information from its descriptor, lossily decoded.
    pub fn sdk_info(&self) -> String {
        // SAFETY: the descriptor and its sdk_info are the app's static data (docs/abi.md §6).
        String::from_utf8_lossy(unsafe { crate::app::raw::bytes_of(&self.descriptor.sdk_info) }).into_owned()
    }

    /// The ABI minor the app was built against.
    pub fn abi_minor(&self) -> u16 {
        self.descriptor.abi_minor
    }

    /// The `NSGI_APP_*` flags.
    pub fn flags(&self) -> u32 {
        self.descriptor.flags
    }

    /// True when the app declares `NSGI_APP_THREAD_SAFE`.
    pub fn thread_safe(&self) -> bool {
        self.descriptor.flags & crate::sys::NSGI_APP_THREAD_SAFE != 0
    }
}

/// The dynamic loader's own words (dlerror), without libloading's wrapper text.
fn loader_message(error: &libloading::Error) -> String {
    use std::error::Error as _;
    match error.source() {
        Some(source) => source.to_string(),
        None => error.to_string(),
    }
}
