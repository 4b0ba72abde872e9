//! sluice: an SQL-aware MySQL/MariaDB proxy. The binary is a thin shell over this library so tests and
//! benches run the same code in-process.

pub mod config;
pub mod server;
