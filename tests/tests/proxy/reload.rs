//! Hot reload (admin `RELOAD`; SIGHUP runs the same code): a bad file is rejected with its problems
//! and sluice keeps serving; a removed replica is drained; a changed rule applies to connections that
//! were open before the reload.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mysql_async::Row;
use mysql_async::prelude::*;
use sluice::config::{Config, RuleAction, RuleConfig, RuleMatch};

use super::ops::col;
use super::{admin, connect, setup};

/// Writes `cfg` as TOML where `RELOAD` will read it.
fn write(cfg: &Config, path: &Path) {
    std::fs::write(path, toml::to_string(cfg).expect("config serializes")).expect("write config");
}

/// A proxy started from `cfg` whose config file is `dir/sluice.toml` (same content).
async fn proxy_with_file(cfg: &Config, dir: &Path) -> (sluice_tests::Proxy, PathBuf) {
    let path = dir.join("sluice.toml");
    write(cfg, &path);
    // What runs is what the file says (a parse of the written file), so a later reload compares like
    // with like.
    let loaded = Config::load(&path).expect("the written config loads");
    let p = sluice_tests::start_proxy(loaded).await;
    p.shared().expect("in-process").set_config_path(&path);
    (p, path)
}

#[tokio::test]
async fn reload_with_a_bad_file_is_rejected_and_sluice_keeps_serving() {
    let (topo, schema) = setup("reloadbad").await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = topo.sluice_config();
    let (p, path) = proxy_with_file(&cfg, dir.path()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let mut a = admin(&p).await;
    let same: Vec<Row> = a.query("RELOAD").await.expect("reload of the same file");
    assert_eq!(
        col(&same[0], "what"),
        "nothing",
        "{:?}",
        same.iter().map(|r| col(r, "what")).collect::<Vec<_>>()
    );

    let mut bad = cfg.clone();
    bad.pool.max_per_backend = 0;
    bad.routing.read_write_split = false;
    write(&bad, &path);
    let e = a.query_drop("RELOAD").await.expect_err("invalid config");
    let msg = e.to_string();
    assert!(msg.contains("1105") && msg.contains("rejected"), "{msg}");
    assert!(msg.contains("pool.max_per_backend") && msg.contains("must be at least 1"), "{msg}");
    std::fs::write(&path, "[[groups]\nname = ").expect("write garbage");
    let e = a.query_drop("RELOAD").await.expect_err("unparsable config");
    assert!(e.to_string().contains("sluice.toml:1"), "the line is named: {e}");

    // Nothing changed: reads still go to replicas (read_write_split from the bad file never applied).
    let id: Option<u32> = c.query_first("SELECT @@server_id").await.expect("still serving");
    assert_ne!(id, Some(topo.primary.server_id));
    let rows: Vec<Row> = a.query("SHOW CONFIG").await.expect("show config");
    let split = rows.iter().find(|r| col(r, "key") == "routing.read_write_split").map(|r| col(r, "value"));
    assert_eq!(split.as_deref(), Some("true"));
    c.disconnect().await.expect("quit");
}

#[tokio::test]
async fn reload_that_removes_a_replica_drains_it() {
    let (topo, schema) = setup("reloaddrain").await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = topo.sluice_config();
    let (p, path) = proxy_with_file(&cfg, dir.path()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let conn_id = c.id();
    let gone = topo.replicas[1].addr.to_string();
    let mut seen = BTreeSet::new();
    for _ in 0..6 {
        seen.insert(c.query_first::<u32, _>("SELECT @@server_id").await.expect("read").expect("row"));
    }
    assert!(seen.contains(&topo.replicas[1].server_id), "both replicas serve reads first: {seen:?}");
    let shared = p.shared().expect("in-process");
    assert!(shared.pools.all().iter().any(|pool| pool.spec().address == gone));

    let mut next = cfg.clone();
    next.groups[0].members.retain(|m| m.address != gone);
    write(&next, &path);
    let mut a = admin(&p).await;
    let report: Vec<Row> = a.query("RELOAD").await.expect("reload");
    let removed = report.iter().find(|r| col(r, "what") == "member removed").expect("removal reported");
    assert!(col(removed, "change").starts_with(&format!("{gone}: drained")), "{}", col(removed, "change"));

    // The same client connection keeps working, and no read reaches the removed replica.
    let mut after = BTreeSet::new();
    for _ in 0..8 {
        after.insert(c.query_first::<u32, _>("SELECT @@server_id").await.expect("read").expect("row"));
    }
    assert_eq!(after, [topo.replicas[0].server_id].into());
    assert_eq!(c.id(), conn_id);
    assert!(shared.pools.all().iter().all(|pool| pool.spec().address != gone), "its pools are closed");
    let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("backends");
    assert_eq!(backends.len(), 2);
    assert!(backends.iter().all(|r| col(r, "address") != gone));

    // Adding it back: it serves reads again after its first health check.
    write(&cfg, &path);
    let report: Vec<Row> = a.query("RELOAD").await.expect("reload");
    assert!(report.iter().any(|r| col(r, "what") == "member added"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let id = c.query_first::<u32, _>("SELECT @@server_id").await.expect("read").expect("row");
        if id == topo.replicas[1].server_id {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the re-added replica never served a read");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reload_that_changes_a_rule_applies_to_an_open_connection() {
    let (topo, schema) = setup("reloadrule").await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = topo.sluice_config();
    let (p, path) = proxy_with_file(&cfg, dir.path()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let probe = "SELECT 1 AS reload_probe";
    let one: Option<i32> = c.query_first(probe).await.expect("allowed before the reload");
    assert_eq!(one, Some(1));

    let mut next = cfg.clone();
    next.rules = vec![RuleConfig {
        name: Some("no_probe".into()),
        matches: RuleMatch { pattern: Some("as reload_probe".into()), ..RuleMatch::default() },
        action: RuleAction::Block,
        target: None,
        ttl_ms: None,
        message: Some("reload_probe is blocked by a rule added by a reload".into()),
        timeout_ms: None,
    }];
    write(&next, &path);
    let mut a = admin(&p).await;
    let report: Vec<Row> = a.query("RELOAD").await.expect("reload");
    assert!(report.iter().any(|r| col(r, "what") == "rules" && col(r, "change") == "1 rules in effect"));
    let e = c.query_drop(probe).await.expect_err("blocked after the reload");
    assert!(e.to_string().contains("1148") && e.to_string().contains("added by a reload"), "{e}");
    // The connection is still usable, and other statements are not blocked.
    let two: Option<i32> = c.query_first("SELECT 2").await.expect("other statements run");
    assert_eq!(two, Some(2));

    // Removing the rule again lifts the block on the same connection.
    write(&cfg, &path);
    a.query_drop("RELOAD").await.expect("reload");
    let one: Option<i32> = c.query_first(probe).await.expect("allowed again");
    assert_eq!(one, Some(1));
}

#[tokio::test]
async fn reload_changes_weights_and_balance_for_an_open_connection() {
    let (topo, schema) = setup("reloadweight").await;
    let dir = tempfile::tempdir().expect("dir");
    let cfg = topo.sluice_config();
    let (p, path) = proxy_with_file(&cfg, dir.path()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let mut next = cfg.clone();
    next.routing.balance = sluice::config::BalanceConfig::Weighted;
    next.groups[0].members[1].weight = 9;
    write(&next, &path);
    let mut a = admin(&p).await;
    let report: Vec<Row> = a.query("RELOAD").await.expect("reload");
    let whats: Vec<String> = report.iter().map(|r| col(r, "what")).collect();
    assert!(
        whats.contains(&"member changed".to_owned()) && whats.contains(&"routing, monitor".to_owned()),
        "{whats:?}"
    );
    let mut on_heavy = 0;
    for _ in 0..50 {
        let id = c.query_first::<u32, _>("SELECT @@server_id").await.expect("read").expect("row");
        on_heavy += u32::from(id == topo.replicas[0].server_id);
    }
    assert!((40..=50).contains(&on_heavy), "weight 9 of 10 took {on_heavy} of 50 reads");
    let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("backends");
    assert_eq!(col(&backends[1], "weight"), "9");
}
