//! Statement classification from the lexer's normalized text: where a statement may run (primary,
//! replica, the session's last backend, or sluice itself), whether its result may be cached, and what it
//! does to the session (transactions, locks, user variables, diagnostics, session state). Conservative:
//! anything unknown goes to the primary uncached, because a write sent to a replica is worse than a read
//! sent to the primary.

use crate::lexer::Lexed;

mod effects;

pub use effects::is_diagnostics_var;
mod functions;

use functions::{LAST_FUNCTIONS, NONDETERMINISTIC, PRIMARY_FUNCTIONS};

/// Where a statement runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Target {
    /// The primary (writes, locking reads, anything not provably read-only).
    #[default]
    Primary,
    /// A healthy replica (falling back to the primary).
    Replica,
    /// The backend connection that ran the session's previous statement (LAST_INSERT_ID(), ROW_COUNT(),
    /// SHOW WARNINGS, @@warning_count…).
    Last,
    /// Answered or rewritten by sluice itself (CONNECTION_ID(), KILL).
    Sluice,
}

/// Transaction control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    /// BEGIN, START TRANSACTION, XA START.
    Begin,
    /// COMMIT, XA COMMIT.
    Commit,
    /// ROLLBACK (not TO SAVEPOINT), XA ROLLBACK.
    Rollback,
    /// SAVEPOINT, ROLLBACK TO, RELEASE SAVEPOINT: inside a transaction, no change of state.
    Savepoint,
}

/// A lock or handle that lives on the backend connection after the statement, until a later statement
/// (or the connection's end) releases it: the session must keep that connection meanwhile. Opening and
/// closing are separate values so the proxy can keep its own count; whether a statement succeeded is
/// the proxy's to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLock {
    /// `LOCK TABLE(S) …`, `FLUSH TABLES [t, …] WITH READ LOCK`, `FLUSH TABLES t FOR EXPORT`: held until
    /// `UNLOCK TABLES` ([`SessionLock::CloseTables`]). A new `LOCK TABLES` first releases the old ones;
    /// `BEGIN`/`START TRANSACTION` releases `LOCK TABLES` (not the FLUSH forms).
    OpenTables,
    /// `UNLOCK TABLE(S)`: releases every [`SessionLock::OpenTables`] lock, LOCK TABLES and FLUSH alike.
    CloseTables,
    /// `HANDLER t OPEN [AS h]`: handler `h` (or `t`) stays open until `HANDLER h CLOSE`.
    OpenHandler,
    /// `HANDLER h READ …`: reads through a handler opened earlier on the same connection; opens and
    /// closes nothing.
    UseHandler,
    /// `HANDLER h CLOSE`: closes one handler.
    CloseHandler,
    /// `LOCK INSTANCE FOR BACKUP` (MySQL), `BACKUP STAGE START|FLUSH|BLOCK_DDL|BLOCK_COMMIT` and
    /// `BACKUP LOCK t` (MariaDB): held until [`SessionLock::CloseBackup`].
    OpenBackup,
    /// `UNLOCK INSTANCE` (MySQL), `BACKUP STAGE END` and `BACKUP UNLOCK` (MariaDB). MariaDB's `BACKUP
    /// LOCK` and `BACKUP STAGE` are independent: `BACKUP UNLOCK` ends the first, `BACKUP STAGE END` the
    /// second.
    CloseBackup,
    /// The statement calls `GET_LOCK(`, `RELEASE_LOCK(` or `RELEASE_ALL_LOCKS(`: whether a named lock is
    /// held afterwards depends on the arguments and the results, which the proxy tracks.
    NamedLocks,
}

/// What a statement does to the session's `FOUND_ROWS()` when it succeeds (a failed statement leaves
/// it alone). Measured on MariaDB 10.11: a SELECT and the SHOW forms the server runs as a SELECT on
/// information_schema set it to the rows sent; `SELECT … INTO` to the rows it selected; `EXPLAIN` of a
/// statement with tables, SHOW WARNINGS, SHOW CREATE …, SHOW PROCESSLIST, DML, SET and the rest leave
/// it alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FoundRows {
    /// Leaves it as the previous statement left it.
    #[default]
    Keeps,
    /// Sets it to the number of rows of its result set.
    Sets,
    /// Sets it to the OK packet's affected rows (`SELECT … FROM … INTO @v`, `INTO OUTFILE`).
    Affected,
    /// Sets it to 0 (`SELECT 1 INTO @v` and `EXPLAIN` of a statement without tables).
    Zero,
    /// Sets it to a value only the connection that ran it knows (`SELECT SQL_CALC_FOUND_ROWS`, `CALL`,
    /// `ANALYZE SELECT`, SQL `EXECUTE`, SHOW forms not listed, multi-statements).
    Unknown,
}

