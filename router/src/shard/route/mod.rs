//! Per statement: the shard(s) a statement over a sharded table goes to and the text each receives,
//! from its shape (cached per digest) and the lexer's tokens of this statement — no parse. Key values
//! come from the literals (or the prepared statement's parameters) at the places the shape names;
//! identifiers are rewritten by span, so a column or a string with the table's name is never touched.

use std::ops::Range;

use super::merge::MergeShape;
use super::shape::{KeyAt, KeyForm, Kind, Part, Rewrite, ShardShape};
use super::{KeyValue, NotRouted, ShardError, ShardMap, ShardTable, parse_int};
use crate::lexer::{LiteralKind, Token, TokenKind};

/// A statement for one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPart {
    /// Shard number.
    pub shard: usize,
    /// The text it receives (the physical table named).
    pub sql: String,
}

/// Where a statement over a sharded table goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardRoute {
    /// One shard.
    One(ShardPart),
    /// A SELECT on several shards, merged by sluice.
    Scatter {
        /// One statement per shard.
        parts: Vec<ShardPart>,
        /// How the results merge.
        merge: MergeShape,
        /// The statement's (offset, count), applied after the merge.
        limit: Option<(u64, u64)>,
        /// Per AVG item: the column name the client sees (its text as written), `None` when it has an
        /// alias (which then names the COUNT column the shards return).
        avg_names: Vec<Option<String>>,
    },
    /// A write split over several shards (multi-row INSERT, key IN-list, broadcast).
    Split(Vec<ShardPart>),
}

impl ShardRoute {
    /// Every part, in shard order.
    pub fn parts(&self) -> &[ShardPart] {
        match self {
            ShardRoute::One(p) => std::slice::from_ref(p),
            ShardRoute::Scatter { parts, .. } | ShardRoute::Split(parts) => parts,
        }
    }
}

fn refuse(message: impl Into<String>) -> ShardError {
    ShardError::NotRouted(NotRouted(message.into()))
}

/// Routes one statement. `params` are a prepared statement's bound values (`None`: not a usable key);
/// `ids` gives a fresh key for each row of an INSERT that omits it (tables with `generate_key`).
pub fn route_statement(
    shape: &ShardShape,
    map: &ShardMap,
    sql: &[u8],
    toks: &[Token],
    params: &[Option<KeyValue>],
    ids: &dyn Fn() -> i64,
) -> Result<ShardRoute, ShardError> {
    let (table, rewrites, kind) = match shape {
        ShardShape::Refused(m) => return Err(m.clone().into()),
        ShardShape::Routed { table, rewrites, kind } => (*table, rewrites, kind),
    };
    let Some(t) = map.tables.get(table) else { return Err(refuse("sharding config changed; retry")) };
    let words = word_positions(toks);
    let r = Renderer { sql, toks, words: &words, rewrites, table: t };
    match kind {
        Kind::Select { key, scatter, joins } => {
            let shards = match key.map(|k| key_shards(&r, k, params)).transpose()? {
                Some(Some(s)) => s,
                _ if *joins => {
                    return Err(refuse(format!(
                        "a join of sharded table {} with other tables runs on one shard only: add {}.{} = … to the WHERE clause",
                        t.name, t.name, t.key
                    )));
                }
                _ => (0..t.shards.len()).collect(),
            };
            if let [one] = shards.as_slice() {
                return Ok(ShardRoute::One(ShardPart {
                    shard: *one,
                    sql: r.render(0..sql.len(), *one, &[]),
                }));
            }
            if *joins {
                return Err(refuse(format!(
                    "a join of sharded table {} with other tables runs on one shard only: its {} values here are on several shards; query one key at a time",
                    t.name, t.key
                )));
            }
            let merge = scatter.clone()?;
            let (limit, mut extra) = if merge.limit { r.limit()? } else { (None, Vec::new()) };
            if !merge.group.is_empty() {
                // A group may have rows on every shard: each shard returns all its groups.
                for (span, text) in &mut extra {
                    *span = r.limit_word_start().unwrap_or(span.start)..span.end;
                    text.clear();
                }
            }
            let mut weights: Vec<String> =
                merge.weights.iter().flatten().map(|c| format!(", WEIGHT_STRING({})", quote(c))).collect();
            for (_, word) in &merge.min_max {
                let call = r.call_text(*word).ok_or_else(|| refuse("MIN/MAX could not be rewritten"))?;
                weights.push(format!(", WEIGHT_STRING({call})"));
            }
            if !weights.is_empty() {
                let from = r.top_level_word(b"from").ok_or_else(|| refuse("no FROM found"))?;
                extra.push((from..from, format!("{} ", weights.concat().trim_start_matches(' '))));
            }
            let mut avg_names = Vec::new();
            for c in &merge.columns {
                if let Some(super::merge::Agg::Avg { word }) = c {
                    let (span, text, name) =
                        r.avg(*word).ok_or_else(|| refuse("AVG could not be rewritten"))?;
                    extra.push((span, text));
                    avg_names.push(name);
                }
            }
            let parts = shards
                .into_iter()
                .map(|s| ShardPart { shard: s, sql: r.render(0..sql.len(), s, &extra) })
                .collect();
            Ok(ShardRoute::Scatter { parts, merge, limit, avg_names })
        }
        Kind::Write { key } => {
            let shards = match key.map(|k| key_shards(&r, k, params)).transpose()? {
                Some(Some(s)) => s,
                _ if t.broadcast_writes => (0..t.shards.len()).collect(),
                _ => {
                    return Err(refuse(format!(
                        "a write to sharded table {} without its shard key in the WHERE clause would touch every shard: add {} = … or {} IN (…), or set broadcast_writes = true for {} in [[sharding.tables]]",
                        t.name, t.key, t.key, t.name
                    )));
                }
            };
            let mut parts: Vec<ShardPart> = shards
                .into_iter()
                .map(|s| ShardPart { shard: s, sql: r.render(0..sql.len(), s, &[]) })
                .collect();
            if parts.len() == 1 {
                return Ok(ShardRoute::One(parts.remove(0)));
            }
            Ok(ShardRoute::Split(parts))
        }
        Kind::Insert { key_column, last_column } => r.insert(*key_column, *last_column, params, ids),
    }
}

