//! Lexer tests by topic: literals, comments and hints, executable comments, folding, statement
//! boundaries, and every statement of ../shared/cases/routing.tsv.

use super::*;

fn norm(sql: &str) -> String {
    lex(sql.as_bytes()).text
}

#[test]
fn literals_become_placeholders_with_spans() {
    let sql = "SELECT * FROM t WHERE a = 'it''s' AND b = \"x\\\"y\" AND c = -1.5e3 AND d = 0x1F AND e = X'ab' AND f = b'01' AND g = _utf8mb4'z' AND h = 0b11 AND i IS NULL";
    let l = lex(sql.as_bytes());
    assert_eq!(
        l.text,
        "select * from t where a = ? and b = ? and c = ? and d = ? and e = ? and f = ? and g = ? and h = ? and i is null"
    );
    let got: Vec<(&str, LiteralKind)> = l.literals.iter().map(|x| (&sql[x.span.clone()], x.kind)).collect();
    assert_eq!(
        got,
        vec![
            ("'it''s'", LiteralKind::String),
            ("\"x\\\"y\"", LiteralKind::String),
            ("-1.5e3", LiteralKind::Number),
            ("0x1F", LiteralKind::Hex),
            ("X'ab'", LiteralKind::Hex),
            ("b'01'", LiteralKind::Bit),
            ("_utf8mb4'z'", LiteralKind::String),
            ("0b11", LiteralKind::Bit),
        ]
    );
}

#[test]
fn minus_is_a_sign_only_where_an_operand_is_expected() {
    assert_eq!(norm("SELECT a-1 FROM t"), "select a - ? from t");
    assert_eq!(norm("SELECT 1--1"), "select ? - ?");
    assert_eq!(norm("SELECT name FROM users WHERE id = 1--1"), "select name from users where id = ? - ?");
    assert_eq!(norm("SELECT -1, (-2)"), "select ?, (?)");
    assert_eq!(lex(b"SELECT 1--1").literals.len(), 2);
    assert_eq!(norm("SELECT 1 -- a comment\n + 2"), "select ? + ?");
}

#[test]
fn comments_dropped_hints_kept_apart() {
    let l = lex(b"/* app=web */ SELECT name FROM users WHERE id = 3 -- trailing\n# another\n");
    assert_eq!(l.text, "select name from users where id = ?");
    assert!(l.hints.items.is_empty());
    let l = lex(b"/* sluice: cache ttl=30s */ SELECT 1 FROM t");
    assert!(l.hints.has("cache"));
    assert_eq!(l.hints.get("ttl"), Some("30s"));
    assert_eq!(l.text, "select ? from t");
    assert_eq!(l.digest, lex(b"SELECT 1 FROM t").digest);
}

#[test]
fn executable_comments_and_optimizer_hints_are_code() {
    let l = lex(b"/*!40000 ALTER TABLE users DISABLE KEYS */");
    assert_eq!(l.text, "alter table users disable keys");
    assert!(l.executable_comment);
    assert_eq!(l.first_keyword, "alter");
    let l = lex(b"/*M!100100 SET STATEMENT max_statement_time=1 FOR */ UPDATE users SET n = 1 WHERE id = 2");
    assert_eq!(l.text, "set statement max_statement_time = ? for update users set n = ? where id = ?");
    assert_eq!(
        norm("SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t"),
        "select /*+ max_execution_time (?) */ * from t"
    );
}

#[test]
fn lists_fold_whatever_their_length() {
    let a = lex(b"SELECT * FROM t WHERE id IN (1, 2, 3)");
    let b = lex(b"select * from t where id in (7)");
    assert_eq!(a.text, "select * from t where id in (...)");
    assert_eq!(a.digest, b.digest);
    let a = lex(b"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')");
    let b = lex(b"INSERT INTO t (a, b) VALUES (9, 'q')");
    assert_eq!(a.text, "insert into t (a, b) values (...)");
    assert_eq!(a.digest, b.digest);
    // Function arguments do not fold.
    assert_eq!(norm("SELECT COALESCE(a, 1) FROM t"), "select coalesce (a, ?) from t");
    assert_eq!(
        norm("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))"),
        "select * from t where (a, b) in (...)"
    );
}

