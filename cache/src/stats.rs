//! Cache counters (relaxed atomics; read by the admin interface and /metrics).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one cache.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Hits in L1.
    pub hits_l1: AtomicU64,
    /// Hits in L2.
    pub hits_l2: AtomicU64,
    /// Misses (after both levels).
    pub misses: AtomicU64,
    /// Entries stored in L1.
    pub stores: AtomicU64,
    /// L1 entries dropped because a table they read was written.
    pub stale: AtomicU64,
    /// L1 entries dropped at their TTL.
    pub expired: AtomicU64,
    /// Results not stored: larger than `max_entry_bytes`.
    pub too_large: AtomicU64,
    /// Results not stored: read on a replica that had not applied a read table's last write.
    pub replica_behind: AtomicU64,
    /// Sessions that waited for another's fetch of the same key.
    pub flight_waits: AtomicU64,
    /// Write invalidations.
    pub invalidations: AtomicU64,
    /// Lookups that refreshed an entry ahead of its TTL.
    pub refreshes: AtomicU64,
}

/// A copy of the counters and sizes.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    pub hits_l1: u64,
    pub hits_l2: u64,
    pub misses: u64,
    pub stores: u64,
    pub stale: u64,
    pub expired: u64,
    pub too_large: u64,
    pub replica_behind: u64,
    pub flight_waits: u64,
    pub invalidations: u64,
    pub refreshes: u64,
    /// L1 entries now.
    pub l1_entries: u64,
    /// L1 bytes now.
    pub l1_bytes: u64,
    /// L1 capacity.
    pub l1_capacity: u64,
    /// L1 evictions (capacity).
    pub l1_evictions: u64,
    /// L2 configured.
    pub l2_configured: bool,
    /// L2 in use now.
    pub l2_up: bool,
    /// L2 errors and timeouts.
    pub l2_errors: u64,
}

impl CacheStats {
    pub(crate) fn snapshot(
        &self,
        l1_entries: u64,
        l1_bytes: u64,
        l1_capacity: u64,
        l1_evictions: u64,
        l2: Option<(bool, u64)>,
    ) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            hits_l1: r(&self.hits_l1),
            hits_l2: r(&self.hits_l2),
            misses: r(&self.misses),
            stores: r(&self.stores),
            stale: r(&self.stale),
            expired: r(&self.expired),
            too_large: r(&self.too_large),
            replica_behind: r(&self.replica_behind),
            flight_waits: r(&self.flight_waits),
            invalidations: r(&self.invalidations),
            refreshes: r(&self.refreshes),
            l1_entries,
            l1_bytes,
            l1_capacity,
            l1_evictions,
            l2_configured: l2.is_some(),
            l2_up: l2.is_some_and(|(up, _)| up),
            l2_errors: l2.map_or(0, |(_, e)| e),
        }
    }
}
