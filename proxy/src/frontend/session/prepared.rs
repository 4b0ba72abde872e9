//! Prepared statements (COM_STMT_*) across multiplexing.
//!
//! The client's statements belong to the session, not to a backend connection: sluice keeps each one's
//! text, plan and parameter types and hands the client its own statement ids. A statement is prepared
//! on whichever backend connection runs it, once per connection (the connection's `StmtCache`, keyed by
//! schema and text, shared by every session that borrows it, closing the least recently used so the
//! server's `max_prepared_stmt_count` is never reached).
//!
//! ```text
//! PREPARE  ─► routed like the statement ─► backend prepares ─► client gets sluice's id
//! EXECUTE  ─► routed like the statement ─► prepared on that connection? ── no ─► prepare silently
//!                                              │ yes                               │
//!                                              ▼                                   ▼
//!              buffered long data, then EXECUTE with the backend's id and the parameter types
//! FETCH    ─► the cursor's connection (pinned: `cursor`) until the last row or RESET/CLOSE
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use sluice_protocol::Packet;
use sluice_protocol::constants::{command, status};
use sluice_protocol::tracker::{Expect, Kind};
use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::commands::Next;
use super::pins::Pin;
use crate::backend::{BackendConn, BackendStmt};
use crate::core::error::{Abort, BackendFailure, Error, Result};

/// ER_UNKNOWN_STMT_HANDLER.
const UNKNOWN_STMT: (u16, &str) = (1243, "HY000");
/// ER_STMT_HAS_NO_OPEN_CURSOR.
const NO_OPEN_CURSOR: (u16, &str) = (1421, "HY000");

/// One client prepared statement.
#[derive(Debug)]
pub(crate) struct ClientStmt {
    /// sql_mode and schema at prepare time and the statement text ([`stmt_key`]): the key of the
    /// backend statement caches.
    pub(super) key: Arc<[u8]>,
    /// The schema it was prepared in (its tables resolve there).
    pub(super) schema: Option<Bytes>,
    /// The session's sql_mode at its PREPARE: prepared again elsewhere under this mode.
    pub(super) sql_mode: Option<Bytes>,
    lexed: Arc<Lexed>,
    class: Arc<Class>,
    pub(super) params: u16,
    /// Parameter types from the last EXECUTE that sent them (2 bytes per parameter).
    types: Option<Bytes>,
    /// COM_STMT_SEND_LONG_DATA chunks since the last EXECUTE: (parameter, data).
    pub(super) long_data: Vec<(u16, Bytes)>,
    /// Bytes `long_data` holds (with a per-chunk overhead), counted in the session's total.
    long_bytes: usize,
    /// More long data was sent than the session may buffer: the next EXECUTE is refused.
    pub(super) long_data_over: bool,
    /// Over a sharded table: its shape and the client's text (each EXECUTE is routed by its
    /// parameters; `key` then names the shard's text).
    pub(super) sharded: Option<(Arc<sluice_router::shard::shape::ShardShape>, Bytes)>,
    /// Parameter types as parsed from the last EXECUTE that bound them (sharded statements).
    pub(super) param_types: Option<Vec<sluice_protocol::binary::ParamType>>,
}

/// What one buffered COM_STMT_SEND_LONG_DATA chunk costs besides its bytes (its entry and handle).
const LONG_DATA_CHUNK_OVERHEAD: usize = 64;

/// Hashes the statement ids of a session, which sluice hands out itself (counting up, see
/// `ClientStmts::next_id`), so no client can choose keys that collide: one multiplication instead of
/// SipHash (~100 instructions), and an EXECUTE looks its statement up several times.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StmtIdHasher(u64);

