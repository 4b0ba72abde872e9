//! Command dispatch: which commands sluice answers itself (COM_PING, COM_SET_OPTION, COM_CHANGE_USER,
//! COM_QUIT), which it forwards, and which it refuses with ERR 1047.

use bytes::BytesMut;
use sluice_protocol::Packet;
use sluice_protocol::constants::{caps, command, errors, status};
use sluice_protocol::handshake::ChangeUser;
use sluice_protocol::packets::{EofPacket, OkPacket};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Session;
use super::auth::{Attempt, access_denied, authenticate};
use crate::core::error::{Abort, Error, Result};
use crate::features::stats::{CacheStatus, Target};

/// What the statement loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next command.
    Continue,
    /// Close the session.
    Close,
}

/// MYSQL_OPTION_MULTI_STATEMENTS_ON / _OFF for COM_SET_OPTION.
const OPTION_MULTI_STATEMENTS_ON: u16 = 0;
const OPTION_MULTI_STATEMENTS_OFF: u16 = 1;

/// A `SET` sluice refuses: a client character set its lexer cannot follow, or the session-state
/// tracking it relies on.
pub(super) fn refused_set(lexed: &sluice_router::lexer::Lexed, sql: &[u8]) -> Result<()> {
    if lexed.first_keyword == "set" {
        super::charset::check_set(&lexed.text, sql)?;
        super::tracking::check_set(&lexed.text)?;
    }
    Ok(())
}

