//! One client session: connection phase, then statement by statement — read a command, borrow a
//! backend connection, forward, relay the response with the client's capability translation.
//!
//! State graph (this issue's policy: the session is pinned to one primary connection for its life;
//! routing and multiplexing change the borrow step, not the structure):
//!
//! ```text
//! Handshake ──auth ok──► Idle ──command──► Forwarding ──response done──► Idle
//!     │ auth fails          │ COM_QUIT / EOF          │ backend fails → ERR, backend dropped
//!     ▼                     ▼                         ▼
//!   ERR + close           Closed                     Idle (next statement borrows again)
//! ```

pub(crate) mod auth;
mod borrow;
mod cache;
mod capture;
mod charset;
mod commands;
mod insert_id;
mod limits;
mod migrate;
mod prepared;
mod record;
mod relay;
mod shard;
mod sluice_sql;
mod tracking;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_protocol::constants::{command, errors, status};
use sluice_protocol::packets::{ErrPacket, OkPacket};
use tokio::io::{AsyncRead, AsyncWrite};

use auth::{ClientStream, Login};

use crate::backend::member::MemberId;
use crate::backend::topology::GtidPos;
use crate::backend::{Guard, Vars};
use crate::core::error::{Error, Result};
use crate::features::stats::Refusal;
use crate::frontend::pins::{self, Pin, Pins};
use crate::frontend::state::Shared;
use crate::frontend::users::User;

/// Status bits that belong to the session, not to the connection that answered a statement: what a
/// cache hit or a read of parked diagnostics (another connection) carries to the client.
const SESSION_BITS: u16 = status::IN_TRANS | status::AUTOCOMMIT | status::IN_TRANS_READONLY;

/// A copy of an OK/EOF `payload` whose status flags (at `at`) carry `mine` as the session bits.
fn with_session_bits(payload: &[u8], at: usize, mine: u16) -> Vec<u8> {
    let mut b = payload.to_vec();
    let st = u16::from_le_bytes([b[at], b[at + 1]]) & !SESSION_BITS | mine;
    b[at..at + 2].copy_from_slice(&st.to_le_bytes());
    b
}

/// Serves one client connection to the end. Never panics on input; every failure the client can be
/// told about becomes an ERR packet. Everything it logs is inside one `session` span with the
/// connection id, the client's address and (once logged in) the user.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    mut stream: S,
    peer: SocketAddr,
) {
    use tracing::Instrument as _;
    let peer = if shared.config().server.proxy_protocol {
        match read_proxy_header(&mut stream, &shared).await {
            Ok(Some(real)) => real,
            Ok(None) => peer,
            Err(why) => {
                tracing::info!(%peer, error = %why, "connection closed: [server] proxy_protocol is on");
                return;
            }
        }
    } else {
        peer
    };
    let conn_id = shared.next_conn_id();
    let span = tracing::info_span!("session", conn_id, client = %peer, user = tracing::field::Empty);
    serve_in_span(shared, stream, peer, conn_id).instrument(span).await;
}

/// Reads a PROXY protocol v2 header (the client speaks only after sluice's greeting, so nothing past
/// the header is read); the client's address, or `None` for a LOCAL header (the balancer's own check).
async fn read_proxy_header<S: AsyncRead + Unpin>(
    stream: &mut S,
    shared: &Shared,
) -> std::result::Result<Option<SocketAddr>, ProxyHeaderReadError> {
    use sluice_protocol::proxy_header::{FIXED_LEN, parse_fixed, source};
    use tokio::io::AsyncReadExt as _;
    let timeout = std::time::Duration::from_millis(shared.config().server.handshake_timeout_ms);
    let read = async {
        let mut fixed = [0u8; FIXED_LEN];
        stream.read_exact(&mut fixed).await?;
        let f = parse_fixed(&fixed)?;
        let mut block = vec![0u8; f.len];
        stream.read_exact(&mut block).await?;
        Ok(source(&f, &block)?)
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| ProxyHeaderReadError::Timeout(timeout))?
}

