//! Merging the result sets of one SELECT run on every shard: aggregates without GROUP BY fold into one
//! row (COUNT and SUM add, MIN/MAX compare), otherwise rows are k-way merged by the ORDER BY columns
//! (each shard returns them sorted) or concatenated, then OFFSET/LIMIT apply.
//!
//! Comparison follows MySQL where it can without the collation: numeric columns numerically (exact for
//! integers and decimals), NULL first ascending; strings compare by their bytes, which is MySQL's order
//! for binary and `_bin` collations only (a `_ci` collation may order differently — documented).

use super::MergeError;
use std::cmp::Ordering;

/// A text-protocol value (`None` = NULL).
pub type Cell = Option<Vec<u8>>;
/// A row.
pub type Row = Vec<Cell>;

/// An aggregate sluice folds across shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum of the shards' counts.
    Count,
    /// Sum (NULL when every shard's is NULL).
    Sum,
    /// Smallest non-NULL.
    Min,
    /// Largest non-NULL.
    Max,
    /// Each shard is asked for `SUM(x), COUNT(x)` in its place (the AVG function name is word
    /// `word`); sluice divides, with 4 more decimals than the sum (MySQL's div_precision_increment).
    Avg {
        /// Word ordinal of the `AVG` identifier.
        word: usize,
    },
}

/// An ORDER BY key, resolved against the result's columns at merge time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    /// 1-based select-list position.
    Position(usize),
    /// A column name or alias (lower-case).
    Name(String),
}

/// How a SELECT's scatter results merge (from its shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeShape {
    /// Per select item: an aggregate, or `None` (wildcards expand to plain columns).
    pub columns: Vec<Option<Agg>>,
    /// ORDER BY keys and whether each is descending.
    pub order: Vec<(OrderKey, bool)>,
    /// Whether it has a LIMIT (the per-shard text then asks for offset + count rows, or, with GROUP
    /// BY, has no LIMIT: a group may have rows on every shard).
    pub limit: bool,
    /// GROUP BY columns (0-based select positions): the shards' groups fold on them.
    pub group: Vec<usize>,
    /// Per ORDER BY key of a plain scatter: the column whose `WEIGHT_STRING()` each shard returns in a
    /// hidden column after the selected ones (string keys then compare in the column's collation).
    pub weights: Vec<Option<String>>,
    /// MIN/MAX columns without GROUP BY (position among the shards' columns, word of the function
    /// name): each shard also returns `WEIGHT_STRING(MIN(x))` in a hidden column.
    pub min_max: Vec<(usize, usize)>,
}

impl MergeShape {
    /// Whether the result is one folded row.
    pub fn aggregates(&self) -> bool {
        self.group.is_empty() && self.columns.iter().any(Option::is_some)
    }

    /// Hidden WEIGHT_STRING columns the shards return after the selected ones.
    pub fn hidden(&self) -> usize {
        self.weights.iter().flatten().count() + self.min_max.len()
    }

    /// Positions in the shards' result of each AVG's SUM column (its COUNT follows it).
    pub fn avg_positions(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = 0;
        for c in &self.columns {
            if matches!(c, Some(Agg::Avg { .. })) {
                out.push(at);
                at += 1;
            }
            at += 1;
        }
        out
    }

    /// The shape of the shards' result: each AVG as a SUM and a COUNT.
    fn expanded(&self) -> Self {
        let mut columns = Vec::with_capacity(self.columns.len() + 2);
        for c in &self.columns {
            match c {
                Some(Agg::Avg { .. }) => columns.extend([Some(Agg::Sum), Some(Agg::Count)]),
                c => columns.push(*c),
            }
        }
        Self { columns, ..self.clone() }
    }
}

/// What the merge needs to know about the result's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// Name (alias) as the client sees it, lower-case.
    pub name: String,
    /// Its original column name, lower-case.
    pub org_name: String,
    /// Numeric type (compared and added as numbers).
    pub numeric: bool,
}

