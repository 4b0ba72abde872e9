//! Idle clients hold no backend connection: mysql_async clients, then PyMySQL clients with default
//! settings (autocommit=False: `SET AUTOCOMMIT = 0` at connect) log in one after another and stay idle;
//! sluice's backend connections are then counted on every node directly (PROCESSLIST rows of a backend
//! account only this sluice uses): only what the pools keep idle, not one per client. Then a sluice with
//! `pool.max_per_backend = 8` must still let 100 idle PyMySQL clients log in and a further client query.
//!
//! Knobs (env): `IDLE_PY` (300), `IDLE_RUST` (300), `IDLE_SMALL_POOL_CLIENTS` (100), `IDLE_MAX_BACKEND`
//! (8: most backend connections allowed across the three nodes while everyone idles).

use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::*;
use sluice::config::Credentials;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::env_u64;

/// A backend account of its own for one sluice, so its connections can be told apart on the servers.
async fn backend_account(
    topo: &sluice_tests::Topology,
    dir: &std::path::Path,
) -> (String, std::path::PathBuf) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let user = format!("idle_{}_{nanos:x}", std::process::id());
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    root.query_drop(format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'idlepw'")).await.expect("create user");
    root.query_drop(format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, \
         EXECUTE, CREATE VIEW, SHOW VIEW, TRIGGER, REFERENCES, PROCESS ON *.* TO '{user}'@'%'"
    ))
    .await
    .expect("grant");
    root.disconnect().await.ok();
    topo.wait_replicas_caught_up().await;
    let file = dir.join("idle.password");
    std::fs::write(&file, "idlepw").expect("password file");
    (user, file)
}

async fn backend_connections(topo: &sluice_tests::Topology, user: &str) -> Vec<i64> {
    let mut counts = Vec::new();
    for node in topo.nodes() {
        let mut c = topo.connect_root(node).await.expect("root");
        let n: Option<i64> = c
            .exec_first("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", (user,))
            .await
            .expect("processlist");
        counts.push(n.unwrap_or(0));
        c.disconnect().await.ok();
    }
    counts
}

/// Starts `n` idle PyMySQL clients (default settings) through `port`; returns the child (holding them
/// until its stdin closes) and (logged in, failed, first error).
async fn python_idle(port: u16, schema: &str, n: u64) -> (tokio::process::Child, (u64, u64, String)) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/differential_drivers.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .env("MODE", "idle")
        .env("SLUICE_PORT", port.to_string())
        .env("SCHEMA", schema)
        .env("IDLE_CLIENTS", n.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(600), lines.next_line())
        .await
        .expect("python idle clients logged in within 600 s")
        .expect("read")
        .unwrap_or_default();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"READY"), "unexpected output from the idle clients: {line:?}");
    let ok = parts.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let failed = parts.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    (child, (ok, failed, parts.get(3).unwrap_or(&"").to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differential_idle_clients_hold_no_backend_connection() {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema("diffidle").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (user, file) = backend_account(topo, dir.path()).await;
    let mut cfg = topo.sluice_config();
    cfg.backend.credentials =
        Credentials { user: user.clone(), password_env: None, password_file: Some(file) };
    let n_py = env_u64("IDLE_PY", 300);
    let n_rust = env_u64("IDLE_RUST", 300);
    let max_backend = env_u64("IDLE_MAX_BACKEND", 8) as i64;

    // Default config (pool of 64 per backend).
    let p = sluice_tests::start_proxy(cfg.clone()).await;
    let mut rust = Vec::new();
    let mut rust_failed = Vec::new();
    for _ in 0..n_rust {
        match tokio::time::timeout(
            Duration::from_secs(10),
            Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))),
        )
        .await
        {
            Ok(Ok(c)) => rust.push(c),
            Ok(Err(e)) => rust_failed.push(e.to_string()),
            Err(_) => rust_failed.push("login timed out after 10 s".into()),
        }
        if rust_failed.len() >= 5 {
            break;
        }
    }
    let rust_counts = backend_connections(topo, &user).await;
    let (mut py, (py_ok, py_failed, py_err)) = python_idle(p.addr().port(), &schema, n_py).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts = backend_connections(topo, &user).await;
    // One more client must be served promptly while all of them idle.
    let extra = tokio::time::timeout(Duration::from_secs(5), async {
        let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await?;
        c.query_first::<i64, _>("SELECT 1").await
    })
    .await;
    println!(
        "idle (default pool): backend connections of {user} with only the mysql_async clients logged in: \
         {rust_counts:?}; PyMySQL {py_ok} logged in, {py_failed} failed ({py_err}); mysql_async {} logged in, \
         {} failed ({:?}); backend connections of {user} on primary/replica1/replica2: {counts:?}; \
         one more client: {extra:?}",
        rust.len(),
        rust_failed.len(),
        rust_failed.first()
    );
    drop(py.stdin.take());
    let _ = py.wait().await;
    for c in rust.drain(..) {
        let _ = c.disconnect().await;
    }
    let total: i64 = counts.iter().sum();
    let extra_ok = matches!(extra, Ok(Ok(Some(1))));
    p.shutdown().await;

    // A small pool: 100 idle PyMySQL clients must still log in.
    let mut small = cfg;
    small.pool.max_per_backend = 8;
    let p = sluice_tests::start_proxy(small).await;
    let n_small = env_u64("IDLE_SMALL_POOL_CLIENTS", 100);
    let (mut py2, (small_ok, small_failed, small_err)) = python_idle(p.addr().port(), &schema, n_small).await;
    let extra2 = tokio::time::timeout(Duration::from_secs(5), async {
        let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await?;
        c.query_first::<i64, _>("SELECT 1").await
    })
    .await;
    println!(
        "idle (pool.max_per_backend = 8): PyMySQL {small_ok} of {n_small} logged in, {small_failed} failed \
         ({small_err}); one more client: {extra2:?}"
    );
    drop(py2.stdin.take());
    let _ = py2.wait().await;
    p.shutdown().await;

    assert!(
        py_failed == 0 && py_ok == n_py && rust_failed.is_empty(),
        "idle clients could not log in with the default pool: PyMySQL {py_ok}/{n_py} ({py_err}), mysql_async \
         failures {rust_failed:?}"
    );
    assert!(extra_ok, "a new client was not served while {n_py}+{n_rust} clients idled: {extra:?}");
    assert!(
        total <= max_backend,
        "{n_py} PyMySQL + {n_rust} mysql_async idle clients keep {total} backend connections open \
         ({counts:?} on primary/replica1/replica2); expected at most {max_backend} (what the pools keep idle)"
    );
    assert!(
        small_failed == 0 && small_ok == n_small,
        "with pool.max_per_backend = 8 only {small_ok} of {n_small} idle PyMySQL clients logged in ({small_err})"
    );
    assert!(
        matches!(extra2, Ok(Ok(Some(1)))),
        "with pool 8 and {n_small} idle clients a new client failed: {extra2:?}"
    );
}
