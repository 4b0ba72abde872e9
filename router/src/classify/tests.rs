//! Classification, table-driven: ../shared/cases/routing.tsv line by line (target and cacheability of
//! statements in autocommit mode), then our own cases.

use super::*;
use crate::lexer::lex;

fn class(sql: &str) -> Class {
    classify(&lex(sql.as_bytes()))
}

/// As sessions plan it: lexer and full parse through a plan cache.
fn planned(sql: &str) -> Class {
    let cache = crate::plan_cache::PlanCache::new(10, 1 << 16);
    (*cache.plan(&lex(sql.as_bytes()), sql.as_bytes())).clone()
}

fn target_name(t: Target) -> &'static str {
    match t {
        Target::Primary => "primary",
        Target::Replica => "replica",
        Target::Last => "last",
        Target::Sluice => "sluice",
    }
}

#[test]
fn agrees_with_every_line_of_routing_tsv() {
    assert!(agrees_with_routing_tsv(&crate::routing_cases(), class) >= 60);
}

/// The same through the plan cache (lexer + full parse on a miss, as sessions plan statements).
#[test]
fn agrees_with_every_line_of_routing_tsv_through_the_plan_cache() {
    let cache = crate::plan_cache::PlanCache::new(1000, 1 << 20);
    let n = agrees_with_routing_tsv(&crate::routing_cases(), |sql| {
        (*cache.plan(&lex(sql.as_bytes()), sql.as_bytes())).clone()
    });
    assert!(n >= 60);
}

/// Checks every line of a routing table (`target<TAB>cache<TAB>statement`); returns how many.
pub(super) fn agrees_with_routing_tsv(text: &str, class: impl Fn(&str) -> Class) -> usize {
    let mut wrong = Vec::new();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let mut cols = line.splitn(3, '\t');
        let (target, cache, sql) =
            (cols.next().unwrap_or(""), cols.next().unwrap_or(""), cols.next().unwrap_or(""));
        let c = class(sql);
        let got_cache = if c.cacheable { "cache" } else { "nocache" };
        if target_name(c.target) != target || got_cache != cache {
            wrong
                .push(format!("{sql}\n    want {target} {cache}, got {} {got_cache}", target_name(c.target)));
        }
        n += 1;
    }
    assert!(wrong.is_empty(), "{} of {n} wrong:\n{}", wrong.len(), wrong.join("\n"));
    n
}

#[test]
fn transactions_and_session_state() {
    assert_eq!(class("BEGIN").tx, Some(Tx::Begin));
    assert_eq!(class("START TRANSACTION READ ONLY").tx, Some(Tx::Begin));
    assert_eq!(class("COMMIT").tx, Some(Tx::Commit));
    assert_eq!(class("ROLLBACK").tx, Some(Tx::Rollback));
    assert_eq!(class("ROLLBACK TO SAVEPOINT a").tx, Some(Tx::Savepoint));
    assert_eq!(class("XA COMMIT 'x1'").tx, Some(Tx::Commit));
    assert!(class("SET NAMES utf8mb4").session_state);
    assert!(class("SET @a = 1").session_state);
    assert!(class("USE app").session_state);
    assert!(class("CREATE TEMPORARY TABLE t (id INT)").session_state);
    assert!(!class("CREATE TABLE t (id INT)").session_state);
    assert!(class("SELECT id INTO @x FROM users WHERE id = 1").session_state);
    assert!(class("LOCK TABLES t WRITE").locks);
    assert!(class("SELECT GET_LOCK('a', 1)").locks);
}

#[test]
fn own_cases() {
    for (sql, target, cacheable) in [
        ("SELECT SQL_NO_CACHE name FROM users WHERE id = 1", Target::Replica, false),
        ("SELECT name FROM users WHERE id = @uid", Target::Replica, false),
        ("SELECT 1 FROM DUAL", Target::Replica, false),
        ("SELECT COALESCE(name, 'x') FROM users", Target::Replica, true),
        ("SELECT COUNT(*) FROM users WHERE id IN (SELECT user_id FROM orders)", Target::Replica, true),
        ("(SELECT a FROM t) UNION (SELECT a FROM u)", Target::Replica, true),
        ("SELECT u.name FROM app.users u WHERE u.id = 1", Target::Replica, true),
        ("SHOW PROCESSLIST", Target::Primary, false),
        ("SHOW SLAVE STATUS", Target::Primary, false),
        ("EXPLAIN ANALYZE SELECT * FROM t", Target::Primary, false),
        ("/* sluice: primary */ SHOW TABLES", Target::Primary, false),
        ("/* sluice: nocache */ SELECT a FROM t", Target::Replica, false),
        ("SELECT 1; DELETE FROM t", Target::Primary, false),
        ("DO SLEEP(1)", Target::Primary, false),
        ("HANDLER t READ FIRST", Target::Primary, false),
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.cacheable), (target, cacheable), "{sql}");
    }
}

mod cte_writes;
mod diagnostics;
mod found_rows;
mod hints;
mod multi;
mod mysql_syntax;
mod session_locks;
mod user_vars;
