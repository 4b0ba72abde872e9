//! Statements over a migrating table (`[[sharding.migrations]]`): a write runs on the old placement
//! (the client gets that answer) and then on the new one, and a different outcome is logged and
//! counted; reads run where the table's flag says. Writes to a migrating table run in autocommit only
//! (a transaction's writes could not be mirrored atomically), and are refused with a clear error inside
//! one.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use sluice_protocol::constants::status;
use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::record::StatementCtx;
use crate::core::error::{Error, Result};
use crate::features::migration::Migration;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Runs a COM_QUERY over a migrating table; `None` when the statement names none.
    pub(super) async fn migrating_statement(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &Lexed,
        class: &Class,
        ctx: &mut StatementCtx,
    ) -> Option<Result<()>> {
        if self.shared.migrations.is_empty() {
            return None; // no Arc clone on the path of every statement
        }
        let shared = self.shared.clone();
        let m = shared.migrations.find(class.tables.read.iter().chain(class.tables.written.iter()))?;
        Some(self.run_migrating(m, payload, next_seq, lexed, class, ctx).await)
    }

    async fn run_migrating(
        &mut self,
        m: &Migration,
        payload: &[u8],
        next_seq: u8,
        lexed: &Lexed,
        class: &Class,
        ctx: &mut StatementCtx,
    ) -> Result<()> {
        if class.read_only && class.tables.written.is_empty() {
            let new = m.read_new.load(Ordering::Relaxed);
            return self.run_placed((m, new), payload, next_seq, (lexed, class), ctx).await;
        }
        let in_tx = self.status & status::IN_TRANS != 0
            || (self.status & status::AUTOCOMMIT == 0
                && self.shared.config().routing.autocommit_false_is_transaction);
        if in_tx {
            return Err(Error::reply(
                sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
                format!(
                    "table {} is being migrated (dual writes): its writes run in autocommit only, so both placements get them; COMMIT first, or write it outside the transaction",
                    m.table
                ),
            ));
        }
        // The old placement is authoritative: the client gets its answer.
        self.stmt.last_outcome = None;
        self.stmt.hold_answer = true;
        let r = self.run_placed((m, false), payload, next_seq, (lexed, class), ctx).await;
        self.stmt.hold_answer = false;
        let old = self.stmt.last_outcome.take();
        // Then the new one, on its primary, without answering the client; the client's answer goes
        // out after it, so what the client wrote is in both placements once it has its OK.
        let sql = payload.get(1..).unwrap_or_default();
        let new = self.mirror(m, lexed, class, sql).await;
        let flushed = self.client.flush().await.map_err(|_| Error::ClientGone);
        let old_s = match old {
            Some((false, n)) => format!("OK {n} rows"),
            Some((true, _)) => "error".to_owned(),
            None => "not run".to_owned(),
        };
        let new_s = match &new {
            Ok(res) => match (&res.err, &res.ok) {
                (Some(e), _) => format!("error {}", e.code),
                (None, ok) => format!("OK {} rows", ok.as_ref().map_or(0, |o| o.affected_rows)),
            },
            Err(e) => format!("failed: {e}"),
        };
        m.mirrored.fetch_add(1, Ordering::Relaxed);
        if old_s != new_s {
            m.divergences.fetch_add(1, Ordering::Relaxed);
            let what = format!("digest {:016x}: old {old_s}, new {new_s}", lexed.digest);
            tracing::warn!(table = %m.table, %what, "migration: the placements diverged");
            *m.last_divergence.lock() = what;
        }
        r.and(flushed)
    }

    /// Runs the statement in the old or the new placement, the usual way (R/W split, pins, cache).
    async fn run_placed(
        &mut self,
        (m, new): (&Migration, bool),
        payload: &[u8],
        next_seq: u8,
        (lexed, class): (&Lexed, &Class),
        ctx: &mut StatementCtx,
    ) -> Result<()> {
        let group = if new { m.to_group } else { m.from_group };
        self.enter_group(group, &m.table)?;
        let saved = self.schema.clone();
        if new && let Some(s) = &m.to_schema {
            self.schema = Some(Bytes::from(s.clone()));
        }
        let r = self.run_statement(payload, next_seq, lexed, class, ctx).await;
        if new && m.to_schema.is_some() {
            self.schema = saved;
        }
        self.stmt.group = 0;
        r
    }

    /// The write on the new placement's primary; the client never sees it.
    async fn mirror(
        &mut self,
        m: &Migration,
        lexed: &Lexed,
        class: &Class,
        sql: &[u8],
    ) -> Result<crate::backend::RawResult> {
        let saved = self.schema.clone();
        if let Some(s) = &m.to_schema {
            self.schema = Some(Bytes::from(s.clone()));
        }
        let held = self.borrow_for_part(lexed, class, m.to_group, true).await;
        // Results cached from the new placement (reads switched there) must not outlive this write.
        if let Some(cache) = self.shared.cache.clone() {
            let schema = self.schema.as_deref().map(String::from_utf8_lossy).map(|s| s.into_owned());
            if let Some(id) = sluice_cache::table_id(schema.as_deref(), &m.table) {
                cache.bump(&[id], None, None).await;
            }
        }
        self.schema = saved;
        self.stmt.group = 0;
        let mut held = held?;
        let label = held.guard.label().to_owned();
        let text = String::from_utf8_lossy(sql).into_owned();
        match held.guard.conn().query_raw(&label, &text).await {
            Ok(res) => {
                held.guard.release_clean();
                Ok(res)
            }
            Err(e) => {
                held.guard.mark_broken();
                Err(e)
            }
        }
    }
}