/// Merges per-shard rows. `limit` is (offset, count) of the statement.
pub fn merge(
    shape: &MergeShape,
    columns: &[ColumnInfo],
    shards: Vec<Vec<Row>>,
    limit: Option<(u64, u64)>,
) -> Result<Vec<Row>, MergeError> {
    let mut rows = if !shape.group.is_empty() {
        let visible = columns.len().saturating_sub(shape.hidden());
        let weights: Vec<(usize, usize)> =
            shape.min_max.iter().enumerate().map(|(j, (col, _))| (*col, visible + j)).collect();
        let mut rows = grouped(shape, columns, shards, &weights)?;
        for r in &mut rows {
            r.truncate(visible);
        }
        rows
    } else if shape.aggregates() {
        let avgs = shape.avg_positions();
        let expanded = shape.expanded();
        let visible = columns.len().saturating_sub(shape.hidden());
        let weights: Vec<(usize, usize)> =
            shape.min_max.iter().enumerate().map(|(j, (col, _))| (*col, visible + j)).collect();
        let row = fold(&expanded, columns, shards, &weights)?;
        row.map(|mut r| {
            r.truncate(visible);
            collapse_avgs(r, &avgs)
        })
        .into_iter()
        .collect()
    } else if shape.order.is_empty() {
        shards.into_iter().flatten().collect()
    } else {
        let visible = columns.len().saturating_sub(shape.hidden());
        let mut keys = resolve(&shape.order, &columns[..visible])?;
        // A string key with a hidden weight compares by the weight (the column's collation).
        let mut hidden = visible;
        for (k, w) in keys.iter_mut().zip(&shape.weights) {
            if w.is_some() {
                if !columns.get(k.0).is_some_and(|c| c.numeric) {
                    k.0 = hidden;
                }
                hidden += 1;
            }
        }
        let mut rows = kway(shards, &keys, columns, limit.map(|(o, n)| o.saturating_add(n)));
        for r in &mut rows {
            r.truncate(visible);
        }
        rows
    };
    if let Some((offset, count)) = limit {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(rows.len());
        rows.drain(..offset);
        rows.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    }
    Ok(rows)
}

fn resolve(order: &[(OrderKey, bool)], columns: &[ColumnInfo]) -> Result<Vec<(usize, bool)>, MergeError> {
    order
        .iter()
        .map(|(k, desc)| {
            let i = match k {
                OrderKey::Position(p) if *p >= 1 && *p <= columns.len() => Some(p - 1),
                OrderKey::Position(_) => None,
                OrderKey::Name(n) => columns
                    .iter()
                    .position(|c| c.name == *n)
                    .or_else(|| columns.iter().position(|c| c.org_name == *n)),
            };
            i.map(|i| (i, *desc)).ok_or_else(|| MergeError::OrderKeyNotSelected {
                key: match k {
                    OrderKey::Position(p) => p.to_string(),
                    OrderKey::Name(n) => n.clone(),
                },
            })
        })
        .collect()
}

/// k-way merge of sorted runs, stopping after `want` rows.
fn kway(
    shards: Vec<Vec<Row>>,
    keys: &[(usize, bool)],
    columns: &[ColumnInfo],
    want: Option<u64>,
) -> Vec<Row> {
    let total: usize = shards.iter().map(Vec::len).sum();
    let want = want.map_or(total, |w| usize::try_from(w).unwrap_or(usize::MAX).min(total));
    let mut runs: Vec<std::vec::IntoIter<Row>> = shards.into_iter().map(Vec::into_iter).collect();
    let mut heads: Vec<Option<Row>> = runs.iter_mut().map(Iterator::next).collect();
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let mut best: Option<usize> = None;
        for (i, h) in heads.iter().enumerate() {
            let Some(h) = h else { continue };
            best = match best {
                Some(b) if heads[b].as_ref().is_some_and(|bh| compare_rows(h, bh, keys, columns).is_ge()) => {
                    Some(b)
                }
                _ => Some(i),
            };
        }
        let Some(b) = best else { break };
        if let Some(row) = heads[b].take() {
            out.push(row);
        }
        heads[b] = runs[b].next();
    }
    out
}

