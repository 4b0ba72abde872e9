//! The result cache inside a session: which statements are looked up, the key, serving a hit, filling
//! after a miss, and the invalidations writes send.
//!
//! ```text
//! cacheable SELECT (autocommit, unpinned, one statement, tables known, no view, a TTL from a rule,
//!                   a hint, SQL_CACHE or cache_all)
//!   key = kind ‖ EOF style ‖ user ‖ schema ‖ session variables ‖ statement text (or prepared text +
//!         parameters): the exact text, because column names come from it
//!   hit  → stored packets, fresh sequence ids, the reading session's status flags
//!   miss → run it; the response is collected while relayed; stored only if the replica it ran on had
//!          applied the last write of every table it read (known before it was sent)
//! write → bump its tables when sent and when done (+ foreign-key children; a trigger or an unknown
//!         table list bumps the whole schema); in a transaction, again at its end
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_cache::{Collector, Entry, Lookup, Miss, TableId};
use sluice_protocol::constants::{caps, command, status};
use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::borrow::RouteReason;
use super::borrow::{Choice, Effects};
use crate::backend::member::MemberId;
use crate::backend::topology::GtidPos;
use crate::core::error::{Error, Result};

/// A miss being run: what the fill needs.
pub(super) struct Fill {
    miss: Miss,
    ttl: Duration,
    /// False when the replica it runs on may not have a read table's last write.
    storable: bool,
}

/// What the cache said about a statement.
pub(super) enum Step {
    /// Not looked up.
    Bypass,
    /// Answered from the cache.
    Hit(Effects),
    /// Run it and fill.
    Miss(Fill),
}

/// The last-write "GTID" of a table whose last write reported none (no binary log, or a MySQL server
/// without GTID tracking): results of such a table are stored only when read on the primary.
const UNKNOWN_GTID: &str = "unknown";

/// First keywords of statements that may change table data.
fn writes_data(first_keyword: &str) -> bool {
    matches!(
        first_keyword,
        "insert"
            | "update"
            | "delete"
            | "replace"
            | "create"
            | "alter"
            | "drop"
            | "truncate"
            | "rename"
            | "load"
            | "call"
            | "do"
            | "with"
            | "handler"
            | "import"
    )
}

