//! What each statement does to `FOUND_ROWS()`, as measured on MariaDB 10.11: after `SELECT 1 UNION
//! SELECT 2 UNION SELECT 3`, the statement, then `SELECT FOUND_ROWS()` (3 = kept).

use super::class;
use crate::classify::FoundRows;

#[test]
fn found_rows_effect_follows_the_server() {
    let cases: &[(&str, FoundRows)] = &[
        ("SELECT * FROM t WHERE id = 1", FoundRows::Sets),
        ("(SELECT 5) UNION (SELECT 6)", FoundRows::Sets),
        ("WITH a AS (SELECT 1) SELECT * FROM a", FoundRows::Sets),
        ("SELECT 1 FROM DUAL WHERE 0", FoundRows::Sets),
        ("SELECT SQL_CALC_FOUND_ROWS id FROM t ORDER BY id LIMIT 1", FoundRows::Unknown),
        ("SELECT v INTO @y FROM t LIMIT 1", FoundRows::Affected),
        ("SELECT id FROM t WHERE id < 3 INTO @a", FoundRows::Affected),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", FoundRows::Affected),
        ("SELECT 1 INTO @y", FoundRows::Zero),
        ("SHOW TABLES", FoundRows::Sets),
        ("SHOW FULL TABLES FROM mysql", FoundRows::Sets),
        ("SHOW DATABASES", FoundRows::Sets),
        ("SHOW SCHEMAS", FoundRows::Sets),
        ("SHOW COLUMNS FROM mysql.db", FoundRows::Sets),
        ("SHOW FULL FIELDS FROM t", FoundRows::Sets),
        ("SHOW INDEX FROM mysql.db", FoundRows::Sets),
        ("SHOW VARIABLES LIKE 'auto%'", FoundRows::Sets),
        ("SHOW GLOBAL VARIABLES LIKE 'max_conn%'", FoundRows::Sets),
        ("SHOW SESSION STATUS LIKE 'Com_sel%'", FoundRows::Sets),
        ("SHOW TABLE STATUS FROM mysql LIKE 'db'", FoundRows::Sets),
        ("SHOW OPEN TABLES FROM mysql", FoundRows::Sets),
        ("SHOW CHARSET LIKE 'utf8mb4'", FoundRows::Sets),
        ("SHOW CHARACTER SET", FoundRows::Sets),
        ("SHOW COLLATION LIKE 'utf8mb4_bin'", FoundRows::Sets),
        ("SHOW ENGINES", FoundRows::Sets),
        ("SHOW STORAGE ENGINES", FoundRows::Sets),
        ("SHOW PLUGINS", FoundRows::Sets),
        ("SHOW TRIGGERS", FoundRows::Sets),
        ("SHOW EVENTS", FoundRows::Sets),
        ("SHOW PROCEDURE STATUS LIKE 'x'", FoundRows::Sets),
        ("SHOW FUNCTION STATUS", FoundRows::Sets),
        ("SHOW COUNT(*) WARNINGS", FoundRows::Sets),
        ("SHOW COUNT(*) ERRORS", FoundRows::Sets),
        ("SHOW USER_STATISTICS", FoundRows::Sets),
        ("DESCRIBE mysql.db", FoundRows::Sets),
        ("DESC t", FoundRows::Sets),
        ("SHOW WARNINGS", FoundRows::Keeps),
        ("SHOW ERRORS", FoundRows::Keeps),
        ("SHOW CREATE TABLE mysql.user", FoundRows::Keeps),
        ("SHOW CREATE DATABASE test", FoundRows::Keeps),
        ("SHOW PROCESSLIST", FoundRows::Keeps),
        ("SHOW FULL PROCESSLIST", FoundRows::Keeps),
        ("SHOW GRANTS", FoundRows::Keeps),
        ("SHOW PRIVILEGES", FoundRows::Keeps),
        ("SHOW MASTER STATUS", FoundRows::Keeps),
        ("SHOW SLAVE STATUS", FoundRows::Keeps),
        ("SHOW ALL SLAVES STATUS", FoundRows::Keeps),
        ("SHOW ENGINE INNODB STATUS", FoundRows::Keeps),
        ("SHOW PROFILES", FoundRows::Keeps),
        ("EXPLAIN SELECT * FROM mysql.db", FoundRows::Keeps),
        ("EXPLAIN FORMAT=JSON SELECT * FROM t", FoundRows::Keeps),
        ("EXPLAIN UPDATE t SET v = 1", FoundRows::Keeps),
        ("EXPLAIN SELECT 1", FoundRows::Zero),
        ("ANALYZE SELECT 1", FoundRows::Unknown),
        ("CALL p()", FoundRows::Unknown),
        ("SELECT 1; SELECT 2", FoundRows::Unknown),
        ("BEGIN; UPDATE t SET v = v + 1 WHERE id = 2; COMMIT", FoundRows::Keeps),
        ("SHOW SOMETHING NEW", FoundRows::Unknown),
        ("SET @x = 1", FoundRows::Keeps),
        ("DO 1", FoundRows::Keeps),
        ("DO 1 + (SELECT 2)", FoundRows::Keeps),
        ("SET @y = (SELECT 1)", FoundRows::Keeps),
        ("DO (SELECT v FROM u WHERE v = 2)", FoundRows::Unknown),
        ("DO EXISTS(SELECT * FROM u)", FoundRows::Unknown),
        ("SET @y = 1 IN (SELECT v FROM u)", FoundRows::Unknown),
        ("INSERT INTO w VALUES ((SELECT COUNT(*) FROM u))", FoundRows::Unknown),
        ("UPDATE t SET v = 1 WHERE id IN (SELECT id FROM u)", FoundRows::Unknown),
        ("DELETE FROM w WHERE x = (SELECT 99)", FoundRows::Keeps),
        ("INSERT INTO t VALUES (1)", FoundRows::Keeps),
        ("UPDATE t SET v = 1", FoundRows::Keeps),
        ("VALUES (1), (2)", FoundRows::Keeps),
        ("HELP 'x'", FoundRows::Keeps),
        ("CHECK TABLE mysql.db", FoundRows::Keeps),
        ("BEGIN", FoundRows::Keeps),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(sql, want)| {
            let got = class(sql).found_rows;
            (got != *want).then(|| format!("{sql}: {got:?}, want {want:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// MySQL 8's `TABLE t` and `VALUES ROW(…)`, as measured on MySQL 9.7.2: they set `FOUND_ROWS()` like a
/// SELECT (with INTO, to the rows selected, which the OK packet's affected rows give). MariaDB's `VALUES
/// (…)`, above, keeps it.
#[test]
fn found_rows_of_mysql_table_and_values_statements() {
    for (sql, want) in [
        ("TABLE t", FoundRows::Sets),
        ("TABLE t ORDER BY id LIMIT 1", FoundRows::Sets),
        ("VALUES ROW(1, 2), ROW(3, 4)", FoundRows::Sets),
        ("TABLE t LIMIT 1 INTO @a, @b", FoundRows::Affected),
        ("VALUES ROW(1, 2) INTO @a, @b", FoundRows::Affected),
        ("VALUES (1), (2)", FoundRows::Keeps),
    ] {
        assert_eq!(class(sql).found_rows, want, "{sql}");
    }
}

/// Whether a digest may hold a password is decided once, in its plan.
#[test]
fn the_plan_says_whether_a_statement_may_hold_a_password() {
    for sql in [
        "CREATE USER u IDENTIFIED BY 'secret'",
        "SET PASSWORD FOR u = PASSWORD('secret')",
        "ALTER USER u IDENTIFIED WITH mysql_native_password AS '*ABC'",
        "SELECT 1; CREATE USER v IDENTIFIED BY 'x'",
    ] {
        assert!(super::planned(sql).may_hold_secret, "{sql}");
    }
    for sql in ["SELECT c FROM sbtest1 WHERE id = 1", "INSERT INTO t VALUES (1)", "SET NAMES utf8mb4"] {
        assert!(!super::planned(sql).may_hold_secret, "{sql}");
    }
}
