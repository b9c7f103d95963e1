//! The small set of raw OS calls the gateway needs, each behind a safe function. This is the only
//! module of the gateway with `unsafe`; every block says why it is sound.

pub(crate) mod fd;
pub(crate) mod privileges;
pub(crate) mod process;
pub(crate) mod sendfile;
pub(crate) mod socket;
