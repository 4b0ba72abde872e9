//! Layer 3, features: what sessions apply to statements, each over its own state — advice, capture,
//! the firewall, table migrations, `[[rules]]`, the slow log and the digest table. They use core (and
//! backends where they read a server); never a session or the shared state.

pub(crate) mod advice;
pub(crate) mod capture;
pub(crate) mod firewall;
pub(crate) mod migration;
pub(crate) mod rules;
pub(crate) mod slowlog;
pub(crate) mod stats;
