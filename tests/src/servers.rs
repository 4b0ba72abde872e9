//! One server process (mariadbd, mysqld or redis-server): how to install, spawn, probe and kill it.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::certs::CertFiles;
use crate::flavor::Install;
use crate::{mysql_template, procs};

/// How to start one server; kept so a private topology can restart a node it killed.
#[derive(Debug, Clone)]
pub enum Spec {
    /// A mariadbd or mysqld; `datadir` is `<run dir>/<name>`.
    Db {
        /// Which server, from where.
        install: Install,
        /// `primary`, `replica1`, `replica2`: names the datadir and the log file.
        name: String,
        /// Its own directory (datadir, socket, pid file).
        datadir: PathBuf,
        /// TCP port on 127.0.0.1.
        port: u16,
        /// `--server-id`.
        server_id: u32,
        /// Replicas start read-only (MariaDB `--read-only`, MySQL `--super-read-only`) so no write can
        /// land before replication is set up.
        replica: bool,
        /// `--ssl-ca/--ssl-cert/--ssl-key`, on the primary. Without it a mysqld offers no TLS at all
        /// (`--tls-version=`), like a mariadbd without certificates.
        tls: Option<CertFiles>,
    },
    /// A redis-server without persistence.
    Redis {
        /// Its working directory.
        dir: PathBuf,
        /// TCP port on 127.0.0.1.
        port: u16,
    },
}

impl Spec {
    /// Short name for logs and errors.
    pub fn name(&self) -> &str {
        match self {
            Spec::Db { name, .. } => name,
            Spec::Redis { .. } => "redis",
        }
    }