/// Reads the connection's `FOUND_ROWS()` and `ROW_COUNT()` (first row) as the previous statement left
/// them. Two rows, so the connection's FOUND_ROWS() is 2 afterwards, never the 1 a one-row aggregate
/// sends: a later check ("did this SELECT set it, or keep it?") can tell sluice's read-back from the
/// statement. Table-less: the diagnostics area stays.
pub(super) const READ_BACK_COUNTS: &str = "SELECT FOUND_ROWS(), ROW_COUNT() UNION ALL SELECT NULL, NULL";

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Handles one command packet (sequence id 0).
    pub(super) async fn command(&mut self, p: Packet) -> Result<Next> {
        let Some(&cmd) = p.payload.first() else {
            return Err(Error::Client(sluice_protocol::ProtocolError::malformed("command", "empty packet")));
        };
        self.stmt = super::StatementScratch::default();
        if !matches!(
            cmd,
            command::QUERY
                | command::STMT_EXECUTE
                | command::STMT_PREPARE
                | command::PING
                | command::STMT_CLOSE
                | command::SET_OPTION
                | command::STMT_SEND_LONG_DATA
        ) {
            // Statements (and their COM_STMT_PREPARE) decide whether parked diagnostics stay.
            self.release_parked();
        }
        match cmd {
            command::QUIT => Ok(Next::Close),
            command::PING => {
                self.reply_ok(1).await?;
                Ok(Next::Continue)
            }
            command::QUERY => self.query(p).await,
            command::SET_OPTION => self.set_option(&p).await,
            command::CHANGE_USER => self.change_user(&p).await,
            command::INIT_DB => self.init_db(p).await,
            command::RESET_CONNECTION => self.reset_connection(p).await,
            command::PROCESS_KILL => {
                let id = p.payload.get(1..5).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                let id = id
                    .ok_or_else(|| Error::reply(errors::UNKNOWN_COMMAND, "COM_PROCESS_KILL without an id"))?;
                self.kill(u64::from(id), false, p.next_seq).await?;
                Ok(Next::Continue)
            }
            command::FIELD_LIST | command::STATISTICS => {
                // Metadata reads: any connection with the session's schema will do.
                self.run_simple(p, false).await
            }
            command::STMT_PREPARE => self.stmt_prepare(p).await,
            command::STMT_EXECUTE => self.stmt_execute(p).await,
            command::STMT_FETCH => self.stmt_fetch(p).await,
            command::STMT_RESET => self.stmt_reset(p).await,
            command::STMT_CLOSE => self.stmt_close(&p),
            command::STMT_SEND_LONG_DATA => self.stmt_long_data(&p),
            _ => Err(Error::reply(
                errors::UNKNOWN_COMMAND,
                format!("Unknown command 0x{cmd:02x} ({}): sluice does not support it", command_name(cmd)),
            )),
        }
    }

    /// COM_QUERY: lex, then the statement's phases (refuse, sluice's own, plan, shard / migrate / run:
    /// route, borrow, run, settle), then the record phase, which runs whatever happened.
    async fn query(&mut self, p: Packet) -> Result<Next> {
        let mut ctx = super::record::StatementCtx::new(self.pins);
        let sql = &p.payload[1..];
        // With sharded tables configured the lexer also keeps its tokens (~10 ns more): a statement
        // over a sharded table is then routed without lexing it again.
        // Lexed as the server reads it: the session's sql_mode decides what a quote or a backslash is.
        let mode = self.lex_mode();
        let (lexed, toks) = if self.shared.plans.shards().is_empty() {
            (sluice_router::lexer::lex_with(sql, mode), Vec::new())
        } else {
            sluice_router::lexer::lex_tokens_with(sql, mode)
        };
        let r = self.query_phases(&p, &lexed, &toks, &mut ctx).await;
        self.record(&ctx, &lexed, &p.payload, &r);
        r
    }

    async fn query_phases(
        &mut self,
        p: &Packet,
        lexed: &sluice_router::lexer::Lexed,
        toks: &[sluice_router::lexer::Token],
        ctx: &mut super::record::StatementCtx,
    ) -> Result<Next> {
        let sql = &p.payload[1..];
        let mode = lexed.mode;
        if !self.multi_statements && lexed.statements.len() > 1 {
            return Err(Error::reply(
                errors::PARSE,
                "You have an error in your SQL syntax: several statements in one query, but multi-statements are not enabled on this connection (enable CLIENT_MULTI_STATEMENTS in the driver)",
            ));
        }
        refused_set(lexed, sql)?;
        if lexed.first_keyword == "prepare"
            && let Some(inner) = super::borrow::prepared_text(sql, lexed)
        {
            // `PREPARE s FROM 'SET …'`: its EXECUTE would run the SET unchecked.
            refused_set(&sluice_router::lexer::lex_with(&inner, lexed.mode), &inner)?;
        }
        if let Some(next) = self.sluice_statement(lexed, p).await? {
            return Ok(next);
        }
        let (mut class, unparsed) =
            self.shared.plans.plan_with_tokens(lexed, (!toks.is_empty()).then_some(toks), sql);
        ctx.may_hold_secret = Some(class.may_hold_secret);
        // Served conservatively (primary, uncached); SHOW LAST ROUTE says why.
        self.stmt.too_complex = unparsed == Some(sluice_router::analyze::Unparsed::TooComplex);
        if let Some(shape) = class.tables.shard.clone() {
            self.release_parked();
            self.last_route.shards.clear();
            self.sharded_query(&p.payload, p.next_seq, (lexed, toks), &class, &shape, ctx).await?;
            return Ok(Next::Continue);
        }
        self.check_pinned_elsewhere(&class)?;
        let mut lexed = std::borrow::Cow::Borrowed(lexed);
        let mut payload = p.payload.clone();
        if class.target == sluice_router::classify::Target::Sluice
            && let Some(rewritten) = self.rewrite_connection_id(&payload, &lexed)
        {
            // CONNECTION_ID() is the client's id in sluice, never a backend thread's.
            payload = rewritten;
            lexed = std::borrow::Cow::Owned(sluice_router::lexer::lex_with(&payload[1..], mode));
            class = self.shared.plans.plan(&lexed, &payload[1..]);
        }
        if class.target == sluice_router::classify::Target::Last
            && let Some(rewritten) = self.rewrite_last_values(&payload, &lexed)
        {
            // FOUND_ROWS()/ROW_COUNT() live on the connection that ran the previous statement, which
            // went back to the pool: answered from what that statement returned.
            payload = rewritten;
            lexed = std::borrow::Cow::Owned(sluice_router::lexer::lex_with(&payload[1..], mode));
            class = self.shared.plans.plan(&lexed, &payload[1..]);
        }
        if let Some(r) = self.migrating_statement(&payload, p.next_seq, &lexed, &class, ctx).await {
            r?;
            return Ok(Next::Continue);
        }
        self.run_statement(&payload, p.next_seq, &lexed, &class, ctx).await?;
        Ok(Next::Continue)
    }

    /// A statement naming tables while the session is pinned to a shard group's connection (a
    /// transaction a sharded statement opened there): refused, since the tables are the default group's.
    fn check_pinned_elsewhere(&self, class: &sluice_router::classify::Class) -> Result<()> {
        let Some(h) = &self.held else { return Ok(()) };
        let g = h.member.group;
        if g == 0 || !self.pins.any() || (class.tables.read.is_empty() && class.tables.written.is_empty()) {
            return Ok(());
        }
        Err(Error::reply(
            sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
            format!(
                "this session is pinned to a connection of shard group '{}' ({}); tables outside the shard are on group '{}': end the transaction first",
                self.shared.group_at(g).name,
                self.pins.names(),
                self.shared.group().name
            ),
        ))
    }

    /// Runs one classified statement (COM_QUERY or COM_STMT_EXECUTE payload) and says how it went in
    /// `ctx.outcome` for the record phase.
    pub(super) async fn run_statement(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &sluice_router::lexer::Lexed,
        class: &sluice_router::classify::Class,
        ctx: &mut super::record::StatementCtx,
    ) -> Result<()> {
        self.last_route.member = None;
        self.last_route.shards.clear();
        self.stmt.cache_status = CacheStatus::Off;
        // A `[[rules]]` group target moves this statement alone to another group.
        let group = self.stmt.group;
        let r = self.run_routed(payload, next_seq, lexed, class).await;
        self.stmt.group = group;
        if self.parked.is_some() {
            // Parked diagnostics stay while statements keep the area: no table (a cache hit read
            // one), no warning, no error; a diagnostics read reports them and changes nothing.
            let keeps = class.diagnostics
                || (self.stmt.cache_status != CacheStatus::Hit
                    && super::borrow::keeps_diagnostics(lexed, class, self.parked_flavor())
                    && r.as_ref().is_ok_and(|f| !f.failed && f.warnings == 0));
            if !keeps {
                self.release_parked();
            }
        }
        self.stmt.limit = None;
        let primary = self.ctx_routing().primary;
        let target = match self.last_route.member {
            None if self.stmt.cache_status == CacheStatus::Hit => Target::Cache,
            Some(m) if Some(m) == primary => Target::Primary,
            Some(_) => Target::Replica,
            None => Target::None,
        };
        let fx = r.as_ref().ok();
        self.follow_counts(lexed, class, fx);
        self.stmt.last_outcome = Some((fx.is_none_or(|f| f.failed), fx.map_or(0, |f| f.rows_affected)));
        ctx.outcome = Some(super::record::Outcome {
            target,
            rows_sent: fx.map_or(0, |f| f.rows_sent),
            rows_affected: fx.map_or(0, |f| f.rows_affected),
            error: fx.is_none_or(|f| f.failed),
            warnings: fx.map_or(0, |f| f.warnings),
            no_index: fx.is_some_and(|f| f.no_index),
            cache: self.stmt.cache_status,
            insert_id: fx.map_or(0, |f| f.insert_id),
            error_code: fx.map_or(0, |f| f.error_code),
        });
        ctx.gtid = fx.and_then(|f| f.gtid.clone());
        if let Ok(f) = &r
            && self.counts.unknown()
        {
            let conditions = f.warnings > 0 || f.failed;
            self.read_back_counts(conditions).await?;
        }
        r.map(drop)
    }

    /// What the statement left in `FOUND_ROWS()` and `ROW_COUNT()` (see [`FoundRows`]).
    fn follow_counts(
        &mut self,
        lexed: &sluice_router::lexer::Lexed,
        class: &sluice_router::classify::Class,
        fx: Option<&super::borrow::Effects>,
    ) {
        use sluice_router::classify::FoundRows;
        self.counts.found_check = None;
        // A text EXECUTE does what its prepared statement does, when sluice read that statement.
        let prepared =
            match lexed.first_keyword.as_str() {
                "execute" => lexed.text.split_whitespace().nth(1).and_then(|name| {
                    self.objects.prepared.get(&name.to_ascii_lowercase()).copied().flatten()
                }),
                _ => None,
            };
        let mut found_rows = prepared.unwrap_or(class.found_rows);
        let mysql = self.shared.server_flavor == crate::backend::Flavor::MySql;
        // MySQL: an UPDATE sets FOUND_ROWS() to the rows it matched (measured on 9.7; MariaDB's
        // keeps it): from the OK's info alone, read back in a multi-statement.
        let mut matched = None;
        if mysql && found_rows == FoundRows::Keeps && lexed.text.contains("update ") {
            if class.multi_statement {
                found_rows = FoundRows::Unknown;
            } else if lexed.first_keyword == "update" {
                matched = fx.filter(|f| !f.failed).and_then(|f| f.matched);
            }
        }
        // MySQL's other differences (measured on 9.7; MariaDB's are the router's classes): DO sets it
        // to 1, a table-less `SELECT … INTO @v` to the rows selected (the OK's affected rows),
        // `EXPLAIN SELECT 1` and a SET whose subquery reads a table leave it.
        let mysql_do = mysql && found_rows == FoundRows::Keeps && lexed.first_keyword == "do";
        if mysql && found_rows == FoundRows::Unknown && lexed.first_keyword == "set" && !class.multi_statement
        {
            found_rows = FoundRows::Keeps;
        }
        if mysql && found_rows == FoundRows::Zero {
            found_rows = match lexed.first_keyword.as_str() {
                "explain" | "describe" | "desc" => FoundRows::Keeps,
                _ => FoundRows::Affected,
            };
        }
        self.counts.found = match (found_rows, fx) {
            _ if matched.is_some() => matched,
            (_, Some(f)) if mysql_do && !f.failed && !class.multi_statement => Some(1),
            // Refused before it reached a server, failed, or leaves it: as it was.
            (FoundRows::Keeps, _) | (_, None) => self.counts.found,
            // A SELECT that failed while running (its columns were sent: 1242, a lock wait, a
            // timeout) leaves the rows it produced before the error; one refused before running
            // (no such table, a syntax error) leaves FOUND_ROWS() as it was.
            // (MySQL leaves it as it was: measured on 9.7.)
            (FoundRows::Sets, Some(f))
                if f.failed
                    && f.result_set
                    && self.shared.server_flavor == crate::backend::Flavor::MariaDb =>
            {
                Some(f.rows_sent)
            }
            (_, Some(f)) if f.failed => self.counts.found,
            // A temporary table (Aria/MEMORY: exact row counts) lets the server answer an aggregate
            // without reading rows and leave FOUND_ROWS() as it was: read back while the session
            // holds one (it is pinned then, so the connection is there); the connection's own value
            // is not the session's, so only "it is the rows sent" or "unchanged" is taken from it
            // (sluice's own read-backs leave 2 there, never the 1 row such an aggregate sends).
            (FoundRows::Sets, Some(f))
                if f.result_set && self.pins.has(crate::frontend::pins::Pin::TempTable) =>
            {
                self.counts.found_check = Some((self.counts.found, f.rows_sent));
                None
            }
            (FoundRows::Sets, Some(f)) if f.result_set => Some(f.rows_sent),
            (FoundRows::Affected, Some(f)) if !f.result_set => Some(f.rows_affected),
            (FoundRows::Zero, _) => Some(0),
            _ => None,
        };
        self.counts.row_count = match fx {
            // The server's ROW_COUNT() after CALL or a multi-statement is its last statement's.
            Some(f)
                if !f.failed
                    && (lexed.first_keyword == "call"
                        || (lexed.first_keyword == "execute"
                            && prepared.is_none_or(|f| f == FoundRows::Unknown))
                        || class.multi_statement) =>
            {
                None
            }
            Some(f) if !f.failed && !f.result_set => Some(f.rows_affected as i64),
            _ => Some(-1),
        };
    }

    /// `FOUND_ROWS()` and `ROW_COUNT()` read from the kept connection that ran a statement which set
    /// them to values only the server knows (`CALL`, `ANALYZE SELECT`, a multi-statement…). A
    /// table-less SELECT: the connection's diagnostics stay for SHOW WARNINGS, and the select list is
    /// evaluated before the SELECT replaces either value. Left unknown (the next `FOUND_ROWS()` runs
    /// wherever it is routed) when no connection is kept.
    ///
    /// MySQL empties the diagnostics area at every statement and warns at every FOUND_ROWS(): the
    /// read-back's own warning is cleared after it by a SELECT that leaves FOUND_ROWS() at 2 like the
    /// read-back; after a statement with warnings (even `SELECT SQL_CALC_FOUND_ROWS` warns there) it
    /// waits for the client's next statement (`Session::deferred`).
    async fn read_back_counts(&mut self, conditions: bool) -> Result<()> {
        let mysql = self.held_is_mysql();
        if self.counts.found.is_none()
            && let Some(seen) = self.stmt.found_before_own_read.take()
        {
            // The statement's value, read before sluice's own SELECT replaced it there.
            self.counts.found = seen;
        }
        if mysql && (conditions || self.pins.has(crate::frontend::pins::Pin::Diagnostics)) {
            // The connection stays held for the client's warnings or error (also after a
            // diagnostics read, which leaves them there); read when the client moves on.
            self.deferred.counts = true;
            return Ok(());
        }
        self.read_back_counts_now().await?;
        if mysql {
            self.query_held("SELECT NULL UNION ALL SELECT NULL").await?;
        }
        Ok(())
    }

    /// See [`Self::read_back_counts`].
    pub(super) async fn read_back_counts_now(&mut self) -> Result<()> {
        let Some(r) = self.query_held(READ_BACK_COUNTS).await? else { return Ok(()) };
        self.counts.read_back(r.int_cell(0), r.int_cell(1));
        Ok(())
    }

    /// Runs one statement where routing says, with one retry on the primary for an autocommit read whose
    /// replica failed before answering.
    async fn run_routed(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &sluice_router::lexer::Lexed,
        class: &sluice_router::classify::Class,
    ) -> Result<super::borrow::Effects> {
        let too_complex = std::mem::take(&mut self.stmt.too_complex);
        const READ_ONLY_TX: u16 = status::IN_TRANS | status::IN_TRANS_READONLY;
        let read_only_tx = self.status & READ_ONLY_TX == READ_ONLY_TX;
        let in_tx = self.status & status::IN_TRANS != 0;
        self.shared.firewall.check(lexed.digest, &lexed.text)?;
        let mentions_last_id = lexed.text.contains("last_insert_id (") || lexed.text.contains("@@identity");
        let ruled;
        let class = match self.apply_rules(lexed, class)? {
            Some(c) => {
                ruled = c;
                &ruled
            }
            None => class,
        };
        self.run_deferred(class).await?;
        self.leave_replica_transaction(lexed, class).await?;
        // Server variables read beside @@warning_count are the session's on any connection (tracked
        // ones are synced there; untracked ones are the server's defaults unless the session SET
        // one, which pins it).
        let variables_anywhere = !self.pins.has(crate::frontend::pins::Pin::UntrackedSet);
        if self.parked.is_some()
            && class.diagnostics
            && !class.session_state
            && reads_only_diagnostics(lexed, variables_anywhere)
        {
            return self.read_parked(payload, next_seq, lexed).await;
        }
        // With sql_auto_is_null on, `WHERE id IS NULL` right after an INSERT finds the inserted row,
        // on the connection that inserted it only.
        let after_insert;
        let auto_is_null_read =
            class.read_only && self.vars.sql_auto_is_null() && lexed.text.contains(" is null");
        let class = if auto_is_null_read {
            after_insert = sluice_router::classify::Class {
                target: sluice_router::classify::Target::Last,
                cacheable: false,
                ..class.clone()
            };
            &after_insert
        } else {
            class
        };
        let mut choice = self.choose(lexed, class)?;
        if too_complex && !choice.held {
            choice.reason = super::borrow::RouteReason::TooComplex;
        }
        let mut fill = match self.cache_lookup(payload, next_seq, lexed, class, &choice).await? {
            super::cache::Step::Hit(fx) => {
                self.stmt.cache_status = CacheStatus::Hit;
                return Ok(fx);
            }
            super::cache::Step::Miss(f) => Some(f),
            super::cache::Step::Bypass => None,
        };
        self.stmt.cache_status = match (&fill, &self.shared.cache) {
            (Some(_), _) => CacheStatus::Miss,
            (None, Some(_)) => CacheStatus::Bypass,
            (None, None) => CacheStatus::Off,
        };
        self.acquire(&mut choice, mentions_last_id).await?;
        if auto_is_null_read {
            self.forget_foreign_insert_id().await?;
        }
        if let Some(f) = fill.as_mut() {
            self.cache_prepare_fill(f, choice.member);
        }
        self.note_route(&choice, lexed, if fill.is_some() { CacheStatus::Miss } else { CacheStatus::Bypass });
        let writes = self.cache_write_started(lexed, class).await;
        let r = self.execute_with_retry(payload, next_seq, lexed, class, &choice, mentions_last_id).await;
        match (&r, fill) {
            (Ok(fx), Some(f)) => self.cache_fill(f, fx).await,
            _ => self.stmt.collect = None,
        }
        let done = super::borrow::Effects::default();
        self.cache_write_done(writes, r.as_ref().unwrap_or(&done)).await;
        let fx = r?;
        self.refresh_collation(&fx).await?;
        let sql = if payload.first() == Some(&command::QUERY) { &payload[1..] } else { &[][..] };
        if fx.insert_id != 0 {
            self.follow_insert_id((sql, lexed), class, &fx).await?;
        }
        if !fx.failed && matches!(lexed.first_keyword.as_str(), "alter" | "drop" | "rename" | "create") {
            super::insert_id::forget_auto_increment(&self.shared);
        }
        let one_shot = self.pins.has(crate::frontend::pins::Pin::NextTransaction);
        self.settle(sql, lexed, class, &fx);
        if !fx.failed && self.status & status::IN_TRANS != 0 {
            // MySQL: a BEGIN inside a transaction opens the next one with the characteristics of the
            // one it ends (measured on 9.7: its READ ONLY and its isolation level); MariaDB: with the
            // session's.
            let begins = class.tx == Some(sluice_router::classify::Tx::Begin) || class.read_only_transaction;
            if !in_tx || (begins && !self.held_is_mysql()) {
                self.tx.isolation = if one_shot { None } else { self.vars.tx_isolation().cloned() };
            }
        }
        let set_ended_tx =
            in_tx && !fx.failed && self.status & status::IN_TRANS == 0 && lexed.first_keyword == "set";
        if set_ended_tx && !read_only_tx && self.vars.tx_read_only() {
            // The ended transaction's READ WRITE outlives it on this connection.
            self.keep_read_write_leftover();
        }
        if read_only_tx && set_ended_tx {
            self.keep_read_only_leftover().await?;
        }
        if set_ended_tx
            && self.tx.isolation.is_some()
            && self.vars.tx_isolation() != self.tx.isolation.as_ref()
        {
            // The ended transaction's isolation level outlives it on this connection: its next
            // transaction still runs at it (measured on MariaDB 10.11 and MySQL 9.7), until COMMIT,
            // ROLLBACK or an implicit commit, whatever the session variable says now.
            self.add_pin(crate::frontend::pins::Pin::NextTransaction);
        }
        Ok(fx)
    }

    /// A diagnostics read while an earlier statement's diagnostics are parked on another connection
    /// (see `Session::parked`): it runs there, and the client sees the session's status bits.
    async fn read_parked(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &sluice_router::lexer::Lexed,
    ) -> Result<super::borrow::Effects> {
        let Some(mut parked) = self.parked.take() else {
            return Err(Abort::NoParked.into());
        };
        // Its variables as the session's now (a SET keeps the diagnostics area).
        if let Err(e) = self.sync_vars(&mut parked).await {
            parked.guard.mark_broken();
            return Err(e);
        }
        let choice = super::borrow::Choice {
            member: parked.member,
            reason: super::borrow::RouteReason::ParkedDiagnostics,
            held: true,
            cacheable: false,
        };
        let aside = self.held.replace(parked);
        self.note_route(&choice, lexed, CacheStatus::Off);
        self.stmt.status_override = Some(self.status & super::SESSION_BITS);
        let r = self.execute_on_held(payload, next_seq).await;
        self.stmt.status_override = None;
        self.parked = std::mem::replace(&mut self.held, aside);
        if r.is_err() {
            // Failed half way (a failed exchange marks the connection broken): nothing to read there.
            self.release_parked();
        }
        r
    }

    /// Runs a routed statement on the held connection, once more on the primary for an autocommit read
    /// whose replica failed before answering.
    async fn execute_with_retry(
        &mut self,
        payload: &[u8],
        next_seq: u8,
        lexed: &sluice_router::lexer::Lexed,
        class: &sluice_router::classify::Class,
        choice: &super::borrow::Choice,
        mentions_last_id: bool,
    ) -> Result<super::borrow::Effects> {
        let fx = match self.execute_on_held(payload, next_seq).await {
            Ok(fx) => fx,
            Err(Error::Backend { backend, source })
                if class.read_only
                    && !self.pins.any()
                    && !choice.held
                    && self.status & status::IN_TRANS == 0 =>
            {
                tracing::warn!(%backend, error = %source, "read failed before any answer; retrying once on the primary");
                self.stmt.collect = None; // what was collected belongs to the failed attempt
                let member = self.primary_member()?;
                let mut again = super::borrow::Choice {
                    member,
                    reason: super::borrow::RouteReason::RetryOnPrimary,
                    held: false,
                    cacheable: false,
                };
                self.acquire(&mut again, mentions_last_id).await?;
                self.note_route(&again, lexed, CacheStatus::Bypass);
                self.execute_on_held(payload, next_seq).await?
            }
            Err(e) => return Err(e),
        };
        Ok(fx)
    }

    /// The first matching `[[rules]]` entry: a block is the statement's error, a route or cache policy
    /// gives a changed class (`None`: no rule applies).
    pub(super) fn apply_rules(
        &mut self,
        lexed: &sluice_router::lexer::Lexed,
        class: &sluice_router::classify::Class,
    ) -> Result<Option<sluice_router::classify::Class>> {
        use crate::core::config::RuleAction;
        use crate::features::rules::{RuleTarget, Subject};
        use sluice_router::classify::Target;
        if self.shared.rules.is_empty() {
            return Ok(None);
        }
        let subject = Subject {
            user: &self.user.name,
            schema: self.schema.as_deref(),
            lexed,
            tables: [&class.tables.read, &class.tables.written],
        };
        let Some(rule) = self.shared.rules.first_match(&subject) else { return Ok(None) };
        self.stmt.limit = rule.timeout_ms.map(|ms| super::limits::StatementLimit::new(ms, &rule.name));
        let mut c = class.clone();
        match rule.action {
            RuleAction::Block => {
                tracing::debug!(rule = %rule.name, digest = %format!("{:016x}", lexed.digest), "statement blocked by rule");
                return Err(Error::reply(errors::NOT_ALLOWED_COMMAND, rule.message.clone()));
            }
            RuleAction::Route => match &rule.target {
                Some(RuleTarget::Primary) => {
                    c.target = Target::Primary;
                    c.cacheable = false;
                }
                Some(RuleTarget::Replica) => {
                    c.replica_hint = sluice_router::classify::may_read_on_a_replica(&c)
                }
                Some(RuleTarget::Group(name)) => {
                    // Routed within that group for this statement (a pinned session stays on its
                    // connection).
                    if let Some(g) = self.shared.group_index(name) {
                        self.stmt.group = g;
                    }
                }
                None => {}
            },
            RuleAction::Nocache => c.cacheable = false,
            // The TTL is the cache's business; what may be stored at all stays the plan's.
            RuleAction::Cache | RuleAction::Timeout => {}
        }
        Ok(Some(c))
    }

    /// Forwards a payload on the held connection (a prepared statement's EXECUTE is rewritten first).
    async fn execute_on_held(&mut self, payload: &[u8], next_seq: u8) -> Result<super::borrow::Effects> {
        if payload.first() == Some(&command::STMT_EXECUTE) {
            let rewritten = self.prepare_for_execute(payload).await?;
            return self.forward(&rewritten, next_seq).await;
        }
        self.forward(payload, next_seq).await
    }

    /// COM_INIT_DB: the session's schema changes only if the server accepts it (on the primary, where
    /// every schema exists first).
    async fn init_db(&mut self, p: Packet) -> Result<Next> {
        self.run_simple(p, true).await
    }

    /// A command with a simple answer on any connection (`on_primary`: the primary).
    async fn run_simple(&mut self, p: Packet, on_primary: bool) -> Result<Next> {
        if self.held.is_none() || !self.pins.any() {
            self.release_held();
            let member = if on_primary || !self.shared.config().routing.read_write_split {
                self.primary_member()?
            } else {
                let snap = self.shared.group().routing();
                let turn = self.shared.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match sluice_router::route::pick_replica(&snap.topo, turn) {
                    Some(i) => snap.member_id(i),
                    None => self.primary_member()?,
                }
            };
            let mut choice = super::borrow::Choice {
                member,
                reason: super::borrow::RouteReason::Command,
                held: false,
                cacheable: false,
            };
            self.acquire(&mut choice, false).await?;
        }
        let fx = self.forward(&p.payload, p.next_seq).await?;
        if !fx.failed && p.payload.first() == Some(&command::INIT_DB) {
            let schema = bytes::Bytes::copy_from_slice(&p.payload[1..]);
            if let Some(h) = self.held.as_mut() {
                h.guard.conn().schema = Some(schema.clone());
            }
            self.schema = Some(schema);
        }
        if !self.pins.any() {
            self.release_held();
        }
        Ok(Next::Continue)
    }

    /// COM_RESET_CONNECTION: the session starts over (variables, pins, prepared statements); sluice
    /// answers it and gives back any held connection for a reset.
    async fn reset_connection(&mut self, p: Packet) -> Result<Next> {
        let schema = self.schema.clone();
        self.reset_held_now().await;
        self.pins = super::Pins::default();
        self.stmts = super::prepared::ClientStmts::default();
        self.begin_session().await?;
        // MySQL resets the character set variables to the server's global values, not the login's.
        for (i, v) in &self.shared.reset_charset {
            self.vars.set(*i, v.clone());
        }
        self.schema = schema;
        self.reply_ok(p.next_seq).await?;
        Ok(Next::Continue)
    }

    /// Resets the held connection before the client hears back (COM_RESET_CONNECTION,
    /// COM_CHANGE_USER), as a server does: what the session held there that others can see (named
    /// locks, LOCK TABLES, an open transaction's row locks) is gone before its next statement, which
    /// may run on another connection. Then the connection goes back to the pool as new; a failed
    /// reset closes it.
    async fn reset_held_now(&mut self) {
        let Some(mut h) = self.held.take() else { return };
        match h.guard.renew().await {
            Ok(()) => h.guard.release_clean(),
            Err(_) => h.guard.mark_broken(),
        }
    }

    /// Sends an OK with the session's status.
    pub(super) async fn reply_ok(&mut self, seq: u8) -> Result<()> {
        let mut out = BytesMut::with_capacity(16);
        OkPacket { status: self.status, ..OkPacket::default() }.encode(self.caps, &mut out);
        self.client.write(seq, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)
    }

    /// COM_SET_OPTION: multi-statements are enforced by sluice (backend connections always allow them),
    /// so the option is the session's, answered with EOF (or OK-as-EOF for DEPRECATE_EOF clients).
    async fn set_option(&mut self, p: &Packet) -> Result<Next> {
        let option = p.payload.get(1..3).map(|b| u16::from_le_bytes([b[0], b[1]]));
        match option {
            Some(OPTION_MULTI_STATEMENTS_ON) => self.multi_statements = true,
            Some(OPTION_MULTI_STATEMENTS_OFF) => self.multi_statements = false,
            _ => return Err(Error::reply(errors::UNKNOWN_COMMAND, "Unknown COM_SET_OPTION option")),
        }
        let mut out = BytesMut::with_capacity(8);
        if self.caps & caps::DEPRECATE_EOF != 0 {
            OkPacket { header: 0xFE, status: self.status, ..OkPacket::default() }.encode(self.caps, &mut out);
        } else {
            EofPacket { warnings: 0, status: self.status }.encode(&mut out);
        }
        self.client.write(1, &out);
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        Ok(Next::Continue)
    }

    /// COM_CHANGE_USER: sluice re-authenticates the client itself, then gives the session a clean backend
    /// connection for the new user (the old one is reset and returned to its pool), and the session
    /// counts against the new user's `max_connections` instead of the old one's.
    ///
    /// A failed attempt does what MariaDB 10.11 does (measured): the connection stays open and keeps its
    /// user and schema, but its session is reset all the same (variables, temporary tables, transaction,
    /// prepared statements: the server resets before it authenticates); the ERR (1045, or 1226 when the
    /// new user is at its limit) comes after a 1 s pause; from the fourth attempt after three failures,
    /// every COM_CHANGE_USER of the connection, right password or not, gets ERR 1047 (Unknown command).
    /// In front of MySQL it does what MySQL 9.7 does: the ERR at once, then the connection closes.
    async fn change_user(&mut self, p: &Packet) -> Result<Next> {
        const MAX_FAILED: u8 = 3;
        let cu = ChangeUser::parse(&p.payload, self.caps).map_err(Error::Client)?;
        if self.failed_change_users >= MAX_FAILED {
            let e = Error::reply(errors::UNKNOWN_COMMAND, "Unknown command");
            return self.change_user_failed(p.next_seq, e).await;
        }
        let user = self.shared.users.get(&cu.user);
        let plugin = cu.auth_plugin.as_deref().unwrap_or(b"mysql_native_password");
        let tls = self.client.get_ref().is_tls();
        let attempt = Attempt {
            user: user.as_deref(),
            plugin,
            data: cu.auth_response.clone(),
            nonce: self.nonce.clone(),
        };
        let (ok, _plugin, seq) = authenticate(&mut self.client, attempt, p.next_seq, tls).await?;
        let name = String::from_utf8_lossy(&cu.user).into_owned();
        let user = match (ok, user) {
            (true, Some(u)) if !u.require_tls || tls => u,
            _ => {
                let e = access_denied(&name, self.peer, !cu.auth_response.is_empty());
                return self.change_user_failed(seq, e).await;
            }
        };
        if user.name != self.user.name {
            let Some(slot) = super::UserSlot::take(&self.shared, &user) else {
                self.shared.digests.totals.refuse(crate::features::stats::Refusal::MaxUserConnections);
                let e = Error::reply(
                    (1226, "42000"),
                    format!(
                        "User '{}' has exceeded the 'max_user_connections' resource ({})",
                        user.name, user.max_connections
                    ),
                );
                return self.change_user_failed(seq, e).await;
            };
            // The old user's slot is given back here.
            self.user_slot = slot;
        }
        self.reset_held_now().await;
        self.pins = super::Pins::default();
        self.stmts = super::prepared::ClientStmts::default();
        self.handle.set_user(&user.name);
        tracing::Span::current().record("user", tracing::field::display(&user.name));
        self.user = user;
        if let Some(c) = cu.charset {
            self.charset = c as u8;
        }
        self.schema = (!cu.database.is_empty()).then(|| cu.database.clone());
        self.status = sluice_protocol::constants::status::AUTOCOMMIT;
        if let Err(e) = self.begin_session().await {
            self.client.write(seq, &e.to_err_packet().to_bytes());
            let _ = self.client.flush().await;
            return Ok(if e.is_fatal_for_session() { Next::Close } else { Next::Continue });
        }
        self.reply_ok(seq).await?;
        Ok(Next::Continue)
    }

    /// A refused COM_CHANGE_USER: the session is reset but keeps its user and schema, and `e` is sent at
    /// `seq` after the server's 1 s pause (it slows down password guessing on an open connection).
    async fn change_user_failed(&mut self, seq: u8, e: Error) -> Result<Next> {
        if self.shared.server_flavor == crate::backend::Flavor::MySql {
            // MySQL (measured on 9.7) answers the ERR at once and closes the connection.
            self.client.write(seq, &e.to_err_packet().to_bytes());
            self.client.flush().await.map_err(|_| Error::ClientGone)?;
            return Ok(Next::Close);
        }
        self.failed_change_users = self.failed_change_users.saturating_add(1);
        let schema = self.schema.clone();
        self.reset_held_now().await;
        self.pins = super::Pins::default();
        self.stmts = super::prepared::ClientStmts::default();
        let reset = self.begin_session().await;
        self.schema = schema;
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let e = match reset {
            // No backend to reset on: that error is the one to tell, the session cannot go on as it was.
            Err(r) => r,
            Ok(()) => e,
        };
        self.client.write(seq, &e.to_err_packet().to_bytes());
        self.client.flush().await.map_err(|_| Error::ClientGone)?;
        Ok(if e.is_fatal_for_session() { Next::Close } else { Next::Continue })
    }
}

