//! The record phase: every client statement — forwarded, answered from the cache, answered or refused
//! by sluice, failed, sharded, dual-written — ends in exactly one [`crate::features::stats::Event`] (digests,
//! totals, slow log, advice), built here from the statement's [`StatementCtx`].
//!
//! The phases that run a statement say how it went by setting [`StatementCtx::outcome`]; a statement
//! that never reached a backend or the cache leaves it empty and is recorded as sluice's own
//! ([`Target::Sluice`]), an error if the command failed.

use std::time::Instant;

use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::core::error::Result;
use crate::features::stats::{CacheStatus, Target};
use crate::frontend::pins::Pins;

/// One client statement on its way through the session's phases.
#[derive(Debug)]
pub(super) struct StatementCtx {
    /// When the command arrived.
    pub(super) started: Instant,
    /// The session's pins before it ran.
    pub(super) pins_before: Pins,
    /// Whether its text may hold a password literal (from its plan; `None`: not planned).
    pub(super) may_hold_secret: Option<bool>,
    /// How it ran, set by the phase that ran it.
    pub(super) outcome: Option<Outcome>,
}

/// How a statement that reached a backend (or the cache) went.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outcome {
    pub(super) target: Target,
    pub(super) rows_sent: u64,
    pub(super) rows_affected: u64,
    pub(super) error: bool,
    pub(super) warnings: u64,
    pub(super) no_index: bool,
    pub(super) cache: CacheStatus,
}

impl StatementCtx {
    pub(super) fn new(pins_before: Pins) -> Self {
        Self { started: Instant::now(), pins_before, may_hold_secret: None, outcome: None }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Records the statement once, whatever path it took. `sql` is the client's text (empty for a
    /// prepared EXECUTE); samples and the slow log keep it without its passwords.
    pub(super) fn record(&mut self, ctx: &StatementCtx, lexed: &Lexed, sql: &[u8], r: &Result<impl Sized>) {
        let o = ctx.outcome.unwrap_or(Outcome {
            target: Target::Sluice,
            rows_sent: 0,
            rows_affected: 0,
            error: r.is_err(),
            warnings: 0,
            no_index: false,
            cache: CacheStatus::Off,
        });
        let secret =
            ctx.may_hold_secret.unwrap_or_else(|| sluice_router::lexer::may_hold_secret(&lexed.text));
        let masked = if secret { sluice_router::lexer::mask_secrets(sql, lexed) } else { None };
        let event = crate::features::stats::Event {
            digest: lexed.digest,
            text: &lexed.text,
            sql: masked.as_deref().unwrap_or(sql),
            session: self.conn_id,
            peer: self.peer.ip(),
            user: &self.user.name,
            schema: self.schema.as_deref().unwrap_or_default(),
            target: o.target,
            latency: ctx.started.elapsed(),
            rows_sent: o.rows_sent,
            rows_affected: o.rows_affected,
            error: o.error || r.is_err(),
            warnings: o.warnings,
            no_index: o.no_index,
            pinned: ctx.pins_before.any(),
            pins_opened: self.pins.bits() & !ctx.pins_before.bits(),
            cache: o.cache,
        };
        self.shared.record(&mut self.advice, &event);
    }
}
