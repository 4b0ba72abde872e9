//! Integration-test harness for sluice: a real MariaDB primary, two GTID replicas and Redis, started once per test run
//! (and the same with MySQL, see below).
//!
//! # Shared topology (most tests)
//!
//! ```ignore
//! #[tokio::test]
//! async fn reads_go_to_replicas() -> anyhow::Result<()> {
//!     let topo = sluice_tests::shared().await;        // &'static Topology, started once per run
//!     let schema = topo.fresh_schema("reads").await;   // your own database, already on both replicas
//!     let proxy = sluice_tests::start_proxy(topo.sluice_config()).await;
//!     let mut conn = mysql_async::Conn::new(proxy.opts("app", "app").db_name(Some(&schema))).await?;
//!     // …
//!     proxy.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! The shared topology is read-only for tests except inside their own schema (`fresh_schema`). It is
//! owned by a supervisor process (`sluice-topology`, a bin of this crate) that the first test process
//! starts and that exits ~20 s after the last test process is gone; `sluice-topology stop` ends it at
//! once, `sluice-topology status` shows it. See [`shared_state`] for the locking protocol.
//!
//! The convenience functions panic with the full cause (test support); each has a `try_` twin that
//! returns `anyhow::Result` instead: [`try_shared`], [`Topology::try_fresh_schema`],
//! [`Topology::try_wait_replicas_caught_up`], [`Topology::try_sluice_config`], [`try_start_proxy`],
//! [`Topology::try_private`].
//!
//! # Private topology (tests that kill, pause, lag or re-grant)
//!
//! `Topology::private().await` returns a [`PrivateTopology`] owned by the test (killed and removed on
//! drop) with [`PrivateTopology::kill`], [`pause`](PrivateTopology::pause),
//! [`resume`](PrivateTopology::resume), [`restart`](PrivateTopology::restart). Name such tests
//! `private_*` or `fault_*`: `.config/nextest.toml` runs them one at a time.
//!
//! # MySQL flavour
//!
//! [`shared_mysql`] (and [`Topology::private_mysql`]) give the same topology with MySQL 8.4/9.x from
//! `SLUICE_MYSQL_BASEDIR` (never a path the project names itself): GTIDs with `SOURCE_AUTO_POSITION=1`,
//! replicas with `super_read_only`, every account caching_sha2_password, TLS on the primary only. Each
//! flavour has its own supervisor (`<target>/sluice-topology/mysql/` for MySQL). Without the variable
//! they return `None` after printing [`flavor::MYSQL_NOT_RUN`]; a test then returns early:
//!
//! ```ignore
//! let Some(topo) = sluice_tests::shared_mysql().await else { return };
//! ```
//!
//! `scripts/test.sh` prints that line once for the run, so a skipped flavour is never silent.
//! MySQL data dirs are copies of one template per install, initialized once under the target dir
//! ([`mysql_template`]).
//!
//! # Accounts (the same on every node)
//!
//! `root` (no password; setup only), `app`/`app` (application privileges, no SUPER / READ_ONLY ADMIN:
//! writes on a replica fail with ERR 1290), `monitor`/`monitor` (SLAVE MONITOR, BINLOG MONITOR,
//! PROCESS; MySQL: REPLICATION CLIENT, PROCESS), `repl`/`repl` (replication). No anonymous users.

pub mod accounts;
pub mod certs;
pub mod flavor;
pub mod mysql_template;
mod private;
pub mod procs;
mod proxy;
pub mod servers;
pub mod setup;
pub mod shared_state;
pub mod supervisor;
mod topology;

use std::fs::File;
use std::path::Path;

use anyhow::Context as _;
use flavor::Install;
use tokio::sync::OnceCell;

pub use flavor::{Flavor, MYSQL_NOT_RUN};
pub use private::{PrivateTopology, Which};
pub use proxy::{PROXY_USERS, Proxy, start_proxy, try_start_proxy};
pub use setup::redis_ping;
pub use topology::{APP_PASSWORD_FILE, MONITOR_PASSWORD_FILE, Node, Topology, direct_opts};

/// The shared topology of this process and the `users.lock` handle that keeps the supervisor alive
/// while this process runs (closing it at exit is what releases the shared lock).
struct Attached {
    topology: Topology,
    _users: File,
}

