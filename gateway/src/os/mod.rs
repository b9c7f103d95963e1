//! The small set of raw OS calls the gateway needs, each behind a safe function. This is the only
//! module of the gateway with `unsafe`; every block says why it is sound.
//!
//! Why `libc` and not `rustix` (whose safe wrappers would remove most of these blocks): the
//! privilege drop (`privileges.rs`) must stay on libc whatever else moves — user and group names
//! are looked up through the C library's NSS (`getpwnam_r`, `getgrnam_r`), which rustix does
//! not offer, and `setuid`/`setgid` must change every thread of the process, which glibc does
//! and rustix's raw per-thread system calls do not. The descriptor, process, sendfile and
//! socket calls (`fd.rs`, `process.rs`, `sendfile.rs`, `socket.rs`) could move to rustix; that
//! is a change of its own, not yet made, and two crates for one job in the meantime would be
//! worse than one.

pub(crate) mod fd;
pub(crate) mod privileges;
pub(crate) mod process;
pub(crate) mod sendfile;
pub(crate) mod socket;