/// A command byte's name for messages.
fn command_name(cmd: u8) -> &'static str {
    match cmd {
        0x00 => "COM_SLEEP",
        command::CREATE_DB => "COM_CREATE_DB",
        command::DROP_DB => "COM_DROP_DB",
        command::REFRESH => "COM_REFRESH",
        0x08 => "COM_SHUTDOWN",
        command::PROCESS_INFO => "COM_PROCESS_INFO",
        0x0b => "COM_CONNECT",
        command::PROCESS_KILL => "COM_PROCESS_KILL",
        command::DEBUG => "COM_DEBUG",
        0x0f => "COM_TIME",
        0x10 => "COM_DELAYED_INSERT",
        command::BINLOG_DUMP => "COM_BINLOG_DUMP",
        0x13 => "COM_TABLE_DUMP",
        0x14 => "COM_CONNECT_OUT",
        0x15 => "COM_REGISTER_SLAVE",
        0x1d => "COM_DAEMON",
        0x1e => "COM_BINLOG_DUMP_GTID",
        _ => "unknown",
    }
}

/// Whether a diagnostics statement reads nothing but the diagnostics area (`SHOW WARNINGS`,
/// `SELECT @@warning_count`), so the connection holding the area can answer it alone; a select list
/// that also reads other session state (`@@in_transaction`, `@a`) cannot run there.
fn reads_only_diagnostics(lexed: &sluice_router::lexer::Lexed, server_variables: bool) -> bool {
    lexed.first_keyword != "select"
        || lexed.text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').all(|w| {
            !w.starts_with('@')
                || sluice_router::classify::is_diagnostics_var(w)
                || (server_variables && w.starts_with("@@"))
        })
}
