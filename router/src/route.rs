//! The routing decision: a pure function of the statement's class, the session's state, the
//! topology snapshot and the routing policy. The session executes the route; nothing here does I/O
//! or blocks. Everything that decides where a statement runs is here: pins and the previous
//! connection, transactions, READ ONLY transactions, hints (`backend=`, `replica`), the read/write
//! split, read-your-writes, balancing and the fallback when no replica qualifies.

use std::time::Duration;

use crate::classify::{Class, Target};

/// What routing needs to know about the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionView {
    /// A transaction is open (from the server's status flags; BEGIN only predicts it).
    pub in_transaction: bool,
    /// autocommit is on. With it off, every statement opens a transaction.
    pub autocommit: bool,
    /// The session is pinned to one backend connection (temp table, lock, user variable…).
    pub pinned: bool,
    /// The session ran a statement before (so "the last backend" exists).
    pub has_last: bool,
    /// The session's last write, for read-your-writes.
    pub last_write: Option<LastWrite>,
}

/// A session's last write as read-your-writes sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastWrite {
    /// How long ago it completed.
    pub age: Duration,
    /// Whether its GTID is known (replicas can then be checked for it).
    pub gtid_known: bool,
}

/// Read-your-writes: where a session that wrote recently reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReadYourWrites {
    /// Replicas that have applied the write's GTID (the caller waits for it there); the primary for
    /// [`GTID_UNKNOWN_WINDOW`] when the write's GTID is unknown.
    #[default]
    Gtid,
    /// The primary for this long after a write.
    PrimaryWindow(Duration),
    /// No guarantee.
    Off,
}

/// How long a session reads from the primary after a write whose GTID is unknown (no binlog?).
pub const GTID_UNKNOWN_WINDOW: Duration = Duration::from_secs(1);

/// The operator's routing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Reads go to replicas at all.
    pub read_write_split: bool,
    /// Read-your-writes mode.
    pub read_your_writes: ReadYourWrites,
    /// No replica qualifies for a read: refuse it ([`Destination::Unavailable`]) instead of reading
    /// from the primary.
    pub refuse_without_replica: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self { read_write_split: true, read_your_writes: ReadYourWrites::Gtid, refuse_without_replica: false }
    }
}

/// One statement to route.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its class (hints applied).
    pub class: &'a Class,
    /// The session.
    pub session: SessionView,
    /// A `/* sluice: backend=… */` hint naming a member of the group: its member index.
    pub backend_hint: Option<usize>,
}

impl SessionView {
    /// A fresh autocommit session.
    pub fn autocommit() -> Self {
        Self { autocommit: true, ..Self::default() }
    }
}

/// One replica as the health monitor last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaView {
    /// Index in the group's member list.
    pub index: usize,
    /// Answering health checks.
    pub healthy: bool,
    /// Replication lag; `None` when unknown (replication stopped): not used for reads.
    pub lag_ms: Option<u64>,
    /// Relative share of reads.
    pub weight: u32,
    /// Connections to this replica in use now (least-connections balancing). The caller fills it at
    /// routing time, e.g. from its pools' borrowed counts; a routing snapshot taken by the health monitor
    /// is too old for it.
    pub in_use: u32,
    /// Drained by an operator (`SET backend … OFFLINE`).
    pub offline: bool,
}

/// How reads spread over replicas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Balance {
    /// In turn.
    #[default]
    RoundRobin,
    /// In proportion to weights.
    Weighted,
    /// To the replica with the fewest connections in use ([`ReplicaView::in_use`]); ties in turn.
    LeastConnections,
}

/// The group's state for routing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    /// Replicas of the group.
    pub replicas: Vec<ReplicaView>,
    /// Replicas lagging more than this are skipped.
    pub max_lag_ms: u64,
    /// Balancing policy.
    pub balance: Balance,
}

/// Where one statement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The primary.
    Primary,
    /// The replica with this member index.
    Replica(usize),
    /// The session's pinned connection.
    Pinned,
    /// The backend connection of the session's previous statement.
    Last,
    /// sluice answers.
    Sluice,
    /// The member a `backend=` hint names.
    Member(usize),
    /// No replica qualifies and the policy refuses to read from the primary instead.
    Unavailable,
}

/// Why a statement goes where it goes: shown by `SHOW LAST ROUTE`, counted in stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// sluice answers it.
    Sluice,
    /// It reads what only the previous statement's connection knows.
    PreviousConnection,
    /// The session is pinned to its connection.
    Pinned,
    /// A transaction is open, or autocommit is off.
    InTransaction,
    /// It may write or lock.
    WriteOrLocking,
    /// A read, on a replica.
    Read,
    /// A read, on the primary because the read/write split is off.
    SplitOff,
    /// `START TRANSACTION READ ONLY`, on a replica.
    ReadOnlyTransaction,
    /// A read, on the primary: no replica is healthy and within the lag limit.
    NoReplica,
    /// A read, on the primary: the session wrote within the read-your-writes window.
    ReadYourWritesWindow,
    /// A read, on the primary: the session's last write has no known GTID.
    ReadYourWritesGtidUnknown,
    /// A `/* sluice: backend=… */` hint.
    BackendHint,
    /// A `/* sluice: replica */` hint (or a `[[rules]]` replica target): a read that would have gone
    /// to the primary, on a replica, read-your-writes waived.
    ReplicaHint,
}