fn compare_rows(a: &Row, b: &Row, keys: &[(usize, bool)], columns: &[ColumnInfo]) -> Ordering {
    for &(i, desc) in keys {
        let numeric = columns.get(i).is_some_and(|c| c.numeric);
        let o = compare(a.get(i).and_then(Option::as_deref), b.get(i).and_then(Option::as_deref), numeric);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// MySQL order of two values: NULL first, numbers numerically, other values by bytes.
pub fn compare(a: Option<&[u8]>, b: Option<&[u8]>, numeric: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if numeric => match (Decimal::parse(a), Decimal::parse(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let x: f64 = std::str::from_utf8(a).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
                let y: f64 = std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        (Some(a), Some(b)) => a.cmp(b),
    }
}

/// GROUP BY: rows with equal group columns fold into one; then ORDER BY (or, as MariaDB does, the
/// group columns ascending).
fn grouped(
    shape: &MergeShape,
    columns: &[ColumnInfo],
    shards: Vec<Vec<Row>>,
    weights: &[(usize, usize)],
) -> Result<Vec<Row>, MergeError> {
    let mut index: std::collections::HashMap<Vec<Cell>, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Row> = Vec::new();
    for row in shards.into_iter().flatten() {
        let key: Vec<Cell> = shape.group.iter().map(|&i| row.get(i).cloned().flatten()).collect();
        match index.get(&key) {
            Some(&g) => fold_into(shape, columns, &mut groups[g], row, weights)?,
            None => {
                index.insert(key, groups.len());
                groups.push(row);
            }
        }
    }
    let keys = if shape.order.is_empty() {
        shape.group.iter().map(|&i| (i, false)).collect()
    } else {
        resolve(&shape.order, columns)?
    };
    groups.sort_by(|a, b| compare_rows(a, b, &keys, columns));
    Ok(groups)
}

fn fold(
    shape: &MergeShape,
    columns: &[ColumnInfo],
    shards: Vec<Vec<Row>>,
    weights: &[(usize, usize)],
) -> Result<Option<Row>, MergeError> {
    let mut acc: Option<Row> = None;
    for row in shards.into_iter().flatten() {
        match acc.as_mut() {
            None => acc = Some(row),
            Some(a) => fold_into(shape, columns, a, row, weights)?,
        }
    }
    Ok(acc)
}

/// Folds `row` into the accumulated `a`, column by column. `weights` maps a MIN/MAX column to its
/// hidden weight column: a string value then wins by its weight, and takes its weight along.
fn fold_into(
    shape: &MergeShape,
    columns: &[ColumnInfo],
    a: &mut Row,
    mut row: Row,
    weights: &[(usize, usize)],
) -> Result<(), MergeError> {
    for &(col, w) in weights {
        if columns.get(col).is_some_and(|c| c.numeric) || row.get(col).is_none_or(Option::is_none) {
            continue;
        }
        let better = match shape.columns.get(col).copied().flatten() {
            Some(Agg::Min) => {
                a.get(col).is_none_or(Option::is_none)
                    || compare(
                        row.get(w).and_then(Option::as_deref),
                        a.get(w).and_then(Option::as_deref),
                        false,
                    )
                    .is_lt()
            }
            Some(Agg::Max) => {
                compare(row.get(w).and_then(Option::as_deref), a.get(w).and_then(Option::as_deref), false)
                    .is_gt()
            }
            _ => false,
        };
        // Decided here: the generic pass below must not undo it.
        let (v, wv) = (row.get_mut(col).map(Option::take), row.get_mut(w).map(Option::take));
        if better && let (Some(v), Some(wv)) = (v, wv) {
            if let Some(slot) = a.get_mut(col) {
                *slot = v;
            }
            if let Some(slot) = a.get_mut(w) {
                *slot = wv;
            }
        }
    }
    {
        for (i, cell) in row.into_iter().enumerate() {
            let Some(slot) = a.get_mut(i) else { continue };
            let numeric = columns.get(i).is_some_and(|c| c.numeric);
            match shape.columns.get(i).copied().flatten() {
                Some(Agg::Count | Agg::Sum) => {
                    *slot = match (slot.take(), cell) {
                        (None, c) | (c, None) => c,
                        (Some(x), Some(y)) => Some(add(&x, &y)?),
                    }
                }
                Some(Agg::Min)
                    if cell.is_some()
                        && (slot.is_none() || compare(cell.as_deref(), slot.as_deref(), numeric).is_lt()) =>
                {
                    *slot = cell;
                }
                Some(Agg::Max)
                    if cell.is_some() && compare(cell.as_deref(), slot.as_deref(), numeric).is_gt() =>
                {
                    *slot = cell;
                }
                // Expanded into SUM and COUNT before folding.
                Some(Agg::Min | Agg::Max | Agg::Avg { .. }) | None => {}
            }
        }
    }
    Ok(())
}

/// The shards' row with each AVG's (SUM, COUNT) pair replaced by SUM / COUNT.
fn collapse_avgs(row: Row, avgs: &[usize]) -> Row {
    let mut out = Vec::with_capacity(row.len());
    let mut cells = row.into_iter().enumerate();
    while let Some((i, cell)) = cells.next() {
        if avgs.contains(&i) {
            let count = cells.next().and_then(|(_, c)| c);
            out.push(avg(cell.as_deref(), count.as_deref()));
        } else {
            out.push(cell);
        }
    }
    out
}

/// SUM / COUNT with 4 more decimals than the sum, rounded half away from zero; NULL for no rows.
fn avg(sum: Option<&[u8]>, count: Option<&[u8]>) -> Cell {
    let count: i128 = std::str::from_utf8(count?).ok()?.trim().parse().ok()?;
    if count == 0 {
        return None;
    }
    let sum = sum?;
    if let Some(d) = Decimal::parse(sum) {
        let scaled = d.mantissa.checked_mul(10_000)?;
        let (q, r) = (scaled / count, scaled % count);
        let q = if r.abs() * 2 >= count { q + scaled.signum() } else { q };
        return Some(Decimal { mantissa: q, scale: d.scale + 4 }.to_string().into_bytes());
    }
    let s: f64 = std::str::from_utf8(sum).ok()?.trim().parse().ok()?;
    Some(format!("{}", s / count as f64).into_bytes())
}

/// Adds two decimal texts exactly (integers and fixed-point decimals); floats approximately.
fn add(a: &[u8], b: &[u8]) -> Result<Vec<u8>, MergeError> {
    if let (Some(x), Some(y)) = (Decimal::parse(a), Decimal::parse(b)) {
        return x.add(&y).map(|d| d.to_string().into_bytes()).ok_or(MergeError::SumOverflow);
    }
    let parse = |v: &[u8]| std::str::from_utf8(v).ok().and_then(|s| s.trim().parse::<f64>().ok());
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => Ok(format!("{}", x + y).into_bytes()),
        _ => Err(MergeError::NotNumbers {
            a: String::from_utf8_lossy(a).into_owned(),
            b: String::from_utf8_lossy(b).into_owned(),
        }),
    }
}

/// A fixed-point decimal: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    fn parse(v: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(v).ok()?.trim();
        let (neg, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || int.len() + frac.len() > 36 {
            return None;
        }
        let digits = format!("{int}{frac}");
        let m: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
        Some(Self { mantissa: if neg { -m } else { m }, scale: frac.len() as u32 })
    }

    fn rescale(&self, scale: u32) -> Option<i128> {
        self.mantissa.checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn add(&self, o: &Self) -> Option<Self> {
        let scale = self.scale.max(o.scale);
        Some(Self { mantissa: self.rescale(scale)?.checked_add(o.rescale(scale)?)?, scale })
    }
}

impl Ord for Decimal {
    fn cmp(&self, o: &Self) -> Ordering {
        let scale = self.scale.max(o.scale);
        match (self.rescale(scale), o.rescale(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => Ordering::Equal,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let digits = if digits.len() <= scale {
            format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
        } else {
            digits
        };
        let (int, frac) = digits.split_at(digits.len() - scale);
        if neg {
            f.write_str("-")?;
        }
        if scale == 0 { f.write_str(int) } else { write!(f, "{int}.{frac}") }
    }
}
