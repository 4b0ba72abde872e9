//! A statement shape over sharded tables, found once per digest from sqlparser's AST: which words
//! (by ordinal among the lexer's word tokens, stable for every statement of the digest) are the sharded
//! table's identifiers to rewrite, where the shard key's value sits, and how scatter results merge.
//! Everything that cannot be routed safely is decided here as a refusal with its reason.

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, Ident, InTarget, ObjectName, ObjectNamePart, OnInsert, Query,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableObject, Value, Visit,
};

use super::ShardMap;
use super::merge::MergeShape;
use crate::lexer::Token;
use locate::{Qualifiers, count_relations, word_of};

/// Which identifier a rewrite replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The table name (also a column qualifier `documents.col`).
    Table,
    /// The schema qualifying it.
    Schema,
}

/// One identifier to rewrite: the `word`-th word token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrite {
    /// Ordinal among word tokens (words and backquoted identifiers).
    pub word: usize,
    /// What it names.
    pub part: Part,
}

/// Where the key's value is, relative to the key column's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// `key = value`: the token after the `=` following the word.
    Eq,
    /// `value = key`: the token before the `=` preceding the word.
    EqReversed,
    /// `key IN (v, …)`: the list after the `IN` word following the key word.
    In,
}

/// The shard key's place in a WHERE clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAt {
    /// Word ordinal of the key column identifier (the first part of a qualified one for `EqReversed`).
    pub word: usize,
    /// Its form.
    pub form: KeyForm,
}

pub use super::NotRouted;

/// What kind of statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A SELECT on one sharded table (joins with unsharded tables allowed when one shard is hit).
    Select {
        /// The key conjunct, if any.
        key: Option<KeyAt>,
        /// How scatter results merge, or why a scatter is refused.
        scatter: Result<MergeShape, NotRouted>,
        /// Whether it joins other (unsharded) tables.
        joins: bool,
    },
    /// INSERT/REPLACE … VALUES.
    Insert {
        /// Position of the key in the column list; `None`: the list omits it and sluice generates it.
        key_column: Option<usize>,
        /// Word ordinal of the column list's last identifier (the generated key is appended after it).
        last_column: usize,
    },
    /// UPDATE or DELETE on one sharded table.
    Write {
        /// The key conjunct, if any.
        key: Option<KeyAt>,
    },
}

/// A shape over a sharded table, or why it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardShape {
    /// Routable.
    Routed {
        /// Index of the table in the [`ShardMap`].
        table: usize,
        /// Identifiers to rewrite, in word order.
        rewrites: Vec<Rewrite>,
        /// Its kind.
        kind: Kind,
    },
    /// Refused, with the reason the client is told.
    Refused(NotRouted),
}

/// The shape over `map`'s tables of the statement `text` (default-mode spelling), from the AST the
/// plan cache's one parse of it built (`stmts`; `tables`: those it names). `toks`: the lexer's tokens
/// of `text` when the caller has them (`None`: lexed here, only when a sharded table is named).
/// `None` when it names no sharded table.
pub fn shape(
    map: &ShardMap,
    text: &str,
    toks: Option<&[Token]>,
    stmts: &[Statement],
    tables: &[String],
) -> Option<ShardShape> {
    let named: Vec<usize> = tables.iter().filter_map(|t| map.find(t)).collect();
    if named.is_empty() {
        return None;
    }
    let table = named[0];
    let name = &map.tables[table].name;
    if named.iter().any(|t| *t != table) {
        let a = &map.tables[named[0]].name;
        let b = named.iter().map(|t| &map.tables[*t].name).find(|n| *n != a).unwrap_or(a);
        return Some(ShardShape::Refused(NotRouted(format!(
            "a statement over two sharded tables ({a} and {b}) would need a cross-shard join, which sluice does not do; query each table by its shard key and join in the application"
        ))));
    }
    let [stmt] = stmts else {
        return Some(refused(name, "holds several statements; send them one at a time"));
    };
    let lexed;
    let toks = match toks {
        Some(toks) => toks,
        None => {
            lexed = crate::lexer::lex_tokens(text.as_bytes()).1;
            &lexed
        }
    };
    let mut cx = Cx { map, table, text, toks, rewrites: Vec::new(), alias: None, error: None };
    let kind = cx.statement(stmt);
    if let Some(e) = cx.error {
        return Some(ShardShape::Refused(e));
    }
    Some(match kind {
        Ok(kind) => {
            cx.rewrites.sort_by_key(|r| r.word);
            cx.rewrites.dedup();
            ShardShape::Routed { table, rewrites: cx.rewrites, kind }
        }
        Err(e) => ShardShape::Refused(e),
    })
}

