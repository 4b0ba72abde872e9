//! The accounts every topology has, created on the primary like production and replicated to the replicas.
//! On MySQL every account uses caching_sha2_password (MySQL 9 has no other password plugin).

use crate::flavor::Flavor;

/// The application account (also sluice's backend account): no SUPER, no READ_ONLY ADMIN (MariaDB), no
/// CONNECTION_ADMIN (MySQL), so `read_only` / `super_read_only` on a replica refuses its writes with
/// ERR 1290 instead of a misrouted write landing silently.
pub const APP_USER: &str = "app";
/// Password of [`APP_USER`].
pub const APP_PASSWORD: &str = "app";
/// The health-monitor account: may read replication and binlog state, not application data.
pub const MONITOR_USER: &str = "monitor";
/// Password of [`MONITOR_USER`].
pub const MONITOR_PASSWORD: &str = "monitor";
/// The replication account the replicas log in to the primary with.
pub const REPL_USER: &str = "repl";
/// Password of [`REPL_USER`].
pub const REPL_PASSWORD: &str = "repl";
/// The harness's own setup account (no password; `root@127.0.0.1` from `mariadb-install-db`, or made by
/// the MySQL template's bootstrap).
pub const ROOT_USER: &str = "root";

/// Privileges of `app`: what an application needs, nothing that bypasses `read_only`.
const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, \
     CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, \
     TRIGGER, EVENT, REFERENCES, PROCESS";

/// Privileges of `monitor` on MariaDB: SHOW SLAVE STATUS, SHOW BINLOG STATUS, the process list.
const MONITOR_PRIVILEGES: &str = "SLAVE MONITOR, BINLOG MONITOR, PROCESS";
/// Privileges of `monitor` on MySQL: SHOW REPLICA STATUS, SHOW BINARY LOG STATUS, the process list.
const MYSQL_MONITOR_PRIVILEGES: &str = "REPLICATION CLIENT, PROCESS";

/// Statements run as root on the primary once it is up, after the anonymous users are dropped.
pub fn create_statements(flavor: Flavor) -> Vec<String> {
    let (identified, monitor) = match flavor {
        Flavor::MariaDb => ("IDENTIFIED BY", MONITOR_PRIVILEGES),
        Flavor::MySql => ("IDENTIFIED WITH caching_sha2_password BY", MYSQL_MONITOR_PRIVILEGES),
    };
    vec![
        format!("CREATE USER '{REPL_USER}'@'%' {identified} '{REPL_PASSWORD}'"),
        format!("GRANT REPLICATION SLAVE ON *.* TO '{REPL_USER}'@'%'"),
        format!("CREATE USER '{APP_USER}'@'%' {identified} '{APP_PASSWORD}'"),
        format!("GRANT {APP_PRIVILEGES} ON *.* TO '{APP_USER}'@'%'"),
        format!("CREATE USER '{MONITOR_USER}'@'%' {identified} '{MONITOR_PASSWORD}'"),
        format!("GRANT {monitor} ON *.* TO '{MONITOR_USER}'@'%'"),
    ]
}
