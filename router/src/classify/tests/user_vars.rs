//! User variables: assignments run on the primary and pin; reads stay reads but are never cached.

use super::class;
use crate::classify::Target;

#[test]
fn assignments_run_on_the_primary_uncached() {
    for sql in [
        "SELECT @a := MAX(v) FROM t",
        "SELECT @a:=MAX(v) FROM t",
        "SELECT MAX(v) INTO @a FROM t",
        "SELECT v FROM t INTO @a",
        "SELECT v FROM t WHERE id = 1 INTO @a",
        "SET @a = 1",
        "SET @a := 1",
        "SET @a := (SELECT MAX(v) FROM t)",
        "SET @a = 1, @b = 2",
        "SET sql_mode = '', @a = 1",
        "SELECT @a := @a + 1",
        "SELECT v, w FROM t INTO @a, @b",
        "SELECT v, w INTO @a, @b FROM t WHERE id = 2",
        "SELECT @`a b` := 1",
        "SELECT @'a' := 1",
        "SET @`quoted name` = 1",
        "SELECT 1 INTO @a",
        "WITH x AS (SELECT v FROM t) SELECT MAX(v) INTO @m FROM x",
        "SELECT id, @n := @n + 1 AS rn FROM t ORDER BY id",
        "SELECT * FROM t WHERE (@a := v) > 1",
    ] {
        let c = class(sql);
        assert_eq!(c.target, Target::Primary, "{sql}");
        assert!(!c.cacheable, "{sql}");
        assert!(c.assigns_user_vars, "{sql}");
        assert!(c.session_state, "{sql}");
        assert!(!c.read_only, "{sql}: a [[rules]] replica route must not take it");
    }
}

#[test]
fn assignments_in_writes_are_flagged_too() {
    for sql in ["UPDATE t SET v = (@a := v + 1) WHERE id = 1", "DO @a := 1", "INSERT INTO t VALUES (@a := 1)"]
    {
        let c = class(sql);
        assert_eq!((c.target, c.assigns_user_vars), (Target::Primary, true), "{sql}");
    }
}

#[test]
fn reads_stay_reads_but_are_never_cached() {
    for (sql, target) in [
        ("SELECT @a", Target::Replica),
        ("SELECT v FROM t WHERE v = @a", Target::Replica),
        ("SELECT v FROM t WHERE v IN (@a, @b)", Target::Replica),
        ("SELECT @`a b`, @'c' FROM t", Target::Replica),
        ("SELECT v FROM t ORDER BY v LIMIT 1", Target::Replica),
        ("INSERT INTO t VALUES (@a)", Target::Primary),
        ("SET SESSION sql_mode = @old_mode", Target::Primary),
    ] {
        let c = class(sql);
        let reads = sql.contains('@');
        assert_eq!((c.target, c.reads_user_vars, c.assigns_user_vars), (target, reads, false), "{sql}");
        if reads {
            assert!(!c.cacheable, "{sql}");
        }
    }
    let c = class("SELECT @a := @a + 1");
    assert!(c.reads_user_vars && c.assigns_user_vars);
}

#[test]
fn system_variables_and_accounts_are_not_user_variables() {
    for sql in [
        "SELECT @@version",
        "SELECT @@session.sql_mode, @@global.read_only",
        "SET @@session.sql_mode = ''",
        "SET SESSION sql_mode = ''",
        "GRANT SELECT ON app.* TO 'ro'@'%'",
        "SET PASSWORD FOR 'ro'@'%' = PASSWORD('x')",
        "CREATE USER `u`@`h` IDENTIFIED BY 'x'",
        "SELECT v FROM t WHERE a = 'x@y'",
    ] {
        let c = class(sql);
        assert!(!c.assigns_user_vars && !c.reads_user_vars, "{sql}: {c:?}");
    }
    assert!(!class("SET PASSWORD FOR 'ro'@'%' = PASSWORD('x')").session_state);
}
