//! Choosing, borrowing, syncing and giving back backend connections, statement by statement.
//!
//! ```text
//! statement ─► pinned? ── yes ─► the held connection
//!                 │ no
//!                 ▼
//!   route(class, session view, topology snapshot) ─► primary | replica i
//!                 │                                   (read-your-writes may move it to the primary)
//!                 ▼
//!   pool(member).get() ─► sync schema + tracked variables where they differ ─► run
//!                 │
//!                 ▼
//!   after: server status + session-state tracking decide the pins; no pin → back to the pool clean
//! ```

use std::time::{Duration, Instant};

use sluice_protocol::constants::status;
use sluice_router::classify::{Class, SessionLock, Tx};
use sluice_router::lexer::Lexed;
use sluice_router::route::{
    Destination, LastWrite, Policy, ReadYourWrites as RywPolicy, Request, SessionView, route,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::pins::Pin;
use super::{Held, Session};
use crate::backend::Flavor;
use crate::backend::member::MemberId;
use crate::backend::topology::GtidPos;
use crate::core::config::{FallbackConfig, ReadYourWrites};
use crate::core::error::{Abort, Error, Result};

/// Why a statement runs where it runs (SHOW LAST ROUTE): the router's decision, or what the session
/// did after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum RouteReason {
    /// The router's decision.
    Router(sluice_router::route::Reason),
    /// Nothing has run yet.
    #[default]
    None,
    /// Over the parser's bounds: served on the primary, uncached.
    TooComplex,
    /// A diagnostics read answered by the connection that holds the area (`Session::parked`).
    ParkedDiagnostics,
    /// An autocommit read whose replica failed before answering, once more.
    RetryOnPrimary,
    /// A command other than COM_QUERY/COM_STMT_EXECUTE (COM_FIELD_LIST, COM_INIT_DB…).
    Command,
    /// A write to one shard.
    ShardWrite,
    /// A READ ONLY transaction that had to bind session state moved to the primary.
    ReadOnlyTransactionMoved,
    /// MariaDB's READ ONLY leftover, kept on a primary connection.
    ReadOnlyLeftover,
    /// The chosen replica was unavailable.
    ReplicaUnavailable,
    /// Served from the result cache's L1 (in process).
    CacheL1,
    /// Served from the result cache's L2 (Redis).
    CacheL2,
    /// The replica had not applied the session's last write in time.
    ReplicaBehind,
    /// The replica could not take the session's state.
    ReplicaRefusedState,
}

impl RouteReason {
    /// The text SHOW LAST ROUTE shows.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Router(r) => r.as_str(),
            Self::None => "",
            Self::TooComplex => "too complex to plan (over the parser's bounds): primary, uncached",
            Self::ParkedDiagnostics => "diagnostics of an earlier statement, on the connection that ran it",
            Self::RetryOnPrimary => "retry on primary",
            Self::Command => "command",
            Self::ShardWrite => "shard write",
            Self::ReadOnlyTransactionMoved => "read-only transaction moved to the primary",
            Self::ReadOnlyLeftover => "read-only leftover kept on the primary",
            Self::ReplicaUnavailable => "replica unavailable; primary",
            Self::CacheL1 => "cache l1",
            Self::CacheL2 => "cache l2",
            Self::ReplicaBehind => "read-your-writes: replica behind, primary",
            Self::ReplicaRefusedState => "replica could not take the session state; primary",
        }
    }
}

/// Where the session decided to run a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Choice {
    /// The member.
    pub member: MemberId,
    /// Why (SHOW LAST ROUTE).
    pub reason: RouteReason,
    /// Whether the held connection is used.
    pub held: bool,
    /// Whether the result may be cached.
    pub cacheable: bool,
}

