//! End-to-end tests of the foundation: real drivers through an in-process sluice to the harness's real
//! MariaDB primary. One test binary (linking is slow); each test uses its own schema.

use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Params, Row, Value};
use sluice_tests::{Proxy, Topology};

mod binary;
mod cache;
mod capture;
mod differential;
mod disconnects;
mod errors;
mod faults;
mod fidelity;
mod firewall;
mod hostile_holes;
mod hostile_http;
mod hostile_session;
mod limits;
mod logs;
mod migration;
mod monitor;
mod mysql;
mod mysql_ops;
mod observability;
mod ops;
mod packaging;
mod preauth;
mod proxy_protocol;
mod pymysql;
mod raw;
mod reload;
mod routing;
mod sharding;
mod switchover;
mod types;

/// The shared topology and a fresh schema on it.
pub async fn setup(prefix: &str) -> (&'static Topology, String) {
    let topo = sluice_tests::shared().await;
    let schema = topo.fresh_schema(prefix).await;
    (topo, schema)
}

/// A derived table of the integers 1..=`n` in column `seq`, aliased `seq_1_to_{n}`: what MariaDB's
/// SEQUENCE-engine table of that name gives, on either flavour (MySQL has no SEQUENCE engine). See
/// [`seq_1_to_as`].
pub fn seq_1_to(n: u64) -> String {
    seq_1_to_as(n, &format!("seq_1_to_{n}"))
}

/// [`seq_1_to`] aliased `alias`. Built from cross-joined digit tables, so it needs no table, no session
/// variable (a recursive CTE past 1000 rows would need MySQL's `cte_max_recursion_depth`) and works on
/// replicas; rows come in no particular order.
pub fn seq_1_to_as(n: u64, alias: &str) -> String {
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 \
                  UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let places = n.saturating_sub(1).to_string().len();
    let value: Vec<String> = (0..places).map(|k| format!("{} * d{k}.d", 10u64.pow(k as u32))).collect();
    let value = value.join(" + ");
    let from: Vec<String> = (0..places).map(|k| format!("{digits} AS d{k}")).collect();
    format!("(SELECT {value} + 1 AS seq FROM {} WHERE {value} < {n}) AS {alias}", from.join(" CROSS JOIN "))
}

/// Whether the last statement on `c` left its session in a transaction: SERVER_STATUS_IN_TRANS in the
/// status flags of its OK (or result-set terminator). Works on both flavours, where `@@in_transaction`
/// is MariaDB's alone.
pub fn in_transaction(c: &Conn) -> bool {
    let ok = c.last_ok_packet().expect("the last statement ended in an OK packet");
    ok.status_flags().contains(mysql_async::consts::StatusFlags::SERVER_STATUS_IN_TRANS)
}

/// A sluice in front of `topo` with the default test config.
pub async fn proxy(topo: &Topology) -> Proxy {
    sluice_tests::start_proxy(topo.sluice_config()).await
}

/// A connection to `proxy`'s admin interface as `admin`/`admin` (the test config's admin account).
pub async fn admin(proxy: &Proxy) -> Conn {
    let addr = proxy.admin_addr().expect("admin listener");
    Conn::new(sluice_tests::direct_opts(addr, "admin", "admin")).await.expect("admin login")
}

/// A connection through `proxy` as `user`/`password` in `schema`.
pub async fn connect(proxy: &Proxy, user: &str, password: &str, schema: &str) -> Conn {
    Conn::new(proxy.opts(user, password).db_name(Some(schema))).await.expect("connect through sluice")
}

#[tokio::test]
async fn query_insert_select_and_ping() {
    let (topo, schema) = setup("basic").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20))").await.expect("create");
    c.exec_drop("INSERT INTO t (v) VALUES (?), (?)", ("a", "b")).await.expect("insert");
    assert_eq!(c.affected_rows(), 2);
    assert_eq!(c.last_insert_id(), Some(1));
    let rows: Vec<(i32, String)> = c.query("SELECT id, v FROM t ORDER BY id").await.expect("select");
    assert_eq!(rows, vec![(1, "a".into()), (2, "b".into())]);
    c.ping().await.expect("ping");
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.expect("db");
    assert_eq!(db.as_deref(), Some(schema.as_str()));
    c.disconnect().await.expect("quit");
}

#[tokio::test]
async fn auth_plugins_and_switches() {
    let (topo, schema) = setup("auth").await;
    // Default plugin caching_sha2_password: `app` has both hashes (fast path), `sha2_only` fast path,
    // `native_only` gets an auth switch to mysql_native_password (no TLS).
    let p = proxy(topo).await;
    for (user, pw) in [("app", "app"), ("sha2_only", "sha2"), ("native_only", "native")] {
        let mut c = connect(&p, user, pw, &schema).await;
        let one: Option<i32> = c.query_first("SELECT 1").await.expect("select");
        assert_eq!(one, Some(1), "{user}");
    }
    // Announcing mysql_native_password: `sha2_only` is switched to caching_sha2_password.
    let mut cfg = topo.sluice_config();
    cfg.server.default_auth_plugin = sluice::config::AuthPlugin::MysqlNativePassword;
    let p2 = sluice_tests::start_proxy(cfg).await;
    for (user, pw) in [("app", "app"), ("sha2_only", "sha2"), ("native_only", "native")] {
        let mut c = connect(&p2, user, pw, &schema).await;
        let one: Option<i32> = c.query_first("SELECT 1").await.expect("select");
        assert_eq!(one, Some(1), "{user}");
    }
}

