//! A whole response held as packets (column definitions, rows, the final OK or ERR): what a sharded
//! statement's parts return before sluice merges them, and what `BackendConn::query` decodes for
//! sluice's own small queries. Rows are not decoded here.

use bytes::Bytes;
use sluice_protocol::Packet;
use sluice_protocol::constants::{caps, command, status};
use sluice_protocol::packets::{ErrPacket, OkPacket};
use sluice_protocol::tracker::{Expect, Kind, ResponseTracker, Step};

use super::BackendConn;
use crate::core::error::{BackendFailure, Error, Result};

/// One statement's response, as packets.
#[derive(Debug, Clone, Default)]
pub struct RawResult {
    /// Column-definition payloads (empty for a statement without a result set).
    pub columns: Vec<Bytes>,
    /// Text row payloads.
    pub rows: Vec<Bytes>,
    /// The final OK (for a statement without rows).
    pub ok: Option<OkPacket>,
    /// The server refused the statement.
    pub err: Option<ErrPacket>,
    /// Server status after it.
    pub status: u16,
}

impl BackendConn {
    /// Sends `payload` as a new command (sequence id 0) and returns the tracker for its response, which
    /// [`Self::next_response`] reads packet by packet. For sluice's own commands, not relayed ones.
    pub async fn send_command(
        &mut self,
        label: &str,
        payload: &[u8],
        expect: Expect,
    ) -> Result<ResponseTracker> {
        self.stream.write(0, payload);
        self.stream.flush().await.map_err(|e| Error::backend(label, e))?;
        Ok(ResponseTracker::new(expect, self.caps & caps::DEPRECATE_EOF != 0))
    }

    /// The next packet of a response and what `tracker` makes of it. A failed read, the connection
    /// closing or a packet out of place is a failure of the backend `label`.
    pub async fn next_response(
        &mut self,
        label: &str,
        tracker: &mut ResponseTracker,
    ) -> Result<(Packet, Step)> {
        let p = self
            .stream
            .read()
            .await
            .map_err(|e| Error::backend(label, e))?
            .ok_or_else(|| Error::backend(label, BackendFailure::Closed))?;
        let step = tracker.feed(&p.payload).map_err(|e| Error::backend(label, e))?;
        Ok((p, step))
    }

    /// Runs one statement and holds its whole (first) response. An ERR is returned in the result, not
    /// as an error: a failing shard is reported with the others.
    pub async fn query_raw(&mut self, label: &str, sql: &str) -> Result<RawResult> {
        self.query_raw_within(label, sql, usize::MAX).await
    }

    /// [`Self::query_raw`] keeping at most `max_bytes` of row payloads: past it the rest of the
    /// response is read and dropped (the connection stays in step) and the result carries an ERR
    /// naming `[sharding] max_scatter_result_bytes`.
    pub async fn query_raw_within(&mut self, label: &str, sql: &str, max_bytes: usize) -> Result<RawResult> {
        let fail = |e: BackendFailure| Error::backend(label, e);
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(command::QUERY);
        payload.extend_from_slice(sql.as_bytes());
        let mut tracker = self.send_command(label, &payload, Expect::ResultSets).await?;
        let mut out = RawResult::default();
        let mut sets = 0;
        let mut kept = 0usize;
        let mut over = false;
        loop {
            let (p, step) = self.next_response(label, &mut tracker).await?;
            match step.kind {
                Kind::Err => out.err = Some(ErrPacket::parse(&p.payload).map_err(|e| fail(e.into()))?),
                Kind::ColumnCount(_) => sets += 1,
                Kind::ColumnDef if sets == 1 => out.columns.push(p.payload.clone()),
                Kind::Row if sets == 1 && !over => {
                    kept += p.payload.len();
                    if kept > max_bytes {
                        over = true;
                        out.rows = Vec::new();
                    } else {
                        out.rows.push(p.payload.clone());
                    }
                }
                Kind::Ok if sets == 0 && out.ok.is_none() => {
                    out.ok = Some(OkPacket::parse(&p.payload, self.caps).map_err(|e| fail(e.into()))?);
                }
                _ => {}
            }
            if let Some(st) = step.status {
                self.status = st;
                out.status = st;
                if st & status::SESSION_STATE_CHANGED != 0 && matches!(step.kind, Kind::Ok | Kind::End) {
                    self.apply_state(&p.payload);
                }
            }
            if step.done {
                if over && out.err.is_none() {
                    out.err = Some(ErrPacket::new(
                        sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
                        format!(
                            "sluice: this statement's result from one shard exceeds [sharding] max_scatter_result_bytes ({max_bytes} bytes); narrow it (WHERE, LIMIT) or raise the limit"
                        ),
                    ));
                }
                return Ok(out);
            }
        }
    }
}
