//! Per-session budgets against a hostile (or careless) logged-in client: prepared statements per
//! session, long data per session, one shard's part of a scatter result. Each over-budget request gets
//! a clear MySQL error, the session carries on, and other sessions are not touched.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};

use super::raw::{CLASSIC, Raw, err_code};
use super::{connect, setup};

fn prepare_payload(sql: &str) -> Vec<u8> {
    let mut p = vec![0x16];
    p.extend_from_slice(sql.as_bytes());
    p
}

/// PREPARE through the raw client: the statement id, after reading its metadata.
async fn raw_prepare(r: &mut Raw, sql: &str, params: usize) -> u32 {
    r.send(0, &prepare_payload(sql)).await;
    let first = r.read().await.expect("prepare answer");
    assert_eq!(first.payload[0], 0x00, "{:?}", String::from_utf8_lossy(&first.payload));
    let id = u32::from_le_bytes([first.payload[1], first.payload[2], first.payload[3], first.payload[4]]);
    // Parameter definitions + EOF, column definitions + EOF.
    let mut eofs = 0;
    let want = if params > 0 { 2 } else { 1 };
    while eofs < want {
        let p = r.read().await.expect("metadata");
        if p.payload.first() == Some(&0xfe) && p.payload.len() < 9 {
            eofs += 1;
        }
    }
    id
}

async fn send_long_data(r: &mut Raw, stmt: u32, chunk: &[u8]) {
    let mut long = vec![0x18];
    long.extend_from_slice(&stmt.to_le_bytes());
    long.extend_from_slice(&0u16.to_le_bytes());
    long.extend_from_slice(chunk);
    r.send(0, &long).await;
}

/// EXECUTE `SELECT LENGTH(?)` with its one parameter sent as long data: the length, or the ERR.
async fn execute_length(r: &mut Raw, stmt: u32) -> Result<i32, (u16, String)> {
    let mut exec = vec![0x17];
    exec.extend_from_slice(&stmt.to_le_bytes());
    exec.extend_from_slice(&[0x00, 1, 0, 0, 0, 0x00, 0x01, 0xfc, 0x00]);
    r.send(0, &exec).await;
    let first = r.read().await.expect("execute answer");
    if let Some(code) = err_code(&first) {
        return Err((code, String::from_utf8_lossy(&first.payload[9..]).into_owned()));
    }
    let mut rows = Vec::new();
    let mut eofs = 0;
    while eofs < 2 {
        let p = r.read().await.expect("result");
        if p.payload.first() == Some(&0xfe) && p.payload.len() < 9 {
            eofs += 1;
        } else if eofs == 1 {
            rows.push(p);
        }
    }
    let row = &rows.first().expect("one row").payload;
    Ok(i32::from_le_bytes(row[2..6].try_into().expect("4 bytes")))
}

#[tokio::test]
async fn prepared_statements_per_session_are_capped_with_err_1461() {
    let (topo, schema) = setup("budget_ps").await;
    let mut cfg = topo.sluice_config();
    cfg.server.max_prepared_statements = 3;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(raw_prepare(&mut r, &format!("SELECT {n} + ?"), 1).await);
    }
    r.send(0, &prepare_payload("SELECT 4 + ?")).await;
    let refused = r.read().await.expect("answer");
    assert_eq!(err_code(&refused), Some(1461), "{:?}", String::from_utf8_lossy(&refused.payload));
    let message = String::from_utf8_lossy(&refused.payload[9..]).into_owned();
    assert!(message.contains("max_prepared_statements") && message.contains('3'), "{message}");
    // Another session is not affected.
    let mut other = connect(&p, "app", "app", &schema).await;
    let stmt = other.prep("SELECT 1 + ?").await.expect("another session prepares");
    let v: Option<i64> = other.exec_first(&stmt, (1,)).await.expect("execute");
    assert_eq!(v, Some(2));
    // Closing one makes room.
    let mut close = vec![0x19];
    close.extend_from_slice(&ids[0].to_le_bytes());
    r.send(0, &close).await;
    raw_prepare(&mut r, "SELECT 5 + ?", 1).await;
    other.disconnect().await.ok();
}

