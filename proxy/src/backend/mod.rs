//! Backends: connections sluice opens as a MySQL client, and the pools that lend them to sessions.

pub mod conn;
pub mod pool;
pub mod stmts;
pub mod vars;

pub use conn::{BackendConn, ConnectSpec, TextResult};
pub use pool::{Guard, Pool, PoolKey, PoolLimits, Pools};
pub use stmts::{BackendStmt, StmtCache};
pub use vars::{Flavor, Vars};
