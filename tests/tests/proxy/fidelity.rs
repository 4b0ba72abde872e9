//! Protocol fidelity: the same steps directly against the primary and through sluice give the same
//! answers (column names and definitions, errors, warnings, what a failed COM_CHANGE_USER leaves).

use bytes::{Bytes, BytesMut};
use mysql_async::prelude::*;
use mysql_async::{ChangeUserOpts, Conn, Row, Value};
use sluice_protocol::auth::{
    native_hash_to_string, native_password_hash, native_scramble, sha2_hash_to_string, sha2_password_hash,
};
use sluice_protocol::handshake::{HandshakeResponse, HandshakeV10};
use sluice_tests::Topology;

use super::raw::{CLASSIC, Raw};
use super::{connect, proxy, setup};

/// A direct connection to the primary as `app`, in `schema`.
async fn direct(topo: &Topology, schema: &str) -> Conn {
    Conn::new(topo.app_opts(&topo.primary).db_name(Some(schema))).await.expect("direct connection")
}

/// A server error's (code, message), or what else went wrong.
fn err_of<T>(r: Result<T, mysql_async::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(mysql_async::Error::Server(e)) => format!("{} {}", e.code, e.message),
        Err(e) => format!("other: {e}"),
    }
}

/// A value as text, with the connection's own id shown as `<id>` (the two sides' ids differ).
fn shown(v: &Value, id: u32) -> String {
    let s = match v {
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    };
    if s == id.to_string() { "<id>".into() } else { s }
}