impl std::hash::Hasher for StmtIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, id: u32) {
        // Fibonacci hashing: the high bits (hashbrown's control bytes) and the low bits (the bucket)
        // both vary with consecutive ids.
        self.0 = (self.0 ^ u64::from(id)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A session's prepared statements.
#[derive(Debug, Default)]
pub(crate) struct ClientStmts {
    pub(super) map: HashMap<u32, ClientStmt, std::hash::BuildHasherDefault<StmtIdHasher>>,
    last_id: u32,
    /// The statement with an open cursor (the session is pinned while there is one).
    pub(super) cursor: Option<u32>,
    /// COM_STMT_SEND_LONG_DATA bytes buffered over all statements (at most `[server]
    /// max_packet_bytes`, like the server's `max_allowed_packet` per parameter).
    long_data_bytes: usize,
    /// The statement the session prepared last, while it exists: MariaDB's statement id -1
    /// (0xFFFFFFFF) names it, so a client can send COM_STMT_PREPARE and its COM_STMT_EXECUTE
    /// together (the Node mariadb connector does). A failed PREPARE clears it, as on the server.
    last_prepared: Option<u32>,
}

/// The statement id that names the session's last prepared statement (MariaDB 10.2+).
const LAST_PREPARED: u32 = u32::MAX;

impl ClientStmts {
    /// The statement id of a COM_STMT_* payload, with -1 resolved to the last prepared statement.
    pub(super) fn id(&self, payload: &[u8]) -> Result<u32> {
        let id = stmt_id(payload)?;
        Ok(match (id, self.last_prepared) {
            (LAST_PREPARED, Some(last)) => last,
            _ => id,
        })
    }

    /// The text and the parameters (as sent, with their types) of an EXECUTE, for capture; no
    /// parameters when their types were never sent.
    pub(super) fn captured(
        &self,
        payload: &[u8],
    ) -> Option<(&[u8], Option<sluice_protocol::capture::WireParams>)> {
        let stmt = self.map.get(&self.id(payload).ok()?)?;
        let sql = key_text(&stmt.key);
        let tail = if stmt.params == 0 {
            Some(Bytes::new())
        } else if payload.get(bound_at(stmt.params)) == Some(&1) {
            payload.get(10..).map(Bytes::copy_from_slice)
        } else {
            stmt.types.as_ref().map(|t| {
                let mut full = rewrite_execute(payload, 0, stmt.params, Some(t));
                full.drain(..10.min(full.len()));
                Bytes::from(full)
            })
        };
        Some((sql, tail.map(|tail| sluice_protocol::capture::WireParams { count: stmt.params, tail })))
    }

    fn next_id(&mut self) -> u32 {
        loop {
            self.last_id = self.last_id.wrapping_add(1);
            // Never 0, nor -1 (which names the last prepared statement), nor one in use.
            if self.last_id != 0 && self.last_id != LAST_PREPARED && !self.map.contains_key(&self.last_id) {
                return self.last_id;
            }
        }
    }
}

/// The statement id of a COM_STMT_* payload.
fn stmt_id(payload: &[u8]) -> Result<u32> {
    payload.get(1..5).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(|| {
        Error::Client(sluice_protocol::ProtocolError::malformed("COM_STMT_*", "no statement id"))
    })
}

pub(super) fn unknown(id: u32, command: &str) -> Error {
    Error::reply(UNKNOWN_STMT, unknown_message(id, command))
}

/// The server's ER_UNKNOWN_STMT_HANDLER text.
fn unknown_message(id: u32, command: &str) -> String {
    format!("Unknown prepared statement handler ({id}) given to {command}")
}

/// The key of a statement in backend statement caches: an 8-byte fingerprint of the sql_mode, the
/// schema, NUL, the text. The server parses a statement under the sql_mode of its PREPARE
/// (ANSI_QUOTES, NO_BACKSLASH_ESCAPES… change what the text means) and keeps it; sluice prepares it
/// again on other connections under that same mode ([`ClientStmt::sql_mode`]), whatever the
/// session's mode is by then. A fingerprint, not the mode's text (~90 bytes), because the key is
/// hashed on every EXECUTE (~130 more instructions per statement in `benches/callgrind.sh` with the text);
/// two modes sharing a 64-bit SipHash is not a concern.
pub(super) fn stmt_key(sql_mode: Option<&[u8]>, schema: Option<&[u8]>, sql: &[u8]) -> Arc<[u8]> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sql_mode.unwrap_or_default().hash(&mut h);
    let schema = schema.unwrap_or_default();
    let mut k = Vec::with_capacity(MODE_FINGERPRINT + schema.len() + 1 + sql.len());
    k.extend_from_slice(&h.finish().to_le_bytes());
    k.extend_from_slice(schema);
    k.push(0);
    k.extend_from_slice(sql);
    Arc::from(k)
}

/// Bytes of the sql_mode fingerprint at the start of a [`stmt_key`].
const MODE_FINGERPRINT: usize = 8;

/// Where the statement text starts in a [`stmt_key`].
fn key_text_at(key: &[u8]) -> usize {
    let rest = key.get(MODE_FINGERPRINT..).unwrap_or_default();
    MODE_FINGERPRINT + rest.iter().position(|b| *b == 0).map_or(0, |i| i + 1)
}

/// The statement text of a [`stmt_key`].
pub(super) fn key_text(key: &[u8]) -> &[u8] {
    key.get(key_text_at(key)..).unwrap_or_default()
}

/// Where the `new_params_bound` byte of an EXECUTE with `params` parameters sits.
fn bound_at(params: u16) -> usize {
    10 + usize::from(params).div_ceil(8)
}

/// The parameter types an EXECUTE carries, if it sends them.
fn sent_types(payload: &[u8], params: u16) -> Option<Bytes> {
    if params == 0 {
        return None;
    }
    let at = bound_at(params);
    if payload.get(at) != Some(&1) {
        return None;
    }
    payload.get(at + 1..at + 1 + 2 * usize::from(params)).map(Bytes::copy_from_slice)
}

/// An EXECUTE for backend statement `backend_id`, always with parameter types (a connection that has
/// not executed this statement before needs them; resending them costs 2 bytes per parameter).
pub(crate) fn rewrite_execute(
    payload: &[u8],
    backend_id: u32,
    params: u16,
    types: Option<&Bytes>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 1 + 2 * usize::from(params));
    out.push(command::STMT_EXECUTE);
    out.extend_from_slice(&backend_id.to_le_bytes());
    let at = bound_at(params);
    match types {
        Some(t) if params > 0 && payload.get(at) == Some(&0) => {
            out.extend_from_slice(&payload[5..at]);
            out.push(1);
            out.extend_from_slice(t);
            out.extend_from_slice(&payload[at + 1..]);
        }
        _ => out.extend_from_slice(payload.get(5..).unwrap_or_default()),
    }
    out
}

