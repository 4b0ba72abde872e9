//! Forwarding one command and relaying its response: packets go through as bytes, re-sequenced, and
//! are translated only where the client's capabilities differ from the backend connection's
//! (EOF vs OK terminators, session-state data, LOCAL INFILE refused for clients without LOCAL_FILES).

use std::time::Duration;

use bytes::Bytes;
use sluice_protocol::ProtocolError;
use sluice_protocol::constants::{caps, errors, status};
use sluice_protocol::packets::{ErrPacket, is_eof, ok_with_default_tracking};
use sluice_protocol::tracker::{
    Expect, Kind, ResponseTracker, eof_to_end, meta_eof_array, ok_end_to_eof, ok_for_client,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::borrow::Effects;
use crate::backend::topology::GtidPos;
use crate::core::error::{Abort, Error, Result};

/// Flush the client's buffer once this much is queued, so a large result streams with bounded memory.
const FLUSH_AT: usize = 64 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Sends `payload` (a command; `next_seq` is the client's next sequence id) to the held backend
    /// connection and relays the response to the client. Returns what the statement did to the session.
    pub(super) async fn forward(&mut self, payload: &[u8], next_seq: u8) -> Result<Effects> {
        let cmd = payload.first().copied().unwrap_or(0);
        let expect = Expect::for_command(cmd);
        let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
        if expect == Expect::Nothing {
            // No response: the bytes go out with the next command's flush (saves a syscall per
            // COM_STMT_CLOSE, which drivers send often).
            held.guard.conn().stream.write(0, payload);
            return Ok(Effects::default());
        }
        // KILL finds the backend thread here; it holds this lock while it kills, so the connection
        // cannot go back to the pool (and serve someone else) under a KILL meant for this session.
        *self.handle.running.lock().await = Some((held.member, held.guard.conn().thread_id));
        let mut fx = Effects::default();
        let r = self.send_and_relay(payload, expect, next_seq, &mut fx).await;
        *self.handle.running.lock().await = None;
        if r.is_err() {
            self.close_unfinished();
        }
        r.map(|()| fx)
    }

    /// After a relay that failed on the client's side (gone, bad packet during LOCAL INFILE, a packet
    /// that could not be translated): the rest of the response may still be on its way from the
    /// backend, so the connection is closed, never lent again (whether unread bytes have arrived yet
    /// is a race).
    fn close_unfinished(&mut self) {
        if let Some(h) = self.held.as_mut() {
            h.guard.mark_broken();
        }
    }

    async fn send_and_relay(
        &mut self,
        payload: &[u8],
        expect: Expect,
        next_seq: u8,
        fx: &mut Effects,
    ) -> Result<()> {
        let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
        // The label for error messages, borrowed from the pool (no allocation per statement).
        let pool = held.guard.pool().clone();
        let label = pool.spec().label.as_str();
        let conn = held.guard.conn();
        // A command of 16 MiB or more takes several sequence ids: the responses continue from there.
        let bseq = conn.stream.write(0, payload);
        if let Err(e) = conn.stream.flush().await {
            return Err(self.backend_failed(label, e, false));
        }
        self.relay(expect, label, next_seq, bseq, fx).await
    }

    /// `autocommit` as the server's status flags say, on the session and the held connection: every
    /// OK/EOF carries it, while the variable tracker does not report every change (MariaDB leaves out
    /// some `SET autocommit` forms), and a wrong value would be replayed on the next connection.
    fn follow_autocommit(&mut self, st: u16) {
        use crate::backend::vars::AUTOCOMMIT;
        let on = st & status::AUTOCOMMIT != 0;
        if self.vars.autocommit() != Some(on) {
            self.vars.set(AUTOCOMMIT, autocommit_value(on));
        }
        if let Some(h) = self.held.as_mut() {
            let conn = h.guard.conn();
            if conn.vars.autocommit() != Some(on) {
                conn.vars.set(AUTOCOMMIT, autocommit_value(on));
            }
        }
    }

    /// Applies an OK's session-state changes to the held connection and to the session.
    fn take_state(&mut self, payload: &Bytes, fx: &mut Effects) {
        use sluice_protocol::packets::StateChange;
        let Some(held) = self.held.as_mut() else { return };
        let conn = held.guard.conn();
        let flavor = conn.flavor;
        for c in conn.apply_state(payload) {
            match c {
                StateChange::Variable { name, value } => {
                    if let Some(i) = flavor.index(&name) {
                        self.vars.set(i, value);
                        fx.tracked_changed = true;
                        fx.charset_reported |= i == crate::backend::vars::CHARSET_CONNECTION;
                        fx.collation_reported |= i == crate::backend::vars::COLLATION_CONNECTION;
                    } else if flavor.gtid_variable().is_some_and(|g| name.eq_ignore_ascii_case(g.as_bytes()))
                    {
                        // MariaDB: `last_gtid`, the session's last committed GTID.
                        let g = GtidPos::parse(&String::from_utf8_lossy(&value));
                        self.took_gtid(g, fx);
                    }
                }
                StateChange::Schema(s) => {
                    self.schema = (!s.is_empty()).then_some(s);
                    fx.tracked_changed = true;
                }
                StateChange::StateChanged => fx.state_changed = true,
                // MySQL: `session_track_gtids = OWN_GTID`, the GTIDs the statement committed.
                StateChange::Gtids(data) => {
                    // An entry in another form still says a write committed: unreadable, so no
                    // replica is taken to have it.
                    let g = GtidPos::from_tracker(&data).unwrap_or_else(|| GtidPos::parse("?"));
                    self.took_gtid(g, fx);
                }
                StateChange::Other(..) => {}
            }
        }
    }

    /// A statement committed `g`: the session's last write from now on.
    fn took_gtid(&mut self, g: GtidPos, fx: &mut Effects) {
        if g.is_empty() {
            return;
        }
        // Published before the client has the OK: a read it sends next on another connection must
        // already see this write (read_your_writes_scope).
        if let Some(cell) = self.ryw.cell.as_ref().filter(|_| self.stmt.group == 0) {
            cell.publish(Some(&g));
        }
        match &mut fx.gtid {
            // A multi-statement may commit more than once.
            Some(prev) => prev.merge(&g),
            None => fx.gtid = Some(g),
        }
    }

    /// Drops the (broken) backend connection and builds the error to report.
    fn backend_failed(
        &mut self,
        label: &str,
        failure: impl Into<crate::core::error::BackendFailure>,
        client_saw_part: bool,
    ) -> Error {
        let failure = failure.into();
        if let Some(mut h) = self.held.take() {
            h.guard.mark_broken();
        }
        tracing::warn!(backend = label, conn_id = self.conn_id, error = %failure, "backend connection failed");
        if client_saw_part {
            Error::from(Abort::MidResponse { backend: label.to_owned(), source: failure })
        } else {
            // Nothing reached the client yet: replace what is queued with the error.
            self.client.discard_pending();
            Error::backend(label, failure)
        }
    }

    async fn relay(
        &mut self,
        expect: Expect,
        label: &str,
        mut cseq: u8,
        mut bseq: u8,
        fx: &mut Effects,
    ) -> Result<()> {
        let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
        let conn = held.guard.conn();
        let bcaps = conn.caps;
        let flavor = conn.flavor;
        let ccaps = self.caps;
        let b_deprecate = bcaps & caps::DEPRECATE_EOF != 0;
        let c_deprecate = ccaps & caps::DEPRECATE_EOF != 0;
        let track_differs = (bcaps ^ ccaps) & caps::SESSION_TRACK != 0;
        let read_timeout = match self.shared.config().backend.read_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let mut tracker = ResponseTracker::new(expect, b_deprecate);
        let mut pending_meta = false;
        let mut infile_refused = false;
        let mut flushed_any = false;
        loop {
            let deadline = self.limit_deadline();
            let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
            let conn = held.guard.conn();
            let next = match conn.stream.buffered() {
                Ok(Some(p)) => Ok(Some(p)),
                Ok(None) => {
                    if self.client.pending() > 0 {
                        self.client.flush().await.map_err(|_| Error::ClientGone)?;
                        flushed_any = true;
                    }
                    match super::limits::read_within(&mut conn.stream, read_timeout, deadline).await {
                        super::limits::Waited::Read(r) => r,
                        super::limits::Waited::LimitPassed => {
                            self.kill_for_limit().await;
                            continue;
                        }
                    }
                }
                Err(e) => Err(e),
            };
            let p = match next {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return Err(self.backend_failed(
                        label,
                        crate::core::error::BackendFailure::Closed,
                        flushed_any,
                    ));
                }
                Err(e) => return Err(self.backend_failed(label, e, flushed_any)),
            };
            if p.seq != bseq {
                let e = ProtocolError::OutOfOrder { got: p.seq, expected: bseq };
                return Err(self.backend_failed(label, e, flushed_any));
            }
            bseq = p.next_seq;
            let step = match tracker.feed(&p.payload) {
                Ok(s) => s,
                Err(e) => return Err(self.backend_failed(label, e, flushed_any)),
            };
            if let Some(st) = step.status {
                if let Some(mine) = self.stmt.status_override {
                    // Parked diagnostics: the connection's transaction and autocommit are not the session's.
                    self.status = st & !super::SESSION_BITS | mine;
                } else {
                    self.status = st;
                    self.follow_autocommit(st);
                }
                if st & status::SESSION_STATE_CHANGED != 0 && matches!(step.kind, Kind::Ok | Kind::End) {
                    self.take_state(&p.payload, fx);
                }
            }
            match step.kind {
                Kind::Err => {
                    fx.failed = true;
                    fx.error_code = p.payload.get(1..3).map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
                }
                Kind::Row => fx.rows_sent += 1,
                Kind::Ok => {
                    let (affected, id, warnings) = ok_counts(&p.payload).unwrap_or_default();
                    if id != 0 {
                        // The session's LAST_INSERT_ID() only if the id was generated: decided after
                        // the statement (insert_id.rs).
                        fx.insert_id = id;
                    }
                    fx.rows_affected += affected;
                    fx.warnings += warnings;
                    if flavor == crate::backend::Flavor::MySql {
                        fx.matched = rows_matched(&p.payload);
                    }
                }
                Kind::End => fx.warnings += end_warnings(&p.payload),
                // COM_STMT_PREPARE_OK: status, id (4), columns (2), params (2), filler, warnings (2).
                Kind::PrepareOk { .. } => {
                    fx.warnings +=
                        p.payload.get(10..12).map_or(0, |w| u64::from(u16::from_le_bytes([w[0], w[1]])));
                }
                _ => {}
            }
            if step.status.is_some_and(|s| s & (status::NO_INDEX_USED | status::NO_GOOD_INDEX_USED) != 0) {
                fx.no_index = true;
            }
            if let Kind::PrepareOk { statement_id, columns, params } = step.kind {
                self.stmt.prepared_capture = Some((statement_id, columns, params));
            }
            let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
            let conn = held.guard.conn();
            if pending_meta {
                pending_meta = false;
                // A cursor's metadata ends with the terminator itself; otherwise insert the EOF now.
                let cursor =
                    step.kind == Kind::End && step.status.is_some_and(|s| s & status::CURSOR_EXISTS != 0);
                if !cursor {
                    cseq = emit(&mut self.client, &mut self.stmt.collect, cseq, &meta_eof_array(self.status));
                }
            }
            if infile_refused {
                // Swallow the backend's answer to the empty file; the client gets ERR 1148 below.
                if step.done {
                    break;
                }
                continue;
            }
            let state_changed = step.status.is_some_and(|st| st & status::SESSION_STATE_CHANGED != 0);
            let out: Option<Out> = match step.kind {
                Kind::Err if self.stmt.limit.is_some() => {
                    Some(self.limit_err(&p.payload, flavor).unwrap_or_else(|| p.payload.clone()).into())
                }
                Kind::Ok if track_differs => Some(translate(ok_for_client(&p.payload, bcaps, ccaps))?.into()),
                // sluice's connections track more than a client's session would (every variable,
                // state changes, GTIDs): the client sees only its default trackers' entries.
                Kind::Ok if state_changed => Some(
                    ok_with_default_tracking(&p.payload, ccaps).unwrap_or_else(|| p.payload.clone()).into(),
                ),
                Kind::End => match (b_deprecate, c_deprecate) {
                    // A classic EOF from the backend goes as it is; an OK-style one is turned into
                    // one on the stack.
                    (true, false) if is_eof(&p.payload) => Some(p.payload.clone().into()),
                    (true, false) => Some(Out::Eof(translate(ok_end_to_eof(&p.payload))?)),
                    (false, true) => Some(translate(eof_to_end(&p.payload))?.into()),
                    (true, true) if track_differs => {
                        Some(translate(ok_for_client(&p.payload, bcaps, ccaps))?.into())
                    }
                    (true, true) if state_changed => Some(
                        ok_with_default_tracking(&p.payload, ccaps)
                            .unwrap_or_else(|| p.payload.clone())
                            .into(),
                    ),
                    _ => Some(p.payload.clone().into()),
                },
                Kind::PrepareOk { .. } if self.stmt.rewrite_stmt_id.is_some() => {
                    // The client gets sluice's statement id, not the backend's.
                    let mut b = p.payload.to_vec();
                    if let (Some(id), Some(slot)) = (self.stmt.rewrite_stmt_id, b.get_mut(1..5)) {
                        slot.copy_from_slice(&id.to_le_bytes());
                    }
                    Some(Bytes::from(b).into())
                }
                Kind::MetaEnd if c_deprecate => None,
                Kind::ColumnDef | Kind::ParamDef => {
                    fx.result_set |= step.kind == Kind::ColumnDef;
                    pending_meta = step.ends_defs && b_deprecate && !c_deprecate;
                    Some(p.payload.clone().into())
                }
                Kind::LocalInfile if ccaps & caps::LOCAL_FILES == 0 => {
                    // The client did not allow LOAD DATA LOCAL: answer the backend with an empty file
                    // (it then finishes the statement with 0 rows) and tell the client no.
                    conn.stream.write(bseq, &[]);
                    bseq = bseq.wrapping_add(1);
                    if let Err(e) = conn.stream.flush().await {
                        return Err(self.backend_failed(label, e, flushed_any));
                    }
                    infile_refused = true;
                    continue;
                }
                Kind::LocalInfile => {
                    self.stmt.collect = None;
                    cseq = self.client.write(cseq, &p.payload);
                    self.client.flush().await.map_err(|_| Error::ClientGone)?;
                    let (c, b) = self.relay_infile(cseq, bseq, label).await?;
                    return self.relay_rest(tracker, c, b, label, fx).await;
                }
                _ => Some(p.payload.clone().into()),
            };
            if let Some(mut out) = out {
                // Parked diagnostics: the connection's transaction and autocommit are not the session's.
                if let Some(mine) = self.stmt.status_override
                    && matches!(step.kind, Kind::Ok | Kind::End)
                    && let Some(at) = sluice_protocol::packets::status_offset(out.bytes())
                {
                    out = Bytes::from(super::with_session_bits(out.bytes(), at, mine)).into();
                }
                cseq = emit(&mut self.client, &mut self.stmt.collect, cseq, out.bytes());
            }
            if step.done {
                break;
            }
            if self.client.pending() >= FLUSH_AT {
                self.client.flush().await.map_err(|_| Error::ClientGone)?;
                flushed_any = true;
            }
        }
        if pending_meta {
            cseq = emit(&mut self.client, &mut self.stmt.collect, cseq, &meta_eof_array(self.status));
        }
        if infile_refused {
            self.stmt.collect = None;
            let e = ErrPacket::new(
                errors::NOT_ALLOWED_COMMAND,
                "The used command is not allowed with this client: LOAD DATA LOCAL needs the client to enable local infile (e.g. --local-infile=1)",
            );
            cseq = self.client.write(cseq, &e.to_bytes());
        }
        let _ = cseq;
        if self.stmt.hold_answer {
            // A migrating table's write: the answer goes out once the new placement has it too.
            return Ok(());
        }
        self.client.flush().await.map_err(|_| Error::ClientGone)
    }

    /// After a LOCAL INFILE request reached the client: copies the client's file packets to the
    /// backend until the empty packet that ends the file. Returns the next (client, backend) sequence ids.
    async fn relay_infile(&mut self, mut cseq: u8, mut bseq: u8, label: &str) -> Result<(u8, u8)> {
        loop {
            let p = self.client.read().await.map_err(Error::Client)?.ok_or(Error::ClientGone)?;
            if p.seq != cseq {
                return Err(Error::Client(ProtocolError::OutOfOrder { got: p.seq, expected: cseq }));
            }
            cseq = p.next_seq;
            let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
            let stream = &mut held.guard.conn().stream;
            bseq = stream.write(bseq, &p.payload);
            let end = p.payload.is_empty();
            if (end || stream.pending() >= FLUSH_AT)
                && let Err(e) = stream.flush().await
            {
                return Err(self.backend_failed(label, e, true));
            }
            if end {
                return Ok((cseq, bseq));
            }
        }
    }

    /// Continues relaying after a LOCAL INFILE exchange (the statement's OK/ERR, and any further
    /// results of a multi-statement).
    async fn relay_rest(
        &mut self,
        mut tracker: ResponseTracker,
        mut cseq: u8,
        mut bseq: u8,
        label: &str,
        fx: &mut Effects,
    ) -> Result<()> {
        let bcaps = self.held.as_mut().map(|h| h.guard.conn().caps).unwrap_or(0);
        let track_differs = (bcaps ^ self.caps) & caps::SESSION_TRACK != 0;
        loop {
            let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
            let p = match held.guard.conn().stream.read().await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return Err(self.backend_failed(label, crate::core::error::BackendFailure::Closed, true));
                }
                Err(e) => return Err(self.backend_failed(label, e, true)),
            };
            if p.seq != bseq {
                let e = ProtocolError::OutOfOrder { got: p.seq, expected: bseq };
                return Err(self.backend_failed(label, e, true));
            }
            bseq = p.next_seq;
            let step = tracker.feed(&p.payload).map_err(Abort::Response)?;
            if let Some(st) = step.status {
                self.status = st;
                self.follow_autocommit(st);
            }
            if step.kind == Kind::Err {
                fx.failed = true;
            }
            if step.kind == Kind::LocalInfile || !matches!(step.kind, Kind::Ok | Kind::Err) {
                // A further result set or file after LOAD DATA in one multi-statement: rare; relay it as is.
                cseq = self.client.write(cseq, &p.payload);
            } else if step.kind == Kind::Ok && track_differs {
                cseq = self.client.write(cseq, &translate(ok_for_client(&p.payload, bcaps, self.caps))?);
            } else {
                cseq = self.client.write(cseq, &p.payload);
            }
            if step.done {
                return self.client.flush().await.map_err(|_| Error::ClientGone);
            }
        }
    }
}

