//! Passwords in statement text: `IDENTIFIED BY '…'`, `IDENTIFIED {WITH|VIA} plugin {BY|AS|USING} '…'`,
//! `PASSWORD('…')` / `OLD_PASSWORD('…')`, `SET PASSWORD [FOR …] = '…'`, and `… PASSWORD '…'` /
//! `…PASSWORD = '…'` (`CREATE SERVER … OPTIONS (PASSWORD '…')`, `CHANGE MASTER TO MASTER_PASSWORD = '…'`).
//! Whatever keeps a statement's text (digest samples, the slow log, captures) keeps it with those
//! strings replaced by `'***'`.
//!
//! The statement is recorded on every statement's path, so the check is in two steps: the normalized
//! digest text (short, lower-case, literals already `?`) is searched for `password` and `identified`
//! first, and only a statement holding one is tokenized again to find the strings.

use std::ops::Range;

use super::{Lexed, LiteralKind, TokenKind, lex_tokens_with};

/// Whether the statement whose normalized digest text is `text` may hold a password (a cheap check:
/// two substring searches over the digest text).
pub fn may_hold_secret(text: &str) -> bool {
    // std's substring search (SIMD-assisted for short needles); the text is lower-case already.
    text.contains("password") || text.contains("identified")
}

/// The byte ranges of `sql` (lexed as `lexed`) between the quotes of every string literal that holds
/// a password; empty for almost every statement (see [`may_hold_secret`]).
pub fn secret_spans(sql: &[u8], lexed: &Lexed) -> Vec<Range<usize>> {
    if !may_hold_secret(&lexed.text) {
        return Vec::new();
    }
    let (_, toks) = lex_tokens_with(sql, lexed.mode);
    let word = |i: usize| -> &[u8] {
        match toks.get(i) {
            Some(t) if t.kind == TokenKind::Word => sql.get(t.span.clone()).unwrap_or_default(),
            _ => b"",
        }
    };
    let is = |w: &[u8], k: &str| w.eq_ignore_ascii_case(k.as_bytes());
    let ends_password = |w: &[u8]| w.len() >= 8 && is(&w[w.len() - 8..], "password");
    let mut out = Vec::new();
    // Per statement: whether it said IDENTIFIED yet, whether it is SET PASSWORD, and its word count.
    let (mut identified, mut set_password, mut words) = (false, false, 0usize);
    let mut last_masked: Option<usize> = None;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            TokenKind::Semicolon => (identified, set_password, words) = (false, false, 0),
            TokenKind::Word => {
                let w = word(i);
                words += 1;
                if is(w, "identified") {
                    identified = true;
                }
                if words == 2 && is(w, "password") && is(word(i - 1), "set") {
                    set_password = true;
                }
            }
            TokenKind::Literal(LiteralKind::String) => {
                let prev = i.checked_sub(1).and_then(|p| toks.get(p)).map(|p| p.kind);
                let secret = match prev {
                    Some(TokenKind::Word) => {
                        let w = word(i - 1);
                        ends_password(w) || (identified && (is(w, "by") || is(w, "as") || is(w, "using")))
                    }
                    // PASSWORD('…'), OLD_PASSWORD('…').
                    Some(TokenKind::Open) => i >= 2 && ends_password(word(i - 2)),
                    // SET PASSWORD … = '…', MASTER_PASSWORD = '…'.
                    Some(TokenKind::Operator) => {
                        let op = sql.get(toks[i - 1].span.clone()).unwrap_or_default();
                        (op == b"=" || op == b":=")
                            && (set_password || (i >= 2 && ends_password(word(i - 2))))
                    }
                    // 'pass' 'word': adjacent strings are one.
                    Some(TokenKind::Literal(LiteralKind::String)) => last_masked == Some(i - 1),
                    _ => false,
                };
                if secret && let Some(inner) = between_quotes(sql, &t.span) {
                    out.push(inner);
                    last_masked = Some(i);
                }
            }
            _ => {}
        }
    }
    out
}

/// The range between a string literal's quotes (after any introducer such as `_utf8mb4` or `N`).
fn between_quotes(sql: &[u8], span: &Range<usize>) -> Option<Range<usize>> {
    let s = sql.get(span.clone())?;
    let q = s.iter().position(|b| *b == b'\'' || *b == b'"')?;
    (s.len() >= q + 2).then(|| span.start + q + 1..span.end - 1)
}

/// `text` with each of `spans` (ascending, from [`secret_spans`] of a text of the same length and
/// layout) replaced by `***`.
pub fn replace_spans(text: &[u8], spans: &[Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        if s.start < at || s.end > text.len() {
            continue;
        }
        out.extend_from_slice(&text[at..s.start]);
        out.extend_from_slice(b"***");
        at = s.end;
    }
    out.extend_from_slice(&text[at..]);
    out
}

/// `sql` with its passwords replaced by `***`, or `None` when it holds none (the common case, which
/// costs two substring searches over the digest text and allocates nothing).
pub fn mask_secrets(sql: &[u8], lexed: &Lexed) -> Option<Vec<u8>> {
    let spans = secret_spans(sql, lexed);
    (!spans.is_empty()).then(|| replace_spans(sql, &spans))
}

#[cfg(test)]
mod tests {
    use super::super::{LexMode, lex, lex_with};
    use super::*;

    fn masked(sql: &str) -> String {
        let l = lex(sql.as_bytes());
        match mask_secrets(sql.as_bytes(), &l) {
            Some(m) => String::from_utf8(m).expect("utf8"),
            None => sql.to_owned(),
        }
    }

