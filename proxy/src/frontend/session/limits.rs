//! Statement time limits from `[[rules]] timeout_ms`: when a statement's limit passes while sluice
//! waits for its answer, sluice sends `KILL QUERY <thread>` to the same backend on a connection of its
//! own (the pool may be full), and the server's "interrupted" ERR reaches the client as ERR 1969
//! (70100; on MySQL 3024, HY000) naming the rule. The backend connection and the session carry on.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_protocol::packets::ErrPacket;
use sluice_protocol::{Packet, ProtocolError};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use crate::backend::{BackendConn, Flavor};
use crate::core::net::PacketStream;

/// MariaDB's ER_STATEMENT_TIMEOUT: "Query execution was interrupted (max_statement_time exceeded)".
pub(crate) const STATEMENT_TIMEOUT: (u16, &str) = (1969, "70100");
/// MySQL's ER_QUERY_TIMEOUT: "Query execution was interrupted, maximum statement execution time
/// exceeded" (what `max_execution_time` gives there).
const MYSQL_QUERY_TIMEOUT: (u16, &str) = (3024, "HY000");
/// ER_QUERY_INTERRUPTED, what a statement stopped by `KILL QUERY` answers.
const QUERY_INTERRUPTED: u16 = 1317;

/// The running statement's limit.
#[derive(Debug, Clone)]
pub(crate) struct StatementLimit {
    /// When it passes.
    pub deadline: Instant,
    /// The limit, ms (for the message).
    pub ms: u64,
    /// The rule that set it.
    pub rule: String,
    /// `KILL QUERY` was sent for this statement.
    pub killed: bool,
}

impl StatementLimit {
    /// A limit of `ms` from now, set by `rule`.
    pub fn new(ms: u64, rule: &str) -> Self {
        Self {
            // `[[rules]] timeout_ms` may be any u64: the deadline saturates.
            deadline: crate::core::clock::after(Instant::now(), Duration::from_millis(ms)),
            ms,
            rule: rule.to_owned(),
            killed: false,
        }
    }
}

/// What waiting for the backend's next packet gave.
pub(crate) enum Waited {
    /// A packet, the end of the stream, or an error (the read timeout among them).
    Read(Result<Option<Packet>, ProtocolError>),
    /// The statement's limit passed first.
    LimitPassed,
}

/// Reads the next packet within `read_timeout` and before `deadline` (a limit not yet acted on).
pub(crate) async fn read_within<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut PacketStream<S>,
    read_timeout: Option<Duration>,
    deadline: Option<Instant>,
) -> Waited {
    let to_limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let wait = match (read_timeout, to_limit) {
        (Some(r), Some(l)) => Some(r.min(l)),
        (r, l) => r.or(l),
    };
    let Some(wait) = wait else { return Waited::Read(stream.read().await) };
    // `PacketStream::read` is cancel-safe: bytes read so far stay in its buffer.
    match tokio::time::timeout(wait, stream.read()).await {
        Ok(r) => Waited::Read(r),
        Err(_) if to_limit.is_some_and(|l| l <= wait) => Waited::LimitPassed,
        Err(_) => Waited::Read(Err(ProtocolError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} ms (backend.read_timeout_ms)", wait.as_millis()),
        )))),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// The deadline the relay still has to watch: the statement's limit, unless already acted on.
    pub(super) fn limit_deadline(&self) -> Option<Instant> {
        self.stmt.limit.as_ref().filter(|l| !l.killed).map(|l| l.deadline)
    }

    /// The limit passed: `KILL QUERY` for the held connection's thread, sent on a new connection to
    /// the same backend (not from the pool: it may be full, and this must not wait for a slot). The
    /// relay then reads the server's ERR as the statement's answer.
    pub(super) async fn kill_for_limit(&mut self) {
        let Some(limit) = self.stmt.limit.as_mut() else { return };
        limit.killed = true;
        let (ms, rule) = (limit.ms, limit.rule.clone());
        let Some(held) = self.held.as_mut() else { return };
        let spec = held.guard.spec().clone();
        let thread = held.guard.conn().thread_id;
        tracing::info!(conn_id = self.conn_id, backend = %spec.label, thread, rule = %rule, ms, "statement time limit passed; sending KILL QUERY");
        self.shared.digests.totals.limit_kills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let killed = async {
            let mut c = BackendConn::connect(&spec).await?;
            c.query(&spec.label, &format!("KILL QUERY {thread}")).await.map(drop)
        };
        match tokio::time::timeout(spec.connect_timeout * 2, killed).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(backend = %spec.label, error = %e, "KILL QUERY for a statement time limit failed")
            }
            Err(_) => {
                tracing::warn!(backend = %spec.label, "KILL QUERY for a statement time limit timed out")
            }
        }
    }

    /// The ERR the client gets instead of `backend_err` when this statement was killed for its limit
    /// (`None`: pass the backend's ERR through, it is about something else). The code is the one the
    /// backend's own statement time limit gives on its `flavor`, so clients handle it as they would.
    pub(super) fn limit_err(&self, backend_err: &Bytes, flavor: Flavor) -> Option<Bytes> {
        let limit = self.stmt.limit.as_ref().filter(|l| l.killed)?;
        let code = backend_err.get(1..3).map(|c| u16::from_le_bytes([c[0], c[1]]))?;
        if !matches!(code, QUERY_INTERRUPTED | 1969 | 3024) {
            return None;
        }
        let (code, variable) = match flavor {
            Flavor::MariaDb => (STATEMENT_TIMEOUT, "max_statement_time"),
            Flavor::MySql => (MYSQL_QUERY_TIMEOUT, "maximum statement execution time"),
        };
        let e = ErrPacket::new(
            code,
            format!(
                "Query execution was interrupted ({variable} exceeded): sluice rule '{}' limits this statement to {} ms; make it faster or raise the rule's timeout_ms",
                limit.rule, limit.ms
            ),
        );
        Some(e.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_timeout_of_u64_max_saturates() {
        let l = StatementLimit::new(u64::MAX, "huge");
        let left = l.deadline.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(99 * 365 * 24 * 3600), "{left:?}");
        assert!(left <= crate::core::clock::FAR);
    }

    #[tokio::test]
    async fn reading_within_a_saturated_limit_waits_for_the_read() {
        let (a, b) = tokio::io::duplex(64);
        let mut s = PacketStream::new(a, 1 << 20);
        drop(b);
        let l = StatementLimit::new(u64::MAX, "huge");
        let got = read_within(&mut s, Some(Duration::from_millis(50)), Some(l.deadline)).await;
        assert!(matches!(got, Waited::Read(Ok(None))), "the closed stream, not the limit");
    }
}