#[test]
fn case_and_whitespace_fold_but_shapes_differ() {
    assert_eq!(
        lex(b"SELECT c FROM sbtest1 WHERE id = 42").digest,
        lex(b"select  c\n from sbtest1 where id=7").digest
    );
    assert_ne!(
        lex(b"SELECT c FROM sbtest1 WHERE id = 1").digest,
        lex(b"SELECT k FROM sbtest1 WHERE id = 1").digest
    );
    assert_eq!(norm("SELECT * FROM `My Table`"), "select * from `My Table`");
    assert_eq!(norm("SELECT u.name FROM app.users u"), "select u.name from app.users u");
}

#[test]
fn statement_boundaries() {
    assert_eq!(statement_count(b"SELECT ';'"), 1);
    assert_eq!(statement_count(b"SELECT 1; "), 1);
    assert_eq!(statement_count(b"SELECT 1;;  -- done\n"), 1);
    assert_eq!(statement_count(b"SELECT 1;SELECT 2"), 2);
    assert_eq!(statement_count(b"SELECT 1; /* c */ SELECT 2; SELECT 3;"), 3);
    assert_eq!(statement_count(b"SELECT 'a;b'; SELECT \"c;d\"; SELECT `e;f`"), 3);
    let l = lex(b"SELECT 1; SELECT 2");
    assert_eq!(l.statements, vec![0..8, 10..18]);
    assert_eq!(l.text, "select ?; select ?");
}

#[test]
fn garbage_never_panics() {
    for s in [
        &b"'unterminated"[..],
        b"/* open",
        b"`x",
        b"\xff\xfe\x00",
        b"-",
        b"0x",
        b"_'",
        b"/*!",
        b"*/",
        b"--",
        b"1e",
        b"x'",
        b"",
    ] {
        let l = lex(s);
        for lit in &l.literals {
            assert!(lit.span.end <= s.len());
        }
    }
}

#[test]
fn normalizing_is_idempotent_on_samples() {
    for s in ["SELECT a FROM t WHERE b IN (1,2) AND c = 'x'", "INSERT INTO t VALUES (1),(2)", "SELECT 1--1"] {
        let once = lex(s.as_bytes());
        assert_eq!(lex(once.text.as_bytes()).digest, once.digest, "{s}");
    }
}

