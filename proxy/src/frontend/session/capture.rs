//! The capture hook: one record per statement, built only while capture is on (from the record
//! phase, so every client statement is captured once, whatever path it took).

use sluice_protocol::capture::IN_TRANS_AFTER;
use sluice_protocol::constants::{command, status};
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::record::{Outcome, StatementCtx};
use crate::features::capture::mask::{mask_sql, mask_value};
use crate::features::capture::{Command, Statement};

/// ER_UNKNOWN_ERROR: an ERR whose code could not be read.
const UNKNOWN_ERROR: u16 = 1105;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Queues the client's statement for the capture writer (masked as configured): its command
    /// `payload`, how it went (`o`, and `error`: the code of the ERR sluice sent for it, if any).
    pub(super) fn capture_statement(
        &self,
        payload: &[u8],
        lexed: &Lexed,
        ctx: &StatementCtx,
        o: &Outcome,
        error: Option<u16>,
    ) {
        let started = ctx.started;
        let duration_us = started.elapsed().as_micros() as u64;
        let cap = &self.shared.capture;
        let mask = cap.mask();
        let (cmd, sql, mut wire) = if payload.first() == Some(&command::STMT_EXECUTE) {
            let Some((sql, wire)) = self.stmts.captured(payload) else { return };
            (Command::Execute, sql, wire)
        } else {
            (Command::Query, payload.get(1..).unwrap_or_default(), None)
        };
        // Parameters are copied as sent; only masking needs them decoded.
        let mut params = Vec::new();
        if mask != crate::features::capture::Mask::None
            && let Some(w) = wire.take()
        {
            params = w.decode().unwrap_or_default().iter().map(|v| mask_value(v, mask)).collect();
        }
        let error = match error {
            Some(code) => code,
            None if o.error && o.error_code == 0 => UNKNOWN_ERROR,
            None if o.error => o.error_code,
            None => 0,
        };
        let gtid = ctx.gtid.as_ref().map(ToString::to_string).unwrap_or_default();
        let (rows_sent, rows_affected, insert_id) = (o.rows_sent, o.rows_affected, o.insert_id);
        cap.submit(started, |offset_us| Statement {
            session: self.conn_id,
            offset_us,
            user: self.user.name.clone(),
            schema: self.schema.clone().unwrap_or_default(),
            command: cmd,
            sql: {
                let masked = mask_sql(sql, &lexed.literals, mask);
                // Passwords (IDENTIFIED BY '…', PASSWORD('…'), …) whatever `[capture] mask` says.
                let secrets = sluice_router::lexer::secret_spans(sql, lexed);
                if secrets.is_empty() {
                    masked
                } else {
                    sluice_router::lexer::replace_spans(&masked, &secrets)
                }
            },
            params,
            wire,
            duration_us,
            rows_sent,
            rows_affected,
            insert_id,
            error,
            flags: if self.status & status::IN_TRANS != 0 { IN_TRANS_AFTER } else { 0 },
            gtid,
        });
    }
}