/// Prepares `sql` on `conn` without telling the client (the answer's definitions are read and
/// dropped), in `schema` when the connection is elsewhere, and records it in the connection's cache.
async fn prepare_on(
    conn: &mut BackendConn,
    label: &str,
    stmt: &ClientStmt,
    key: &Arc<[u8]>,
    max: usize,
) -> Result<BackendStmt> {
    let other_schema = stmt.schema.as_ref().filter(|s| conn.schema.as_ref() != Some(*s)).cloned();
    let back = conn.schema.clone();
    if let Some(s) = &other_schema {
        init_db(conn, label, s).await?;
    }
    // Parsed under the sql_mode of the client's PREPARE, then the connection's mode again.
    let mode = stmt.sql_mode.as_deref().unwrap_or_default();
    let mode_back = match conn.vars.sql_mode() {
        Some(now) if stmt.sql_mode.is_some() && now != mode => Some(Bytes::copy_from_slice(now)),
        _ => None,
    };
    if mode_back.is_some() {
        set_sql_mode(conn, label, mode).await?;
    }
    let room = conn.stmts.make_room(max);
    close_on(conn, &room);
    let sql = key_text(key);
    let mut p = BytesMut::with_capacity(1 + sql.len());
    p.put_u8(command::STMT_PREPARE);
    p.extend_from_slice(sql);
    let fail = |e: BackendFailure| Error::backend(label, e);
    let mut tracker = conn.send_command(label, &p, Expect::Prepare).await?;
    let mut prepared = None;
    let mut refused = None;
    loop {
        let (p, step) = conn.next_response(label, &mut tracker).await?;
        match step.kind {
            Kind::PrepareOk { statement_id, columns, params } => {
                prepared = Some(BackendStmt::new(statement_id, params, columns));
            }
            Kind::Err => {
                let err =
                    sluice_protocol::packets::ErrPacket::parse(&p.payload).map_err(|e| fail(e.into()))?;
                refused = Some(Error::BackendRefused { backend: label.to_owned(), err });
            }
            _ => {}
        }
        if step.done {
            break;
        }
    }
    if let Some(m) = &mode_back {
        set_sql_mode(conn, label, m).await?;
    }
    if other_schema.is_some()
        && let Some(s) = &back
    {
        init_db(conn, label, s).await?;
    }
    if let Some(e) = refused {
        if let Error::BackendRefused { err, .. } = &e
            && conn.flavor == crate::backend::Flavor::MySql
            && (mode_back.is_some() || other_schema.is_some())
        {
            // MySQL emptied the diagnostics area at the statements that put the mode or schema
            // back: the refusal (1792 in a read-only session…) goes back in it for SHOW WARNINGS.
            conn.raise(label, err).await?;
        }
        return Err(e);
    }
    let stmt_b = prepared
        .ok_or_else(|| fail(BackendFailure::Unexpected("COM_STMT_PREPARE answered without a statement")))?;
    let evicted = conn.stmts.insert(key.clone(), stmt_b, max);
    close_on(conn, &evicted);
    Ok(stmt_b)
}