static SHARED: OnceCell<Attached> = OnceCell::const_new();
static SHARED_MYSQL: OnceCell<Attached> = OnceCell::const_new();

/// The topology shared by every test process of this run; starts it if none runs (cold: about a
/// second; attaching to a running one: a few milliseconds). Finds the `sluice-topology` binary next to
/// the test binary (see [`shared_state::locate_supervisor`]); cargo builds it with the crate's tests.
/// Panics with the cause if the topology cannot be had; [`try_shared`] returns it instead.
pub async fn shared() -> &'static Topology {
    try_shared().await.expect("attaching to the shared test topology")
}

/// [`shared()`], returning errors. Its flavour is the run's ([`Flavor::of_run`]: MariaDB unless
/// `SLUICE_TEST_FLAVOR=mysql`), so every test written against `shared()` runs on both flavours.
pub async fn try_shared() -> anyhow::Result<&'static Topology> {
    match Flavor::of_run() {
        Flavor::MariaDb => try_shared_mariadb().await,
        Flavor::MySql => try_shared_mysql().await?.context(MYSQL_NOT_RUN),
    }
}

/// The MariaDB topology shared by every test process of this run, whatever the run's flavour.
pub async fn try_shared_mariadb() -> anyhow::Result<&'static Topology> {
    let attached = SHARED
        .get_or_try_init(|| async {
            let bin = shared_state::locate_supervisor()?;
            attach(bin, Install::MariaDb).await
        })
        .await?;
    Ok(&attached.topology)
}

/// `Some(reason)` when this run's flavour is MySQL and a test exercises something only MariaDB has
/// (`reason` says what); the test prints the line and returns:
///
/// ```ignore
/// if sluice_tests::mariadb_only("MASTER_GTID_WAIT") { return Ok(()); }
/// ```
pub fn mariadb_only(reason: &str) -> bool {
    let skip = Flavor::of_run() == Flavor::MySql;
    if skip {
        eprintln!("not run on MySQL: {reason}");
    }
    skip
}

/// The MySQL topology shared by every test process of this run (see the crate doc), started if none
/// runs; `None` after printing [`MYSQL_NOT_RUN`] to stderr when `SLUICE_MYSQL_BASEDIR` is unset.
/// Panics with the cause if the variable is set but the topology cannot be had (a wrong path fails
/// loudly); [`try_shared_mysql`] returns it instead.
pub async fn shared_mysql() -> Option<&'static Topology> {
    let topology = try_shared_mysql().await.expect("attaching to the shared MySQL test topology");
    if topology.is_none() {
        eprintln!("{MYSQL_NOT_RUN}");
    }
    topology
}

/// [`shared_mysql`], returning errors and printing nothing.
pub async fn try_shared_mysql() -> anyhow::Result<Option<&'static Topology>> {
    let Some(install) = Install::mysql_from_env()? else { return Ok(None) };
    let attached = SHARED_MYSQL
        .get_or_try_init(|| async {
            let bin = shared_state::locate_supervisor()?;
            attach(bin, install).await
        })
        .await?;
    Ok(Some(&attached.topology))
}

/// The shared topology of `flavor`: [`try_shared`], or [`try_shared_mysql`] with an error (naming
/// `SLUICE_MYSQL_BASEDIR`) instead of `None`.
pub async fn try_shared_flavor(flavor: Flavor) -> anyhow::Result<&'static Topology> {
    match flavor {
        Flavor::MariaDb => try_shared_mariadb().await,
        Flavor::MySql => try_shared_mysql().await?.context(MYSQL_NOT_RUN),
    }
}

/// [`try_shared`] with the supervisor binary given (in integration tests:
/// `env!("CARGO_BIN_EXE_sluice-topology")`); the first caller in a process decides.
pub async fn try_shared_with(bin: &Path) -> anyhow::Result<&'static Topology> {
    let bin = bin.to_path_buf();
    let attached = SHARED.get_or_try_init(|| attach(bin, Install::MariaDb)).await?;
    Ok(&attached.topology)
}

async fn attach(bin: std::path::PathBuf, install: Install) -> anyhow::Result<Attached> {
    // File locks and the wait for a cold start block; keep them off the test's runtime threads.
    let (state, users) = tokio::task::spawn_blocking(move || shared_state::attach_blocking(&bin, &install))
        .await
        .context("the attach thread panicked")??;
    Ok(Attached { topology: state.topology, _users: users })
}
