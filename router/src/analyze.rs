//! The full parse, once per query shape (on a plan-cache miss): which tables a statement reads and
//! writes, from `sqlparser`'s AST (MySqlDialect). The lexer-based classification decides routing; this
//! adds what only a parser knows, and tells when the statement is beyond the parser (then routing is
//! conservative: the primary, uncached).
//!
//! The parse is bounded. sqlparser limits nesting (50 levels of parentheses, subqueries, unary
//! operators) but not a left-deep chain (`a OR b OR c …`, `1 + 1 + …`, `… UNION SELECT …`, `t JOIN t
//! JOIN …`): its parser loops, but the tree it builds is as deep as the chain, and visiting and dropping
//! that tree recurse once per level. So before parsing, sqlparser's own tokens are weighed (see
//! [`MAX_OPERATORS`], [`MAX_JOINS`], [`MAX_NESTING`]); a statement over a limit is not parsed
//! ([`Analysis::too_complex`]), and one under them is parsed, walked and dropped on a stack sized for
//! its weight ([`stacker`] grows the current one only when it has too little left).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    FromTable, ObjectName, Query, SetExpr, Statement, TableFactor, TableObject, TableWithJoins, Visit,
    Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::lexer::{LexMode, to_default_mode};

/// Most operator tokens (`+`, `=`, `.`, `->`…) and operator keywords (AND, OR, XOR, NOT, IS, IN,
/// BETWEEN, LIKE, UNION…) a statement may hold and still be parsed. Each can add a level to the tree;
/// the stack a statement is parsed on grows with their count (`STACK_PER_OPERATOR`). Real statements
/// stay far below (a 1,000-term `OR` list of `a = ?` has 2,000); one over the limit is still served, as
/// an unparsed statement: never a replica, not cached, tables unknown.
pub const MAX_OPERATORS: usize = 10_000;

/// Most JOINs a statement may hold and still be parsed. `t JOIN t JOIN t … ON … ON …` nests in
/// sqlparser's parser itself, and a level costs far more stack than an operator (`STACK_PER_JOIN`).
/// MySQL joins at most 61 tables in one SELECT.
pub const MAX_JOINS: usize = 256;

/// Deepest parenthesis nesting that is parsed. sqlparser stops expressions at 50 levels itself; this
/// also bounds the places it does not count.
pub const MAX_NESTING: usize = 200;

/// Stack for the parse of a statement without operators: sqlparser's 50 levels of nesting and the
/// walks over them (measured: 23 KiB release, 63 KiB debug at 45 levels), with room to spare.
const STACK_BASE: usize = if cfg!(debug_assertions) { 2 << 20 } else { 512 << 10 };

/// Stack per operator: one more level of a left-deep chain, parsed, visited, walked by the shard shape
/// and dropped (measured: ~70 B release, ~105 B debug for the analysis alone), with a wide margin.
const STACK_PER_OPERATOR: usize = if cfg!(debug_assertions) { 2 << 10 } else { 512 };

/// Stack per JOIN (measured: ~7 KiB release, ~59 KiB debug per nested join), doubled.
const STACK_PER_JOIN: usize = if cfg!(debug_assertions) { 128 << 10 } else { 16 << 10 };

/// What the parser found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Whether sqlparser read the statement(s).
    pub parsed: bool,
    /// Tables read and not written (`t` or `schema.t`, lower-case, unquoted), sorted.
    pub tables_read: Vec<String>,
    /// Tables written: INSERT/REPLACE/UPDATE/DELETE targets, TRUNCATE, CREATE/ALTER/DROP/RENAME TABLE.
    pub tables_written: Vec<String>,
    /// Not parsed because it is over [`MAX_OPERATORS`], [`MAX_JOINS`] or [`MAX_NESTING`] (or
    /// sqlparser's own nesting limit): `parsed` is false and nothing is known about its tables.
    pub too_complex: bool,
}

/// Why sqlparser gave no tables for a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unparsed {
    /// sqlparser does not know its syntax (or it is not SQL).
    Syntax,
    /// Over [`MAX_OPERATORS`], [`MAX_JOINS`] or [`MAX_NESTING`] (or sqlparser's own nesting limit).
    TooComplex,
}

impl Analysis {
    /// Why it was not parsed; `None` when it was.
    pub fn unparsed(&self) -> Option<Unparsed> {
        match (self.parsed, self.too_complex) {
            (true, _) => None,
            (false, true) => Some(Unparsed::TooComplex),
            (false, false) => Some(Unparsed::Syntax),
        }
    }
}