    /// The server's directory (`mariadbd --datadir`, redis `--dir`).
    pub fn dir(&self) -> &Path {
        match self {
            Spec::Db { datadir, .. } | Spec::Redis { dir: datadir, .. } => datadir,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        let port = match self {
            Spec::Db { port, .. } | Spec::Redis { port, .. } => *port,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Substrings of its command line that identify its process (see [`procs::ProcRecord`]). redis-server
    /// rewrites its title to `redis-server 127.0.0.1:<port>`, so match the port, not the arguments.
    pub fn needles(&self) -> Vec<String> {
        match self {
            Spec::Db { datadir, .. } => vec![format!("--datadir={}", datadir.display())],
            Spec::Redis { port, .. } => vec!["redis-server".to_string(), format!(":{port}")],
        }
    }

    /// The server's `--tmpdir`, a sibling of the datadir (inside it, it would show up as a database).
    /// The default /tmp is shared, and concurrent `mariadb-install-db` bootstraps were measured to
    /// collide there on internal temp-table names ("Can't find file: '/tmp/#sql-temptable-…'").
    pub fn tmpdir(&self) -> PathBuf {
        let dir = self.dir();
        dir.with_file_name(format!("{}-tmp", self.name()))
    }

    /// Where its stdout and stderr go (mariadbd's error log is stderr).
    pub fn log_path(&self) -> PathBuf {
        let dir = self.dir();
        dir.with_file_name(format!("{}.log", self.name()))
    }

    /// Creates the data directory: `mariadb-install-db` for mariadbd, a copy of the install's
    /// template ([`mysql_template`]) for mysqld, an empty dir for Redis.
    pub async fn install(&self) -> anyhow::Result<()> {
        let Spec::Db { datadir, name, install, .. } = self else {
            return std::fs::create_dir_all(self.dir()).context("creating the redis dir");
        };
        let tmpdir = self.tmpdir();
        std::fs::create_dir_all(&tmpdir).with_context(|| format!("creating {}", tmpdir.display()))?;
        if let Install::MySql { basedir } = install {
            let (basedir, datadir) = (basedir.clone(), datadir.clone());
            return tokio::task::spawn_blocking(move || {
                let template = mysql_template::ensure(&basedir)?;
                mysql_template::copy(&template, &datadir)
            })
            .await
            .context("the MySQL install thread panicked")?;
        }
        let out = tokio::process::Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", datadir.display()))
            .arg("--auth-root-authentication-method=normal")
            // No `test` database: it comes with anonymous-user grants a production server does not have.
            .arg("--skip-test-db")
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .stdin(Stdio::null())
            .output()
            .await
            .context("running mariadb-install-db (is MariaDB installed?)")?;
        if !out.status.success() {
            bail!(
                "mariadb-install-db for {name} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts the server as a child of this process, output into [`Spec::log_path`] (never inherited:
    /// nextest would wait on a test's pipes held open by a server).
    pub fn spawn(&self) -> anyhow::Result<Child> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .with_context(|| format!("opening {}", self.log_path().display()))?;
        let mut cmd = match self {
            Spec::Db { install: Install::MariaDb, datadir, port, server_id, replica, tls, .. } => {
                let d = datadir.display();
                let tmpdir = self.tmpdir();
                let mut cmd = Command::new("mariadbd");
                cmd.args([
                    "--no-defaults".to_string(),
                    "--user=root".to_string(),
                    format!("--datadir={d}"),
                    format!("--port={port}"),
                    "--bind-address=127.0.0.1".to_string(),
                    format!("--socket={d}/sock"),
                    format!("--pid-file={d}/pid"),
                    format!("--tmpdir={}", tmpdir.display()),
                    format!("--server-id={server_id}"),
                    "--log-bin".to_string(),
                    "--log-slave-updates".to_string(),
                    "--binlog-format=ROW".to_string(),
                    "--gtid-strict-mode=1".to_string(),
                    "--max-allowed-packet=64M".to_string(),
                    "--skip-name-resolve".to_string(),
                    "--max-connections=2000".to_string(),
                    // Small buffers start fast; test data is tiny.
                    "--innodb-buffer-pool-size=64M".to_string(),
                    "--innodb-log-file-size=16M".to_string(),
                    // Durability across a host crash is not needed; a killed mariadbd still loses nothing
                    // because the OS keeps the written pages.
                    "--innodb-flush-log-at-trx-commit=2".to_string(),
                    "--performance-schema=OFF".to_string(),
                ]);
                if *replica {
                    cmd.arg("--read-only=1");
                }
                if let Some(tls) = tls {
                    cmd.arg(format!("--ssl-ca={}", tls.ca.display()))
                        .arg(format!("--ssl-cert={}", tls.server_cert.display()))
                        .arg(format!("--ssl-key={}", tls.server_key.display()));
                }
                cmd
            }
            Spec::Db {
                install: Install::MySql { basedir }, datadir, port, server_id, replica, tls, ..
            } => {
                let d = datadir.display();
                let tmpdir = self.tmpdir();
                let mut cmd = Command::new(basedir.join("bin/mysqld"));
                cmd.args([
                    "--no-defaults".to_string(),
                    format!("--basedir={}", basedir.display()),
                    "--user=root".to_string(),
                    format!("--datadir={d}"),
                    format!("--port={port}"),
                    "--bind-address=127.0.0.1".to_string(),
                    format!("--socket={d}/sock"),
                    format!("--pid-file={d}/pid"),
                    format!("--tmpdir={}", tmpdir.display()),
                    format!("--server-id={server_id}"),
                    // log_replica_updates and ROW format are MySQL's defaults.
                    "--log-bin=bin".to_string(),
                    "--gtid-mode=ON".to_string(),
                    "--enforce-gtid-consistency=ON".to_string(),
                    "--max-allowed-packet=64M".to_string(),
                    "--skip-name-resolve".to_string(),
                    "--max-connections=2000".to_string(),
                    "--innodb-flush-log-at-trx-commit=2".to_string(),
                    "--performance-schema=OFF".to_string(),
                    // MariaDB's default; MySQL's is OFF (the LOAD DATA LOCAL tests need it).
                    "--local-infile=ON".to_string(),
                ]);
                cmd.args(mysql_template::INNODB_OPTIONS);
                if *replica {
                    // Refuses writes from every account, SUPER and CONNECTION_ADMIN holders included.
                    cmd.arg("--super-read-only=ON");
                }
                match tls {
                    Some(tls) => {
                        cmd.arg(format!("--ssl-ca={}", tls.ca.display()))
                            .arg(format!("--ssl-cert={}", tls.server_cert.display()))
                            .arg(format!("--ssl-key={}", tls.server_key.display()));
                    }
                    // MySQL would otherwise offer TLS with the certificates it generates itself.
                    None => {
                        cmd.arg("--tls-version=");
                    }
                }
                cmd
            }
            Spec::Redis { dir, port } => {
                let mut cmd = Command::new("redis-server");
                cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
                    .args(["--appendonly", "no", "--daemonize", "no"])
                    .arg("--dir")
                    .arg(dir);
                cmd
            }
        };
        if let (Spec::Db { server_id, .. }, Some(dir)) = (self, std::env::var_os("SLUICE_TEST_GENERAL_LOG")) {
            // Debugging: every statement each server runs, to `$SLUICE_TEST_GENERAL_LOG/server-N.log`.
            let file = std::path::Path::new(&dir).join(format!("server-{server_id}.log"));
            cmd.arg("--general-log=ON").arg(format!("--general-log-file={}", file.display()));
        }
        let err = log.try_clone().context("duplicating the log handle")?;
        cmd.stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawning {}", self.name()))
    }
}

/// A running server owned by this process: dropping it SIGKILLs the process and reaps it.
#[derive(Debug)]
pub struct Server {
    /// How it was started.
    pub spec: Spec,
    /// The process; `None` while a private topology has it killed.
    pub child: Option<Child>,
}

impl Server {
    /// Spawns `spec`.
    pub fn start(spec: Spec) -> anyhow::Result<Self> {
        let child = spec.spawn()?;
        Ok(Self { spec, child: Some(child) })
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What a state file records about it, while it runs.
    pub fn record(&self) -> Option<procs::ProcRecord> {
        self.pid().map(|pid| procs::ProcRecord { pid, needles: self.spec.needles() })
    }

    /// Fails with the log tail if the process has exited (a server never exits on its own in a test run).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        let name = self.spec.name().to_string();
        let Some(child) = self.child.as_mut() else {
            bail!("{name} is not running");
        };
        if let Some(status) = child.try_wait().with_context(|| format!("polling {name}"))? {
            bail!("{name} exited ({status}); log tail:\n{}", procs::log_tail(&self.spec.log_path(), 3000));
        }
        Ok(())
    }

    /// Waits until the server accepts TCP connections, failing early if it exits.
    pub async fn wait_listening(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let addr = self.spec.addr();
        loop {
            self.check_running()?;
            if procs::port_open(addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen on {addr} within {limit:?}", self.spec.name());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILLs and reaps the process (no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it already exited; wait() then just reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again from its spec (same port, same data).
    pub fn respawn(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.child = Some(self.spec.spawn()?);
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
