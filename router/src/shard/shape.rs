//! A statement shape over sharded tables, found once per digest from sqlparser's AST: which words
//! (by ordinal among the lexer's word tokens, stable for every statement of the digest) are the sharded
//! table's identifiers to rewrite, where the shard key's value sits, and how scatter results merge.
//! Everything that cannot be routed safely is decided here as a refusal with its reason.

use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, FunctionArguments, GroupByExpr, Ident, InTarget, LimitClause,
    ObjectName, ObjectNamePart, OnInsert, OrderByKind, OrderBySort, Query, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, Statement, TableFactor, TableObject, Value, Visit, Visitor,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::ShardMap;
use super::merge::{Agg, MergeShape, OrderKey};
use crate::lexer::{Token, TokenKind};

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

/// What kind of statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A SELECT on one sharded table (joins with unsharded tables allowed when one shard is hit).
    Select {
        /// The key conjunct, if any.
        key: Option<KeyAt>,
        /// How scatter results merge, or why a scatter is refused.
        scatter: Result<MergeShape, String>,
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
    Refused(String),
}

/// The shape of `sql` over `map`'s tables (`tables`: those the statement names); `None` when it names
/// no sharded table.
pub fn shape(map: &ShardMap, sql: &[u8], tables: &[String]) -> Option<ShardShape> {
    let named: Vec<usize> = tables.iter().filter_map(|t| map.find(t)).collect();
    if named.is_empty() {
        return None;
    }
    let (_, toks) = crate::lexer::lex_tokens(sql);
    let toks = toks.as_slice();
    let table = named[0];
    let name = &map.tables[table].name;
    if named.iter().any(|t| *t != table) {
        let a = &map.tables[named[0]].name;
        let b = named.iter().map(|t| &map.tables[*t].name).find(|n| *n != a).unwrap_or(a);
        return Some(ShardShape::Refused(format!(
            "a statement over two sharded tables ({a} and {b}) would need a cross-shard join, which sluice does not do; query each table by its shard key and join in the application"
        )));
    }
    let Ok(text) = std::str::from_utf8(sql) else {
        return Some(refused(name, "is not valid UTF-8"));
    };
    let Ok(stmts) = Parser::parse_sql(&MySqlDialect {}, text) else {
        return Some(refused(name, "cannot be parsed by sluice"));
    };
    let [stmt] = stmts.as_slice() else {
        return Some(refused(name, "holds several statements; send them one at a time"));
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
    ShardShape::Refused(format!(
        "this statement names sharded table {table} but {why}, so sluice cannot tell which shard it belongs to"
    ))
}

struct Cx<'a> {
    map: &'a ShardMap,
    table: usize,
    text: &'a str,
    toks: &'a [Token],
    rewrites: Vec<Rewrite>,
    /// The sharded table's alias in this statement.
    alias: Option<String>,
    error: Option<String>,
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

    fn statement(&mut self, s: &Statement) -> Result<Kind, String> {
        let name = self.name().to_owned();
        let occurrences = count_relations(s, self);
        let kind = match s {
            Statement::Query(q) => self.select(q, occurrences)?,
            Statement::Insert(i) => self.insert(i, occurrences)?,
            Statement::Update(u) => {
                if !u.table.joins.is_empty() || u.from.is_some() || occurrences != 1 {
                    return Err(format!(
                        "a multi-table UPDATE or an UPDATE with a subquery over sharded table {name} cannot be routed to one shard; update {name} alone, by its shard key"
                    ));
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
                            return Err(format!(
                                "UPDATE of shard key {name}.{} would move the row to another shard; DELETE it and INSERT it with the new key instead",
                                self.key()
                            ));
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
                return Err(format!(
                    "sluice routes only SELECT, INSERT, REPLACE, UPDATE and DELETE over sharded table {name}; run DDL and other statements on each physical table (see `sluice shard-ddl`)"
                ));
            }
        };
        Ok(kind)
    }

    fn select(&mut self, q: &Query, occurrences: usize) -> Result<Kind, String> {
        let name = self.name().to_owned();
        let SetExpr::Select(s) = q.body.as_ref() else {
            return Err(format!(
                "UNION and other set operations over sharded table {name} are not routed; run each part on its own"
            ));
        };
        if q.with.is_some() {
            return Err(format!("a WITH clause over sharded table {name} is not routed; inline it"));
        }
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
            return Err(format!(
                "a subquery over sharded table {name} cannot be routed; query {name} directly (by its shard key) and use the result"
            ));
        }
        if found > 1 {
            return Err(format!(
                "a self-join of sharded table {name} would need a cross-shard join, which sluice does not do; join in the application"
            ));
        }
        self.projection(&s.projection);
        self.exprs_query(q);
        let key = self.key_in(s.selection.as_ref());
        let scatter = self.merge_shape(q, s);
        Ok(Kind::Select { key, scatter, joins })
    }

    fn insert(&mut self, i: &sqlparser::ast::Insert, occurrences: usize) -> Result<Kind, String> {
        let name = self.name().to_owned();
        let TableObject::TableName(n) = &i.table else {
            return Err(format!("INSERT into a table function is not routed for {name}"));
        };
        if occurrences != 1 {
            return Err(format!(
                "INSERT … SELECT and subqueries over sharded table {name} are not routed; insert literal VALUES"
            ));
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
            return Err(format!(
                "INSERT into sharded table {name} must name its shard key column {} in the column list (INSERT INTO {name} ({}, …) VALUES …){}",
                self.key(),
                self.key(),
                if generate {
                    ""
                } else {
                    ", or set generate_key = true for it in [[sharding.tables]] so sluice generates the key"
                }
            ));
        };
        let values = matches!(i.source.as_deref().map(|q| q.body.as_ref()), Some(SetExpr::Values(_)));
        if !values || i.source.as_ref().is_some_and(|q| q.order_by.is_some() || q.limit_clause.is_some()) {
            return Err(format!(
                "INSERT into sharded table {name} is routed only in the form INSERT INTO {name} (columns) VALUES (…), (…) (not INSERT … SELECT or INSERT … SET)"
            ));
        }
        if let Some(OnInsert::DuplicateKeyUpdate(assignments)) = &i.on {
            for a in assignments {
                if let AssignmentTarget::ColumnName(c) = &a.target
                    && idents(c).last().is_some_and(|c| c.value.eq_ignore_ascii_case(self.key()))
                {
                    return Err(format!(
                        "ON DUPLICATE KEY UPDATE of shard key {name}.{} would move the row to another shard; update other columns only",
                        self.key()
                    ));
                }
            }
        }
        Ok(Kind::Insert { key_column, last_column })
    }

    /// The sharded table's identifiers in a FROM item (and its alias).
    fn factor(&mut self, f: &TableFactor) -> Result<(), String> {
        let TableFactor::Table { name: n, alias, .. } = f else {
            return Err(format!("sharded table {} is not a plain table here", self.name()));
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
                    format!(
                        "sluice could not locate identifier {} in the statement over sharded table",
                        id.value
                    )
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

    /// The key's conjunct in a WHERE clause (top-level ANDs only).
    fn key_in(&self, w: Option<&Expr>) -> Option<KeyAt> {
        let w = w?;
        match w {
            Expr::BinaryOp { left, op: sqlparser::ast::BinaryOperator::And, right } => {
                self.key_in(Some(left)).or_else(|| self.key_in(Some(right)))
            }
            Expr::Nested(e) => self.key_in(Some(e)),
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

    fn merge_shape(&self, q: &Query, s: &sqlparser::ast::Select) -> Result<MergeShape, String> {
        let name = self.name();
        if s.distinct.is_some() {
            return Err(format!(
                "SELECT DISTINCT over all shards of {name} is not merged yet; add the shard key"
            ));
        }
        if s.having.is_some() {
            return Err(format!("HAVING over all shards of {name} is not merged yet; add the shard key"));
        }
        // GROUP BY: every expression must be selected (sluice folds the shards' groups on those columns).
        let mut group = Vec::new();
        match &s.group_by {
            GroupByExpr::Expressions(list, modifiers) if modifiers.is_empty() => {
                for g in list {
                    let text = g.to_string();
                    let by_name = |item: &SelectItem| match (item, g) {
                        (SelectItem::ExprWithAlias { alias, .. }, Expr::Identifier(id)) => {
                            alias.value.eq_ignore_ascii_case(&id.value)
                        }
                        (SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. }, _) => {
                            x.to_string().eq_ignore_ascii_case(&text)
                        }
                        _ => false,
                    };
                    let pos = match g {
                        Expr::Value(v) => match &v.value {
                            Value::Number(n, _) => n.parse::<usize>().ok().and_then(|p| p.checked_sub(1)),
                            _ => None,
                        },
                        _ => s.projection.iter().position(by_name),
                    };
                    match pos {
                        Some(p) if p < s.projection.len() => group.push(p),
                        _ => {
                            return Err(format!(
                                "GROUP BY {g} over all shards of {name} needs that expression in the select list (sluice merges the shards' groups on selected columns); select it, or add the shard key"
                            ));
                        }
                    }
                }
            }
            _ => return Err(format!("GROUP BY ALL / WITH ROLLUP over all shards of {name} is not merged")),
        }
        if q.locks.iter().len() > 0 {
            return Err(format!("locking reads over all shards of {name} are refused; add the shard key"));
        }
        let mut columns = Vec::with_capacity(s.projection.len());
        let mut min_max = Vec::new();
        for item in &s.projection {
            let expr = match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                _ => {
                    columns.push(None);
                    continue;
                }
            };
            let mut agg = aggregate(expr)?;
            if let (Some(Agg::Avg { word }), Expr::Function(f)) = (&mut agg, expr) {
                let id = f.name.0.last().and_then(ObjectNamePart::as_ident);
                *word = id.and_then(|id| self.word(id)).ok_or("AVG could not be located")?;
            }
            if let (Some(Agg::Min | Agg::Max), Expr::Function(f)) = (&agg, expr) {
                // MIN/MAX of a string compare in its collation: each shard also returns its weight.
                let id = f.name.0.last().and_then(ObjectNamePart::as_ident);
                let word = id.and_then(|id| self.word(id)).ok_or("MIN/MAX could not be located")?;
                let expanded =
                    columns.len() + columns.iter().filter(|c| matches!(c, Some(Agg::Avg { .. }))).count();
                min_max.push((expanded, word));
            }
            columns.push(agg);
            if columns.last().is_some_and(Option::is_none) && contains_aggregate(expr) {
                return Err(format!(
                    "an expression over an aggregate ({expr}) cannot be merged across the shards of {name}; select the aggregate alone"
                ));
            }
        }
        let mut order = Vec::new();
        if let Some(ob) = &q.order_by {
            let OrderByKind::Expressions(list) = &ob.kind else {
                return Err("ORDER BY ALL is not merged".into());
            };
            for o in list {
                let desc = matches!(o.options.sort, Some(OrderBySort::Desc));
                let key = match &o.expr {
                    Expr::Value(v) => match &v.value {
                        Value::Number(n, _) => OrderKey::Position(n.parse::<usize>().unwrap_or(0)),
                        _ => return Err(format!("ORDER BY {} cannot be merged", o.expr)),
                    },
                    Expr::Identifier(id) => OrderKey::Name(id.value.to_lowercase()),
                    Expr::CompoundIdentifier(p) => {
                        OrderKey::Name(p.last().map(|i| i.value.to_lowercase()).unwrap_or_default())
                    }
                    e => {
                        // An expression: it must be one of the selected ones (by its text).
                        let text = e.to_string();
                        let pos = s.projection.iter().position(|item| match item {
                            SelectItem::UnnamedExpr(x) | SelectItem::ExprWithAlias { expr: x, .. } => {
                                x.to_string() == text
                            }
                            _ => false,
                        });
                        match pos {
                            Some(p) => OrderKey::Position(p + 1),
                            None => {
                                return Err(format!(
                                    "ORDER BY {e} over all shards of {name} needs that expression in the select list (sluice merges on selected columns)"
                                ));
                            }
                        }
                    }
                };
                order.push((key, desc));
            }
        }
        let limit = match &q.limit_clause {
            None => false,
            Some(LimitClause::LimitOffset { limit: None, .. }) => false,
            Some(LimitClause::LimitOffset { limit: Some(l), offset, .. }) => {
                if !is_number(l) || offset.as_ref().is_some_and(|o| !is_number(&o.value)) {
                    return Err("LIMIT over all shards needs number literals".into());
                }
                true
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                if !is_number(offset) || !is_number(limit) {
                    return Err("LIMIT over all shards needs number literals".into());
                }
                true
            }
        };
        if !group.is_empty()
            && s.projection
                .iter()
                .any(|i| !matches!(i, SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }))
        {
            return Err(format!(
                "SELECT * with GROUP BY over all shards of {name} is not merged; name the columns"
            ));
        }
        if !group.is_empty() && columns.iter().any(|c| matches!(c, Some(Agg::Avg { .. }))) {
            return Err(format!(
                "AVG with GROUP BY over all shards of {name} is not merged yet; select SUM(x) and COUNT(x) and divide, or add the shard key"
            ));
        }
        // Plain scatters fetch WEIGHT_STRING(column) for ORDER BY keys that are columns: selected as a
        // plain column (by name, alias or position) or a column of a `*`.
        let plain = group.is_empty() && columns.iter().all(Option::is_none);
        let weights = order
            .iter()
            .map(|(k, _)| {
                if !plain {
                    return None;
                }
                let item_column = |i: usize| match s.projection.get(i) {
                    Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => column_name(e),
                    _ => None,
                };
                match k {
                    OrderKey::Position(p) => p.checked_sub(1).and_then(item_column),
                    OrderKey::Name(n) => {
                        let aliased = s.projection.iter().position(|i| {
                            matches!(i, SelectItem::ExprWithAlias { alias, .. } if alias.value.eq_ignore_ascii_case(n))
                        });
                        match aliased {
                            Some(i) => item_column(i),
                            None => Some(n.clone()),
                        }
                    }
                }
            })
            .collect();
        Ok(MergeShape { columns, order, limit, group, weights, min_max })
    }
}

/// The column an expression is, when it is a plain (possibly qualified) column.
fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(id) => Some(id.value.clone()),
        Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.clone()),
        _ => None,
    }
}