/// What sluice knows about a statement before running it. [`Default`] is the conservative class: a
/// write on the primary, uncached, with no known effect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Class {
    /// Where it runs.
    pub target: Target,
    /// Whether its result may be stored by the cache (when a rule makes its tables cacheable).
    pub cacheable: bool,
    /// A read: SELECT, SHOW, DESCRIBE, EXPLAIN… (false for anything that may write, and for reads that
    /// assign user variables, which must run where the session's later statements run).
    pub read_only: bool,
    /// Takes row or table locks (FOR UPDATE, LOCK IN SHARE MODE, LOCK TABLES, GET_LOCK, HANDLER…).
    pub locks: bool,
    /// Transaction control, if any.
    pub tx: Option<Tx>,
    /// Changes session state (SET, USE, temporary tables, user variables, PREPARE…): pins the session.
    pub session_state: bool,
    /// Assigns a user variable (`@a := …`, `SET @a = …`, `SELECT … INTO @a, @b`, `GET DIAGNOSTICS @n =
    /// …`): runs on the primary (or, reading the previous statement's diagnostics, on the last
    /// connection), never cached; the session needs that connection for its later statements.
    pub assigns_user_vars: bool,
    /// Reads a user variable (`SELECT @a`, `WHERE v = @a`): never cached, since the value is the
    /// session's. `@@system` variables are not user variables.
    pub reads_user_vars: bool,
    /// Reads the previous statement's diagnostics (`SHOW WARNINGS|ERRORS`, `SHOW COUNT(*) WARNINGS`,
    /// `@@warning_count`, `@@error_count`, `GET [CURRENT|STACKED] DIAGNOSTICS`): answered only by the
    /// connection that ran that statement ([`Target::Last`]), which must not have run anything since.
    pub diagnostics: bool,
    /// A lock or handle this statement opens, uses or closes on its connection.
    pub session_lock: Option<SessionLock>,
    /// The text holds more than one statement. It runs on the primary as a whole; the other fields sum
    /// up its statements (`locks`, `session_state`, `assigns_user_vars`, `reads_user_vars`: any of them;
    /// `session_lock`: the last one that has one; `diagnostics`: the first statement's, the only one that
    /// sees the previous statement's; `tx`: none, since the server's status tells the outcome).
    pub multi_statement: bool,
    /// What it does to `FOUND_ROWS()`.
    pub found_rows: FoundRows,
    /// The text may hold a password literal (`IDENTIFIED BY '…'`, `PASSWORD('…')`…): statement
    /// samples, the slow log and capture mask it ([`crate::lexer::mask_secrets`]). Decided once per
    /// digest, so other statements pay nothing.
    pub may_hold_secret: bool,
    /// `START TRANSACTION READ ONLY`: the transaction may run on a replica.
    pub read_only_transaction: bool,
    /// A `/* sluice: replica */` hint on a read that may run on a replica: a replica even where the
    /// read would go to the primary (a server-specific SHOW, read-your-writes).
    pub replica_hint: bool,
    /// Tables, from the full parse (empty from the lexer alone: [`crate::plan_cache::PlanCache`] fills them).
    pub tables: Tables,
}

/// The tables of a statement, from [`crate::analyze`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    /// Whether sqlparser read the statement (false: the lists are empty because nothing is known).
    pub parsed: bool,
    /// Read and not written.
    pub read: std::sync::Arc<[String]>,
    /// Written.
    pub written: std::sync::Arc<[String]>,
    /// The shape over sharded tables, when the statement names one (see [`crate::shard`]).
    pub shard: Option<std::sync::Arc<crate::shard::shape::ShardShape>>,
}

/// Classifies a lexed statement (a multi-statement text as a whole: see [`Class::multi_statement`]).
pub fn classify(l: &Lexed) -> Class {
    let mut c = classify_unhinted(l);
    apply_hints(&mut c, &l.hints);
    c
}

/// [`classify`] without the hints: what the plan cache keeps per digest.
pub fn classify_unhinted(l: &Lexed) -> Class {
    let mut c = if l.statements.len() > 1 { multi_statement(&l.text) } else { classify_one(&l.text) };
    c.may_hold_secret = crate::lexer::may_hold_secret(&l.text);
    c
}

