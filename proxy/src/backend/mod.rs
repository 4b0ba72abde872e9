//! Layer 2, backend: connections sluice opens as a MySQL client, the pools that lend them to
//! sessions, the monitor that checks every member, the topology it keeps, and the schema
//! dependencies (foreign keys, views) read from a server. Uses core only.

pub(crate) mod cache_deps;
pub mod conn;
pub mod gtid;
pub(crate) mod member;
pub mod monitor;
pub mod pool;
pub mod raw;
pub mod stmts;
pub(crate) mod topology;
pub mod vars;

pub use conn::{BackendConn, ConnectSpec, TextResult};
pub use pool::{Guard, Pool, PoolKey, PoolLimits, Pools};
pub use raw::RawResult;
pub use stmts::{BackendStmt, StmtCache};
pub use vars::{Flavor, Vars};
