//! The topology shared by every test process of a run: a state file under the target dir, a start lock,
//! and a "users" lock each test process holds (shared) for its whole life.
//!
//! Protocol (all files in `<target>/sluice-topology/`):
//! - `start.lock` (exclusive) serializes "is it running? if not, start it" between test processes, and
//!   the supervisor's decision to exit.
//! - `users.lock`: a test process takes it shared *before* it reads the state, and keeps it until it exits.
//!   The supervisor polls it with an exclusive `try_lock`; once that has succeeded for [`IDLE_EXIT`] and
//!   still succeeds while it holds `start.lock` (so nobody is attaching), it tears everything down.
//! - `state.toml` is written by the supervisor (temp file + rename) once the topology is ready, and
//!   removed when it exits. A state whose supervisor is dead, or whose ports do not answer, is stale: the
//!   attaching process kills what the state recorded and starts a new supervisor.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::flavor::{Flavor, Install};
use crate::procs::{self, ProcRecord};
use crate::topology::Topology;

/// The supervisor exits once no test process has held `users.lock` for this long.
pub const IDLE_EXIT: Duration = Duration::from_secs(20);
/// How long an attaching process waits for a new supervisor to report the topology ready.
const START_LIMIT: Duration = Duration::from_secs(120);
/// The same for MySQL, whose first start in a target dir initializes the data-dir template: seconds on
/// an idle machine, measured at over two minutes on a busy 2-core one.
const MYSQL_START_LIMIT: Duration = Duration::from_secs(600);
/// The supervisor binary's name; also what identifies its process.
pub const SUPERVISOR_BIN: &str = "sluice-topology";

/// The files of the shared topology of one flavour.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `<target>/sluice-topology` (or `$SLUICE_TOPOLOGY_ROOT`) for MariaDB; its `mysql/` for MySQL.
    pub root: PathBuf,
}

impl Paths {
    /// The default root: `$SLUICE_TOPOLOGY_ROOT`, else `<target dir>/sluice-topology` (MariaDB's).
    pub fn default_root() -> Self {
        let root = std::env::var_os("SLUICE_TOPOLOGY_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| procs::target_dir().join("sluice-topology"));
        Self { root }
    }

    /// The root of `flavor`'s shared topology: the default root for MariaDB, its `mysql/` for MySQL
    /// (each flavour has its own supervisor, state and locks).
    pub fn for_flavor(flavor: Flavor) -> Self {
        let base = Self::default_root();
        match flavor {
            Flavor::MariaDb => base,
            Flavor::MySql => Self { root: base.root.join(flavor.name()) },
        }
    }

    /// Serializes starting and stopping.
    pub fn start_lock(&self) -> PathBuf {
        self.root.join("start.lock")
    }

    /// Held shared by every test process using the topology.
    pub fn users_lock(&self) -> PathBuf {
        self.root.join("users.lock")
    }

    /// The running topology, written once it is ready.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.toml")
    }

    /// The supervisor's stdout/stderr.
    pub fn log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }

    /// Ledger of private topologies (see `private.rs`), for cleaning up after killed test processes.
    pub fn private_dir(&self) -> PathBuf {
        self.root.join("private")
    }

    /// Opens (creating) a lock file.
    pub fn open_lock(&self, path: &Path) -> anyhow::Result<File> {
        std::fs::create_dir_all(&self.root).with_context(|| format!("creating {}", self.root.display()))?;
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))
    }
}

/// What the supervisor writes to `state.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Chosen by the process that spawned the supervisor, to recognize its answer.
    pub nonce: String,
    /// The supervisor.
    pub supervisor: ProcRecord,
    /// mariadbd ×3 and redis-server.
    pub servers: Vec<ProcRecord>,
    /// Milliseconds from the supervisor's start to the topology being ready.
    pub startup_ms: u64,
    /// Where everything listens.
    pub topology: Topology,
}

impl State {
    /// Reads the state file; `Ok(None)` if there is none. An unreadable file counts as none (it is only
    /// ever replaced by rename, so a torn file means a bug or a full disk; starting anew is the fix).
    pub fn read(paths: &Paths) -> Option<State> {
        let text = std::fs::read_to_string(paths.state()).ok()?;
        toml::from_str(&text).ok()
    }