#[tokio::test]
async fn long_data_over_the_session_budget_fails_its_execute_with_err_1153() {
    let (topo, schema) = setup("budget_long").await;
    let mut cfg = topo.sluice_config();
    cfg.server.max_packet_bytes = 1 << 20;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let stmt = raw_prepare(&mut r, "SELECT LENGTH(?)", 1).await;
    // Three 400 KiB chunks: past 1 MiB.
    let chunk = vec![b'x'; 400 << 10];
    for _ in 0..3 {
        send_long_data(&mut r, stmt, &chunk).await;
    }
    let (code, message) = execute_length(&mut r, stmt).await.expect_err("over the budget");
    assert_eq!(code, 1153, "{message}");
    assert!(message.contains("max_packet_bytes"), "{message}");
    // The session carries on: the next execution with little data works.
    send_long_data(&mut r, stmt, b"hello").await;
    assert_eq!(execute_length(&mut r, stmt).await, Ok(5));
    // A flood of tiny chunks is bounded too (each costs its bookkeeping).
    for _ in 0..20_000 {
        send_long_data(&mut r, stmt, b"y").await;
    }
    let (code, _) = execute_length(&mut r, stmt).await.expect_err("tiny chunks over the budget");
    assert_eq!(code, 1153);
    send_long_data(&mut r, stmt, b"again").await;
    assert_eq!(execute_length(&mut r, stmt).await, Ok(5));
}

#[tokio::test]
async fn a_scatter_result_over_the_budget_is_refused_with_err_1235() {
    let (topo, schema) = setup("budget_scatter").await;
    let mut cfg = topo.sluice_config();
    cfg.sharding.enabled = true;
    cfg.sharding.max_scatter_result_bytes = 2048;
    cfg.sharding.tables.push(sluice::config::ShardedTableConfig {
        name: "big".into(),
        shard_key: "id".into(),
        shard_count: 2,
        ..Default::default()
    });
    cfg.validate().expect("valid sharding config");
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c: Conn = connect(&p, "app", "app", &schema).await;
    for n in 0..2 {
        c.query_drop(format!("CREATE TABLE big_{n} (id INT PRIMARY KEY, pad VARCHAR(200))"))
            .await
            .expect("create");
    }
    let values: Vec<String> = (1..=100).map(|i| format!("({i}, REPEAT('p', 100))")).collect();
    c.query_drop(format!("INSERT INTO big (id, pad) VALUES {}", values.join(", "))).await.expect("insert");
    let e = c.query_drop("SELECT id, pad FROM big").await.expect_err("over the budget");
    let text = e.to_string();
    assert!(text.contains("1235") && text.contains("max_scatter_result_bytes"), "{text}");
    // Within the budget: fine, on the same session.
    let rows: Vec<Row> = c.query("SELECT id FROM big WHERE id IN (1, 2, 3)").await.expect("small scatter");
    assert_eq!(rows.len(), 3);
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM big").await.expect("count");
    assert_eq!(n, Some(100));
    c.disconnect().await.ok();
}

/// A `SET` that would leave sluice unable to follow the session — a client character set its lexer
/// cannot read, or the server's session-state tracking switched off — is refused with ERR 1235 in
/// every form it can arrive in (text, COM_STMT_PREPARE, text PREPARE), and the session carries on with
/// its state still followed.
#[tokio::test]
async fn sets_sluice_cannot_follow_are_refused_in_every_form() {
    let (topo, schema) = setup("refusedset").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for sql in [
        "SET NAMES big5",
        "SET session_track_system_variables = 'autocommit'",
        "SET SESSION session_track_state_change = OFF",
        "SET @@session_track_schema = 0",
    ] {
        let e = c.query_drop(sql).await.expect_err(sql);
        assert!(e.to_string().contains("1235"), "{sql}: {e}");
        let e = c.exec_drop(sql, ()).await.expect_err(sql);
        assert!(e.to_string().contains("1235"), "prepared {sql}: {e}");
        let text = format!("PREPARE s FROM '{}'", sql.replace('\'', "''"));
        let e = c.query_drop(&text).await.expect_err(&text);
        assert!(e.to_string().contains("1235"), "{text}: {e}");
    }
    // Still followed: the session's sql_mode reaches the lexer (a backslash is a plain character).
    c.query_drop("SET sql_mode = 'NO_BACKSLASH_ESCAPES'").await.expect("sql_mode");
    let v: Option<String> = c.query_first(r"SELECT 'a\'").await.expect("backslash literal");
    assert_eq!(v.as_deref(), Some(r"a\"));
    let (schema_now, tracked): (Option<String>, Option<String>) =
        c.query_first("SELECT DATABASE(), @@session_track_state_change").await.expect("read").expect("row");
    assert_eq!(schema_now.as_deref(), Some(schema.as_str()));
    assert_eq!(tracked.as_deref(), Some("1"));
    // GLOBAL is the server's business (the app account may not change it: the server says so).
    let e = c.query_drop("SET GLOBAL session_track_schema = ON").await.expect_err("no SUPER");
    assert!(!e.to_string().contains("1235"), "{e}");
}
