//! The digest lexer: one pass over a statement's bytes that normalizes it (literals → `?`, IN/VALUES
//! lists folded to `(...)`, case and whitespace folded, comments dropped except sluice hints, optimizer
//! hints and executable comments, which are code), and yields its 64-bit digest id, the byte spans of its
//! literals, its sluice hints and its statement boundaries. Never panics, whatever the bytes, and takes
//! time linear in their length. Strings end where the server ends them in the session's [`LexMode`]
//! (NO_BACKSLASH_ESCAPES, ANSI_QUOTES): a statement boundary found in another mode than the server's
//! would let a second statement through as part of a string.

use std::ops::Range;

mod mode;
mod out;
mod scan;
mod secrets;

pub use mode::LexMode;
pub use mode::to_default_mode;
use out::{Out, Prev, is_sign};
use scan::{
    find, is_comment_start, is_space, is_word_byte, line_end, next_non_space, number_end, operator_end,
    parse_hint, quoted_end, skip_digits, word_end,
};
pub use secrets::{mask_secrets, may_hold_secret, replace_spans, secret_spans};

/// What a literal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// `'…'` or `"…"`, with an optional charset introducer (`_utf8mb4'…'`, `N'…'`).
    String,
    /// Integer or decimal, with a unary minus folded in when there is one.
    Number,
    /// `0x…` or `X'…'`.
    Hex,
    /// `0b…` or `b'…'`.
    Bit,
}

/// A literal's place in the original statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// Byte range in the statement as received.
    pub span: Range<usize>,
    /// Its kind.
    pub kind: LiteralKind,
}

/// `/* sluice: key key=value … */` hints, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// Keys (lower-case) with optional values.
    pub items: Vec<(String, Option<String>)>,
}

impl Hints {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.items.iter().any(|(k, _)| k == key)
    }

    /// The value of `key=value`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
    }
}

/// The result of lexing one COM_QUERY text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexed {
    /// Stable 64-bit id of `text` (the same in every process and release; see `hash64`).
    pub digest: u64,
    /// Normalized text, e.g. `select c from sbtest1 where id = ?`.
    pub text: String,
    /// Literals in order of appearance.
    pub literals: Vec<Literal>,
    /// sluice hints.
    pub hints: Hints,
    /// Byte ranges of the statements (one unless the text holds several separated by `;`).
    pub statements: Vec<Range<usize>>,
    /// First keyword of the first statement, lower-case (`select`, `insert`, `with`, `alter`…); a
    /// control byte when the text starts with one (no SQL does), so that no word after it counts.
    pub first_keyword: String,
    /// Whether the text holds `/*! … */` or `/*M! … */` code.
    pub executable_comment: bool,
    /// The mode it was lexed in (the plan cache parses the statement in the same mode).
    pub mode: LexMode,
}

/// What a [`Token`] is (for the shard rewriter: only what it needs to find identifiers and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A word: keyword or unquoted identifier (also `@var`).
    Word,
    /// A backquoted identifier.
    Quoted,
    /// A literal.
    Literal(LiteralKind),
    /// A `?` placeholder.
    Param,
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// `,`.
    Comma,
    /// `;`.
    Semicolon,
    /// Any other operator or punctuation (`.`, `=`, `+`…).
    Operator,
}

/// One token of the statement as received, with its byte span. Words are the tokens the digest keeps
/// as text, so two statements with the same digest text have the same sequence of words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Byte range in the statement.
    pub span: Range<usize>,
    /// Its kind.
    pub kind: TokenKind,
}

/// Lexes a COM_QUERY text (any bytes) in the default mode.
pub fn lex(sql: &[u8]) -> Lexed {
    lex_inner(sql, LexMode::DEFAULT, None)
}

/// Lexes a COM_QUERY text as a session in `mode` sends it (see [`LexMode::from_sql_mode`]): the
/// statement boundaries and literals are the server's for that session.
pub fn lex_with(sql: &[u8], mode: LexMode) -> Lexed {
    lex_inner(sql, mode, None)
}

/// Lexes and also returns every token with its span (the sharding path; the plain path allocates none).
pub fn lex_tokens(sql: &[u8]) -> (Lexed, Vec<Token>) {
    lex_tokens_with(sql, LexMode::DEFAULT)
}

/// [`lex_tokens`] in `mode`.
pub fn lex_tokens_with(sql: &[u8], mode: LexMode) -> (Lexed, Vec<Token>) {
    let mut toks = Vec::with_capacity(sql.len() / 4);
    let l = lex_inner(sql, mode, Some(&mut toks));
    (l, toks)
}

