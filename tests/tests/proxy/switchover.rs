//! Admin `SWITCHOVER`: the primary moves to a caught-up replica while writes flow; no acknowledged write
//! is lost, no client sees an error, and writes follow the new primary (role `auto`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice::config::{Credentials, Role};
use sluice_tests::{Flavor, Topology};

use super::faults::Tally;
use super::ops::col;
use super::{admin, proxy, setup};

/// Two switchovers (to a named replica, then back) under 4 autocommit writers, 2 transaction writers
/// and 2 readers: 0 errors, every acknowledged write on the final primary, the demoted primary
/// read_only and replicating from the new one, the third member repointed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_switchover_with_writes_flowing_loses_nothing() {
    let private = Topology::private().await;
    switchover_with_writes_flowing(&private).await;
}

/// The same on MySQL 8.4/9.x (`SLUICE_MYSQL_BASEDIR`): super_read_only, WAIT_FOR_EXECUTED_GTID_SET,
/// RESET REPLICA ALL, CHANGE REPLICATION SOURCE TO … SOURCE_AUTO_POSITION=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_mysql_switchover_with_writes_flowing_loses_nothing() {
    let Some(private) = Topology::private_mysql().await else { return };
    switchover_with_writes_flowing(&private).await;
}

/// What differs between the flavours in [`switchover_with_writes_flowing`].
struct Names {
    grant: &'static str,
    fill: &'static str,
    position: &'static str,
    wait: &'static str,
    status: &'static str,
    port_column: &'static str,
    read_only: &'static str,
}

impl Names {
    fn of(flavor: Flavor) -> Self {
        match flavor {
            Flavor::MariaDb => Self {
                grant: "GRANT READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, RELOAD ON *.* TO 'monitor'@'%'",
                fill: "INSERT INTO r SELECT seq, seq FROM seq_1_to_100",
                position: "SELECT @@gtid_binlog_pos",
                wait: "MASTER_GTID_WAIT",
                status: "SHOW SLAVE STATUS",
                port_column: "Master_Port",
                read_only: "SELECT @@global.read_only",
            },
            Flavor::MySql => Self {
                grant: "GRANT SYSTEM_VARIABLES_ADMIN, REPLICATION_SLAVE_ADMIN, RELOAD ON *.* TO 'monitor'@'%'",
                fill: "INSERT INTO r WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100) SELECT n, n FROM s",
                position: "SELECT @@global.gtid_executed",
                wait: "WAIT_FOR_EXECUTED_GTID_SET",
                status: "SHOW REPLICA STATUS",
                port_column: "Source_Port",
                // Not only read_only: nobody may write on a demoted MySQL primary.
                read_only: "SELECT @@global.super_read_only",
            },
        }
    }
}