/// A config with client-facing TLS from the harness's certificate.
fn tls_config(topo: &Topology) -> sluice::config::Config {
    let (cert, key, _ca) = topo.proxy_tls_files();
    let mut cfg = topo.sluice_config();
    cfg.server.tls = Some(sluice::config::TlsServerConfig { cert, key });
    cfg
}

fn tls_opts(topo: &Topology, p: &Proxy, user: &str, pw: &str, schema: &str) -> OptsBuilder {
    let (_c, _k, ca) = topo.proxy_tls_files();
    let ssl = mysql_async::SslOpts::default()
        .with_root_certs(vec![ca.into()])
        .with_danger_skip_domain_validation(true);
    p.opts(user, pw).db_name(Some(schema)).ssl_opts(ssl)
}

#[tokio::test]
async fn tls_and_caching_sha2_full_auth() {
    let (topo, schema) = setup("tls").await;
    let p = sluice_tests::start_proxy(tls_config(topo)).await;
    // `native_only` over TLS with caching_sha2: sluice asks for full authentication (password over TLS).
    for (user, pw) in [("app", "app"), ("native_only", "native"), ("tls_only", "tls")] {
        let mut c = Conn::new(tls_opts(topo, &p, user, pw, &schema)).await.expect("TLS connect");
        let cipher: Option<(String, String)> =
            c.query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'").await.expect("status");
        // The backend leg is plain here; what matters is that the client leg worked and the query ran.
        assert!(cipher.is_some(), "{user}");
    }
    // `tls_only` without TLS is refused with 1045 and a hint.
    let err = Conn::new(p.opts("tls_only", "tls").db_name(Some(&schema))).await.expect_err("needs TLS");
    let msg = err.to_string();
    assert!(msg.contains("1045") && msg.contains("requires TLS"), "{msg}");
}

#[tokio::test]
async fn backend_tls_verified() {
    let (topo, schema) = setup("btls").await;
    let mut cfg = topo.sluice_config();
    cfg.backend.tls =
        sluice::config::BackendTls { enabled: true, verify: true, ca: Some(topo.tls_ca.clone()) };
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let row: Option<(String, String)> =
        c.query_first("SHOW SESSION STATUS LIKE 'Ssl_version'").await.expect("status");
    let (_, version) = row.expect("row");
    assert!(version.starts_with("TLS"), "backend connection is not TLS: {version:?}");
}

#[tokio::test]
async fn multi_statements_and_multi_results() {
    let (topo, schema) = setup("multi").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let mut r = c
        .query_iter(
            "CREATE TABLE m (id INT); INSERT INTO m VALUES (1),(2); SELECT id FROM m ORDER BY id; SELECT 'x'",
        )
        .await
        .expect("multi");
    let mut sets = Vec::new();
    while !r.is_empty() {
        let rows: Vec<Row> = r.collect().await.expect("set");
        sets.push(rows.len());
    }
    drop(r);
    assert_eq!(sets, vec![0, 0, 2, 1]);
    // A stored procedure returning two result sets.
    c.query_drop("CREATE PROCEDURE two() BEGIN SELECT 1; SELECT 2, 3; END").await.expect("proc");
    let mut r = c.query_iter("CALL two()").await.expect("call");
    let a: Vec<i32> = r.collect().await.expect("first");
    let b: Vec<(i32, i32)> = r.collect().await.expect("second");
    assert_eq!((a, b), (vec![1], vec![(2, 3)]));
}

#[tokio::test]
async fn prepared_statements_nulls_and_long_data() {
    let (topo, schema) = setup("prep").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE p (id INT PRIMARY KEY, s VARCHAR(50), d DOUBLE, b LONGBLOB, dt DATETIME(6))")
        .await
        .expect("create");
    let stmt = c.prep("INSERT INTO p VALUES (?, ?, ?, ?, ?)").await.expect("prepare");
    let big = vec![7u8; 3 << 20];
    c.exec_drop(&stmt, (1, "one", 1.5f64, big.clone(), "2024-02-29 12:34:56.789012")).await.expect("exec 1");
    c.exec_drop(&stmt, (2, Value::NULL, Value::NULL, Value::NULL, Value::NULL)).await.expect("exec 2");
    c.close(stmt).await.expect("close");
    type PRow = (i32, Option<String>, Option<f64>, Option<Vec<u8>>);
    let rows: Vec<PRow> =
        c.exec("SELECT id, s, d, b FROM p WHERE id IN (?, ?) ORDER BY id", (1, 2)).await.expect("select");
    assert_eq!(rows[0], (1, Some("one".into()), Some(1.5), Some(big)));
    assert_eq!(rows[1], (2, None, None, None));
    let dt: Option<String> =
        c.exec_first("SELECT CAST(dt AS CHAR) FROM p WHERE id = ?", (1,)).await.expect("dt");
    assert_eq!(dt.as_deref(), Some("2024-02-29 12:34:56.789012"));
    // Named reuse of one statement many times.
    for i in 10..20 {
        c.exec_drop("INSERT INTO p (id, s) VALUES (?, ?)", (i, format!("v{i}"))).await.expect("exec");
    }
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM p").await.expect("count");
    assert_eq!(n, Some(12));
    let _ = Params::Empty;
}

