//! Routing and multiplexing through a real driver: reads on replicas, writes on the primary, sticky
//! transactions, every pin reason pinning and unpinning, tracked variables following a session over
//! shared connections, prepared statements, rules, KILL and CONNECTION_ID(), SHOW LAST ROUTE.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice_tests::Topology;

use super::{connect, proxy, setup};

/// `SHOW LAST ROUTE` of a session: (role, reason, pin_reasons).
pub async fn last_route(c: &mut Conn) -> (String, String, String) {
    let row: Row = c.query_first("SHOW LAST ROUTE").await.expect("SHOW LAST ROUTE").expect("one row");
    let get = |name: &str| row.get::<Option<String>, _>(name).flatten().unwrap_or_default();
    (get("role"), get("reason"), get("pin_reasons"))
}

async fn pins(c: &mut Conn) -> String {
    last_route(c).await.2
}

async fn server_id(c: &mut Conn) -> u32 {
    c.query_first("SELECT @@server_id").await.expect("server id").expect("a row")
}

#[tokio::test]
async fn reads_spread_over_replicas_writes_on_primary_transactions_stick() {
    let (topo, schema) = setup("rw_split").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1, 10)").await.expect("insert");
    assert_eq!(last_route(&mut c).await.0, "primary");
    // The write is on the primary itself.
    let mut direct =
        Conn::new(topo.root_opts(&topo.primary).db_name(Some(schema.clone()))).await.expect("direct");
    let v: Option<i32> = direct.query_first("SELECT v FROM t WHERE id = 1").await.expect("direct read");
    assert_eq!(v, Some(10));
    direct.disconnect().await.ok();

    // Reads spread over both replicas, round robin; the session's own write is visible there.
    let mut ids = BTreeSet::new();
    for _ in 0..10 {
        ids.insert(server_id(&mut c).await);
        let (role, reason, pins) = last_route(&mut c).await;
        assert_eq!((role.as_str(), pins.as_str()), ("replica", ""), "{reason}");
    }
    for _ in 0..4 {
        let v: Option<i32> = c.query_first("SELECT v FROM t WHERE id = 1").await.expect("read");
        assert_eq!(v, Some(10));
        assert_eq!(last_route(&mut c).await.0, "replica");
    }
    let replicas: BTreeSet<u32> = topo.replicas.iter().map(|r| r.server_id).collect();
    assert_eq!(ids, replicas);

    // An explicit transaction sticks to the primary until COMMIT.
    c.query_drop("BEGIN").await.expect("begin");
    for _ in 0..4 {
        assert_eq!(server_id(&mut c).await, topo.primary.server_id);
        let (role, _, pins) = last_route(&mut c).await;
        assert_eq!((role.as_str(), pins.as_str()), ("primary", "transaction"));
    }
    c.query_drop("UPDATE t SET v = 11 WHERE id = 1").await.expect("update");
    c.query_drop("COMMIT").await.expect("commit");
    assert_eq!(last_route(&mut c).await.2, "");

    // A read-only transaction runs on one replica from start to end. (It must see the session's
    // UPDATE: on a loaded machine a replica may take longer than gtid_wait_timeout_ms to apply it, and
    // the transaction would then rightly start on the primary.)
    topo.wait_replicas_caught_up().await;
    c.query_drop("START TRANSACTION READ ONLY").await.expect("start ro");
    let first = server_id(&mut c).await;
    assert!(replicas.contains(&first), "read-only transaction on {first}");
    for _ in 0..4 {
        assert_eq!(server_id(&mut c).await, first);
    }
    assert_eq!(last_route(&mut c).await.2, "transaction");
    let e =
        c.query_drop("UPDATE t SET v = 12 WHERE id = 1").await.expect_err("write in a read-only transaction");
    // The replica refuses it (1290 read_only, or 1792 for the READ ONLY transaction): never the primary.
    assert!(e.to_string().contains("1290") || e.to_string().contains("1792"), "{e}");
    c.query_drop("COMMIT").await.expect("commit ro");
    // The refusal stays readable (SHOW WARNINGS) on that replica until a statement uses a table.
    assert_eq!(last_route(&mut c).await.2, "diagnostics");

    // Locking reads, stored functions and writes go to the primary.
    // (A stored function needs SUPER with binary logging: created directly by root.)
    let mut direct =
        Conn::new(topo.root_opts(&topo.primary).db_name(Some(schema.clone()))).await.expect("direct");
    direct
        .query_drop("CREATE FUNCTION bump() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE t SET v = v + 1 WHERE id = 1; RETURN 1; END")
        .await
        .expect("create function");
    direct.disconnect().await.ok();
    topo.wait_replicas_caught_up().await;
    for sql in
        ["SELECT v FROM t WHERE id = 1 FOR UPDATE", "SELECT bump()", "SELECT /* sluice: primary */ v FROM t"]
    {
        c.query_drop(sql).await.expect(sql);
        assert_eq!(last_route(&mut c).await.0, "primary", "{sql}");
    }
    c.disconnect().await.ok();
}

