//! The digest lexer: one pass over a statement's bytes that normalizes it (literals → `?`, IN/VALUES
//! lists folded to `(...)`, case and whitespace folded, comments dropped except sluice hints, optimizer
//! hints and executable comments, which are code), and yields its 64-bit digest id, the byte spans of its
//! literals, its sluice hints and its statement boundaries. Never panics, whatever the bytes.

use std::ops::Range;

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
    /// First keyword of the first statement, lower-case (`select`, `insert`, `with`, `alter`…).
    pub first_keyword: String,
    /// Whether the text holds `/*! … */` or `/*M! … */` code.
    pub executable_comment: bool,
}

/// Words after which a `-` is a sign, not a subtraction (besides operators, `(` and `,`).
const SIGN_CONTEXT: &[&str] = &[
    "select", "where", "and", "or", "not", "between", "in", "is", "like", "values", "value", "set", "when",
    "then", "else", "return", "limit", "offset", "by", "having", "on", "interval", "case", "div", "mod",
    "xor",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    Start,
    Operator,
    Open,
    Comma,
    Word,
    Value,
}

/// An open parenthesis in the output: where it starts, and whether it may fold to `(...)`.
struct Paren {
    at: usize,
    foldable: bool,
    only_values: bool,
}

struct Out {
    text: String,
    prev: Prev,
    /// The last word written, as a range of `text` (empty after anything else).
    last_word: Range<usize>,
    parens: Vec<Paren>,
    /// A statement separator is due before the next text: written lazily, so that a statement that
    /// produces no text (an empty `/*!*/`) adds no `;` that normalizing again would drop (found by the
    /// `lexer` fuzz target).
    sep: bool,
}

impl Out {
    /// Writes the separator that is due, if any.
    fn separate(&mut self) {
        if std::mem::take(&mut self.sep) {
            self.token(";", Prev::Start);
        }
    }

    fn token(&mut self, t: &str, prev: Prev) {
        if t != ";" {
            self.separate();
        }
        // `db.table` and `t.col` stay one token; `,` `)` `;` attach to what precedes them. `...` (a
        // folded list's inside, re-lexed) attaches like the dots it may have been written as.
        let glue = matches!(t, ")" | "," | ";" | "." | "...")
            || self.text.ends_with('(')
            || self.text.ends_with('.')
            || self.text.is_empty();
        if !glue {
            self.text.push(' ');
        }
        self.text.push_str(t);
        // A list folds only if it holds nothing but placeholders (or folded sub-lists).
        if !matches!(t, "?" | "," | "(" | "(...)")
            && let Some(p) = self.parens.last_mut()
        {
            p.only_values = false;
        }
        self.prev = prev;
        self.last_word = 0..0;
    }

