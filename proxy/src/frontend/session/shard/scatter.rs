//! A read run on several shards: the parts' rows decoded, merged by the router's merge, and sent as
//! one result set with the shards' column definitions (hidden WEIGHT_STRING columns dropped, each AVG's
//! SUM and COUNT made one column).

use bytes::{Bytes, BytesMut};
use sluice_protocol::binary::{decode_text_row, encode_text_row};
use sluice_protocol::buf::put_lenenc;
use sluice_protocol::column::ColumnDefinition;
use sluice_protocol::constants::caps;
use sluice_protocol::packets::{EofPacket, ErrPacket, OkPacket};
use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use sluice_router::shard::merge::{ColumnInfo, MergeShape, Row, merge};
use sluice_router::shard::route::ShardPart;
use tokio::io::{AsyncRead, AsyncWrite};

use super::PartOutcome;
use crate::core::error::{Abort, Error, Result};
use crate::frontend::session::Session;

/// How a scatter's results merge, for this statement.
#[derive(Clone, Copy)]
pub(super) struct MergePlan<'a> {
    pub(super) shape: &'a MergeShape,
    /// (offset, count).
    pub(super) limit: Option<(u64, u64)>,
    /// Client-visible names of the AVG columns.
    pub(super) avg_names: &'a [Option<String>],
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A read on several shards, merged.
    pub(super) async fn scatter(
        &mut self,
        next_seq: u8,
        (lexed, class): (&Lexed, &Class),
        (parts, groups): (&[ShardPart], &[usize]),
        plan: MergePlan<'_>,
        ctx: &mut super::StatementCtx,
    ) -> Result<()> {
        let outcomes = self.run_parts(lexed, class, parts, groups, false).await;
        let r = self.merge_and_send(next_seq, plan, outcomes).await;
        ctx.outcome = Some(super::shards_outcome(r.as_ref().map_or(0, |n| *n), 0, r.is_err()));
        r.map(drop)
    }

    async fn merge_and_send(
        &mut self,
        seq: u8,
        plan: MergePlan<'_>,
        outcomes: Vec<PartOutcome>,
    ) -> Result<u64> {
        let MergePlan { shape, limit, avg_names } = plan;
        let mut columns: Option<Vec<Bytes>> = None;
        let mut shards = Vec::with_capacity(outcomes.len());
        for (shard, label, r) in outcomes {
            let res = match r {
                Ok(res) => res,
                Err(e) => return Err(prefixed(shard, &label, e.to_err_packet())),
            };
            if let Some(err) = res.err {
                return Err(prefixed(shard, &label, err));
            }
            let n = res.columns.len();
            if columns.is_none() {
                columns = Some(res.columns);
            }
            let mut rows: Vec<Row> = Vec::with_capacity(res.rows.len());
            for p in &res.rows {
                let row = decode_text_row(p, n).map_err(|e| Abort::ShardRow { shard, source: e })?;
                rows.push(row.into_iter().map(|c| c.map(|b| b.to_vec())).collect());
            }
            shards.push(rows);
        }
        let columns = columns.unwrap_or_default();
        let mut infos = Vec::with_capacity(columns.len());
        for c in &columns {
            let d = ColumnDefinition::parse(c).map_err(Abort::ColumnDefinition)?;
            infos.push(ColumnInfo {
                name: String::from_utf8_lossy(&d.name).to_lowercase(),
                org_name: String::from_utf8_lossy(&d.org_name).to_lowercase(),
                numeric: is_numeric(d.column_type as u8),
            });
        }
        let rows = merge(shape, &infos, shards, limit)?;
        let mut columns = columns;
        columns.truncate(columns.len().saturating_sub(shape.hidden()));
        let columns = avg_columns(columns, &shape.avg_positions(), avg_names)?;
        // The merged result set, with the column definitions the shards sent (they ran the same query).
        let deprecate_eof = self.caps & caps::DEPRECATE_EOF != 0;
        let mut b = BytesMut::with_capacity(9);
        put_lenenc(&mut b, columns.len() as u64);
        let mut seq = self.client.write(seq, &b);
        for c in &columns {
            seq = self.client.write(seq, c);
        }
        if !deprecate_eof {
            seq = self.client.write(seq, &EofPacket { warnings: 0, status: self.status }.to_bytes());
        }
        let mut buf = BytesMut::new();
        for row in &rows {
            buf.clear();
            let cells: Vec<Option<Bytes>> =
                row.iter().map(|c| c.as_ref().map(|v| Bytes::copy_from_slice(v))).collect();
            encode_text_row(&cells, &mut buf);
            seq = self.client.write(seq, &buf);
        }
        let end = if deprecate_eof {
            OkPacket { header: 0xFE, status: self.status, ..OkPacket::default() }.to_bytes(self.caps)
        } else {
            EofPacket { warnings: 0, status: self.status }.to_bytes()
        };
        self.client.write(seq, &end);
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        Ok(rows.len() as u64)
    }
}

/// The client's column definitions: each AVG's (SUM, COUNT) pair becomes one column named as the
/// client wrote it (or by its alias), a DECIMAL with 4 more decimals than the sum (a DOUBLE stays one).
fn avg_columns(columns: Vec<Bytes>, avgs: &[usize], names: &[Option<String>]) -> Result<Vec<Bytes>> {
    if avgs.is_empty() {
        return Ok(columns);
    }
    let parse = |c: &Bytes| ColumnDefinition::parse(c).map_err(Abort::ColumnDefinition);
    let mut out = Vec::with_capacity(columns.len());
    let mut it = columns.iter().enumerate();
    while let Some((i, c)) = it.next() {
        let Some(n) = avgs.iter().position(|a| *a == i) else {
            out.push(c.clone());
            continue;
        };
        let mut d = parse(c)?;
        let count = it.next().map(|(_, c)| parse(c)).transpose()?;
        let name = match names.get(n).cloned().flatten() {
            Some(name) => Bytes::from(name),
            None => count.map(|c| c.name).unwrap_or_default(),
        };
        d.name = name.clone();
        d.org_name = name;
        if is_numeric(d.column_type as u8) && d.column_type as u8 != 4 && d.column_type as u8 != 5 {
            d.decimals = d.decimals.saturating_add(4).min(30);
            d.column_length = d.column_length.saturating_add(4);
        }
        let mut b = BytesMut::new();
        d.encode(&mut b);
        out.push(b.freeze());
    }
    Ok(out)
}

/// A shard's ERR with the shard named in front of its message.
pub(super) fn prefixed(shard: usize, label: &str, mut e: ErrPacket) -> Error {
    e.message = Bytes::from(format!("shard {shard} ({label}): {}", e.message_str()));
    Error::Reply(e)
}

/// Numeric wire types (DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL).
fn is_numeric(code: u8) -> bool {
    matches!(code, 0..=5 | 8 | 9 | 13 | 246)
}
