//! The previous statement's diagnostics are read where it ran: `Target::Last`, read-only, uncached.

use super::class;
use crate::classify::Target;

#[test]
fn diagnostics_go_to_the_last_connection() {
    for sql in [
        "SHOW WARNINGS",
        "show warnings limit 10",
        "SHOW WARNINGS LIMIT 5, 10",
        "SHOW ERRORS",
        "SHOW ERRORS LIMIT 1",
        "SHOW COUNT(*) WARNINGS",
        "SHOW COUNT(*) ERRORS",
        "SELECT @@warning_count",
        "SELECT @@error_count",
        "SELECT @@session.warning_count",
        "SELECT @@SESSION.error_count",
        "SELECT @@local.warning_count",
        "SELECT @@warning_count, @@error_count",
        "GET DIAGNOSTICS @n = NUMBER",
        "GET DIAGNOSTICS CONDITION 1 @e = MESSAGE_TEXT, @s = RETURNED_SQLSTATE",
        "GET CURRENT DIAGNOSTICS @n = NUMBER",
        "GET STACKED DIAGNOSTICS CONDITION 1 @e = MESSAGE_TEXT",
    ] {
        let c = class(sql);
        assert_eq!(c.target, Target::Last, "{sql}");
        assert!(c.diagnostics && c.read_only && !c.cacheable, "{sql}: {c:?}");
    }
}

#[test]
fn get_diagnostics_and_into_assign_their_variables_on_the_last_connection() {
    for sql in ["GET DIAGNOSTICS @n = NUMBER", "SELECT @@warning_count INTO @w", "SET @w = @@warning_count"] {
        let c = class(sql);
        assert_eq!((c.target, c.diagnostics, c.assigns_user_vars), (Target::Last, true, true), "{sql}");
        assert!(c.session_state, "{sql}");
    }
}

#[test]
fn other_functions_of_the_last_connection_and_lookalikes() {
    for (sql, target, diagnostics) in [
        ("SELECT LAST_INSERT_ID()", Target::Last, false),
        ("SELECT ROW_COUNT()", Target::Last, false),
        ("SELECT FOUND_ROWS()", Target::Last, false),
        ("SHOW VARIABLES LIKE 'max_error_count'", Target::Replica, false),
        ("SELECT @@max_error_count", Target::Replica, false),
        ("SHOW STATUS LIKE 'x'", Target::Primary, false),
        ("SELECT warnings FROM t", Target::Replica, false),
        // A stored function may write: the primary, whatever else the statement reads.
        ("SELECT f(1), @@warning_count", Target::Primary, false),
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.diagnostics), (target, diagnostics), "{sql}");
    }
}

#[test]
fn set_from_the_last_connection_assigns_there() {
    for (sql, target, diagnostics) in [
        ("SET @n = ROW_COUNT()", Target::Last, false),
        ("SET @id = LAST_INSERT_ID()", Target::Last, false),
        ("SET @rows = FOUND_ROWS()", Target::Last, false),
        ("SET @e = @@error_count", Target::Last, true),
        ("SET @n = f(ROW_COUNT())", Target::Primary, false),
        ("SET @n = db.row_count()", Target::Primary, false),
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.diagnostics), (target, diagnostics), "{sql}");
        assert!(c.assigns_user_vars && c.session_state && !c.cacheable, "{sql}: {c:?}");
    }
}