    /// Writes a word lower-cased (ASCII) without allocating; returns its range in `text`.
    fn word(&mut self, w: &[u8]) -> Range<usize> {
        self.separate();
        if !(self.text.is_empty() || self.text.ends_with('(') || self.text.ends_with('.')) {
            self.text.push(' ');
        }
        let start = self.text.len();
        if w.is_ascii() {
            self.text.extend(w.iter().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            self.text.push_str(&String::from_utf8_lossy(w).to_lowercase());
        }
        if let Some(p) = self.parens.last_mut() {
            p.only_values = false;
        }
        self.prev = Prev::Word;
        self.last_word = start..self.text.len();
        start..self.text.len()
    }

    fn last_word_is(&self, words: &[&str]) -> bool {
        self.text.get(self.last_word.clone()).is_some_and(|w| words.contains(&w))
    }

    fn open(&mut self) {
        self.separate();
        // An element of an IN/VALUES list, or the next row after a folded one (`VALUES (...), (`).
        let in_list = (self.parens.last().is_some_and(|p| p.foldable)
            && matches!(self.prev, Prev::Open | Prev::Comma))
            || (self.prev == Prev::Comma && self.text.ends_with("(...),"));
        let foldable = in_list || self.last_word_is(&["in", "values", "value"]);
        let glue = self.text.is_empty() || self.text.ends_with('(');
        if !glue {
            self.text.push(' ');
        }
        let at = self.text.len();
        self.text.push('(');
        self.parens.push(Paren { at, foldable, only_values: true });
        self.prev = Prev::Open;
        self.last_word = 0..0;
    }

    fn close(&mut self) {
        self.separate();
        match self.parens.pop() {
            Some(p) if p.foldable && p.only_values && self.text.len() > p.at + 1 => {
                self.text.truncate(p.at);
                self.text.push_str("(...)");
            }
            Some(_) | None => {
                self.text.push(')');
                // A list holding a parenthesis that did not fold is no list of values either: folding it
                // would swallow whatever the inner one holds, an optimizer hint's `/*+` included, and
                // leave its `*/` unmatched (found by the `lexer` fuzz target).
                if let Some(parent) = self.parens.last_mut() {
                    parent.only_values = false;
                }
            }
        }
        self.prev = Prev::Value;
        self.last_word = 0..0;
    }
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

/// Lexes a COM_QUERY text (any bytes).
pub fn lex(sql: &[u8]) -> Lexed {
    lex_inner(sql, None)
}

/// Lexes and also returns every token with its span (the sharding path; the plain path allocates none).
pub fn lex_tokens(sql: &[u8]) -> (Lexed, Vec<Token>) {
    let mut toks = Vec::with_capacity(sql.len() / 4);
    let l = lex_inner(sql, Some(&mut toks));
    (l, toks)
}

fn lex_inner(sql: &[u8], mut toks: Option<&mut Vec<Token>>) -> Lexed {
    let mut tok = |span: Range<usize>, kind: TokenKind| {
        if let Some(t) = toks.as_mut() {
            t.push(Token { span, kind });
        }
    };
    let mut out = Out {
        text: String::with_capacity(sql.len()),
        prev: Prev::Start,
        last_word: 0..0,
        parens: Vec::new(),
        sep: false,
    };
    let mut lx = Lexed::default();
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
                let end = find(sql, body, b"*/").unwrap_or(n);
                let next = (end + 2).min(n);
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
                        parse_hint(&sql[body..end.min(n)], &mut lx.hints);
                        i = next;
                    }
                }
            }
            b'*' if !code_comments.is_empty() && sql.get(i + 1) == Some(&b'/') => {
                if code_comments.pop() == Some(true) {
                    out.token("*/", Prev::Operator);
                }
                i += 2;
            }
            b'\'' | b'"' => {
                let end = quoted_end(sql, i, c);
                tok(i..end, TokenKind::Literal(LiteralKind::String));
                literal(&mut out, &mut lx, i..end, LiteralKind::String);
                i = end;
            }
            b'`' => {
                let end = quoted_end(sql, i, b'`');
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
                if matches!(sql.get(end), Some(b'\'') | Some(b'"')) {
                    let w = &sql[i..end];
                    let kind = match w {
                        [b'x' | b'X'] => Some(LiteralKind::Hex),
                        [b'b' | b'B'] => Some(LiteralKind::Bit),
                        [b'n' | b'N'] => Some(LiteralKind::String),
                        [b'_', ..] => Some(LiteralKind::String),
                        _ => None,
                    };
                    if let Some(kind) = kind {
                        let q = quoted_end(sql, end, sql[end]);
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
                out.token(&String::from_utf8_lossy(&sql[i..end]), Prev::Operator);
                i = end;
            }
        }
    }
    let last_end = pending_semicolon.unwrap_or(n);
    if saw_code || lx.statements.is_empty() {
        lx.statements.push(stmt_start..last_end);
    }
    let mut text = out.text;
    while text.contains("(...), (...)") {
        text = text.replace("(...), (...)", "(...)");
    }
    while text.contains("(...),(...)") {
        text = text.replace("(...),(...)", "(...)");
    }
    lx.digest = hash64(text.as_bytes());
    lx.text = text;
    lx
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

/// MySQL's whitespace: Rust's `is_ascii_whitespace` lacks the vertical tab (0x0B), which made a
/// `;` followed by one end a statement here but not once normalized (found by the `lexer` fuzz target).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'@')
}

fn word_end(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && (is_word_byte(sql[i]) || sql[i] >= 0x80) {
        i += 1;
    }
    i
}

fn is_comment_start(sql: &[u8], i: usize) -> bool {
    match sql[i] {
        b'#' => true,
        b'-' => sql.get(i + 1) == Some(&b'-') && sql.get(i + 2).is_none_or(|b| *b <= b' '),
        b'/' => sql.get(i + 1) == Some(&b'*') && !matches!(sql.get(i + 2), Some(b'!' | b'+' | b'M')),
        _ => false,
    }
}

fn line_end(sql: &[u8], i: usize) -> usize {
    sql[i..].iter().position(|&b| b == b'\n').map_or(sql.len(), |p| i + p + 1)
}

