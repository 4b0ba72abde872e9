//! MySQL-only syntax (8.0 and later): `router/testdata/routing_mysql.tsv` line by line, lexer alone
//! and through the plan cache, and what else each shape must carry (locks, user variables, the tables
//! the cache keys and invalidates by).

use super::{agrees_with_routing_tsv, class, planned};
use crate::classify::{FoundRows, Target};

fn names(tables: &[String]) -> Vec<&str> {
    tables.iter().map(String::as_str).collect()
}

const CASES: &str = include_str!("../../../testdata/routing_mysql.tsv");

#[test]
fn agrees_with_every_line_of_routing_mysql_tsv() {
    assert!(agrees_with_routing_tsv(CASES, class) >= 40);
}

#[test]
fn agrees_with_every_line_of_routing_mysql_tsv_through_the_plan_cache() {
    let cache = crate::plan_cache::PlanCache::new(1000, 1 << 20);
    let n = agrees_with_routing_tsv(CASES, |sql| {
        let l = crate::lexer::lex(sql.as_bytes());
        (*cache.plan(&l, sql.as_bytes())).clone()
    });
    assert!(n >= 40);
}

/// A write after a CTE is a write, and the plan names the table it writes (so the cache invalidates
/// that table, not only its schema), never the CTE.
#[test]
fn with_before_update_or_delete_writes_its_target() {
    for (sql, read, written) in [
        (
            "WITH x AS (SELECT id FROM orders WHERE id > 100) DELETE FROM users WHERE id IN (SELECT id FROM x)",
            &["orders"][..],
            &["users"][..],
        ),
        (
            "WITH x AS (SELECT id FROM orders) UPDATE users SET flag = 1 WHERE id IN (SELECT id FROM x)",
            &["orders"],
            &["users"],
        ),
        (
            "WITH x AS (SELECT id FROM orders) UPDATE users u JOIN x ON x.id = u.id SET u.flag = 1",
            &["orders"],
            &["users"],
        ),
        (
            "WITH x AS (SELECT 1 AS id) DELETE FROM app.users WHERE id IN (SELECT id FROM x)",
            &[],
            &["app.users"],
        ),
    ] {
        let c = planned(sql);
        assert_eq!((c.target, c.read_only, c.cacheable), (Target::Primary, false, false), "{sql}");
        assert!(c.tables.parsed, "{sql}");
        assert_eq!(
            (names(&c.tables.read), names(&c.tables.written)),
            (read.to_vec(), written.to_vec()),
            "{sql}"
        );
    }
}

/// FOR SHARE (and NOWAIT / SKIP LOCKED after FOR SHARE or FOR UPDATE) is a locking read like FOR
/// UPDATE and LOCK IN SHARE MODE: the primary, uncached, flagged as locking, still a read.
#[test]
fn locking_reads_all_go_where_for_update_goes() {
    let reference = class("SELECT * FROM users WHERE id = 1 FOR UPDATE");
    assert_eq!((reference.target, reference.locks, reference.read_only), (Target::Primary, true, true));
    for sql in [
        "SELECT * FROM users WHERE id = 1 LOCK IN SHARE MODE",
        "SELECT * FROM users WHERE id = 1 FOR SHARE",
        "SELECT * FROM users WHERE id = 1 FOR SHARE OF users NOWAIT",
        "SELECT * FROM users WHERE id = 1 FOR SHARE SKIP LOCKED",
        "SELECT * FROM users WHERE id = 1 FOR UPDATE NOWAIT",
        "SELECT * FROM users WHERE id = 1 FOR UPDATE SKIP LOCKED",
        "select * from users where id = 1 for update of users skip locked",
    ] {
        for c in [class(sql), planned(sql)] {
            assert_eq!(
                (c.target, c.cacheable, c.locks, c.read_only),
                (reference.target, reference.cacheable, reference.locks, reference.read_only),
                "{sql}"
            );
            assert!(!crate::classify::may_read_on_a_replica(&c), "{sql}: a rule must not move it");
        }
    }
}

/// `TABLE t` is `SELECT * FROM t`: a cacheable read whose plan names the table.
#[test]
fn table_statement_reads_like_select_star() {
    let select = planned("SELECT * FROM users");
    for (sql, read) in [
        ("TABLE users", &["users"][..]),
        ("TABLE users ORDER BY id LIMIT 3", &["users"]),
        ("TABLE `App`.`Users`", &["app.users"]),
        ("TABLE users UNION TABLE admins", &["admins", "users"]),
        ("SELECT name FROM users UNION ALL TABLE admins", &["admins", "users"]),
        ("(TABLE users)", &["users"]),
    ] {
        let c = planned(sql);
        assert_eq!(
            (c.target, c.cacheable, c.read_only, c.locks),
            (select.target, select.cacheable, select.read_only, select.locks),
            "{sql}"
        );
        assert!(c.tables.parsed, "{sql}");
        assert_eq!((names(&c.tables.read), c.tables.written.len()), (read.to_vec(), 0), "{sql}");
        assert_eq!(c.found_rows, FoundRows::Sets, "{sql}");
    }
    // Two statements: each TABLE is read as one.
    let c = planned("TABLE users; TABLE admins");
    assert!(c.multi_statement && c.tables.parsed);
    assert_eq!(names(&c.tables.read), ["admins", "users"]);
}

