//! The harness's own tests: the shared topology replicates, its accounts are production-like, TLS and
//! Redis answer, and a private topology leaves nothing behind. Every check runs on both flavours:
//! `mariadb::<check>` and `mysql::<check>` (the latter print one line and pass when
//! `SLUICE_MYSQL_BASEDIR` is unset; `scripts/test.sh` says so once for the run).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, bail};
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, OptsBuilder};
use sluice_tests::setup::ReplicaStatusNames;
use sluice_tests::{Flavor, Node, Topology, Which};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Attaches to `flavor`'s shared topology and says how long it took (cold start or attach); `None` for
/// MySQL without `SLUICE_MYSQL_BASEDIR` (after printing why).
async fn topo(flavor: Flavor) -> anyhow::Result<Option<&'static Topology>> {
    let t0 = Instant::now();
    let topo = match flavor {
        Flavor::MariaDb => Some(sluice_tests::try_shared_mariadb().await?),
        Flavor::MySql => sluice_tests::try_shared_mysql().await?,
    };
    match topo {
        Some(_) => eprintln!("shared {} topology available after {:?}", flavor.name(), t0.elapsed()),
        None => eprintln!("{}", sluice_tests::MYSQL_NOT_RUN),
    }
    Ok(topo)
}

/// `mariadb::<check>` and `mysql::<check>` tests, each calling `<check>(flavor)`.
macro_rules! on_both_flavours {
    ($($check:ident),* $(,)?) => {
        mod mariadb {
            $(
                #[tokio::test]
                async fn $check() -> anyhow::Result<()> {
                    super::$check(sluice_tests::Flavor::MariaDb).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $check() -> anyhow::Result<()> {
                    super::$check(sluice_tests::Flavor::MySql).await
                }
            )*
        }
    };
}

on_both_flavours!(
    replication_reaches_both_replicas,
    replica_refuses_app_writes_with_1290,
    no_anonymous_users_and_app_lacks_super,
    monitor_sees_replication_but_no_data,
    primary_accepts_verified_tls,
    redis_answers_ping,
    sluice_config_matches_the_topology,
    private_topology_is_gone_after_drop,
);

/// The MySQL error code of a failed statement, or an error if it did not fail that way.
fn server_code<T>(result: Result<T, mysql_async::Error>) -> anyhow::Result<u16> {
    match result {
        Ok(_) => bail!("the statement succeeded but should have failed"),
        Err(mysql_async::Error::Server(e)) => Ok(e.code),
        Err(e) => bail!("expected a server error, got {e}"),
    }
}

async fn connect(opts: OptsBuilder, what: &str) -> anyhow::Result<Conn> {
    Conn::new(opts).await.with_context(|| format!("connecting {what}"))
}

/// Creates `<schema>.t (id INT PRIMARY KEY, v VARCHAR(20))` with one row as `app` on the primary, and
/// waits until the replicas have it.
async fn table_with_row(topo: &Topology, schema: &str) -> anyhow::Result<()> {
    let mut primary = connect(topo.app_opts(&topo.primary).db_name(Some(schema)), "app to primary").await?;
    primary.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await?;
    primary.query_drop("INSERT INTO t VALUES (1, 'one')").await?;
    primary.disconnect().await?;
    topo.try_wait_replicas_caught_up().await
}

async fn replication_reaches_both_replicas(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    assert_eq!(topo.flavor, flavor);
    let schema = topo.try_fresh_schema("replication").await?;
    table_with_row(topo, &schema).await?;
    for replica in &topo.replicas {
        let mut conn = connect(topo.app_opts(replica).db_name(Some(&schema)), "app to replica").await?;
        let v: Option<String> = conn.query_first("SELECT v FROM t WHERE id = 1").await?;
        assert_eq!(v.as_deref(), Some("one"), "replica {}", replica.addr);
        let (server_id, read_only): (u32, u8) =
            conn.query_first("SELECT @@server_id, @@read_only").await?.context("no row")?;
        assert_eq!((server_id, read_only), (replica.server_id, 1));
        if flavor == Flavor::MySql {
            let (super_ro, gtid_mode): (u8, String) =
                conn.query_first("SELECT @@super_read_only, @@gtid_mode").await?.context("no row")?;
            assert_eq!((super_ro, gtid_mode.as_str()), (1, "ON"), "replica {}", replica.addr);
        }
        conn.disconnect().await?;
    }
    Ok(())
}

async fn replica_refuses_app_writes_with_1290(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    let schema = topo.try_fresh_schema("readonly").await?;
    table_with_row(topo, &schema).await?;
    for replica in &topo.replicas {
        let mut conn = connect(topo.app_opts(replica).db_name(Some(&schema)), "app to replica").await?;
        let code = server_code(conn.query_drop("INSERT INTO t VALUES (2, 'two')").await)?;
        assert_eq!(code, 1290, "ER_OPTION_PREVENTS_STATEMENT (read_only) on {}", replica.addr);
        let code = server_code(conn.query_drop("CREATE TABLE t2 (id INT)").await)?;
        assert_eq!(code, 1290, "DDL on {}", replica.addr);
        conn.disconnect().await?;
    }
    Ok(())
}

async fn no_anonymous_users_and_app_lacks_super(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    for node in topo.nodes() {
        let mut root = topo.connect_root(node).await?;
        let anonymous: Option<u64> =
            root.query_first("SELECT COUNT(*) FROM mysql.user WHERE user = ''").await?;
        assert_eq!(anonymous, Some(0), "anonymous users on {}", node.addr);
        let grants: Vec<String> = root.query("SHOW GRANTS FOR 'app'@'%'").await?;
        let grants = grants.join("\n");
        assert!(!grants.contains("SUPER") && !grants.contains("READ_ONLY ADMIN"), "{grants}");
        assert!(!grants.contains("CONNECTION_ADMIN"), "{grants}");
        assert!(!grants.contains("ALL PRIVILEGES"), "{grants}");
        if flavor == Flavor::MySql {
            // MySQL 9 has no other password plugin; the accounts are what production has.
            let plugins: Vec<(String, String)> = root
                .query("SELECT user, plugin FROM mysql.user WHERE user IN ('app', 'monitor', 'repl') ORDER BY user")
                .await?;
            let expected: Vec<(String, String)> = ["app", "monitor", "repl"]
                .iter()
                .map(|u| (u.to_string(), "caching_sha2_password".to_string()))
                .collect();
            assert_eq!(plugins, expected, "on {}", node.addr);
        }
        root.disconnect().await?;
        // An unknown user with no password must be refused (an anonymous account would let it in).
        let stranger = sluice_tests::direct_opts(node.addr, "nobody_here", "");
        match Conn::new(stranger).await {
            Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1045, "{e}"),
            // MySQL answers an unknown user with a switch to a plugin picked at random (so that user
            // names cannot be probed); mysql_async gives up on sha256_password before the refusal.
            Err(mysql_async::Error::Driver(mysql_async::DriverError::UnknownAuthPlugin { .. }))
                if flavor == Flavor::MySql => {}
            Err(e) => bail!("unexpected error for an unknown user: {e}"),
            Ok(_) => bail!("an unknown user could log in to {}", node.addr),
        }
    }
    Ok(())
}

