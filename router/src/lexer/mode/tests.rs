//! Lexing in each session mode: the hostile statements whose boundaries differ by mode, literal
//! spans, digests, and the default-mode spelling sqlparser is given.

use super::super::{LiteralKind, Token, TokenKind, lex, lex_tokens_with, lex_with};
use super::*;

const NBE: LexMode = LexMode { no_backslash_escapes: true, ansi_quotes: false };
const ANSI: LexMode = LexMode { no_backslash_escapes: false, ansi_quotes: true };
const BOTH: LexMode = LexMode { no_backslash_escapes: true, ansi_quotes: true };

fn spans(sql: &str, mode: LexMode) -> Vec<&str> {
    lex_with(sql.as_bytes(), mode).literals.iter().map(|l| &sql[l.span.clone()]).collect()
}

fn statements(sql: &str, mode: LexMode) -> Vec<&str> {
    lex_with(sql.as_bytes(), mode).statements.iter().map(|r| &sql[r.clone()]).collect()
}

#[test]
fn sql_mode_values() {
    assert_eq!(LexMode::from_sql_mode(b""), LexMode::DEFAULT);
    assert_eq!(LexMode::from_sql_mode(b"STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"), LexMode::DEFAULT);
    assert_eq!(LexMode::from_sql_mode(b"NO_BACKSLASH_ESCAPES"), NBE);
    assert_eq!(LexMode::from_sql_mode(b"strict_trans_tables, no_backslash_escapes "), NBE);
    assert_eq!(LexMode::from_sql_mode(b"ANSI_QUOTES"), ANSI);
    assert_eq!(LexMode::from_sql_mode(b"REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI"), ANSI);
    for combination in ["ansi", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MaxDB"] {
        assert_eq!(LexMode::from_sql_mode(combination.as_bytes()), ANSI, "{combination}");
    }
    assert_eq!(LexMode::from_sql_mode(b"ANSI_QUOTES,NO_BACKSLASH_ESCAPES"), BOTH);
    // Names are whole words: no prefix or suffix matches.
    assert_eq!(LexMode::from_sql_mode(b"ANSI_QUOTESX,XANSI,NO_BACKSLASH"), LexMode::DEFAULT);
    assert_eq!(LexMode::default(), LexMode::DEFAULT);
    assert!(LexMode::DEFAULT.is_default() && !NBE.is_default());
}