/// `VALUES ROW(…)` is a read without tables: a replica, uncached, like `SELECT 1`.
#[test]
fn values_row_is_a_table_less_read() {
    let select = planned("SELECT 1, 2");
    for sql in ["VALUES ROW(1, 2), ROW(3, 4)", "VALUES ROW(1, 'a') ORDER BY column_0 LIMIT 1"] {
        for c in [class(sql), planned(sql)] {
            assert_eq!((c.target, c.cacheable, c.read_only), (select.target, false, true), "{sql}");
            assert!(c.tables.read.is_empty() && c.tables.written.is_empty(), "{sql}");
        }
    }
    // As a derived table: a read that names no table (the cache stores only results of known tables).
    let c = planned("SELECT * FROM (VALUES ROW(1, 2), ROW(3, 4)) AS v (a, b)");
    assert_eq!((c.target, c.read_only, c.tables.parsed), (Target::Replica, true, true));
    assert!(c.tables.read.is_empty() && c.tables.written.is_empty());
}

/// `… INTO @v` at the end assigns like `SELECT … INTO @v FROM …` and `SELECT @v := …`.
#[test]
fn trailing_into_assigns_user_variables() {
    let reference = class("SELECT id INTO @x FROM users WHERE id = 1");
    assert!(reference.assigns_user_vars && reference.session_state);
    for sql in [
        "SELECT id FROM users WHERE id = 1 INTO @x",
        "SELECT id, name FROM users WHERE id = 1 INTO @x, @y",
        "SELECT id FROM users ORDER BY id LIMIT 1 INTO @x",
        "SELECT id FROM users WHERE id = 1 FOR UPDATE INTO @x",
        "SELECT id FROM users WHERE id = 1 INTO @x FOR SHARE",
        "SELECT id FROM users UNION SELECT id FROM admins INTO @x",
        "TABLE users LIMIT 1 INTO @a, @b",
        "VALUES ROW(1, 2) INTO @a, @b",
        "SELECT id FROM users WHERE id = 1 INTO @`my var`",
    ] {
        for c in [class(sql), planned(sql)] {
            assert_eq!(
                (c.target, c.cacheable, c.read_only, c.assigns_user_vars, c.session_state),
                (Target::Primary, false, false, true, true),
                "{sql}"
            );
        }
    }
}

/// `INTO OUTFILE|DUMPFILE` writes a file on the server: the primary, never a read (not even after a
/// locking clause), so no rule or retry moves it.
#[test]
fn into_outfile_is_never_a_read() {
    for sql in [
        "SELECT * FROM users WHERE id = 1 INTO OUTFILE '/tmp/u.csv' FIELDS TERMINATED BY ','",
        "SELECT * FROM users WHERE id = 1 INTO DUMPFILE '/tmp/u.bin'",
        "SELECT * FROM users WHERE id = 1 FOR SHARE INTO OUTFILE '/tmp/u.csv'",
        "SELECT * FROM users WHERE id = 1 FOR UPDATE INTO DUMPFILE '/tmp/u.bin'",
        "TABLE users INTO OUTFILE '/tmp/u.csv'",
    ] {
        for c in [class(sql), planned(sql)] {
            assert_eq!((c.target, c.cacheable, c.read_only), (Target::Primary, false, false), "{sql}");
            assert!(!crate::classify::may_read_on_a_replica(&c), "{sql}");
        }
    }
}

/// sluice never offers CLIENT_QUERY_ATTRIBUTES, but a client may force it (mysql-connector-python
/// with `client_flags=[ClientFlag.CLIENT_QUERY_ATTRIBUTES]` does) and send COM_QUERY with the
/// attribute block before the text. Its bytes are never read as the statement behind them: no first
/// keyword for sluice to act on (KILL, SET, SHOW LAST ROUTE, CONNECTION_ID()), the primary, uncached;
/// the server refuses the text (MySQL 9.7 and MariaDB 10.11 both answer ERR 1064).
#[test]
fn a_query_attribute_block_is_never_read_as_the_statement() {
    // Attribute count, parameter set count (always 1); with one attribute: null bitmap, bind flag,
    // type STRING + flags, name `a`, value `x`.
    let none: &[u8] = b"\x00\x01";
    let one: &[u8] = b"\x01\x01\x00\x01\xfe\x00\x01a\x01x";
    for block in [none, one] {
        for sql in [
            "KILL 5",
            "KILL QUERY 5",
            "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_0900_ai_ci'",
            "SHOW LAST ROUTE",
            "SELECT CONNECTION_ID()",
            "SELECT c FROM t WHERE id = 1",
            "/* sluice: replica */ SELECT c FROM t WHERE id = 1",
            "DELETE FROM t WHERE id = 1",
        ] {
            let text = [block, sql.as_bytes()].concat();
            let l = crate::lexer::lex(&text);
            assert!(l.first_keyword.bytes().all(|b| b < 0x20), "{sql}: first keyword {:?}", l.first_keyword);
            let cache = crate::plan_cache::PlanCache::new(10, 1 << 16);
            let c = cache.plan(&l, &text);
            assert_eq!((c.target, c.cacheable, c.read_only), (Target::Primary, false, false), "{sql}");
            assert!(!c.replica_hint && !c.session_state, "{sql}");
        }
    }
    // Whitespace before a statement is still whitespace.
    assert_eq!(crate::lexer::lex(b"\t\r\n\x0b\x0c KILL 5").first_keyword, "kill");
}
