//! Tables read and written, table-driven.

use super::*;
use crate::lexer::LexMode;

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
        // MySQL 8: TABLE statements, and DML after a CTE (whose target is written, the CTE never).
        ("TABLE users", true, &["users"], &[]),
        ("/* c */ TABLE `Shop`.`Orders` ORDER BY id LIMIT 2", true, &["shop.orders"], &[]),
        ("SELECT a FROM t UNION TABLE u", true, &["t", "u"], &[]),
        ("SELECT a FROM t WHERE a IN (TABLE u)", true, &["t", "u"], &[]),
        ("TABLE a; TABLE b;", true, &["a", "b"], &[]),
        ("WITH x AS (SELECT id FROM t) TABLE x", true, &["t"], &[]),
        ("WITH x AS (SELECT id FROM t) DELETE FROM u WHERE id IN (SELECT id FROM x)", true, &["t"], &["u"]),
        ("WITH x AS (SELECT id FROM t) UPDATE u JOIN x ON x.id = u.id SET u.a = 1", true, &["t"], &["u"]),
        ("VALUES ROW(1, 2), ROW(3, 4)", true, &[], &[]),
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

/// Runs `f` on a thread with a 256 KiB stack (tokio's workers have 2 MiB): what runs there within
/// bounds runs anywhere.
pub(crate) fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn a thread")
        .join()
        .expect("no panic on the small stack")
}

/// Statements whose trees are far too deep to walk by recursion.
pub(crate) fn hostile() -> Vec<(&'static str, String)> {
    vec![
        ("100k OR", format!("SELECT 1 FROM dual WHERE 1=0{}", " OR 1=1".repeat(100_000))),
        ("100k AND", format!("SELECT a FROM documents WHERE id = 1{}", " AND b = 2".repeat(100_000))),
        ("50k parentheses", format!("SELECT {}1{} FROM t", "(".repeat(50_000), ")".repeat(50_000))),
        ("100k +", format!("SELECT 1{} FROM t", " + 1".repeat(100_000))),
        (
            "10k subqueries",
            format!("SELECT * FROM t WHERE a IN {}1{}", "(SELECT ".repeat(10_000), ")".repeat(10_000)),
        ),
        ("100k UNION", format!("SELECT 1{}", " UNION SELECT 1".repeat(100_000))),
        ("10k JOIN", format!("SELECT * FROM t0{}", " JOIN t1".repeat(10_000))),
        ("100k NOT", format!("SELECT{} 1", " NOT".repeat(100_000))),
    ]
}

#[test]
fn statements_over_the_limits_are_not_parsed() {
    on_small_stack(|| {
        for (name, sql) in hostile() {
            let a = analyze(&sql);
            assert!(!a.parsed && a.too_complex, "{name}");
            assert!(a.tables_read.is_empty() && a.tables_written.is_empty(), "{name}");
            assert_eq!(a.unparsed(), Some(Unparsed::TooComplex), "{name}");
        }
    });
    assert_eq!(analyze("SELECT FROM WHERE").unparsed(), Some(Unparsed::Syntax));
    assert_eq!(analyze("SELECT 1").unparsed(), None);
}

#[test]
fn long_chains_under_the_limits_parse_on_a_small_stack() {
    on_small_stack(|| {
        // 4,000 ORs and 4,000 `=`: under MAX_OPERATORS, on a stack grown for them.
        let sql = format!("SELECT a FROM t WHERE id = 1{}", " OR b = 2".repeat(4_000));
        let a = analyze(&sql);
        assert!(a.parsed, "{:?}", a.unparsed());
        assert_eq!(a.tables_read, ["t"]);
        let sql = format!("DELETE FROM t WHERE id = 1{}", " AND b = 2 + 3".repeat(3_000));
        assert_eq!(analyze(&sql).tables_written, ["t"]);
        let sql = format!("SELECT * FROM t0{}", " JOIN t1".repeat(200));
        assert_eq!(analyze(&sql).tables_read, ["t0", "t1"]);
        let sql = format!("SELECT 1 FROM u{}", " UNION SELECT 1 FROM v".repeat(3_000));
        assert_eq!(analyze(&sql).tables_read, ["u", "v"]);
    });
    let limit = format!("SELECT 1 FROM t WHERE 1{}", " + 1".repeat(MAX_OPERATORS));
    assert!(analyze(&limit).parsed);
    let over = format!("SELECT 1 FROM t WHERE 1{}", " + 1".repeat(MAX_OPERATORS + 1));
    assert!(analyze(&over).too_complex);
}

#[test]
fn statements_are_parsed_in_their_mode() {
    let nbe = LexMode { no_backslash_escapes: true, ansi_quotes: false };
    let ansi = LexMode { no_backslash_escapes: false, ansi_quotes: true };
    // To the server in NO_BACKSLASH_ESCAPES these are two statements, the second a write.
    let sql = r"SELECT '\'; DELETE FROM t; -- '";
    assert_eq!(analyze(sql).tables_written, Vec::<String>::new());
    assert_eq!(analyze_with(sql, nbe).tables_written, ["t"]);
    // In ANSI_QUOTES `"Orders"` is a table.
    let sql = r#"SELECT * FROM "Orders" o JOIN "items" USING (id) WHERE a = "\"; DROP TABLE x; -- ""#;
    assert_eq!(analyze(sql).tables_written, Vec::<String>::new());
    assert_eq!(analyze_with(sql, ansi).tables_written, ["x"]);
    assert_eq!(analyze_with(sql, ansi).tables_read, ["items", "orders"]);
}