/// Why a connection's PROXY protocol header was not read (the connection is closed).
#[derive(Debug, thiserror::Error)]
enum ProxyHeaderReadError {
    /// The connection failed or closed first.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The bytes are no PROXY v2 header.
    #[error(transparent)]
    Header(#[from] sluice_protocol::proxy_header::ProxyHeaderError),
    /// None arrived within `[server] handshake_timeout_ms`.
    #[error("no PROXY header within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
}

async fn serve_in_span<S: AsyncRead + AsyncWrite + Unpin + Send>(
    shared: Arc<Shared>,
    stream: S,
    peer: SocketAddr,
    conn_id: u32,
) {
    let counted = shared.clone();
    let _live = counted.live_session();
    // Counted per source address until the login is decided (crate::frontend::preauth).
    let per_ip = shared.config().server.max_handshakes_per_ip;
    let Some(handshake) = shared.handshakes.enter(peer.ip(), per_ip) else {
        tracing::warn!(%peer, "refused connection: max_handshakes_per_ip reached");
        shared.digests.totals.refuse(Refusal::MaxHandshakesPerIp);
        let why = format!(
            "Too many connections from {} still logging in: sluice allows {per_ip} per address ([server] max_handshakes_per_ip)",
            peer.ip()
        );
        crate::frontend::preauth::refuse(stream, why).await;
        return;
    };
    let Ok(_slot) = shared.client_slots.clone().try_acquire_owned() else {
        let mut c = crate::core::net::PacketStream::new(stream, 1024);
        let e = ErrPacket::new(
            errors::TOO_MANY_CONNECTIONS,
            format!(
                "Too many connections: sluice allows {} client connections ([server] max_client_connections)",
                shared.config().server.max_client_connections
            ),
        );
        c.write(0, &e.to_bytes());
        let _ = c.flush().await;
        tracing::warn!(%peer, "refused connection: max_client_connections reached");
        shared.digests.totals.refuse(Refusal::MaxClientConnections);
        return;
    };
    let timeout = std::time::Duration::from_millis(shared.config().server.handshake_timeout_ms);
    let accepted = match tokio::time::timeout(
        timeout,
        auth::accept(&shared, &shared.users, stream, peer, conn_id),
    )
    .await
    {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(_) => {
            tracing::info!(%peer, "handshake timed out");
            shared.digests.totals.refuse(Refusal::HandshakeTimeout);
            return;
        }
    };
    drop(handshake);
    let (mut client, login) = accepted;
    let login = match login {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(%peer, conn_id, error = %e, "login failed");
            shared.digests.totals.refuse(Refusal::LoginFailed);
            let seq = client.next_seq();
            send_err(&mut client, seq, &e).await;
            return;
        }
    };
    let user = login.user.clone();
    tracing::Span::current().record("user", tracing::field::display(&user.name));
    let Some(user_slot) = UserSlot::take(&shared, &user) else {
        let e = Error::reply(
            (1226, "42000"),
            format!(
                "User '{}' has exceeded the 'max_user_connections' resource ({})",
                user.name, user.max_connections
            ),
        );
        shared.digests.totals.refuse(Refusal::MaxUserConnections);
        send_err(&mut client, login.seq, &e).await;
        return;
    };
    let registry = shared.clone();
    let (handle, _registered) = registry.sessions.register(conn_id, &user.name, peer);
    let ignore_space = login.ignore_space;
    let mut session = Session::new(shared, client, peer, conn_id, login, handle, user_slot);
    match session.start(ignore_space).await {
        Ok(()) => session.run().await,
        Err(e) => {
            tracing::info!(%peer, conn_id, error = %e, "session setup failed");
            let seq = session.login_seq;
            send_err(&mut session.client, seq, &e).await;
        }
    }
}

/// Queues an ERR after whatever is already queued (a login's fast-auth byte stays in front of it) and
/// flushes.
async fn send_err<S: AsyncRead + AsyncWrite + Unpin>(client: &mut ClientStream<S>, seq: u8, e: &Error) {
    client.write(seq, &e.to_err_packet().to_bytes());
    let _ = client.flush().await;
}

/// Counts a user's open connections; released on drop.
struct UserSlot(Option<Arc<std::sync::atomic::AtomicUsize>>);

