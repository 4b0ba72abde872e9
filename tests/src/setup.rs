//! Starting one whole topology: data dirs, certificates, servers, accounts, replication.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mysql_async::prelude::Queryable as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::accounts::{self, APP_PASSWORD, MONITOR_PASSWORD, REPL_PASSWORD, REPL_USER};
use crate::flavor::{Flavor, Install};
use crate::servers::{Server, Spec};
use crate::topology::{APP_PASSWORD_FILE, MONITOR_PASSWORD_FILE, Node, Topology};
use crate::{certs, procs};

/// How long one server may take to listen after spawning (measured: well under a second).
const LISTEN_LIMIT: Duration = Duration::from_secs(60);

/// A directory removed (recursively, best effort) on drop.
#[derive(Debug)]
pub struct RunDir(pub PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        // Best effort: a leftover dir in tmpfs is reported by the topology test, not worth a panic here.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A topology whose servers this process owns. Dropping it kills the servers, then removes the dir
/// (field order matters: fields drop in declaration order).
#[derive(Debug)]
pub struct Running {
    /// `[primary, replica1, replica2, redis]`.
    pub servers: Vec<Server>,
    /// Where they listen.
    pub topology: Topology,
    /// The run directory, removed last.
    pub dir: RunDir,
}

impl Running {
    /// The running servers, for a state file.
    pub fn records(&self) -> Vec<procs::ProcRecord> {
        self.servers.iter().filter_map(Server::record).collect()
    }
}

/// Starts a topology of `install`'s servers in a new directory named `<prefix>XXXXXX` under tmpfs (or
/// the temp dir). A port grabbed by someone else between choosing and binding fails one attempt; so
/// retry twice.
pub async fn start(prefix: &str, install: &Install) -> anyhow::Result<Running> {
    let mut first_error = None;
    for attempt in 1..=3 {
        match start_once(prefix, install).await {
            Ok(running) => return Ok(running),
            Err(e) => {
                tracing::warn!(attempt, error = %format!("{e:#}"), "topology start failed");
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| anyhow::anyhow!("no attempt ran"))).context("starting a topology")
}

async fn start_once(prefix: &str, install: &Install) -> anyhow::Result<Running> {
    let t0 = Instant::now();
    let base = procs::data_base_dir();
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .with_context(|| format!("creating a run dir in {}", base.display()))?
        .keep();
    let run_dir = RunDir(dir.clone());

    let cert_files = certs::write_all(&dir)?;
    write_secret(&dir.join(APP_PASSWORD_FILE), APP_PASSWORD)?;
    write_secret(&dir.join(MONITOR_PASSWORD_FILE), MONITOR_PASSWORD)?;

    let ports = procs::free_ports(4)?;
    let db = |i: usize, name: &str, tls| Spec::Db {
        install: install.clone(),
        name: name.to_string(),
        datadir: dir.join(name),
        port: ports[i],
        server_id: u32::try_from(i + 1).unwrap_or(u32::MAX),
        replica: i > 0,
        tls,
    };
    let specs = [
        db(0, "primary", Some(cert_files.clone())),
        db(1, "replica1", None),
        db(2, "replica2", None),
        Spec::Redis { dir: dir.join("redis"), port: ports[3] },
    ];
    // join!, not try_join!: on a failure the other installs must finish before the dir is removed, or
    // they would write into it again after the removal.
    let installs =
        tokio::join!(specs[0].install(), specs[1].install(), specs[2].install(), specs[3].install());
    installs.0.and(installs.1).and(installs.2).and(installs.3)?;
    let t_install = t0.elapsed();

    let mut servers = specs.into_iter().map(Server::start).collect::<anyhow::Result<Vec<_>>>()?;
    for server in &mut servers {
        server.wait_listening(LISTEN_LIMIT).await?;
    }
    let t_listen = t0.elapsed();

    let node = |i: usize| Node {
        addr: servers[i].spec.addr(),
        server_id: u32::try_from(i + 1).unwrap_or(u32::MAX),
        tls: i == 0,
    };
    let topology = Topology {
        primary: node(0),
        replicas: [node(1), node(2)],
        redis: servers[3].spec.addr(),
        tls_ca: cert_files.ca.clone(),
        dir: dir.clone(),
        flavor: install.flavor(),
    };
    configure(&topology).await?;
    redis_ping(topology.redis).await?;
    tracing::info!(
        dir = %dir.display(),
        flavor = install.flavor().name(),
        install_ms = t_install.as_millis(),
        listen_ms = t_listen.as_millis(),
        total_ms = t0.elapsed().as_millis(),
        "topology started"
    );
    Ok(Running { servers, topology, dir: run_dir })
}

/// Accounts on the primary, then replication on both replicas, then a GTID wait that proves it runs.
async fn configure(topology: &Topology) -> anyhow::Result<()> {
    let mut conn = topology.connect_root(&topology.primary).await?;
    // mariadb-install-db may create anonymous users; they shadow `user@'%'` for local clients.
    let anonymous: Vec<String> =
        conn.query("SELECT host FROM mysql.user WHERE user = ''").await.context("listing anonymous users")?;
    for host in anonymous {
        conn.query_drop(format!("DROP USER ''@'{host}'")).await.context("dropping an anonymous user")?;
    }
    for stmt in accounts::create_statements(topology.flavor) {
        conn.query_drop(&stmt).await.with_context(|| format!("on the primary: {stmt}"))?;
    }
    conn.disconnect().await.ok();

    let port = topology.primary.addr.port();
    tokio::try_join!(
        start_replication(topology, &topology.replicas[0], port),
        start_replication(topology, &topology.replicas[1], port)
    )?;
    topology.try_wait_replicas_caught_up().await
}

async fn start_replication(topology: &Topology, replica: &Node, primary_port: u16) -> anyhow::Result<()> {
    let mut conn = topology.connect_root(replica).await?;
    // CONNECT_RETRY=1: after a fault test restarts the primary, replicas reconnect within a second.
    let statements = match topology.flavor {
        Flavor::MariaDb => [
            format!(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary_port}, MASTER_USER='{REPL_USER}', \
                 MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
            ),
            "START SLAVE".to_string(),
            "SET GLOBAL read_only=1".to_string(),
        ],
        // GET_SOURCE_PUBLIC_KEY: `repl` is a caching_sha2_password account and replication runs without
        // TLS, so the replica asks the primary for its RSA key. The replica runs with super_read_only.
        Flavor::MySql => [
            format!(
                "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT={primary_port}, \
                 SOURCE_USER='{REPL_USER}', SOURCE_PASSWORD='{REPL_PASSWORD}', SOURCE_AUTO_POSITION=1, \
                 GET_SOURCE_PUBLIC_KEY=1, SOURCE_CONNECT_RETRY=1"
            ),
            "START REPLICA".to_string(),
            "SET GLOBAL super_read_only=ON".to_string(),
        ],
    };
    for stmt in &statements {
        conn.query_drop(stmt).await.with_context(|| format!("on replica {}: {stmt}", replica.addr))?;
    }
    // Wait for both threads to run; an IO thread that cannot log in would otherwise show up only as a
    // GTID-wait timeout 30 s later.
    let names = ReplicaStatusNames::of(topology.flavor);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row: Option<mysql_async::Row> = conn.query_first(names.show).await?;
        let row =
            row.with_context(|| format!("{} returned no row after starting replication", names.show))?;
        let io: Option<String> = row.get(names.io_running);
        let sql: Option<String> = row.get(names.sql_running);
        if io.as_deref() == Some("Yes") && sql.as_deref() == Some("Yes") {
            break;
        }
        if Instant::now() > deadline {
            let err: Option<String> = row.get("Last_IO_Error");
            bail!("replica {} not replicating (IO {io:?}, SQL {sql:?}): {err:?}", replica.addr);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    conn.disconnect().await.ok();
    Ok(())
}

/// The replica status statement and its thread-state columns per flavour (MySQL 8.4 removed the SLAVE
/// and MASTER forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaStatusNames {
    /// `SHOW SLAVE STATUS` / `SHOW REPLICA STATUS`.
    pub show: &'static str,
    /// `Slave_IO_Running` / `Replica_IO_Running`.
    pub io_running: &'static str,
    /// `Slave_SQL_Running` / `Replica_SQL_Running`.
    pub sql_running: &'static str,
}

impl ReplicaStatusNames {
    /// The names `flavor` uses.
    pub fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                show: "SHOW SLAVE STATUS",
                io_running: "Slave_IO_Running",
                sql_running: "Slave_SQL_Running",
            },
            Flavor::MySql => Self {
                show: "SHOW REPLICA STATUS",
                io_running: "Replica_IO_Running",
                sql_running: "Replica_SQL_Running",
            },
        }
    }
}

