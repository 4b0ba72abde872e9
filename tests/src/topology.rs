//! `Topology`: where the servers of one topology listen, and the direct connections tests make to them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use serde::{Deserialize, Serialize};

use crate::accounts::{APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER, ROOT_USER};
use crate::certs;
use crate::flavor::Flavor;

/// File in the topology dir holding the `app` password, for `[backend] credentials.password_file`.
pub const APP_PASSWORD_FILE: &str = "app.password";
/// File in the topology dir holding the `monitor` password, for `[monitor] credentials.password_file`.
pub const MONITOR_PASSWORD_FILE: &str = "monitor.password";

/// One MariaDB or MySQL server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `127.0.0.1:<port>`.
    pub addr: SocketAddr,
    /// Its `@@server_id` (primary 1, replicas 2 and 3).
    pub server_id: u32,
    /// Whether it offers TLS (the primary does, with a cert signed by [`Topology::tls_ca`]).
    pub tls: bool,
}

/// A MariaDB (or MySQL: [`Topology::flavor`]) primary, two GTID replicas of it, and a Redis; shared
/// ([`crate::shared()`], [`crate::shared_mysql()`]) or private ([`Topology::private`]). Plain data:
/// cloning it does not clone the servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// The primary (writable, TLS enabled).
    pub primary: Node,
    /// Two replicas, `read_only=1` (MySQL: `super_read_only=ON`), replicating from the primary with
    /// `MASTER_USE_GTID=slave_pos` (MySQL: `SOURCE_AUTO_POSITION=1`).
    pub replicas: [Node; 2],
    /// redis-server without persistence.
    pub redis: SocketAddr,
    /// PEM CA that signed the primary's certificate and [`Topology::proxy_tls_files`]'s.
    pub tls_ca: PathBuf,
    /// The topology's directory: data dirs, logs (`primary.log` …), certificates, password files.
    pub dir: PathBuf,
    /// The servers' flavour.
    #[serde(default)]
    pub flavor: Flavor,
}

/// Makes schema names unique among the tests of one process; the pid makes them unique across processes.
static SCHEMA_SEQ: AtomicU64 = AtomicU64::new(0);

impl Topology {
    /// The three database servers, primary first.
    pub fn nodes(&self) -> [&Node; 3] {
        [&self.primary, &self.replicas[0], &self.replicas[1]]
    }

    /// Direct connection options to `node` as `app` (the account sluice uses toward backends).
    pub fn app_opts(&self, node: &Node) -> OptsBuilder {
        direct_opts(node.addr, APP_USER, APP_PASSWORD)
    }

    /// Direct connection options to `node` as root (setup only: root ignores `read_only`).
    pub fn root_opts(&self, node: &Node) -> OptsBuilder {
        direct_opts(node.addr, ROOT_USER, "")
    }

    /// Direct connection options to `node` as `monitor`.
    pub fn monitor_opts(&self, node: &Node) -> OptsBuilder {
        direct_opts(node.addr, MONITOR_USER, MONITOR_PASSWORD)
    }

    /// TLS options that verify a backend's certificate against [`Topology::tls_ca`] (hostname `localhost`
    /// or `127.0.0.1`, both are in the certificate).
    pub fn backend_ssl_opts(&self) -> SslOpts {
        SslOpts::default().with_root_certs(vec![self.tls_ca.clone().into()]).with_disable_built_in_roots(true)
    }

    /// `(cert, key, ca)` PEM files for sluice's client-facing TLS: CN `localhost`, SAN `localhost` and
    /// `127.0.0.1`, signed by the same CA as the primary's (`ca` == [`Topology::tls_ca`]).
    pub fn proxy_tls_files(&self) -> (PathBuf, PathBuf, PathBuf) {
        let files = certs::CertFiles::in_dir(&self.dir);
        (files.proxy_cert, files.proxy_key, files.ca)
    }

    /// File holding the `app` password (what sluice's `[backend]` credentials point at).
    pub fn app_password_file(&self) -> PathBuf {
        self.dir.join(APP_PASSWORD_FILE)
    }

