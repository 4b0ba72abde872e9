//! Tables read and written, table-driven.

use super::*;

fn check(sql: &str, parsed: bool, read: &[&str], written: &[&str]) {
    let a = analyze(sql);
    assert_eq!(a.parsed, parsed, "{sql}");
    assert_eq!(a.tables_read, read, "read by {sql}");
    assert_eq!(a.tables_written, written, "written by {sql}");
}

#[test]
fn tables_read_and_written() {
    let cases: &[(&str, bool, &[&str], &[&str])] = &[
        ("SELECT c FROM sbtest1 WHERE id = 5", true, &["sbtest1"], &[]),
        ("SELECT * FROM `Shop`.`Orders` o JOIN items i ON i.o = o.id", true, &["items", "shop.orders"], &[]),
        ("SELECT a FROM t WHERE b IN (SELECT b FROM u WHERE x > 1)", true, &["t", "u"], &[]),
        (
            "WITH recent AS (SELECT * FROM orders) SELECT * FROM recent JOIN users USING (id)",
            true,
            &["orders", "users"],
            &[],
        ),
        ("SELECT * FROM (SELECT id FROM t) AS d", true, &["t"], &[]),
        ("INSERT INTO log (a) SELECT a FROM src", true, &["src"], &["log"]),
        ("REPLACE INTO t VALUES (1, 2)", true, &[], &["t"]),
        ("UPDATE t SET a = 1 WHERE id = (SELECT MAX(id) FROM u)", true, &["u"], &["t"]),
        ("UPDATE t JOIN u ON t.id = u.id SET t.a = u.a", true, &[], &["t", "u"]),
        ("DELETE FROM t WHERE id = 1", true, &[], &["t"]),
        ("DELETE t FROM t JOIN u ON t.id = u.id", true, &["u"], &["t"]),
        ("TRUNCATE TABLE db.t", true, &[], &["db.t"]),
        ("CREATE TABLE t (id INT PRIMARY KEY)", true, &[], &["t"]),
        ("ALTER TABLE t ADD COLUMN c INT", true, &[], &["t"]),
        ("DROP TABLE IF EXISTS a, b", true, &[], &["a", "b"]),
        ("RENAME TABLE a TO b", true, &[], &["a", "b"]),
        ("SELECT 1", true, &[], &[]),
        ("SELECT NOW(), RAND()", true, &[], &[]),
        ("\u{0}\u{1} not sql at all", false, &[], &[]),
        ("", false, &[], &[]),
    ];
    for (sql, parsed, read, written) in cases {
        check(sql, *parsed, read, written);
    }
}

#[test]
fn garbage_never_panics() {
    for s in ["SELECT ((((", "'unterminated", "SELECT * FROM t WHERE a = `", "/* */ ; ; ;", "INSERT INTO"] {
        assert!(!analyze(s).parsed || analyze(s).tables_written.is_empty(), "{s}");
    }
}
