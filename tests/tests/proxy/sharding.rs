//! Sharding through a real driver: a `documents` table hashed over 4 physical tables on the shared
//! primary (table mode), and `accounts` spread over 2 schemas of the same group (one schema per shard).
//! Point reads and writes land on the right physical table (checked directly on the primary), scatter
//! aggregates and ORDER BY + LIMIT equal the same query on an unsharded copy, multi-row INSERTs split,
//! keyless writes and cross-shard transactions are refused.

use mysql_async::prelude::*;
use mysql_async::{Conn, Row};
use sluice::config::{ShardFunctionConfig, ShardedTableConfig};
use sluice_tests::Topology;

use super::{connect, setup};

/// The logical table's CREATE, as `shard-ddl` takes it.
const COLUMNS_TABLE: &str =
    "documents (id BIGINT PRIMARY KEY, owner INT NOT NULL, title VARCHAR(40) NOT NULL, size DECIMAL(10,2))";
const COLUMNS: &str =
    "(id BIGINT PRIMARY KEY, owner INT NOT NULL, title VARCHAR(40) NOT NULL, size DECIMAL(10,2))";

/// A sluice sharding `documents` (hash on id, 4 tables) and `accounts` (mod on uid, schema per shard).
async fn sharded_proxy(topo: &Topology, schema: &str) -> sluice_tests::Proxy {
    let mut cfg = topo.sluice_config();
    cfg.sharding.enabled = true;
    cfg.sharding.tables.push(ShardedTableConfig {
        name: "documents".into(),
        shard_key: "id".into(),
        shard_count: 4,
        ..ShardedTableConfig::default()
    });
    cfg.sharding.tables.push(ShardedTableConfig {
        name: "accounts".into(),
        shard_key: "uid".into(),
        shard_count: 2,
        function: ShardFunctionConfig::Mod,
        table_pattern: Some("accounts".into()),
        schema_pattern: Some(format!("{schema}_s{{n}}")),
        generate_key: true,
        ..ShardedTableConfig::default()
    });
    cfg.validate().expect("valid sharding config");
    sluice_tests::start_proxy(cfg).await
}

/// The shard of an integer key, as MySQL computes it: CRC32(id) % 4.
fn shard_of(id: i64) -> usize {
    sluice_router::shard::crc32(id.to_string().as_bytes()) as usize % 4
}

async fn route_rows(c: &mut Conn) -> Vec<(String, String)> {
    let rows: Vec<Row> = c.query("SHOW LAST ROUTE").await.expect("SHOW LAST ROUTE");
    rows.iter()
        .map(|r| {
            let get = |n: &str| r.get::<Option<String>, _>(n).flatten().unwrap_or_default();
            (get("shard"), get("shard_sql"))
        })
        .collect()
}

async fn err_of(c: &mut Conn, sql: &str) -> (u16, String) {
    match c.query_drop(sql).await {
        Err(mysql_async::Error::Server(e)) => (e.code, e.message),
        other => panic!("{sql}: expected a server error, got {other:?}"),
    }
}

async fn direct(topo: &Topology, schema: &str) -> Conn {
    Conn::new(topo.root_opts(&topo.primary).db_name(Some(schema.to_owned()))).await.expect("direct")
}