async fn monitor_sees_replication_but_no_data(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    let schema = topo.try_fresh_schema("monitor").await?;
    table_with_row(topo, &schema).await?;

    let mut primary = connect(topo.monitor_opts(&topo.primary), "monitor to primary").await?;
    let binlog_status = match flavor {
        Flavor::MariaDb => "SHOW MASTER STATUS",
        Flavor::MySql => "SHOW BINARY LOG STATUS",
    };
    let status: Option<mysql_async::Row> = primary.query_first(binlog_status).await?;
    assert!(status.is_some(), "monitor must read the binlog position");
    let code = server_code(primary.query_drop(format!("SELECT * FROM `{schema}`.t")).await)?;
    assert_eq!(code, 1142, "SELECT denied");
    let code = server_code(primary.query_drop(format!("INSERT INTO `{schema}`.t VALUES (9, 'x')")).await)?;
    assert_eq!(code, 1142, "INSERT denied");
    let code = server_code(primary.query_drop("CREATE DATABASE monitor_must_not").await)?;
    assert_eq!(code, 1044, "CREATE DATABASE denied");
    primary.disconnect().await?;

    let names = ReplicaStatusNames::of(flavor);
    for replica in &topo.replicas {
        let mut conn = connect(topo.monitor_opts(replica), "monitor to replica").await?;
        let row: mysql_async::Row = conn.query_first(names.show).await?.context("no replica status")?;
        let io: Option<String> = row.get(names.io_running);
        assert_eq!(io.as_deref(), Some("Yes"));
        conn.disconnect().await?;
    }
    Ok(())
}

