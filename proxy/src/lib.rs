//! sluice: an SQL-aware MySQL/MariaDB proxy. The binary is a thin shell over this library so tests and
//! benches run the same code in-process.

pub mod admin;
pub mod advice;
pub mod backend;
pub mod backends;
pub mod cache_deps;
pub mod capture;
pub mod clock;
pub mod config;
pub mod error;
pub mod firewall;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod migration;
pub mod monitor;
pub mod net;
pub mod pins;
pub mod preauth;
pub mod private_fs;
pub mod reload;
pub mod rules;
pub mod server;
pub mod session;
pub mod slowlog;
pub mod state;
pub mod stats;
pub mod switchover;
pub mod tls;
pub mod topology;
pub mod users;