/// Queues one payload for the client (and for the cache, while a miss is collected).
fn emit<S: AsyncRead + AsyncWrite + Unpin + Send>(
    client: &mut super::auth::ClientStream<S>,
    collect: &mut Option<sluice_cache::Collector>,
    seq: u8,
    payload: &[u8],
) -> u8 {
    if let Some(c) = collect.as_mut() {
        c.push(payload);
    }
    client.write(seq, payload)
}

/// (affected rows, last insert id, warnings) of an OK payload.
fn ok_counts(payload: &[u8]) -> Option<(u64, u64, u64)> {
    let rest = payload.get(1..)?;
    let (affected, a) = sluice_protocol::buf::lenenc_at(rest)?;
    let (id, b) = sluice_protocol::buf::lenenc_at(rest.get(a..)?)?;
    let w = rest.get(a + b + 2..a + b + 4).map_or(0, |w| u16::from_le_bytes([w[0], w[1]]));
    Some((affected, id, u64::from(w)))
}

/// An OK packet's "Rows matched: N" (an UPDATE's info text; backend connections track session
/// state, so the info is a length-encoded string after the warnings).
fn rows_matched(payload: &[u8]) -> Option<u64> {
    let rest = payload.get(1..)?;
    let (_, a) = sluice_protocol::buf::lenenc_at(rest)?;
    let (_, b) = sluice_protocol::buf::lenenc_at(rest.get(a..)?)?;
    let at = a + b + 4;
    let (len, c) = sluice_protocol::buf::lenenc_at(rest.get(at..)?)?;
    let info = rest.get(at + c..at + c + usize::try_from(len).ok()?)?;
    let digits = info.strip_prefix(b"Rows matched: ")?;
    let end = digits.iter().position(|d| !d.is_ascii_digit()).unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// `autocommit`'s value as the server reports it.
fn autocommit_value(on: bool) -> Bytes {
    Bytes::from_static(if on { b"ON" } else { b"OFF" })
}

/// Warnings of a result's terminator: a classic EOF, or an OK with the 0xFE header.
fn end_warnings(payload: &[u8]) -> u64 {
    // A classic EOF is exactly 5 bytes; an OK-as-EOF (DEPRECATE_EOF) is at least 7.
    if payload.len() == 5 {
        return payload.get(1..3).map_or(0, |w| u64::from(u16::from_le_bytes([w[0], w[1]])));
    }
    ok_counts(payload).map_or(0, |(_, _, w)| w)
}

/// A payload for the client: the backend's (or a rewritten one) as `Bytes`, or a classic EOF built on
/// the stack (no allocation for the terminator most results end with for a classic client).
enum Out {
    Bytes(Bytes),
    Eof([u8; 5]),
}

impl Out {
    fn bytes(&self) -> &[u8] {
        match self {
            Out::Bytes(b) => b,
            Out::Eof(e) => e,
        }
    }
}

impl From<Bytes> for Out {
    fn from(b: Bytes) -> Self {
        Out::Bytes(b)
    }
}

fn translate<T>(r: std::result::Result<T, ProtocolError>) -> Result<T> {
    r.map_err(|e| Abort::Translate(e).into())
}