#[tokio::test]
async fn table_mode_point_writes_scatter_reads_and_refusals() {
    let (topo, schema) = setup("shard_table").await;
    let p = sharded_proxy(topo, &schema).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    for n in 0..4 {
        c.query_drop(format!("CREATE TABLE documents_{n} {COLUMNS}")).await.expect("create shard");
    }
    c.query_drop(format!("CREATE TABLE flat {COLUMNS}")).await.expect("create unsharded copy");

    // Point writes by key land on CRC32(id) % 4.
    c.query_drop("INSERT INTO documents (id, owner, title, size) VALUES (1, 7, 'one', 1.50)")
        .await
        .expect("insert");
    let route = route_rows(&mut c).await;
    assert_eq!(
        route,
        [(
            shard_of(1).to_string(),
            format!(
                "INSERT INTO `documents_{}` (id, owner, title, size) VALUES (1, 7, 'one', 1.50)",
                shard_of(1)
            )
        )]
    );
    let mut d = direct(topo, &schema).await;
    let t: Option<String> = d
        .query_first(format!("SELECT title FROM documents_{} WHERE id = 1", shard_of(1)))
        .await
        .expect("direct");
    assert_eq!(t.as_deref(), Some("one"));

    // A multi-row INSERT is split per shard (autocommit); the flat copy gets the same rows.
    let rows: Vec<String> = (2..=60)
        .map(|i| format!("({i}, {}, 't{:03}', {}.{:02})", i % 5, (i * 37) % 100, (i * 13) % 50, i % 100))
        .collect();
    let values = rows.join(", ");
    c.query_drop(format!("INSERT INTO documents (id, owner, title, size) VALUES {values}"))
        .await
        .expect("split insert");
    assert_eq!(c.affected_rows(), 59);
    let touched = route_rows(&mut c).await;
    assert_eq!(touched.len(), 4, "{touched:?}");
    // Read-your-writes: right after the split write, a scatter reads where it is visible.
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM documents").await.expect("scatter");
    assert_eq!(n, Some(60));
    let rows: Vec<Row> = c.query("SHOW LAST ROUTE").await.expect("route");
    let roles: Vec<String> =
        rows.iter().map(|r| r.get::<Option<String>, _>("role").flatten().unwrap_or_default()).collect();
    assert!(roles.iter().all(|r| r == "primary"), "{roles:?}");
    // A multi-shard statement is recorded like any other: counted under target "shards".
    let (_, metrics) = super::ops::http_get(p.http_addr().expect("http"), "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sluice_statements_total{target=\"shards\"}") && !l.ends_with(" 0")),
        "{metrics}"
    );
    c.query_drop(format!("INSERT INTO flat (id, owner, title, size) VALUES (1, 7, 'one', 1.50), {values}"))
        .await
        .expect("flat insert");
    for n in 0..4 {
        let got: Vec<i64> =
            d.query(format!("SELECT id FROM documents_{n} ORDER BY id")).await.expect("direct");
        let want: Vec<i64> = (1..=60).filter(|i| shard_of(*i) == n).collect();
        assert_eq!(got, want, "documents_{n}");
    }
    // MySQL agrees on the shard of every row.
    let mysql: Vec<(i64, i64)> =
        d.query("SELECT id, CRC32(id) % 4 FROM flat ORDER BY id").await.expect("crc32");
    assert!(mysql.iter().all(|(id, s)| shard_of(*id) as i64 == *s));
    topo.wait_replicas_caught_up().await;

    // Point read by key: one shard, rewritten text.
    let t: Option<String> =
        c.query_first("SELECT title FROM documents WHERE id = 7").await.expect("point read");
    let route = route_rows(&mut c).await;
    assert_eq!(
        route,
        [(shard_of(7).to_string(), format!("SELECT title FROM `documents_{}` WHERE id = 7", shard_of(7)))]
    );
    let want: Option<String> = c.query_first("SELECT title FROM flat WHERE id = 7").await.expect("flat");
    assert_eq!(t, want);

    // Strings that a case-insensitive collation orders differently from their bytes.
    // (No two equal under the collation: MySQL's pick among equals is arbitrary.)
    let mixed = "(300, 1, 'apple', 1), (301, 1, 'Banana', 2), (302, 1, 'cherry', 3), (303, 1, 'Apricot', 4), (304, 1, 'blueberry', 5), (305, 1, 'Éclair', 6), (306, 1, 'eclairs', 7), (307, 1, 'Zed', 8)";
    c.query_drop(format!("INSERT INTO documents (id, owner, title, size) VALUES {mixed}"))
        .await
        .expect("mixed");
    c.query_drop(format!("INSERT INTO flat (id, owner, title, size) VALUES {mixed}"))
        .await
        .expect("mixed flat");
    topo.wait_replicas_caught_up().await;

    // Scatter reads equal the unsharded copy.
    let same = [
        "SELECT id, title FROM {t} WHERE id >= 300 ORDER BY title, id",
        "SELECT title AS t, id FROM {t} WHERE id >= 300 ORDER BY t DESC, 2 LIMIT 5",
        "SELECT * FROM {t} WHERE id >= 300 ORDER BY title, id DESC LIMIT 1, 4",
        "SELECT COUNT(*) FROM {t}",
        "SELECT COUNT(*), SUM(size), MIN(title), MAX(size), MIN(id), MAX(owner) FROM {t}",
        "SELECT COUNT(size) AS n, SUM(owner) FROM {t} WHERE owner > 1",
        "SELECT AVG(size), AVG(owner) AS a, COUNT(*) FROM {t}",
        "SELECT AVG(size) FROM {t} WHERE id > 1000",
        "SELECT id, title, size FROM {t} ORDER BY size DESC, id LIMIT 7",
        "SELECT id, title FROM {t} ORDER BY title LIMIT 5 OFFSET 10",
        "SELECT id, owner FROM {t} WHERE owner = 3 ORDER BY id DESC LIMIT 2, 4",
        "SELECT * FROM {t} WHERE id IN (1, 2, 3, 4, 5) ORDER BY id",
        "SELECT id FROM {t} ORDER BY 1",
        "SELECT owner, COUNT(*), SUM(size), MIN(title), MAX(size) FROM {t} GROUP BY owner ORDER BY owner",
        "SELECT owner AS o, COUNT(*) AS n FROM {t} WHERE id > 10 GROUP BY o ORDER BY n DESC, o LIMIT 2",
        "SELECT owner, COUNT(*) FROM {t} GROUP BY 1 ORDER BY COUNT(*), owner DESC LIMIT 1, 3",
    ];
    for q in same {
        let sharded: Vec<Row> = c.query(q.replace("{t}", "documents")).await.expect(q);
        let flat: Vec<Row> = c.query(q.replace("{t}", "flat")).await.expect(q);
        let show = |rows: &[Row]| -> Vec<Vec<mysql_async::Value>> {
            rows.iter().map(|r| r.clone().unwrap()).collect()
        };
        assert_eq!(show(&sharded), show(&flat), "{q}");
        if let (Some(a), Some(b)) = (sharded.first(), flat.first()) {
            let names =
                |r: &Row| r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect::<Vec<_>>();
            assert_eq!(names(a), names(b), "{q}");
        }
    }
    let _: Option<i64> = c.query_first("SELECT COUNT(*) FROM documents").await.expect("scatter");
    let route = route_rows(&mut c).await;
    let shards: Vec<&str> = route.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(shards, ["0", "1", "2", "3"], "a scatter touches every shard");
    assert!(
        route.iter().all(|(s, sql)| *sql == format!("SELECT COUNT(*) FROM `documents_{s}`")),
        "{route:?}"
    );

    // Keyless write refused; with the key it lands on one table.
    let (code, msg) = err_of(&mut c, "UPDATE documents SET title = 'x'").await;
    assert_eq!(code, 1235, "{msg}");
    assert!(msg.contains("documents") && msg.contains("id = …") && msg.contains("broadcast_writes"), "{msg}");
    let (code, msg) = err_of(&mut c, "UPDATE documents SET id = 99 WHERE id = 1").await;
    assert!(code == 1235 && msg.contains("DELETE it and INSERT it"), "{msg}");
    let (code, msg) = err_of(&mut c, "SELECT COUNT(*) FROM documents GROUP BY owner").await;
    assert!(code == 1235 && msg.contains("GROUP BY owner") && msg.contains("select list"), "{msg}");
    let (code, msg) = err_of(&mut c, "SELECT owner, AVG(size) FROM documents GROUP BY owner").await;
    assert!(code == 1235 && msg.contains("AVG"), "{msg}");
    c.query_drop("UPDATE documents SET title = 'uno' WHERE id = 1").await.expect("keyed update");
    assert_eq!(c.affected_rows(), 1);
    c.query_drop("DELETE FROM documents WHERE id IN (2, 3)").await.expect("keyed delete");
    assert_eq!(c.affected_rows(), 2);

    // A transaction may touch one shard.
    let (a, b) = (1i64, (2..60).find(|i| shard_of(*i) != shard_of(1)).expect("another shard"));
    c.query_drop("BEGIN").await.expect("begin");
    c.query_drop(format!("UPDATE documents SET owner = owner + 1 WHERE id = {a}"))
        .await
        .expect("first shard");
    let (code, msg) = err_of(&mut c, &format!("UPDATE documents SET owner = owner + 1 WHERE id = {b}")).await;
    assert!(code == 1235 && msg.contains("a transaction may touch one shard"), "{msg}");
    let (code, _) = err_of(&mut c, "SELECT COUNT(*) FROM documents").await;
    assert_eq!(code, 1235);
    c.query_drop("ROLLBACK").await.expect("rollback");
    let owner: Option<i64> = d
        .query_first(format!("SELECT owner FROM documents_{} WHERE id = 1", shard_of(1)))
        .await
        .expect("direct");
    assert_eq!(owner, Some(7), "rolled back");

    // A split INSERT whose part fails on one shard: the error names it; the other parts applied.
    let dup = 5i64; // exists
    let fresh: Vec<i64> = (100..200).filter(|i| shard_of(*i) != shard_of(dup)).take(2).collect();
    let sql = format!(
        "INSERT INTO documents (id, owner, title, size) VALUES ({dup}, 1, 'dup', 1), ({}, 1, 'a', 1), ({}, 1, 'b', 1)",
        fresh[0], fresh[1]
    );
    let (code, msg) = err_of(&mut c, &sql).await;
    assert_eq!(code, 1062, "{msg}");
    assert!(
        msg.contains(&format!("shard(s) {} failed", shard_of(dup))) && msg.contains("Duplicate entry"),
        "{msg}"
    );
    for id in &fresh {
        let n: Option<i64> = d
            .query_first(format!("SELECT COUNT(*) FROM documents_{} WHERE id = {id}", shard_of(*id)))
            .await
            .expect("direct");
        assert_eq!(n, Some(1), "part for {id} applied");
    }
    // An INSERT without the key is refused, naming the key.
    let (code, msg) = err_of(&mut c, "INSERT INTO documents (owner, title) VALUES (1, 'x')").await;
    assert!(code == 1235 && msg.contains("shard key column id"), "{msg}");

    // Prepared statements: each EXECUTE is routed by its bound key.
    let point = c.prep("SELECT title FROM documents WHERE id = ?").await.expect("prepare");
    for id in [1i64, 7, 42, 59] {
        let t: Option<String> = c.exec_first(&point, (id,)).await.expect("execute");
        let want: Option<String> = d
            .query_first(format!("SELECT title FROM documents_{} WHERE id = {id}", shard_of(id)))
            .await
            .expect("direct");
        assert_eq!(t, want, "{id}");
        let route = route_rows(&mut c).await;
        assert_eq!(
            route,
            [(
                shard_of(id).to_string(),
                format!("SELECT title FROM `documents_{}` WHERE id = ?", shard_of(id))
            )]
        );
    }
    c.exec_drop("UPDATE documents SET owner = ? WHERE id = ?", (42, 7)).await.expect("prepared update");
    let owner: Option<i64> = d
        .query_first(format!("SELECT owner FROM documents_{} WHERE id = 7", shard_of(7)))
        .await
        .expect("direct");
    assert_eq!(owner, Some(42));
    c.exec_drop(
        "INSERT INTO documents (id, owner, title, size) VALUES (?, ?, ?, ?)",
        (500, 1, "prepared", 1),
    )
    .await
    .expect("prepared insert");
    let t: Option<String> = d
        .query_first(format!("SELECT title FROM documents_{} WHERE id = 500", shard_of(500)))
        .await
        .expect("direct");
    assert_eq!(t.as_deref(), Some("prepared"));
    c.query_drop("DELETE FROM documents WHERE id = 500").await.expect("cleanup");
    match c.exec_first::<i64, _, _>("SELECT COUNT(*) FROM documents WHERE owner > ?", (0,)).await {
        Err(mysql_async::Error::Server(e)) => {
            assert!(e.code == 1235 && e.message.contains("one shard"), "{}", e.message)
        }
        other => panic!("a prepared scatter should be refused: {other:?}"),
    }

    // A pinned session (a user variable) runs a scatter's parts on its one connection, in turn.
    c.query_drop("SET @pinned = 1").await.expect("pin");
    let flat: Option<i64> = c.query_first("SELECT COUNT(*) FROM flat").await.expect("flat");
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM documents").await.expect("pinned scatter");
    // 68 rows, 2 deleted (ids 2, 3), 2 inserted by the split INSERT that partly failed.
    assert_eq!((n, flat), (Some(68), Some(68)));
    let rows: Vec<Row> = c.query("SHOW LAST ROUTE").await.expect("route");
    let pins: String = rows[0].get::<Option<String>, _>("pin_reasons").flatten().unwrap_or_default();
    assert!(pins.contains("user_variable") && rows.len() == 4, "{pins} {}", rows.len());
    d.disconnect().await.ok();
}