    /// File holding the `monitor` password.
    pub fn monitor_password_file(&self) -> PathBuf {
        self.dir.join(MONITOR_PASSWORD_FILE)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn redis_url(&self) -> String {
        format!("redis://{}/", self.redis)
    }

    /// Creates a uniquely named database on the primary (as root) and waits until both replicas have it.
    /// The name starts with `prefix` (sanitized to `[a-z0-9_]`) and fits MySQL's 64-character limit.
    /// Panics with the cause if that fails; [`Topology::try_fresh_schema`] returns it instead.
    pub async fn fresh_schema(&self, prefix: &str) -> String {
        self.try_fresh_schema(prefix).await.expect("creating a fresh schema on the test topology")
    }

    /// [`Topology::fresh_schema`], returning errors.
    pub async fn try_fresh_schema(&self, prefix: &str) -> anyhow::Result<String> {
        let clean: String = prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(32)
            .collect();
        let seq = SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("{clean}_{}_{seq}_{nanos:x}", std::process::id());
        let mut conn = self.connect_root(&self.primary).await?;
        conn.query_drop(format!("CREATE DATABASE `{name}`"))
            .await
            .with_context(|| format!("creating database {name} on the primary"))?;
        conn.disconnect().await.ok();
        self.try_wait_replicas_caught_up().await?;
        Ok(name)
    }

    /// Waits (30 s at most) until both replicas have applied everything the primary has binlogged so far:
    /// `MASTER_GTID_WAIT(<primary @@gtid_binlog_pos>)` on each (MySQL:
    /// `WAIT_FOR_EXECUTED_GTID_SET(<primary @@gtid_executed>)`). Panics with the cause if they do not;
    /// [`Topology::try_wait_replicas_caught_up`] returns it instead.
    pub async fn wait_replicas_caught_up(&self) {
        self.try_wait_replicas_caught_up().await.expect("waiting for the replicas to catch up");
    }

    /// [`Topology::wait_replicas_caught_up`], returning errors.
    pub async fn try_wait_replicas_caught_up(&self) -> anyhow::Result<()> {
        let mut conn = self.connect_root(&self.primary).await?;
        let sql = match self.flavor {
            Flavor::MariaDb => "SELECT @@gtid_binlog_pos",
            Flavor::MySql => "SELECT @@global.gtid_executed",
        };
        let pos: Option<String> = conn.query_first(sql).await.context("reading the primary's GTID")?;
        conn.disconnect().await.ok();
        let pos = pos.unwrap_or_default();
        tokio::try_join!(
            self.wait_replica_gtid(&self.replicas[0], &pos),
            self.wait_replica_gtid(&self.replicas[1], &pos)
        )?;
        Ok(())
    }

    async fn wait_replica_gtid(&self, replica: &Node, pos: &str) -> anyhow::Result<()> {
        let mut conn = self.connect_root(replica).await?;
        // Both return 0 once the replica has the position, 1 (MySQL) or -1 (MariaDB) on a timeout.
        let wait = match self.flavor {
            Flavor::MariaDb => "SELECT MASTER_GTID_WAIT(?, 30)",
            Flavor::MySql => "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 30)",
        };
        let res: Option<i64> = conn
            .exec_first(wait, (pos,))
            .await
            .with_context(|| format!("waiting for GTID {pos} on replica {}", replica.addr))?;
        conn.disconnect().await.ok();
        if res != Some(0) {
            bail!("replica {} did not reach GTID {pos} within 30 s (result {res:?})", replica.addr);
        }
        Ok(())
    }

    /// A root connection to `node`, with the address in the error.
    pub async fn connect_root(&self, node: &Node) -> anyhow::Result<Conn> {
        Conn::new(self.root_opts(node)).await.with_context(|| format!("connecting as root to {}", node.addr))
    }
}

/// Options for a direct TCP connection: no unix-socket upgrade (mysql_async would otherwise switch to
/// the server's socket for 127.0.0.1, and these tests are about TCP).
pub fn direct_opts(addr: SocketAddr, user: &str, password: &str) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
}