fn refused(table: &str, why: &str) -> ShardShape {
    ShardShape::Refused(NotRouted(format!(
        "this statement names sharded table {table} but {why}, so sluice cannot tell which shard it belongs to"
    )))
}

pub(super) struct Cx<'a> {
    map: &'a ShardMap,
    table: usize,
    text: &'a str,
    toks: &'a [Token],
    rewrites: Vec<Rewrite>,
    /// The sharded table's alias in this statement.
    alias: Option<String>,
    error: Option<NotRouted>,
}

impl Cx<'_> {
    fn name(&self) -> &str {
        &self.map.tables[self.table].name
    }

    fn key(&self) -> &str {
        &self.map.tables[self.table].key
    }

    fn is_ours(&self, n: &ObjectName) -> bool {
        self.map.find(&n.to_string().replace(['`', '"'], "")) == Some(self.table)
    }

    fn statement(&mut self, s: &Statement) -> Result<Kind, NotRouted> {
        let name = self.name().to_owned();
        let occurrences = count_relations(s, self);
        let kind = match s {
            Statement::Query(q) => self.select(q, occurrences)?,
            Statement::Insert(i) => self.insert(i, occurrences)?,
            Statement::Update(u) => {
                if !u.table.joins.is_empty() || u.from.is_some() || occurrences != 1 {
                    return Err(NotRouted(format!(
                        "a multi-table UPDATE or an UPDATE with a subquery over sharded table {name} cannot be routed to one shard; update {name} alone, by its shard key"
                    )));
                }
                self.factor(&u.table.relation)?;
                for a in &u.assignments {
                    let targets: Vec<&ObjectName> = match &a.target {
                        AssignmentTarget::ColumnName(n) => vec![n],
                        AssignmentTarget::Tuple(v) => v.iter().collect(),
                    };
                    for n in targets {
                        self.qualifier(&idents(n));
                        if idents(n).last().is_some_and(|i| i.value.eq_ignore_ascii_case(self.key())) {
                            return Err(NotRouted(format!(
                                "UPDATE of shard key {name}.{} would move the row to another shard; DELETE it and INSERT it with the new key instead",
                                self.key()
                            )));
                        }
                    }
                }
                self.exprs(s);
                Kind::Write { key: self.key_in(u.selection.as_ref()) }
            }
            Statement::Delete(d) => {
                let from = match &d.from {
                    FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
                };
                let [t] = from.as_slice() else { return Err(multi_delete(&name)) };
                if !d.tables.is_empty() || d.using.is_some() || !t.joins.is_empty() || occurrences != 1 {
                    return Err(multi_delete(&name));
                }
                self.factor(&t.relation)?;
                self.exprs(s);
                Kind::Write { key: self.key_in(d.selection.as_ref()) }
            }
            _ => {
                return Err(NotRouted(format!(
                    "sluice routes only SELECT, INSERT, REPLACE, UPDATE and DELETE over sharded table {name}; run DDL and other statements on each physical table (see `sluice shard-ddl`)"
                )));
            }
        };
        Ok(kind)
    }

    fn select(&mut self, q: &Query, occurrences: usize) -> Result<Kind, NotRouted> {
        let name = self.name().to_owned();
        if q.with.is_some() {
            return Err(NotRouted(format!(
                "a WITH clause over sharded table {name} is not routed; inline it"
            )));
        }
        // A `TABLE t` statement, which the parse read in parentheses.
        let mut body = q.body.as_ref();
        while let SetExpr::Query(inner) = body {
            body = inner.body.as_ref();
        }
        if let SetExpr::Table(_) = body {
            return Err(NotRouted(format!(
                "TABLE {name} is not routed over a sharded table; use SELECT * FROM {name} (by its shard key, or all shards)"
            )));
        }
        let SetExpr::Select(s) = q.body.as_ref() else {
            return Err(NotRouted(format!(
                "UNION and other set operations over sharded table {name} are not routed; run each part on its own"
            )));
        };
        let mut found = 0;
        let mut joins = false;
        for t in &s.from {
            for f in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
                match f {
                    TableFactor::Table { name: n, .. } if self.is_ours(n) => {
                        found += 1;
                        self.factor(f)?;
                    }
                    _ => joins = true,
                }
            }
        }
        if found == 0 || occurrences != found {
            return Err(NotRouted(format!(
                "a subquery over sharded table {name} cannot be routed; query {name} directly (by its shard key) and use the result"
            )));
        }
        if found > 1 {
            return Err(NotRouted(format!(
                "a self-join of sharded table {name} would need a cross-shard join, which sluice does not do; join in the application"
            )));
        }
        self.projection(&s.projection);
        self.exprs_query(q);
        let key = self.key_in(s.selection.as_ref());
        let scatter = self.merge_shape(q, s);
        Ok(Kind::Select { key, scatter, joins })
    }

    fn insert(&mut self, i: &sqlparser::ast::Insert, occurrences: usize) -> Result<Kind, NotRouted> {
        let name = self.name().to_owned();
        let TableObject::TableName(n) = &i.table else {
            return Err(NotRouted(format!("INSERT into a table function is not routed for {name}")));
        };
        if occurrences != 1 {
            return Err(NotRouted(format!(
                "INSERT … SELECT and subqueries over sharded table {name} are not routed; insert literal VALUES"
            )));
        }
        self.object(n);
        let key_column = i.columns.iter().position(|c| {
            c.0.last()
                .and_then(ObjectNamePart::as_ident)
                .is_some_and(|c| c.value.eq_ignore_ascii_case(self.key()))
        });
        let generate = self.map.tables[self.table].generate_key;
        let last_column = i.columns.last().and_then(|c| c.0.last()).and_then(ObjectNamePart::as_ident);
        let last_column = last_column.and_then(|c| word_of(self.text, self.toks, c));
        let (Some(last_column), true) = (last_column, key_column.is_some() || generate) else {
            return Err(NotRouted(format!(
                "INSERT into sharded table {name} must name its shard key column {} in the column list (INSERT INTO {name} ({}, …) VALUES …){}",
                self.key(),
                self.key(),
                if generate {
                    ""
                } else {
                    ", or set generate_key = true for it in [[sharding.tables]] so sluice generates the key"
                }
            )));
        };
        let values = matches!(i.source.as_deref().map(|q| q.body.as_ref()), Some(SetExpr::Values(_)));
        if !values || i.source.as_ref().is_some_and(|q| q.order_by.is_some() || q.limit_clause.is_some()) {
            return Err(NotRouted(format!(
                "INSERT into sharded table {name} is routed only in the form INSERT INTO {name} (columns) VALUES (…), (…) (not INSERT … SELECT or INSERT … SET)"
            )));
        }
        if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &i.on {
            for a in assignments {
                if let AssignmentTarget::ColumnName(c) = &a.target
                    && idents(c).last().is_some_and(|c| c.value.eq_ignore_ascii_case(self.key()))
                {
                    return Err(NotRouted(format!(
                        "ON DUPLICATE KEY UPDATE of shard key {name}.{} would move the row to another shard; update other columns only",
                        self.key()
                    )));
                }
            }
        }
        Ok(Kind::Insert { key_column, last_column })
    }

    /// The sharded table's identifiers in a FROM item (and its alias).
    fn factor(&mut self, f: &TableFactor) -> Result<(), NotRouted> {
        let TableFactor::Table { name: n, alias, .. } = f else {
            return Err(NotRouted(format!("sharded table {} is not a plain table here", self.name())));
        };
        self.alias = alias.as_ref().map(|a| a.name.value.to_lowercase());
        self.object(n);
        Ok(())
    }

    fn object(&mut self, n: &ObjectName) {
        let parts = idents(n);
        let count = parts.len();
        for (k, id) in parts.into_iter().enumerate() {
            let part = if k + 1 == count { Part::Table } else { Part::Schema };
            self.rewrite(&id, part);
        }
    }

    fn rewrite(&mut self, id: &Ident, part: Part) {
        match word_of(self.text, self.toks, id) {
            Some(word) => self.rewrites.push(Rewrite { word, part }),
            None => {
                self.error.get_or_insert_with(|| {
                    NotRouted(format!(
                        "sluice could not locate identifier {} in the statement over sharded table",
                        id.value
                    ))
                });
            }
        }
    }

    /// `documents.col` / `db.documents.col`: the qualifier names the table (when it has no alias).
    fn qualifier(&mut self, parts: &[Ident]) {
        if self.alias.is_some() || parts.len() < 2 {
            return;
        }
        let t = &parts[parts.len() - 2];
        if !t.value.eq_ignore_ascii_case(self.name()) {
            return;
        }
        self.rewrite(t, Part::Table);
        if parts.len() >= 3 {
            self.rewrite(&parts[parts.len() - 3], Part::Schema);
        }
    }

    fn projection(&mut self, items: &[SelectItem]) {
        for item in items {
            if let SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) = item {
                let mut parts = idents(n);
                parts.push(Ident::new("*"));
                self.qualifier(&parts);
            }
        }
    }

    fn exprs(&mut self, s: &Statement) {
        let mut q = Qualifiers(Vec::new());
        let _ = s.visit(&mut q);
        for parts in q.0 {
            self.qualifier(&parts);
        }
    }

    fn exprs_query(&mut self, query: &Query) {
        let mut q = Qualifiers(Vec::new());
        let _ = query.visit(&mut q);
        for parts in q.0 {
            self.qualifier(&parts);
        }
    }

    /// The key's conjunct in a WHERE clause (top-level ANDs only), the leftmost one first. Walked with
    /// a stack of its own, not by recursion: an AND chain is as deep as it is long.
    fn key_in(&self, w: Option<&Expr>) -> Option<KeyAt> {
        let mut todo = vec![w?];
        while let Some(e) = todo.pop() {
            match e {
                Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::And, right } => {
                    todo.push(right);
                    todo.push(left);
                }
                Expr::Nested(e) => todo.push(e),
                e => {
                    if let Some(k) = self.key_conjunct(e) {
                        return Some(k);
                    }
                }
            }
        }
        None
    }

    /// The key's place when `e` (not an AND) is `key = value`, `value = key` or `key IN (values)`.
    fn key_conjunct(&self, e: &Expr) -> Option<KeyAt> {
        match e {
            Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::Eq, right } => {
                if let Some(id) = self.key_column(left)
                    && is_value(right)
                {
                    return Some(KeyAt { word: self.word(&id)?, form: KeyForm::Eq });
                }
                if let Some(first) = self.key_column_first(right)
                    && is_value(left)
                {
                    return Some(KeyAt { word: self.word(&first)?, form: KeyForm::EqReversed });
                }
                None
            }
            Expr::In { expr, target: InTarget::List(list), negated: false, .. }
                if list.iter().all(is_value) =>
            {
                let id = self.key_column(expr)?;
                Some(KeyAt { word: self.word(&id)?, form: KeyForm::In })
            }
            _ => None,
        }
    }

    fn word(&self, id: &Ident) -> Option<usize> {
        word_of(self.text, self.toks, id)
    }

    /// The key column's identifier (last part) when `e` is the key, qualified by our table or alias.
    fn key_column(&self, e: &Expr) -> Option<Ident> {
        match e {
            Expr::Identifier(id) if id.value.eq_ignore_ascii_case(self.key()) => Some(id.clone()),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = &parts[parts.len() - 1];
                let q = &parts[parts.len() - 2];
                let ours = match &self.alias {
                    Some(a) => q.value.eq_ignore_ascii_case(a),
                    None => q.value.eq_ignore_ascii_case(self.name()),
                };
                (ours && col.value.eq_ignore_ascii_case(self.key())).then(|| col.clone())
            }
            _ => None,
        }
    }

    /// The key column's first identifier (for `value = key`).
    fn key_column_first(&self, e: &Expr) -> Option<Ident> {
        self.key_column(e)?;
        match e {
            Expr::Identifier(id) => Some(id.clone()),
            Expr::CompoundIdentifier(parts) => parts.first().cloned(),
            _ => None,
        }
    }
}

fn multi_delete(name: &str) -> NotRouted {
    NotRouted(format!(
        "a multi-table DELETE or a DELETE with a subquery over sharded table {name} cannot be routed to one shard; delete from {name} alone, by its shard key"
    ))
}

pub(super) fn is_number(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(v.value, Value::Number(..)))
}

fn is_value(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => matches!(
            v.value,
            Value::Number(..)
                | Value::SingleQuotedString(_)
                | Value::DoubleQuotedString(_)
                | Value::Placeholder(_)
                | Value::NationalStringLiteral(_)
        ),
        Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => is_number(expr),
        _ => false,
    }
}

fn idents(n: &ObjectName) -> Vec<Ident> {
    n.0.iter().filter_map(|p| p.as_ident().cloned()).collect()
}

mod locate;
mod select;