fn multi_delete(name: &str) -> String {
    format!(
        "a multi-table DELETE or a DELETE with a subquery over sharded table {name} cannot be routed to one shard; delete from {name} alone, by its shard key"
    )
}

fn is_number(e: &Expr) -> bool {
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

/// The merge of one selected expression: an aggregate, or `None` for a plain column.
fn aggregate(e: &Expr) -> Result<Option<Agg>, String> {
    let Expr::Function(f) = e else { return Ok(None) };
    let name = f.name.to_string().to_lowercase();
    let agg = match name.as_str() {
        "count" => Agg::Count,
        "sum" => Agg::Sum,
        "min" => Agg::Min,
        "max" => Agg::Max,
        // Each shard is asked for SUM and COUNT instead; `word` is found by the caller.
        "avg" => Agg::Avg { word: 0 },
        "group_concat" | "std" | "stddev" | "variance" | "bit_and" | "bit_or" | "bit_xor" => {
            return Err(format!(
                "{} over all shards is not merged yet; use SUM and COUNT (AVG = SUM / COUNT) or add the shard key",
                name.to_uppercase()
            ));
        }
        _ => return Ok(None),
    };
    if let FunctionArguments::List(l) = &f.args
        && l.duplicate_treatment.is_some_and(|d| d == sqlparser::ast::DuplicateTreatment::Distinct)
    {
        return Err(format!(
            "{}(DISTINCT …) over all shards is not merged; add the shard key",
            name.to_uppercase()
        ));
    }
    Ok(Some(agg))
}

fn contains_aggregate(e: &Expr) -> bool {
    struct Find(bool);
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e
                && matches!(
                    f.name.to_string().to_lowercase().as_str(),
                    "count" | "sum" | "min" | "max" | "avg" | "group_concat"
                )
            {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = e.visit(&mut f);
    f.0
}

fn idents(n: &ObjectName) -> Vec<Ident> {
    n.0.iter().filter_map(|p| p.as_ident().cloned()).collect()
}

/// Every compound identifier in expressions (column qualifiers).
struct Qualifiers(Vec<Vec<Ident>>);

impl Visitor for Qualifiers {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = e {
            self.0.push(parts.clone());
        }
        ControlFlow::Continue(())
    }
}

/// How often the sharded table is named as a relation anywhere in the statement (subqueries too).
fn count_relations(s: &Statement, cx: &Cx<'_>) -> usize {
    struct Count<'a, 'b>(&'a Cx<'b>, usize);
    impl Visitor for Count<'_, '_> {
        type Break = ();
        fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
            if self.0.is_ours(r) {
                self.1 += 1;
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Count(cx, 0);
    let _ = s.visit(&mut c);
    c.1
}

/// The word ordinal of the token an identifier's span starts at.
fn word_of(text: &str, toks: &[Token], id: &Ident) -> Option<usize> {
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