/// Parses `sql` (default mode) and collects its tables. Never panics; unparseable input gives
/// `parsed: false`.
pub fn analyze(sql: &str) -> Analysis {
    analyze_with(sql, LexMode::DEFAULT)
}

/// [`analyze`] of a statement sent in `mode`: it is parsed as the server reads it in that mode.
pub fn analyze_with(sql: &str, mode: LexMode) -> Analysis {
    analyze_then(sql, mode, |_, _, _| ()).0
}

/// Analyzes `sql` sent in `mode`; when it parsed, also runs `then` with the analysis, the statement
/// spelled for the default mode and its AST, on the same bounded stack (the sharding shape walks the
/// AST this parse built: one parse per shape).
pub(crate) fn analyze_then<R>(
    sql: &str,
    mode: LexMode,
    then: impl FnOnce(&Analysis, &str, &[Statement]) -> R,
) -> (Analysis, Option<R>) {
    let text = to_default_mode(sql.as_bytes(), mode);
    let text = String::from_utf8_lossy(&text);
    let dialect = MySqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, &text).with_unescape(true).tokenize_with_location() else {
        return (Analysis::default(), None);
    };
    let Some(stack) = stack_for(&tokens) else {
        return (Analysis { too_complex: true, ..Analysis::default() }, None);
    };
    let tokens = parenthesize_table_statements(tokens);
    stacker::maybe_grow(stack, stack, || {
        // The tree is built, walked and dropped inside: all three recurse as deep as it is.
        let statements = Parser::new(&dialect).with_tokens_with_locations(tokens).parse_statements();
        let (a, r) = match &statements {
            Ok(s) if !s.is_empty() => {
                let a = tables(s);
                let r = then(&a, &text, s);
                (a, Some(r))
            }
            Ok(_) => (Analysis::default(), None),
            Err(ParserError::RecursionLimitExceeded) => {
                (Analysis { too_complex: true, ..Analysis::default() }, None)
            }
            Err(_) => (Analysis::default(), None),
        };
        drop(statements);
        (a, r)
    })
}

/// The stack to parse a statement on, from its operators, joins and nesting; `None` when it is over
/// [`MAX_OPERATORS`], [`MAX_JOINS`] or [`MAX_NESTING`]. Counts every token but words, literals, `,` `;`
/// and parentheses, and the words that join two operands (all that can make a chain in sqlparser's
/// expression, set-operation and join loops).
fn stack_for(tokens: &[TokenWithSpan]) -> Option<usize> {
    const CHAINING: &[Keyword] = &[
        Keyword::OR,
        Keyword::AND,
        Keyword::XOR,
        Keyword::NOT,
        Keyword::IS,
        Keyword::IN,
        Keyword::BETWEEN,
        Keyword::LIKE,
        Keyword::ILIKE,
        Keyword::RLIKE,
        Keyword::REGEXP,
        Keyword::MATCH,
        Keyword::GLOB,
        Keyword::SIMILAR,
        Keyword::MEMBER,
        Keyword::OPERATOR,
        Keyword::DIV,
        Keyword::MOD,
        Keyword::OVERLAPS,
        Keyword::NOTNULL,
        Keyword::ESCAPE,
        Keyword::AT,
        Keyword::GLOBAL,
        Keyword::COLLATE,
        Keyword::UNION,
        Keyword::EXCEPT,
        Keyword::INTERSECT,
        Keyword::MINUS,
    ];
    let mut operators = 0usize;
    let mut joins = 0usize;
    let mut depth = 0usize;
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) | Token::EOF | Token::Comma | Token::SemiColon => {}
            Token::LParen => {
                depth += 1;
                if depth > MAX_NESTING {
                    return None;
                }
            }
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if matches!(w.keyword, Keyword::JOIN | Keyword::STRAIGHT_JOIN) => {
                joins += 1;
                if joins > MAX_JOINS {
                    return None;
                }
            }
            Token::Word(w) => operators += usize::from(CHAINING.contains(&w.keyword)),
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::Placeholder(_) => {}
            _ => operators += 1,
        }
        if operators > MAX_OPERATORS {
            return None;
        }
    }
    Some(STACK_BASE + operators * STACK_PER_OPERATOR + joins * STACK_PER_JOIN)
}

