//! The routing decision: a pure function of the statement's class, the session's state and the
//! topology snapshot. The session executes the route; nothing here does I/O or blocks.

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
}

/// The decision, with the reason shown by `SHOW LAST ROUTE` and counted in stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Where.
    pub destination: Destination,
    /// Whether the result may go to / come from the cache.
    pub cacheable: bool,
    /// Why, in a few words.
    pub reason: &'static str,
}

/// Decides where a statement of class `class` runs. `turn` is a per-group counter the caller increments
/// (round-robin and weighted picks read it), so the function stays pure.
pub fn route(class: &Class, session: &SessionView, topo: &Topology, turn: u64) -> Route {
    let to = |destination, cacheable, reason| Route { destination, cacheable, reason };
    match class.target {
        Target::Sluice => return to(Destination::Sluice, false, "answered by sluice"),
        Target::Last if session.has_last => {
            return to(Destination::Last, false, "needs the previous connection");
        }
        _ => {}
    }
    if session.pinned {
        return to(Destination::Pinned, false, "session pinned");
    }
    if session.in_transaction || !session.autocommit {
        return to(Destination::Primary, false, "in a transaction");
    }
    if class.target != Target::Replica {
        return to(Destination::Primary, false, "write or locking statement");
    }
    match pick_replica(topo, turn) {
        Some(i) => to(Destination::Replica(i), class.cacheable, "read"),
        None => to(Destination::Primary, class.cacheable, "read; no healthy replica within max lag"),
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
