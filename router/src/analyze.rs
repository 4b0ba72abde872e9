//! The full parse, once per query shape (on a plan-cache miss): which tables a statement reads and
//! writes, from `sqlparser`'s AST (MySqlDialect). The lexer-based classification decides routing; this
//! adds what only a parser knows, and tells when the statement is beyond the parser (then routing is
//! conservative: the primary, uncached).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    FromTable, ObjectName, Query, Statement, TableFactor, TableObject, TableWithJoins, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

/// What the parser found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Whether sqlparser read the statement(s).
    pub parsed: bool,
    /// Tables read and not written (`t` or `schema.t`, lower-case, unquoted), sorted.
    pub tables_read: Vec<String>,
    /// Tables written: INSERT/REPLACE/UPDATE/DELETE targets, TRUNCATE, CREATE/ALTER/DROP/RENAME TABLE.
    pub tables_written: Vec<String>,
}

/// Parses `sql` and collects its tables. Never panics; unparseable input gives `parsed: false`.
pub fn analyze(sql: &str) -> Analysis {
    let Ok(statements) = Parser::parse_sql(&MySqlDialect {}, sql) else { return Analysis::default() };
    if statements.is_empty() {
        return Analysis::default();
    }
    let mut seen = Relations::default();
    let mut written = BTreeSet::new();
    for s in &statements {
        let _ = s.visit(&mut seen);
        written.extend(written_by(s));
    }
    let tables_read = seen.tables.difference(&written).filter(|t| !seen.ctes.contains(*t)).cloned().collect();
    Analysis { parsed: true, tables_read, tables_written: written.into_iter().collect() }
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
        ControlFlow::Continue(())
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
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