async fn switchover_with_writes_flowing(private: &Topology) {
    let names = Names::of(private.flavor);
    let schema = private.fresh_schema("switchover").await;
    let mut root = private.connect_root(&private.primary).await.expect("root");
    // What SWITCHOVER needs of the monitor account (replicated to every member).
    root.query_drop(names.grant).await.expect("grant");
    let dir = tempfile::tempdir().expect("tmp");
    let repl_file = dir.path().join("repl.password");
    std::fs::write(&repl_file, sluice_tests::accounts::REPL_PASSWORD).expect("write");
    let mut cfg = private.sluice_config();
    for m in &mut cfg.groups[0].members {
        m.role = Role::Auto;
    }
    cfg.monitor.interval_ms = 100;
    cfg.monitor.replication_credentials = Some(Credentials {
        user: sluice_tests::accounts::REPL_USER.into(),
        password_env: None,
        password_file: Some(repl_file),
    });
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE w (id INT PRIMARY KEY, writer INT)").await.expect("create");
    c.query_drop("CREATE TABLE r (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop(names.fill).await.expect("fill");
    private.wait_replicas_caught_up().await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for n in 0..6u32 {
        let (opts, stop) = (p.opts("app", "app").db_name(Some(schema.clone())), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            let mut t = Tally::default();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let id = n * 1_000_000 + i;
                i += 2;
                let r = if n < 4 {
                    c.exec_drop("INSERT INTO w VALUES (?, ?)", (id, n)).await
                } else {
                    // A transaction of two writes: both or neither.
                    async {
                        let mut tx = c.start_transaction(Default::default()).await?;
                        tx.exec_drop("INSERT INTO w VALUES (?, ?)", (id, n)).await?;
                        tx.exec_drop("INSERT INTO w VALUES (?, ?)", (id + 1, n)).await?;
                        tx.commit().await
                    }
                    .await
                };
                match r {
                    Ok(()) => {
                        t.ok += 1;
                        t.acked.push(id);
                        if n >= 4 {
                            t.acked.push(id + 1);
                        }
                    }
                    Err(e) => t.errors.push(e.to_string()),
                }
            }
            t
        }));
    }
    for n in 0..2u32 {
        let (opts, stop) = (p.opts("app", "app").db_name(Some(schema.clone())), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            let mut t = Tally::default();
            while !stop.load(Ordering::Relaxed) {
                let id = (n + t.ok) % 100 + 1;
                match c.exec_first::<u32, _, _>("SELECT v FROM r WHERE id = ?", (id,)).await {
                    Ok(Some(v)) if v == id => t.ok += 1,
                    Ok(v) => t.errors.push(format!("wrong answer {v:?} for {id}")),
                    Err(e) => t.errors.push(e.to_string()),
                }
            }
            t
        }));
    }

    let mut a = admin(&p).await;
    let nodes = [&private.primary, &private.replicas[0], &private.replicas[1]];
    let mut primary = 0usize;
    for to in [1usize, 0] {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let t0 = Instant::now();
        let sql = format!("SWITCHOVER TO '{}'", nodes[to].addr);
        let rows: Vec<Row> = a.query(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let took = t0.elapsed();
        let row = rows.first().expect("one row");
        eprintln!(
            "{sql}: {took:?}; old {} new {} gtid {} waited_for {} drain_ms {} writes_held_ms {} notes {}",
            col(row, "old_primary"),
            col(row, "new_primary"),
            col(row, "gtid"),
            col(row, "waited_for"),
            col(row, "drain_ms"),
            col(row, "writes_held_ms"),
            col(row, "notes")
        );
        assert_eq!(col(row, "old_primary"), nodes[primary].addr.to_string());
        assert_eq!(col(row, "new_primary"), nodes[to].addr.to_string());
        assert_eq!(col(row, "notes"), "ok");
        primary = to;
        // SHOW BACKENDS names the new primary at once.
        let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("show backends");
        let writable: Vec<String> =
            backends.iter().filter(|r| col(r, "role") == "primary").map(|r| col(r, "address")).collect();
        assert_eq!(writable, vec![nodes[to].addr.to_string()], "{backends:?}");
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut errors, mut acked) = (0, Vec::new(), Vec::new());
    for t in clients {
        let t = t.await.expect("client");
        ok += t.ok;
        errors.extend(t.errors);
        acked.extend(t.acked);
    }
    eprintln!("clients: {ok} statements or transactions ok, {} errors", errors.len());
    assert!(errors.is_empty(), "{} client errors, first: {:?}", errors.len(), errors.first());
    assert!(ok > 200, "{ok}");

    // Every acknowledged write is on the final primary (read directly), and on both other members once
    // they have caught up: they replicate from it.
    let mut on_primary = private.connect_root(nodes[primary]).await.expect("root");
    let pos: String = on_primary.query_first(names.position).await.expect("pos").unwrap_or_default();
    for (i, node) in nodes.iter().enumerate() {
        let mut n = private.connect_root(node).await.expect("root");
        if i != primary {
            let caught: Option<i64> =
                n.exec_first(format!("SELECT {}(?, 10)", names.wait), (&pos,)).await.expect("wait");
            assert_eq!(caught, Some(0), "{} did not catch up with the new primary", node.addr);
            let st: Vec<Row> = n.query(names.status).await.expect("status");
            let st = st.first().expect("a replica");
            assert_eq!(col(st, names.port_column), nodes[primary].addr.port().to_string());
            let ro: Option<i64> = n.query_first(names.read_only).await.expect("ro");
            assert_eq!(ro, Some(1), "{} is not read-only ({})", node.addr, names.read_only);
        }
        let present: Vec<u32> = n.query(format!("SELECT id FROM `{schema}`.w")).await.expect("ids");
        let present: std::collections::BTreeSet<u32> = present.into_iter().collect();
        let lost = acked.iter().filter(|id| !present.contains(id)).count();
        assert_eq!(lost, 0, "{lost} acknowledged writes missing on {}", node.addr);
    }
    p.shutdown().await;
}

/// With fixed roles (`primary` / `replica`) or no replication account, SWITCHOVER refuses with a reason
/// and changes nothing.
#[tokio::test]
async fn switchover_refuses_without_auto_roles_or_a_replication_account() {
    let (topo, _schema) = setup("switchover_refuses").await;
    let p = proxy(topo).await;
    let mut a = admin(&p).await;
    let e = a.query_drop("SWITCHOVER").await.expect_err("no replication account");
    assert!(e.to_string().contains("replication_credentials"), "{e}");
    p.shutdown().await;

    let mut cfg = topo.sluice_config();
    cfg.monitor.replication_credentials = Some(cfg.monitor.credentials.clone());
    let p = sluice_tests::start_proxy(cfg).await;
    let mut a = admin(&p).await;
    let e =
        a.query_drop(format!("SWITCHOVER TO '{}'", topo.replicas[0].addr)).await.expect_err("fixed roles");
    assert!(e.to_string().contains("role = \"auto\""), "{e}");
    let e = a.query_drop("SWITCHOVER TO '127.0.0.1:1'").await.expect_err("no such backend");
    assert!(e.to_string().contains("SHOW BACKENDS"), "{e}");
    let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("show backends");
    assert!(!backends.is_empty());
    let mut direct = topo.connect_root(&topo.primary).await.expect("root");
    let ro: Option<i64> = direct.query_first("SELECT @@global.read_only").await.expect("ro");
    assert_eq!(ro, Some(0), "the primary was touched");
    p.shutdown().await;
}