/// A multi-statement text: the primary, uncached, not a read (as a whole it may write, and the proxy
/// invalidates for it), with the effects of its statements summed up.
fn multi_statement(text: &str) -> Class {
    let mut c = Class { multi_statement: true, ..primary(false) };
    for (i, part) in effects::split_statements(text).into_iter().enumerate() {
        let p = classify_one(part);
        c.locks |= p.locks;
        c.session_state |= p.session_state;
        c.assigns_user_vars |= p.assigns_user_vars;
        c.reads_user_vars |= p.reads_user_vars;
        if i == 0 {
            c.diagnostics = p.diagnostics;
        }
        if p.session_lock.is_some() {
            c.session_lock = p.session_lock;
        }
        // The last statement that sets FOUND_ROWS() decides; its value only the server knows.
        if p.found_rows != FoundRows::Keeps {
            c.found_rows = FoundRows::Unknown;
        }
    }
    c
}

/// One statement's normalized text.
fn classify_one(text: &str) -> Class {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let toks = effects::tokens(text);
    let first = words.first().copied().unwrap_or("");
    let vars = effects::user_vars(&toks, first);
    let mut c = primary(false);
    match first {
        // `TABLE t` and `VALUES ROW(…)` (MySQL 8) are queries like SELECT.
        "select" | "with" | "table" | "values" => c = classify_select(text, &words, &toks, vars),
        "show" if effects::is_diagnostics_statement(&toks) => c = diagnostics(),
        "get" if effects::is_diagnostics_statement(&toks) => c = diagnostics(),
        "show" => {
            let server_specific = words.iter().skip(1).take(2).any(|w| {
                matches!(
                    *w,
                    "processlist"
                        | "master"
                        | "slave"
                        | "replica"
                        | "binary"
                        | "binlog"
                        | "engine"
                        | "status"
                )
            });
            c = if server_specific { read(Target::Primary, false) } else { read(Target::Replica, false) };
        }
        "describe" | "desc" | "explain" => {
            // EXPLAIN ANALYZE / ANALYZE run the statement; plain EXPLAIN does not.
            c = if words.get(1) == Some(&"analyze") { primary(false) } else { read(Target::Replica, false) };
        }
        "begin" | "start" if first == "begin" || words.get(1) == Some(&"transaction") => {
            let read_only_transaction = first == "start" && text.contains("read only");
            c = Class { tx: Some(Tx::Begin), read_only_transaction, ..primary(false) };
        }
        "commit" => c = Class { tx: Some(Tx::Commit), ..primary(false) },
        "rollback" => {
            let to = words.get(1).is_some_and(|w| *w == "to") || words.get(2).is_some_and(|w| *w == "to");
            c = Class { tx: Some(if to { Tx::Savepoint } else { Tx::Rollback }), ..primary(false) };
        }
        "savepoint" | "release" => c = Class { tx: Some(Tx::Savepoint), ..primary(false) },
        "xa" => {
            let tx = match words.get(1).copied() {
                Some("start" | "begin") => Some(Tx::Begin),
                Some("commit") => Some(Tx::Commit),
                Some("rollback") => Some(Tx::Rollback),
                _ => None,
            };
            c = Class { tx, ..primary(false) };
        }
        "kill" => c = Class { target: Target::Sluice, ..primary(false) },
        "lock" | "unlock" | "handler" | "backup" => c = primary(true),
        "flush" => c = primary(text.contains(" with read lock") || text.ends_with(" for export")),
        "set" => {
            // SET PASSWORD and SET STATEMENT … FOR <write> are statements on the primary; other SETs
            // change the session. `SET @w = @@warning_count` and `SET @n = ROW_COUNT()` read what only
            // the previous statement's connection knows (unless a stored function, which may write,
            // keeps the statement on the primary).
            let password = words.get(1) == Some(&"password");
            let statement_for = words.get(1) == Some(&"statement");
            c = Class { session_state: !password && !statement_for, ..primary(false) };
            let plain = !password && !statement_for && !functions::calls_stored_function(text);
            if plain && words.iter().any(|w| effects::is_diagnostics_var(w)) {
                c = Class { session_state: true, ..diagnostics() };
            } else if plain && LAST_FUNCTIONS.iter().any(|f| functions::calls_builtin(text, f)) {
                c = Class { session_state: true, ..read(Target::Last, false) };
            }
        }
        "use" | "prepare" | "execute" | "deallocate" => c = Class { session_state: true, ..primary(false) },
        "create" => {
            let temporary = words.get(1) == Some(&"temporary");
            c = Class { session_state: temporary, ..primary(false) };
        }
        _ => {}
    }
    c.found_rows = effects::found_rows(&toks);
    c.session_lock = effects::session_lock(&toks, text);
    if c.session_lock.is_some() {
        c.locks = true;
        c.cacheable = false;
        if c.target == Target::Replica {
            c.target = Target::Primary;
        }
    }
    c.reads_user_vars = vars.reads;
    c.assigns_user_vars = vars.assigns;
    if vars.reads {
        c.cacheable = false;
    }
    if vars.assigns {
        // The variable must live where the session's next statements run: the primary, or the last
        // connection when the value comes from there (diagnostics, LAST_INSERT_ID()…). Not a read, so
        // that no `[[rules]]` entry or retry moves it elsewhere.
        c.cacheable = false;
        c.session_state = true;
        if c.target == Target::Replica {
            c.target = Target::Primary;
        }
        if c.target != Target::Last {
            c.read_only = false;
        }
    }
    c
}

