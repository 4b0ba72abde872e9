//! The session's lexical mode (the parts of `sql_mode` that change where strings and statements end),
//! and the rewrite of a statement into the default mode's spelling for sqlparser.

use std::borrow::Cow;

use super::{LiteralKind, TokenKind, lex_tokens_with};

/// How the server reads quotes in this session. The default is MySQL's and MariaDB's default:
/// backslash escapes inside strings, `"…"` a string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LexMode {
    /// `NO_BACKSLASH_ESCAPES`: a backslash inside `'…'` or `"…"` is an ordinary character, so
    /// `'\'` is a whole string.
    pub no_backslash_escapes: bool,
    /// `ANSI_QUOTES`: `"…"` quotes an identifier, like backticks (doubled `""` inside, no escapes).
    pub ansi_quotes: bool,
}

/// `sql_mode` words that turn on `ANSI_QUOTES`: the flag itself and the combination modes that include
/// it (`ANSI` in MySQL and MariaDB; `DB2`, `MAXDB`, `MSSQL`, `ORACLE`, `POSTGRESQL` in MariaDB and
/// MySQL 5.7). None of the combination modes includes `NO_BACKSLASH_ESCAPES`.
const ANSI_QUOTES_MODES: &[&[u8]] =
    &[b"ANSI_QUOTES", b"ANSI", b"DB2", b"MAXDB", b"MSSQL", b"ORACLE", b"POSTGRESQL"];

impl LexMode {
    /// MySQL's default: backslash escapes, `"…"` strings.
    pub const DEFAULT: LexMode = LexMode { no_backslash_escapes: false, ansi_quotes: false };

    /// The mode a server `sql_mode` value gives (`STRICT_TRANS_TABLES,ANSI_QUOTES`…): comma-separated,
    /// case-insensitive, spaces around names ignored, unknown names ignored. The server reports the
    /// value expanded (`ANSI` reads back as `REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,…`), but a
    /// value as the client wrote it gives the same mode.
    pub fn from_sql_mode(value: &[u8]) -> LexMode {
        let mut mode = LexMode::DEFAULT;
        for name in value.split(|b| *b == b',') {
            let name = name.trim_ascii();
            if name.eq_ignore_ascii_case(b"NO_BACKSLASH_ESCAPES") {
                mode.no_backslash_escapes = true;
            } else if ANSI_QUOTES_MODES.iter().any(|m| name.eq_ignore_ascii_case(m)) {
                mode.ansi_quotes = true;
            }
        }
        mode
    }

    /// Whether this is the default mode.
    pub fn is_default(self) -> bool {
        self == LexMode::DEFAULT
    }
}

/// `sql` spelled so that the default mode reads the same tokens as `mode` does: under
/// NO_BACKSLASH_ESCAPES every backslash inside a string is doubled (`'a\'` → `'a\\'`); under
/// ANSI_QUOTES `"ident"` becomes `` `ident` ``. sqlparser (MySqlDialect) knows only the default mode;
/// given the original text it would see other statement boundaries and other tables than the server.
/// Every other byte is kept, so the token sequence (and the word ordinals the sharding code counts) is
/// the same. Borrowed when nothing changes.
pub fn to_default_mode(sql: &[u8], mode: LexMode) -> Cow<'_, [u8]> {
    if mode.is_default() || !sql.iter().any(|b| matches!(b, b'\\' | b'"')) {
        return Cow::Borrowed(sql);
    }
    let (_, toks) = lex_tokens_with(sql, mode);
    let mut out = Vec::with_capacity(sql.len() + sql.len() / 8);
    let mut done = 0;
    for t in &toks {
        let body = &sql[t.span.clone()];
        match t.kind {
            TokenKind::Literal(LiteralKind::String | LiteralKind::Hex | LiteralKind::Bit)
                if mode.no_backslash_escapes && body.contains(&b'\\') =>
            {
                out.extend_from_slice(&sql[done..t.span.start]);
                for &b in body {
                    out.push(b);
                    if b == b'\\' {
                        out.push(b'\\');
                    }
                }
                done = t.span.end;
            }
            TokenKind::Quoted if mode.ansi_quotes && body.first() == Some(&b'"') => {
                out.extend_from_slice(&sql[done..t.span.start]);
                // A backquoted identifier right before or after would merge with this one through
                // a doubled backtick (`` `c`"y" `` → `` `c``y` ``, found by the mode property test).
                if out.last() == Some(&b'`') {
                    out.push(b' ');
                }
                out.push(b'`');
                // The body is `"`, the name with `""` for each `"`, and the closing `"` unless the
                // identifier runs to the end of the text unterminated.
                let mut k = 1;
                while k < body.len() {
                    match body[k] {
                        b'"' if body.get(k + 1) == Some(&b'"') => {
                            out.push(b'"');
                            k += 1;
                        }
                        b'"' => out.push(b'`'),
                        b'`' => out.extend_from_slice(b"``"),
                        b => out.push(b),
                    }
                    k += 1;
                }
                if sql.get(t.span.end) == Some(&b'`') {
                    out.push(b' ');
                }
                done = t.span.end;
            }
            _ => {}
        }
    }
    if done == 0 {
        return Cow::Borrowed(sql);
    }
    out.extend_from_slice(&sql[done..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests;