impl UserSlot {
    fn take(shared: &Shared, user: &User) -> Option<Self> {
        let Some(counter) = shared.per_user.get(&user.name).cloned() else { return Some(Self(None)) };
        let n = counter.fetch_add(1, Ordering::AcqRel);
        if user.max_connections > 0 && n >= user.max_connections {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(Some(counter)))
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// `FOUND_ROWS()` and `ROW_COUNT()` as the session's statements left them, as far as sluice knows;
/// what only the server knows is read back from the connection that ran the statement
/// (`Session::read_back_counts`), now or, on MySQL, before the client's next statement.
#[derive(Debug, Clone, Copy)]
struct Counts {
    /// `FOUND_ROWS()` as the session's statements left it (`None`: only the connection that ran the
    /// statement that set it knows; that connection is kept until it is read back or the session
    /// moves on).
    found: Option<u64>,
    /// `ROW_COUNT()` as the session's previous statement left it (-1 after a result set or an error;
    /// `None` after `CALL` or a multi-statement, whose last statement only the server knows, until
    /// it is read back from the kept connection).
    row_count: Option<i64>,
    /// A SELECT over a temporary table: FOUND_ROWS() before it and the rows it sent, to tell from the
    /// read-back whether the server set FOUND_ROWS() or left it (`follow_counts`).
    found_check: Option<(Option<u64>, u64)>,
}

impl Counts {
    /// A new connection's.
    const FRESH: Self = Self { found: Some(0), row_count: Some(-1), found_check: None };

    /// Whether a value is only on the connection that ran the statement.
    fn unknown(&self) -> bool {
        self.found.is_none() || self.row_count.is_none()
    }

    /// Takes the connection's `FOUND_ROWS()` and `ROW_COUNT()`, read back, for what is unknown: a
    /// known value is the session's, the connection's may be another client's (a statement that keeps
    /// FOUND_ROWS() on a fresh connection).
    fn read_back(&mut self, found: Option<u64>, row_count: Option<i64>) {
        if let Some((before, sent)) = self.found_check.take() {
            // sluice's own read-backs leave 2 there, never the rows an aggregate sends.
            self.found = if found == Some(sent) { Some(sent) } else { before };
        } else if self.found.is_none() {
            self.found = found;
        }
        if self.row_count.is_none() {
            self.row_count = row_count;
        }
    }
}

/// The session's writes, for read-your-writes.
#[derive(Default)]
struct OwnWrites {
    /// The last one: its GTID and when it completed.
    last: Option<(Option<GtidPos>, std::time::Instant)>,
    /// Where the session's writes are published and other sessions' are read (`[routing]
    /// read_your_writes_scope`; `None`: its own only).
    cell: Option<Arc<crate::backend::topology::WriteCell>>,
    /// The cell's version last read.
    seen: u64,
}

/// What the open transaction did (kept past its end until the next one needs it).
#[derive(Default)]
struct OpenTx {
    /// It changed something (its COMMIT is then a write for read-your-writes).
    wrote: bool,
    /// The isolation level it started with (the session's then; `None` when a one-shot `SET
    /// TRANSACTION` set it): a READ ONLY transaction sluice moves from a replica to the primary
    /// starts there at that level, not at a level the session set since.
    isolation: Option<bytes::Bytes>,
    /// Tables it wrote (bumped again when it ends), and a schema to bump whole.
    writes: (Vec<sluice_cache::TableId>, Option<String>),
    /// The shard (group, shard number) it touched (one is allowed).
    shard: Option<(usize, usize)>,
}

/// See `Session::deferred`.
#[derive(Debug, Default, Clone, Copy)]
struct Deferred {
    /// `FOUND_ROWS()`/`ROW_COUNT()` are still to be read back.
    counts: bool,
    /// `character_set_connection`/`collation_connection` are still to be read back.
    collation: bool,
    /// Whether the insert id of the session's last INSERT was generated is still to be asked
    /// (`SELECT LAST_INSERT_ID()` on its connection): the id.
    insert_id: Option<u64>,
}

impl Deferred {
    /// Whether any read waits.
    fn any(&self) -> bool {
        self.counts || self.collation || self.insert_id.is_some()
    }
}

/// A logged-in client.
pub struct Session<S> {
    shared: Arc<Shared>,
    client: ClientStream<S>,
    peer: SocketAddr,
    conn_id: u32,
    /// Capabilities the client negotiated.
    caps: u32,
    user: Arc<User>,
    /// `user`'s place in its `max_connections` (moves with COM_CHANGE_USER).
    user_slot: UserSlot,
    /// Failed COM_CHANGE_USERs so far: from the third on, the server refuses the command for good.
    failed_change_users: u8,
    charset: u8,
    /// The session's schema (from the login, COM_INIT_DB and the server's schema tracking).
    schema: Option<Bytes>,
    /// The greeting's nonce (COM_CHANGE_USER).
    nonce: Bytes,
    /// Whether multi-statements are on (CLIENT_MULTI_STATEMENTS, COM_SET_OPTION).
    multi_statements: bool,
    /// The backend connection kept between statements (pinned, or the last write's for one more
    /// statement).
    held: Option<Held>,
    /// The connection that holds the session's diagnostics area (SHOW WARNINGS, @@warning_count)
    /// while later statements that keep it (no table, no warning or error) must run elsewhere: a
    /// user variable or BEGIN after a replica read that warned. Diagnostics reads go to it; the first
    /// statement that would have replaced the area (or `[pool] hold_diagnostics_ms` idle) lets it go.
    parked: Option<Held>,
    /// Counts this session's statement (or open transaction) on its group's primary, so a
    /// SWITCHOVER waits for it; dropped after each command outside a transaction.
    primary_busy: Option<crate::backend::topology::Busy>,
    /// Why the session keeps `held`.
    pins: Pins,
    /// The pool of each member for this session's user and capabilities (found on first use).
    pools: Vec<(MemberId, std::sync::Arc<crate::backend::Pool>)>,
    /// What keeps the object pins (temporary tables, PREPAREd names, named locks).
    objects: pins::SessionObjects,
    /// Status flags of the last OK/EOF the client saw.
    status: u16,
    /// Sequence id for the login's final OK/ERR.
    login_seq: u8,
    /// Tracked session variables as this client set them.
    vars: Vars,
    /// The session's writes, for read-your-writes.
    ryw: OwnWrites,
    /// What the open transaction did.
    tx: OpenTx,
    /// MySQL: sluice's own reads on the held connection (FOUND_ROWS()/ROW_COUNT(), the collation)
    /// put off while it holds the client's warnings: any statement of sluice's there would empty
    /// them, so they run just before the client's next statement that empties them anyway.
    deferred: Deferred,
    /// LAST_INSERT_ID() as the client would see it.
    last_insert_id: u64,
    /// The previous statement's route (SHOW LAST ROUTE).
    last_route: LastRoute,
    /// Client prepared statements.
    stmts: prepared::ClientStmts,
    /// This session in the registry (KILL).
    handle: Arc<pins::SessionHandle>,
    /// Qualified table ids of plans' read lists (by the list's address, which the kept list pins), for
    /// the schema they were qualified in.
    #[allow(clippy::type_complexity)]
    table_ids: std::collections::HashMap<
        usize,
        (Arc<[String]>, Option<Bytes>, Option<Arc<[sluice_cache::TableId]>>),
    >,
    /// This session's loop detector (advice: N+1 SELECTs, single-row INSERTs).
    advice: crate::features::advice::SessionTrack,
    /// `[pool] hold_idle_ms`: how long an unpinned held connection waits for the next statement.
    hold_idle: Duration,
    /// `[pool] hold_diagnostics_ms`: the same when the connection holds the session's diagnostics.
    hold_diagnostics: Duration,
    /// `FOUND_ROWS()` and `ROW_COUNT()` as the session's statements left them.
    counts: Counts,
    /// The lexer mode of the session's sql_mode, and the sql_mode value it was read from.
    lex_mode: (sluice_router::lexer::LexMode, Option<Bytes>),
    /// What the command running now sets aside between its phases; emptied as each command starts.
    stmt: StatementScratch,
}

/// What one command's phases (methods of the session: choose, run, relay, fill, record) hand each
/// other through the session. Emptied at the start of every command ([`Session::command`]), so nothing
/// of one statement reaches the next.
#[derive(Default)]
pub(crate) struct StatementScratch {
    /// The group (config order) it is routed in: 0, or a shard's or a `[[rules]]` target's group.
    group: usize,
    /// The COM_QUERY was over the planner's bounds (sluice_router::analyze limits).
    too_complex: bool,
    /// The cache's answer for it (digest event, SHOW LAST ROUTE).
    cache_status: crate::features::stats::CacheStatus,
    /// Its time limit (`[[rules]] timeout_ms`).
    limit: Option<limits::StatementLimit>,
    /// Leave the end of a response unflushed (a migrating table's write, until it is mirrored).
    hold_answer: bool,
    /// (failed, rows affected) of the last statement run_statement ran (migrations compare it).
    last_outcome: Option<(bool, u64)>,
    /// While relaying a cache miss: the response as the client is sent it.
    collect: Option<sluice_cache::Collector>,
    /// The session's status bits (`SESSION_BITS`) to give the client instead of the connection's,
    /// while it reads parked diagnostics.
    status_override: Option<u16>,
    /// While relaying a COM_STMT_PREPARE response: the client's statement id to put in its OK.
    rewrite_stmt_id: Option<u32>,
    /// `(backend statement id, columns, params)` of the COM_STMT_PREPARE OK relayed.
    prepared_capture: Option<(u32, u16, u16)>,
    /// FOUND_ROWS() as the statement left it on its connection, read by sluice's own SELECT of its
    /// insert id before that SELECT replaced it.
    found_before_own_read: Option<Option<u64>>,
}

/// A backend connection the session holds.
pub(crate) struct Held {
    guard: Guard,
    /// The member it is a connection to.
    member: MemberId,
    /// The connection's LAST_INSERT_ID() is the session's (it ran the session's last insert, or was
    /// given the value with `DO LAST_INSERT_ID(n)`).
    last_id_synced: bool,
    /// Counts the connection in its member's busy count (least-connections balancing).
    _held: crate::backend::topology::HeldCount,
}

/// What `SHOW LAST ROUTE` reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastRoute {
    /// The backend (none before the first statement).
    member: Option<MemberId>,
    reason: borrow::RouteReason,
    digest: u64,
    digest_text: String,
    cache: crate::features::stats::CacheStatus,
    /// Shards a sharded statement touched: (shard, backend, rewritten SQL).
    shards: Vec<(usize, String, String)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn new(
        shared: Arc<Shared>,
        client: ClientStream<S>,
        peer: SocketAddr,
        conn_id: u32,
        login: Login,
        handle: Arc<pins::SessionHandle>,
        user_slot: UserSlot,
    ) -> Self {
        let schema = login.database.or_else(|| login.user.default_schema.clone()).map(Bytes::from);
        let hold_idle = Duration::from_millis(shared.config().pool.hold_idle_ms);
        let hold_diagnostics = Duration::from_millis(shared.config().pool.hold_diagnostics_ms);
        Self {
            multi_statements: login.caps & sluice_protocol::constants::caps::MULTI_STATEMENTS != 0,
            shared,
            client,
            peer,
            conn_id,
            caps: login.caps,
            user: login.user,
            user_slot,
            failed_change_users: 0,
            charset: login.charset,
            schema,
            nonce: login.nonce,
            held: None,
            parked: None,
            primary_busy: None,
            pins: Pins::default(),
            pools: Vec::new(),
            objects: pins::SessionObjects::default(),
            status: status::AUTOCOMMIT,
            login_seq: login.seq,
            vars: Vars::unknown(),
            ryw: OwnWrites::default(),
            tx: OpenTx::default(),
            deferred: Deferred::default(),
            last_insert_id: 0,
            last_route: LastRoute::default(),
            stmts: prepared::ClientStmts::default(),
            handle,
            table_ids: std::collections::HashMap::new(),
            advice: crate::features::advice::SessionTrack::default(),
            stmt: StatementScratch::default(),
            hold_idle,
            hold_diagnostics,
            lex_mode: Default::default(),
            counts: Counts::FRESH,
        }
    }

    /// Checks the schema on a primary connection, learns the session's starting variables, and sends
    /// the login's OK. A client that set CLIENT_IGNORE_SPACE starts with IGNORE_SPACE in its sql_mode,
    /// as on a server (which adds it at login only: COM_RESET_CONNECTION and COM_CHANGE_USER drop it).
    async fn start(&mut self, ignore_space: bool) -> Result<()> {
        self.begin_session().await?;
        if ignore_space {
            self.vars.add_ignore_space();
        }
        let ok = OkPacket { status: self.status, ..OkPacket::default() };
        let mut out = BytesMut::with_capacity(16);
        ok.encode(self.caps, &mut out);
        self.client.write(self.login_seq, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        tracing::debug!("session started");
        Ok(())
    }

    /// Login and COM_CHANGE_USER: a primary connection proves the schema exists (ERR 1049 otherwise)
    /// and gives the session its starting variable values; then it goes back to the pool.
    async fn begin_session(&mut self) -> Result<()> {
        charset::check_collation(self.charset)?;
        self.release_held();
        self.pins = Pins::default();
        self.pools.clear(); // the user or collation may have changed (COM_CHANGE_USER)
        self.objects = pins::SessionObjects::default();
        self.vars = Vars::unknown();
        self.ryw.last = None;
        let scope = self.shared.config().routing.read_your_writes_scope;
        self.ryw.cell = self.shared.writes.cell(scope, &self.user.name);
        self.ryw.seen = 0;
        self.last_insert_id = 0;
        self.counts = Counts::FRESH;
        self.deferred = Deferred::default();
        let primary = self.primary_member()?;
        let mut held = self.borrow(primary).await?;
        // The server's defaults for this user and collation, never what the connection's previous
        // borrower left on it: a new session is a new connection.
        self.vars = Vars::clone(&held.guard.baseline());
        let label = held.guard.label().to_owned();
        if let Err(e) = borrow::bounded(self.read_timeout(), &label, self.sync_schema(&mut held)).await {
            if matches!(e, Error::BackendRefused { .. }) {
                held.guard.release_clean();
            } else {
                held.guard.mark_broken();
            }
            return Err(e);
        }
        self.status = if self.vars.autocommit().unwrap_or(true) { status::AUTOCOMMIT } else { 0 };
        held.guard.release_clean();
        Ok(())
    }

    /// The statement loop.
    ///
    /// Draining (SIGTERM, or the old process of an upgrade): a statement that arrives is served, and a
    /// transaction runs to its end; outside one the session closes once idle for `drain_idle_ms`, and
    /// COM_PING, COM_RESET_CONNECTION and COM_CHANGE_USER (a pool validating it or taking it back) get
    /// ERR 1053 and close it, so the pool opens a new connection instead.
    async fn run(&mut self) {
        // When the last command ended, tracked only while draining (no clock read per statement).
        let mut idle_since: Option<std::time::Instant> = None;
        loop {
            let in_tx = self.status & status::IN_TRANS != 0;
            // A connection kept only for the next statement goes back once the client idles.
            let holding = self.held.is_some() && (!self.pins.any() || self.pins.is_only(Pin::Diagnostics));
            let hold_idle =
                if self.pins.has(Pin::Diagnostics) { self.hold_diagnostics } else { self.hold_idle };
            // Parked diagnostics (`parked`) wait as long, on their own timer.
            let (parked, hold_parked) = (self.parked.is_some(), self.hold_diagnostics);
            let packet = tokio::select! {
                biased;
                p = self.client.read() => p,
                // Lazy: no timer (nor clock read) unless the branch is enabled and polled.
                () = async { tokio::time::sleep(hold_idle).await }, if holding => {
                    // Reads put off for the client's next statement run before the connection goes.
                    if self.deferred.any()
                        && self.flush_deferred().await.is_err()
                        && let Some(h) = self.held.as_mut()
                    {
                        h.guard.mark_broken();
                    }
                    self.release_held();
                    continue;
                }
                () = async { tokio::time::sleep(hold_parked).await }, if parked => {
                    self.release_parked();
                    continue;
                }
                // Draining: the session may still send a statement within drain_idle_ms of its last
                // one (or of the drain's start); the config is read only then, not per statement.
                () = self.shared.shutdown.cancelled(), if !in_tx => {
                    let idle = Duration::from_millis(self.shared.config().server.drain_idle_ms);
                    let left = idle.saturating_sub(idle_since.map_or(Duration::ZERO, |t| t.elapsed()));
                    match tokio::time::timeout(left, self.client.read()).await {
                        Ok(p) => p,
                        Err(_) => {
                            tracing::debug!(conn_id = self.conn_id, "closing idle session for shutdown");
                            break;
                        }
                    }
                }
                () = self.handle.kill.cancelled() => {
                    tracing::info!(conn_id = self.conn_id, "session killed");
                    break;
                }
            };
            let packet = match packet {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    let e = Error::Client(e);
                    tracing::info!(peer = %self.peer, conn_id = self.conn_id, error = %e, "bad packet from client");
                    let seq = self.client.next_seq();
                    send_err(&mut self.client, seq, &e).await;
                    break;
                }
            };
            if packet.seq != 0 {
                let e = Error::Client(sluice_protocol::ProtocolError::OutOfOrder {
                    got: packet.seq,
                    expected: 0,
                });
                send_err(&mut self.client, packet.next_seq, &e).await;
                break;
            }
            let cmd = packet.payload.first().copied();
            let draining = self.shared.shutdown.is_cancelled() && !in_tx;
            // A pool's own housekeeping (validation, giving the connection back) is refused: the pool
            // discards this connection and opens a new one, so no statement of the application fails.
            // (Answering OK and closing after it races with the pool handing it out again.)
            if draining
                && matches!(cmd, Some(command::PING | command::RESET_CONNECTION | command::CHANGE_USER))
            {
                let e = Error::reply(
                    errors::SERVER_SHUTDOWN,
                    "sluice is shutting down (or handing over to a new process): reconnect",
                );
                send_err(&mut self.client, packet.next_seq, &e).await;
                break;
            }
            let r = self.command(packet).await;
            if self.shared.shutdown.is_cancelled() {
                idle_since = Some(std::time::Instant::now());
            }
            if self.status & status::IN_TRANS == 0 {
                self.primary_busy = None;
            }
            match r {
                Ok(commands::Next::Continue) => {}
                Ok(commands::Next::Close) => break,
                Err(e) => {
                    // Per statement, so debug: the client has the error, the digest table counts it.
                    tracing::debug!(error = %e, "statement failed");
                    if !e.is_silent() {
                        let seq = self.client.next_seq();
                        send_err(&mut self.client, seq, &e).await;
                    }
                    if e.is_fatal_for_session() && (self.pins.any() || !matches!(e, Error::Backend { .. })) {
                        break;
                    }
                }
            }
        }
        self.client.shutdown().await;
    }
}

impl<S> Session<S> {
    /// How the server reads the session's statements (NO_BACKSLASH_ESCAPES, ANSI_QUOTES), from its
    /// tracked sql_mode; recomputed only when the value changed.
    fn lex_mode(&mut self) -> sluice_router::lexer::LexMode {
        let now = self.vars.sql_mode();
        if now != self.lex_mode.1.as_deref() {
            let mode = now.map(sluice_router::lexer::LexMode::from_sql_mode).unwrap_or_default();
            self.lex_mode = (mode, now.map(Bytes::copy_from_slice));
        }
        self.lex_mode.0
    }
}

impl<S> Drop for Session<S> {
    fn drop(&mut self) {
        // A connection still held may carry this client's session state: the guard resets it before
        // the pool lends it again (its default on drop).
        if let Some(h) = self.held.take()
            && !self.pins.any()
        {
            h.guard.release_clean();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn a_read_back_fills_only_what_is_unknown() {
        let mut c = Counts { found: Some(7), row_count: None, found_check: None };
        assert!(c.unknown());
        c.read_back(Some(2), Some(3));
        assert_eq!((c.found, c.row_count), (Some(7), Some(3)), "a known FOUND_ROWS() is the session's");
        assert!(!c.unknown());
        let mut c = Counts { found: None, row_count: Some(-1), found_check: None };
        c.read_back(Some(9), Some(5));
        assert_eq!((c.found, c.row_count), (Some(9), Some(-1)));
    }

    #[test]
    fn a_temporary_table_aggregate_is_told_from_the_value_it_kept() {
        // The SELECT sent 1 row: the server set FOUND_ROWS() to 1 …
        let mut c = Counts { found: None, row_count: Some(-1), found_check: Some((Some(40), 1)) };
        c.read_back(Some(1), None);
        assert_eq!((c.found, c.found_check), (Some(1), None));
        // … or answered from the table's row count and left the session's 40 (the connection's own
        // value, 2 after sluice's read-backs, is not the session's).
        let mut c = Counts { found: None, row_count: Some(-1), found_check: Some((Some(40), 1)) };
        c.read_back(Some(2), None);
        assert_eq!(c.found, Some(40));
    }
}