/// MySQL 8's `TABLE t [ORDER BY …] [LIMIT …]` as a statement of its own: sqlparser reads `TABLE t` only
/// inside a query (`… UNION TABLE t`, `(TABLE t)`), so such a statement gets parentheses around it. They
/// add no word, so the word ordinals of the shard shape and the spans of every other token stay those
/// of the text.
fn parenthesize_table_statements(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let starts_table = |t: &TokenWithSpan| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::TABLE);
    if !tokens.iter().any(starts_table) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len() + 2);
    let mut at_start = true;
    let mut open = false;
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                if open {
                    out.push(TokenWithSpan::wrap(Token::RParen));
                    open = false;
                }
                at_start = true;
            }
            _ if at_start => {
                at_start = false;
                if starts_table(&t) {
                    out.push(TokenWithSpan::wrap(Token::LParen));
                    open = true;
                }
            }
            _ => {}
        }
        out.push(t);
    }
    if open {
        out.push(TokenWithSpan::wrap(Token::RParen));
    }
    out
}

/// The tables of parsed statements.
fn tables(statements: &[Statement]) -> Analysis {
    let mut seen = Relations::default();
    let mut written = BTreeSet::new();
    for s in statements {
        let _ = s.visit(&mut seen);
        written.extend(written_by(s));
    }
    // A CTE is never written (`WITH x AS (…) UPDATE t JOIN x …` lists x among the UPDATE's tables).
    written.retain(|t| !seen.ctes.contains(t));
    let tables_read = seen.tables.difference(&written).filter(|t| !seen.ctes.contains(*t)).cloned().collect();
    Analysis { parsed: true, tables_read, tables_written: written.into_iter().collect(), too_complex: false }
}

/// Every relation the AST names, and the CTE names (not tables).
#[derive(Default)]
struct Relations {
    tables: BTreeSet<String>,
    ctes: BTreeSet<String>,
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        self.tables.insert(name(relation));
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        // `TABLE t` is no relation to the visitor.
        table_statements(&query.body, &mut |t| {
            self.tables.insert(t);
        });
        ControlFlow::Continue(())
    }
}

/// The tables a query body names as `TABLE t` at its own level (through UNION and the like; a nested
/// query is a query of its own, which the visitor visits), as [`name`] spells them.
pub(crate) fn table_statements(body: &SetExpr, found: &mut impl FnMut(String)) {
    match body {
        SetExpr::Table(t) => {
            if let Some(table) = &t.table_name {
                let table = table.value.to_lowercase();
                found(match &t.schema_name {
                    Some(schema) => format!("{}.{table}", schema.value.to_lowercase()),
                    None => table,
                });
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            table_statements(left, found);
            table_statements(right, found);
        }
        _ => {}
    }
}

/// `db.t` / `t`, lower-case, without quotes.
fn name(n: &ObjectName) -> String {
    n.to_string().replace(['`', '"'], "").to_lowercase()
}

fn joined(t: &TableWithJoins) -> impl Iterator<Item = String> + '_ {
    std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)).filter_map(|f| match f {
        TableFactor::Table { name: n, .. } => Some(name(n)),
        _ => None,
    })
}

/// The tables a statement writes.
fn written_by(s: &Statement) -> Vec<String> {
    match s {
        Statement::Insert(i) => match &i.table {
            TableObject::TableName(n) => vec![name(n)],
            _ => Vec::new(),
        },
        // Every table of a multi-table UPDATE may be assigned to: all count as written.
        Statement::Update(u) => joined(&u.table).collect(),
        Statement::Delete(d) if !d.tables.is_empty() => d.tables.iter().map(name).collect(),
        Statement::Delete(d) => match &d.from {
            FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => {
                f.first().map(|t| joined(t).take(1).collect()).unwrap_or_default()
            }
        },
        Statement::Truncate(t) => t.table_names.iter().map(|t| name(&t.name)).collect(),
        Statement::CreateTable(c) => vec![name(&c.name)],
        Statement::AlterTable(a) => vec![name(&a.name)],
        Statement::Drop { names, .. } => names.iter().map(name).collect(),
        Statement::RenameTable(r) => r.iter().flat_map(|r| [name(&r.old_name), name(&r.new_name)]).collect(),
        // `WITH … UPDATE|DELETE …` (MySQL 8): the CTE's statement writes.
        Statement::Query(q) => match q.body.as_ref() {
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => written_by(s),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
