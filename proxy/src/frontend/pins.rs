//! Why a session keeps its backend connection between statements. Every pin has a named reason,
//! counted, and shown by `SHOW LAST ROUTE` (and the admin interface). Without a pin a session borrows a
//! connection per statement and gives it back clean. Also the registry of live sessions (admin `SHOW
//! SESSIONS`, `KILL`). Below `session` and `state`: the state owns the counters and the registry, the
//! sessions fill them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// One reason to stay on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Pin {
    /// A transaction is open (server status IN_TRANS).
    Transaction = 0,
    /// `LOCK TABLES` until `UNLOCK TABLES`.
    LockTables,
    /// `GET_LOCK()`: named locks belong to the connection (until `RELEASE_ALL_LOCKS()`).
    GetLock,
    /// `CREATE TEMPORARY TABLE`.
    TempTable,
    /// A user variable was set (`SET @x`, `SELECT … INTO @x`, `@x :=`).
    UserVariable,
    /// Text `PREPARE` (the statement lives on the connection).
    Prepare,
    /// `SET` of a variable sluice does not track.
    UntrackedSet,
    /// The server reported another session change sluice cannot replay.
    SessionState,
    /// A prepared statement's cursor is open (COM_STMT_FETCH).
    Cursor,
    /// COM_STMT_SEND_LONG_DATA was sent; the EXECUTE must follow on the same connection.
    LongData,
    /// A multi-statement ran: sluice cannot tell what its later statements left on the connection
    /// (locks, variables), so the session keeps it to the end.
    MultiStatement,
    /// `HANDLER … OPEN` until its `HANDLER … CLOSE`.
    Handler,
    /// A backup lock (`LOCK INSTANCE FOR BACKUP`, `BACKUP STAGE`, `BACKUP LOCK`) until it is released.
    Backup,
    /// The last statement left warnings or an error: `SHOW WARNINGS`, `@@warning_count`… read them on
    /// its connection until a statement that uses a table clears them (statements without tables,
    /// such as `SET` or `BEGIN`, do not). Ends early when a statement must run elsewhere, or after
    /// `[pool] hold_diagnostics_ms` idle.
    Diagnostics,
    /// MariaDB: `SET autocommit = 1` ended a READ ONLY transaction, and the session refuses data
    /// changes (ERR 1792, where a row would change) until COMMIT, ROLLBACK, BEGIN or a statement that
    /// commits implicitly: kept on a primary connection in that same state, so the server decides.
    ReadOnlyLeftover,
    /// MariaDB, the other way round: `SET autocommit = 1` ended a read-write transaction after
    /// `SET SESSION tx_read_only = 1`, and the connection's transactions stay read-write until COMMIT,
    /// ROLLBACK, BEGIN or a statement that commits implicitly: kept on that connection.
    ReadWriteLeftover,
    /// `SET TRANSACTION …` without SESSION (or `SET @@tx_isolation = …`, `@@transaction_read_only`…
    /// without a scope) set the characteristics of the connection's next transaction only, and the
    /// server keeps them until a transaction uses them: statements without transactional tables and
    /// failed ones do not, nor does a transaction that `SET autocommit = 1` ends (measured on
    /// MariaDB 10.11 and MySQL 9.7). Also after such a transaction when the session changed its
    /// isolation level inside it: the connection's next transaction runs at the old one. Kept on that
    /// connection until COMMIT, ROLLBACK or a statement that commits implicitly succeeds.
    NextTransaction,
    /// With autocommit off, a statement on a table holds the table's metadata locks until the
    /// transaction ends, even when it failed or used no transactional table so that the server reports
    /// no transaction (measured on MariaDB 10.11 and MySQL 9.7: after `SET autocommit = 0; SELECT nope
    /// FROM t` another connection's `ALTER TABLE t` waits). Kept on that connection until COMMIT,
    /// ROLLBACK, an implicit commit or `SET autocommit = 1` succeeds; reset if the session ends first.
    MetadataLocks,
}

/// Every reason, in order.
pub const ALL: [Pin; 18] = [
    Pin::Transaction,
    Pin::LockTables,
    Pin::GetLock,
    Pin::TempTable,
    Pin::UserVariable,
    Pin::Prepare,
    Pin::UntrackedSet,
    Pin::SessionState,
    Pin::Cursor,
    Pin::LongData,
    Pin::MultiStatement,
    Pin::Handler,
    Pin::Backup,
    Pin::Diagnostics,
    Pin::ReadOnlyLeftover,
    Pin::ReadWriteLeftover,
    Pin::NextTransaction,
    Pin::MetadataLocks,
];

impl Pin {
    /// The reason's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Transaction => "transaction",
            Self::LockTables => "lock_tables",
            Self::GetLock => "get_lock",
            Self::TempTable => "temp_table",
            Self::UserVariable => "user_variable",
            Self::Prepare => "prepare",
            Self::UntrackedSet => "untracked_set",
            Self::SessionState => "session_state",
            Self::Cursor => "cursor",
            Self::LongData => "long_data",
            Self::MultiStatement => "multi_statement",
            Self::Handler => "handler",
            Self::Backup => "backup",
            Self::Diagnostics => "diagnostics",
            Self::ReadOnlyLeftover => "read_only_leftover",
            Self::ReadWriteLeftover => "read_write_leftover",
            Self::NextTransaction => "next_transaction",
            Self::MetadataLocks => "metadata_locks",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

/// A set of pins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pins(u32);

impl Pins {
    /// Whether any pin holds.
    pub fn any(self) -> bool {
        self.0 != 0
    }

