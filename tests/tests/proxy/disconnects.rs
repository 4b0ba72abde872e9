//! Clients that vanish mid-statement (the socket closed, no COM_QUIT): mid-result, mid-transaction,
//! mid-prepared-statement. With one backend connection per pool, every later session gets the very
//! connection the vanished client used; none of them may see its rows, temp tables, variables,
//! prepared statements, locks or the rest of its result.

use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Error as MyError};
use sluice_tests::{Proxy, Topology};

use super::raw::{CLASSIC, Raw, err_code};
use super::{in_transaction, seq_1_to, setup};

/// sluice with one connection per backend (so every session reuses the previous one's) and a short
/// lock wait (a leaked row lock shows up as ERR 1205 within a second).
async fn one_conn_proxy(topo: &Topology) -> Proxy {
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 1;
    sluice_tests::start_proxy(cfg).await
}

/// Sends a COM_QUERY on a raw connection and returns its first answer packet (OK or ERR).
async fn raw_query(r: &mut Raw, sql: &str) -> sluice_protocol::Packet {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    r.command(&payload, |_| true).await.pop().expect("an answer")
}

/// `raw_query` that must get an OK.
async fn raw_ok(r: &mut Raw, sql: &str) {
    let p = raw_query(r, sql).await;
    assert_eq!(p.payload[0], 0x00, "{sql}: {:?}", String::from_utf8_lossy(&p.payload));
}

/// Connections every pool of `p` has opened so far.
fn opened(p: &Proxy) -> u64 {
    p.shared().map_or(0, |s| s.pools.all().iter().map(|pool| pool.opened()).sum())
}

