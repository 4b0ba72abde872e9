//! Optimizer and index hints keep a read a read; real stored-function calls still go to the primary.

use super::{class, planned};
use crate::classify::Target;

#[test]
fn reads_with_optimizer_or_index_hints_stay_reads() {
    for (sql, cacheable) in [
        ("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t WHERE id = 1", true),
        ("SELECT /*+ MAX_EXECUTION_TIME(1000) BKA(t) NO_ICP(t, idx) */ * FROM t WHERE id = 1", true),
        ("SELECT /*+ SET_VAR(sort_buffer_size = 16M) */ a FROM t ORDER BY a", true),
        ("SELECT /*+ JOIN_ORDER(t, u) */ t.a FROM t JOIN u ON u.id = t.id", true),
        ("SELECT * FROM t FORCE INDEX (PRIMARY) WHERE id = 1", true),
        ("SELECT * FROM t FORCE KEY (idx_a) WHERE a = 1", true),
        ("SELECT * FROM t AS x FORCE INDEX (idx_a, idx_b) WHERE a = 1", true),
        ("SELECT * FROM t USE INDEX (idx_a) WHERE a = 1", true),
        ("SELECT * FROM t USE INDEX () WHERE a = 1", true),
        ("SELECT * FROM t IGNORE INDEX (idx_a) WHERE a = 1", true),
        ("SELECT * FROM t IGNORE INDEX FOR ORDER BY (idx_a) WHERE a = 1 ORDER BY a", true),
        ("SELECT * FROM t USE INDEX FOR JOIN (idx_a) JOIN u ON u.a = t.a", true),
        ("SELECT STRAIGHT_JOIN t.a FROM t JOIN u ON u.id = t.id", true),
        ("SELECT t.a FROM t STRAIGHT_JOIN u ON u.id = t.id", true),
        ("SELECT * FROM t PARTITION (p0) WHERE id = 1", true),
        ("SELECT SQL_NO_CACHE * FROM t WHERE id = 1", false),
        ("SELECT /*!40001 SQL_NO_CACHE */ * FROM t", false),
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.cacheable), (Target::Replica, cacheable), "{sql}");
        // Sessions plan through the plan cache, whose full parse sends what it cannot read to the primary.
        let c = planned(sql);
        assert_eq!((c.target, c.cacheable), (Target::Replica, cacheable), "{sql} (planned)");
    }
}

#[test]
fn stored_functions_still_go_to_the_primary() {
    for sql in [
        "SELECT f(1)",
        "SELECT f (1)",
        "SELECT db.f(x) FROM t",
        "SELECT `db`.`f`(x) FROM t",
        "SELECT `f`(1)",
        "SELECT `my func`(1)",
        "SELECT /*+ MAX_EXECUTION_TIME(1000) */ f(1) FROM t",
        "SELECT * FROM t FORCE INDEX (PRIMARY) WHERE id = f(1)",
        "SELECT * FROM t USE INDEX (a) WHERE a = db.g(2)",
        "WITH x AS (SELECT f(id) AS v FROM t) SELECT v FROM x",
        "WITH RECURSIVE x (n) AS (SELECT f(1)) SELECT n FROM x",
        "SELECT index_of(a) FROM t",
        "SELECT a FROM t WHERE a IN (SELECT f(b) FROM u)",
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.cacheable, c.read_only), (Target::Primary, false, false), "{sql}");
    }
}
