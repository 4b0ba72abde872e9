//! sluice: an SQL-aware MySQL/MariaDB proxy. The binary is a thin shell over this library so tests and
//! benches run the same code in-process.
//!
//! Public are only the modules something outside the crate uses: `server` (start it), `config`,
//! `state` (tests read the shared state of an in-process sluice), `monitor` (tests run checks),
//! `admin` (the fuzz target parses admin statements) and `logging` (the binary). The rest is
//! crate-private. proxy/tests/layers.rs keeps the modules free of import circles.

pub mod admin;
mod advice;
mod backend;
mod backends;
mod cache_deps;
mod capture;
mod clock;
pub mod config;
mod error;
mod firewall;
mod http;
pub mod logging;
mod metrics;
mod migration;
pub mod monitor;
mod net;
mod pins;
mod preauth;
mod private_fs;
mod reload;
mod rules;
pub mod server;
mod session;
mod slowlog;
pub mod state;
mod stats;
mod switchover;
mod tls;
mod topology;
mod users;