/// The statements that stop and start a replica's replication and delay it, per flavour (MySQL 8.4
/// removed the SLAVE and MASTER forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaControl {
    /// `STOP SLAVE` / `STOP REPLICA`.
    pub stop: &'static str,
    /// `START SLAVE` / `START REPLICA`.
    pub start: &'static str,
    /// `STOP SLAVE SQL_THREAD` / `STOP REPLICA SQL_THREAD`: the replica keeps receiving, applies nothing.
    pub stop_sql_thread: &'static str,
    /// `START SLAVE SQL_THREAD` / `START REPLICA SQL_THREAD`.
    pub start_sql_thread: &'static str,
    flavor: Flavor,
}

impl ReplicaControl {
    /// The statements `flavor` uses.
    pub fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                stop: "STOP SLAVE",
                start: "START SLAVE",
                stop_sql_thread: "STOP SLAVE SQL_THREAD",
                start_sql_thread: "START SLAVE SQL_THREAD",
                flavor,
            },
            Flavor::MySql => Self {
                stop: "STOP REPLICA",
                start: "START REPLICA",
                stop_sql_thread: "STOP REPLICA SQL_THREAD",
                start_sql_thread: "START REPLICA SQL_THREAD",
                flavor,
            },
        }
    }

    /// The statement that makes a stopped replica apply each event `secs` seconds after the source did.
    pub fn delay(&self, secs: u32) -> String {
        match self.flavor {
            Flavor::MariaDb => format!("CHANGE MASTER TO MASTER_DELAY = {secs}"),
            Flavor::MySql => format!("CHANGE REPLICATION SOURCE TO SOURCE_DELAY = {secs}"),
        }
    }
}

/// Sends a raw `PING` to Redis and expects `+PONG`.
pub async fn redis_ping(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let mut stream =
        tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to redis {addr}"))?;
    stream.write_all(b"PING\r\n").await?;
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).await.context("reading redis's answer to PING")?;
    if &buf != b"+PONG\r\n" {
        bail!("redis answered {:?} to PING", String::from_utf8_lossy(&buf));
    }
    Ok(())
}

/// Writes a password file readable by the owner only.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(secret.as_bytes()).with_context(|| format!("writing {}", path.display()))
}