#[test]
fn no_backslash_escapes_ends_the_string_at_the_quote() {
    let hostile = r"SELECT '\'; LOCK TABLES t WRITE; -- '";
    // The default mode: one string to the end, one statement.
    assert_eq!(statements(hostile, LexMode::DEFAULT), vec![hostile]);
    assert_eq!(lex(hostile.as_bytes()).text, "select ?");
    // The server in NO_BACKSLASH_ESCAPES: `'\'` is the whole string, then a second statement.
    assert_eq!(statements(hostile, NBE), vec![r"SELECT '\'", "LOCK TABLES t WRITE"]);
    assert_eq!(spans(hostile, NBE), vec![r"'\'"]);
    let l = lex_with(hostile.as_bytes(), NBE);
    assert_eq!(l.text, "select ?; lock tables t write");
    assert_eq!(l.mode, NBE);
    assert_ne!(l.digest, lex(hostile.as_bytes()).digest);
    // Literal spans: two strings, not one string and a stray word.
    let sql = r"SELECT 'a\', 'b' FROM t";
    assert_eq!(spans(sql, NBE), vec![r"'a\'", "'b'"]);
    assert_eq!(lex_with(sql.as_bytes(), NBE).text, "select ?, ? from t");
    assert_eq!(spans(sql, LexMode::DEFAULT), vec![r"'a\', '", "b' FROM t"]);
    // Doubled quotes still escape; so do prefixed literals' and `"…"` strings' quotes.
    assert_eq!(
        spans(r"SELECT 'it''s\', _utf8mb4'x\', X'ab', 'z'", NBE),
        vec![r"'it''s\'", r"_utf8mb4'x\'", "X'ab'", "'z'"]
    );
    assert_eq!(statements(r#"SELECT "\"; SELECT 2"#, NBE), vec![r#"SELECT "\""#, "SELECT 2"]);
}

#[test]
fn ansi_quotes_make_double_quotes_an_identifier() {
    // `"a';"` is an identifier: kept in the digest as written, no literal.
    let sql = r#"SELECT "a';" FROM t"#;
    let l = lex_with(sql.as_bytes(), ANSI);
    assert_eq!(l.text, r#"select "a';" from t"#);
    assert!(l.literals.is_empty());
    assert_eq!(lex(sql.as_bytes()).text, "select ? from t");
    // No backslash escapes inside an identifier: the statement ends at the `;`.
    let hostile = r#"SELECT "a\" FROM t; DELETE FROM u; -- ""#;
    assert_eq!(statements(hostile, LexMode::DEFAULT), vec![hostile]);
    assert_eq!(statements(hostile, ANSI), vec![r#"SELECT "a\" FROM t"#, "DELETE FROM u"]);
    assert_eq!(lex_with(hostile.as_bytes(), ANSI).text, r#"select "a\" from t; delete from u"#);
    // A doubled `""` stays inside; `'…'` is still a string; `N"x"` is a word and an identifier.
    let sql = r#"SELECT "a""b", 'c' FROM "t""#;
    assert_eq!(spans(sql, ANSI), vec!["'c'"]);
    assert_eq!(lex_with(sql.as_bytes(), ANSI).text, r#"select "a""b", ? from "t""#);
    assert_eq!(lex_with(br#"SELECT N"x""#, ANSI).text, r#"select n "x""#);
    // Identifiers are word tokens for the sharding code, like backquoted ones.
    let (_, toks) = lex_tokens_with(br#"SELECT "x" FROM `y`"#, ANSI);
    let kinds: Vec<TokenKind> = toks.iter().map(|t: &Token| t.kind).collect();
    assert_eq!(kinds, vec![TokenKind::Word, TokenKind::Quoted, TokenKind::Word, TokenKind::Quoted]);
    // Both modes at once.
    assert_eq!(statements(r#"SELECT '\', "\"; SELECT 1"#, BOTH), vec![r#"SELECT '\', "\""#, "SELECT 1"]);
}

#[test]
fn the_default_mode_is_unchanged() {
    for sql in [&b"SELECT c FROM sbtest1 WHERE id=4711"[..], br#"SELECT 'a\'b', "c\"d" FROM t"#, b""] {
        assert_eq!(lex_with(sql, LexMode::DEFAULT), lex(sql));
    }
    // A statement without quotes or backslashes has one digest in every mode.
    let sql = b"SELECT c FROM sbtest1 WHERE id=4711";
    for mode in [NBE, ANSI, BOTH] {
        assert_eq!(lex_with(sql, mode).digest, lex(sql).digest);
    }
    assert_eq!(lex(br"SELECT '\''").literals[0].kind, LiteralKind::String);
}

#[test]
fn normalizing_is_idempotent_in_each_mode() {
    let samples = [
        r"SELECT '\'; LOCK TABLES t WRITE; -- '",
        r#"SELECT "a';" FROM t WHERE b IN (1, 2) AND c = 'x\'"#,
        r#"SELECT "a\" FROM t; DELETE FROM u; -- ""#,
        r#"INSERT INTO "t" ("a", `b`) VALUES (1, '\'), (2, 'y')"#,
        r#"SELECT "unterminated"#,
    ];
    for mode in [LexMode::DEFAULT, NBE, ANSI, BOTH] {
        for sql in samples {
            let once = lex_with(sql.as_bytes(), mode);
            let twice = lex_with(once.text.as_bytes(), mode);
            assert_eq!(twice.text, once.text, "{mode:?} {sql}");
            assert_eq!(twice.digest, once.digest);
        }
    }
}

#[test]
fn default_mode_spelling_keeps_the_tokens() {
    let cases: &[(LexMode, &str, &str)] = &[
        (NBE, r"SELECT 'a\'; SELECT 'b'", r"SELECT 'a\\'; SELECT 'b'"),
        (NBE, r"SELECT 'a\'' ", r"SELECT 'a\\'' "),
        (ANSI, r#"SELECT "a""b`c" FROM "t"#, r#"SELECT `a"b``c` FROM `t"#),
        (ANSI, r#"SELECT "x" FROM t WHERE a = "#, "SELECT `x` FROM t WHERE a = "),
        (BOTH, r#"SELECT "\" FROM t WHERE a = 'q\'"#, r"SELECT `\` FROM t WHERE a = 'q\\'"),
        (NBE, "SELECT 1", "SELECT 1"),
        (ANSI, r#"SELECT `c`"y" FROM "t"`u`"#, "SELECT `c` `y` FROM `t` `u`"),
    ];
    for (mode, sql, want) in cases {
        let got = to_default_mode(sql.as_bytes(), *mode);
        assert_eq!(String::from_utf8_lossy(&got), *want, "{mode:?} {sql}");
        let (a, ta) = lex_tokens_with(sql.as_bytes(), *mode);
        let (b, tb) = lex_tokens_with(&got, LexMode::DEFAULT);
        assert_eq!(a.statements.len(), b.statements.len(), "{sql}");
        let kinds = |t: &[Token]| t.iter().map(|t| t.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&ta), kinds(&tb), "{sql}");
    }
}

proptest::proptest! {
    /// The `lexer` fuzz target's properties, in every mode, on SQL-like text.
    #[test]
    fn each_mode_normalizes_idempotently_and_spells_the_same_tokens(
        pick in 0u8..4,
        s in "(SELECT|a|`c`|'x|\"y|\\\\|''|\"\"|;|/\\*!|\\*/|-- |\n|_utf8|X|N|\\(|\\)|,|=| ){1,40}",
    ) {
        let mode = LexMode { no_backslash_escapes: pick & 1 != 0, ansi_quotes: pick & 2 != 0 };
        let once = lex_with(s.as_bytes(), mode);
        let twice = lex_with(once.text.as_bytes(), mode);
        proptest::prop_assert_eq!(&twice.text, &once.text);
        let (_, toks) = lex_tokens_with(s.as_bytes(), mode);
        let spelled = to_default_mode(s.as_bytes(), mode);
        let (d, dtoks) = lex_tokens_with(&spelled, LexMode::DEFAULT);
        proptest::prop_assert_eq!(d.statements.len(), once.statements.len());
        let kinds = |t: &[Token]| t.iter().map(|t| t.kind).collect::<Vec<_>>();
        proptest::prop_assert_eq!(kinds(&dtoks), kinds(&toks));
    }
}
