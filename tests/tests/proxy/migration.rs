//! Dual writes while a table moves (`[[sharding.migrations]]`) through a real driver: writes land on
//! both placements (the old one answers), reads follow the flag, a differing outcome is counted, and a
//! write inside a transaction is refused.

use mysql_async::Conn;
use mysql_async::prelude::*;

use super::{admin, connect, setup};

#[tokio::test]
async fn writes_go_to_both_placements_and_reads_follow_the_flag() {
    let (topo, schema) = setup("migrate").await;
    let new_schema = format!("{schema}_new");
    let mut root = Conn::new(topo.root_opts(&topo.primary)).await.expect("root");
    for s in [&schema, &new_schema] {
        root.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{s}`")).await.expect("schema");
        root.query_drop(format!("CREATE TABLE `{s}`.items (id INT PRIMARY KEY, v VARCHAR(20))"))
            .await
            .expect("table");
    }
    let mut cfg = topo.sluice_config();
    cfg.sharding.migrations = vec![sluice::config::MigrationConfig {
        table: "items".into(),
        to_schema: Some(new_schema.clone()),
        ..Default::default()
    }];
    let p = sluice_tests::start_proxy(cfg).await;
    let mut c = connect(&p, "app", "app", &schema).await;

    // Writes land in both placements.
    c.query_drop("INSERT INTO items VALUES (1, 'one'), (2, 'two')").await.expect("insert");
    c.query_drop("UPDATE items SET v = 'uno' WHERE id = 1").await.expect("update");
    c.query_drop("DELETE FROM items WHERE id = 2").await.expect("delete");
    for s in [&schema, &new_schema] {
        let rows: Vec<(i32, String)> =
            root.query(format!("SELECT id, v FROM `{s}`.items ORDER BY id")).await.expect("direct read");
        assert_eq!(rows, vec![(1, "uno".to_string())], "{s}");
    }
    topo.wait_replicas_caught_up().await;

    // Reads come from the old placement until the flag moves them.
    root.query_drop(format!("UPDATE `{new_schema}`.items SET v = 'from new' WHERE id = 1"))
        .await
        .expect("mark");
    topo.wait_replicas_caught_up().await;
    let v: Option<String> = c.query_first("SELECT v FROM items WHERE id = 1").await.expect("read old");
    assert_eq!(v.as_deref(), Some("uno"));
    let mut a = admin(&p).await;
    a.query_drop("SET MIGRATION 'items' READ FROM new").await.expect("switch reads");
    let v: Option<String> = c.query_first("SELECT v FROM items WHERE id = 1").await.expect("read new");
    assert_eq!(v.as_deref(), Some("from new"));
    a.query_drop("SET MIGRATION 'items' READ FROM old").await.expect("switch back");

    // A write the new placement refuses: the client gets the old one's OK; the divergence is counted.
    root.query_drop(format!("INSERT INTO `{new_schema}`.items VALUES (5, 'only new')")).await.expect("seed");
    c.query_drop("INSERT INTO items VALUES (5, 'five')").await.expect("the old placement answers");
    let rows: Vec<(String, String, String, String, u64, u64, String)> =
        a.query("SHOW MIGRATIONS").await.expect("SHOW MIGRATIONS");
    let (table, _, _, reads, mirrored, divergences, last) = rows.into_iter().next().expect("one migration");
    assert_eq!((table.as_str(), reads.as_str()), ("items", "old"));
    assert_eq!(mirrored, 4);
    assert_eq!(divergences, 1, "{last}");
    assert!(last.contains("error 1062"), "{last}");

    // Inside a transaction its writes are refused (they could not reach both placements atomically).
    c.query_drop("BEGIN").await.expect("begin");
    let e =
        c.query_drop("UPDATE items SET v = 'x' WHERE id = 1").await.expect_err("refused in a transaction");
    let mysql_async::Error::Server(se) = e else { panic!("{e:?}") };
    assert_eq!(se.code, 1235);
    assert!(se.message.contains("autocommit"), "{}", se.message);
    c.query_drop("ROLLBACK").await.expect("rollback");
    root.query_drop(format!("DROP DATABASE `{new_schema}`")).await.expect("drop");
}
