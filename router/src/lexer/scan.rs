//! Byte-level scanning for the lexer: token ends, whitespace, comments, sluice hints. Each function
//! reads forward from where it is called and returns where the token ends, so every byte is read a
//! bounded number of times.

use super::{Hints, LiteralKind};

/// MySQL's whitespace: Rust's `is_ascii_whitespace` lacks the vertical tab (0x0B), which made a
/// `;` followed by one end a statement here but not once normalized (found by the `lexer` fuzz target).
pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

pub(super) fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'@')
}

pub(super) fn word_end(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && (is_word_byte(sql[i]) || sql[i] >= 0x80) {
        i += 1;
    }
    i
}

pub(super) fn is_comment_start(sql: &[u8], i: usize) -> bool {
    match sql[i] {
        b'#' => true,
        b'-' => sql.get(i + 1) == Some(&b'-') && sql.get(i + 2).is_none_or(|b| *b <= b' '),
        b'/' => sql.get(i + 1) == Some(&b'*') && !matches!(sql.get(i + 2), Some(b'!' | b'+' | b'M')),
        _ => false,
    }
}

pub(super) fn line_end(sql: &[u8], i: usize) -> usize {
    sql[i..].iter().position(|&b| b == b'\n').map_or(sql.len(), |p| i + p + 1)
}

pub(super) fn find(sql: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    sql.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|p| from + p)
}

pub(super) fn skip_digits(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && sql[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End (exclusive) of a quoted run starting at `i` (the opening quote `q`), with doubled quotes and,
/// when `escapes` (strings outside NO_BACKSLASH_ESCAPES; never identifiers), backslash escapes. An
/// unterminated quote runs to the end.
pub(super) fn quoted_end(sql: &[u8], i: usize, q: u8, escapes: bool) -> usize {
    let mut j = i + 1;
    while j < sql.len() {
        let c = sql[j];
        if c == b'\\' && escapes {
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

pub(super) fn number_end(sql: &[u8], i: usize) -> (usize, LiteralKind) {
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

pub(super) fn next_non_space(sql: &[u8], mut i: usize) -> usize {
    while i < sql.len() && is_space(sql[i]) {
        i += 1;
    }
    i
}

pub(super) fn operator_end(sql: &[u8], i: usize) -> usize {
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
pub(super) fn parse_hint(body: &[u8], hints: &mut Hints) {
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
