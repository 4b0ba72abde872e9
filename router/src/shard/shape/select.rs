//! The merge of a SELECT run on every shard, from its AST: aggregates per select item, GROUP BY and
//! ORDER BY columns, LIMIT, and the hidden WEIGHT_STRING columns strings are compared by.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, LimitClause, ObjectNamePart, OrderByKind, OrderBySort, Query,
    SelectItem, Value, Visit, Visitor,
};

use super::super::merge::{Agg, MergeShape, OrderKey};
use super::{Cx, NotRouted, is_number};

impl Cx<'_> {
    pub(super) fn merge_shape(&self, q: &Query, s: &sqlparser::ast::Select) -> Result<MergeShape, NotRouted> {
        let name = self.name();
        if s.distinct.is_some() {
            return Err(NotRouted(format!(
                "SELECT DISTINCT over all shards of {name} is not merged yet; add the shard key"
            )));
        }
        if s.having.is_some() {
            return Err(NotRouted(format!(
                "HAVING over all shards of {name} is not merged yet; add the shard key"
            )));
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
                            return Err(NotRouted(format!(
                                "GROUP BY {g} over all shards of {name} needs that expression in the select list (sluice merges the shards' groups on selected columns); select it, or add the shard key"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(NotRouted(format!(
                    "GROUP BY ALL / WITH ROLLUP over all shards of {name} is not merged"
                )));
            }
        }
        if q.locks.iter().len() > 0 {
            return Err(NotRouted(format!(
                "locking reads over all shards of {name} are refused; add the shard key"
            )));
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
                return Err(NotRouted(format!(
                    "an expression over an aggregate ({expr}) cannot be merged across the shards of {name}; select the aggregate alone"
                )));
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
                        _ => return Err(NotRouted(format!("ORDER BY {} cannot be merged", o.expr))),
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
                                return Err(NotRouted(format!(
                                    "ORDER BY {e} over all shards of {name} needs that expression in the select list (sluice merges on selected columns)"
                                )));
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
            return Err(NotRouted(format!(
                "SELECT * with GROUP BY over all shards of {name} is not merged; name the columns"
            )));
        }
        if !group.is_empty() && columns.iter().any(|c| matches!(c, Some(Agg::Avg { .. }))) {
            return Err(NotRouted(format!(
                "AVG with GROUP BY over all shards of {name} is not merged yet; select SUM(x) and COUNT(x) and divide, or add the shard key"
            )));
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

/// The merge of one selected expression: an aggregate, or `None` for a plain column.
fn aggregate(e: &Expr) -> Result<Option<Agg>, NotRouted> {
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
            return Err(NotRouted(format!(
                "{} over all shards is not merged yet; use SUM and COUNT (AVG = SUM / COUNT) or add the shard key",
                name.to_uppercase()
            )));
        }
        _ => return Ok(None),
    };
    if let FunctionArguments::List(l) = &f.args
        && l.duplicate_treatment.is_some_and(|d| d == sqlparser::ast::DuplicateTreatment::Distinct)
    {
        return Err(NotRouted(format!(
            "{}(DISTINCT …) over all shards is not merged; add the shard key",
            name.to_uppercase()
        )));
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