#[tokio::test]
async fn every_pin_reason_pins_and_unpins() {
    let (topo, schema) = setup("pins").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)").await.expect("create");
    c.query_drop("INSERT INTO t (v) VALUES (1), (2), (3)").await.expect("insert");

    // transaction
    c.query_drop("BEGIN").await.expect("begin");
    assert_eq!(pins(&mut c).await, "transaction");
    c.query_drop("ROLLBACK").await.expect("rollback");
    assert_eq!(pins(&mut c).await, "");

    // autocommit=0: every statement is in a transaction on the primary until COMMIT.
    c.query_drop("SET autocommit = 0").await.expect("autocommit off");
    assert_eq!(server_id(&mut c).await, topo.primary.server_id);
    let n: Option<i64> =
        c.query_first("SELECT COUNT(*) FROM t").await.expect("read in the implicit transaction");
    assert_eq!(n, Some(3));
    assert_eq!(last_route(&mut c).await.0, "primary");
    assert_eq!(pins(&mut c).await, "transaction");
    c.query_drop("COMMIT").await.expect("commit");
    // metadata_locks: a failed statement on a table opens no transaction the server reports, yet
    // holds the table's metadata locks until one ends.
    c.query_drop("SELECT nope FROM t").await.expect_err("no such column");
    c.query_drop("DO 1").await.expect("do");
    // (With the error's diagnostics; MariaDB also reports a transaction by now.)
    assert!(pins(&mut c).await.split(',').any(|p| p == "metadata_locks"));
    c.query_drop("SELECT COUNT(*) FROM t").await.expect("a table clears the diagnostics");
    c.query_drop("COMMIT").await.expect("commit");
    assert_eq!(pins(&mut c).await, "");
    c.query_drop("SET autocommit = 1").await.expect("autocommit on");
    assert_ne!(server_id(&mut c).await, topo.primary.server_id);
    assert_eq!(pins(&mut c).await, "");

    // read_only_leftover (MariaDB): SET autocommit = 1 ends a READ ONLY transaction, yet row changes
    // are refused until the next transaction boundary; the session stays on that primary connection.
    c.query_drop("SET autocommit = 0").await.expect("autocommit off");
    c.query_drop("START TRANSACTION READ ONLY").await.expect("read only");
    c.query_drop("SET autocommit = 1").await.expect("autocommit on");
    assert_eq!(pins(&mut c).await, "read_only_leftover");
    let e = c.query_drop("INSERT INTO t (v) VALUES (9)").await.expect_err("refused");
    assert!(e.to_string().contains("1792"), "{e}");
    c.query_drop("ROLLBACK").await.expect("rollback");
    // The refusal stays readable (SHOW WARNINGS) until a statement that uses a table.
    assert_eq!(pins(&mut c).await, "diagnostics");
    c.query_drop("UPDATE t SET v = v WHERE id = 1").await.expect("writes again");
    assert_eq!(pins(&mut c).await, "");

    // lock_tables
    c.query_drop("LOCK TABLES t READ").await.expect("lock");
    assert_eq!(pins(&mut c).await, "lock_tables");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM t").await.expect("read under lock");
    assert_eq!(n, Some(3));
    c.query_drop("UNLOCK TABLES").await.expect("unlock");
    assert_eq!(pins(&mut c).await, "");

    // get_lock
    let got: Option<i32> = c.query_first("SELECT GET_LOCK('sluice_pin_test', 5)").await.expect("get_lock");
    assert_eq!(got, Some(1));
    assert_eq!(pins(&mut c).await, "get_lock");
    let mine: Option<i32> = c
        .query_first("SELECT IS_USED_LOCK('sluice_pin_test') = CONNECTION_ID()")
        .await
        .expect("is_used_lock");
    assert!(mine.is_some());
    let released: Option<i32> =
        c.query_first("SELECT RELEASE_LOCK('sluice_pin_test')").await.expect("release");
    assert_eq!(released, Some(1));
    assert_eq!(pins(&mut c).await, "");

    // temp_table
    c.query_drop("CREATE TEMPORARY TABLE tmp (id INT)").await.expect("temp table");
    assert_eq!(pins(&mut c).await, "temp_table");
    c.query_drop("INSERT INTO tmp VALUES (1), (2)").await.expect("insert tmp");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM tmp").await.expect("read tmp");
    assert_eq!(n, Some(2));
    c.query_drop("DROP TEMPORARY TABLE tmp").await.expect("drop tmp");
    assert_eq!(pins(&mut c).await, "");

    // prepare (text protocol)
    c.query_drop("PREPARE s FROM 'SELECT v FROM t WHERE id = ?'").await.expect("prepare");
    assert_eq!(pins(&mut c).await, "prepare");
    c.query_drop("SET @id = 2").await.expect("set @id");
    let v: Option<i32> = c.query_first("EXECUTE s USING @id").await.expect("execute");
    assert_eq!(v, Some(2));
    c.query_drop("DEALLOCATE PREPARE s").await.expect("deallocate");
    assert!(pins(&mut c).await.contains("user_variable"));

    // user_variable and untracked_set end with COM_RESET_CONNECTION (sluice cannot know they are gone).
    c.query_drop("SET SESSION wait_timeout = 1234").await.expect("untracked set");
    assert_eq!(pins(&mut c).await, "user_variable,untracked_set");
    let w: Option<u32> = c.query_first("SELECT @@wait_timeout").await.expect("wait_timeout");
    assert_eq!(w, Some(1234));
    c.reset().await.expect("COM_RESET_CONNECTION");
    let a: Option<Option<i32>> = c.query_first("SELECT @id").await.expect("@id after reset");
    assert_eq!(a, Some(None));
    assert_eq!(pins(&mut c).await, "");

    // SQL_CALC_FOUND_ROWS: the count is read back from the connection that counted; nothing pins but
    // the warnings: MySQL warns that both are deprecated (1287), and warnings pin `diagnostics` until
    // a statement that uses a table, as on any flavour. MariaDB raises none.
    let warned = match topo.flavor {
        sluice_tests::Flavor::MariaDb => "",
        sluice_tests::Flavor::MySql => "diagnostics",
    };
    c.query_drop("SELECT SQL_CALC_FOUND_ROWS id FROM t LIMIT 1").await.expect("calc found rows");
    assert_eq!(pins(&mut c).await, warned);
    let found: Option<i64> = c.query_first("SELECT FOUND_ROWS()").await.expect("found_rows");
    assert_eq!(found, Some(3));
    assert_eq!(pins(&mut c).await, warned);

    // LAST_INSERT_ID() after an insert, even with a read in between.
    c.query_drop("INSERT INTO t (v) VALUES (4)").await.expect("insert 4");
    let id = c.last_insert_id();
    let _: Option<i32> = c.query_first("SELECT 1").await.expect("a read in between");
    let last: Option<u64> = c.query_first("SELECT LAST_INSERT_ID()").await.expect("last_insert_id");
    assert_eq!(last, id);

    // Tracked variables do not pin: they follow the session to every connection it borrows.
    c.query_drop("SET time_zone = '+05:00', sql_mode = 'ANSI_QUOTES'").await.expect("tracked set");
    assert_eq!(pins(&mut c).await, "");
    for _ in 0..6 {
        let (tz, mode): (String, String) =
            c.query_first("SELECT @@time_zone, @@sql_mode").await.expect("vars").expect("row");
        assert_eq!((tz.as_str(), mode.as_str()), ("+05:00", "ANSI_QUOTES"));
    }
    c.disconnect().await.ok();
}