/// A `/* sluice: cache ttl=30s */` value: `30s`, `500ms`, `2m` or plain seconds; longer than
/// [`sluice_cache::MAX_TTL`] (30 days) is cut to it (the hint is the client's: any number may come).
fn parse_ttl(v: &str) -> Option<Duration> {
    let v = v.trim();
    let ttl = if let Some(ms) = v.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(m) = v.strip_suffix('m') {
        m.parse::<u64>().ok().map(|m| Duration::from_secs(m.saturating_mul(60)))
    } else {
        v.strip_suffix('s').unwrap_or(v).parse().ok().map(Duration::from_secs)
    };
    ttl.map(|t| t.min(sluice_cache::MAX_TTL))
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// How long this statement's result may be kept: `None` when it is not to be cached.
    fn cache_ttl(&self, lexed: &Lexed, class: &Class) -> Option<Duration> {
        let cfg = &self.shared.config().cache;
        let default = Duration::from_millis(cfg.default_ttl_ms);
        if !class.cacheable {
            return None;
        }
        if lexed.hints.has("cache") {
            return Some(lexed.hints.get("ttl").and_then(parse_ttl).unwrap_or(default));
        }
        if !self.shared.rules.is_empty() {
            let subject = crate::features::rules::Subject {
                user: &self.user.name,
                schema: self.schema.as_deref(),
                lexed,
                tables: [&class.tables.read, &class.tables.written],
            };
            if let Some(rule) = self.shared.rules.first_match(&subject)
                && rule.action == crate::core::config::RuleAction::Cache
            {
                return Some(rule.ttl_ms.map_or(default, Duration::from_millis));
            }
        }
        if cfg.cache_all || lexed.text.starts_with("select sql_cache ") {
            return Some(default);
        }
        None
    }

    /// The tables a cacheable statement reads, qualified; `None` when one cannot be tracked (a view,
    /// no schema, a system schema). Remembered per plan and schema for the session's life (bounded).
    fn read_tables(
        &mut self,
        class: &Class,
        deps: &crate::backend::cache_deps::Deps,
    ) -> Option<Arc<[TableId]>> {
        if !class.tables.parsed || class.tables.read.is_empty() || !class.tables.written.is_empty() {
            return None;
        }
        let at = Arc::as_ptr(&class.tables.read).cast::<()>() as usize;
        if let Some((_, schema, ids)) = self.table_ids.get(&at)
            && *schema == self.schema
        {
            return ids.clone();
        }
        let ids = self.qualify(class, deps);
        if self.table_ids.len() >= 256 {
            self.table_ids.clear();
        }
        // The plan's list is kept with its ids, so its address cannot be reused by another list.
        self.table_ids.insert(at, (class.tables.read.clone(), self.schema.clone(), ids.clone()));
        ids
    }

    fn qualify(&self, class: &Class, deps: &crate::backend::cache_deps::Deps) -> Option<Arc<[TableId]>> {
        let schema = self.schema.as_deref().map(String::from_utf8_lossy);
        let mut out = Vec::with_capacity(class.tables.read.len());
        for t in class.tables.read.iter() {
            let id = sluice_cache::table_id(schema.as_deref(), t)?;
            let s = sluice_cache::gens::schema_of(&id);
            if matches!(s, "information_schema" | "mysql" | "performance_schema" | "sys")
                || deps.views.contains(&id)
            {
                return None;
            }
            out.push(id);
        }
        Some(out.into())
    }

    /// The full cache key of a statement (see the module docs).
    fn cache_key(&self, payload: &[u8]) -> Option<Bytes> {
        let vars: usize = self.vars.0.iter().map(|v| 4 + v.as_ref().map_or(0, Bytes::len)).sum();
        let mut k = BytesMut::with_capacity(
            16 + self.user.name.len()
                + self.schema.as_ref().map_or(0, Bytes::len)
                + vars
                + payload.len()
                + 64,
        );
        k.put_u8(payload[0]);
        k.put_u8(u8::from(self.caps & caps::DEPRECATE_EOF != 0));
        k.put_u8(self.charset);
        let put = |k: &mut BytesMut, b: Option<&[u8]>| match b {
            Some(b) => {
                k.put_u32_le(b.len() as u32);
                k.put_slice(b);
            }
            None => k.put_u32_le(u32::MAX),
        };
        put(&mut k, Some(self.user.name.as_bytes()));
        put(&mut k, self.schema.as_deref());
        for v in &self.vars.0 {
            put(&mut k, v.as_deref());
        }
        match payload.first() {
            Some(&command::QUERY) => k.put_slice(&payload[1..]),
            Some(&command::STMT_EXECUTE) => self.stmts.execute_key(payload, &mut k)?,
            _ => return None,
        }
        Some(k.freeze())
    }

    /// Looks a statement up when it is cacheable (after routing, before borrowing a connection).
    pub(super) async fn cache_lookup(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &Lexed,
        class: &Class,
        choice: &Choice,
    ) -> Result<Step> {
        let Some(cache) = self.shared.cache.clone() else { return Ok(Step::Bypass) };
        let deps = self.shared.cache_deps.load();
        let Some(deps) = deps.as_deref() else { return Ok(Step::Bypass) };
        let outside_tx = self.status & status::IN_TRANS == 0 && self.status & status::AUTOCOMMIT != 0;
        if !choice.cacheable || choice.held || self.pins.any() || !outside_tx || lexed.statements.len() > 1 {
            return Ok(Step::Bypass);
        }
        let Some(ttl) = self.cache_ttl(lexed, class) else { return Ok(Step::Bypass) };
        let Some(tables) = self.read_tables(class, deps) else { return Ok(Step::Bypass) };
        let Some(key) = self.cache_key(payload) else { return Ok(Step::Bypass) };
        match cache.lookup(key, tables).await {
            Lookup::Hit(entry, level) => {
                let fx = self.serve_hit(&entry, next_seq).await?;
                self.last_route.member = None;
                self.last_route.reason = if level == sluice_cache::Level::L1 {
                    RouteReason::CacheL1
                } else {
                    RouteReason::CacheL2
                };
                self.last_route.digest = lexed.digest;
                self.last_route.digest_text.clear();
                self.last_route.digest_text.push_str(&lexed.text);
                self.last_route.cache = crate::features::stats::CacheStatus::Hit;
                Ok(Step::Hit(fx))
            }
            Lookup::Miss(miss) => Ok(Step::Miss(Fill { miss, ttl, storable: true })),
        }
    }

    /// Writes a cached response with fresh sequence ids and this session's status bits.
    async fn serve_hit(&mut self, entry: &Entry, mut seq: u8) -> Result<Effects> {
        let mine = self.status & super::SESSION_BITS;
        for p in entry.payloads() {
            match status_offset(p) {
                Some(at) => seq = self.client.write(seq, &super::with_session_bits(p, at, mine)),
                None => seq = self.client.write(seq, p),
            }
        }
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        Ok(Effects { rows_sent: entry.rows, result_set: true, ..Effects::default() })
    }

    /// Before a miss runs: whether its result may be stored, given where it runs (a replica must have
    /// applied every read table's last write). Starts collecting the response.
    pub(super) fn cache_prepare_fill(&mut self, fill: &mut Fill, member: MemberId) {
        let primary = self.ctx_routing().primary;
        if Some(member) != primary {
            let group = self.ctx_group();
            fill.storable = fill.miss.last_writes.iter().all(|g| {
                &**g != UNKNOWN_GTID
                    && member.group == group.id
                    && group.has_applied(member.index, &GtidPos::parse(g))
            });
        }
        if fill.storable {
            let limit = self.shared.cache.as_ref().map_or(0, |c| c.max_entry_bytes());
            self.stmt.collect = Some(Collector::new(limit));
        } else if let Some(c) = &self.shared.cache {
            c.not_stored_replica_behind();
        }
    }

    /// After a miss ran: stores what the client was sent, when it is a complete single result.
    pub(super) async fn cache_fill(&mut self, fill: Fill, fx: &Effects) {
        let collected = self.stmt.collect.take();
        let Some(cache) = self.shared.cache.clone() else { return };
        let Some(collected) = collected else { return };
        if fx.failed || !fill.storable || self.status & status::MORE_RESULTS_EXISTS != 0 {
            return;
        }
        cache.fill(fill.miss, collected, fx.rows_sent, fill.ttl).await;
    }

    /// The tables a write changes, and the schema to bump whole when they are not all known. `None`
    /// for statements that write no data.
    fn written_tables(&self, lexed: &Lexed, class: &Class) -> Option<(Vec<TableId>, Option<String>)> {
        if class.read_only || !writes_data(&lexed.first_keyword) && lexed.statements.len() <= 1 {
            return None;
        }
        let schema = self.schema.as_deref().map(|s| String::from_utf8_lossy(s).into_owned());
        let mut tables: Vec<TableId> = Vec::new();
        let mut whole_schema = !class.tables.parsed
            || class.tables.written.is_empty()
            || lexed.statements.len() > 1
            || matches!(lexed.first_keyword.as_str(), "call" | "do" | "load" | "handler");
        for t in class.tables.written.iter() {
            match sluice_cache::table_id(schema.as_deref(), t) {
                Some(id) => tables.push(id),
                None => whole_schema = true,
            }
        }
        if let Some(deps) = self.shared.cache_deps.load_full() {
            whole_schema |= deps.expand(&mut tables);
        } else {
            whole_schema = true;
        }
        if matches!(lexed.first_keyword.as_str(), "create" | "alter" | "drop" | "rename") {
            // Triggers, views and foreign keys may have changed.
            self.shared.cache_deps_dirty.notify_one();
        }
        let schema_bump = if whole_schema {
            // Without a schema, an unattributable write could be anywhere: everything goes.
            Some(schema.unwrap_or_default())
        } else {
            None
        };
        Some((tables, schema_bump))
    }

    /// A write is about to be sent: its tables are bumped now (and kept for the completion bump).
    pub(super) async fn cache_write_started(
        &mut self,
        lexed: &Lexed,
        class: &Class,
    ) -> Option<(Vec<TableId>, Option<String>)> {
        let cache = self.shared.cache.clone()?;
        let w = self.written_tables(lexed, class)?;
        bump(&cache, &w, None).await;
        Some(w)
    }

    /// A write completed (OK or ERR): bumped again with its GTID; inside a transaction its tables are
    /// bumped once more when the transaction ends.
    pub(super) async fn cache_write_done(&mut self, w: Option<(Vec<TableId>, Option<String>)>, fx: &Effects) {
        let Some(cache) = self.shared.cache.clone() else { return };
        let in_tx = self.status & status::IN_TRANS != 0;
        // A write that committed without reporting its GTID: no replica is known to have it.
        let gtid = fx
            .gtid
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| (!in_tx && !fx.failed).then(|| UNKNOWN_GTID.to_owned()));
        if let Some(w) = w {
            let g = if in_tx { None } else { gtid.as_deref() };
            bump(&cache, &w, g).await;
            if self.status & status::IN_TRANS != 0 {
                self.tx.writes.0.extend(w.0);
                if w.1.is_some() {
                    self.tx.writes.1 = w.1;
                }
            }
        }
        if self.status & status::IN_TRANS == 0 && (!self.tx.writes.0.is_empty() || self.tx.writes.1.is_some())
        {
            let w = std::mem::take(&mut self.tx.writes);
            bump(&cache, &w, gtid.as_deref()).await;
        }
    }
}