#[tokio::test]
async fn schema_per_shard_mode_on_one_group() {
    let (topo, schema) = setup("shard_db").await;
    let mut root = direct(topo, &schema).await;
    for n in 0..2 {
        root.query_drop(format!("CREATE DATABASE `{schema}_s{n}`")).await.expect("shard schema");
        root.query_drop(format!(
            "CREATE TABLE `{schema}_s{n}`.accounts (uid BIGINT PRIMARY KEY, name VARCHAR(20))"
        ))
        .await
        .expect("shard table");
    }
    topo.wait_replicas_caught_up().await;
    let p = sharded_proxy(topo, &schema).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("INSERT INTO accounts (uid, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        .await
        .expect("split");
    let odd: Vec<i64> =
        root.query(format!("SELECT uid FROM `{schema}_s1`.accounts ORDER BY uid")).await.expect("s1");
    let even: Vec<i64> =
        root.query(format!("SELECT uid FROM `{schema}_s0`.accounts ORDER BY uid")).await.expect("s0");
    assert_eq!((odd, even), (vec![1, 3], vec![2]));
    topo.wait_replicas_caught_up().await;
    let name: Option<String> = c.query_first("SELECT name FROM accounts WHERE uid = 3").await.expect("point");
    assert_eq!(name.as_deref(), Some("c"));
    let route = route_rows(&mut c).await;
    assert_eq!(route, [("1".into(), format!("SELECT name FROM `{schema}_s1`.`accounts` WHERE uid = 3"))]);
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM accounts").await.expect("scatter");
    assert_eq!(n, Some(3));

    // INSERTs that omit the key get sluice-generated ids; the OK reports the first one.
    for sql in [
        "INSERT INTO accounts (name) VALUES ('g1')",
        "INSERT INTO accounts (name) VALUES ('g2'), ('g3'), ('g4')",
    ] {
        c.query_drop(sql).await.expect(sql);
        let id = c.last_insert_id().expect("an insert id") as i64;
        assert!(id > 1 << 40, "{id}");
        let last: Option<i64> = c.query_first("SELECT LAST_INSERT_ID()").await.expect("last id");
        assert_eq!(last, Some(id), "{sql}");
        let s = (id % 2) as usize;
        let name: Option<String> = root
            .query_first(format!("SELECT name FROM `{schema}_s{s}`.accounts WHERE uid = {id}"))
            .await
            .expect("direct");
        assert!(name.is_some_and(|n| n.starts_with('g')), "{sql}: row {id} on shard {s}");
    }
    let ids: Vec<i64> = root
        .query(format!(
            "SELECT uid FROM `{schema}_s0`.accounts WHERE name LIKE 'g%' UNION ALL SELECT uid FROM `{schema}_s1`.accounts WHERE name LIKE 'g%' ORDER BY uid"
        ))
        .await
        .expect("ids");
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "distinct ids");
    for n in 0..2 {
        root.query_drop(format!("DROP DATABASE `{schema}_s{n}`")).await.ok();
    }
    root.disconnect().await.ok();
}