#[tokio::test]
async fn rows_and_packets_larger_than_16_mib() {
    let (topo, schema) = setup("big").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)").await.expect("create");
    let blob: Vec<u8> = (0..(20 << 20)).map(|i| (i % 251) as u8).collect();
    // Text protocol: a > 16 MiB COM_QUERY packet.
    let hex: String = blob[..(9 << 20)].iter().map(|b| format!("{b:02x}")).collect();
    c.query_drop(format!("INSERT INTO big VALUES (1, x'{hex}')")).await.expect("big query");
    // Binary protocol: a > 16 MiB parameter.
    c.exec_drop("INSERT INTO big VALUES (?, ?)", (2, blob.clone())).await.expect("big param");
    let got: Option<Vec<u8>> = c.exec_first("SELECT b FROM big WHERE id = ?", (2,)).await.expect("select");
    assert!(got.as_deref() == Some(&blob[..]), "20 MiB blob did not round-trip (binary)");
    let got: Option<Vec<u8>> = c.query_first("SELECT b FROM big WHERE id = 2").await.expect("select");
    assert!(got.as_deref() == Some(&blob[..]), "20 MiB blob did not round-trip (text)");
    let got: Option<Vec<u8>> = c.query_first("SELECT b FROM big WHERE id = 1").await.expect("select");
    assert!(got.as_deref() == Some(&blob[..(9 << 20)]));
}

#[tokio::test]
async fn change_user_and_reset_connection() {
    let (topo, schema) = setup("chuser").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("SET @v = 42").await.expect("set");
    c.query_drop("CREATE TEMPORARY TABLE tmp (x INT)").await.expect("temp");
    c.reset().await.expect("COM_RESET_CONNECTION");
    let v: Option<Option<i64>> = c.query_first("SELECT @v").await.expect("var");
    assert_eq!(v, Some(None), "user variable survived COM_RESET_CONNECTION");
    assert!(c.query_drop("SELECT * FROM tmp").await.is_err(), "temp table survived reset");
    let opts = mysql_async::ChangeUserOpts::default()
        .with_user(Some("sha2_only".into()))
        .with_pass(Some("sha2".into()))
        .with_db_name(Some(schema.clone()));
    c.change_user(opts).await.expect("COM_CHANGE_USER");
    let db: Option<String> = c.query_first("SELECT DATABASE()").await.expect("db");
    assert_eq!(db.as_deref(), Some(schema.as_str()));
    let bad =
        mysql_async::ChangeUserOpts::default().with_user(Some("app".into())).with_pass(Some("nope".into()));
    assert!(c.change_user(bad).await.is_err(), "wrong password accepted by COM_CHANGE_USER");
}

#[tokio::test]
async fn sessions_do_not_see_each_others_state() {
    let (topo, schema) = setup("isolate").await;
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 1;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut a = connect(&p, "app", "app", &schema).await;
    a.query_drop("SET @secret = 'a'").await.expect("set");
    a.query_drop("CREATE TEMPORARY TABLE tt (x INT)").await.expect("temp");
    a.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES'").await.expect("mode");
    drop(a);
    // With one connection per pool, the next session gets the same backend connection after its reset.
    let mut b = connect(&p, "app", "app", &schema).await;
    let v: Option<Option<String>> = b.query_first("SELECT @secret").await.expect("var");
    assert_eq!(v, Some(None));
    assert!(b.query_drop("SELECT * FROM tt").await.is_err());
    let mode: Option<String> = b.query_first("SELECT @@SESSION.sql_mode").await.expect("mode");
    assert_ne!(mode.as_deref(), Some("ANSI_QUOTES"));
}

#[tokio::test]
async fn mariadb_cli_batch_mode() {
    let (topo, schema) = setup("cli").await;
    let p = proxy(topo).await;
    let out = tokio::process::Command::new("mariadb")
        .args(["--protocol=TCP", "-h127.0.0.1", &format!("-P{}", p.addr().port()), "-uapp", "-papp", "--batch"])
        .arg(&schema)
        .args(["-e", "CREATE TABLE c (id INT, v TEXT); INSERT INTO c VALUES (1,'x'),(2,NULL); SELECT * FROM c ORDER BY id; SELECT DATABASE()"])
        .output()
        .await
        .expect("run mariadb");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mariadb failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, format!("id\tv\n1\tx\n2\tNULL\nDATABASE()\n{schema}\n"));
}