async fn bump(cache: &Arc<sluice_cache::Cache>, w: &(Vec<TableId>, Option<String>), gtid: Option<&str>) {
    match &w.1 {
        Some(s) if s.is_empty() => cache.flush_all().await,
        s => cache.bump(&w.0, s.as_deref(), gtid).await,
    }
}

/// Where the status flags sit in a stored packet that has them: a classic EOF or an OK-style
/// terminator (0xFE header). Rows never start with 0xFE in a stored entry (that needs a 16 MiB value).
fn status_offset(p: &[u8]) -> Option<usize> {
    // Only terminators (0xFE) carry a status in a stored result set: a row may start with 0x00.
    if p.first() != Some(&0xFE) {
        return None;
    }
    sluice_protocol::packets::status_offset(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_hints() {
        assert_eq!(parse_ttl("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_ttl("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_ttl("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_ttl("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_ttl("x"), None);
        // Found by a hostile client: u64::MAX seconds overflowed `Instant + ttl` and panicked.
        assert_eq!(parse_ttl("18446744073709551615"), Some(sluice_cache::MAX_TTL));
        assert_eq!(parse_ttl("18446744073709551615m"), Some(sluice_cache::MAX_TTL));
        assert_eq!(parse_ttl("18446744073709551615ms"), Some(sluice_cache::MAX_TTL));
    }

    #[test]
    fn status_offsets() {
        assert_eq!(status_offset(b"\xfe\x00\x00\x02\x00"), Some(3));
        assert_eq!(status_offset(b"\xfe\x00\x00\x02\x00\x00\x00"), Some(3));
        assert_eq!(status_offset(b"\xfe\xfc\x10\x00\x00\x22\x00\x00\x00"), Some(5));
        assert_eq!(status_offset(b"\x03def"), None);
        assert_eq!(status_offset(b"\xfe"), None);
    }
}