async fn primary_accepts_verified_tls(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    assert!(topo.primary.tls && topo.tls_ca.is_file());
    let opts = topo.app_opts(&topo.primary).ssl_opts(topo.backend_ssl_opts());
    let mut conn = connect(opts, "app to primary over TLS").await?;
    let row: Option<(String, String)> = conn.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await?;
    let version = row.map(|(_, v)| v).unwrap_or_default();
    assert!(version.starts_with("TLS"), "Ssl_version = {version:?}");
    conn.disconnect().await?;
    // The replicas offer no TLS (MySQL would otherwise offer it with certificates of its own).
    for replica in &topo.replicas {
        let opts = topo.app_opts(replica).ssl_opts(topo.backend_ssl_opts());
        assert!(Conn::new(opts).await.is_err(), "replica {} accepted TLS", replica.addr);
    }
    Ok(())
}

async fn redis_answers_ping(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    let mut stream = tokio::net::TcpStream::connect(topo.redis).await?;
    stream.write_all(b"PING\r\n").await?;
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"+PONG\r\n");
    assert_ne!(topo.redis.port(), 6379, "never the system Redis");
    Ok(())
}

async fn sluice_config_matches_the_topology(flavor: Flavor) -> anyhow::Result<()> {
    let Some(topo) = topo(flavor).await? else { return Ok(()) };
    let config = topo.try_sluice_config()?;
    assert_eq!(config.server.listen.port(), 0);
    let names: Vec<&str> = config.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["app", "native_only", "sha2_only", "tls_only"]);
    let password = |p: &Option<std::path::PathBuf>| -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(p.as_ref().context("no password file")?)?)
    };
    assert_eq!(password(&config.backend.credentials.password_file)?, "app");
    assert_eq!(password(&config.monitor.credentials.password_file)?, "monitor");
    let members: Vec<&str> = config.groups[0].members.iter().map(|m| m.address.as_str()).collect();
    let expected: Vec<String> = topo.nodes().iter().map(|n: &&Node| n.addr.to_string()).collect();
    assert_eq!(members, expected);
    let (cert, key, ca) = topo.proxy_tls_files();
    assert!(cert.is_file() && key.is_file() && ca == topo.tls_ca);
    assert_eq!(
        sluice_tests::shared_state::locate_supervisor()?,
        Path::new(env!("CARGO_BIN_EXE_sluice-topology")),
        "the harness finds the supervisor cargo built"
    );
    Ok(())
}

async fn private_topology_is_gone_after_drop(flavor: Flavor) -> anyhow::Result<()> {
    if flavor == Flavor::MySql && sluice_tests::flavor::Install::mysql_from_env()?.is_none() {
        eprintln!("{}", sluice_tests::MYSQL_NOT_RUN);
        return Ok(());
    }
    let t0 = Instant::now();
    let mut private = Topology::try_private_flavor(flavor).await?;
    assert_eq!(private.flavor, flavor);
    eprintln!("private topology started in {:?}", t0.elapsed());
    let pids = private.pids();
    assert_eq!(pids.len(), 4);
    assert!(pids.iter().all(|p| sluice_tests::procs::pid_alive(*p)));

    let schema = private.try_fresh_schema("private").await?;
    table_with_row(&private, &schema).await?;

    // A killed replica comes back and catches up.
    private.kill(Which::Replica(1))?;
    let mut primary = connect(private.app_opts(&private.primary).db_name(Some(&schema)), "primary").await?;
    primary.query_drop("INSERT INTO t VALUES (2, 'two')").await?;
    primary.disconnect().await?;
    private.restart(Which::Replica(1)).await?;
    private.try_wait_replicas_caught_up().await?;
    let mut replica =
        connect(private.app_opts(&private.replicas[1]).db_name(Some(&schema)), "replica").await?;
    let n: Option<u64> = replica.query_first("SELECT COUNT(*) FROM t").await?;
    assert_eq!(n, Some(2));
    replica.disconnect().await?;

    let pids = private.pids();
    let dir = private.dir.clone();
    let t1 = Instant::now();
    drop(private);
    eprintln!("private topology torn down in {:?}", t1.elapsed());
    for pid in pids {
        assert!(!sluice_tests::procs::pid_alive(pid), "pid {pid} survived the drop");
    }
    assert!(!dir.exists(), "{} survived the drop", dir.display());
    Ok(())
}