#[tokio::test]
async fn connection_id_and_kill_name_sluice_sessions() {
    let (topo, schema) = setup("kill").await;
    let p = proxy(topo).await;
    let mut a = connect(&p, "app", "app", &schema).await;
    let mut b = connect(&p, "app", "app", &schema).await;
    let id: Option<u32> = b.query_first("SELECT CONNECTION_ID()").await.expect("connection_id");
    assert_eq!(id, Some(b.id()));
    let plus: Option<(u64, String)> =
        b.query_first("SELECT CONNECTION_ID() + 1, 'CONNECTION_ID()'").await.expect("in an expression");
    assert_eq!(plus, Some((u64::from(b.id()) + 1, "CONNECTION_ID()".to_string())));

    // KILL QUERY stops b's statement on its backend; b's session goes on.
    let b_id = b.id();
    let sleeper = tokio::spawn(async move {
        let started = Instant::now();
        let r = b.query_drop("SELECT SLEEP(20)").await;
        (b, r, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.query_drop(format!("KILL QUERY {b_id}")).await.expect("kill query");
    let (mut b, r, took) = sleeper.await.expect("sleeper");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // MariaDB answers an interrupted SLEEP() with 1 (or ERR 1317, depending on when the kill lands).
    if let Err(e) = r {
        assert!(e.to_string().contains("1317") || e.to_string().contains("interrupted"), "{e}");
    }
    assert!(server_id(&mut b).await > 0, "b still works after KILL QUERY");

    // KILL ids that are not this user's sessions, or no session at all.
    let e = a.query_drop("KILL 4000000000").await.expect_err("unknown id");
    assert!(e.to_string().contains("1094"), "{e}");
    let mut other = connect(&p, "native_only", "native", &schema).await;
    let e = other.query_drop(format!("KILL {b_id}")).await.expect_err("not the owner");
    assert!(e.to_string().contains("1095"), "{e}");

    // KILL CONNECTION closes b.
    a.query_drop(format!("KILL CONNECTION {b_id}")).await.expect("kill connection");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.query_drop("SELECT 1").await.is_err(), "b was killed");
    a.disconnect().await.ok();
}

#[tokio::test]
async fn prepared_statements_through_multiplexing() {
    let (topo, schema) = setup("prepared_mux").await;
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 2;
    cfg.pool.max_prepared_per_connection = 3;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))").await.expect("create");
    c.query_drop("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')").await.expect("insert");
    let mut tasks = Vec::new();
    for n in 0..8u32 {
        let opts = p.opts("app", "app").db_name(Some(schema.clone()));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            // More distinct statements than a backend connection keeps: they are closed and prepared again.
            let sqls: Vec<String> =
                (0..6).map(|k| format!("SELECT v, {k} + ? FROM t WHERE id = ?")).collect();
            let mut stmts = Vec::new();
            for s in &sqls {
                stmts.push(c.prep(s).await.expect("prepare"));
            }
            for round in 0..10u32 {
                for (k, st) in stmts.iter().enumerate() {
                    let id = (round + n + k as u32) % 3 + 1;
                    let row: Option<(String, i64)> = c.exec_first(st, (n, id)).await.expect("execute");
                    let want = ["a", "b", "c"][id as usize - 1];
                    assert_eq!(row, Some((want.to_string(), i64::from(n) + k as i64)));
                }
                // A write through a prepared statement goes to the primary.
                c.exec_drop("UPDATE t SET v = v WHERE id = ?", (1,)).await.expect("prepared update");
            }
            for st in stmts {
                c.close(st).await.expect("close");
            }
            c.disconnect().await.ok();
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    // Unknown statement ids get the server's error, not a crash.
    let e = c.exec_drop("SELECT 1 FROM no_such_table WHERE id = ?", (1,)).await.expect_err("prepare fails");
    assert!(e.to_string().contains("1146"), "{e}");
    c.disconnect().await.ok();
}

#[tokio::test]
async fn rules_block_and_route() {
    let (topo, schema) = setup("rules").await;
    let mut cfg = topo.sluice_config();
    let rules: sluice::config::Config = toml::from_str(
        r#"
        [[rules]]
        name = "no-full-deletes"
        match = { regex = "^delete from [a-z_]+$" }
        action = "block"
        message = "DELETE without WHERE is blocked here; add a WHERE clause"

        [[rules]]
        match = { pattern = "from reports" }
        action = "route"
        target = "primary"
        "#,
    )
    .expect("rules parse");
    cfg.rules = rules.rules;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE reports (id INT)").await.expect("create");
    let e = c.query_drop("DELETE FROM reports").await.expect_err("blocked");
    assert!(e.to_string().contains("1148") && e.to_string().contains("add a WHERE clause"), "{e}");
    c.query_drop("DELETE FROM reports WHERE id = 1").await.expect("a DELETE with WHERE runs");
    c.query_drop("SELECT * FROM reports").await.expect("routed read");
    assert_eq!(last_route(&mut c).await.0, "primary");
    c.query_drop("SELECT 1").await.expect("other read");
    assert_eq!(last_route(&mut c).await.0, "replica");
    c.disconnect().await.ok();
}

/// SHOW DIGESTS names, per digest, the pin reasons its statements opened.
#[tokio::test]
async fn digests_name_the_pins_their_statements_open() {
    let (topo, schema) = setup("digest_pins").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    for sql in [
        "CREATE TEMPORARY TABLE tmp_pins (x INT)",
        "DROP TEMPORARY TABLE tmp_pins",
        "SELECT GET_LOCK('digest_pins', 0)",
        "SELECT RELEASE_LOCK('digest_pins')",
        "BEGIN",
        "COMMIT",
        "LOCK TABLES t READ",
        "UNLOCK TABLES",
    ] {
        c.query_drop(sql).await.expect(sql);
    }
    c.disconnect().await.ok();
    let mut a = super::admin(&p).await;
    let rows: Vec<Row> = a.query("SHOW DIGESTS").await.expect("digests");
    let reasons: std::collections::BTreeMap<String, String> = rows
        .iter()
        .map(|r| {
            let get = |n: &str| r.get::<Option<String>, _>(n).flatten().unwrap_or_default();
            (get("digest_text"), get("pin_reasons"))
        })
        .collect();
    let of = |prefix: &str| {
        reasons
            .iter()
            .find(|(t, _)| t.starts_with(prefix))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{prefix}: {reasons:?}"))
    };
    assert_eq!(of("create temporary table"), "temp_table");
    assert_eq!(of("select get_lock"), "get_lock");
    assert_eq!(of("begin"), "transaction");
    assert_eq!(of("lock tables"), "lock_tables");
    assert_eq!(of("unlock tables"), "");
    assert_eq!(of("create table"), "");
    a.disconnect().await.ok();
}

/// `/* sluice: replica */` and a `[[rules]]` replica target send a read that would go to the primary
/// to a replica; a `[[rules]]` target naming another group routes within that group.
#[tokio::test]
async fn replica_hint_rule_targets_and_group_targets_route() {
    let (topo, schema) = setup("route_targets").await;
    let mut cfg = topo.sluice_config();
    // A second group: the primary and the second replica only.
    let mut g1 = cfg.groups[0].clone();
    g1.name = "reporting".into();
    let keep = [topo.primary.addr.to_string(), topo.replicas[1].addr.to_string()];
    g1.members.retain(|m| keep.contains(&m.address));
    cfg.groups.push(g1);
    let rules: sluice::config::Config = toml::from_str(
        r#"
        [[rules]]
        match = { pattern = "as ruled" }
        action = "route"
        target = "replica"

        [[rules]]
        match = { pattern = "from reports" }
        action = "route"
        target = "reporting"
        "#,
    )
    .expect("rules parse");
    cfg.rules = rules.rules;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    // A read of information_schema.processlist: the primary, unless a hint or a rule says a replica
    // will do.
    let ids = BTreeSet::from([topo.replicas[0].server_id, topo.replicas[1].server_id]);
    let q = "SELECT @@server_id AS plain FROM information_schema.processlist LIMIT 1";
    let id: u32 = c.query_first(q).await.expect("read").expect("row");
    assert_eq!((id, last_route(&mut c).await.0.as_str()), (topo.primary.server_id, "primary"));
    let q = "/* sluice: replica */ SELECT @@server_id AS plain FROM information_schema.processlist LIMIT 1";
    let id: u32 = c.query_first(q).await.expect("hinted read").expect("row");
    assert!(ids.contains(&id), "hinted read on a replica, got server {id}");
    let (role, reason, _) = last_route(&mut c).await;
    assert_eq!((role.as_str(), reason.as_str()), ("replica", "hint replica"));
    let q = "SELECT @@server_id AS ruled FROM information_schema.processlist LIMIT 1";
    let id: u32 = c.query_first(q).await.expect("ruled read").expect("row");
    assert!(ids.contains(&id), "ruled read on a replica, got server {id}");
    // A hint never moves a write.
    c.query_drop("CREATE TABLE reports (id INT PRIMARY KEY)").await.expect("create");
    c.query_drop("/* sluice: replica */ INSERT INTO reports VALUES (1)").await.expect("hinted write");
    assert_eq!(last_route(&mut c).await.0, "primary");
    topo.wait_replicas_caught_up().await;
    // The group target: reads of reports on the reporting group's replica only.
    let second_id = topo.replicas[1].server_id;
    let q = "SELECT @@server_id FROM reports LIMIT 1";
    // The monitor's first check of the second group may still be under way.
    let started = Instant::now();
    while c.query_first::<u32, _>(q).await.expect("read") != Some(second_id) {
        let route = last_route(&mut c).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "group 'reporting' never routed a read to its replica: {route:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..6 {
        let id: u32 =
            c.query_first("SELECT @@server_id FROM reports LIMIT 1").await.expect("read").expect("row");
        assert_eq!(id, second_id, "reads of reports stay in group 'reporting'");
    }
    let mut others = BTreeSet::new();
    for _ in 0..6 {
        others.insert(server_id(&mut c).await);
    }
    assert_eq!(others.len(), 2, "other reads use both replicas of the default group");
    c.disconnect().await.ok();
}

/// `balance = "least_connections"`: a replica whose connection a session holds (a READ ONLY
/// transaction) gets no new reads while the other has none in use.
#[tokio::test]
async fn least_connections_avoids_the_replica_in_use() {
    let (topo, schema) = setup("least_conns").await;
    let mut cfg = topo.sluice_config();
    cfg.routing.balance = sluice::config::BalanceConfig::LeastConnections;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut holder = connect(&p, "app", "app", &schema).await;
    holder.query_drop("START TRANSACTION READ ONLY").await.expect("begin");
    let held_id = server_id(&mut holder).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for _ in 0..8 {
        let id = server_id(&mut c).await;
        assert_ne!(id, held_id, "reads go to the replica with no connection in use");
    }
    holder.query_drop("COMMIT").await.expect("commit");
    // The holder keeps its connection for [pool] hold_idle_ms after the COMMIT.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids = BTreeSet::new();
    for _ in 0..8 {
        ids.insert(server_id(&mut c).await);
    }
    assert_eq!(ids.len(), 2, "with both idle, reads take turns");
    holder.disconnect().await.ok();
    c.disconnect().await.ok();
}

/// Many sessions at once, for 30 s by default (`SLUICE_TEST_LOAD_SECS`): statements keep working and the
/// backends see at most 64 connections from sluice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_share_few_backend_connections() {
    let (topo, schema) = setup("many_clients").await;
    let mut cfg = topo.sluice_config();
    cfg.pool.max_per_backend = 21;
    cfg.pool.checkout_timeout_ms = 20_000;
    cfg.server.max_client_connections = 2_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, n INT)").await.expect("create");
    c.query_drop(format!("INSERT INTO t SELECT seq, 0 FROM {}", super::seq_1_to(100))).await.expect("fill");
    let secs: u64 = std::env::var("SLUICE_TEST_LOAD_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let until = Instant::now() + Duration::from_secs(secs);
    let clients = 1_000u32;
    let mut tasks = Vec::new();
    for n in 0..clients {
        let opts = p.opts("app", "app").db_name(Some(schema.clone()));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.map_err(|e| format!("client {n} connect: {e}"))?;
            let mut done = 0u64;
            while Instant::now() < until {
                let id = (n + done as u32) % 100 + 1;
                let r = if done % 10 == 9 {
                    c.exec_drop("UPDATE t SET n = n + 1 WHERE id = ?", (id,)).await
                } else {
                    c.exec_first::<i32, _, _>("SELECT n FROM t WHERE id = ?", (id,)).await.map(drop)
                };
                r.map_err(|e| format!("client {n} statement {done}: {e}"))?;
                done += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            c.disconnect().await.ok();
            Ok::<u64, String>(done)
        }));
    }
    // Count sluice's connections on the servers themselves while the clients run.
    let mut most = 0usize;
    let mut admin = Vec::new();
    for node in topo.nodes() {
        admin.push(Conn::new(topo.root_opts(node)).await.expect("root"));
    }
    while Instant::now() + Duration::from_secs(1) < until {
        let mut total = 0usize;
        for a in admin.iter_mut() {
            // This test's schema tells sluice's connections from other tests' (they run in parallel).
            let n: Option<i64> = a
                .exec_first(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app' AND DB = ?",
                    (&schema,),
                )
                .await
                .expect("processlist");
            total += n.unwrap_or(0) as usize;
        }
        most = most.max(total);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut statements = 0u64;
    let mut errors = Vec::new();
    for t in tasks {
        match t.await.expect("client task") {
            Ok(n) => statements += n,
            Err(e) => errors.push(e),
        }
    }
    assert!(errors.is_empty(), "{} errors, first: {:?}", errors.len(), errors.first());
    assert!(most <= 64, "{most} backend connections");
    assert!(most > 0);
    assert!(statements >= u64::from(clients) * secs, "{statements} statements");
    eprintln!("{clients} clients, {statements} statements in {secs} s, at most {most} backend connections");
    c.disconnect().await.ok();
}