/// `SET SESSION sql_mode` on a backend connection (its tracking follows the change).
async fn set_sql_mode(conn: &mut BackendConn, label: &str, mode: &[u8]) -> Result<()> {
    let mode = String::from_utf8_lossy(mode).replace('\'', "''");
    conn.query(label, &format!("SET SESSION sql_mode = '{mode}'")).await?;
    Ok(())
}

async fn init_db(conn: &mut BackendConn, label: &str, schema: &[u8]) -> Result<()> {
    let mut p = BytesMut::with_capacity(1 + schema.len());
    p.put_u8(command::INIT_DB);
    p.extend_from_slice(schema);
    conn.simple_command(label, &p).await.map(|_| ())
}

/// Queues COM_STMT_CLOSE for backend statements (no answer; they go out with the next command).
fn close_on(conn: &mut BackendConn, ids: &[u32]) {
    for id in ids {
        let mut p = [0u8; 5];
        p[0] = command::STMT_CLOSE;
        p[1..].copy_from_slice(&id.to_le_bytes());
        conn.stream.write(0, &p);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// COM_STMT_PREPARE: prepared where the statement would run; the client gets sluice's id.
    pub(super) async fn stmt_prepare(&mut self, p: Packet) -> Result<Next> {
        let max = self.shared.config().server.max_prepared_statements;
        if self.stmts.map.len() >= max {
            return Err(Error::reply(
                (1461, "42000"),
                format!(
                    "Can't create more than max_prepared_stmt_count statements (current value: {max}): this session holds {max} prepared statements ([server] max_prepared_statements); close some (COM_STMT_CLOSE) first"
                ),
            ));
        }
        // A PREPARE empties the diagnostics area anyway, and may run on another connection.
        self.flush_deferred().await?;
        let mut p = p;
        let mode = self.lex_mode();
        let mut lexed = Arc::new(sluice_router::lexer::lex_with(&p.payload[1..], mode));
        super::commands::refused_set(&lexed, &p.payload[1..])?;
        let mut class = self.shared.plans.plan(&lexed, &p.payload[1..]);
        if class.target == sluice_router::classify::Target::Sluice
            && lexed.first_keyword != "kill"
            && let Some(rewritten) = self.rewrite_connection_id(&p.payload, &lexed)
        {
            // CONNECTION_ID() is the client's id in sluice, as in COM_QUERY: the backend prepares the
            // rewritten text (same column name and type), and every EXECUTE runs that.
            p.payload = rewritten;
            lexed = Arc::new(sluice_router::lexer::lex_with(&p.payload[1..], mode));
            class = self.shared.plans.plan(&lexed, &p.payload[1..]);
        }
        let sql = &p.payload[1..];
        // Over a sharded table: the text of shard 0 is prepared (for the client's metadata); each
        // EXECUTE is routed by its parameters.
        let sharded = match class.tables.shard.clone() {
            Some(shape) => Some((shape.clone(), self.enter_prepared_shard(&shape, sql)?)),
            None => None,
        };
        let keeps = super::borrow::keeps_diagnostics(&lexed, &class, self.parked_flavor());
        let r = self.prepare_routed(&p, lexed, class, sharded).await;
        self.stmt.group = 0;
        // The server's PREPARE keeps the diagnostics area as the statement would: only a statement
        // without tables that raises nothing leaves parked diagnostics for the next read.
        if self.parked.is_some() && !(keeps && r.as_ref().is_ok_and(|(_, clean)| *clean)) {
            self.release_parked();
        }
        r.map(|(next, _)| next)
    }

    async fn prepare_routed(
        &mut self,
        p: &Packet,
        lexed: Arc<Lexed>,
        class: Arc<Class>,
        sharded: Option<(Arc<sluice_router::shard::shape::ShardShape>, String)>,
    ) -> Result<(Next, bool)> {
        let client_sql = &p.payload[1..];
        let (payload, sharded) = match sharded {
            Some((shape, text)) => {
                let mut payload = Vec::with_capacity(1 + text.len());
                payload.push(command::STMT_PREPARE);
                payload.extend_from_slice(text.as_bytes());
                (payload, Some((shape, Bytes::copy_from_slice(client_sql))))
            }
            None => (p.payload.to_vec(), None),
        };
        let sql = &payload[1..];
        let mut choice = self.choose(&lexed, &class)?;
        self.acquire(&mut choice, false).await?;
        let max = self.shared.config().pool.max_prepared_per_connection;
        if let Some(h) = self.held.as_mut() {
            // Close before preparing: the server's count must never exceed what sluice allows.
            let conn = h.guard.conn();
            let room = conn.stmts.make_room(max);
            close_on(conn, &room);
        }
        let id = self.stmts.next_id();
        self.stmt.rewrite_stmt_id = Some(id);
        self.stmt.prepared_capture = None;
        let r = self.forward(&payload, p.next_seq).await;
        self.stmt.rewrite_stmt_id = None;
        let fx = r?;
        if let Some((backend_id, columns, params)) = self.stmt.prepared_capture.take()
            && !fx.failed
        {
            let sql_mode = self.vars.sql_mode().map(Bytes::copy_from_slice);
            let key = stmt_key(sql_mode.as_deref(), self.schema.as_deref(), sql);
            if let Some(h) = self.held.as_mut() {
                let conn = h.guard.conn();
                let evicted =
                    conn.stmts.insert(key.clone(), BackendStmt::new(backend_id, params, columns), max);
                close_on(conn, &evicted);
            }
            let stmt = ClientStmt {
                key,
                schema: self.schema.clone(),
                sql_mode,
                lexed,
                class,
                params,
                types: None,
                long_data: Vec::new(),
                long_bytes: 0,
                long_data_over: false,
                sharded,
                param_types: None,
            };
            self.stmts.map.insert(id, stmt);
            self.stmts.last_prepared = Some(id);
        } else {
            self.stmts.last_prepared = None;
        }
        // The server keeps a PREPARE's warnings (or its error) for SHOW WARNINGS: the connection stays
        // with the session for the next statement, which gets it if it asks for them (Target::Last).
        if fx.failed {
            // A failed PREPARE leaves ROW_COUNT() at -1, as a failed statement does.
            self.counts.row_count = Some(-1);
        }
        if fx.warnings > 0 || fx.failed {
            // Kept like after any statement with diagnostics: until a statement that uses a table.
            if let Some(h) = self.held.as_mut() {
                h.guard.conn().diagnostics_pending = true;
                self.add_pin(Pin::Diagnostics);
            }
        } else if !self.pins.any() {
            self.release_held();
        }
        Ok((Next::Continue, !fx.failed && fx.warnings == 0))
    }

    /// COM_STMT_EXECUTE: routed like the statement's text; recorded under its digest.
    pub(super) async fn stmt_execute(&mut self, p: Packet) -> Result<Next> {
        let mut ctx = super::record::StatementCtx::new(self.pins);
        let id = self.stmts.id(&p.payload)?;
        let Some(lexed) = self.stmts.map.get(&id).map(|s| s.lexed.clone()) else {
            // The server's diagnostics area then holds this error (SHOW WARNINGS after a pipelined
            // PREPARE that failed and its EXECUTE of statement -1).
            let message = unknown_message(id, "mysqld_stmt_execute");
            self.raise_in_diagnostics(UNKNOWN_STMT, &message).await?;
            return Err(Error::reply(UNKNOWN_STMT, message));
        };
        // Recorded whatever happens from here (an unknown id has no digest to be recorded under).
        let class = self.stmts.map.get(&id).map(|s| s.class.clone());
        let deferred = match class {
            Some(class) => self.run_deferred(&class).await,
            None => Ok(()),
        };
        let r = match deferred {
            Ok(()) => self.execute_phases(id, &p, &mut ctx).await,
            Err(e) => Err(e),
        };
        self.record(&ctx, &lexed, &p.payload, &r);
        r
    }

    async fn execute_phases(
        &mut self,
        id: u32,
        p: &Packet,
        ctx: &mut super::record::StatementCtx,
    ) -> Result<Next> {
        let Some(stmt) = self.stmts.map.get_mut(&id) else { return Err(unknown(id, "mysqld_stmt_execute")) };
        if std::mem::take(&mut stmt.long_data_over) {
            let max = self.shared.config().server.max_packet_bytes;
            return Err(Error::reply(
                (1153, "08S01"),
                format!(
                    "Got a packet bigger than 'max_allowed_packet' bytes: the COM_STMT_SEND_LONG_DATA parameters of this session's statements exceed [server] max_packet_bytes ({max} bytes); send less data or raise it"
                ),
            ));
        }
        if let Some(t) = sent_types(&p.payload, stmt.params) {
            stmt.types = Some(t);
        }
        let (lexed, class) = (stmt.lexed.clone(), stmt.class.clone());
        ctx.may_hold_secret = Some(class.may_hold_secret);
        if class.target == sluice_router::classify::Target::Sluice
            && lexed.first_keyword == "kill"
            && lexed.statements.len() == 1
        {
            // The id names a sluice connection, as in the text form: forwarded, it would name some
            // backend thread (ER_NO_SUCH_THREAD, or another client's).
            return self.execute_kill(id, p).await;
        }
        if stmt.sharded.is_some() {
            let r = self.execute_sharded(id, p, &lexed, &class, ctx).await;
            self.stmt.group = 0;
            r?;
            return Ok(Next::Continue);
        }
        if self.stmts.cursor == Some(id) {
            // Executing again closes the statement's cursor on the server.
            self.stmts.cursor = None;
            self.pins.remove(Pin::Cursor);
        }
        self.run_statement(&p.payload, p.next_seq, &lexed, &class, ctx).await?;
        if self.stmts.cursor == Some(id) && self.status & status::CURSOR_EXISTS == 0 {
            self.close_cursor();
        }
        Ok(Next::Continue)
    }

    /// EXECUTE of a prepared `KILL`: answered by sluice like the text form.
    async fn execute_kill(&mut self, id: u32, p: &Packet) -> Result<Next> {
        let Some(stmt) = self.stmts.map.get_mut(&id) else { return Err(unknown(id, "mysqld_stmt_execute")) };
        let long: Vec<bool> = if stmt.long_data.is_empty() {
            Vec::new()
        } else {
            (0..stmt.params).map(|i| stmt.long_data.iter().any(|(p, _)| *p == i)).collect()
        };
        let exec = sluice_protocol::binary::parse_stmt_execute(
            &p.payload,
            usize::from(stmt.params),
            stmt.param_types.as_deref(),
            &long,
        )
        .map_err(|e| {
            Error::reply((1210, "HY000"), format!("Incorrect arguments to mysqld_stmt_execute: {e}"))
        })?;
        stmt.param_types = Some(exec.types.clone());
        // Long data was for this execution; the server forgets it after the EXECUTE too.
        self.stmts.long_data_bytes -= std::mem::take(&mut stmt.long_bytes);
        let long_param = stmt.long_data.drain(..).fold(None::<Vec<u8>>, |acc, (_, d)| {
            let mut acc = acc.unwrap_or_default();
            acc.extend_from_slice(&d);
            Some(acc)
        });
        let sql = key_text(&stmt.key);
        let param = match long_param {
            Some(d) => Some(sluice_protocol::binary::Value::Bytes(Bytes::from(d))),
            None => exec.params.first().cloned(),
        };
        let k = super::sluice_sql::prepared_kill(&stmt.lexed, sql, param.as_ref())?;
        self.kill(k.id, k.query_only, p.next_seq).await?;
        Ok(Next::Continue)
    }

    /// The EXECUTE to send on the held connection: prepares the statement there first if needed, sends
    /// buffered long data, rewrites the id and adds parameter types. A cursor pins the session.
    pub(super) async fn prepare_for_execute(&mut self, payload: &[u8]) -> Result<Vec<u8>> {
        let id = self.stmts.id(payload)?;
        let max = self.shared.config().pool.max_prepared_per_connection;
        let (found, rows) = (self.counts.found, self.counts.row_count);
        let Some(stmt) = self.stmts.map.get_mut(&id) else { return Err(unknown(id, "mysqld_stmt_execute")) };
        // FOUND_ROWS()/ROW_COUNT() are the session's, not the connection's: this execution runs a
        // statement with the values written in (prepared once per value), as the text form does.
        let last_values = (stmt.class.target == sluice_router::classify::Target::Last)
            .then(|| {
                let at = key_text_at(&stmt.key);
                let sql =
                    super::sluice_sql::last_values_sql(found, rows, &stmt.key[at..], &stmt.lexed, false)?;
                let mut key = stmt.key[..at].to_vec();
                key.extend_from_slice(&sql);
                Some(Arc::<[u8]>::from(key))
            })
            .flatten();
        let Some(held) = self.held.as_mut() else { return Err(Abort::NoBackend.into()) };
        let key = last_values.unwrap_or_else(|| stmt.key.clone());
        let cached = held.guard.conn().stmts.get(&key);
        let backend = match cached {
            Some(b) => b,
            None => {
                let label = held.guard.label().to_owned();
                match prepare_on(held.guard.conn(), &label, stmt, &key, max).await {
                    Ok(b) => b,
                    Err(e) => {
                        if matches!(e, Error::Backend { .. })
                            && let Some(mut h) = self.held.take()
                        {
                            h.guard.mark_broken();
                        }
                        return Err(e);
                    }
                }
            }
        };
        let conn = held.guard.conn();
        self.stmts.long_data_bytes -= std::mem::take(&mut stmt.long_bytes);
        for (param, data) in stmt.long_data.drain(..) {
            let mut p = BytesMut::with_capacity(7 + data.len());
            p.put_u8(command::STMT_SEND_LONG_DATA);
            p.put_u32_le(backend.id);
            p.put_u16_le(param);
            p.extend_from_slice(&data);
            conn.stream.write(0, &p);
        }
        let out = rewrite_execute(payload, backend.id, stmt.params, stmt.types.as_ref());
        if payload.get(5).is_some_and(|flags| *flags != 0) {
            self.stmts.cursor = Some(id);
            self.add_pin(Pin::Cursor);
        }
        Ok(out)
    }

    /// COM_STMT_FETCH: rows of the open cursor, on its connection.
    pub(super) async fn stmt_fetch(&mut self, p: Packet) -> Result<Next> {
        let id = self.stmts.id(&p.payload)?;
        let Some(stmt) = self.stmts.map.get(&id) else { return Err(unknown(id, "mysqld_stmt_fetch")) };
        let backend = match (&mut self.held, self.stmts.cursor == Some(id)) {
            (Some(h), true) => h.guard.conn().stmts.get(&stmt.key),
            _ => None,
        };
        let Some(backend) = backend else {
            return Err(Error::reply(NO_OPEN_CURSOR, format!("The statement ({id}) has no open cursor.")));
        };
        let mut payload = p.payload.to_vec();
        payload[1..5].copy_from_slice(&backend.id.to_le_bytes());
        self.forward(&payload, p.next_seq).await?;
        if self.status & status::LAST_ROW_SENT != 0 || self.status & status::CURSOR_EXISTS == 0 {
            self.close_cursor();
        }
        Ok(Next::Continue)
    }

    /// COM_STMT_RESET: drops buffered long data (and closes an open cursor on its connection).
    pub(super) async fn stmt_reset(&mut self, p: Packet) -> Result<Next> {
        let id = self.stmts.id(&p.payload)?;
        let Some(stmt) = self.stmts.map.get_mut(&id) else { return Err(unknown(id, "mysqld_stmt_reset")) };
        stmt.long_data.clear();
        stmt.long_data_over = false;
        self.stmts.long_data_bytes -= std::mem::take(&mut stmt.long_bytes);
        if self.stmts.cursor == Some(id)
            && let Some(h) = self.held.as_mut()
            && let Some(b) = h.guard.conn().stmts.get(&stmt.key)
        {
            let mut payload = p.payload.to_vec();
            payload[1..5].copy_from_slice(&b.id.to_le_bytes());
            self.forward(&payload, p.next_seq).await?;
            self.close_cursor();
            return Ok(Next::Continue);
        }
        self.reply_ok(p.next_seq).await?;
        Ok(Next::Continue)
    }

    /// COM_STMT_CLOSE: forgets the statement (no answer). Backend connections keep their copy for other
    /// sessions; an open cursor's statement is closed on its connection.
    pub(super) fn stmt_close(&mut self, p: &Packet) -> Result<Next> {
        let id = self.stmts.id(&p.payload)?;
        let Some(stmt) = self.stmts.map.remove(&id) else { return Ok(Next::Continue) };
        self.stmts.long_data_bytes -= stmt.long_bytes;
        if self.stmts.cursor == Some(id) {
            if let Some(h) = self.held.as_mut() {
                let conn = h.guard.conn();
                if let Some(b) = conn.stmts.remove(&stmt.key) {
                    close_on(conn, &[b.id]);
                }
            }
            self.close_cursor();
        }
        Ok(Next::Continue)
    }

    /// COM_STMT_SEND_LONG_DATA: buffered until the EXECUTE (no answer).
    pub(super) fn stmt_long_data(&mut self, p: &Packet) -> Result<Next> {
        let id = self.stmts.id(&p.payload)?;
        let param = p.payload.get(5..7).map(|b| u16::from_le_bytes([b[0], b[1]]));
        // An unknown statement or a short packet is ignored, as the server does (no answer to give).
        let max = self.shared.config().server.max_packet_bytes;
        if let (Some(stmt), Some(param)) = (self.stmts.map.get_mut(&id), param) {
            let data = p.payload.slice(7..);
            // Each chunk costs its bookkeeping too, so a flood of tiny chunks is bounded as well.
            let cost = data.len() + LONG_DATA_CHUNK_OVERHEAD;
            if stmt.long_data_over || self.stmts.long_data_bytes + cost > max {
                // Nothing more is kept for it; its EXECUTE gets the error (there is no answer now).
                self.stmts.long_data_bytes -= std::mem::take(&mut stmt.long_bytes);
                stmt.long_data.clear();
                stmt.long_data_over = true;
            } else {
                self.stmts.long_data_bytes += cost;
                stmt.long_bytes += cost;
                stmt.long_data.push((param, data));
            }
        }
        Ok(Next::Continue)
    }

    /// The cursor is gone: unpin, and give the connection back if nothing else pins it.
    pub(super) fn close_cursor(&mut self) {
        self.stmts.cursor = None;
        self.pins.remove(Pin::Cursor);
        if !self.pins.any() && self.status & status::IN_TRANS == 0 {
            self.release_held();
        }
    }
}

impl ClientStmts {
    /// What identifies an EXECUTE's result for the cache: the statement's schema and text, and the
    /// parameters as they go to the server (types included, statement id left out). `None` when it
    /// cannot be cached: unknown statement, a cursor, or long data (not in the packet).
    pub(crate) fn execute_key(&self, payload: &[u8], k: &mut bytes::BytesMut) -> Option<()> {
        let id = self.id(payload).ok()?;
        let stmt = self.map.get(&id)?;
        if payload.get(5).is_none_or(|flags| *flags != 0) || !stmt.long_data.is_empty() {
            return None;
        }
        let exec = rewrite_execute(payload, 0, stmt.params, stmt.types.as_ref());
        k.put_u32_le(stmt.key.len() as u32);
        k.extend_from_slice(&stmt.key);
        k.extend_from_slice(exec.get(5..).unwrap_or_default());
        Some(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn execute_gets_backend_id_and_types() {
        // id 7, flags 0, iterations 1, null bitmap (2 params → 1 byte), new_params_bound 0, values.
        let payload = [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0b00, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        let types = Bytes::from_static(&[3, 0, 3, 0]);
        let out = rewrite_execute(&payload, 99, 2, Some(&types));
        assert_eq!(&out[1..5], &99u32.to_le_bytes());
        assert_eq!(out[11], 1);
        assert_eq!(&out[12..16], &types[..]);
        assert_eq!(&out[16..], &payload[12..]);
        assert_eq!(sent_types(&out, 2), Some(types.clone()));
        // Types already there: only the id changes.
        let again = rewrite_execute(&out, 5, 2, Some(&types));
        assert_eq!(&again[5..], &out[5..]);
        // No parameters.
        let none = [0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(&rewrite_execute(&none, 2, 0, None)[5..], &none[5..]);
    }

    #[test]
    fn statement_ids_skip_zero_and_minus_one() {
        let mut s = ClientStmts { last_id: u32::MAX - 2, ..ClientStmts::default() };
        assert_eq!(s.next_id(), u32::MAX - 1);
        assert_eq!(s.next_id(), 1, "-1 names the last prepared statement");
    }

    #[test]
    fn minus_one_names_the_last_prepared_statement() {
        let mut s = ClientStmts::default();
        let exec = [0x17, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0];
        assert_eq!(s.id(&exec).unwrap(), u32::MAX, "nothing prepared: unknown, as on the server");
        s.last_prepared = Some(7);
        assert_eq!(s.id(&exec).unwrap(), 7);
        assert_eq!(s.id(&[0x17, 5, 0, 0, 0, 0, 1, 0, 0, 0]).unwrap(), 5);
    }
}
