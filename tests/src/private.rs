//! `PrivateTopology`: a topology owned by one test, for tests that kill, pause, lag or re-grant.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::flavor::{Flavor, Install, MYSQL_NOT_RUN};
use crate::procs::{self, ProcRecord};
use crate::setup::{self, Running};
use crate::shared_state::Paths;
use crate::topology::Topology;

/// Numbers the ledger files of one process.
static PRIVATE_SEQ: AtomicU64 = AtomicU64::new(0);

/// One server of a topology, for [`PrivateTopology`]'s fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The primary.
    Primary,
    /// `Replica(0)` or `Replica(1)`.
    Replica(usize),
    /// redis-server.
    Redis,
}

impl Which {
    fn index(self) -> anyhow::Result<usize> {
        match self {
            Which::Primary => Ok(0),
            Which::Replica(i @ 0..=1) => Ok(1 + i),
            Which::Replica(i) => anyhow::bail!("there are two replicas; Replica({i}) does not exist"),
            Which::Redis => Ok(3),
        }
    }
}

/// What a private topology records under `<root>/private/` so a later run can clean up after a test
/// process that was killed before its `Drop` ran (a nextest timeout, SIGKILL).
#[derive(Debug, Serialize, Deserialize)]
struct Ledger {
    owner: ProcRecord,
    dir: PathBuf,
    servers: Vec<ProcRecord>,
}

/// A topology owned by this test: same setup as the shared one; dropping it kills every server and
/// removes its directory. Dereferences to [`Topology`].
#[derive(Debug)]
pub struct PrivateTopology {
    running: Running,
    ledger: PathBuf,
}

impl Topology {
    /// Starts a private topology (about as fast as the shared one's cold start). Use it only in tests
    /// named `private_*` or `fault_*`, which nextest runs one at a time (`.config/nextest.toml`).
    /// Panics with the cause if it cannot start; [`Topology::try_private`] returns it instead.
    pub async fn private() -> PrivateTopology {
        Self::try_private().await.expect("starting a private test topology")
    }

    /// [`Topology::private`], returning errors. Its flavour is the run's ([`Flavor::of_run`]).
    pub async fn try_private() -> anyhow::Result<PrivateTopology> {
        Self::try_private_flavor(Flavor::of_run()).await
    }

    /// A private MySQL topology, or `None` (after printing [`MYSQL_NOT_RUN`]) when
    /// `SLUICE_MYSQL_BASEDIR` is unset. Panics with the cause if it cannot start.
    pub async fn private_mysql() -> Option<PrivateTopology> {
        match Install::mysql_from_env().expect("SLUICE_MYSQL_BASEDIR names a MySQL install") {
            Some(install) => {
                Some(Self::try_private_of(&install).await.expect("starting a private MySQL test topology"))
            }
            None => {
                eprintln!("{MYSQL_NOT_RUN}");
                None
            }
        }
    }

    /// A private topology of `flavor`; MySQL needs `SLUICE_MYSQL_BASEDIR` (an error without it).
    pub async fn try_private_flavor(flavor: Flavor) -> anyhow::Result<PrivateTopology> {
        Self::try_private_of(&Install::for_flavor(flavor)?).await
    }

    async fn try_private_of(install: &Install) -> anyhow::Result<PrivateTopology> {
        // The ledger lives with the MariaDB root's; `cleanup_stale` there covers both flavours.
        let paths = Paths::default_root();
        cleanup_stale(&paths);
        std::fs::create_dir_all(paths.private_dir()).context("creating the private ledger dir")?;
        let prefix = format!("sluice-private-{}-", install.flavor().name());
        let running = setup::start(&prefix, install).await?;
        let ledger = paths.private_dir().join(format!(
            "{}-{}.toml",
            std::process::id(),
            PRIVATE_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let private = PrivateTopology { running, ledger };
        private.write_ledger()?;
        Ok(private)
    }
}

impl std::ops::Deref for PrivateTopology {
    type Target = Topology;

    fn deref(&self) -> &Topology {
        &self.running.topology
    }
}

impl PrivateTopology {
    /// The topology's addresses (also reachable through `Deref`).
    pub fn topology(&self) -> &Topology {
        &self.running.topology
    }

    /// Pids of the servers that currently run.
    pub fn pids(&self) -> Vec<u32> {
        self.running.records().into_iter().map(|r| r.pid).collect()
    }

    /// SIGKILLs one server (a crash: no shutdown, connections reset).
    pub fn kill(&mut self, which: Which) -> anyhow::Result<()> {
        self.running.servers[which.index()?].kill();
        self.write_ledger()
    }

    /// SIGSTOPs one server: it keeps its sockets but answers nothing (a hung host).
    /// Returns once every thread of the server is stopped: `kill` returns earlier, and a thread already
    /// running could still answer a query in that window (seen under full-suite load).
    pub fn pause(&self, which: Which) -> anyhow::Result<()> {
        self.signal(which, Signal::SIGSTOP)?;
        let server = &self.running.servers[which.index()?];
        let pid = server.pid().with_context(|| format!("{} is not running", server.spec.name()))?;
        procs::wait_stopped(pid, Duration::from_secs(5))
    }

    /// SIGCONTs a server paused with [`PrivateTopology::pause`].
    pub fn resume(&self, which: Which) -> anyhow::Result<()> {
        self.signal(which, Signal::SIGCONT)
    }

    /// Starts a killed server again on the same port with the same data, and waits until it listens.
    /// A restarted replica resumes replicating by itself (its master.info survives); after a primary
    /// restart the replicas' IO threads reconnect within a second (`MASTER_CONNECT_RETRY=1`).
    pub async fn restart(&mut self, which: Which) -> anyhow::Result<()> {
        let server = &mut self.running.servers[which.index()?];
        server.respawn()?;
        server.wait_listening(Duration::from_secs(60)).await?;
        self.write_ledger()
    }

    fn signal(&self, which: Which, signal: Signal) -> anyhow::Result<()> {
        let server = &self.running.servers[which.index()?];
        let pid = server.pid().with_context(|| format!("{} is not running", server.spec.name()))?;
        procs::signal(pid, signal)
    }

    fn write_ledger(&self) -> anyhow::Result<()> {
        let ledger = Ledger {
            owner: ProcRecord { pid: std::process::id(), needles: Vec::new() },
            dir: self.running.topology.dir.clone(),
            servers: self.running.records(),
        };
        let text = toml::to_string(&ledger).context("serializing the private ledger")?;
        std::fs::write(&self.ledger, text).with_context(|| format!("writing {}", self.ledger.display()))
    }
}

impl Drop for PrivateTopology {
    fn drop(&mut self) {
        // A paused server ignores nothing but SIGKILL, which is what `Server::kill` sends.
        for server in &mut self.running.servers {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&self.running.topology.dir);
        let _ = std::fs::remove_file(&self.ledger);
    }
}

/// Kills the servers of private topologies whose owning process is gone, removes their dirs and ledgers.
pub fn cleanup_stale(paths: &Paths) {
    let Ok(entries) = std::fs::read_dir(paths.private_dir()) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let Some(ledger) =
            std::fs::read_to_string(&path).ok().and_then(|t| toml::from_str::<Ledger>(&t).ok())
        else {
            // An unreadable ledger is a torn write of a dead process (a live one rewrites it whole).
            continue;
        };
        if ledger.owner.alive() {
            continue;
        }
        for server in &ledger.servers {
            server.kill();
        }
        let _ = std::fs::remove_dir_all(&ledger.dir);
        let _ = std::fs::remove_file(&path);
    }
}