/// What a statement did to the session, collected while relaying its response.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// The server reported a session change (`session_track_state_change`).
    pub state_changed: bool,
    /// A tracked variable or the schema changed (explains a state change).
    pub tracked_changed: bool,
    /// The session's last GTID changed (a write committed).
    pub gtid: Option<GtidPos>,
    /// The statement failed (ERR).
    pub failed: bool,
    /// The ERR's code (0: none).
    pub error_code: u16,
    /// The last insert id an OK reported (0: none).
    pub insert_id: u64,
    /// Rows sent to the client.
    pub rows_sent: u64,
    /// The answer was a result set (column definitions were sent).
    pub result_set: bool,
    /// The server reported a new `character_set_connection` / `collation_connection`.
    pub charset_reported: bool,
    /// See `charset_reported`.
    pub collation_reported: bool,
    /// Rows affected (OK packets).
    pub rows_affected: u64,
    /// Warnings (OK and EOF packets).
    pub warnings: u64,
    /// The server said NO_INDEX_USED or NO_GOOD_INDEX_USED.
    pub no_index: bool,
    /// MySQL: the "Rows matched" of an UPDATE's OK, which MySQL's FOUND_ROWS() becomes.
    pub matched: Option<u64>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// The routing view of the group the statement runs in (the default group, or a shard's group
    /// while a sharded statement runs).
    pub(super) fn ctx_routing(&self) -> std::sync::Arc<crate::backend::topology::RouteSnapshot> {
        self.shared.routing_at(self.stmt.group)
    }

    /// The group the statement runs in.
    pub(super) fn ctx_group(&self) -> &crate::backend::topology::Group {
        self.shared.group_at(self.stmt.group)
    }

    /// The slot of the statement's group's member at `address` (a `backend=` hint, for the router).
    fn ctx_group_position(&self, address: &str) -> Option<usize> {
        self.ctx_group().position(address)
    }

    /// Whether member `id` is in the statement's group and has applied `pos`.
    fn ctx_has_applied(&self, id: MemberId, pos: &GtidPos) -> bool {
        let g = self.ctx_group();
        id.group == g.id && g.has_applied(id.index, pos)
    }

    /// The statement's group's primary, or the error to give a write (split brain, or no primary).
    pub(super) fn primary_member(&self) -> Result<MemberId> {
        let snap = self.ctx_routing();
        let group_name = &self.ctx_group().name;
        if snap.split_brain {
            return Err(Error::reply(
                (1290, "HY000"),
                format!(
                    "sluice refuses writes: more than one member of group '{}' is writable (read_only=0); make all but one read_only",
                    group_name
                ),
            ));
        }
        snap.primary.ok_or_else(|| {
            Error::reply(
                (2013, "HY000"),
                format!(
                    "sluice has no primary for group '{}': no member is configured as primary or reports read_only=0",
                    group_name
                ),
            )
        })
    }

    /// Decides where a statement runs.
    pub(super) fn choose(&mut self, lexed: &Lexed, class: &Class) -> Result<Choice> {
        if let Some(h) = &self.held
            && self.pins.is_only(Pin::Diagnostics)
        {
            // Keep reading the previous statement's diagnostics on its connection while this statement
            // cannot change them; leave it when the statement clears them anyway or must run elsewhere.
            // A SET of tracked variables only changes what sluice replays anywhere: it may run there too.
            let on_primary = Some(h.member) == self.ctx_routing().primary;
            // A read runs on a replica only outside a transaction with autocommit on (with autocommit
            // off it would open the transaction there).
            let autocommit_read = class.read_only
                && class.tx.is_none()
                && self.status & status::IN_TRANS == 0
                && (self.status & status::AUTOCOMMIT != 0
                    || !self.shared.config().routing.autocommit_false_is_transaction);
            // COMMIT/ROLLBACK outside a transaction change nothing; USE changes only the schema,
            // which sluice replays anywhere: neither clears the diagnostics the client may read next.
            let no_op_tx =
                matches!(class.tx, Some(Tx::Commit | Tx::Rollback)) && self.status & status::IN_TRANS == 0;
            // So does UNLOCK TABLES with no table locked.
            let no_op_unlock =
                class.session_lock == Some(SessionLock::CloseTables) && !self.pins.has(Pin::LockTables);
            // A diagnostics read (SHOW WARNINGS, @@warning_count) opens no transaction, whatever
            // autocommit says: it reads this connection.
            // A READ ONLY transaction may start on the replica that holds the diagnostics (START
            // TRANSACTION keeps them, as on a server), so later reads in it still see them.
            let read_only_tx_here = class.read_only_transaction && self.status & status::IN_TRANS == 0;
            let runs_anywhere = autocommit_read
                || read_only_tx_here
                || class.diagnostics
                || sets_tracked_only(lexed, class)
                || no_op_tx
                || no_op_unlock
                || (lexed.first_keyword == "use" && lexed.statements.len() == 1);
            let flavor = h.guard.flavor();
            // FOUND_ROWS()/ROW_COUNT() still to be read there (MySQL, `Session::deferred`): the
            // statement reads them on that connection itself.
            let reads_deferred =
                self.deferred.counts && class.target == sluice_router::classify::Target::Last;
            if !(class.diagnostics || reads_deferred || keeps_diagnostics(lexed, class, flavor)) {
                self.release_held();
            } else if !(on_primary || runs_anywhere) {
                // It must run elsewhere (a user variable, BEGIN, a lock…) yet keeps the diagnostics
                // area on a direct connection unless it raises conditions: the connection waits
                // aside for diagnostics reads (`parked`).
                self.park_held();
            }
        }
        if let Some(cell) = &self.ryw.cell {
            // Another session of the scope wrote since: its write is this session's to see too (the
            // cell holds this session's own writes as well).
            let v = cell.version();
            if v != self.ryw.seen {
                self.ryw.seen = v;
                // The newer of the two: the cell has this session's writes in the default group too,
                // not those in a shard group.
                if let Some(shared) = cell.last()
                    && self.ryw.last.as_ref().is_none_or(|(_, at)| *at < shared.1)
                {
                    self.ryw.last = Some(shared);
                }
            }
        }
        let config = self.shared.config();
        let routing = &config.routing;
        let snap = self.ctx_routing();
        let last_write = self
            .ryw
            .last
            .as_ref()
            .map(|(gtid, at)| LastWrite { age: at.elapsed(), gtid_known: gtid.is_some() });
        let session = SessionView {
            in_transaction: self.status & status::IN_TRANS != 0,
            autocommit: self.status & status::AUTOCOMMIT != 0 || !routing.autocommit_false_is_transaction,
            pinned: self.held.is_some() && self.pins.any(),
            has_last: self.held.is_some(),
            last_write,
        };
        let backend_hint = lexed.hints.get("backend").and_then(|name| self.ctx_group_position(name));
        let policy = Policy {
            read_write_split: routing.read_write_split,
            read_your_writes: match routing.read_your_writes {
                ReadYourWrites::Gtid => RywPolicy::Gtid,
                ReadYourWrites::PrimaryWindow => {
                    RywPolicy::PrimaryWindow(Duration::from_millis(routing.primary_window_ms))
                }
                ReadYourWrites::Off => RywPolicy::Off,
            },
            refuse_without_replica: routing.fallback == FallbackConfig::Error,
        };
        let turn = || self.shared.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let req = Request { class, session, backend_hint };
        let least = snap.topo.balance == sluice_router::route::Balance::LeastConnections;
        let r = if least {
            // The connections each replica lends out now: counted as sessions borrow and give back.
            let mut topo = snap.topo.clone();
            for rv in &mut topo.replicas {
                rv.in_use = self.shared.member_busy(snap.member_id(rv.index));
            }
            route(&req, &topo, &policy, turn)
        } else {
            route(&req, &snap.topo, &policy, turn)
        };
        let held = |s: &Self| s.held.as_ref().map(|h| h.member);
        let member = match r.destination {
            Destination::Pinned | Destination::Last => {
                let member = held(self).ok_or(Abort::NotHeld)?;
                // Never a write on a replica's connection outside a READ ONLY transaction (which
                // answers writes itself): a kept connection gives way to the primary, a pin refuses.
                let primary = self.ctx_routing().primary;
                let writes_data = !class.tables.written.is_empty()
                    || matches!(
                        lexed.first_keyword.as_str(),
                        "insert"
                            | "update"
                            | "delete"
                            | "replace"
                            | "load"
                            | "create"
                            | "alter"
                            | "drop"
                            | "truncate"
                            | "rename"
                    );
                if writes_data && Some(member) != primary && self.status & status::IN_TRANS == 0 {
                    if self.pins.any() && !self.pins.is_only(Pin::Diagnostics) {
                        tracing::warn!(pins = %self.pins.names(), "a write reached a session pinned to a replica connection; refused");
                        return Err(Error::reply(
                            (1290, "HY000"),
                            format!(
                                "sluice: this session is pinned to a replica's connection ({}); a write cannot run there: end what pins it or reconnect",
                                self.pins.names()
                            ),
                        ));
                    }
                    self.release_held();
                    return Ok(Choice {
                        member: self.primary_member()?,
                        reason: RouteReason::Router(r.reason),
                        held: false,
                        cacheable: false,
                    });
                }
                return Ok(Choice {
                    member,
                    reason: RouteReason::Router(r.reason),
                    held: true,
                    cacheable: false,
                });
            }
            Destination::Replica(i) | Destination::Member(i) => snap.member_id(i),
            Destination::Primary | Destination::Sluice => self.primary_member()?,
            Destination::Unavailable => {
                return Err(Error::reply(
                    (2013, "HY000"),
                    format!(
                        "sluice: no healthy replica within max_replica_lag_ms in group '{}' for this read ([routing] fallback = \"error\")",
                        self.ctx_group().name
                    ),
                ));
            }
        };
        // A connection kept only for a possible LAST_INSERT_ID()/ROW_COUNT() goes back now.
        self.release_held();
        Ok(Choice { member, reason: RouteReason::Router(r.reason), held: false, cacheable: r.cacheable })
    }

    /// Runs a statement of sluice's own on the held connection within `[backend] read_timeout_ms`
    /// (`None` without a held connection). An exchange that failed half way leaves the connection's
    /// state unknown: it is marked broken. A server ERR (`Error::BackendRefused`) leaves it usable.
    pub(super) async fn query_held(&mut self, sql: &str) -> Result<Option<crate::backend::TextResult>> {
        let limit = self.read_timeout();
        let Some(h) = self.held.as_mut() else { return Ok(None) };
        let label = h.guard.label().to_owned();
        match bounded(limit, &label, h.guard.conn().query(&label, sql)).await {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                if !matches!(e, Error::BackendRefused { .. }) {
                    h.guard.mark_broken();
                }
                Err(e)
            }
        }
    }

    /// A READ ONLY transaction runs on a replica; a statement in it that would write must behave as on
    /// the primary: a data change gets the server's ERR 1792, a statement that commits implicitly
    /// (DDL, BEGIN, LOCK TABLES…) ends the transaction on the replica and then runs where it belongs.
    pub(super) async fn leave_replica_transaction(&mut self, lexed: &Lexed, class: &Class) -> Result<()> {
        let Some(h) = &self.held else { return Ok(()) };
        if self.status & status::IN_TRANS == 0
            // A multi-statement pins its connection for the rest of the session: never a replica's.
            || (class.read_only && !class.multi_statement)
            || Some(h.member) == self.ctx_routing().primary
            || matches!(class.tx, Some(Tx::Commit | Tx::Rollback | Tx::Savepoint))
            // Another READ ONLY transaction runs on this connection, which commits the open one
            // itself (and keeps the diagnostics area, as the server does).
            || class.read_only_transaction
        {
            return Ok(());
        }
        // MySQL: a BEGIN (or START TRANSACTION without READ WRITE) inside a READ ONLY transaction
        // commits it and opens another READ ONLY one (measured on 9.7: the next INSERT gets ERR
        // 1792); MariaDB's new transaction is read-write. Alone it stays on this connection; a
        // multi-statement runs in a READ ONLY transaction on the primary.
        let begins = class.tx == Some(Tx::Begin)
            || (class.multi_statement
                && (lexed.first_keyword == "begin" || lexed.text.starts_with("start transaction")));
        if begins && h.guard.flavor() == crate::backend::Flavor::MySql && !lexed.text.contains("read write") {
            if class.multi_statement {
                self.move_read_only_transaction().await?;
            }
            return Ok(());
        }
        let kw = lexed.first_keyword.as_str();
        if commits_implicitly(lexed, class) {
            let label = self.held.as_mut().map(|h| h.guard.label().to_owned()).unwrap_or_default();
            if let Some(h) = self.held.as_mut() {
                h.guard.conn().query(&label, "COMMIT").await?;
            }
            self.status &= !status::IN_TRANS;
            self.pins.remove(Pin::Transaction);
            self.pins.remove(Pin::MetadataLocks);
            if !self.pins.any() {
                self.release_held();
            }
            return Ok(());
        }
        if matches!(kw, "insert" | "update" | "delete" | "replace" | "load") || kw == "with" {
            // The primary's answer. A replica would say 1290 (read_only) first, so the error is
            // raised there with SIGNAL instead: its diagnostics area then holds what the primary's
            // would (SHOW WARNINGS, @@error_count), and the transaction goes on.
            const READ_ONLY_TX: (u16, &str) = (1792, "25006");
            // MySQL's text ends with a full stop, MariaDB's does not.
            let message = if self.held_is_mysql() {
                "Cannot execute statement in a READ ONLY transaction."
            } else {
                "Cannot execute statement in a READ ONLY transaction"
            };
            self.raise_in_diagnostics(READ_ONLY_TX, message).await?;
            return Err(Error::reply(READ_ONLY_TX, message));
        }
        // State bound to the connection (a user variable, a temporary table, a named lock, a prepared
        // statement…) must live where the session's later writes run: the transaction moves to the
        // primary first, and the session pins there.
        // USE only changes the schema, which sluice replays on any connection.
        let use_schema = lexed.first_keyword == "use" && lexed.statements.len() == 1;
        let binds_state = class.multi_statement
            || class.assigns_user_vars
            || class.session_lock.is_some()
            || (class.session_state && !sets_tracked_only(lexed, class) && !use_schema);
        if binds_state {
            self.move_read_only_transaction().await?;
        }
        Ok(())
    }

    /// An error sluice answers itself where the server would have raised it (an unknown statement
    /// handler, a write in a READ ONLY transaction on a replica): raised with SIGNAL on the session's
    /// connection (a primary one when it holds none), so the diagnostics area holds it as the
    /// server's would (SHOW WARNINGS, @@error_count) and stays with the session like any error's.
    pub(super) async fn raise_in_diagnostics(
        &mut self,
        (code, state): (u16, &str),
        message: &str,
    ) -> Result<()> {
        self.release_parked();
        if self.held.is_none() {
            self.acquire_primary(RouteReason::Command).await?;
        }
        let no_backslash_escapes = self.held.as_mut().is_some_and(|h| h.guard.conn().no_backslash_escapes());
        let err = sluice_protocol::packets::ErrPacket::new((code, state), message);
        let signal = crate::backend::conn::signal_statement(&err, no_backslash_escapes);
        match self.query_held(&signal).await {
            Ok(None) => {}
            Ok(Some(_)) | Err(Error::BackendRefused { .. }) => {
                if let Some(h) = self.held.as_mut() {
                    h.guard.conn().diagnostics_pending = true;
                }
                // Kept for SHOW WARNINGS after a transaction too, like any error.
                self.add_pin(Pin::Diagnostics);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Ends the session's READ ONLY transaction on its replica (it wrote nothing) and opens it again on
    /// the primary: the rest of it reads the primary's snapshot, a newer one than the replica's.
    async fn move_read_only_transaction(&mut self) -> Result<()> {
        self.query_held("ROLLBACK").await?;
        self.status &= !status::IN_TRANS;
        self.pins.remove(Pin::Transaction);
        self.pins.remove(Pin::MetadataLocks);
        if self.pins.is_only(Pin::Diagnostics) {
            // ROLLBACK keeps the diagnostics area: the replica's connection waits aside for reads of it.
            self.park_held();
        }
        self.release_held();
        self.acquire_primary(RouteReason::ReadOnlyTransactionMoved).await?;
        // At the level it started with: the session may have set another one since, for its next
        // transactions.
        let one_shot = self.next_transaction_at_its_level().await?;
        if let Err(e) = self.query_held("START TRANSACTION READ ONLY").await {
            if let (true, Some(h)) = (one_shot, self.held.as_mut()) {
                // The level is still pending there: reset before anyone else borrows it.
                h.guard.conn().hidden_state = true;
            }
            return Err(e);
        }
        self.status |= status::IN_TRANS;
        self.add_pin(Pin::Transaction);
        Ok(())
    }

    /// Makes the held connection's next transaction start at the level the session's transaction
    /// began with (`OpenTx::isolation`), when the session's level differs now: a one-shot `SET
    /// TRANSACTION ISOLATION LEVEL`. Whether it was set.
    async fn next_transaction_at_its_level(&mut self) -> Result<bool> {
        let Some(level) = self.tx.isolation.as_deref().and_then(isolation_words) else { return Ok(false) };
        if self.vars.tx_isolation() == self.tx.isolation.as_ref() {
            return Ok(false);
        }
        self.query_held(&format!("SET TRANSACTION ISOLATION LEVEL {level}")).await?;
        Ok(true)
    }

    /// MariaDB: `SET autocommit = 1` that ended a READ ONLY transaction leaves the session refusing
    /// data changes until the next transaction boundary. The connection that ran it is reset before
    /// reuse; the session stays on a primary connection in the same state (made with the same
    /// statements when the transaction ran on a replica, at the ended transaction's isolation level),
    /// so the server itself refuses or allows each later write.
    pub(super) async fn keep_read_only_leftover(&mut self) -> Result<()> {
        let primary = self.ctx_routing().primary;
        let Some(h) = self.held.as_mut() else { return Ok(()) };
        h.guard.conn().hidden_state = true;
        if Some(h.member) != primary {
            if self.pins.has(Pin::Diagnostics) {
                // Its diagnostics stay readable there (it is reset once released: hidden_state).
                self.park_held();
            }
            self.release_held();
            self.acquire_primary(RouteReason::ReadOnlyLeftover).await?;
            self.query_held("SET autocommit = 0").await?;
            // At the level the ended transaction ran at: it outlives it too (the next transaction
            // runs at it on a direct connection, whatever the session set since).
            self.next_transaction_at_its_level().await?;
            for sql in ["START TRANSACTION READ ONLY", "SET autocommit = 1"] {
                self.query_held(sql).await?;
            }
            if let Some(h) = self.held.as_mut() {
                h.guard.conn().hidden_state = true;
            }
        }
        self.add_pin(Pin::ReadOnlyLeftover);
        Ok(())
    }

    /// MariaDB keeps a transaction's access mode after `SET autocommit = 1` ends it: a read-write one
    /// ended while the session's `tx_read_only` is on leaves the connection's next transactions (and
    /// autocommit statements) read-write, until a transaction boundary. Read-write transactions run on
    /// the primary, so that connection is the one held: the session stays on it, and it is reset
    /// before anyone else borrows it.
    pub(super) fn keep_read_write_leftover(&mut self) {
        let Some(h) = self.held.as_mut() else { return };
        h.guard.conn().hidden_state = true;
        self.add_pin(Pin::ReadWriteLeftover);
    }

    /// `SET NAMES … [COLLATE …]` changes `collation_connection` without the server's tracker always
    /// saying so: when the character set was reported and the collation was not, it is read back, so
    /// neither the session nor the connection keeps a stale value (which the next borrower would get).
    pub(super) async fn refresh_collation(&mut self, fx: &Effects) -> Result<()> {
        // Either one changes the other (`SET collation_connection = latin1_swedish_ci` makes the
        // character set latin1) without the tracker always reporting both.
        if fx.charset_reported == fx.collation_reported {
            return Ok(());
        }
        if fx.warnings > 0 && self.held_is_mysql() {
            self.deferred.collation = true;
            return Ok(());
        }
        self.read_back_collation().await
    }

    /// MySQL: runs the reads put off while the held connection kept the client's warnings (see
    /// `Session::deferred`), before a statement that empties them anyway; a diagnostics read, or a
    /// statement that runs on that connection for its FOUND_ROWS()/ROW_COUNT(), comes first.
    pub(super) async fn run_deferred(&mut self, class: &Class) -> Result<()> {
        let d = self.deferred;
        if !d.any() || class.diagnostics {
            return Ok(());
        }
        if d.counts && class.target == sluice_router::classify::Target::Last {
            return Ok(());
        }
        self.flush_deferred().await
    }

    /// Runs every read put off (`Session::deferred`) now, whatever comes next: for [`Self::run_deferred`],
    /// before the held connection goes back idle, or before a COM_STMT_PREPARE that may move the
    /// session elsewhere.
    pub(super) async fn flush_deferred(&mut self) -> Result<()> {
        if !self.deferred.any() {
            return Ok(());
        }
        let d = std::mem::take(&mut self.deferred);
        if self.held.is_none() {
            return Ok(());
        }
        if d.collation {
            self.read_back_collation().await?;
        }
        if let Some(id) = d.insert_id {
            // Before the counts' read-back, which replaces FOUND_ROWS() with its own.
            self.decide_insert_id(id, false).await?;
        }
        if d.counts {
            self.read_back_counts_now().await?;
        }
        if let Some(h) = self.held.as_mut() {
            // FOUND_ROWS() warned: emptied by the client's statement, or before anyone reuses it.
            h.guard.conn().diagnostics_pending = true;
        }
        Ok(())
    }

    /// Whether the held connection is to MySQL.
    pub(super) fn held_is_mysql(&self) -> bool {
        self.held.as_ref().is_some_and(|h| h.guard.flavor() == crate::backend::Flavor::MySql)
    }

    /// Reads the held connection's connection character set and collation into the session's and
    /// the connection's variables.
    async fn read_back_collation(&mut self) -> Result<()> {
        use crate::backend::vars::{CHARSET_CONNECTION, COLLATION_CONNECTION};
        let sql = "SELECT @@character_set_connection, @@collation_connection";
        let Some(r) = self.query_held(sql).await? else { return Ok(()) };
        for (i, var) in [CHARSET_CONNECTION, COLLATION_CONNECTION].into_iter().enumerate() {
            if let (Some(v), Some(h)) = (r.cell(i).cloned(), self.held.as_mut()) {
                h.guard.conn().vars.set(var, v.clone());
                self.vars.set(var, v);
            }
        }
        Ok(())
    }

    /// `[backend] read_timeout_ms` (`None`: off).
    pub(super) fn read_timeout(&self) -> Option<Duration> {
        match self.shared.config().backend.read_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Gives the held connection back to the pool as clean (nothing untracked on it).
    pub(super) fn release_held(&mut self) {
        self.pins.remove(Pin::Diagnostics);
        if let Some(h) = self.held.take() {
            if self.pins.any() && !self.pins.only_clean() {
                drop(h.guard); // reset before reuse
            } else {
                h.guard.release_clean();
            }
        }
    }

    /// Sets aside the held connection, which holds the session's diagnostics, for diagnostics reads
    /// (`Session::parked`; an earlier parked one goes back).
    /// The server flavour of the connection whose diagnostics wait aside (MariaDB when none does).
    pub(super) fn parked_flavor(&self) -> crate::backend::Flavor {
        self.parked.as_ref().map_or(crate::backend::Flavor::MariaDb, |h| h.guard.flavor())
    }

    fn park_held(&mut self) {
        self.pins.remove(Pin::Diagnostics);
        self.release_parked();
        self.parked = self.held.take();
    }

    /// Borrows a primary connection for what the session does next (the statement's own choice is
    /// made after).
    async fn acquire_primary(&mut self, reason: RouteReason) -> Result<()> {
        let member = self.primary_member()?;
        let mut choice = Choice { member, reason, held: false, cacheable: false };
        self.acquire(&mut choice, false).await
    }

    /// Adds a pin, counting it when it is new.
    pub(super) fn add_pin(&mut self, p: Pin) {
        if self.pins.add(p) {
            self.shared.pins.count(p);
        }
    }

    /// Lets parked diagnostics go (the pool clears them before anyone else borrows the connection).
    pub(super) fn release_parked(&mut self) {
        if let Some(h) = self.parked.take() {
            h.guard.release_clean();
        }
    }

    /// Borrows a connection to member `i` for this session's backend user.
    pub(super) async fn borrow(&mut self, i: MemberId) -> Result<Held> {
        let Some(m) = self.shared.member_at(i) else {
            return Err(Abort::NoMember { group: i.group, index: i.index }.into());
        };
        let addr = &m.addr;
        // The pool of a member is fixed for a session (user, FOUND_ROWS, collation): found once.
        let known = self.pools.iter().position(|(id, _)| *id == i);
        let pool = match known.and_then(|k| self.pools.get(k)) {
            Some((_, p)) if !p.is_closed() => p.clone(),
            _ if m.is_removed() => {
                return Err(Error::backend(addr.label.clone(), crate::core::error::BackendFailure::Removed));
            }
            _ => {
                let found_rows = self.caps & sluice_protocol::constants::caps::FOUND_ROWS != 0;
                let p = self.shared.pool_for(
                    addr,
                    &self.user.backend_user,
                    &self.user.backend_password,
                    found_rows,
                    self.charset,
                );
                match known.and_then(|k| self.pools.get_mut(k)) {
                    Some(slot) => slot.1 = p.clone(),
                    None => self.pools.push((i, p.clone())),
                }
                p
            }
        };
        let guard = pool
            .get_in(Some(self.schema.as_deref()))
            .await
            .inspect_err(|e| tracing::warn!(backend = %addr.label, error = %e, "backend checkout failed"))?;
        Ok(Held {
            guard,
            member: i,
            last_id_synced: false,
            _held: crate::backend::topology::HeldCount::new(m),
        })
    }

    /// Makes the connection's schema the session's (COM_INIT_DB). A session without a schema gets a
    /// connection without one: only a reset (COM_CHANGE_USER; on MySQL a new connection) takes a connection's schema away.
    pub(super) async fn sync_schema(&mut self, held: &mut Held) -> Result<()> {
        let label = held.guard.label().to_owned();
        let Some(schema) = self.schema.clone() else {
            if held.guard.conn().schema.is_none() {
                return Ok(());
            }
            if let Err(e) = held.guard.renew().await {
                held.guard.mark_broken();
                return Err(e);
            }
            return Ok(());
        };
        let conn = held.guard.conn();
        if conn.schema.as_ref() == Some(&schema) {
            return Ok(());
        }
        let mut p = bytes::BytesMut::with_capacity(1 + schema.len());
        p.extend_from_slice(&[sluice_protocol::constants::command::INIT_DB]);
        p.extend_from_slice(&schema);
        match held.guard.conn().simple_command(&label, &p).await {
            Ok(_) => {
                held.guard.conn().schema = Some(schema);
                Ok(())
            }
            Err(e) => {
                if !matches!(e, Error::BackendRefused { .. }) {
                    held.guard.mark_broken();
                }
                Err(e)
            }
        }
    }

    /// Makes the connection's tracked variables the session's, in one `SET`, where they differ.
    pub(super) async fn sync_vars(&mut self, held: &mut Held) -> Result<()> {
        let conn = held.guard.conn();
        let Some(set) = self.vars.sync_statement(&conn.vars, conn.flavor) else { return Ok(()) };
        let label = held.guard.label().to_owned();
        match held.guard.conn().query(&label, &set).await {
            Ok(r) => {
                if r.warnings > 0 {
                    // Some values warn when set (MySQL's sql_mode without strict mode: 3135): the
                    // client's next statement may be a diagnostics read, which must not see sluice's
                    // SET (MariaDB keeps them through table-less statements too).
                    held.guard.conn().clear_diagnostics(&label).await?;
                }
                let conn = held.guard.conn();
                for (i, v) in self.vars.0.iter().enumerate() {
                    if let Some(v) = v {
                        conn.vars.set(i, v.clone());
                    }
                }
                Ok(())
            }
            Err(e) => {
                // The values came from the server, so a failure is the connection's: reset it.
                drop(std::mem::replace(&mut held.guard.conn().vars, crate::backend::Vars::unknown()));
                Err(e)
            }
        }
    }

    /// Counts the statement on the group's primary (see [`crate::backend::topology::WriteGate`]). While a
    /// SWITCHOVER holds the gate, a statement that would start on the primary waits, then goes to
    /// whichever member is primary afterwards; one on a connection already held there (a transaction)
    /// runs, and the switchover waits for it. False: the statement must wait
    /// ([`Self::wait_for_switchover`]).
    fn enter_primary(&mut self, choice: &Choice) -> bool {
        // The token first, the gate after (see WriteGate); one Arc clone, inside the token.
        let busy = match self.primary_busy.take() {
            Some(b) => b,
            None => self.ctx_group().gate.enter(),
        };
        let on_held = choice.held && self.held.is_some();
        let go = on_held
            || !busy.gate_paused()
            || choice.reason == RouteReason::Router(sluice_router::route::Reason::BackendHint);
        if go {
            self.primary_busy = Some(busy);
        }
        go
    }

    /// The slow path of [`Self::enter_primary`]: waits for the switchover, then points the statement
    /// at the new primary and counts it there.
    async fn wait_for_switchover(&mut self, choice: &mut Choice) -> Result<()> {
        let gate = self.ctx_group().gate.clone();
        let limit =
            Duration::from_millis(self.shared.config().monitor.switchover_timeout_ms.saturating_mul(3));
        if !gate.wait_open(limit).await {
            return Err(Error::reply(
                (1205, "HY000"),
                format!(
                    "sluice held this statement for {} ms while SWITCHOVER moved the primary of group '{}', and it has not finished; retry",
                    limit.as_millis(),
                    self.ctx_group().name
                ),
            ));
        }
        choice.member = self.primary_member()?;
        self.primary_busy = Some(gate.enter());
        Ok(())
    }

    /// Borrows and syncs a connection for `choice` (the held one when the choice says so). A replica
    /// that cannot take the session's schema or variables gives way to the primary.
    pub(super) async fn acquire(&mut self, choice: &mut Choice, mentions_last_id: bool) -> Result<()> {
        let mut primary = self.ctx_routing().primary;
        if Some(choice.member) == primary && !self.enter_primary(choice) {
            self.wait_for_switchover(choice).await?;
            primary = self.ctx_routing().primary;
        }
        if choice.held
            && let Some(h) = self.held.as_mut()
        {
            if mentions_last_id && !h.last_id_synced {
                let label = h.guard.label().to_owned();
                h.set_last_insert_id(&label, self.last_insert_id).await?;
            }
            return Ok(());
        }
        let mut held = match self.borrow(choice.member).await {
            Ok(h) => h,
            Err(e) if Some(choice.member) != primary => {
                // A replica that cannot give a connection (down, refusing, pool exhausted): the primary.
                tracing::debug!(error = %e, "replica checkout failed; using the primary");
                let p = self.primary_member()?;
                *choice =
                    Choice { member: p, reason: RouteReason::ReplicaUnavailable, held: false, ..*choice };
                return Box::pin(self.acquire(choice, mentions_last_id)).await;
            }
            Err(e) => return Err(e),
        };
        // The common case (a connection already in the session's state) costs no timer, clock read or
        // allocation: the bounded exchange below runs only when something must be sent.
        let conn = held.guard.conn();
        let in_sync = conn.schema == self.schema
            && conn.vars.matches_adopting(&self.vars)
            && conn.multi_statements == self.multi_statements
            && !mentions_last_id;
        let mut result = if in_sync {
            Ok(())
        } else {
            let read_timeout = self.read_timeout();
            let label = held.guard.label().to_owned();
            let synced = async {
                self.sync_schema(&mut held).await?;
                self.sync_vars(&mut held).await?;
                if held.guard.conn().multi_statements != self.multi_statements {
                    held.guard.conn().set_multi_statements(&label, self.multi_statements).await?;
                }
                if mentions_last_id {
                    held.set_last_insert_id(&label, self.last_insert_id).await?;
                }
                Ok::<_, Error>(())
            };
            bounded(read_timeout, &label, synced).await
        };
        if result.is_err() {
            // The exchange may have stopped half way: the connection's state is unknown.
            held.guard.mark_broken();
        }
        if result.is_ok()
            && let Some((Some(gtid), _)) = &self.ryw.last
            && self.shared.config().routing.read_your_writes == ReadYourWrites::Gtid
            && Some(choice.member) != primary
            // A replica hint (comment or rule) opts the read out of read-your-writes, as the router did.
            && choice.reason != RouteReason::Router(sluice_router::route::Reason::ReplicaHint)
            && !self.ctx_has_applied(choice.member, gtid)
        {
            result = self.wait_for_gtid(&mut held, gtid.clone()).await;
        }
        match result {
            Ok(()) => {
                self.held = Some(held);
                Ok(())
            }
            Err(e) if Some(choice.member) != primary => {
                tracing::debug!(error = %e, backend = %held.guard.label(), "replica not usable for this statement; using the primary");
                drop(held);
                let p = self.primary_member()?;
                let reason = choice_reason_fallback(&e);
                *choice = Choice { member: p, reason, held: false, ..*choice };
                match Box::pin(self.acquire(choice, mentions_last_id)).await {
                    // Read-your-writes sent the read to a primary that cannot be reached: say so, and
                    // keep the session (no connection of its was lost). A replica without the write
                    // would answer, but wrongly: the write was acknowledged.
                    Err(Error::Backend { backend, source }) if reason == RouteReason::ReplicaBehind => {
                        Err(self.read_your_writes_unreachable(&backend, &source))
                    }
                    r => r,
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The ERR for a read that read-your-writes sent to the primary (no replica had applied the
    /// session's last write in time) when the primary cannot be reached: the read cannot be answered
    /// with the write in it, and an answer without it would be a stale read the client was promised
    /// it would not get. 2013 like a write to the unreachable primary, but the session goes on.
    fn read_your_writes_unreachable(
        &self,
        backend: &str,
        source: &crate::core::error::BackendFailure,
    ) -> Error {
        let routing = &self.shared.config().routing;
        let gtid = match &self.ryw.last {
            Some((Some(g), _)) => g.to_string(),
            _ => "unknown".to_string(),
        };
        Error::reply(
            (2013, "HY000"),
            format!(
                "sluice could not reach backend {backend} ({source}) for a read that must see this user's last write (read-your-writes, GTID {gtid}): no replica had applied it within gtid_wait_timeout_ms = {} ms; retry when the primary is back, or relax [routing] read_your_writes / read_your_writes_scope",
                routing.gtid_wait_timeout_ms
            ),
        )
    }

    /// Waits (up to `gtid_wait_timeout_ms`) for the replica to apply `gtid`; an error when it does
    /// not, so the caller reads from the primary instead.
    async fn wait_for_gtid(&mut self, held: &mut Held, gtid: GtidPos) -> Result<()> {
        let late = || Error::reply((1205, "HY000"), "replica did not apply the session's last write in time");
        let timeout_ms = self.shared.config().routing.gtid_wait_timeout_ms;
        let timeout = timeout_ms as f64 / 1000.0;
        let label = held.guard.label().to_owned();
        let sql = match held.guard.conn().flavor {
            Flavor::MariaDb => format!("SELECT MASTER_GTID_WAIT('{gtid}', {timeout})"),
            // A timeout of 0 waits for ever there: no wait at all then.
            Flavor::MySql if timeout_ms == 0 => return Err(late()),
            Flavor::MySql => format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{gtid}', {timeout})"),
        };
        if !gtid.is_readable() {
            return Err(late());
        }
        let r = held.guard.conn().query(&label, &sql).await?;
        // Both answer 0 once applied (MariaDB -1, MySQL 1 on a timeout).
        let ok = r.rows.first().and_then(|r| r.first()).and_then(|v| v.as_deref()) == Some(b"0");
        if ok {
            if let Some(g) = self.shared.groups.get(held.member.group) {
                g.note_applied(held.member.index, &gtid);
            }
            Ok(())
        } else {
            Err(late())
        }
    }

    /// After a statement: pins from the server's status and the statement, then keep or release.
    /// `sql` is the statement as the client sent it (empty for a prepared EXECUTE), for the names of
    /// named locks.
    pub(super) fn settle(&mut self, sql: &[u8], lexed: &Lexed, class: &Class, fx: &Effects) {
        let counters = &self.shared.pins;
        let pin = |pins: &mut super::Pins, p: Pin| {
            if pins.add(p) {
                counters.count(p);
            }
        };
        // With autocommit off a failed statement may have opened a transaction (the ERR packet has
        // no status to tell): the session keeps its primary connection, whose next answer tells.
        let primary = self.ctx_routing().primary;
        let maybe_opened = fx.failed
            && self.status & status::AUTOCOMMIT == 0
            && self.held.as_ref().is_some_and(|h| Some(h.member) == primary);
        if self.status & status::IN_TRANS != 0 || maybe_opened {
            pin(&mut self.pins, Pin::Transaction);
        } else {
            self.pins.remove(Pin::Transaction);
        }
        // COMMIT, ROLLBACK or an implicit commit succeeded: a transaction boundary the server's
        // per-transaction state ends at. Worked out only when a pin asks.
        let status_now = self.status;
        let ended = || {
            !fx.failed
                && status_now & status::IN_TRANS == 0
                && (matches!(class.tx, Some(Tx::Commit | Tx::Rollback)) || commits_implicitly(lexed, class))
        };
        if self.pins.has(Pin::MetadataLocks) {
            // `SET autocommit = 1` commits too.
            if (!fx.failed && status_now & status::AUTOCOMMIT != 0) || ended() {
                self.pins.remove(Pin::MetadataLocks);
            }
        } else if status_now & (status::AUTOCOMMIT | status::IN_TRANS) == 0
            && !matches!(
                lexed.first_keyword.as_str(),
                "set" | "use" | "begin" | "start" | "commit" | "rollback" | "savepoint" | "release"
            )
            && (!class.tables.parsed || uses_tables(class))
            && !ended()
            && let Some(h) = self.held.as_mut()
        {
            // Its tables' metadata locks last until the transaction ends, which the server does not
            // report as open (a reported one pins already). On a replica (autocommit-off reads there
            // when `autocommit_false_is_transaction` is off) the session moves on as before, and the
            // connection is reset before anyone reuses it.
            if Some(h.member) == primary {
                pin(&mut self.pins, Pin::MetadataLocks);
            } else {
                h.guard.conn().hidden_state = true;
            }
        }
        if self.pins.has(Pin::NextTransaction) && ended() {
            // COMMIT, ROLLBACK or an implicit commit cleared the one-shot characteristics. Not the
            // end of a transaction by `SET autocommit = 1`: the next transaction still gets them
            // (measured on MariaDB 10.11 and MySQL 9.7), so the pin stays through it.
            self.pins.remove(Pin::NextTransaction);
        }
        if !fx.failed && sets_next_transaction(lexed) {
            pin(&mut self.pins, Pin::NextTransaction);
        }
        if (self.pins.has(Pin::ReadOnlyLeftover) || self.pins.has(Pin::ReadWriteLeftover))
            && (matches!(class.tx, Some(Tx::Begin | Tx::Commit | Tx::Rollback))
                || commits_implicitly(lexed, class))
        {
            // The server forgets the leftover at a transaction boundary, even one that failed.
            self.pins.remove(Pin::ReadOnlyLeftover);
            self.pins.remove(Pin::ReadWriteLeftover);
        }
        if let Some(h) = self.held.as_mut()
            && (fx.warnings > 0 || fx.failed)
        {
            // Another session must not see this one's warnings: cleared before the pool lends it again.
            h.guard.conn().diagnostics_pending = true;
        }
        if lexed.statements.len() > 1 {
            // Even a failed multi-statement may have run its first statements.
            pin(&mut self.pins, Pin::MultiStatement);
        }
        let text = lexed.text.as_str();
        // Only these statements create or drop what object pins track: split the words for them alone.
        let objects_statement =
            matches!(lexed.first_keyword.as_str(), "create" | "drop" | "prepare" | "deallocate" | "handler");
        if !fx.failed {
            let words: Vec<&str> =
                if objects_statement { text.split_whitespace().collect() } else { Vec::new() };
            let schema = self.schema.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            let objects = &mut self.objects;
            match class.session_lock {
                Some(SessionLock::OpenTables) => pin(&mut self.pins, Pin::LockTables),
                Some(SessionLock::CloseTables) => self.pins.remove(Pin::LockTables),
                Some(SessionLock::OpenBackup) => pin(&mut self.pins, Pin::Backup),
                Some(SessionLock::CloseBackup) => self.pins.remove(Pin::Backup),
                _ => {}
            }
            if class.assigns_user_vars {
                // The server flags it too; the plan knows it before the answer.
                pin(&mut self.pins, Pin::UserVariable);
            }
            match words.as_slice() {
                ["handler", name, "open", rest @ ..] => {
                    // `HANDLER t OPEN AS h`: later statements name it h.
                    let alias = match rest {
                        ["as", a, ..] => a,
                        [a, ..] if *a != ";" => a,
                        _ => name,
                    };
                    objects.handlers.insert(object_key(alias, ""));
                    pin(&mut self.pins, Pin::Handler);
                }
                ["handler", name, "close", ..] => {
                    objects.handlers.remove(&object_key(name, ""));
                    if objects.handlers.is_empty() {
                        self.pins.remove(Pin::Handler);
                    }
                }
                ["create", "temporary", "table", rest @ ..] => {
                    objects.temp_tables.insert(object_key(&object_name(rest), &schema));
                    pin(&mut self.pins, Pin::TempTable);
                }
                ["drop", "temporary", "table", rest @ ..] => {
                    for name in object_names(rest) {
                        objects.temp_tables.remove(&object_key(&name, &schema));
                    }
                    if objects.temp_tables.is_empty() {
                        self.pins.remove(Pin::TempTable);
                    }
                }
                ["prepare", name, ..] => {
                    objects.prepared.insert(name.to_ascii_lowercase(), prepared_found_rows(sql, lexed));
                    pin(&mut self.pins, Pin::Prepare);
                }
                ["deallocate" | "drop", "prepare", name, ..] => {
                    objects.prepared.remove(&name.to_ascii_lowercase());
                    if objects.prepared.is_empty() {
                        self.pins.remove(Pin::Prepare);
                    }
                }
                _ => {
                    if class.session_lock == Some(SessionLock::NamedLocks) {
                        named_locks(sql, lexed, objects);
                        if objects.locks_unknown || !objects.locks.is_empty() {
                            pin(&mut self.pins, Pin::GetLock);
                        } else {
                            self.pins.remove(Pin::GetLock);
                        }
                    }
                    // A prepared statement's EXECUTE (no text here) reports the state change of the
                    // COM_STMT_PREPARE sluice sent for it on this connection: its own, not the
                    // client's, unless the statement itself changes state.
                    let own_prepare = sql.is_empty() && class.read_only && !class.assigns_user_vars;
                    if fx.state_changed && !explained_by_tracking(lexed, fx) && !own_prepare {
                        let reason = if lexed.first_keyword == "set" && !text.contains('@') {
                            Pin::UntrackedSet
                        } else if text.contains('@') {
                            Pin::UserVariable
                        } else {
                            Pin::SessionState
                        };
                        pin(&mut self.pins, reason);
                    }
                }
            }
        }
        if let Some(g) = &fx.gtid {
            // Published to the scope's cell as the relay read it (relay.rs). Merged with the earlier
            // writes: a MySQL replica may apply transactions out of order (parallel appliers).
            let mut pos = self.ryw.last.take().and_then(|(g, _)| g).unwrap_or_default();
            pos.merge(g);
            pos.bound_needed();
            self.ryw.last = Some((Some(pos), Instant::now()));
        } else if !class.read_only && !fx.failed && self.status & status::IN_TRANS == 0 {
            // A write without a reported GTID (a MySQL server, or nothing logged): keep what is known.
            // A transaction's end is one only when the transaction wrote (a ROLLBACK never is).
            let no_write = match class.tx {
                Some(Tx::Commit) => !self.tx.wrote,
                Some(Tx::Rollback) => true,
                _ => {
                    matches!(lexed.first_keyword.as_str(), "set" | "use" | "do" | "show" | "begin" | "start")
                }
            };
            if !no_write {
                let prev = self.ryw.last.take().and_then(|(g, _)| g);
                self.ryw.last = Some((prev, Instant::now()));
                // Only now (the client may already have the OK): a server that reports no GTID
                // leaves a short window in which another session's read may not see this write.
                if let Some(cell) = self.ryw.cell.as_ref().filter(|_| self.stmt.group == 0) {
                    cell.publish(None);
                }
            }
        }
        if self.status & status::IN_TRANS == 0 {
            self.tx.wrote = false;
        } else if !class.read_only && !fx.failed && class.tx.is_none() {
            self.tx.wrote = true;
        }
        if self.held.is_some() && (fx.warnings > 0 || fx.failed) {
            pin(&mut self.pins, Pin::Diagnostics);
        } else if uses_tables(class) {
            self.pins.remove(Pin::Diagnostics);
        }
        if self.pins.any() {
            return;
        }
        // No pin: keep the connection for the session's next statement when that one may need it
        // (ROW_COUNT() or LAST_INSERT_ID() after a write, SHOW WARNINGS after warnings or an error)
        // until the session idles for `hold_idle_ms`; release anything else now.
        // A diagnostics statement changes nothing: the connection still holds what it reports.
        // FOUND_ROWS() only that connection knows is read back first (`follow_counts`).
        let found_unknown = class.found_rows == sluice_router::classify::FoundRows::Unknown;
        if class.read_only && !class.diagnostics && fx.warnings == 0 && !fx.failed && !found_unknown {
            self.release_held();
        }
    }
}

/// An isolation level as the server reports it (`READ-COMMITTED`) in `SET TRANSACTION`'s words.
fn isolation_words(value: &[u8]) -> Option<&'static str> {
    match value.to_ascii_uppercase().as_slice() {
        b"READ-UNCOMMITTED" => Some("READ UNCOMMITTED"),
        b"READ-COMMITTED" => Some("READ COMMITTED"),
        b"REPEATABLE-READ" => Some("REPEATABLE READ"),
        b"SERIALIZABLE" => Some("SERIALIZABLE"),
        _ => None,
    }
}

/// Whether the statement ends an open transaction before it runs (BEGIN, DDL, LOCK TABLES…);
/// temporary tables excepted.
fn commits_implicitly(lexed: &Lexed, class: &Class) -> bool {
    let temporary = lexed.text.starts_with("create temporary") || lexed.text.starts_with("drop temporary");
    // ANALYZE TABLE commits; MariaDB's ANALYZE SELECT (a SELECT that reports its execution) does not.
    let analyze_statement = lexed.first_keyword == "analyze"
        && !["analyze table", "analyze local", "analyze no_write_to_binlog"]
            .iter()
            .any(|p| lexed.text.starts_with(p));
    !temporary
        && !analyze_statement
        && (class.tx == Some(Tx::Begin)
            || matches!(
                lexed.first_keyword.as_str(),
                "begin"
                    | "start"
                    | "create"
                    | "alter"
                    | "drop"
                    | "rename"
                    | "truncate"
                    | "lock"
                    | "grant"
                    | "revoke"
                    | "analyze"
                    | "optimize"
                    | "repair"
                    | "install"
                    | "uninstall"
            ))
}

/// Whether the statement is known to leave the server's diagnostics area alone when it raises no
/// condition. MariaDB: a SET, transaction control or USE, or a SELECT/DO that sqlparser read and found
/// no table in. Anything else may open tables sluice does not see (ALTER TABLE, LOCK TABLES, the
/// statements PREPARE, EXECUTE and CALL run…). MySQL (5.7 and later) empties it for every statement
/// but the diagnostics statements (`SHOW WARNINGS`, `SHOW COUNT(*) ERRORS`, `GET DIAGNOSTICS`; even
/// `SET @a = 1` or `SELECT @@warning_count` does, after reading it): none.
pub(super) fn keeps_diagnostics(lexed: &Lexed, class: &Class, flavor: crate::backend::Flavor) -> bool {
    if flavor == crate::backend::Flavor::MySql {
        return false;
    }
    let kw = lexed.first_keyword.as_str();
    let table_less_kind = matches!(
        kw,
        "set" | "begin" | "start" | "commit" | "rollback" | "savepoint" | "release" | "use" | "unlock"
    );
    !uses_tables(class) && (table_less_kind || (class.tables.parsed && matches!(kw, "select" | "do")))
}

/// Whether the statement reads or writes a table, which empties the server's diagnostics area (only
/// known for statements sqlparser read).
pub(super) fn uses_tables(class: &Class) -> bool {
    class.tables.parsed && !(class.tables.read.is_empty() && class.tables.written.is_empty())
}

/// Follows GET_LOCK / RELEASE_LOCK / RELEASE_ALL_LOCKS calls with literal names. A call whose name
/// is not one string literal makes the locks unknown (GET_LOCK) or changes nothing (RELEASE_LOCK):
/// the pin stays until RELEASE_ALL_LOCKS or the end of the session, never ends early.
fn named_locks(sql: &[u8], lexed: &Lexed, objects: &mut super::pins::SessionObjects) {
    use sluice_router::lexer::LiteralKind;
    let text = lexed.text.as_str();
    let expected = text.matches("get_lock (").count() + text.matches("release_lock (").count();
    let mut calls = Vec::new();
    let lower = sql.to_ascii_lowercase();
    for (name, get) in [(&b"get_lock"[..], true), (&b"release_lock"[..], false)] {
        let mut from = 0;
        while let Some(at) = find(&lower[from..], name).map(|i| i + from) {
            from = at + name.len();
            let word_start = at == 0 || !(lower[at - 1].is_ascii_alphanumeric() || lower[at - 1] == b'_');
            let in_literal = lexed.literals.iter().any(|l| l.span.contains(&at));
            if !word_start || in_literal {
                continue;
            }
            let mut i = from;
            while lower.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            if lower.get(i) != Some(&b'(') {
                continue;
            }
            i += 1;
            while lower.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            let lit = lexed.literals.iter().find(|l| l.span.start == i && l.kind == LiteralKind::String);
            let end_ok = |end: usize| {
                let mut j = end;
                while sql.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                matches!(sql.get(j), Some(b',' | b')'))
            };
            let lit_name = lit.filter(|l| end_ok(l.span.end)).and_then(|l| unquote(&sql[l.span.clone()]));
            calls.push((at, get, lit_name));
        }
    }
    if calls.len() != expected {
        // The raw text and the normalized one disagree (a comment, an executable comment): unknown.
        objects.locks_unknown = true;
        return;
    }
    calls.sort_by_key(|c| c.0);
    for (_, get, name) in calls {
        match (get, name) {
            (true, Some(n)) => *objects.locks.entry(n).or_default() += 1,
            (true, None) => objects.locks_unknown = true,
            (false, Some(n)) => {
                if let Some(c) = objects.locks.get_mut(&n) {
                    *c -= 1;
                    if *c == 0 {
                        objects.locks.remove(&n);
                    }
                }
            }
            (false, None) => {}
        }
    }
    if text.contains("release_all_locks (") {
        objects.locks.clear();
        objects.locks_unknown = false;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What the EXECUTE of `PREPARE name FROM 'text'` does to `FOUND_ROWS()`: the prepared statement's
/// own effect, read from its literal text. `None` for `FROM @var` or a literal [`unquote`] does not
/// read (the EXECUTE then reads the value back from the connection).
fn prepared_found_rows(sql: &[u8], lexed: &Lexed) -> Option<sluice_router::classify::FoundRows> {
    let inner = prepared_text(sql, lexed)?;
    Some(sluice_router::classify::classify(&sluice_router::lexer::lex_with(&inner, lexed.mode)).found_rows)
}

/// The statement text of `PREPARE name FROM 'text'` (`None` for `FROM @var` or a literal [`unquote`]
/// does not read).
pub(super) fn prepared_text(sql: &[u8], lexed: &Lexed) -> Option<Vec<u8>> {
    if !lexed.text.ends_with(" from ?") {
        return None;
    }
    let lit = lexed.literals.last().filter(|l| l.kind == sluice_router::lexer::LiteralKind::String)?;
    unquote(sql.get(lit.span.clone())?)
}

/// The value of a simple quoted string literal (`'a'`, `"a"`, doubled quotes), `None` for anything
/// with an introducer or a backslash (its value depends on the session's sql_mode).
fn unquote(lit: &[u8]) -> Option<Vec<u8>> {
    let q = *lit.first()?;
    if !matches!(q, b'\'' | b'"') || lit.len() < 2 || lit.last() != Some(&q) || lit.contains(&b'\\') {
        return None;
    }
    let inner = &lit[1..lit.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        out.push(inner[i]);
        i += if inner[i] == q { 2 } else { 1 };
    }
    Some(out)
}

/// A session object's key: `schema.name` for an unqualified name, the name as written otherwise,
/// without backquotes.
fn object_key(name: &str, schema: &str) -> String {
    let name = name.replace('`', "");
    if name.contains('.') || schema.is_empty() { name } else { format!("{schema}.{name}") }
}

impl Held {
    /// Gives the connection the session's LAST_INSERT_ID() (`DO LAST_INSERT_ID(n)`).
    async fn set_last_insert_id(&mut self, label: &str, id: u64) -> Result<()> {
        self.guard.conn().query(label, &format!("DO LAST_INSERT_ID({id})")).await?;
        self.last_id_synced = true;
        Ok(())
    }
}

/// `fut` (sluice's own exchange with a backend: syncing, reset) within `limit`, else the error a
/// statement gets when the backend does not answer within `backend.read_timeout_ms`.
pub(super) async fn bounded<T>(
    limit: Option<Duration>,
    label: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(limit) = limit else { return fut.await };
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(Error::backend(
            label,
            crate::core::error::BackendFailure::Timeout(format!(
                "no answer within {} ms (backend.read_timeout_ms)",
                limit.as_millis()
            )),
        ))
    })
}

/// A `SET` of tracked variables and nothing else (no user variable, no untracked variable).
fn sets_tracked_only(lexed: &Lexed, class: &Class) -> bool {
    lexed.first_keyword == "set"
        && lexed.statements.len() == 1
        && !class.assigns_user_vars
        && !sets_next_transaction(lexed)
        && set_targets(&lexed.text).iter().all(|t| {
            crate::backend::vars::is_tracked_name(t, crate::backend::Flavor::MariaDb)
                || crate::backend::vars::is_tracked_name(t, crate::backend::Flavor::MySql)
        })
}

/// Whether a `SET` sets the characteristics of the connection's next transaction only: `SET
/// TRANSACTION …` without SESSION or GLOBAL, or `@@tx_isolation`, `@@tx_read_only`,
/// `@@transaction_isolation`, `@@transaction_read_only` written with `@@` and no scope (the same
/// names without `@@` set the session's: measured on MariaDB 10.11, documented for MySQL). No
/// tracker reports them (the session's variables do not change), so sluice pins the connection
/// ([`Pin::NextTransaction`]).
fn sets_next_transaction(lexed: &Lexed) -> bool {
    lexed.first_keyword == "set"
        && lexed.statements.len() == 1
        && (lexed.text.starts_with("set transaction ")
            || set_items(&lexed.text).iter().any(|item| {
                // `@@\`tx_isolation\`` lexes as `@@ \`tx_isolation\``.
                let item = item.replacen("@@ ", "@@", 1).replace('`', "");
                let name = item.split(['=', ' ']).next().unwrap_or("").trim_end_matches(':');
                matches!(
                    name,
                    "@@tx_isolation"
                        | "@@tx_read_only"
                        | "@@transaction_isolation"
                        | "@@transaction_read_only"
                )
            }))
}

/// Whether every change the server reported is one sluice tracks: a `SET` of tracked variables only,
/// or `USE`.
fn explained_by_tracking(lexed: &Lexed, fx: &Effects) -> bool {
    match lexed.first_keyword.as_str() {
        "use" => fx.tracked_changed,
        // A SET of tracked variables only, reported or not: the tracker reports each change,
        // `autocommit` is followed through the status flags, a SET to the current value changes
        // nothing.
        // Plain SET TRANSACTION: the next transaction's characteristics (`Pin::NextTransaction`).
        "set" => set_targets(&lexed.text).iter().all(|t| {
            t == "transaction"
                || crate::backend::vars::is_tracked_name(t, crate::backend::Flavor::MariaDb)
                || crate::backend::vars::is_tracked_name(t, crate::backend::Flavor::MySql)
        }),
        _ => false,
    }
}

/// The items of a normalized `SET`, split at top-level commas and trimmed.
fn set_items(text: &str) -> Vec<&str> {
    let Some(rest) = text.strip_prefix("set ") else { return Vec::new() };
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(rest[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(rest[start..].trim());
    out
}

/// The variable names a normalized `SET` assigns (`@@session.x` → `x`; user variables keep `@`).
pub(crate) fn set_targets(text: &str) -> Vec<String> {
    set_items(text)
        .into_iter()
        .map(|t| {
            let name = t.split(['=', ' ']).next().unwrap_or("");
            let name = match name {
                // SET SESSION TRANSACTION sets the session's tx_isolation / tx_read_only (tracked);
                // plain SET TRANSACTION only the next transaction's (not a variable: untracked).
                "session" | "local" | "@@session" => match t.split_whitespace().nth(1).unwrap_or("") {
                    "transaction" if t.contains(" isolation level ") => "tx_isolation",
                    "transaction" if t.ends_with(" read only") || t.ends_with(" read write") => {
                        "tx_read_only"
                    }
                    second => second,
                },
                _ => name,
            };
            let name = if t.starts_with("names ") {
                "names"
            } else if t.starts_with("character set") {
                "character set"
            } else {
                name
            };
            name.trim_start_matches("@@session.")
                .trim_start_matches("@@local.")
                .trim_start_matches("@@")
                .trim_end_matches(":")
                .to_owned()
        })
        .collect()
}

/// The first object name of `[if [not] exists] name …` in a normalized statement.
fn object_name(rest: &[&str]) -> String {
    object_names(rest).into_iter().next().unwrap_or_default()
}

/// The names of `[if [not] exists] a , b …` up to the first other word.
fn object_names(rest: &[&str]) -> Vec<String> {
    let mut words = rest.iter().copied().peekable();
    while let Some(&w) = words.peek() {
        if matches!(w, "if" | "not" | "exists") {
            words.next();
        } else {
            break;
        }
    }
    let mut out = Vec::new();
    let mut expect_name = true;
    for w in words {
        match (w, expect_name) {
            (",", false) => expect_name = true,
            (name, true) => {
                out.push(name.trim_matches('`').to_owned());
                expect_name = false;
            }
            _ => break,
        }
    }
    out
}

fn choice_reason_fallback(e: &Error) -> RouteReason {
    match e {
        Error::Reply(_) => RouteReason::ReplicaBehind,
        _ => RouteReason::ReplicaRefusedState,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyze_table_commits_analyze_select_does_not() {
        let commits = |sql: &str| {
            let l = sluice_router::lexer::lex(sql.as_bytes());
            commits_implicitly(&l, &sluice_router::classify::classify(&l))
        };
        assert!(commits("ANALYZE TABLE t"));
        assert!(commits("ANALYZE NO_WRITE_TO_BINLOG TABLE t"));
        assert!(!commits("ANALYZE SELECT * FROM t"));
        assert!(!commits("ANALYZE FORMAT=JSON SELECT 1"));
        assert!(commits("ALTER TABLE t ADD c INT"));
        assert!(!commits("CREATE TEMPORARY TABLE t (a INT)"));
    }

    #[test]
    fn set_targets_of_normalized_sets() {
        assert_eq!(set_targets("set sql_mode = ?"), vec!["sql_mode"]);
        assert_eq!(
            set_targets("set session time_zone = ? , @@session.autocommit = ?"),
            vec!["time_zone", "autocommit"]
        );
        assert_eq!(set_targets("set names ? collate ?"), vec!["names"]);
        assert_eq!(set_targets("set @a = ? , @b := concat ( ? , ? )"), vec!["@a", "@b"]);
        assert_eq!(set_targets("set transaction isolation level read committed"), vec!["transaction"]);
        assert_eq!(
            set_targets("set session transaction isolation level read committed"),
            vec!["tx_isolation"]
        );
        assert_eq!(set_targets("set session transaction read only"), vec!["tx_read_only"]);
    }

    #[test]
    fn next_transaction_sets() {
        let next = |sql: &str| sets_next_transaction(&sluice_router::lexer::lex(sql.as_bytes()));
        assert!(next("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"));
        assert!(next("set transaction read only"));
        assert!(next("SET @@tx_isolation = 'SERIALIZABLE'"));
        assert!(next("SET @@transaction_read_only = 1"));
        assert!(next("SET sql_mode = '', @@tx_read_only = 1"));
        assert!(next("SET @@`tx_isolation` = 'SERIALIZABLE'"));
        assert!(next("SET TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY"));
        assert!(!next("SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"));
        assert!(!next("SET GLOBAL TRANSACTION READ ONLY"));
        assert!(!next("SET tx_isolation = 'SERIALIZABLE'"));
        assert!(!next("SET @@session.tx_isolation = 'SERIALIZABLE'"));
        assert!(!next("SET @@global.transaction_isolation = 'SERIALIZABLE'"));
        assert!(!next("SELECT @@tx_isolation"));
    }

    #[test]
    fn object_names_of_create_and_drop() {
        assert_eq!(object_name(&["if", "not", "exists", "tmp", "(", "id", "int", ")"]), "tmp");
        assert_eq!(object_names(&["if", "exists", "a", ",", "`b`"]), vec!["a", "b"]);
        assert_eq!(object_names(&["t1"]), vec!["t1"]);
    }
}
