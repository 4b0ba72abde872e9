//! Statements over sharded tables: the router gives the shard(s) and each one's text; a single-shard
//! statement then runs like any other (R/W split, pins, cache) with the rewritten text, a scatter read
//! runs on every shard and sluice merges the rows, a split write runs its part on each shard's primary.
//!
//! Transaction policy: a transaction may touch one shard (one shard number of one group: co-located
//! tables with the same shard number count as one); a second one, or a statement over several shards
//! inside a transaction, is refused. Split writes run in autocommit only: each shard's part is atomic,
//! the statement as a whole is not, and the error names the shards that failed and those applied.

use bytes::{Bytes, BytesMut};
use sluice_protocol::constants::{command, status};
use sluice_protocol::packets::{ErrPacket, OkPacket};
use sluice_router::classify::Class;
use sluice_router::lexer::{Lexed, Token};
use sluice_router::shard::route::{ShardPart, ShardRoute, route_statement};
use sluice_router::shard::shape::ShardShape;
use tokio::io::{AsyncRead, AsyncWrite};

use super::borrow::{Choice, Effects};
use super::record::{Outcome, StatementCtx};
use super::{Held, Session};
use crate::backend::RawResult;
use crate::core::error::{Abort, Error, Result};

/// ER_NOT_SUPPORTED_YET, for statements sluice refuses to spread over shards.
const REFUSED: (u16, &str) = sluice_protocol::constants::errors::NOT_SUPPORTED_YET;