    /// Writes the state file atomically.
    pub fn write(&self, paths: &Paths) -> anyhow::Result<()> {
        let text = toml::to_string(self).context("serializing the state")?;
        let tmp = paths.root.join(format!("state.toml.{}", std::process::id()));
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, paths.state()).context("renaming the state file into place")
    }

    /// True if the supervisor and every server run and every port answers.
    pub fn healthy(&self) -> bool {
        let t = &self.topology;
        self.supervisor.alive()
            && self.servers.iter().all(ProcRecord::alive)
            && t.nodes().iter().all(|n| procs::port_open(n.addr))
            && procs::port_open(t.redis)
    }

    /// Kills whatever of this state still runs and removes its directory (a stale or unhealthy state).
    pub fn kill_all(&self) {
        self.supervisor.kill();
        for server in &self.servers {
            server.kill();
        }
        // Best effort: the dir is in tmpfs; failing to remove it must not block a new start.
        let _ = std::fs::remove_dir_all(&self.topology.dir);
    }
}

/// Attaches to the shared topology of `install`'s flavour, starting its supervisor (`bin`) if none runs.
/// Blocking. Returns the topology and the `users.lock` handle, which the caller must keep open for its
/// whole life.
pub fn attach_blocking(bin: &Path, install: &Install) -> anyhow::Result<(State, File)> {
    let paths = Paths::for_flavor(install.flavor());
    let start = paths.open_lock(&paths.start_lock())?;
    start.lock().context("locking start.lock")?;
    let users = paths.open_lock(&paths.users_lock())?;
    // Shared lock before reading the state: from here on the supervisor cannot decide to exit.
    users.lock_shared().context("locking users.lock (shared)")?;

    if let Some(state) = State::read(&paths) {
        if state.healthy() {
            return Ok((state, users));
        }
        tracing::warn!(dir = %state.topology.dir.display(), "shared topology state is stale; restarting");
        state.kill_all();
    }
    // Stale or absent: a leftover file must not be mistaken for the new supervisor's answer.
    let _ = std::fs::remove_file(paths.state());
    let state = spawn_supervisor(bin, &paths, install)?;
    drop(start);
    Ok((state, users))
}

/// Spawns `bin serve` detached (own process group, no inherited pipes) and waits for its state file.
fn spawn_supervisor(bin: &Path, paths: &Paths, install: &Install) -> anyhow::Result<State> {
    use std::os::unix::process::CommandExt as _;

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let nonce = format!("{}-{nanos:x}", std::process::id());
    // Appended, not truncated: the log of an earlier supervisor explains why its state went stale.
    let log = File::options()
        .create(true)
        .append(true)
        .open(paths.log())
        .with_context(|| format!("opening {}", paths.log().display()))?;
    let log2 = log.try_clone().context("duplicating the log handle")?;
    let mut command = Command::new(bin);
    command.arg("serve").arg("--root").arg(&paths.root).arg("--nonce").arg(&nonce);
    let limit = match install {
        Install::MariaDb => START_LIMIT,
        Install::MySql { basedir } => {
            command.arg("--mysql-basedir").arg(basedir);
            MYSQL_START_LIMIT
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: nextest signals a test's group on timeout, and the supervisor must
        // outlive the test process that happened to start it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;

    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("polling the supervisor")? {
            bail!(
                "the topology supervisor exited ({status}) before the topology was ready; {}:\n{}",
                paths.log().display(),
                procs::log_tail(&paths.log(), 4000)
            );
        }
        if let Some(state) = State::read(paths).filter(|s| s.nonce == nonce) {
            return Ok(state);
        }
        if Instant::now() > deadline {
            // Best effort: it is stuck; kill it so it does not linger.
            let _ = child.kill();
            bail!("the topology supervisor was not ready within {limit:?}; see {}", paths.log().display());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Finds the `sluice-topology` binary: `$SLUICE_TOPOLOGY_BIN`, nextest's `NEXTEST_BIN_EXE_*`, cargo's
/// `CARGO_BIN_EXE_*` if set at run time, else next to the running test binary (`<target>/<profile>/`
/// holds binaries, `<target>/<profile>/deps/` test binaries).
pub fn locate_supervisor() -> anyhow::Result<PathBuf> {
    for var in [
        "SLUICE_TOPOLOGY_BIN",
        "NEXTEST_BIN_EXE_sluice-topology",
        "NEXTEST_BIN_EXE_sluice_topology",
        "CARGO_BIN_EXE_sluice-topology",
    ] {
        if let Some(path) = std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_file()) {
            return Ok(path);
        }
    }
    let exe = std::env::current_exe().context("locating the current executable")?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(SUPERVISOR_BIN))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "cannot find the {SUPERVISOR_BIN} binary near {} (build it with `cargo build -p sluice-tests`, \
                 or set SLUICE_TOPOLOGY_BIN)",
                exe.display()
            )
        })
}