/// What `/* sluice: … */` hints change in a class. Hints are not part of the digest, so the plan cache
/// applies them after a hit too.
pub fn apply_hints(c: &mut Class, hints: &crate::lexer::Hints) {
    if hints.has("primary") {
        c.target = Target::Primary;
        c.cacheable = false;
    } else if hints.has("replica") {
        c.replica_hint = may_read_on_a_replica(c);
    }
    if hints.has("nocache") {
        c.cacheable = false;
    }
}

/// A read that a hint or a rule may send to a replica: read-only, no locks, nothing that must run on
/// the previous statement's connection or in sluice, no session state.
pub fn may_read_on_a_replica(c: &Class) -> bool {
    c.read_only
        && !c.locks
        && !c.session_state
        && !c.assigns_user_vars
        && !c.multi_statement
        && matches!(c.target, Target::Replica | Target::Primary)
}

fn primary(locks: bool) -> Class {
    Class { target: Target::Primary, locks, ..Class::default() }
}

fn read(target: Target, cacheable: bool) -> Class {
    Class { target, cacheable, read_only: true, ..Class::default() }
}

/// A read of the previous statement's diagnostics.
fn diagnostics() -> Class {
    Class { diagnostics: true, ..read(Target::Last, false) }
}

fn classify_select(text: &str, words: &[&str], toks: &[&str], vars: effects::UserVars) -> Class {
    let has = |w: &str| words.contains(&w);
    let call = |f: &str| text.contains(&format!("{f} ("));
    if effects::with_is_write(toks) {
        return primary(false);
    }
    // FOR UPDATE, LOCK IN SHARE MODE and MySQL 8's FOR SHARE (with OF t, NOWAIT, SKIP LOCKED).
    let locking =
        text.contains(" for update") || text.contains(" lock in share mode") || text.contains(" for share");
    // Writes a file on the server (the INTO may also follow a locking clause): never a read.
    if words.windows(2).any(|w| w[0] == "into" && (w[1] == "outfile" || w[1] == "dumpfile")) {
        return primary(locking);
    }
    if locking {
        return read_locking();
    }
    if PRIMARY_FUNCTIONS.iter().any(|f| call(f))
        || text.contains("next value for")
        || text.contains("previous value for")
    {
        return Class { locks: PRIMARY_FUNCTIONS[..5].iter().any(|f| call(f)), ..primary(false) };
    }
    if call("connection_id") {
        return Class { target: Target::Sluice, ..read(Target::Sluice, false) };
    }
    // A call to anything that is not a built-in is a stored function: it may write.
    if functions::calls_stored_function(text) {
        return primary(false);
    }
    if words.iter().any(|w| effects::is_diagnostics_var(w)) {
        return diagnostics();
    }
    if LAST_FUNCTIONS.iter().any(|f| call(f)) || has("@@identity") || has("@@last_insert_id") {
        return read(Target::Last, false);
    }
    if vars.assigns {
        return Class { session_state: true, ..primary(false) };
    }
    if text.contains("information_schema.processlist") || text.contains("performance_schema.") {
        return read(Target::Primary, false);
    }
    // `TABLE t` names its table without FROM.
    let no_table = words.first() != Some(&"table") && (!has("from") || text.contains("from dual"));
    let nondeterministic = NONDETERMINISTIC.iter().any(|f| call(f) || has(f))
        || words.iter().any(|w| w.starts_with('@'))
        || vars.reads
        || text.contains("information_schema.")
        || has("sql_no_cache")
        // Its FOUND_ROWS() must come from a server (a cache hit has none to read back).
        || has("sql_calc_found_rows");
    read(Target::Replica, !(no_table || nondeterministic))
}

fn read_locking() -> Class {
    Class { locks: true, ..read(Target::Primary, false) }
}

#[cfg(test)]
mod tests;