/// One part's outcome: shard, backend label, result or the failure's message.
type PartOutcome = (usize, String, std::result::Result<RawResult, Error>);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A COM_QUERY over a sharded table.
    pub(super) async fn sharded_query(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        (lexed, toks): (&Lexed, &[Token]),
        class: &Class,
        shape: &ShardShape,
        ctx: &mut StatementCtx,
    ) -> Result<()> {
        let sql = payload.get(1..).unwrap_or_default();
        let shared = self.shared.clone();
        let map = shared.plans.shards();
        let ids = || shared.shard_ids.next();
        let route = route_statement(shape, map, sql, toks, &[], &ids)?;
        let table = match shape {
            ShardShape::Routed { table, .. } => *table,
            ShardShape::Refused(_) => 0,
        };
        let Some(t) = map.tables.get(table) else {
            return Err(Error::reply(REFUSED, "sharding config changed"));
        };
        let name = t.name.clone();
        let in_tx = self.status & status::IN_TRANS != 0
            || (self.status & status::AUTOCOMMIT == 0
                && self.shared.config().routing.autocommit_false_is_transaction);
        if self.status & status::IN_TRANS == 0 {
            self.tx.shard = None;
        }
        let group_of = |s: usize| t.shards.get(s).map_or(0, |p| p.group);
        match route {
            ShardRoute::One(part) => {
                let here = (group_of(part.shard), part.shard);
                if in_tx && let Some(prev) = self.tx.shard.filter(|p| *p != here) {
                    return Err(Error::reply(
                        REFUSED,
                        format!(
                            "this transaction already touched shard {} and this statement goes to shard {} of {name}: a transaction may touch one shard (sluice does not run distributed transactions); COMMIT first, or keep the transaction's statements on one shard key",
                            prev.1, part.shard
                        ),
                    ));
                }
                let mut p = Vec::with_capacity(1 + part.sql.len());
                p.push(command::QUERY);
                p.extend_from_slice(part.sql.as_bytes());
                self.enter_group(here.0, &name)?;
                let r = self.run_statement(&p, next_seq, lexed, class, ctx).await;
                self.stmt.group = 0;
                let label = self.member_label(self.last_route.member);
                self.last_route.shards = vec![(part.shard, label, part.sql)];
                if self.status & status::IN_TRANS != 0 {
                    self.tx.shard = Some(here);
                }
                r
            }
            ShardRoute::Scatter { parts, merge, limit, avg_names } => {
                if in_tx {
                    return Err(in_tx_refusal(&name, parts.len()));
                }
                self.apply_rules(lexed, class)?;
                let groups: Vec<usize> = t.shards.iter().map(|p| p.group).collect();
                let r = self
                    .scatter(
                        next_seq,
                        (lexed, class),
                        (&parts, &groups),
                        MergePlan { shape: &merge, limit, avg_names: &avg_names },
                        ctx,
                    )
                    .await;
                self.stmt.group = 0;
                r
            }
            ShardRoute::Split(parts) => {
                if in_tx {
                    return Err(in_tx_refusal(&name, parts.len()));
                }
                self.apply_rules(lexed, class)?;
                let groups: Vec<usize> = t.shards.iter().map(|p| p.group).collect();
                let r = self.split(next_seq, (lexed, class), &name, (&parts, &groups), ctx).await;
                self.stmt.group = 0;
                r
            }
        }
    }

    /// A sharded statement being prepared: refused shapes and INSERTs with generated keys are refused;
    /// otherwise the routing enters shard 0's group and the text to prepare there is returned.
    pub(super) fn enter_prepared_shard(&mut self, shape: &ShardShape, sql: &[u8]) -> Result<String> {
        use sluice_router::shard::shape::Kind;
        let map = self.shared.plans.shards();
        let (table, kind) = match shape {
            ShardShape::Refused(m) => return Err(sluice_router::shard::ShardError::from(m.clone()).into()),
            ShardShape::Routed { table, kind, .. } => (*table, kind),
        };
        if matches!(kind, Kind::Insert { key_column: None, .. }) {
            return Err(Error::reply(
                REFUSED,
                "a prepared INSERT into a sharded table must bind its shard key (sluice generates keys for text-protocol INSERTs only)",
            ));
        }
        let (_, toks) = sluice_router::lexer::lex_tokens_with(sql, self.lex_mode.0);
        let text = sluice_router::shard::route::render_for_shard(shape, map, sql, &toks, 0)
            .ok_or_else(|| Error::reply(REFUSED, "sharding config changed"))?;
        let group = map.tables.get(table).and_then(|t| t.shards.first()).map_or(0, |s| s.group);
        self.enter_shard_group(group)?;
        Ok(text)
    }

    /// [`Self::enter_group`] for the prepared-statement path.
    pub(super) fn enter_shard_group(&mut self, group: usize) -> Result<()> {
        self.enter_group(group, "a sharded table")
    }

    /// The transaction policy for a single-shard statement to `here` (group, shard).
    pub(super) fn check_tx_shard(&mut self, here: (usize, usize)) -> Result<()> {
        if self.status & status::IN_TRANS == 0 {
            self.tx.shard = None;
        }
        let in_tx = self.status & status::IN_TRANS != 0
            || (self.status & status::AUTOCOMMIT == 0
                && self.shared.config().routing.autocommit_false_is_transaction);
        if in_tx && let Some(prev) = self.tx.shard.filter(|p| *p != here) {
            return Err(Error::reply(
                REFUSED,
                format!(
                    "this transaction already touched shard {} and this statement goes to shard {}: a transaction may touch one shard (sluice does not run distributed transactions); COMMIT first, or keep the transaction's statements on one shard key",
                    prev.1, here.1
                ),
            ));
        }
        Ok(())
    }

    /// Records the shard an open transaction touched.
    pub(super) fn note_tx_shard(&mut self, here: (usize, usize)) {
        if self.status & status::IN_TRANS != 0 {
            self.tx.shard = Some(here);
        }
    }

    fn member_label(&self, member: Option<crate::backend::member::MemberId>) -> String {
        member.and_then(|m| self.shared.member(m)).map(|a| a.label.clone()).unwrap_or_default()
    }

    /// Routes what follows in `group`: a connection held from another group is given back first, or,
    /// when the session is pinned to it, the statement is refused (its state lives on that connection).
    pub(super) fn enter_group(&mut self, group: usize, table: &str) -> Result<()> {
        if let Some(h) = &self.held {
            let held_group = h.member.group;
            if held_group != group {
                if self.pins.any() {
                    let name = |g: usize| self.shared.group_at(g).name.clone();
                    return Err(Error::reply(
                        REFUSED,
                        format!(
                            "this session is pinned to a connection of group '{}' ({}), and this statement goes to a shard of {table} on group '{}': end the transaction (or what pins the session) first",
                            name(held_group),
                            self.pins.names(),
                            name(group)
                        ),
                    ));
                }
                self.release_held();
            }
        }
        self.stmt.group = group;
        Ok(())
    }

    /// Runs each part where it belongs: reads where routing says (R/W split), writes on the primary.
    async fn run_parts(
        &mut self,
        lexed: &Lexed,
        class: &Class,
        parts: &[ShardPart],
        groups: &[usize],
        write: bool,
    ) -> Vec<PartOutcome> {
        let out = if self.pins.any() {
            // A pinned session has one connection for everything: the parts run on it in turn.
            let mut out = Vec::with_capacity(parts.len());
            for part in parts {
                let group = groups.get(part.shard).copied().unwrap_or(0);
                let r = match self.enter_group(group, "the table") {
                    Ok(()) => self.run_part(lexed, class, part, write).await,
                    Err(e) => Err(e),
                };
                let label = self.member_label(self.last_route.member);
                out.push((part.shard, label, r));
            }
            out
        } else {
            self.run_parts_concurrently(lexed, class, parts, groups, write).await
        };
        self.last_route.shards = parts
            .iter()
            .zip(&out)
            .map(|(p, (_, label, _))| (p.shard, label.clone(), p.sql.clone()))
            .collect();
        out
    }

    /// Every part gets its own connection (borrowed and synced in turn), then all run at once.
    async fn run_parts_concurrently(
        &mut self,
        lexed: &Lexed,
        class: &Class,
        parts: &[ShardPart],
        groups: &[usize],
        write: bool,
    ) -> Vec<PartOutcome> {
        let mut tasks = Vec::with_capacity(parts.len());
        for part in parts {
            let group = groups.get(part.shard).copied().unwrap_or(0);
            match self.borrow_for_part(lexed, class, group, write).await {
                Ok(mut held) => {
                    let sql = part.sql.clone();
                    let label = held.guard.label().to_owned();
                    let max = self.shared.config().sharding.max_scatter_result_bytes;
                    let task = tokio::spawn(async move {
                        let r = held.guard.conn().query_raw_within(&label, &sql, max).await;
                        (held, r)
                    });
                    tasks.push((part.shard, Ok(task)));
                }
                Err(e) => tasks.push((part.shard, Err(e))),
            }
        }
        let mut out = Vec::with_capacity(tasks.len());
        for (shard, task) in tasks {
            let outcome = match task {
                Err(e) => (shard, String::new(), Err(e)),
                Ok(t) => match t.await {
                    Ok((held, r)) => {
                        let label = self.member_label(Some(held.member));
                        match r {
                            Ok(res) => {
                                held.guard.release_clean();
                                (shard, label, Ok(res))
                            }
                            Err(e) => {
                                let mut guard = held.guard;
                                guard.mark_broken();
                                (shard, label, Err(e))
                            }
                        }
                    }
                    Err(e) => (shard, String::new(), Err(Abort::ShardTask { shard, source: e }.into())),
                },
            };
            out.push(outcome);
        }
        out
    }

    /// A synced connection for one part, taken out of the session (it is not the session's held one).
    pub(super) async fn borrow_for_part(
        &mut self,
        lexed: &Lexed,
        class: &Class,
        group: usize,
        write: bool,
    ) -> Result<Held> {
        self.enter_group(group, "the table")?;
        self.acquire_for_part(lexed, class, write).await?;
        self.held.take().ok_or_else(|| Abort::NoBackend.into())
    }

    /// Makes the session hold a connection for one part: the primary for a write, else where the
    /// statement routes. The route is noted (SHOW LAST ROUTE); the cache is bypassed.
    async fn acquire_for_part(&mut self, lexed: &Lexed, class: &Class, write: bool) -> Result<()> {
        let mut choice = if write {
            Choice {
                member: self.primary_member()?,
                reason: crate::frontend::session::borrow::RouteReason::ShardWrite,
                held: false,
                cacheable: false,
            }
        } else {
            self.choose(lexed, class)?
        };
        self.acquire(&mut choice, false).await?;
        self.note_route(&choice, lexed, crate::features::stats::CacheStatus::Bypass);
        Ok(())
    }

    async fn run_part(
        &mut self,
        lexed: &Lexed,
        class: &Class,
        part: &ShardPart,
        write: bool,
    ) -> Result<RawResult> {
        self.acquire_for_part(lexed, class, write && !self.pins.any()).await?;
        let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
        let label = held.guard.label().to_owned();
        *self.handle.running.lock().await = Some((held.member, held.guard.conn().thread_id));
        let max = self.shared.config().sharding.max_scatter_result_bytes;
        let r = held.guard.conn().query_raw_within(&label, &part.sql, max).await;
        *self.handle.running.lock().await = None;
        match r {
            Ok(res) => {
                if !self.pins.any() {
                    self.release_held();
                }
                Ok(res)
            }
            Err(e) => {
                if let Some(mut h) = self.held.take() {
                    h.guard.mark_broken();
                }
                Err(e)
            }
        }
    }

    /// A write split over shards, in autocommit: every part runs; one OK, or an ERR naming the shards
    /// that failed and those applied.
    async fn split(
        &mut self,
        next_seq: u8,
        (lexed, class): (&Lexed, &Class),
        name: &str,
        (parts, groups): (&[ShardPart], &[usize]),
        ctx: &mut StatementCtx,
    ) -> Result<()> {
        let writes = self.cache_write_started(lexed, class).await;
        let outcomes = self.run_parts(lexed, class, parts, groups, true).await;
        let mut affected = 0u64;
        let mut warnings = 0u16;
        let mut last_id = 0u64;
        let mut applied = Vec::new();
        let mut failed: Vec<(usize, String, ErrPacket)> = Vec::new();
        for (shard, label, r) in outcomes {
            match r.map(|res| (res.err, res.ok)) {
                Ok((None, ok)) => {
                    let ok = ok.unwrap_or_default();
                    affected += ok.affected_rows;
                    warnings = warnings.saturating_add(ok.warnings);
                    last_id = last_id.max(ok.last_insert_id);
                    applied.push(shard);
                }
                Ok((Some(err), _)) => failed.push((shard, label, err)),
                Err(e) => failed.push((shard, label, e.to_err_packet())),
            }
        }
        self.cache_write_done(writes, &Effects::default()).await;
        if !applied.is_empty() {
            // Read-your-writes: the parts' GTIDs are not collected, so the next reads go where the
            // writes are surely visible (the primary, for as long as routing's policy says).
            self.ryw.last = Some((None, std::time::Instant::now()));
        }
        ctx.outcome = Some(shards_outcome(0, affected, !failed.is_empty()));
        if let Some((_, _, first)) = failed.first() {
            let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(", ");
            let why: Vec<String> = failed
                .iter()
                .map(|(s, label, e)| format!("shard {s} ({label}): {}", e.message_str()))
                .collect();
            let failed_shards: Vec<usize> = failed.iter().map(|f| f.0).collect();
            let message = format!(
                "the write to sharded table {name} was split over shards {}: shard(s) {} failed — {}; shard(s) {} applied their part (each shard's part is atomic, the statement as a whole is not)",
                list(&parts.iter().map(|p| p.shard).collect::<Vec<_>>()),
                list(&failed_shards),
                why.join("; "),
                if applied.is_empty() { "none".to_owned() } else { list(&applied) },
            );
            let mut e = first.clone();
            e.message = Bytes::from(message);
            return Err(Error::Reply(e));
        }
        if last_id > 0 {
            self.last_insert_id = last_id;
        }
        let mut out = BytesMut::with_capacity(16);
        OkPacket {
            affected_rows: affected,
            last_insert_id: last_id,
            warnings,
            status: self.status,
            ..OkPacket::default()
        }
        .encode(self.caps, &mut out);
        self.client.write(next_seq, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)
    }
}

/// How a multi-shard statement went, for the record phase (its normalized text is the slow log's).
fn shards_outcome(rows_sent: u64, rows_affected: u64, error: bool) -> Outcome {
    Outcome {
        target: crate::features::stats::Target::Shards,
        rows_sent,
        rows_affected,
        ..Outcome::sluice(error)
    }
}

fn in_tx_refusal(name: &str, n: usize) -> Error {
    Error::reply(
        REFUSED,
        format!(
            "this statement touches {n} shards of {name} inside a transaction: a transaction may touch one shard (sluice does not run distributed transactions); run it outside the transaction, or add the shard key"
        ),
    )
}

mod prepared;
mod scatter;

use scatter::MergePlan;