/// The statement's text for `shard` with only the table identifiers rewritten (a prepared statement's
/// text to prepare there); `None` for a refused shape or an unknown shard.
pub fn render_for_shard(
    shape: &ShardShape,
    map: &ShardMap,
    sql: &[u8],
    toks: &[Token],
    shard: usize,
) -> Option<String> {
    let ShardShape::Routed { table, rewrites, .. } = shape else { return None };
    let t = map.tables.get(*table)?;
    if shard >= t.shards.len() {
        return None;
    }
    let words = word_positions(toks);
    let r = Renderer { sql, toks, words: &words, rewrites, table: t };
    Some(r.render(0..sql.len(), shard, &[]))
}

/// The positions in `toks` of words and quoted names (what a shape's word ordinals count).
fn word_positions(toks: &[Token]) -> Vec<usize> {
    toks.iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, TokenKind::Word | TokenKind::Quoted))
        .map(|(i, _)| i)
        .collect()
}

pub(super) struct Renderer<'a> {
    sql: &'a [u8],
    toks: &'a [Token],
    words: &'a [usize],
    rewrites: &'a [Rewrite],
    table: &'a ShardTable,
}

impl Renderer<'_> {
    fn tok(&self, word: usize) -> Option<&Token> {
        self.words.get(word).and_then(|i| self.toks.get(*i))
    }

    fn text(&self, t: &Token) -> &[u8] {
        self.sql.get(t.span.clone()).unwrap_or_default()
    }

    /// `range` of the statement with the table identifiers rewritten for `shard` and `extra` spans
    /// replaced.
    fn render(&self, range: Range<usize>, shard: usize, extra: &[(Range<usize>, String)]) -> String {
        let Some(p) = self.table.shards.get(shard) else { return String::new() };
        let mut subs: Vec<(Range<usize>, String)> = Vec::with_capacity(self.rewrites.len() + extra.len());
        for rw in self.rewrites {
            let Some(t) = self.tok(rw.word) else { continue };
            let text = match (rw.part, &p.schema) {
                (Part::Schema, Some(s)) => quote(s),
                (Part::Schema, None) => continue,
                (Part::Table, Some(s))
                    if !self.rewrites.iter().any(|o| o.part == Part::Schema && o.word + 1 == rw.word) =>
                {
                    format!("{}.{}", quote(s), quote(&p.table))
                }
                (Part::Table, _) => quote(&p.table),
            };
            subs.push((t.span.clone(), text));
        }
        subs.extend(extra.iter().cloned());
        subs.sort_by_key(|(r, _)| r.start);
        let mut out = String::with_capacity(range.len() + 16);
        let mut at = range.start;
        for (r, text) in subs {
            if r.start < at || r.end > range.end {
                continue;
            }
            out.push_str(&String::from_utf8_lossy(&self.sql[at..r.start]));
            out.push_str(&text);
            at = r.end;
        }
        out.push_str(&String::from_utf8_lossy(self.sql.get(at..range.end).unwrap_or_default()));
        out
    }

    /// The text of the function call whose name is word `word` (`MIN(title)`).
    fn call_text(&self, word: usize) -> Option<String> {
        let (span, _, _) = self.avg(word)?;
        Some(String::from_utf8_lossy(&self.sql[span]).into_owned())
    }

    /// `AVG(args)` at word `word`: its span, `SUM(args), COUNT(args)`, and its name as written unless
    /// it has an alias.
    fn avg(&self, word: usize) -> Option<(Range<usize>, String, Option<String>)> {
        let start = *self.words.get(word)?;
        if self.toks.get(start + 1)?.kind != TokenKind::Open {
            return None;
        }
        let mut depth = 0;
        let mut end = start + 1;
        for (i, t) in self.toks.iter().enumerate().skip(start + 1) {
            match t.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let span = self.toks[start].span.start..self.toks[end].span.end;
        let args = String::from_utf8_lossy(&self.sql[self.toks[start + 1].span.start..span.end]).into_owned();
        let aliased = self.toks.get(end + 1).is_some_and(|t| match t.kind {
            TokenKind::Quoted => true,
            TokenKind::Word => !self.text(t).eq_ignore_ascii_case(b"from"),
            _ => false,
        });
        let name = (!aliased).then(|| String::from_utf8_lossy(&self.sql[span.clone()]).into_owned());
        Some((span, format!("SUM{args}, COUNT{args}"), name))
    }

    /// Where the first top-level `word` starts.
    fn top_level_word(&self, word: &[u8]) -> Option<usize> {
        let mut depth = 0i32;
        for t in self.toks {
            match t.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close => depth -= 1,
                TokenKind::Word if depth == 0 && self.text(t).eq_ignore_ascii_case(word) => {
                    return Some(t.span.start);
                }
                _ => {}
            }
        }
        None
    }

    /// Where the top-level LIMIT keyword starts.
    fn limit_word_start(&self) -> Option<usize> {
        let mut depth = 0i32;
        let mut at = None;
        for t in self.toks {
            match t.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close => depth -= 1,
                TokenKind::Word if depth == 0 && self.text(t).eq_ignore_ascii_case(b"limit") => {
                    at = Some(t.span.start)
                }
                _ => {}
            }
        }
        at
    }

    /// The statement's LIMIT (offset, count) and the replacement asking each shard for offset + count.
    #[allow(clippy::type_complexity)]
    fn limit(&self) -> Result<(Option<(u64, u64)>, Vec<(Range<usize>, String)>), ShardError> {
        let mut depth = 0i32;
        let mut at = None;
        for (i, t) in self.toks.iter().enumerate() {
            match t.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close => depth -= 1,
                TokenKind::Word if depth == 0 && self.text(t).eq_ignore_ascii_case(b"limit") => at = Some(i),
                _ => {}
            }
        }
        let bad = || {
            refuse("LIMIT over all shards needs number literals (LIMIT n, LIMIT m, n or LIMIT n OFFSET m)")
        };
        let Some(at) = at else { return Err(bad()) };
        let num = |i: usize| -> Option<(u64, Range<usize>)> {
            let t = self.toks.get(i)?;
            if t.kind != TokenKind::Literal(LiteralKind::Number) {
                return None;
            }
            Some((std::str::from_utf8(self.text(t)).ok()?.trim().parse().ok()?, t.span.clone()))
        };
        let (a, ra) = num(at + 1).ok_or_else(bad)?;
        let next = self.toks.get(at + 2);
        let (offset, count, end) = match next.map(|t| (t.kind, self.text(t))) {
            Some((TokenKind::Comma, _)) => {
                let (b, rb) = num(at + 3).ok_or_else(bad)?;
                (a, b, rb.end)
            }
            Some((TokenKind::Word, w)) if w.eq_ignore_ascii_case(b"offset") => {
                let (b, rb) = num(at + 3).ok_or_else(bad)?;
                (b, a, rb.end)
            }
            _ => (0, a, ra.end),
        };
        Ok((Some((offset, count)), vec![(ra.start..end, offset.saturating_add(count).to_string())]))
    }

    /// One key value from the token at `i`.
    fn value(&self, i: usize, params: &[Option<KeyValue>]) -> Option<KeyValue> {
        let t = self.toks.get(i)?;
        match t.kind {
            TokenKind::Param => {
                let n = self.toks[..i].iter().filter(|t| t.kind == TokenKind::Param).count();
                params.get(n).cloned().flatten()
            }
            TokenKind::Literal(LiteralKind::Number) => parse_int(self.text(t)).map(KeyValue::Int),
            TokenKind::Literal(LiteralKind::String) => {
                let s = unquote(self.text(t))?;
                // '7.0' equals 7 for an integer key but hashes differently: not a usable key.
                let looks_numeric =
                    std::str::from_utf8(&s).ok().is_some_and(|x| x.trim().parse::<f64>().is_ok());
                if looks_numeric && parse_int(&s).is_none() {
                    return None;
                }
                Some(KeyValue::Str(s))
            }
            _ => None,
        }
    }
}