/// Column definitions (name, table, org name, type, length, flags, charset, decimals) and rows of `sql`.
async fn result_shape(c: &mut Conn, sql: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let id = c.id();
    let mut r = c.query_iter(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let cols = r
        .columns()
        .map(|cols| {
            cols.iter()
                .map(|c| {
                    format!(
                        "{:?} table={:?} org={:?} {:?} len={} flags={:?} cs={} dec={}",
                        c.name_str(),
                        c.table_str(),
                        c.org_name_str(),
                        c.column_type(),
                        c.column_length(),
                        c.flags(),
                        c.character_set(),
                        c.decimals()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Row> = r.collect().await.expect("rows");
    let rows = rows.iter().map(|row| row.clone().unwrap().iter().map(|v| shown(v, id)).collect()).collect();
    (cols, rows)
}

#[tokio::test]
async fn connection_id_columns_are_named_and_typed_as_the_primary_does() {
    let (topo, schema) = setup("fid_connid").await;
    let p = proxy(topo).await;
    let mut d = direct(topo, &schema).await;
    d.query_drop("CREATE TABLE t (x INT)").await.expect("create");
    d.query_drop("INSERT INTO t VALUES (1)").await.expect("insert");
    topo.wait_replicas_caught_up().await;
    // Ids shown as `<id>` must not collide with the data: sluice's first ids are 1, 2…, so take 3.
    let _first = connect(&p, "app", "app", &schema).await;
    let _second = connect(&p, "app", "app", &schema).await;
    let mut s = connect(&p, "app", "app", &schema).await;
    for sql in [
        "SELECT CONNECTION_ID()",
        "select connection_id() as id",
        "SELECT CONNECTION_ID() + 0",
        "SELECT 1 FROM t WHERE CONNECTION_ID() > 0",
        "select connection_id( ) , (SELECT CONNECTION_ID()) sub, d.* FROM (SELECT CONNECTION_ID()) d",
        "SELECT CONNECTION_ID() /* why */ AS `c`, x, CONNECTION_ID() IS NULL FROM t",
    ] {
        let want = result_shape(&mut d, sql).await;
        let got = result_shape(&mut s, sql).await;
        assert_eq!(got, want, "{sql}");
        assert!(got.1.iter().flatten().any(|v| v == "<id>") || !sql.contains(" + 0"), "{sql}: {got:?}");
    }
    // Prepared (COM_STMT_PREPARE + EXECUTE): the connection's own id, the same column names and types.
    let mut sides = Vec::new();
    for c in [&mut d, &mut s] {
        let id = c.id();
        let stmt = c.prep("SELECT CONNECTION_ID(), connection_id() + 0 AS plus").await.expect("prepare");
        let cols: Vec<String> = stmt
            .columns()
            .iter()
            .map(|c| {
                format!("{:?} {:?} {} {:?}", c.name_str(), c.column_type(), c.column_length(), c.flags())
            })
            .collect();
        let row: Option<(u64, u64)> = c.exec_first(&stmt, ()).await.expect("execute");
        assert_eq!(row, Some((u64::from(id), u64::from(id))), "{cols:?}");
        sides.push(cols);
    }
    assert_eq!(sides[1], sides[0], "prepared CONNECTION_ID() columns");
}

/// A failed COM_CHANGE_USER story on `c`: what each step answers and what the session looks like after.
async fn failed_change_user_story(c: &mut Conn) -> Vec<String> {
    let mut log = Vec::new();
    // The transaction state is the status flag of the answer (`@@in_transaction` is MariaDB's alone).
    let look = "SELECT CURRENT_USER(), DATABASE(), @v, @@session.sql_mode";
    c.query_drop("SET @v = 1").await.expect("set");
    c.query_drop("SET SESSION sql_mode = 'ANSI'").await.expect("sql_mode");
    c.query_drop("CREATE TEMPORARY TABLE tmp (x INT)").await.expect("temp");
    c.query_drop("BEGIN").await.expect("begin");
    for attempt in 0..4 {
        let started = std::time::Instant::now();
        let bad = ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("nope".into()));
        log.push(format!("attempt {attempt}: {}", err_of(c.change_user(bad).await)));
        // The server pauses a second before refusing (slows down guessing on an open connection).
        log.push(format!("paused: {}", started.elapsed() >= std::time::Duration::from_millis(900)));
        // MySQL closes the connection after a failed COM_CHANGE_USER; MariaDB keeps it as it was.
        let row: Option<Row> = match c.query_first(look).await {
            Ok(row) => row,
            Err(e) => {
                log.push(format!("after: the connection is gone: {}", err_of::<()>(Err(e))));
                return log;
            }
        };
        let row = row.expect("a row").unwrap().iter().map(|v| shown(v, 0)).collect::<Vec<_>>();
        log.push(format!("after: {row:?}, in a transaction: {}", super::in_transaction(c)));
        log.push(format!("temp table: {}", err_of(c.query_drop("SELECT * FROM tmp").await)));
        c.query_drop("SET @v = 2").await.expect("set again");
    }
    // After three failures even the right password is refused, and the session carries on as before.
    let good = ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("app".into()));
    log.push(format!("right password: {}", err_of(c.change_user(good).await)));
    let who: Option<(String, Option<String>)> =
        c.query_first("SELECT CURRENT_USER(), DATABASE()").await.expect("still serves");
    log.push(format!("{who:?}"));
    log
}

#[tokio::test]
async fn failed_change_user_keeps_the_connection_as_the_primary_does() {
    let (topo, schema) = setup("fid_chuser").await;
    let p = proxy(topo).await;
    let mut d = direct(topo, &schema).await;
    let mut s = connect(&p, "app", "app", &schema).await;
    let (want, got) = tokio::join!(failed_change_user_story(&mut d), failed_change_user_story(&mut s));
    assert_eq!(got, want);
    assert!(want[0].starts_with("attempt 0: 1045 Access denied for user 'app'@"), "{want:?}");
    match topo.flavor {
        sluice_tests::Flavor::MariaDb => {
            assert!(want.iter().any(|l| l.starts_with("attempt 3: 1047")), "{want:?}");
        }
        sluice_tests::Flavor::MySql => {
            assert!(want[2].starts_with("after: the connection is gone"), "{want:?}");
        }
    }
}

fn limited_user(name: &str, password: &str, max_connections: usize) -> sluice::config::UserConfig {
    let pw = password.as_bytes();
    sluice::config::UserConfig {
        name: name.into(),
        mysql_native_password: Some(native_hash_to_string(&native_password_hash(pw))),
        caching_sha2_password: Some(sha2_hash_to_string(&sha2_password_hash(pw))),
        default_schema: None,
        require_tls: false,
        max_connections,
        backend: None,
        password_env: None,
        password_file: None,
    }
}

#[tokio::test]
async fn change_user_moves_the_session_to_the_new_users_connection_limit() {
    let (topo, schema) = setup("fid_slot").await;
    let mut cfg = topo.sluice_config();
    cfg.users.push(limited_user("one_only", "one", 1));
    let p = sluice_tests::start_proxy(cfg).await;
    let as_one =
        || ChangeUserOpts::default().with_user(Some("one_only".into())).with_pass(Some("one".into()));
    let as_app = || ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("app".into()));
    let mut a = connect(&p, "app", "app", &schema).await;
    a.change_user(as_one()).await.expect("app → one_only");
    // `a` is one_only's only connection now.
    let refused = Conn::new(p.opts("one_only", "one").db_name(Some(&schema))).await;
    assert!(err_of(refused).starts_with("1226 "), "one_only's limit does not count the changed session");
    a.change_user(as_app()).await.expect("one_only → app");
    // one_only's slot went with the change back.
    let mut b = connect(&p, "one_only", "one", &schema).await;
    // b holds the slot: changing `a` to one_only is refused like a wrong password; `a` stays app's.
    let r = a.change_user(as_one()).await;
    assert!(err_of(r).starts_with("1226 User 'one_only' has exceeded"), "change to a full user");
    if topo.flavor == sluice_tests::Flavor::MySql {
        // MySQL closes a connection whose COM_CHANGE_USER failed, and sluice in front of it does too.
        assert!(a.query_first::<i32, _>("SELECT 1").await.is_err(), "a is closed, as on MySQL");
    } else {
        let n: Option<i32> = a.query_first("SELECT 1").await.expect("a still serves");
        assert_eq!(n, Some(1));
    }
    let n: Option<i32> = b.query_first("SELECT 2").await.expect("b serves");
    assert_eq!(n, Some(2));
}

/// A bare client logging in with mysql_native_password (which both MariaDB and sluice accept).
async fn native_login(addr: std::net::SocketAddr, user: &str, password: &str, db: &str) -> Raw {
    let (mut r, g) = Raw::open(addr).await;
    let hs = HandshakeV10::parse(&g.payload).expect("greeting parses");
    let resp = HandshakeResponse {
        capabilities: CLASSIC,
        max_packet: 1 << 24,
        charset: 45,
        user: Bytes::from(user.to_owned()),
        auth_response: Bytes::from(native_scramble(&hs.nonce, password.as_bytes())),
        database: Some(Bytes::from(db.to_owned())),
        auth_plugin: Some(Bytes::from_static(b"mysql_native_password")),
        attributes: vec![],
    };
    let mut out = BytesMut::new();
    resp.encode(&mut out);
    r.send(1, &out).await;
    let p = r.read().await.expect("auth reply");
    assert_eq!(p.payload[0], 0, "login failed: {:?}", String::from_utf8_lossy(&p.payload));
    r
}

/// A bare client logged in directly to the primary: with mysql_native_password on MariaDB; with
/// caching_sha2_password's fast path on MySQL (9.x has no mysql_native_password; a driver's login first
/// puts `user` in the server's cache, so the fast path needs neither TLS nor RSA).
async fn direct_login(topo: &Topology, user: &str, password: &str, db: &str) -> Raw {
    match topo.flavor {
        sluice_tests::Flavor::MariaDb => native_login(topo.primary.addr, user, password, db).await,
        sluice_tests::Flavor::MySql => {
            let opts = sluice_tests::direct_opts(topo.primary.addr, user, password);
            Conn::new(opts).await.expect("a driver login").disconnect().await.ok();
            Raw::login(topo.primary.addr, user, password, db, CLASSIC).await
        }
    }
}

/// Length-encoded strings of a text row (NULL as `None`).
fn text_row(mut b: &[u8]) -> Vec<Option<String>> {
    let mut out = Vec::new();
    while let Some(&first) = b.first() {
        let (len, skip) = match first {
            0xFB => {
                out.push(None);
                b = &b[1..];
                continue;
            }
            0xFC => (usize::from(u16::from_le_bytes([b[1], b[2]])), 3),
            n => (usize::from(n), 1),
        };
        out.push(Some(String::from_utf8_lossy(&b[skip..skip + len]).into_owned()));
        b = &b[skip + len..];
    }
    out
}

/// COM_STMT_PREPARE `sql` (without DEPRECATE_EOF): the warning count of its OK, or the ERR's code.
async fn raw_prepare(r: &mut Raw, sql: &str) -> String {
    let mut p = vec![0x16];
    p.extend_from_slice(sql.as_bytes());
    r.send(0, &p).await;
    let ok = r.read().await.expect("prepare answer");
    if ok.payload[0] == 0xFF {
        return format!("ERR {}", u16::from_le_bytes([ok.payload[1], ok.payload[2]]));
    }
    let pl = &ok.payload;
    let cols = u16::from_le_bytes([pl[5], pl[6]]);
    let params = u16::from_le_bytes([pl[7], pl[8]]);
    let warnings = u16::from_le_bytes([pl[10], pl[11]]);
    let more = |n: u16| if n > 0 { n + 1 } else { 0 };
    for _ in 0..more(cols) + more(params) {
        r.read().await.expect("definitions");
    }
    format!("OK warnings={warnings}")
}

/// The rows of a text-protocol query (without DEPRECATE_EOF).
async fn raw_rows(r: &mut Raw, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut p = vec![0x03];
    p.extend_from_slice(sql.as_bytes());
    r.send(0, &p).await;
    let head = r.read().await.expect("column count");
    assert_ne!(head.payload[0], 0xFF, "{sql}: {:?}", String::from_utf8_lossy(&head.payload));
    let n = head.payload[0];
    for _ in 0..=n {
        r.read().await.expect("column definitions and EOF");
    }
    let mut rows = Vec::new();
    loop {
        let p = r.read().await.expect("row");
        if p.payload[0] == 0xFE && p.payload.len() < 9 {
            return rows;
        }
        rows.push(text_row(&p.payload));
    }
}

/// Prepares statements that warn or fail and asks SHOW WARNINGS after each. (Not here: MariaDB keeps the
/// previous statement's warnings after a PREPARE that raises none, which sluice, preparing on any
/// connection, does not reproduce.)
async fn prepare_warnings_story(mut r: Raw, deprecated: &str) -> Vec<String> {
    let mut log = Vec::new();
    for sql in [deprecated, "SELECT 1 AS ' a'", "SELECT no_such_column FROM dual"] {
        log.push(format!("{sql}: {}", raw_prepare(&mut r, sql).await));
        log.push(format!("  SHOW WARNINGS: {:?}", raw_rows(&mut r, "SHOW WARNINGS").await));
        log.push(format!("  @@warning_count: {:?}", raw_rows(&mut r, "SELECT @@warning_count").await));
    }
    log
}

#[tokio::test]
async fn prepare_warnings_reach_show_warnings_as_on_the_primary() {
    let (topo, schema) = setup("fid_prepwarn").await;
    let p = proxy(topo).await;
    let d = direct_login(topo, "app", "app", &schema).await;
    let s = native_login(p.addr(), "app", "app", &schema).await;
    // Something each flavour prepares with a deprecation warning (1287); MySQL 8.0 removed DES_ENCRYPT.
    let deprecated = match topo.flavor {
        sluice_tests::Flavor::MariaDb => "SELECT DES_ENCRYPT('a')",
        sluice_tests::Flavor::MySql => "SELECT SQL_CALC_FOUND_ROWS 1",
    };
    let want = prepare_warnings_story(d, deprecated).await;
    let got = prepare_warnings_story(s, deprecated).await;
    assert_eq!(got, want);
    assert!(want[0].ends_with("OK warnings=1") && want[1].contains("1287"), "{want:?}");
}

/// Kills a `SLEEP(5)` on `victim` from `killer` with a prepared `KILL QUERY ?`, then tries unknown ids
/// as a parameter and as a literal, then `KILL ?` of the victim's connection.
async fn prepared_kill_story(mut victim: Conn, mut killer: Conn) -> Vec<String> {
    let mut log = Vec::new();
    let id = victim.id();
    let sleeping = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let r = victim.query_drop("SELECT SLEEP(5)").await;
        (victim, err_of(r), started.elapsed())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    log.push(format!("kill query: {}", err_of(killer.exec_drop("KILL QUERY ?", (id,)).await)));
    let (mut victim, slept, took) = sleeping.await.expect("victim task");
    log.push(format!("victim: {slept}, stopped early: {}", took < std::time::Duration::from_secs(4)));
    let one: Option<i32> = victim.query_first("SELECT 1").await.expect("KILL QUERY keeps the connection");
    log.push(format!("victim after: {one:?}"));
    log.push(format!("unknown: {}", err_of(killer.exec_drop("KILL QUERY ?", (4_000_000_000u64,)).await)));
    log.push(format!("literal: {}", err_of(killer.exec_drop("KILL QUERY 4000000001", ()).await)));
    log.push(format!("kill connection: {}", err_of(killer.exec_drop("KILL ?", (id,)).await)));
    let gone = victim.query_drop("SELECT 1").await;
    log.push(format!("victim closed: {}", gone.is_err()));
    log
}

#[tokio::test]
async fn prepared_kill_names_the_same_connections_as_the_text_form() {
    let (topo, schema) = setup("fid_pkill").await;
    let p = proxy(topo).await;
    let want = prepared_kill_story(direct(topo, &schema).await, direct(topo, &schema).await).await;
    let got = prepared_kill_story(
        connect(&p, "app", "app", &schema).await,
        connect(&p, "app", "app", &schema).await,
    )
    .await;
    assert_eq!(got, want);
    // MariaDB prepares KILL; MySQL refuses a parameter outside DML (6413), through sluice as directly.
    let prepared = match topo.flavor {
        sluice_tests::Flavor::MariaDb => "kill query: ok",
        sluice_tests::Flavor::MySql => {
            "kill query: 6413 Dynamic parameters can only be used in DML statements."
        }
    };
    assert_eq!(want[0], prepared, "{want:?}");
}

/// Logs in with PyMySQL: "ok" or the error.
async fn pymysql_login(addr: std::net::SocketAddr, user: &str, password: &str) -> String {
    let script = "import sys, pymysql\ntry:\n    c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user=sys.argv[2], password=sys.argv[3])\n    cur = c.cursor(); cur.execute('SELECT 1'); print('ok' if cur.fetchone() == (1,) else 'bad row')\nexcept pymysql.err.OperationalError as e:\n    print(e.args[0])\n";
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, &addr.port().to_string(), user, password])
        .output()
        .await
        .expect("run python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn an_account_with_an_empty_password_logs_in_as_on_the_primary() {
    let (topo, schema) = setup("fid_nopw").await;
    let name = format!("nopw_{}", std::process::id());
    let mut root = topo.connect_root(&topo.primary).await.expect("root");
    root.query_drop(format!("CREATE USER IF NOT EXISTS '{name}'@'%'")).await.expect("create user");
    root.query_drop(format!("GRANT SELECT ON *.* TO '{name}'@'%'")).await.expect("grant");
    let mut cfg = topo.sluice_config();
    let mut user = limited_user(&name, "", 0);
    user.mysql_native_password = Some(String::new());
    user.caching_sha2_password = Some(String::new());
    cfg.users.push(user);
    let mut native_cfg = cfg.clone();
    native_cfg.server.default_auth_plugin = sluice::config::AuthPlugin::MysqlNativePassword;
    let sha2_first = sluice_tests::start_proxy(cfg).await;
    let native_first = sluice_tests::start_proxy(native_cfg).await;
    let story = |addr: std::net::SocketAddr| {
        let name = name.clone();
        let schema = schema.clone();
        async move {
            let opts = |pw: Option<&str>| {
                sluice_tests::direct_opts(addr, &name, "").pass(pw.map(str::to_owned)).db_name(Some(&schema))
            };
            let mut log = Vec::new();
            for pw in [None, Some(""), Some("wrong")] {
                let r = match Conn::new(opts(pw)).await {
                    Ok(mut c) => err_of(c.query_first::<i32, _>("SELECT 1").await),
                    Err(e) => err_of::<()>(Err(e)),
                };
                log.push(format!("mysql_async {pw:?}: {}", r.replace(&addr.port().to_string(), "PORT")));
            }
            log.push(format!("pymysql '': {}", pymysql_login(addr, &name, "").await));
            log.push(format!("pymysql 'x': {}", pymysql_login(addr, &name, "x").await));
            log
        }
    };
    let want = story(topo.primary.addr).await;
    let got_sha2 = story(sha2_first.addr()).await;
    let got_native = story(native_first.addr()).await;
    root.query_drop(format!("DROP USER '{name}'@'%'")).await.expect("drop user");
    assert_eq!(got_sha2, want, "caching_sha2_password greeting");
    assert_eq!(got_native, want, "mysql_native_password greeting");
    assert!(want[0].ends_with(": ok") && want[2].contains("1045"), "{want:?}");
}

/// COM_CHANGE_USER and COM_RESET_CONNECTION end what the session held on its backend connection
/// before the client hears back, as a server does: a named lock is free for the session's very next
/// statement, which may run on another pooled connection (long-run seed 0xf5cd: the pool's background
/// reset came too late). Another session holds connections too, so the pool has more than one.
#[tokio::test]
async fn reset_and_change_user_release_named_locks_at_once() {
    let (topo, schema) = setup("reset_locks").await;
    let p = sluice_tests::start_proxy(topo.sluice_config()).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let mut other = connect(&p, "app", "app", &schema).await;
    let tag = std::process::id();
    for i in 0..20 {
        // Keep a few primary connections idle in the pool for the next statement to take.
        other.query_drop("DO 0").await.expect("other");
        let name = format!("reset_lock_{tag}_{i}");
        let got: Option<i64> = c.query_first(format!("SELECT GET_LOCK('{name}', 5)")).await.expect("lock");
        assert_eq!(got, Some(1));
        if i % 2 == 0 {
            c.change_user(ChangeUserOpts::default()).await.expect("change user");
        } else {
            c.reset().await.expect("reset");
        }
        // Routed like any named-lock statement: to the primary, where the lock lives.
        let used: Option<(i64, i64)> = c
            .query_first(format!("SELECT IS_USED_LOCK('{name}') IS NOT NULL, IS_FREE_LOCK('{name}')"))
            .await
            .expect("free?");
        assert_eq!(used, Some((0, 1)), "round {i}: the lock outlived the session's reset");
    }
}

/// What a session reads of its diagnostics after SETs of a sql_mode the server warns about (MySQL:
/// 3135 for strict mode without NO_ZERO_DATE…) and a SHOW COUNT(*) WARNINGS after a statement without conditions.
async fn diagnostics_after_mode_story(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    c.query_drop("SET sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES'").await.expect("set");
    out.push(format!("after the SET: {:?}", c.get_warnings()));
    c.query_drop("DO 1").await.expect("do");
    let n: Option<u64> = c.query_first("SHOW COUNT(*) WARNINGS").await.expect("count");
    out.push(format!("count after DO 1: {n:?}"));
    let rows: Vec<Row> = c.query("SHOW WARNINGS").await.expect("show");
    out.push(format!("warnings after it: {}", rows.len()));
    out
}

/// sluice's own SET of a session's variables on a connection another session changed can make the
/// server warn (MySQL 9.7: 3135 for strict mode without NO_ZERO_DATE and its two siblings): the session's next diagnostics read
/// must not see it, as a direct connection never ran that SET.
#[tokio::test]
async fn sluice_sets_leave_no_warnings_for_the_session() {
    let (topo, schema) = setup("fid_syncwarn").await;
    let mut cfg = topo.sluice_config();
    // One connection per backend: the other session's SET moves its sql_mode away between the steps.
    cfg.pool.max_per_backend = 1;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut d = direct(topo, &schema).await;
    let mut s = connect(&p, "app", "app", &schema).await;
    let mut other = connect(&p, "app", "app", &schema).await;
    let want = diagnostics_after_mode_story(&mut d).await;
    let mut got = Vec::new();
    s.query_drop("SET sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES'").await.expect("set");
    got.push(format!("after the SET: {:?}", s.get_warnings()));
    other.query_drop("SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES,NO_ZERO_DATE'").await.expect("other");
    other.query_drop("DO 1").await.expect("other do");
    s.query_drop("DO 1").await.expect("do");
    other.query_drop("DO 2").await.expect("other do");
    let n: Option<u64> = s.query_first("SHOW COUNT(*) WARNINGS").await.expect("count");
    got.push(format!("count after DO 1: {n:?}"));
    other.query_drop("DO 3").await.expect("other do");
    let rows: Vec<Row> = s.query("SHOW WARNINGS").await.expect("show");
    got.push(format!("warnings after it: {}", rows.len()));
    assert_eq!(got, want);
}

/// Each step's outcome (`ok` or the error code) of a session that, with autocommit off, fails a
/// statement on a table and later alters the table, within 10 s.
async fn metadata_lock_story(c: &mut Conn, table: &str, flavor: sluice_tests::Flavor) -> Vec<String> {
    let read_only = match flavor {
        sluice_tests::Flavor::MariaDb => "SET @@tx_read_only = 1",
        sluice_tests::Flavor::MySql => "SET @@transaction_read_only = 1",
    };
    let steps = [
        "SET autocommit = 0".to_string(),
        format!("SELECT nope FROM {table}"),
        // Warnings on MySQL (FOUND_ROWS() is deprecated): sluice clears a connection before reuse.
        "SELECT FOUND_ROWS()".into(),
        read_only.into(),
        format!("SELECT COUNT(*) FROM {table}"),
        format!("ALTER TABLE {table} COMMENT = 'c'"),
    ];
    let mut out = Vec::new();
    for sql in steps {
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), c.query_drop(&sql)).await;
        out.push(match r {
            Ok(r) => format!("{sql}: {}", err_of(r)),
            Err(_) => format!("{sql}: still waiting after 10 s"),
        });
    }
    out
}

/// With autocommit off, a failed statement on a table holds the table's metadata locks until the
/// transaction ends, though the server reports no transaction: the session's later DDL on another
/// pooled connection waited for its own first one (generated seed 0xf396 on MySQL: 30 s). The
/// session keeps the connection until the transaction ends, as a direct connection is one.
#[tokio::test]
async fn failed_statement_under_autocommit_off_keeps_its_metadata_locks_on_one_connection() {
    let (topo, schema) = setup("fid_mdl").await;
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 2;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut d = direct(topo, &schema).await;
    let mut s = connect(&p, "app", "app", &schema).await;
    for t in ["td", "ts"] {
        d.query_drop(format!("CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")).await.expect("create");
    }
    let want = metadata_lock_story(&mut d, "td", topo.flavor).await;
    let got = metadata_lock_story(&mut s, "ts", topo.flavor).await;
    assert_eq!(got.join("\n").replace("ts", "td"), want.join("\n"));
    assert!(want.last().is_some_and(|l| l.ends_with(": ok")), "{want:?}");
}
