//! Backends: connections sluice opens as a MySQL client, and the pools that lend them to sessions.

pub mod conn;
pub mod pool;
pub mod raw;
pub mod stmts;
pub mod vars;

pub use conn::{BackendConn, ConnectSpec, TextResult};
pub use pool::{Guard, Pool, PoolKey, PoolLimits, Pools};
pub use raw::RawResult;
pub use stmts::{BackendStmt, StmtCache};
pub use vars::{Flavor, Vars};
