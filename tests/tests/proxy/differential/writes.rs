//! No lost writes: mysql_async sessions (autocommit inserts, BEGIN … COMMIT, BEGIN … ROLLBACK,
//! `SET autocommit = 0` … COMMIT, clients vanishing mid-transaction, reconnects) and PyMySQL sessions
//! (default autocommit=False, explicit COMMIT, some ROLLBACKs, read-only sessions that commit and leave)
//! write concurrently through one default-config sluice. Every acknowledged write is recorded; at the
//! end the primary is read directly: 0 missing, 0 extra (rolled-back or dropped-uncommitted rows).
//!
//! Knobs (env): `WRITES` (default 6000, half each driver; 100000 for the full run), `SEED`, `BYPASS=1`
//! (writers connect directly: must pass).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use mysql_async::Conn;
use mysql_async::prelude::*;

use super::catalogue::Rng;
use super::env_u64;

#[derive(Default)]
struct Ledger {
    acked: Vec<i64>,
    rolled_back: Vec<i64>,
    unknown: Vec<i64>,
    errors: Vec<String>,
}

async fn rust_writer(opts: mysql_async::OptsBuilder, w: i64, n: i64, seed: u64, ledger: Arc<Mutex<Ledger>>) {
    let mut r = Rng::new(seed ^ (w as u64) << 20);
    let mut conn: Option<Conn> = None;
    let mut autocommit = true;
    let mut seq = 0i64;
    while seq < n {
        if conn.is_none() || r.below(100) < 3 {
            if let Some(c) = conn.take()
                && r.below(2) == 0
            {
                let _ = c.disconnect().await;
            } // else dropped: the client vanishes
            match Conn::new(opts.clone()).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    ledger.lock().expect("ledger lock poisoned").errors.push(format!("connect: {e}"));
                    continue;
                }
            }
            autocommit = true;
        }
        let c = conn.as_mut().expect("connected");
        let k = (1 + r.below(3) as i64).min(n - seq);
        let ids: Vec<i64> = (0..k).map(|j| w * 10_000_000 + seq + j).collect();
        seq += k;
        let mode = r.below(10);
        let res: Result<&'static str, mysql_async::Error> = async {
            match mode {
                // autocommit=0 on/off: every statement in a transaction until COMMIT.
                0 => {
                    c.query_drop(if autocommit { "SET autocommit = 0" } else { "SET autocommit = 1" })
                        .await?;
                    autocommit = !autocommit;
                    Ok("none")
                }
                1 | 2 => {
                    c.query_drop("BEGIN").await?;
                    for i in &ids {
                        c.exec_drop("INSERT INTO w (id, writer, n) VALUES (?, 'rs', ?)", (i, i)).await?;
                    }
                    if mode == 1 {
                        c.query_drop("ROLLBACK").await?;
                        Ok("rolled")
                    } else if r.below(4) == 0 {
                        // The client vanishes before COMMIT: nothing of this transaction may remain.
                        Ok("vanish")
                    } else {
                        c.query_drop("COMMIT").await?;
                        Ok("acked")
                    }
                }
                _ => {
                    for i in &ids {
                        c.query_drop(format!("INSERT INTO w (id, writer, n) VALUES ({i}, 'rs', {i})"))
                            .await?;
                    }
                    if autocommit {
                        Ok("acked")
                    } else {
                        c.query_drop("COMMIT").await?;
                        Ok("acked")
                    }
                }
            }
        }
        .await;
        let mut l = ledger.lock().expect("ledger lock poisoned");
        match res {
            Ok("acked") => l.acked.extend(&ids),
            Ok("rolled") => l.rolled_back.extend(&ids),
            Ok("vanish") => {
                l.rolled_back.extend(&ids);
                drop(conn.take());
            }
            Ok(_) => seq -= k,
            Err(e) => {
                l.unknown.extend(&ids);
                l.errors.push(e.to_string());
                conn = None;
            }
        }
    }
    if let Some(c) = conn {
        // An autocommit=0 session that ends without COMMIT: its open transaction is rolled back; record
        // nothing as acknowledged that was not committed (all acked ids above were).
        let _ = c.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn differential_no_lost_writes() {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema("diffw").await;
    let total = env_u64("WRITES", 6000) as i64;
    let seed = env_u64("SEED", 0x5eed);
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    root.query_drop(format!(
        "CREATE TABLE `{schema}`.w (id BIGINT PRIMARY KEY, writer VARCHAR(8), n BIGINT)"
    ))
    .await
    .expect("table");
    topo.wait_replicas_caught_up().await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let writers = 4i64;
    let rust_n = total / 2 / writers;
    let mut set = tokio::task::JoinSet::new();
    // BYPASS=1: every writer connects to the primary directly (must pass: the ledger's own check).
    let bypass = env_u64("BYPASS", 0) == 1;
    let port = if bypass { topo.primary.addr.port() } else { p.addr().port() };
    for w in 0..writers {
        let front = if bypass { topo.app_opts(&topo.primary) } else { p.opts("app", "app") };
        let opts = front.db_name(Some(schema.clone()));
        set.spawn(rust_writer(opts, w + 1, rust_n, seed, ledger.clone()));
    }
    let out_file = tempfile::NamedTempFile::new().expect("temp file");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/differential_drivers.py");
    let python = tokio::process::Command::new("python3")
        .arg(script)
        .env("MODE", "writes")
        .env("SLUICE_PORT", port.to_string())
        .env("DIRECT_PORT", topo.primary.addr.port().to_string())
        .env("SCHEMA", &schema)
        .env("TABLE", "w")
        .env("WRITES_PY", (total - rust_n * writers).to_string())
        .env("THREADS", "4")
        .env("ID_BASE", "500000000")
        .env("OUT", out_file.path())
        .output();
    let (py, ()) = tokio::join!(python, async {
        while let Some(r) = set.join_next().await {
            r.expect("writer task");
        }
    });
    let py = py.expect("python3 runs");
    let stderr = String::from_utf8_lossy(&py.stderr);
    assert!(py.status.success(), "PyMySQL writers failed:\n{stderr}");
    let pyl: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_file.path()).expect("python ledger")).expect("json");
    let ids = |k: &str| -> Vec<i64> {
        pyl[k].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default()
    };
    // Every writer task has been joined: take the ledger out so no std MutexGuard is held across the
    // `.await` on the primary below.
    let l = std::mem::take(&mut *ledger.lock().expect("ledger lock poisoned"));
    let acked: HashSet<i64> = l.acked.iter().copied().chain(ids("acked")).collect();
    let rolled: HashSet<i64> = l.rolled_back.iter().copied().chain(ids("rolled_back")).collect();
    let present: Vec<i64> =
        root.query(format!("SELECT id FROM `{schema}`.w")).await.expect("read the primary directly");
    let present: HashSet<i64> = present.into_iter().collect();
    let mut missing: Vec<i64> = acked.difference(&present).copied().collect();
    missing.sort_unstable();
    let mut extra: Vec<i64> = present.iter().filter(|i| rolled.contains(i)).copied().collect();
    extra.sort_unstable();
    let missing_py = missing.iter().filter(|&&i| i >= 500_000_000).count();
    println!(
        "writes: {} acknowledged ({} rust, {} py), {} rolled back, {} unknown; rust errors {}; python: {}; \
         on the primary {}; missing {} ({} PyMySQL); extra {}",
        acked.len(),
        l.acked.len(),
        ids("acked").len(),
        rolled.len(),
        l.unknown.len(),
        l.errors.len(),
        stderr.trim(),
        present.len(),
        missing.len(),
        missing_py,
        extra.len()
    );
    if !l.errors.is_empty() {
        println!("first rust errors: {:?}", &l.errors[..l.errors.len().min(5)]);
    }
    assert!(
        missing.is_empty() && extra.is_empty(),
        "acknowledged writes missing on the primary: {} (first {:?}; ids >= 500000000 are PyMySQL's); \
         rolled-back writes present: {} (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        extra.len(),
        &extra[..extra.len().min(10)]
    );
    p.shutdown().await;
}