/// The shards the key conjunct names; `None` when its values are not usable keys (then: no key).
fn key_shards(
    r: &Renderer<'_>,
    k: KeyAt,
    params: &[Option<KeyValue>],
) -> Result<Option<Vec<usize>>, ShardError> {
    let Some(&ti) = r.words.get(k.word) else { return Ok(None) };
    let is_eq = |i: usize| r.toks.get(i).is_some_and(|t| t.kind == TokenKind::Operator && r.text(t) == b"=");
    let values: Vec<Option<KeyValue>> = match k.form {
        KeyForm::Eq if is_eq(ti + 1) => vec![r.value(ti + 2, params)],
        KeyForm::EqReversed if ti >= 2 && is_eq(ti - 1) => vec![r.value(ti - 2, params)],
        KeyForm::In => {
            let in_word = r.toks.get(ti + 1).is_some_and(|t| r.text(t).eq_ignore_ascii_case(b"in"));
            if !in_word || r.toks.get(ti + 2).map(|t| t.kind) != Some(TokenKind::Open) {
                return Ok(None);
            }
            let mut v = Vec::new();
            let mut i = ti + 3;
            loop {
                v.push(r.value(i, params));
                match r.toks.get(i + 1).map(|t| t.kind) {
                    Some(TokenKind::Comma) => i += 2,
                    Some(TokenKind::Close) => break,
                    _ => return Ok(None),
                }
            }
            v
        }
        _ => return Ok(None),
    };
    let mut shards = Vec::with_capacity(values.len());
    for v in values {
        let Some(v) = v else { return Ok(None) };
        shards.push(r.table.shard_of(&v)?);
    }
    shards.sort_unstable();
    shards.dedup();
    Ok(Some(shards))
}

fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A string literal's bytes: introducer dropped, quotes removed, escapes undone.
fn unquote(lit: &[u8]) -> Option<Vec<u8>> {
    let q = lit.iter().position(|b| *b == b'\'' || *b == b'"')?;
    let quote = lit[q];
    let body = lit.get(q + 1..lit.len().checked_sub(1)?)?;
    if lit.last() != Some(&quote) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'\\' && i + 1 < body.len() {
            let e = body[i + 1];
            out.push(match e {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'0' => 0,
                b'Z' => 0x1a,
                b'b' => 0x08,
                other => other,
            });
            i += 2;
        } else if c == quote && body.get(i + 1) == Some(&quote) {
            out.push(quote);
            i += 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Some(out)
}

mod insert;
