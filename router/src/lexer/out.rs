//! The normalized text as it is written: spacing, lower-cased words, and folding of IN/VALUES lists
//! into `(...)` as their parentheses close.

use std::ops::Range;

use super::scan::next_non_space;

/// Words after which a `-` is a sign, not a subtraction (besides operators, `(` and `,`).
pub(super) const SIGN_CONTEXT: &[&str] = &[
    "select", "where", "and", "or", "not", "between", "in", "is", "like", "values", "value", "set", "when",
    "then", "else", "return", "limit", "offset", "by", "having", "on", "interval", "case", "div", "mod",
    "xor",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Prev {
    Start,
    Operator,
    Open,
    Comma,
    Word,
    Value,
}

/// An open parenthesis in the output: where it starts, and whether it may fold to `(...)`.
pub(super) struct Paren {
    at: usize,
    foldable: bool,
    only_values: bool,
}

/// Parentheses tracked for folding, innermost last. Deeper ones are only counted (`untracked`): they
/// never fold, so the stack stays small however deep the input nests (`((((…` is one byte a level).
const MAX_TRACKED_PARENS: usize = 256;

pub(super) struct Out {
    pub(super) text: String,
    pub(super) prev: Prev,
    /// The last word written, as a range of `text` (empty after anything else).
    last_word: Range<usize>,
    parens: Vec<Paren>,
    /// Open parentheses past [`MAX_TRACKED_PARENS`].
    untracked: usize,
    /// A statement separator is due before the next text: written lazily, so that a statement that
    /// produces no text (an empty `/*!*/`) adds no `;` that normalizing again would drop (found by the
    /// `lexer` fuzz target).
    pub(super) sep: bool,
}

impl Out {
    pub(super) fn new(capacity: usize) -> Out {
        Out {
            text: String::with_capacity(capacity),
            prev: Prev::Start,
            last_word: 0..0,
            parens: Vec::new(),
            untracked: 0,
            sep: false,
        }
    }

    /// Writes the separator that is due, if any.
    pub(super) fn separate(&mut self) {
        if std::mem::take(&mut self.sep) {
            self.token(";", Prev::Start);
        }
    }

    pub(super) fn token(&mut self, t: &str, prev: Prev) {
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
    pub(super) fn word(&mut self, w: &[u8]) -> Range<usize> {
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

    pub(super) fn last_word_is(&self, words: &[&str]) -> bool {
        self.text.get(self.last_word.clone()).is_some_and(|w| words.contains(&w))
    }

    pub(super) fn open(&mut self) {
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
        if self.parens.len() < MAX_TRACKED_PARENS {
            self.parens.push(Paren { at, foldable, only_values: true });
        } else {
            // The innermost tracked list holds a parenthesis that will not fold: it is no list of values.
            self.untracked += 1;
            if let Some(p) = self.parens.last_mut() {
                p.only_values = false;
            }
        }
        self.prev = Prev::Open;
        self.last_word = 0..0;
    }

    pub(super) fn close(&mut self) {
        self.separate();
        let popped = if self.untracked > 0 {
            self.untracked -= 1;
            None
        } else {
            self.parens.pop()
        };
        match popped {
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

/// Whether the `-`/`+` at `i` is the sign of a number: a number follows, and an operand is expected
/// (start, after an operator, `(`, `,`, or a keyword such as WHERE or AND).
pub(super) fn is_sign(sql: &[u8], i: usize, out: &Out) -> bool {
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
