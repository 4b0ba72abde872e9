//! Operators' view: the admin interface (MySQL protocol, real result sets) and HTTP /metrics, /status,
//! /digests, /health, fed by real statements through sluice.

use std::collections::BTreeSet;

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{connect, setup};

pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("http connect");
    // Read to the end: `Connection: close` (the server keeps an HTTP/1.1 connection open otherwise).
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response");
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (code, body)
}

pub fn col(row: &Row, name: &str) -> String {
    row.get::<Option<String>, _>(name).flatten().unwrap_or_default()
}

#[tokio::test]
async fn admin_interface_and_http_show_what_sessions_did() {
    let (topo, schema) = setup("ops").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for i in 0..20 {
        let _: Option<i64> = c.query_first(format!("SELECT {i} + 1")).await.expect("select");
    }
    c.query_drop("SELECT 1 FROM no_such_table").await.expect_err("a failing statement");

    let admin = p.admin_addr().expect("admin listener");
    let mut a = Conn::new(sluice_tests::direct_opts(admin, "admin", "admin")).await.expect("admin login");
    let rows: Vec<Row> = a.query("SHOW DIGESTS ORDER BY count LIMIT 10").await.expect("show digests");
    let sel = rows.iter().find(|r| col(r, "digest_text") == "select ? + ?").expect("the SELECT's digest");
    assert_eq!(col(sel, "count"), "20");
    assert_eq!(col(sel, "user"), "app");
    assert_eq!(col(sel, "schema"), schema);
    assert_eq!(col(sel, "on_replica"), "20");
    let p99: u64 = col(sel, "p99_us").parse().expect("p99");
    let max: u64 = col(sel, "max_us").parse().expect("max");
    assert!(p99 > 0 && p99 <= max + max / 50 + 1, "p99 {p99}, max {max}");
    let bad =
        rows.iter().find(|r| col(r, "digest_text").contains("no_such_table")).expect("the failed statement");
    assert_eq!(col(bad, "errors"), "1");

    let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("show backends");
    let roles: Vec<String> = backends.iter().map(|r| col(r, "role")).collect();
    assert_eq!(roles, ["primary", "replica", "replica"]);
    assert!(backends.iter().all(|r| col(r, "state") == "online"));
    // Each member's flavour from its handshake; replication only for replicas, running.
    assert!(backends.iter().all(|r| col(r, "flavor") == topo.flavor.name()), "{backends:?}");
    let replication: Vec<String> = backends.iter().map(|r| col(r, "replication")).collect();
    assert_eq!(replication, ["", "running", "running"]);
    let pools: Vec<Row> = a.query("SHOW POOLS").await.expect("show pools");
    assert!(!pools.is_empty());
    let pins: Vec<Row> = a.query("SHOW PINS").await.expect("show pins");
    assert!(pins.iter().any(|r| col(r, "reason") == "transaction"));
    let sessions: Vec<Row> = a.query("SHOW SESSIONS").await.expect("show sessions");
    assert!(sessions.iter().any(|r| col(r, "id") == c.id().to_string()));

    // Drain a replica: reads move to the other one at once, and come back.
    let r0 = topo.replicas[0].addr.to_string();
    a.query_drop(format!("SET BACKEND '{r0}' OFFLINE")).await.expect("offline");
    let mut ids = BTreeSet::new();
    for _ in 0..6 {
        ids.insert(c.query_first::<u32, _>("SELECT @@server_id").await.expect("read").expect("row"));
    }
    assert_eq!(ids, [topo.replicas[1].server_id].into());
    a.query_drop(format!("SET BACKEND '{r0}' ONLINE")).await.expect("online");
    let e = a.query_drop("SET BACKEND '127.0.0.1:1' OFFLINE").await.expect_err("unknown backend");
    assert!(e.to_string().contains("SHOW BACKENDS"), "{e}");

    // HTTP.
    let http = p.http_addr().expect("http listener");
    let (code, metrics) = http_get(http, "/metrics").await;
    assert_eq!(code, 200);
    for needle in [
        "sluice_statements_total{target=\"replica\"}",
        "sluice_statement_duration_seconds_bucket{le=\"+Inf\"}",
        "sluice_pool_connections{",
        "sluice_backend_up{",
        "sluice_pins_total{reason=\"transaction\"}",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from /metrics:\n{metrics}");
    }
    assert_eq!(http_get(http, "/health").await.0, 200);
    assert_eq!(http_get(http, "/ready").await.0, 200);
    assert_eq!(http_get(http, "/live").await.0, 200);
    let (code, digests) = http_get(http, "/digests").await;
    assert_eq!(code, 200);
    assert!(digests.starts_with('[') && digests.contains("select ? + ?"), "{digests}");
    let (code, status) = http_get(http, "/status").await;
    assert_eq!(code, 200);
    assert!(status.contains("\"split_brain\":false"), "{status}");
    assert_eq!(http_get(http, "/nope").await.0, 404);

    // RESET DIGESTS; unknown statements and bad passwords get clear errors.
    a.query_drop("RESET DIGESTS").await.expect("reset");
    let rows: Vec<Row> = a.query("SHOW DIGESTS").await.expect("show digests");
    assert!(rows.is_empty());
    let e = a.query_drop("DROP TABLE x").await.expect_err("unknown admin statement");
    assert!(e.to_string().contains("1064") && e.to_string().contains("SHOW DIGESTS"), "{e}");
    let e = Conn::new(sluice_tests::direct_opts(admin, "admin", "wrong")).await.expect_err("bad password");
    assert!(e.to_string().contains("1045"), "{e}");
    let e = Conn::new(sluice_tests::direct_opts(admin, "app", "app")).await.expect_err("app is no admin");
    assert!(e.to_string().contains("1045"), "{e}");
    c.disconnect().await.ok();
}