    /// Whether `p` holds.
    pub fn has(self, p: Pin) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`; returns whether it is new.
    pub fn add(&mut self, p: Pin) -> bool {
        let new = !self.has(p);
        self.0 |= p.bit();
        new
    }

    /// Removes `p`.
    pub fn remove(&mut self, p: Pin) {
        self.0 &= !p.bit();
    }

    /// Whether only pins that end cleanly (transaction, cursor, long data, diagnostics) hold: the connection can go back
    /// to the pool without a reset once they end.
    pub fn only_clean(self) -> bool {
        self.0 & !(Pin::Transaction.bit() | Pin::Cursor.bit() | Pin::LongData.bit() | Pin::Diagnostics.bit())
            == 0
    }

    /// Whether `p` is the only pin.
    pub fn is_only(self, p: Pin) -> bool {
        self.0 == p.bit()
    }

    /// The set as bits (for per-digest aggregates: [`Pins::from_bits`]).
    pub fn bits(self) -> u32 {
        self.0
    }

    /// A set from [`Pins::bits`].
    pub fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// Names of the pins held, comma-separated (empty when none).
    pub fn names(self) -> String {
        ALL.iter().filter(|p| self.has(**p)).map(|p| p.name()).collect::<Vec<_>>().join(",")
    }
}

/// Server-side objects a session created that keep it pinned until they are gone.
#[derive(Debug, Default)]
pub struct SessionObjects {
    /// Temporary tables, as `schema.name` (the schema current when the name was unqualified).
    pub temp_tables: std::collections::HashSet<String>,
    /// Text-protocol prepared statements (`PREPARE name FROM …`), by lower-case name, with what their
    /// EXECUTE does to `FOUND_ROWS()` when the statement was a plain literal (`None`: from a variable
    /// or a literal sluice does not read).
    pub prepared: HashMap<String, Option<sluice_router::classify::FoundRows>>,
    /// Named locks taken with a literal name, with how many times each (locks nest; each
    /// RELEASE_LOCK of the name takes one away).
    pub locks: HashMap<Vec<u8>, u32>,
    /// A GET_LOCK whose name sluice could not read (an expression): only RELEASE_ALL_LOCKS (or the
    /// end of the session) is known to free it.
    pub locks_unknown: bool,
    /// Open `HANDLER` names.
    pub handlers: std::collections::HashSet<String>,
}

/// Pins taken since start, by reason.
#[derive(Debug, Default)]
pub struct PinCounters([AtomicU64; ALL.len()]);

impl PinCounters {
    /// Counts one pin taken.
    pub fn count(&self, p: Pin) {
        self.0[p as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// `(reason, count)` for every reason.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        ALL.iter().map(|p| (p.name(), self.0[*p as usize].load(Ordering::Relaxed))).collect()
    }
}

/// What other sessions (KILL) and the admin interface can see of a session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Client user (COM_CHANGE_USER replaces it: see [`SessionHandle::user`]).
    user: Mutex<Arc<str>>,
    /// Client address (the PROXY header's, when `[server] proxy_protocol` is on).
    pub client: std::net::SocketAddr,
    /// The backend member and server thread id running this session's statement now.
    pub running: tokio::sync::Mutex<Option<(crate::backend::member::MemberId, u32)>>,
    /// Cancelled by `KILL CONNECTION`: the session closes after its statement.
    pub kill: CancellationToken,
}

impl SessionHandle {
    /// The session's user now (SHOW SESSIONS, KILL's owner check).
    pub fn user(&self) -> Arc<str> {
        match self.user.lock() {
            Ok(u) => u.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After a successful COM_CHANGE_USER.
    pub(crate) fn set_user(&self, name: &str) {
        let mut u = match self.user.lock() {
            Ok(u) => u,
            Err(poisoned) => poisoned.into_inner(),
        };
        *u = Arc::from(name);
    }
}

/// Live sessions by client connection id.
#[derive(Debug, Default)]
pub struct Registry(Mutex<HashMap<u32, Arc<SessionHandle>>>);

impl Registry {
    /// Registers a session; it is removed when the returned guard drops.
    pub fn register(
        &self,
        id: u32,
        user: &str,
        client: std::net::SocketAddr,
    ) -> (Arc<SessionHandle>, Registered<'_>) {
        let h = Arc::new(SessionHandle {
            user: Mutex::new(Arc::from(user)),
            client,
            running: tokio::sync::Mutex::new(None),
            kill: CancellationToken::new(),
        });
        if let Ok(mut m) = self.0.lock() {
            m.insert(id, h.clone());
        }
        (h, Registered { registry: self, id })
    }

    /// The session with client connection id `id`.
    pub fn get(&self, id: u32) -> Option<Arc<SessionHandle>> {
        self.0.lock().ok()?.get(&id).cloned()
    }

    /// Sessions now.
    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Every session, by id.
    pub fn list(&self) -> Vec<(u32, Arc<SessionHandle>)> {
        let mut v: Vec<_> =
            self.0.lock().map(|m| m.iter().map(|(k, h)| (*k, h.clone())).collect()).unwrap_or_default();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a session from the registry on drop.
pub struct Registered<'a> {
    registry: &'a Registry,
    id: u32,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.registry.0.lock() {
            m.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_add_remove_and_name() {
        let mut p = Pins::default();
        assert!(!p.any());
        assert!(p.add(Pin::Transaction));
        assert!(!p.add(Pin::Transaction));
        assert!(p.only_clean());
        p.add(Pin::TempTable);
        assert!(!p.only_clean());
        assert_eq!(p.names(), "transaction,temp_table");
        p.remove(Pin::Transaction);
        p.remove(Pin::TempTable);
        assert!(!p.any());
        let c = PinCounters::default();
        c.count(Pin::Cursor);
        assert!(c.snapshot().contains(&("cursor", 1)));
    }
}
