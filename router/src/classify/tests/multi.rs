//! Multi-statement texts: the primary as a whole, flagged so the proxy can pin, effects summed up.

use super::class;
use crate::classify::{SessionLock, Target};

#[test]
fn multi_statements_run_on_the_primary_and_say_so() {
    for sql in ["SELECT 1; SELECT 2", "SELECT a FROM t; DELETE FROM t", "BEGIN; UPDATE t SET a = 1; COMMIT"] {
        let c = class(sql);
        assert_eq!(
            (c.target, c.cacheable, c.read_only, c.tx),
            (Target::Primary, false, false, None),
            "{sql}"
        );
        assert!(c.multi_statement, "{sql}");
    }
    assert!(!class("SELECT 1").multi_statement);
    assert!(!class("SELECT 1;").multi_statement);
    assert!(!class("SELECT 'a;b' FROM t").multi_statement);
}

#[test]
fn multi_statement_effects_are_summed_up() {
    let c = class("SET @a = 1; SELECT @a");
    assert!(c.assigns_user_vars && c.reads_user_vars && c.session_state);
    let c = class("LOCK TABLES t WRITE; SELECT a FROM t");
    assert_eq!((c.session_lock, c.locks), (Some(SessionLock::OpenTables), true));
    let c = class("LOCK TABLES t WRITE; UPDATE t SET a = 1; UNLOCK TABLES");
    assert_eq!(c.session_lock, Some(SessionLock::CloseTables));
    assert!(class("SHOW WARNINGS; SELECT 1").diagnostics);
    assert!(!class("SELECT 1; SHOW WARNINGS").diagnostics);
    let c = class("SELECT a FROM `x;y`; SELECT 2");
    assert!(c.multi_statement && !c.diagnostics);
}