/// Read-your-writes under concurrent writers: every read after a session's own write sees it.
async fn read_your_writes(topo: &Topology, schema: &str, mode: sluice::config::ReadYourWrites) {
    let mut cfg = topo.sluice_config();
    cfg.routing.read_your_writes = mode;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", schema).await;
    c.query_drop("CREATE TABLE IF NOT EXISTS counters (id INT PRIMARY KEY, n INT)").await.expect("create");
    c.query_drop("DELETE FROM counters").await.expect("clear");
    let sessions = 10u32;
    let pairs = 1_000u32;
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let opts = p.opts("app", "app").db_name(Some(schema.to_owned()));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            c.exec_drop("INSERT INTO counters VALUES (?, 0)", (s,)).await.expect("insert");
            let mut stale = 0u32;
            let mut on_replica = 0u32;
            for i in 1..=pairs {
                c.exec_drop("UPDATE counters SET n = ? WHERE id = ?", (i, s)).await.expect("update");
                let n: Option<u32> =
                    c.exec_first("SELECT n FROM counters WHERE id = ?", (s,)).await.expect("read");
                if n != Some(i) {
                    stale += 1;
                }
                if i % 100 == 0 && last_route(&mut c).await.0 == "replica" {
                    on_replica += 1;
                }
            }
            c.disconnect().await.ok();
            (stale, on_replica)
        }));
    }
    let mut stale = 0;
    let mut on_replica = 0;
    for t in tasks {
        let (s, r) = t.await.expect("task");
        stale += s;
        on_replica += r;
    }
    assert_eq!(stale, 0, "{stale} stale reads of {} pairs ({mode:?})", sessions * pairs);
    eprintln!(
        "{mode:?}: {} write-then-read pairs, 0 stale; sampled reads on replicas: {on_replica}/100",
        sessions * pairs
    );
    c.disconnect().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_gtid() {
    let (topo, schema) = setup("ryw_gtid").await;
    read_your_writes(topo, &schema, sluice::config::ReadYourWrites::Gtid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_primary_window() {
    let (topo, schema) = setup("ryw_window").await;
    read_your_writes(topo, &schema, sluice::config::ReadYourWrites::PrimaryWindow).await;
}

/// An application pool writes on one connection and reads on another: with the default
/// `read_your_writes_scope = "user"` the read sees the write (a replica that has applied it, or the
/// primary), as on a direct connection. `SCOPE=session` runs the same pairs per session only (stale
/// reads are then possible: printed, not asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_across_a_users_sessions() {
    let (topo, schema) = setup("ryw_user").await;
    let mut cfg = topo.sluice_config();
    let scope = match std::env::var("SCOPE").as_deref() {
        Ok("session") => sluice::config::WriteScope::Session,
        _ => sluice::config::WriteScope::User,
    };
    cfg.routing.read_your_writes_scope = scope;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE counters (id INT PRIMARY KEY, n INT)").await.expect("create");
    let (pairs, pools) = (1_000u32, 4u32);
    let mut tasks = Vec::new();
    for s in 0..pools {
        let opts = p.opts("app", "app").db_name(Some(schema.clone()));
        tasks.push(tokio::spawn(async move {
            let mut writer = Conn::new(opts.clone()).await.expect("writer");
            let mut reader = Conn::new(opts).await.expect("reader");
            writer.exec_drop("INSERT INTO counters VALUES (?, 0)", (s,)).await.expect("insert");
            let (mut stale, mut on_replica) = (0u32, 0u32);
            for i in 1..=pairs {
                writer.exec_drop("UPDATE counters SET n = ? WHERE id = ?", (i, s)).await.expect("update");
                let n: Option<u32> =
                    reader.exec_first("SELECT n FROM counters WHERE id = ?", (s,)).await.expect("read");
                stale += u32::from(n != Some(i));
                if i % 50 == 0 && last_route(&mut reader).await.0 == "replica" {
                    on_replica += 1;
                }
            }
            (stale, on_replica)
        }));
    }
    let (mut stale, mut on_replica) = (0, 0);
    for t in tasks {
        let (s, r) = t.await.expect("task");
        stale += s;
        on_replica += r;
    }
    eprintln!(
        "{scope:?}: {} write-then-read pairs on two connections, {stale} stale; sampled reads on replicas: {on_replica}/{}",
        pairs * pools,
        pairs * pools / 50
    );
    if scope == sluice::config::WriteScope::User {
        assert_eq!(stale, 0, "{stale} stale reads of {} pairs", pairs * pools);
    }
    c.disconnect().await.ok();
}

/// A replica whose SQL thread stops (lag NULL) or that is delayed past `max_replica_lag_ms` leaves the
/// read rotation, and comes back when it recovers.
#[tokio::test]
async fn private_lagging_or_stopped_replica_leaves_reads() {
    let private = Topology::private().await;
    let schema = private.fresh_schema("lag").await;
    let mut cfg = private.sluice_config();
    cfg.monitor.interval_ms = 200;
    cfg.monitor.max_replica_lag_ms = 1_000;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    let [r0, r1] = [&private.replicas[0], &private.replicas[1]];
    let both: BTreeSet<u32> = [r0.server_id, r1.server_id].into();
    assert_eq!(read_ids(&mut c, 6).await, both);

    let ctl = sluice_tests::setup::ReplicaControl::of(private.flavor);
    let mut root0 = Conn::new(private.root_opts(r0)).await.expect("root on replica 0");
    root0.query_drop(ctl.stop_sql_thread).await.expect("stop sql thread");
    wait_for_ids(&mut c, [r1.server_id].into(), "replica 0 stopped").await;
    // SHOW BACKENDS says why.
    let admin = p.admin_addr().expect("admin listener");
    let mut a = Conn::new(sluice_tests::direct_opts(admin, "admin", "admin")).await.expect("admin login");
    let backends: Vec<Row> = a.query("SHOW BACKENDS").await.expect("show backends");
    let r0_row = backends.iter().find(|r| super::ops::col(r, "address") == r0.addr.to_string()).expect("row");
    assert_eq!(super::ops::col(r0_row, "replication"), "stopped");
    assert_eq!(super::ops::col(r0_row, "lag_ms"), "");
    root0.query_drop(ctl.start_sql_thread).await.expect("start sql thread");
    wait_for_ids(&mut c, both.clone(), "replica 0 back").await;

    let mut root1 = Conn::new(private.root_opts(r1)).await.expect("root on replica 1");
    root1.query_drop(ctl.stop).await.expect("stop replication");
    root1.query_drop(ctl.delay(30)).await.expect("delay");
    root1.query_drop(ctl.start).await.expect("start replication");
    // Keep writing so the delayed replica's lag grows.
    c.query_drop("CREATE TABLE beat (id INT PRIMARY KEY AUTO_INCREMENT, at TIMESTAMP(6))")
        .await
        .expect("create");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        c.query_drop("INSERT INTO beat (at) VALUES (NOW(6))").await.expect("beat");
        tokio::time::sleep(Duration::from_millis(300)).await;
        if read_ids(&mut c, 6).await == [r0.server_id].into() {
            break;
        }
        assert!(Instant::now() < deadline, "the delayed replica still serves reads");
    }
    root1.query_drop(ctl.stop).await.expect("stop replication");
    root1.query_drop(ctl.delay(0)).await.expect("no delay");
    root1.query_drop(ctl.start).await.expect("start replication");
    wait_for_ids(&mut c, both, "replica 1 caught up").await;
    c.disconnect().await.ok();
}