fn find(sql: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    sql.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|p| from + p)
}

fn skip_digits(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && sql[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End (exclusive) of a quoted run starting at `i` (the opening quote), with backslash escapes (not for
/// backticks) and doubled quotes. An unterminated quote runs to the end.
fn quoted_end(sql: &[u8], i: usize, q: u8) -> usize {
    let mut j = i + 1;
    while j < sql.len() {
        let c = sql[j];
        if c == b'\\' && q != b'`' {
            j += 2;
            continue;
        }
        if c == q {
            if sql.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return j + 1;
        }
        j += 1;
    }
    sql.len()
}

fn number_end(sql: &[u8], i: usize) -> (usize, LiteralKind) {
    let n = sql.len();
    if i >= n {
        return (n, LiteralKind::Number);
    }
    if sql[i] == b'0'
        && matches!(sql.get(i + 1), Some(b'x' | b'X'))
        && sql.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    {
        let mut j = i + 2;
        while j < n && sql[j].is_ascii_hexdigit() {
            j += 1;
        }
        return (j, LiteralKind::Hex);
    }
    if sql[i] == b'0' && matches!(sql.get(i + 1), Some(b'b')) && matches!(sql.get(i + 2), Some(b'0' | b'1')) {
        let mut j = i + 2;
        while j < n && matches!(sql[j], b'0' | b'1') {
            j += 1;
        }
        return (j, LiteralKind::Bit);
    }
    let mut j = skip_digits(sql, i);
    if sql.get(j) == Some(&b'.') {
        j = skip_digits(sql, j + 1);
    }
    if matches!(sql.get(j), Some(b'e' | b'E')) {
        let k = if matches!(sql.get(j + 1), Some(b'+' | b'-')) { j + 2 } else { j + 1 };
        if sql.get(k).is_some_and(u8::is_ascii_digit) {
            j = skip_digits(sql, k);
        }
    }
    // `1abc` is an identifier in MySQL; keep consuming so it stays one token.
    while j < n && (sql[j].is_ascii_alphabetic() || sql[j] == b'_') {
        j += 1;
    }
    (j, LiteralKind::Number)
}

fn next_non_space(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && is_space(sql[i]) {
        i += 1;
    }
    i
}

/// Whether the `-`/`+` at `i` is the sign of a number: a number follows, and an operand is expected
/// (start, after an operator, `(`, `,`, or a keyword such as WHERE or AND).
fn is_sign(sql: &[u8], i: usize, out: &Out) -> bool {
    let j = next_non_space(sql, i + 1);
    let number_follows = sql.get(j).is_some_and(u8::is_ascii_digit)
        || (sql.get(j) == Some(&b'.') && sql.get(j + 1).is_some_and(u8::is_ascii_digit));
    number_follows
        && match out.prev {
            Prev::Start | Prev::Operator | Prev::Open | Prev::Comma => true,
            Prev::Word => out.last_word_is(SIGN_CONTEXT),
            Prev::Value => false,
        }
}

fn operator_end(sql: &[u8], i: usize) -> usize {
    // `...` is what a folded list reads like: lexing normalized text again gives the same digest.
    const THREE: &[&[u8]] = &[b"<=>", b"->>", b"..."];
    const TWO: &[&[u8]] = &[b"<=", b">=", b"<>", b"!=", b":=", b"||", b"&&", b"<<", b">>", b"->"];
    if THREE.iter().any(|op| sql[i..].starts_with(op)) {
        return i + 3;
    }
    if TWO.iter().any(|op| sql[i..].starts_with(op)) {
        return i + 2;
    }
    // One byte: non-ASCII bytes never get here (they lex as words), and swallowing the stray UTF-8
    // continuation bytes after an ASCII operator made `>\x8f` one token whose lossy text `>\u{fffd}`
    // then lexed as two (normalizing twice was not stable; found by the `lexer` fuzz target).
    i + 1
}

/// Parses `sluice: key key=value …` out of a comment body; other comments are ignored.
fn parse_hint(body: &[u8], hints: &mut Hints) {
    let text = String::from_utf8_lossy(body);
    let t = text.trim();
    let Some(rest) = t.strip_prefix("sluice:").or_else(|| t.strip_prefix("sluice :")) else { return };
    for item in rest.split_whitespace() {
        let (k, v) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (item, None),
        };
        hints.items.push((k.to_ascii_lowercase(), v));
    }
}

#[cfg(test)]
mod tests;
