//! The small set of raw OS calls the gateway needs, each behind a safe function. This is the only
//! module of the gateway with `unsafe`; every block says why it is sound.

pub mod fd;
pub mod privileges;
pub mod process;
pub mod sendfile;