#[tokio::test]
async fn database_mode_shards_on_a_second_group() {
    let (topo, schema) = setup("shard_group").await;
    let mut root = direct(topo, &schema).await;
    for n in 0..2 {
        root.query_drop(format!("CREATE DATABASE `{schema}_n{n}`")).await.expect("shard schema");
        root.query_drop(format!(
            "CREATE TABLE `{schema}_n{n}`.notes (id BIGINT PRIMARY KEY, body VARCHAR(20))"
        ))
        .await
        .expect("shard table");
    }
    topo.wait_replicas_caught_up().await;
    // A second group: the same servers under another name (shard 1 is served through it).
    let mut cfg = topo.sluice_config();
    let mut g1 = cfg.groups[0].clone();
    g1.name = "g1".into();
    cfg.groups.push(g1);
    cfg.sharding.enabled = true;
    cfg.sharding.tables.push(ShardedTableConfig {
        name: "notes".into(),
        shard_key: "id".into(),
        shard_count: 2,
        mode: sluice::config::ShardMode::Database,
        function: ShardFunctionConfig::Mod,
        schema_pattern: Some(format!("{schema}_n{{n}}")),
        placement: vec![cfg.groups[0].name.clone(), "g1".into()],
        ..ShardedTableConfig::default()
    });
    cfg.validate().expect("valid");
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;
    c.query_drop("INSERT INTO notes (id, body) VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        .await
        .expect("split");
    let backends: Vec<String> = {
        let rows: Vec<Row> = c.query("SHOW LAST ROUTE").await.expect("route");
        rows.iter()
            .map(|r| r.get::<Option<String>, _>("shard_backend").flatten().unwrap_or_default())
            .collect()
    };
    assert_eq!(backends.len(), 2);
    assert!(
        backends[0].starts_with(&format!("{}/primary", topo.sluice_config().groups[0].name)),
        "{backends:?}"
    );
    assert!(backends[1].starts_with("g1/primary"), "{backends:?}");
    let odd: Vec<i64> =
        root.query(format!("SELECT id FROM `{schema}_n1`.notes ORDER BY id")).await.expect("n1");
    assert_eq!(odd, [1, 3]);
    topo.wait_replicas_caught_up().await;
    // A split write's GTIDs are not collected: reads stay on the primary for a second after it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A read on shard 1 runs on a replica of g1 (R/W split inside the shard's group).
    let body: Option<String> =
        c.query_first("SELECT body FROM notes WHERE id = 3").await.expect("point read");
    assert_eq!(body.as_deref(), Some("three"));
    let row: Row = c.query_first("SHOW LAST ROUTE").await.expect("route").expect("a row");
    let backend: String = row.get::<Option<String>, _>("shard_backend").flatten().unwrap_or_default();
    let role: String = row.get::<Option<String>, _>("role").flatten().unwrap_or_default();
    let reason: String = row.get::<Option<String>, _>("reason").flatten().unwrap_or_default();
    assert!(backend.starts_with("g1/") && role == "replica", "{backend} {role} {reason}");
    c.query_drop("UPDATE notes SET body = 'uno' WHERE id = 1").await.expect("write on g1");
    let b: Option<String> =
        root.query_first(format!("SELECT body FROM `{schema}_n1`.notes WHERE id = 1")).await.expect("direct");
    assert_eq!(b.as_deref(), Some("uno"));
    let n: Option<i64> = c.query_first("SELECT COUNT(*) FROM notes").await.expect("scatter over two groups");
    assert_eq!(n, Some(3));
    // A transaction opened on the default group cannot move to g1.
    c.query_drop("BEGIN").await.expect("begin");
    let (code, msg) = err_of(&mut c, "UPDATE notes SET body = 'x' WHERE id = 1").await;
    assert!(code == 1235 && msg.contains("pinned to a connection of group"), "{msg}");
    c.query_drop("ROLLBACK").await.expect("rollback");
    // SHOW BACKENDS, /status and /metrics list g1's members too, its primary as primary.
    let mut a = super::admin(&p).await;
    let rows: Vec<Row> = a.query("SHOW BACKENDS").await.expect("show backends");
    let g1: Vec<String> = rows
        .iter()
        .filter(|r| super::ops::col(r, "group") == "g1")
        .map(|r| super::ops::col(r, "role"))
        .collect();
    assert_eq!(g1, ["primary", "replica", "replica"]);
    let http = p.http_addr().expect("http");
    let (_, status) = super::ops::http_get(http, "/status").await;
    let status: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    assert_eq!(status["backends"].as_array().map(Vec::len), Some(6), "{status}");
    let (_, metrics) = super::ops::http_get(http, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sluice_backend_up{group=\"g1\"") && l.contains("role=\"primary\"")),
        "{metrics}"
    );
    for n in 0..2 {
        root.query_drop(format!("DROP DATABASE `{schema}_n{n}`")).await.ok();
    }
    root.disconnect().await.ok();
}