/// The server error code of a driver error.
fn code(e: &MyError) -> u16 {
    match e {
        MyError::Server(s) => s.code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// What a later session must find on the primary: no leftover result, no user variable, no temporary
/// table, no prepared statement, no open transaction, no uncommitted row, no held row lock.
async fn assert_clean_session(p: &Proxy, schema: &str, round: usize) {
    let opts = p.opts("app", "app").db_name(Some(schema));
    let mut c = Conn::new(opts).await.unwrap_or_else(|e| panic!("round {round}: connect: {e}"));
    // First a statement sluice does not retry elsewhere (a read would be retried on a fresh connection
    // and hide a dirty one): leftover bytes on the connection make it fail.
    c.query_drop("BEGIN").await.unwrap_or_else(|e| panic!("round {round}: BEGIN: {e}"));
    c.query_drop("ROLLBACK").await.expect("rollback");
    let q = "/* sluice: primary */ SELECT 7, @secret";
    let row: Option<(i32, Option<String>)> = c.query_first(q).await.expect("select");
    let row = row.map(|(seven, secret)| (seven, secret, in_transaction(&c)));
    assert_eq!(row, Some((7, None, false)), "round {round}: leftover result, variable or transaction");
    let e = c.query_drop("/* sluice: primary */ SELECT * FROM tmp").await.expect_err("temp table");
    assert_eq!(code(&e), 1146, "round {round}: the temporary table survived");
    let e = c.query_drop("EXECUTE s").await.expect_err("prepared statement");
    assert_eq!(code(&e), 1243, "round {round}: the PREPAREd statement survived");
    let n: Option<i64> =
        c.query_first("/* sluice: primary */ SELECT COUNT(*) FROM t WHERE id = 999").await.expect("count");
    assert_eq!(n, Some(0), "round {round}: the uncommitted row is visible");
    // The vanished transaction's row lock is gone: this update does not wait (innodb_lock_wait_timeout 1).
    c.query_drop("SET SESSION innodb_lock_wait_timeout = 1").await.expect("lock wait");
    c.query_drop("UPDATE t SET v = v WHERE id = 1").await.expect("row 1 is not locked any more");
    c.disconnect().await.expect("quit");
}

/// A client that closes its socket after a few rows of a 40 MB result: sluice closes that backend
/// connection (it still has the rest of the result in flight); later sessions get correct answers.
#[tokio::test]
async fn client_gone_mid_result_never_returns_a_dirty_connection() {
    let (topo, schema) = setup("gone_result").await;
    let p = one_conn_proxy(topo).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1, 1)").await.expect("row");
    c.disconnect().await.expect("quit");
    let before = opened(&p);
    // Fast rows (the rest of the result is already buffered when the client goes), then slow rows (the
    // backend is between two rows: nothing unread on the connection when sluice notices).
    let fast = format!("\x03/* sluice: primary */ SELECT seq, REPEAT('x', 200) FROM {}", seq_1_to(200_000));
    let slow = format!(
        "\x03/* sluice: primary */ SELECT seq, REPEAT('x', 40000), SLEEP(0.02) FROM {}",
        seq_1_to(500)
    );
    let queries = [&fast, &fast, &slow, &slow];
    for (round, sql) in queries.iter().enumerate() {
        let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
        r.send(0, sql.as_bytes()).await;
        let mut got = 0;
        while got < 5 {
            let p = r.read().await.expect("rows arrive");
            assert!(err_code(&p).is_none(), "{:?}", String::from_utf8_lossy(&p.payload));
            got += 1;
        }
        drop(r); // the socket closes with most of the result still to come
        let started = Instant::now();
        assert_clean_session(&p, &schema, round).await;
        println!(
            "round {round}: a later session was served correctly {:?} after the drop",
            started.elapsed()
        );
    }
    let reopened = opened(&p) - before;
    println!("backend connections opened for 4 vanished mid-result clients: {reopened}");
    assert!(reopened >= 4, "the connection with a result in flight was reused ({reopened} opened)");
}

/// A client that closes its socket inside a transaction (uncommitted INSERT holding a row lock, a
/// temporary table, a user variable, a PREPAREd statement): its backend connection is reset or closed,
/// the row is rolled back and nothing of it reaches twenty later sessions on the same connection.
#[tokio::test]
async fn client_gone_mid_transaction_leaves_nothing_behind() {
    let (topo, schema) = setup("gone_tx").await;
    let p = one_conn_proxy(topo).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1, 1)").await.expect("row");
    c.disconnect().await.expect("quit");
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    raw_ok(&mut r, "BEGIN").await;
    raw_ok(&mut r, "INSERT INTO t VALUES (999, 999)").await;
    raw_ok(&mut r, "UPDATE t SET v = 2 WHERE id = 1").await;
    raw_ok(&mut r, "CREATE TEMPORARY TABLE tmp (x INT)").await;
    raw_ok(&mut r, "SET @secret = 'mine'").await;
    raw_ok(&mut r, "PREPARE s FROM 'SELECT 1'").await;
    drop(r);
    let started = Instant::now();
    for round in 0..20 {
        assert_clean_session(&p, &schema, round).await;
    }
    println!("20 later sessions clean, {:?} after the drop", started.elapsed());
    // Read directly on the primary: the row was rolled back, row 1 is unchanged.
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    let rows: Vec<(i32, i32)> =
        root.query(format!("SELECT id, v FROM `{schema}`.t ORDER BY id")).await.expect("rows");
    assert_eq!(rows, vec![(1, 1)], "the vanished transaction left rows behind");
}

