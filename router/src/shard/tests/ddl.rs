//! shard-ddl: one CREATE per physical table, only the name changed.

use super::super::ddl::shard_ddl;
use super::map;

#[test]
fn one_create_per_physical_table() {
    let m = map();
    let got = shard_ddl(
        &m.tables[0],
        "CREATE TABLE documents (id BIGINT PRIMARY KEY, documents TEXT) ENGINE=InnoDB;",
    )
    .expect("ddl");
    assert_eq!(got.len(), 4);
    assert_eq!(got[2], "CREATE TABLE `documents_2` (id BIGINT PRIMARY KEY, documents TEXT) ENGINE=InnoDB;");
    let got = shard_ddl(&m.tables[0], "create table if not exists app.`documents` (id int)").expect("ddl");
    assert_eq!(got[0], "create table if not exists app.`documents_0` (id int);");
    let got = shard_ddl(&m.tables[1], "CREATE TABLE app.users (uid INT)").expect("ddl");
    assert_eq!(
        got,
        [
            "CREATE DATABASE IF NOT EXISTS `shop_0`;",
            "CREATE TABLE `shop_0`.`users` (uid INT);",
            "CREATE DATABASE IF NOT EXISTS `shop_1`;",
            "CREATE TABLE `shop_1`.`users` (uid INT);",
        ]
    );
    assert!(shard_ddl(&m.tables[0], "CREATE TABLE other (id INT)").is_err());
    assert!(shard_ddl(&m.tables[0], "DROP TABLE documents").is_err());
}
