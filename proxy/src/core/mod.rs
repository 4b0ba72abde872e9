//! Layer 1, core: what every other layer uses and that uses nothing of sluice's — configuration,
//! errors, the saturating clock, private files, logging, packet streams and TLS setup.

pub(crate) mod clock;
pub mod config;
pub(crate) mod error;
pub mod logging;
pub(crate) mod net;
pub(crate) mod private_fs;
pub(crate) mod tls;
