//! INSERT … VALUES over a sharded table: each row's key (a literal, a parameter, or a generated id),
//! and one statement per shard holding its rows.

use std::ops::Range;

use super::{Renderer, ShardError, ShardPart, ShardRoute, quote, refuse};
use crate::lexer::TokenKind;
use crate::shard::KeyValue;

impl Renderer<'_> {
    /// Keys of an INSERT's rows and the per-shard statements (with generated keys when the column
    /// list omits the key: the key column is appended to the list and each row gets its id, the
    /// first one as `LAST_INSERT_ID(id)` so the client's OK reports it).
    pub(super) fn insert(
        &self,
        key_column: Option<usize>,
        last_column: usize,
        params: &[Option<KeyValue>],
        ids: &dyn Fn() -> i64,
    ) -> Result<ShardRoute, ShardError> {
        let t = self.table;
        let after = self.rewrites.first().and_then(|r| self.words.get(r.word)).copied().unwrap_or(0);
        let mut depth = 0i32;
        let mut values = None;
        for (i, tok) in self.toks.iter().enumerate().skip(after) {
            match tok.kind {
                TokenKind::Open => depth += 1,
                TokenKind::Close => depth -= 1,
                TokenKind::Word
                    if depth == 0
                        && (self.text(tok).eq_ignore_ascii_case(b"values")
                            || self.text(tok).eq_ignore_ascii_case(b"value")) =>
                {
                    values = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let bad = |m: &str| refuse(format!("INSERT into sharded table {}: {m}", t.name));
        let Some(values) = values else { return Err(bad("no VALUES list found")) };
        // Rows: ( … ) , ( … ) …; the key is the key_column-th element of each.
        struct Row {
            /// From `(` to just before its `)`.
            body: Range<usize>,
            shard: usize,
            generated: Option<i64>,
        }
        let mut rows: Vec<Row> = Vec::new();
        let mut i = values + 1;
        let mut rows_end;
        loop {
            if self.toks.get(i).map(|t| t.kind) != Some(TokenKind::Open) {
                return Err(bad("a VALUES row does not start with ("));
            }
            let start = self.toks[i].span.start;
            let mut depth = 0;
            let mut element = 0;
            let mut element_start = i + 1;
            let mut key = None;
            let mut j = i;
            loop {
                let Some(tok) = self.toks.get(j) else { return Err(bad("a VALUES row is not closed")) };
                match tok.kind {
                    TokenKind::Open => depth += 1,
                    TokenKind::Close | TokenKind::Comma if depth == 1 => {
                        if Some(element) == key_column {
                            key =
                                if j == element_start + 1 { self.value(element_start, params) } else { None };
                        }
                        element += 1;
                        element_start = j + 1;
                        if tok.kind == TokenKind::Close {
                            break;
                        }
                    }
                    TokenKind::Close => depth -= 1,
                    _ => {}
                }
                j += 1;
            }
            let generated = key_column.is_none().then(ids);
            if let Some(id) = generated {
                key = Some(KeyValue::Int(i128::from(id)));
            }
            let Some(key) = key else {
                return Err(bad(&format!(
                    "row {} has no literal value for shard key {} (sluice routes each row by a literal or parameter key)",
                    rows.len() + 1,
                    t.key
                )));
            };
            let shard = t.shard_of(&key)?;
            rows.push(Row { body: start..self.toks[j].span.start, shard, generated });
            rows_end = self.toks[j].span.end;
            i = j + 1;
            if self.toks.get(i).map(|t| t.kind) == Some(TokenKind::Comma) {
                i += 1;
            } else {
                break;
            }
        }
        let first = rows[0].shard;
        if key_column.is_some() && rows.iter().all(|r| r.shard == first) {
            return Ok(ShardRoute::One(ShardPart {
                shard: first,
                sql: self.render(0..self.sql.len(), first, &[]),
            }));
        }
        // The generated key's column goes at the end of the column list.
        let mut list_end = Vec::new();
        if key_column.is_none() {
            let close = self.words.get(last_column).map(|w| w + 1).and_then(|c| self.toks.get(c));
            match close {
                Some(c) if c.kind == TokenKind::Close => {
                    list_end.push((c.span.start..c.span.start, format!(", {}", quote(&t.key))));
                }
                _ => return Err(bad("the column list could not be found")),
            }
        }
        let rows_start = rows[0].body.start;
        let mut shards: Vec<usize> = rows.iter().map(|r| r.shard).collect();
        shards.sort_unstable();
        shards.dedup();
        let mut parts: Vec<ShardPart> = shards
            .into_iter()
            .map(|s| {
                let mut sql = self.render(0..rows_start, s, &list_end);
                let mut first_in_part = true;
                for (n, r) in rows.iter().enumerate().filter(|(_, r)| r.shard == s) {
                    if !first_in_part {
                        sql.push_str(", ");
                    }
                    first_in_part = false;
                    sql.push_str(&String::from_utf8_lossy(&self.sql[r.body.clone()]));
                    match r.generated {
                        Some(id) if n == 0 => sql.push_str(&format!(", LAST_INSERT_ID({id}))")),
                        Some(id) => sql.push_str(&format!(", {id})")),
                        None => sql.push(')'),
                    }
                }
                sql.push_str(&self.render(rows_end..self.sql.len(), s, &[]));
                ShardPart { shard: s, sql }
            })
            .collect();
        if parts.len() == 1 {
            return Ok(ShardRoute::One(parts.remove(0)));
        }
        Ok(ShardRoute::Split(parts))
    }
}