/// `sluice shard-ddl` prints each physical table's CREATE; run on the primary they make the shards.
#[tokio::test]
async fn shard_ddl_creates_every_physical_table() {
    let (topo, schema) = setup("shard_ddl").await;
    let dir = tempfile::tempdir().expect("tmp");
    let config = format!(
        r#"
[backend.credentials]
user = "app"
password_file = "{pwfile}"
[[groups]]
name = "main"
[[groups.members]]
address = "{primary}"
role = "primary"
[sharding]
enabled = true
[[sharding.tables]]
name = "documents"
shard_key = "id"
shard_count = 3
"#,
        pwfile = topo.app_password_file().display(),
        primary = topo.primary.addr,
    );
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config).expect("write config");
    let out = std::process::Command::new(sluice_tests::procs::sluice_bin())
        .args(["shard-ddl", "--config"])
        .arg(&path)
        .args(["--template", &format!("CREATE TABLE {COLUMNS_TABLE}")])
        .output()
        .expect("run shard-ddl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ddl = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(ddl.lines().count(), 3, "{ddl}");
    let mut d = direct(topo, &schema).await;
    for stmt in ddl.lines() {
        d.query_drop(stmt).await.expect(stmt);
    }
    let tables: Vec<String> = d.query("SHOW TABLES").await.expect("tables");
    assert_eq!(tables, ["documents_0", "documents_1", "documents_2"]);
    // A template of another table is refused.
    let bad = std::process::Command::new(sluice_tests::procs::sluice_bin())
        .args(["shard-ddl", "--config"])
        .arg(&path)
        .args(["--template", "CREATE TABLE other (id INT)"])
        .output()
        .expect("run shard-ddl");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not the sharded table"));
    d.disconnect().await.ok();
}
