//! Limits: statement time limits from `[[rules]] timeout_ms` (KILL QUERY on the backend, ERR 1969 to
//! the client, the session carries on), the packet size limit (ERR 1153), and backpressure (a client
//! that stops reading a huge result does not make sluice buffer it).

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Error as MyError};
use sluice::config::{RuleAction, RuleConfig, RuleMatch};

use super::{seq_1_to, seq_1_to_as, setup};

fn server_error(e: &MyError) -> (u16, String, String) {
    match e {
        MyError::Server(s) => (s.code, s.state.clone(), s.message.clone()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn timeout_rule(name: &str, regex: &str, ms: u64) -> RuleConfig {
    RuleConfig {
        name: Some(name.into()),
        matches: RuleMatch { regex: Some(regex.into()), ..RuleMatch::default() },
        action: RuleAction::Timeout,
        target: None,
        ttl_ms: None,
        message: None,
        timeout_ms: Some(ms),
    }
}

/// A statement past its rule's `timeout_ms` is killed on the backend (text and binary protocol, on a
/// replica and in a transaction on the primary) and the client gets ERR 1969 naming the rule, soon
/// after the limit (MySQL: ERR 3024, what its max_execution_time gives); the session and its
/// transaction carry on; statements under the limit are untouched.
#[tokio::test]
async fn rule_timeout_kills_the_statement_and_the_session_carries_on() {
    let (topo, schema) = setup("limit_timeout").await;
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 2;
    cfg.rules = vec![timeout_rule("slow_reports", r"sleep \(|big_a", 300)];
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    // The server's own statement time limit's code: MariaDB 1969 (max_statement_time), MySQL 3024
    // (max_execution_time).
    let (timeout_code, timeout_state) = match topo.flavor {
        sluice_tests::Flavor::MariaDb => (1969, "70100"),
        sluice_tests::Flavor::MySql => (3024, "HY000"),
    };
    // Not a bare `SELECT SLEEP(5)`: MySQL answers that one, killed, with the row `1` and no error (as
    // its own max_execution_time does); a SLEEP inside a statement is interrupted with an ERR there too.
    let slow = "SELECT 1 FROM dual WHERE SLEEP(5) = 0";
    let started = Instant::now();
    let e = c.query_drop(slow).await.expect_err("over its time limit");
    let took = started.elapsed();
    let (code, state, msg) = server_error(&e);
    println!("text protocol on a replica: ERR {code} ({state}) after {took:?}: {msg}");
    assert_eq!((code, state.as_str()), (timeout_code, timeout_state));
    assert!(msg.contains("slow_reports") && msg.contains("300 ms"), "{msg}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
    let (role, _, _) = super::routing::last_route(&mut c).await;
    assert_eq!(role, "replica");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("the session carries on");
    assert_eq!(one, Some(1));
    // Killed while its rows stream: the client has had some rows, then the ERR ends the result.
    let streaming = format!("SELECT seq, REPEAT('x', 2000), SLEEP(0.01) FROM {}", seq_1_to(1000));
    let mut rows = 0usize;
    let started = Instant::now();
    let r: Result<(), MyError> = async {
        let mut res = c.query_iter(streaming.as_str()).await?;
        while res.next().await?.is_some() {
            rows += 1;
        }
        Ok(())
    }
    .await;
    let e = r.expect_err("over its time limit");
    println!("streaming result: {rows} rows, then ERR {} after {:?}", server_error(&e).0, started.elapsed());
    assert_eq!(server_error(&e).0, timeout_code);
    assert!(rows > 0 && rows < 1000, "{rows} rows before the ERR");
    // Under the limit: untouched.
    let quick: Option<i32> = c.query_first("SELECT SLEEP(0.05)").await.expect("quick");
    assert_eq!(quick, Some(0));

    // Binary protocol, inside a transaction on the primary: the statement fails, the transaction stays.
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop("INSERT INTO t VALUES (1)").await.expect("insert");
    let started = Instant::now();
    let join = format!(
        "SELECT COUNT(*) FROM {} JOIN {} ON big_a.seq + big_b.seq = ?",
        seq_1_to_as(100_000, "big_a"),
        seq_1_to_as(100_000, "big_b")
    );
    let e = c.exec_drop(join.as_str(), (7,)).await.expect_err("over its time limit");
    let took = started.elapsed();
    let (code, _, msg) = server_error(&e);
    println!("binary protocol in a transaction: ERR {code} after {took:?}");
    assert_eq!(code, timeout_code, "{msg}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let one: Option<i32> = c.query_first("SELECT 1").await.expect("the session carries on");
    assert_eq!(one, Some(1));
    assert!(super::in_transaction(&c), "still in the transaction");
    c.query_drop("COMMIT").await.expect("commit");
    let n: Option<i64> = c.query_first("/* sluice: primary */ SELECT COUNT(*) FROM t").await.expect("count");
    assert_eq!(n, Some(1), "the transaction's insert was committed");
    // The killed backend threads are idle again: nothing of this schema still runs.
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    let busy: Vec<String> = root
        .query("SELECT COALESCE(INFO, '') FROM information_schema.PROCESSLIST WHERE INFO LIKE '%big_a%' AND ID <> CONNECTION_ID()")
        .await
        .expect("processlist");
    assert!(busy.is_empty(), "a limited statement still runs on the primary: {busy:?}");
    c.disconnect().await.ok();
    // Counted for operators.
    let (_, metrics) = super::ops::http_get(p.http_addr().expect("http"), "/metrics").await;
    assert!(metrics.lines().any(|l| l == "sluice_statement_time_limit_kills_total 3"), "{metrics}");
}

/// A COM_QUERY larger than `[server] max_packet_bytes` gets ERR 1153 with a hint, and closes that
/// session only.
#[tokio::test]
async fn packet_over_max_packet_bytes_is_1153() {
    let (topo, schema) = setup("limit_packet").await;
    let mut cfg = topo.sluice_config();
    cfg.server.max_packet_bytes = 64 << 10;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut other = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    let big = format!("SELECT '{}'", "x".repeat(100 << 10));
    let e = c.query_drop(big).await.expect_err("over max_packet_bytes");
    let (code, state, msg) = server_error(&e);
    println!("ERR {code} ({state}): {msg}");
    assert_eq!((code, state.as_str()), (1153, "08S01"));
    assert!(msg.contains("max_packet_bytes"), "{msg}");
    let one: Option<i32> = other.query_first("SELECT 1").await.expect("other sessions carry on");
    assert_eq!(one, Some(1));
}

/// This process's resident set (sluice runs in-process), bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Backpressure: a client that stops reading a 300 MB result leaves sluice's memory flat (the relay
/// waits on the client socket, so it stops reading the backend); when the client reads again the
/// whole result arrives.
#[tokio::test]
async fn stalled_client_on_a_huge_result_does_not_grow_sluice_memory() {
    use super::raw::{CLASSIC, Raw};
    let (topo, schema) = setup("limit_backpressure").await;
    let p = super::proxy(topo).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let rows = 300_000u64;
    let sql = format!("\x03SELECT seq, REPEAT('x', 1000) FROM {}", super::seq_1_to(rows));
    let before = rss_bytes();
    r.send(0, sql.as_bytes()).await;
    for _ in 0..10 {
        r.read().await.expect("the result starts");
    }
    // Stall: read nothing for two seconds while watching the process's memory.
    let mut peak = before;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(rss_bytes());
    }
    let grew = peak.saturating_sub(before);
    println!(
        "stalled 2 s on a {} MB result: RSS {} MB before, peak {} MB (+{} KB)",
        (rows * 1000) >> 20,
        before >> 20,
        peak >> 20,
        grew >> 10
    );
    assert!(grew < 32 << 20, "sluice buffered {} MB for a stalled client", grew >> 20);
    // Resume: every row arrives, then the terminator.
    let started = Instant::now();
    let (mut got, mut bytes) = (0u64, 0u64);
    loop {
        let pk = r.read().await.expect("the rest of the result");
        assert!(super::raw::err_code(&pk).is_none(), "{:?}", String::from_utf8_lossy(&pk.payload));
        if pk.payload[0] == 0xFE && pk.payload.len() < 9 {
            break;
        }
        got += 1;
        bytes += pk.payload.len() as u64;
    }
    let took = started.elapsed();
    println!("then read {got} rows ({} MB) in {took:?}; RSS now {} MB", bytes >> 20, rss_bytes() >> 20);
    // The first 10 packets were the column count, two definitions, the EOF and 6 rows.
    assert_eq!(got, rows - 6, "rows after the first 10 packets");
}

/// A statement too complex to plan (100,000 OR terms, ≈0.9 MB: it overflowed the stack and killed the
/// process) is served on the primary, named in SHOW LAST ROUTE, and the session and others carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_too_complex_to_plan_is_served_on_the_primary() {
    let (topo, schema) = setup("too_complex").await;
    let p = super::proxy(topo).await;
    let mut c = super::connect(&p, "app", "app", &schema).await;
    let mut other = super::connect(&p, "app", "app", &schema).await;
    let mut sql = String::from("SELECT 1 FROM dual WHERE 1=0");
    for _ in 0..100_000 {
        sql.push_str(" OR 1=1");
    }
    // Another session keeps its latency while the statement is lexed, bounded, and served.
    let started = std::time::Instant::now();
    let big = tokio::spawn(async move {
        let one: Option<i64> = c.query_first(&sql).await.expect("served");
        (c, one)
    });
    let mut worst = std::time::Duration::ZERO;
    let mut n = 0;
    while !big.is_finished() {
        let t = std::time::Instant::now();
        let two: Option<i64> = other.query_first("SELECT 2").await.expect("another session meanwhile");
        assert_eq!(two, Some(2));
        worst = worst.max(t.elapsed());
        n += 1;
    }
    let (mut c, one) = big.await.expect("task");
    assert_eq!(one, Some(1));
    println!(
        "100,000 OR terms ({} KB): served in {:?}; another session ran {n} statements meanwhile, slowest {worst:?}",
        (28 + 100_000 * 7) >> 10,
        started.elapsed()
    );
    let (role, reason, _) = super::routing::last_route(&mut c).await;
    assert_eq!(role, "primary", "{reason}");
    assert!(reason.contains("too complex to plan"), "{reason}");
    let two: Option<i64> = other.query_first("SELECT 2").await.expect("another session");
    assert_eq!(two, Some(2));
    let three: Option<i64> = c.query_first("SELECT 3").await.expect("same session");
    assert_eq!(three, Some(3));
}