/// One pass over `sql`. Every branch moves `i` past what it read and nothing reads ahead further than
/// the token it is in, so the time is linear in the input whatever it holds (an unclosed `/*!` no
/// longer looks for its `*/`: the `*/` is found when the loop reaches it).
fn lex_inner(sql: &[u8], mode: LexMode, mut toks: Option<&mut Vec<Token>>) -> Lexed {
    let mut tok = |span: Range<usize>, kind: TokenKind| {
        if let Some(t) = toks.as_mut() {
            t.push(Token { span, kind });
        }
    };
    let mut out = Out::new(sql.len());
    let mut lx = Lexed { mode, ..Lexed::default() };
    let escapes = !mode.no_backslash_escapes;
    let n = sql.len();
    let mut i = 0;
    // Executable comments and optimizer hints being lexed as code, innermost last (true = optimizer hint).
    let mut code_comments: Vec<bool> = Vec::new();
    let mut stmt_start = 0;
    let mut pending_semicolon: Option<usize> = None;
    let mut saw_code = false;
    while i < n {
        let c = sql[i];
        // A statement after a `;` starts at its first code byte.
        // The `*/` closing an executable comment is not code either (it made a `;` inside the comment
        // one ending a statement, found by the `lexer` fuzz target).
        let closes_code_comment = c == b'*' && !code_comments.is_empty() && sql.get(i + 1) == Some(&b'/');
        let starts_code = !is_space(c) && c != b';' && !is_comment_start(sql, i) && !closes_code_comment;
        if starts_code {
            if let Some(end) = pending_semicolon.take() {
                lx.statements.push(stmt_start..end);
                stmt_start = i;
                out.sep = true;
                out.prev = Prev::Start;
            }
            saw_code = true;
        }
        match c {
            c if is_space(c) => i += 1,
            b';' => {
                pending_semicolon.get_or_insert(i);
                tok(i..i + 1, TokenKind::Semicolon);
                i += 1;
            }
            b'#' => i = line_end(sql, i),
            b'-' if sql.get(i + 1) == Some(&b'-') && sql.get(i + 2).is_none_or(|b| *b <= b' ') => {
                i = line_end(sql, i)
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => {
                let body = i + 2;
                match sql.get(body) {
                    Some(b'!') => {
                        lx.executable_comment = true;
                        code_comments.push(false);
                        i = skip_digits(sql, body + 1);
                    }
                    Some(b'M') if sql.get(body + 1) == Some(&b'!') => {
                        lx.executable_comment = true;
                        code_comments.push(false);
                        i = skip_digits(sql, body + 2);
                    }
                    Some(b'+') => {
                        // Optimizer hints are code; they stay in the digest (case-folded).
                        out.token("/*+", Prev::Operator);
                        code_comments.push(true);
                        i = body + 1;
                    }
                    _ => {
                        // Only a plain comment looks for its end (and jumps there): an executable
                        // comment's or hint's `*/` is met by the loop, so no byte is scanned twice.
                        let end = find(sql, body, b"*/").unwrap_or(n);
                        parse_hint(&sql[body..end], &mut lx.hints);
                        i = (end + 2).min(n);
                    }
                }
            }
            b'*' if !code_comments.is_empty() && sql.get(i + 1) == Some(&b'/') => {
                if code_comments.pop() == Some(true) {
                    out.token("*/", Prev::Operator);
                }
                i += 2;
            }
            b'"' if mode.ansi_quotes => {
                // An identifier, kept in the digest as written (like a backquoted one).
                let end = quoted_end(sql, i, b'"', false);
                tok(i..end, TokenKind::Quoted);
                out.token(&String::from_utf8_lossy(&sql[i..end]), Prev::Word);
                i = end;
            }
            b'\'' | b'"' => {
                let end = quoted_end(sql, i, c, escapes);
                tok(i..end, TokenKind::Literal(LiteralKind::String));
                literal(&mut out, &mut lx, i..end, LiteralKind::String);
                i = end;
            }
            b'`' => {
                let end = quoted_end(sql, i, b'`', false);
                tok(i..end, TokenKind::Quoted);
                out.token(&String::from_utf8_lossy(&sql[i..end]), Prev::Word);
                i = end;
            }
            b'0'..=b'9' => {
                let (end, kind) = number_end(sql, i);
                tok(i..end, TokenKind::Literal(kind));
                literal(&mut out, &mut lx, i..end, kind);
                i = end;
            }
            b'.' if sql.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !matches!(out.prev, Prev::Word | Prev::Value) =>
            {
                let (end, kind) = number_end(sql, i);
                tok(i..end, TokenKind::Literal(kind));
                literal(&mut out, &mut lx, i..end, kind);
                i = end;
            }
            b'-' | b'+' if is_sign(sql, i, &out) => {
                let (end, kind) = number_end(sql, next_non_space(sql, i + 1));
                tok(i..end, TokenKind::Literal(kind));
                literal(&mut out, &mut lx, i..end, kind);
                i = end;
            }
            b'(' => {
                tok(i..i + 1, TokenKind::Open);
                out.open();
                i += 1;
            }
            b')' => {
                tok(i..i + 1, TokenKind::Close);
                out.close();
                i += 1;
            }
            b',' => {
                tok(i..i + 1, TokenKind::Comma);
                out.token(",", Prev::Comma);
                i += 1;
            }
            b'?' => {
                tok(i..i + 1, TokenKind::Param);
                out.token("?", Prev::Value);
                i += 1;
            }
            c if is_word_byte(c) || c >= 0x80 => {
                let end = word_end(sql, i);
                // Introducers and prefixed literals: _charset'…', N'…', X'…', B'…'.
                // Under ANSI_QUOTES `"` after a word starts an identifier, never a literal.
                let quote = sql.get(end).copied();
                if quote == Some(b'\'') || (quote == Some(b'"') && !mode.ansi_quotes) {
                    let w = &sql[i..end];
                    let kind = match w {
                        [b'x' | b'X'] => Some(LiteralKind::Hex),
                        [b'b' | b'B'] => Some(LiteralKind::Bit),
                        [b'n' | b'N'] => Some(LiteralKind::String),
                        [b'_', ..] => Some(LiteralKind::String),
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        let q = quoted_end(sql, end, sql[end], escapes);
                        tok(i..q, TokenKind::Literal(kind));
                        literal(&mut out, &mut lx, i..q, kind);
                        i = q;
                        continue;
                    }
                }
                tok(i..end, TokenKind::Word);
                let range = out.word(&sql[i..end]);
                if lx.first_keyword.is_empty() && lx.statements.is_empty() && sql[i] != b'@' {
                    lx.first_keyword = out.text[range].to_owned();
                }
                i = end;
            }
            _ => {
                let end = operator_end(sql, i);
                tok(i..end, TokenKind::Operator);
                let op = String::from_utf8_lossy(&sql[i..end]);
                // No statement starts with a control byte: a COM_QUERY laid out for query attributes
                // (never offered by sluice) starts with their count. Its words are not the statement's
                // keyword: nothing in sluice acts on them (KILL, SET…), the server refuses the text.
                if c < 0x20 && lx.first_keyword.is_empty() && lx.statements.is_empty() {
                    lx.first_keyword = op.to_string();
                }
                out.token(&op, Prev::Operator);
                i = end;
            }
        }
    }
    let last_end = pending_semicolon.unwrap_or(n);
    if saw_code || lx.statements.is_empty() {
        lx.statements.push(stmt_start..last_end);
    }
    let text = collapse_folded_rows(out.text);
    lx.digest = hash64(text.as_bytes());
    lx.text = text;
    lx
}

/// `(...), (...)` and `(...),(...)` runs become one `(...)`, in one pass (replacing until nothing
/// changed took a pass per halving: n log n on a long VALUES list). `(...)` cannot overlap itself and
/// removing `, (...)` after one never forms a new one, so this is the same fixed point as before.
fn collapse_folded_rows(text: String) -> String {
    const ROW: &str = "(...)";
    if !text.contains("(...),") {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(ROW) {
        out.push_str(&rest[..at + ROW.len()]);
        rest = &rest[at + ROW.len()..];
        loop {
            let after = rest.strip_prefix(", ").or_else(|| rest.strip_prefix(','));
            match after.and_then(|a| a.strip_prefix(ROW)) {
                Some(r) => rest = r,
                None => break,
            }
        }
    }
    out.push_str(rest);
    out
}

/// The digest id alone.
pub fn digest_id(sql: &[u8]) -> u64 {
    lex(sql).digest
}

/// How many statements the text holds (`SELECT 1; ` is one, `SELECT 1; SELECT 2` two).
pub fn statement_count(sql: &[u8]) -> usize {
    lex(sql).statements.len()
}

fn literal(out: &mut Out, lx: &mut Lexed, span: Range<usize>, kind: LiteralKind) {
    lx.literals.push(Literal { span, kind });
    out.token("?", Prev::Value);
}

/// A stable 64-bit hash, 8 bytes per step (multiply-rotate, then a murmur3 finalizer). Digest ids are
/// shown to operators and stored in captures, so this must never change between releases.
fn hash64(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(31);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(31);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
