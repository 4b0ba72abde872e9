//! `WITH …` before DML is a write (MySQL 8); before SELECT it stays a read.

use super::class;
use crate::classify::Target;

#[test]
fn with_before_dml_is_a_write() {
    for sql in [
        "WITH x AS (SELECT id FROM t WHERE v > 1) DELETE FROM u WHERE id IN (SELECT id FROM x)",
        "WITH x AS (SELECT id FROM t) UPDATE u JOIN x ON x.id = u.id SET u.v = 1",
        "WITH x AS (SELECT id FROM t) INSERT INTO u SELECT id FROM x",
        "WITH x AS (SELECT id FROM t) REPLACE INTO u SELECT id FROM x",
        "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 5) INSERT INTO u SELECT n FROM seq",
        "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 5) DELETE FROM u WHERE id IN (SELECT n FROM seq)",
        "WITH a AS (SELECT 1 AS id), b AS (SELECT id FROM a) UPDATE t SET v = 0 WHERE id IN (SELECT id FROM b)",
        "with x as (select id from t) delete u from u join x on x.id = u.id",
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.cacheable, c.read_only), (Target::Primary, false, false), "{sql}");
    }
}

#[test]
fn with_before_select_is_a_read() {
    for (sql, cacheable) in [
        ("WITH recent AS (SELECT id FROM orders WHERE id > 100) SELECT COUNT(*) FROM recent", true),
        (
            "WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 5) SELECT n FROM seq",
            true,
        ),
        ("WITH a AS (SELECT 1), b (n) AS (SELECT 2) SELECT * FROM a, b", true),
        ("WITH x AS (SELECT REPLACE(name, 'a', 'b') AS n FROM t) SELECT n FROM x", true),
        ("WITH x AS (SELECT id FROM t) SELECT INSERT(name, 1, 2, 'x') FROM u JOIN x USING (id)", true),
        ("(WITH x AS (SELECT id FROM t) SELECT id FROM x)", true),
        ("WITH x AS (SELECT update_count FROM t) SELECT update_count FROM x", true),
    ] {
        let c = class(sql);
        assert_eq!((c.target, c.cacheable, c.read_only), (Target::Replica, cacheable, true), "{sql}");
    }
    let c = class("WITH x AS (SELECT id FROM t) SELECT id FROM x FOR UPDATE");
    assert_eq!((c.target, c.locks, c.read_only), (Target::Primary, true, true));
}
