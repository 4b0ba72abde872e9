//! Finding things in the statement: an identifier's word ordinal from its sqlparser span, column
//! qualifiers, and how often the sharded table is named.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Ident, ObjectName, Query, Statement, Visit, Visitor};

use super::Cx;
use crate::lexer::{Token, TokenKind};

/// Every compound identifier in expressions (column qualifiers).
pub(super) struct Qualifiers(pub(super) Vec<Vec<Ident>>);

impl Visitor for Qualifiers {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = e {
            self.0.push(parts.clone());
        }
        ControlFlow::Continue(())
    }
}

/// How often the sharded table is named as a relation anywhere in the statement (subqueries and
/// `TABLE t` too).
pub(super) fn count_relations(s: &Statement, cx: &Cx<'_>) -> usize {
    struct Count<'a, 'b>(&'a Cx<'b>, usize);
    impl Visitor for Count<'_, '_> {
        type Break = ();
        fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
            if self.0.is_ours(r) {
                self.1 += 1;
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
            crate::analyze::table_statements(&q.body, &mut |t| {
                if self.0.map.find(&t) == Some(self.0.table) {
                    self.1 += 1;
                }
            });
            ControlFlow::Continue(())
        }
    }
    let mut c = Count(cx, 0);
    let _ = s.visit(&mut c);
    c.1
}

/// The word ordinal of the token an identifier's span starts at.
pub(super) fn word_of(text: &str, toks: &[Token], id: &Ident) -> Option<usize> {
    let at = byte_offset(text, id.span.start.line, id.span.start.column)?;
    let mut ordinal = 0;
    for t in toks {
        if matches!(t.kind, TokenKind::Word | TokenKind::Quoted) {
            if t.span.start == at {
                return Some(ordinal);
            }
            ordinal += 1;
        }
    }
    None
}

/// Byte offset of a 1-based (line, column in characters) location.
fn byte_offset(text: &str, line: u64, column: u64) -> Option<usize> {
    if line == 0 || column == 0 {
        return None;
    }
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let rest = &text[start..];
    let col = usize::try_from(column - 1).ok()?;
    rest.char_indices().nth(col).map(|(i, _)| start + i)
}