#[test]
fn every_routing_case_lexes() {
    let text = crate::routing_cases();
    let mut n = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let sql = line.splitn(3, '\t').nth(2).expect("three columns");
        let l = lex(sql.as_bytes());
        assert_eq!(l.statements.len(), 1, "{sql}");
        assert!(!l.first_keyword.is_empty(), "{sql}");
        assert!(!l.text.contains('\''), "literal left in {:?}", l.text);
        n += 1;
    }
    assert!(n >= 60, "only {n} cases");
    assert!(lex(b"/* sluice: primary */ SELECT name FROM users WHERE id = 3").hints.has("primary"));
    assert!(lex(b"/* sluice: replica */ SELECT name FROM users WHERE id = 3").hints.has("replica"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_and_spans_are_sane(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let l = lex(&bytes);
        let mut last = 0;
        for lit in &l.literals {
            proptest::prop_assert!(lit.span.start >= last && lit.span.end <= bytes.len() && lit.span.start < lit.span.end);
            last = lit.span.end;
        }
        proptest::prop_assert!(!l.statements.is_empty());
    }

    #[test]
    fn sql_like_text_normalizes_idempotently(s in "(SELECT|select|INSERT INTO t VALUES|WHERE|IN|AND|a|b|`c`|'x'|\"y\"|42|-7|1\\.5|0x1f|\\(|\\)|,|=|<=|\\+|-| ){1,40}") {
        let once = lex(s.as_bytes());
        let twice = lex(once.text.as_bytes());
        proptest::prop_assert_eq!(twice.text, once.text);
    }
}

#[test]
fn stray_continuation_bytes_after_an_operator_normalize_stably() {
    // Found by the `lexer` fuzz target: `>` followed by a lone UTF-8 continuation byte was one token
    // whose lossy text lexed as two on a second pass.
    // And `. . .` (glued dots) against `...` (one token) the second time, a vertical tab after `;`, a
    // `;` inside an executable comment, an empty executable comment between two `;`.
    for sql in [
        &b">\x8f>>"[..],
        b"a =\x80 1",
        b"x<\xbf\xbf",
        b"\x8f..\x0b.",
        b"a . . . b",
        b";\x0b\x0b",
        b"/*!/;*/;",
        b"*/;  /*!*/;  1",
        b"---;/**/\r/*!*/\r/*x",
    ] {
        let once = lex(sql);
        assert_eq!(lex(once.text.as_bytes()).text, once.text, "{:?}", String::from_utf8_lossy(sql));
    }
    assert_eq!(lex(b">\x8f>>").text, "> \u{fffd} >>");
    // A vertical tab is whitespace, also after a `;`: one statement.
    assert_eq!(lex(b"SELECT 1;\x0b").statements.len(), 1);
}

#[test]
fn a_list_holding_an_unfolded_list_does_not_fold_over_an_optimizer_hint() {
    // Found by the `lexer` fuzz target (an 8-minute run): `VALUES ((x /*+ …))` folded the outer list,
    // swallowing the hint's `/*+` but not its later `*/`, which lexed as `* /` the second time.
    let crashes: [&[u8]; 2] = [
        b"SELECSELECT)) VALUES ((\x8d\x8d\x8d\x8dT /*+ ELECESLECT))\0\0\0\0\0\0\0\0\0\xfe\0@\0\0\0\0\0\0\x08\0\0\0\0\0 \
          VALUES ((\x8d\x8d\x8d\x8dT /||!MAW_EXate'00'_ToQf8 1 SE*/; {KIqM",
        b"INSERT INTO t VALUES ((a /*+ b)) c; KILL QUERY 5 */; d",
    ];
    for sql in crashes {
        let once = lex(sql);
        assert_eq!(lex(once.text.as_bytes()).text, once.text, "{:?}", String::from_utf8_lossy(sql));
    }
    assert_eq!(lex(b"INSERT INTO t VALUES ((x /*+ y)) z */").text, "insert into t values ((x /*+ y)) z */");
    // Lists of values (and lists of such lists) still fold.
    assert_eq!(lex(b"INSERT INTO t VALUES ((1, 2), (3, 4))").text, "insert into t values (...)");
    assert_eq!(
        lex(b"SELECT 1 FROM t WHERE (a, b) IN ((1, 2), (3, 4))").text,
        "select ? from t where (a, b) in (...)"
    );
}

#[test]
fn digest_ids_are_stable_across_releases() {
    // Digest ids are shown to operators and stored in captures: changing them is a breaking change.
    assert_eq!(lex(b"SELECT c FROM sbtest1 WHERE id=4711").text, "select c from sbtest1 where id = ?");
    assert_eq!(format!("{:016x}", lex(b"SELECT c FROM sbtest1 WHERE id=4711").digest), STABLE_POINT_SELECT);
}

const STABLE_POINT_SELECT: &str = "bd1f2301c6836772";

#[test]
fn adversarial_inputs_lex_in_one_pass() {
    // Not timed here (benches/benches/lexer_adversarial.rs measures ns per byte): each of these was
    // or could have been more than linear. Every `/*!` used to look for its `*/` to the end.
    let openers = "/*!".repeat(100_000);
    let l = lex(openers.as_bytes());
    assert!(l.executable_comment && l.text.is_empty());
    assert_eq!(lex(format!("SELECT 1 {openers} FROM t").as_bytes()).text, "select ? from t");
    let hints = "/*+ ".repeat(100_000);
    assert_eq!(lex(hints.as_bytes()).text.len(), "/*+ ".len() * 100_000 - 1);
    // Folded rows collapse in one pass.
    let rows = format!("INSERT INTO t VALUES (1){}", ", (2)".repeat(100_000));
    assert_eq!(lex(rows.as_bytes()).text, "insert into t values (...)");
    // Deep parentheses: only the innermost MAX_TRACKED_PARENS are tracked for folding; deeper ones
    // never fold, so the list around them does not either, and normalizing again is stable.
    let deep = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(lex(deep.as_bytes()).text, format!("select {}?{}", "(".repeat(100_000), ")".repeat(100_000)));
    for depth in [10, 300] {
        let sql = format!("SELECT 1 FROM t WHERE a IN {}1{}", "(".repeat(depth), ")".repeat(depth));
        let once = lex(sql.as_bytes());
        assert_eq!(once.text.ends_with("in (...)"), depth == 10, "{depth}");
        assert_eq!(lex(once.text.as_bytes()).text, once.text);
    }
    assert_eq!(statement_count(";".repeat(100_000).as_bytes()), 1);
    assert_eq!(statement_count("SELECT 1;".repeat(10_000).as_bytes()), 10_000);
}
