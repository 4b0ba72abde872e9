//! The record phase: every client statement — forwarded, answered from the cache, answered or refused
//! by sluice, failed, sharded, dual-written — ends in exactly one [`crate::features::stats::Event`] (digests,
//! totals, slow log, advice) and, while capture is on, one captured statement, both built here from
//! the statement's [`StatementCtx`].
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
    /// The GTID of its write (capture).
    pub(super) gtid: Option<crate::backend::topology::GtidPos>,
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
    /// The insert id its OK carried (capture).
    pub(super) insert_id: u64,
    /// The server's error code when it failed (capture; 0 unknown).
    pub(super) error_code: u16,
}

impl Outcome {
    /// Sluice's own answer (or refusal): nothing reached a backend or the cache.
    pub(super) fn sluice(error: bool) -> Self {
        Self {
            target: Target::Sluice,
            rows_sent: 0,
            rows_affected: 0,
            error,
            warnings: 0,
            no_index: false,
            cache: CacheStatus::Off,
            insert_id: 0,
            error_code: 0,
        }
    }
}

impl StatementCtx {
    pub(super) fn new(pins_before: Pins) -> Self {
        Self { started: Instant::now(), pins_before, may_hold_secret: None, outcome: None, gtid: None }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Records the statement once, whatever path it took. `payload` is the client's command (COM_QUERY
    /// or COM_STMT_EXECUTE); samples and the slow log keep a query's text without its passwords.
    pub(super) fn record(
        &mut self,
        ctx: &StatementCtx,
        lexed: &Lexed,
        payload: &[u8],
        r: &Result<impl Sized>,
    ) {
        let o = ctx.outcome.unwrap_or(Outcome::sluice(r.is_err()));
        if self.shared.capture.is_on() {
            let error = r.as_ref().err().map(|e| e.to_err_packet().code);
            self.capture_statement(payload, lexed, ctx, &o, error);
        }
        let sql = match payload.split_first() {
            Some((&sluice_protocol::constants::command::QUERY, text)) => text,
            _ => &[],
        };
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
