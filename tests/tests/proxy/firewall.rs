//! The digest firewall through a real driver: learn the application's statement shapes, enforce them,
//! refuse a new shape with ERR 1148 (others carry on), allow it from the admin interface, save the list.

use mysql_async::Conn;
use mysql_async::prelude::*;

use super::{admin, connect, setup};

async fn show(a: &mut Conn) -> std::collections::HashMap<String, String> {
    let rows: Vec<(String, String)> = a.query("SHOW FIREWALL").await.expect("SHOW FIREWALL");
    rows.into_iter().collect()
}

#[tokio::test]
async fn learned_shapes_run_and_new_ones_are_refused_until_allowed() {
    let (topo, schema) = setup("firewall").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("allow.txt");
    let mut cfg = topo.sluice_config();
    cfg.firewall.mode = sluice::config::FirewallMode::Learn;
    cfg.firewall.allowlist_file = Some(list.clone());
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    for i in 0..3 {
        c.exec_drop("INSERT INTO t VALUES (?, ?)", (i, i)).await.expect("insert");
        let _: Option<i32> = c.query_first(format!("SELECT v FROM t WHERE id = {i}")).await.expect("select");
    }
    let mut a = admin(&p).await;
    let learned: u64 = show(&mut a).await["learned"].parse().unwrap();
    assert!(learned >= 3, "learned {learned}");
    a.query_drop("FIREWALL MODE enforce").await.expect("enforce");

    // The learned shapes run with other literals; a new shape is refused with a clear error.
    let v: Option<i32> = c.query_first("SELECT v FROM t WHERE id = 2").await.expect("learned shape");
    assert_eq!(v, Some(2));
    let e = c.query_drop("DELETE FROM t").await.expect_err("a new shape");
    let mysql_async::Error::Server(se) = e else { panic!("{e:?}") };
    assert_eq!((se.code, se.state.as_str()), (1148, "42000"));
    assert!(se.message.contains("FIREWALL ALLOW"), "{}", se.message);
    let digest = se.message.split_whitespace().nth(4).expect("the digest in the message").to_owned();
    // The session carries on, and so do others.
    let n: Option<i64> = c.query_first("SELECT v FROM t WHERE id = 1").await.expect("same session");
    assert_eq!(n, Some(1));
    let mut other = connect(&p, "app", "app", &schema).await;
    let n: Option<i32> = other.query_first("SELECT v FROM t WHERE id = 0").await.expect("other session");
    assert_eq!(n, Some(0));
    assert_eq!(show(&mut a).await["blocked"], "1");
    let (_, metrics) = super::ops::http_get(p.http_addr().expect("http"), "/metrics").await;
    assert!(metrics.lines().any(|l| l == "sluice_firewall_blocked_total 1"), "{metrics}");

    // Allowed from the admin interface, saved, and read back by a new instance.
    a.query_drop(format!("FIREWALL ALLOW '{digest}'")).await.expect("allow");
    c.query_drop("DELETE FROM t").await.expect("allowed now");
    a.query_drop("FIREWALL SAVE").await.expect("save");
    let saved = std::fs::read_to_string(&list).expect("allowlist written");
    assert!(saved.contains(&digest), "{saved}");
    let mut cfg = topo.sluice_config();
    cfg.firewall.mode = sluice::config::FirewallMode::Enforce;
    cfg.firewall.allowlist_file = Some(list);
    let p2 = sluice_tests::start_proxy(cfg).await;
    let mut c2 = connect(&p2, "app", "app", &schema).await;
    c2.query_drop("DELETE FROM t").await.expect("allowed from the saved list");
    assert!(c2.query_drop("UPDATE t SET v = 1").await.is_err(), "not on the list");
}