/// A client that closes its socket after COM_STMT_PREPARE and an EXECUTE that opened a cursor (rows
/// still unfetched), and one that closes after SQL PREPARE: later sessions get no statement of theirs
/// and correct results.
#[tokio::test]
async fn client_gone_mid_prepared_statement_leaves_nothing_behind() {
    let (topo, schema) = setup("gone_stmt").await;
    let p = one_conn_proxy(topo).await;
    let mut c = Conn::new(p.opts("app", "app").db_name(Some(schema.clone()))).await.expect("connect");
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop(format!("INSERT INTO t SELECT seq, seq FROM {}", seq_1_to(500))).await.expect("rows");
    c.disconnect().await.expect("quit");
    let before = opened(&p);

    // COM_STMT_PREPARE, then EXECUTE with a read-only cursor on the primary, then gone.
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(b"/* sluice: primary */ SELECT id FROM t WHERE id > ? ORDER BY id");
    r.send(0, &prepare).await;
    let ok = r.read().await.expect("prepare ok");
    assert_eq!(ok.payload[0], 0x00, "{:?}", String::from_utf8_lossy(&ok.payload));
    let stmt = u32::from_le_bytes([ok.payload[1], ok.payload[2], ok.payload[3], ok.payload[4]]);
    let mut eofs = 0;
    while eofs < 2 {
        let p = r.read().await.expect("definitions");
        eofs += usize::from(p.payload[0] == 0xFE && p.payload.len() < 9);
    }
    let mut exec = vec![0x17];
    exec.extend_from_slice(&stmt.to_le_bytes());
    exec.extend_from_slice(&[0x01, 1, 0, 0, 0, 0x00, 0x01, 0x08, 0x00]);
    exec.extend_from_slice(&0i64.to_le_bytes());
    r.send(0, &exec).await;
    loop {
        let p = r.read().await.expect("cursor metadata");
        if p.payload[0] == 0xFE && p.payload.len() < 9 {
            assert_ne!(u16::from_le_bytes([p.payload[3], p.payload[4]]) & 0x0040, 0, "CURSOR_EXISTS");
            break;
        }
    }
    drop(r);
    for round in 0..10 {
        assert_clean_session(&p, &schema, round).await;
    }

    // SQL-level PREPARE (pins `prepare`), then gone.
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;
    raw_ok(&mut r, "PREPARE s FROM 'SELECT id FROM t WHERE id = ?'").await;
    raw_ok(&mut r, "SET @secret = 'mine'").await;
    drop(r);
    for round in 10..20 {
        assert_clean_session(&p, &schema, round).await;
    }
    // No backend thread is left busy for this schema (the cursor's statement was not left running).
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    let deadline = Instant::now() + Duration::from_secs(5);
    let leftover = loop {
        let rows: Vec<(u64, String)> = root
            .query(format!(
                "SELECT ID, COALESCE(INFO, '') FROM information_schema.PROCESSLIST WHERE DB = '{schema}' AND COMMAND <> 'Sleep'"
            ))
            .await
            .expect("processlist");
        if rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(leftover.is_empty(), "backend threads still busy for this schema: {leftover:?}");
    println!("20 later sessions clean; backend connections opened: {}", opened(&p) - before);
}

/// Sessions with and without a default schema take turns: each borrows an idle connection already
/// in its schema rather than the newest one, so no connection is changed (COM_INIT_DB), reset or, on
/// MySQL, opened again to drop a schema.
#[tokio::test]
async fn sessions_of_different_schemas_take_connections_already_in_theirs() {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema("schemas").await;
    let mut cfg = topo.sluice_config();
    cfg.users.iter_mut().for_each(|u| u.default_schema = None);
    let p = sluice_tests::start_proxy(cfg).await;
    let with = p.opts("app", "app").db_name(Some(schema.clone()));
    let without = p.opts("app", "app");
    // Two sessions at once: two connections, one in each schema.
    let mut a = Conn::new(with.clone()).await.expect("connect");
    let mut b = Conn::new(without.clone()).await.expect("connect");
    let q = "/* sluice: primary */ SELECT DATABASE()";
    let (x, y): (Option<Option<String>>, Option<Option<String>>) =
        tokio::try_join!(a.query_first(q), b.query_first(q)).expect("both");
    assert_eq!((x.flatten(), y.flatten()), (Some(schema.clone()), None));
    drop((a, b));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let before = opened(&p);
    for round in 0..20 {
        for opts in [&with, &without] {
            let mut c = Conn::new(opts.clone()).await.expect("connect");
            let db: Option<Option<String>> = c.query_first(q).await.expect("select");
            let want = (opts.clone() == with).then(|| schema.clone());
            assert_eq!(db.flatten(), want, "round {round}");
            c.disconnect().await.expect("quit");
        }
    }
    let reopened = opened(&p) - before;
    println!("40 sessions alternating schemas opened {reopened} backend connections");
    assert!(reopened <= 2, "sessions changed or reopened connections for their schema: {reopened} opened");
}