    #[test]
    fn account_statements_lose_their_passwords() {
        let cases = [
            ("CREATE USER 'bob'@'%' IDENTIFIED BY 'S3cret!'", "CREATE USER 'bob'@'%' IDENTIFIED BY '***'"),
            ("alter user bob identified by \"S3cret\"", "alter user bob identified by \"***\""),
            (
                "CREATE USER IF NOT EXISTS bob@localhost IDENTIFIED BY PASSWORD '*94BDCEBE19083CE2A1F959FD02F964C7AF4CFC29'",
                "CREATE USER IF NOT EXISTS bob@localhost IDENTIFIED BY PASSWORD '***'",
            ),
            (
                "CREATE USER bob IDENTIFIED WITH mysql_native_password BY 'pw1'",
                "CREATE USER bob IDENTIFIED WITH mysql_native_password BY '***'",
            ),
            (
                "CREATE USER bob IDENTIFIED WITH caching_sha2_password AS '$A$005$hash'",
                "CREATE USER bob IDENTIFIED WITH caching_sha2_password AS '***'",
            ),
            (
                "ALTER USER bob IDENTIFIED VIA ed25519 USING PASSWORD('pw2') OR unix_socket",
                "ALTER USER bob IDENTIFIED VIA ed25519 USING PASSWORD('***') OR unix_socket",
            ),
            (
                "CREATE USER a IDENTIFIED BY 'x1', b IDENTIFIED BY 'x2'",
                "CREATE USER a IDENTIFIED BY '***', b IDENTIFIED BY '***'",
            ),
            ("GRANT ALL ON *.* TO bob IDENTIFIED BY 'pw3'", "GRANT ALL ON *.* TO bob IDENTIFIED BY '***'"),
            ("SET PASSWORD = PASSWORD('pw4')", "SET PASSWORD = PASSWORD('***')"),
            ("set password for 'bob'@'%' = 'hash5'", "set password for 'bob'@'%' = '***'"),
            ("SET PASSWORD FOR bob = OLD_PASSWORD('pw6')", "SET PASSWORD FOR bob = OLD_PASSWORD('***')"),
            (
                "SELECT PASSWORD('pw7'), password ( _utf8mb4'pw8' )",
                "SELECT PASSWORD('***'), password ( _utf8mb4'***' )",
            ),
            (
                "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='pw9'",
                "CHANGE MASTER TO MASTER_HOST='h', MASTER_PASSWORD='***'",
            ),
            (
                "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD 'pw10')",
                "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'u', PASSWORD '***')",
            ),
            ("ALTER USER bob IDENTIFIED BY 'pa' 'ss'", "ALTER USER bob IDENTIFIED BY '***' '***'"),
            (
                "CREATE USER /* c */ bob IDENTIFIED /* c */ BY /* c */ 'pw11'",
                "CREATE USER /* c */ bob IDENTIFIED /* c */ BY /* c */ '***'",
            ),
            ("ALTER USER bob IDENTIFIED BY 'it''s \\' here'", "ALTER USER bob IDENTIFIED BY '***'"),
        ];
        for (sql, want) in cases {
            assert_eq!(masked(sql), want, "{sql}");
        }
    }

    #[test]
    fn other_statements_are_left_alone() {
        for sql in [
            "SELECT * FROM users WHERE password = 'x' AND name = 'bob'",
            "SELECT 'a' AS x, b FROM t ORDER BY 'c'",
            "INSERT INTO t (password_hint) VALUES ('blue')",
            "UPDATE t SET v = 'identified by' WHERE id = 1",
            "SELECT 'set password = 1'",
        ] {
            let l = lex(sql.as_bytes());
            // `password = 'x'` in a WHERE is a comparison, but a column ending in password is masked:
            // masking too much in a sample is the safe side.
            let got = masked(sql);
            if sql.starts_with("SELECT * FROM users") {
                assert_eq!(got, "SELECT * FROM users WHERE password = '***' AND name = 'bob'");
            } else {
                assert_eq!(got, sql, "{sql}");
            }
            if !sql.contains("password") && !sql.contains("identified") {
                assert!(!may_hold_secret(&l.text), "{sql}");
            }
        }
    }

    #[test]
    fn each_statement_of_a_multi_statement_is_judged_alone() {
        assert_eq!(
            masked(
                "SET PASSWORD = 'a1'; SELECT 'b' = 'c'; CREATE USER u IDENTIFIED BY 'd'; SELECT 'x' AS 'y'"
            ),
            "SET PASSWORD = '***'; SELECT 'b' = 'c'; CREATE USER u IDENTIFIED BY '***'; SELECT 'x' AS 'y'"
        );
    }

    #[test]
    fn the_session_mode_decides_where_strings_end() {
        // NO_BACKSLASH_ESCAPES: `\` ends nothing; the whole string is the password.
        let sql = br"ALTER USER bob IDENTIFIED BY 'a\' ; SELECT 1";
        let mode = LexMode { no_backslash_escapes: true, ..LexMode::DEFAULT };
        let l = lex_with(sql, mode);
        assert_eq!(
            mask_secrets(sql, &l).as_deref(),
            Some(&br"ALTER USER bob IDENTIFIED BY '***' ; SELECT 1"[..])
        );
    }

    #[test]
    fn the_digest_text_check_is_what_gates_the_work() {
        assert!(may_hold_secret("create user ? identified by ?"));
        assert!(may_hold_secret("set password = password (?)"));
        assert!(!may_hold_secret("select c from sbtest1 where id = ?"));
        assert!(!may_hold_secret(""));
    }
}