impl Reason {
    /// The words `SHOW LAST ROUTE` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Sluice => "answered by sluice",
            Reason::PreviousConnection => "needs the previous connection",
            Reason::Pinned => "session pinned",
            Reason::InTransaction => "in a transaction",
            Reason::WriteOrLocking => "write or locking statement",
            Reason::Read => "read",
            Reason::SplitOff => "read; read_write_split is off",
            Reason::ReadOnlyTransaction => "read-only transaction",
            Reason::NoReplica => "read; no healthy replica within max lag",
            Reason::ReadYourWritesWindow => "read-your-writes window",
            Reason::ReadYourWritesGtidUnknown => "read-your-writes (write GTID unknown)",
            Reason::BackendHint => "hint backend=",
            Reason::ReplicaHint => "hint replica",
        }
    }
}

/// The decision, with the reason shown by `SHOW LAST ROUTE` and counted in stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Where.
    pub destination: Destination,
    /// Whether the result may go to / come from the cache.
    pub cacheable: bool,
    /// Why.
    pub reason: Reason,
}

/// Decides where a statement runs. `turn` gives a per-group counter (round-robin and weighted picks
/// read it; called only when a replica is picked), so the function stays pure.
pub fn route(req: &Request<'_>, topo: &Topology, policy: &Policy, turn: impl FnOnce() -> u64) -> Route {
    let to = |destination, cacheable, reason| Route { destination, cacheable, reason };
    let (class, session) = (req.class, &req.session);
    match class.target {
        Target::Sluice => return to(Destination::Sluice, false, Reason::Sluice),
        Target::Last if session.has_last => {
            return to(Destination::Last, false, Reason::PreviousConnection);
        }
        _ => {}
    }
    if session.pinned {
        return to(Destination::Pinned, false, Reason::Pinned);
    }
    if let Some(i) = req.backend_hint {
        return to(Destination::Member(i), false, Reason::BackendHint);
    }
    if session.in_transaction || !session.autocommit {
        return to(Destination::Primary, false, Reason::InTransaction);
    }
    let read_only_tx = class.read_only_transaction;
    let hinted = class.replica_hint && !read_only_tx;
    if class.target != Target::Replica && !read_only_tx && !hinted {
        return to(Destination::Primary, false, Reason::WriteOrLocking);
    }
    let cacheable = class.cacheable && !read_only_tx;
    if !policy.read_write_split {
        return to(
            Destination::Primary,
            cacheable,
            if read_only_tx { Reason::ReadOnlyTransaction } else { Reason::SplitOff },
        );
    }
    if let Some(w) = session.last_write.filter(|_| !hinted) {
        match policy.read_your_writes {
            ReadYourWrites::PrimaryWindow(window) if w.age < window => {
                return to(Destination::Primary, cacheable, Reason::ReadYourWritesWindow);
            }
            ReadYourWrites::Gtid if !w.gtid_known && w.age < GTID_UNKNOWN_WINDOW => {
                return to(Destination::Primary, cacheable, Reason::ReadYourWritesGtidUnknown);
            }
            _ => {}
        }
    }
    let reason = if read_only_tx {
        Reason::ReadOnlyTransaction
    } else if hinted {
        Reason::ReplicaHint
    } else {
        Reason::Read
    };
    match pick_replica(topo, turn()) {
        Some(i) => to(Destination::Replica(i), cacheable, reason),
        None if policy.refuse_without_replica => to(Destination::Unavailable, false, Reason::NoReplica),
        None => to(Destination::Primary, cacheable, Reason::NoReplica),
    }
}

/// The replica to read from, by the topology's policy; `None` if none is usable.
pub fn pick_replica(topo: &Topology, turn: u64) -> Option<usize> {
    let usable = |r: &&ReplicaView| {
        r.healthy && !r.offline && r.weight > 0 && r.lag_ms.is_some_and(|lag| lag <= topo.max_lag_ms)
    };
    match topo.balance {
        Balance::RoundRobin => {
            let n = topo.replicas.iter().filter(usable).count() as u64;
            if n == 0 {
                return None;
            }
            topo.replicas.iter().filter(usable).nth((turn % n) as usize).map(|r| r.index)
        }
        Balance::Weighted => {
            let total: u64 = topo.replicas.iter().filter(usable).map(|r| u64::from(r.weight)).sum();
            if total == 0 {
                return None;
            }
            let mut at = turn % total;
            for r in topo.replicas.iter().filter(usable) {
                let w = u64::from(r.weight);
                if at < w {
                    return Some(r.index);
                }
                at -= w;
            }
            None
        }
        Balance::LeastConnections => {
            // The fewest in use wins; ties take turns, so equal counts (all idle, or counts the caller
            // did not fill) spread like round-robin instead of piling onto the first replica.
            let least = topo.replicas.iter().filter(usable).map(|r| r.in_use).min()?;
            let tied = || topo.replicas.iter().filter(usable).filter(move |r| r.in_use == least);
            let n = tied().count() as u64;
            tied().nth((turn % n) as usize).map(|r| r.index)
        }
    }
}

#[cfg(test)]
mod tests;
