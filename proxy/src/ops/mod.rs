//! Layer 5, ops: what operators and the process use — the admin interface, HTTP (metrics, status),
//! the backends view, reload, switchover, and the server that wires the listeners.

pub mod admin;
pub(crate) mod backends;
pub(crate) mod http;
pub(crate) mod metrics;
pub(crate) mod reload;
pub mod server;
pub(crate) mod switchover;
