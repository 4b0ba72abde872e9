//! sluice: an SQL-aware MySQL/MariaDB proxy. The binary is a thin shell over this library so tests and
//! benches run the same code in-process.
//!
//! The modules sit in five layers, each a folder, each using only the layers below it
//! (proxy/tests/layers.rs fails on an import that goes up, or on a circle between modules):
//!
//! 1. `core` — configuration, errors, clock, private files, logging, packet streams, TLS setup;
//! 2. `backend` — connections, pools, the monitor, the topology, schema dependencies;
//! 3. `features` — advice, capture, firewall, migrations, rules, slow log, digest table;
//! 4. `frontend` — pre-auth limits, users, the shared state, pins, the session and its phases;
//! 5. `ops` — admin interface, HTTP, metrics, backends view, reload, switchover, the server.
//!
//! Public are only the modules something outside the crate uses, re-exported here: `server` (start
//! it), `config`, `state` (tests read the shared state of an in-process sluice), `monitor` (tests run
//! checks), `gtid` (tests read servers' GTID text with sluice's parser), `admin` (the fuzz target
//! parses admin statements) and `logging` (the binary).

mod backend;
mod core;
mod features;
mod frontend;
mod ops;

// The public surface: what the binary, tests, benches and fuzz targets use.
pub use crate::backend::{gtid, monitor};
pub use crate::core::{config, logging};
pub use crate::frontend::state;
pub use crate::ops::{admin, server};