/// The server ids that answer `n` reads (sessions that wrote wait for nothing: these are fresh reads).
async fn read_ids(c: &mut Conn, n: usize) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    for _ in 0..n {
        ids.insert(server_id(c).await);
    }
    ids
}

async fn wait_for_ids(c: &mut Conn, want: BTreeSet<u32>, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = read_ids(c, 6).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: reads still answered by {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Killing a replica's mariadbd while autocommit readers run: not one of them sees an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_killing_a_replica_under_read_load_gives_no_errors() {
    let mut private = Topology::private().await;
    let schema = private.fresh_schema("replica_kill").await;
    let mut cfg = private.sluice_config();
    cfg.monitor.interval_ms = 200;
    cfg.backend.connect_timeout_ms = 500;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop(format!("INSERT INTO t SELECT seq, seq FROM {}", super::seq_1_to(50))).await.expect("fill");
    private.wait_replicas_caught_up().await;
    let until = Instant::now() + Duration::from_secs(4);
    let mut readers = Vec::new();
    for n in 0..8u32 {
        let opts = p.opts("app", "app").db_name(Some(schema.clone()));
        readers.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            let (mut ok, mut errors) = (0u32, Vec::new());
            while Instant::now() < until {
                let id = (n + ok) % 50 + 1;
                match c.exec_first::<i32, _, _>("SELECT v FROM t WHERE id = ?", (id,)).await {
                    Ok(v) if v == Some(id as i32) => ok += 1,
                    Ok(v) => errors.push(format!("wrong answer {v:?} for {id}")),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (ok, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    private.kill(sluice_tests::Which::Replica(0)).expect("kill replica 0");
    let mut total = 0;
    for r in readers {
        let (ok, errors) = r.await.expect("reader");
        assert!(errors.is_empty(), "{} errors, first: {:?}", errors.len(), errors.first());
        total += ok;
    }
    assert!(total > 100, "{total} reads");
    // Restarted, it replicates again and rejoins the read rotation by itself.
    let both: BTreeSet<u32> = [private.replicas[0].server_id, private.replicas[1].server_id].into();
    let restarting = Instant::now();
    private.restart(sluice_tests::Which::Replica(0)).await.expect("restart replica 0");
    let up = restarting.elapsed();
    wait_for_ids(&mut c, both, "the restarted replica rejoins reads").await;
    println!(
        "replica killed under 8 autocommit readers: {total} reads ok, 0 errors; restarted (listening after {up:?}), it served reads again {:?} after the restart began",
        restarting.elapsed()
    );
    c.disconnect().await.ok();
}

/// With the servers' `max_prepared_stmt_count` lowered, many sessions preparing more distinct statements
/// than that still work: each backend connection keeps at most `max_prepared_per_connection`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_prepared_statements_stay_under_max_prepared_stmt_count() {
    let private = Topology::private().await;
    let schema = private.fresh_schema("max_prepared").await;
    for node in private.nodes() {
        let mut root = Conn::new(private.root_opts(node)).await.expect("root");
        root.query_drop("SET GLOBAL max_prepared_stmt_count = 12").await.expect("lower the limit");
    }
    let mut cfg = private.sluice_config();
    cfg.pool.max_per_backend = 3;
    cfg.pool.max_prepared_per_connection = 4;
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)").await.expect("create");
    c.query_drop(format!("INSERT INTO t SELECT seq, seq * 10 FROM {}", super::seq_1_to(20)))
        .await
        .expect("fill");
    let mut tasks = Vec::new();
    for n in 0..6u32 {
        let opts = p.opts("app", "app").db_name(Some(schema.clone()));
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::new(opts).await.expect("connect");
            for round in 0..5u32 {
                for k in 0..10u32 {
                    let sql = format!("SELECT v + {k} FROM t WHERE id = ?");
                    let id = (n + round + k) % 20 + 1;
                    let v: Option<u32> = c.exec_first(sql.as_str(), (id,)).await.expect("execute");
                    assert_eq!(v, Some(id * 10 + k));
                }
            }
            c.disconnect().await.ok();
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    c.disconnect().await.ok();
}

/// Reads packets of one response until `n` EOF packets (0xFE, short) have been seen.
async fn until_eofs(r: &mut super::raw::Raw, n: usize) -> Vec<sluice_protocol::Packet> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        let p = r.read().await.expect("a packet");
        if let Some(code) = super::raw::err_code(&p) {
            panic!("ERR {code}: {}", String::from_utf8_lossy(&p.payload[9..]));
        }
        if p.payload[0] == 0xFE && p.payload.len() < 9 {
            seen += 1;
        }
        out.push(p);
    }
    out
}

/// The status flags of an EOF packet.
fn eof_status(p: &sluice_protocol::Packet) -> u16 {
    u16::from_le_bytes([p.payload[3], p.payload[4]])
}

async fn raw_pins(r: &mut super::raw::Raw) -> String {
    let mut payload = vec![0x03];
    payload.extend_from_slice(b"SHOW LAST ROUTE");
    r.send(0, &payload).await;
    let packets = until_eofs(r, 2).await;
    let row = packets.iter().rev().nth(1).expect("the row");
    let values = sluice_protocol::binary::decode_text_row(&row.payload, 12).expect("text row");
    String::from_utf8_lossy(values[6].as_deref().unwrap_or_default()).into_owned()
}

/// COM_STMT_FETCH through a cursor pins the session (`cursor`) until the last row; long data is
/// buffered by sluice and sent before the EXECUTE on whichever connection runs it.
#[tokio::test]
async fn cursor_fetch_and_long_data_through_multiplexing() {
    use super::raw::{CLASSIC, Raw};
    let (topo, schema) = setup("cursor").await;
    let p = proxy(topo).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    c.query_drop(format!("INSERT INTO t SELECT seq FROM {}", super::seq_1_to(7))).await.expect("fill");
    topo.wait_replicas_caught_up().await;
    let mut r = Raw::login(p.addr(), "app", "app", &schema, CLASSIC).await;

    let mut prepare = vec![0x16];
    prepare.extend_from_slice(b"SELECT id FROM t WHERE id > ? ORDER BY id");
    r.send(0, &prepare).await;
    let first = r.read().await.expect("prepare ok");
    assert_eq!(first.payload[0], 0x00, "{:?}", String::from_utf8_lossy(&first.payload));
    let stmt = u32::from_le_bytes([first.payload[1], first.payload[2], first.payload[3], first.payload[4]]);
    until_eofs(&mut r, 2).await; // parameter and column definitions

    // EXECUTE with a read-only cursor: metadata only, CURSOR_EXISTS set.
    let mut exec = vec![0x17];
    exec.extend_from_slice(&stmt.to_le_bytes());
    exec.extend_from_slice(&[0x01, 1, 0, 0, 0, 0x00, 0x01, 0x08, 0x00]);
    exec.extend_from_slice(&2i64.to_le_bytes());
    r.send(0, &exec).await;
    let meta = until_eofs(&mut r, 1).await;
    assert_ne!(eof_status(meta.last().expect("eof")) & 0x0040, 0, "CURSOR_EXISTS");
    assert_eq!(raw_pins(&mut r).await, "cursor");

    let mut rows = 0;
    let mut last_status = 0;
    for _ in 0..10 {
        let mut fetch = vec![0x1c];
        fetch.extend_from_slice(&stmt.to_le_bytes());
        fetch.extend_from_slice(&2u32.to_le_bytes());
        r.send(0, &fetch).await;
        let packets = until_eofs(&mut r, 1).await;
        rows += packets.len() - 1;
        last_status = eof_status(packets.last().expect("eof"));
        if last_status & 0x0080 != 0 {
            break;
        }
    }
    assert_eq!(rows, 5, "ids 3..=7");
    assert_ne!(last_status & 0x0080, 0, "LAST_ROW_SENT");
    assert_eq!(raw_pins(&mut r).await, "");

    // Long data: two chunks, then EXECUTE without a value for that parameter.
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(b"SELECT LENGTH(?)");
    r.send(0, &prepare).await;
    let first = r.read().await.expect("prepare ok");
    let stmt = u32::from_le_bytes([first.payload[1], first.payload[2], first.payload[3], first.payload[4]]);
    until_eofs(&mut r, 2).await;
    for chunk in [&b"hello"[..], &b" world!"[..]] {
        let mut long = vec![0x18];
        long.extend_from_slice(&stmt.to_le_bytes());
        long.extend_from_slice(&0u16.to_le_bytes());
        long.extend_from_slice(chunk);
        r.send(0, &long).await;
    }
    let mut exec = vec![0x17];
    exec.extend_from_slice(&stmt.to_le_bytes());
    exec.extend_from_slice(&[0x00, 1, 0, 0, 0, 0x00, 0x01, 0xfc, 0x00]);
    r.send(0, &exec).await;
    let packets = until_eofs(&mut r, 2).await;
    let row = &packets[packets.len() - 2].payload;
    // Header, null bitmap, then LENGTH() as a 4-byte INT.
    let len = i32::from_le_bytes(row[2..6].try_into().expect("4 bytes"));
    assert_eq!(len, 12);
    assert_eq!(raw_pins(&mut r).await, "");
    c.disconnect().await.ok();
}
