//! Result cache for sluice: cache keys, the L1 in-process store, the L2 Redis store, table generations
//! and invalidation.
//!
//! ```text
//! lookup(key, tables read)
//!   L1 (quick_cache, full key compared, weighed by bytes) ── current stamp? ──► hit
//!   another session already fetching this key? wait for it, look again     (single flight)
//!   local stamp of the tables (before the query is sent)
//!   L2: one MGET of the entry + Redis counters ── stamp equal? ──► hit (copied into L1)
//!   miss: the caller runs the query and calls fill() with what it sent the client
//! write: bump(tables) when sent and when done (local at once; Redis INCR + PUBLISH)
//! ```
//!
//! The cache never talks MySQL: the proxy decides what is cacheable, builds the key, and checks that
//! a replica had applied every read table's last write (the [`Miss::last_writes`]) before filling.

pub mod entry;
pub mod gens;
pub mod l2;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;

pub use entry::{Collector, Entry};

/// Longest time an entry is kept, whatever a hint, rule or Redis value asks for (30 days). Longer TTLs
/// are cut to this: a deadline must stay representable (`Instant + ttl` overflows near `u64::MAX`
/// ms), and tables are written more often than this in practice anyway.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
pub use gens::{Generations, Stamp, TableId, table_id};
pub use l2::L2;
pub use stats::{CacheStats, StatsSnapshot};

/// Cache settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// L1 capacity in bytes (keys, packets and bookkeeping).
    pub l1_bytes: u64,
    /// Results larger than this are not stored.
    pub max_entry_bytes: usize,
    /// How long a session waits for another's fetch of the same key before running it itself.
    pub flight_wait: Duration,
    /// Refresh ahead: when less than this is left of an entry's TTL, the next lookup runs the query
    /// again and refills it, while concurrent lookups are still served the entry. Zero: off.
    pub refresh_ahead: Duration,
}

/// Where a hit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// In-process.
    L1,
    /// Redis.
    L2,
}

impl Level {
    /// `l1` / `l2`.
    pub fn name(self) -> &'static str {
        match self {
            Level::L1 => "l1",
            Level::L2 => "l2",
        }
    }
}

/// A lookup's answer.
pub enum Lookup {
    /// A current entry.
    Hit(Arc<Entry>, Level),
    /// Not cached: run the query, then [`Cache::fill`] (or drop the miss).
    Miss(Miss),
}

/// A miss: what a fill needs, taken before the query was sent.
pub struct Miss {
    key: Bytes,
    tables: Arc<[TableId]>,
    stamp: Stamp,
    l2_stamp: Option<Stamp>,
    /// Last-write GTIDs of the tables read (local and Redis): a result read on a replica may be stored
    /// only if the replica had applied all of them before the query was sent.
    pub last_writes: Vec<Arc<str>>,
    _flight: Option<Flight>,
}

/// Leads a single flight; followers wake when it drops.
struct Flight {
    key: Bytes,
    flights: Arc<Mutex<HashMap<Bytes, watch::Receiver<()>>>>,
    _tx: watch::Sender<()>,
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.flights.lock().remove(&self.key);
    }
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<Bytes, Arc<Entry>> for Weigh {
    fn weight(&self, _k: &Bytes, v: &Arc<Entry>) -> u64 {
        v.weight()
    }
}

#[derive(Clone, Default)]
struct Evictions(Arc<AtomicU64>);

impl quick_cache::Lifecycle<Bytes, Arc<Entry>> for Evictions {
    type RequestState = ();
    fn on_evict(&self, _state: &mut (), _key: Bytes, _val: Arc<Entry>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type L1 = quick_cache::sync::Cache<Bytes, Arc<Entry>, Weigh, quick_cache::DefaultHashBuilder, Evictions>;

/// The result cache of one sluice process.
pub struct Cache {
    l1: L1,
    /// Local table generations.
    pub gens: Generations,
    l2: std::sync::OnceLock<Arc<L2>>,
    flights: Arc<Mutex<HashMap<Bytes, watch::Receiver<()>>>>,
    /// Counters.
    pub stats: CacheStats,
    evictions: Evictions,
    settings: Settings,
}

impl Cache {
    /// A cache with L1 only; see [`Cache::with_l2`].
    pub fn new(settings: Settings) -> Cache {
        let evictions = Evictions::default();
        let items = (settings.l1_bytes / 1024).clamp(64, 4_000_000) as usize;
        let l1 = quick_cache::sync::Cache::with_options(
            quick_cache::OptionsBuilder::new()
                .estimated_items_capacity(items)
                .weight_capacity(settings.l1_bytes.max(1))
                .build()
                .unwrap_or_else(|_| unreachable_options()),
            Weigh,
            quick_cache::DefaultHashBuilder::default(),
            evictions.clone(),
        );
        Cache {
            l1,
            gens: Generations::default(),
            l2: std::sync::OnceLock::new(),
            flights: Arc::default(),
            stats: CacheStats::default(),
            evictions,
            settings,
        }
    }

    /// Adds the Redis level (once; connect it on the runtime that serves sessions).
    pub fn set_l2(&self, l2: Arc<L2>) {
        let _ = self.l2.set(l2);
    }

    /// The Redis level, if configured.
    pub fn l2(&self) -> Option<&Arc<L2>> {
        self.l2.get()
    }

    /// Results larger than this are not stored.
    pub fn max_entry_bytes(&self) -> usize {
        self.settings.max_entry_bytes
    }

    /// Looks `key` up; `tables` are the tables the statement reads (qualified, see [`table_id`]).
    pub async fn lookup(&self, key: Bytes, tables: Arc<[TableId]>) -> Lookup {
        if let Some(hit) = self.l1_hit(&key, &tables) {
            return hit;
        }
        // Single flight: one session runs a missing key; the others wait for its fill.
        let flight = loop {
            let waiting = {
                let mut f = self.flights.lock();
                match f.get(&key) {
                    Some(rx) => Some(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(());
                        f.insert(key.clone(), rx);
                        break Some(Flight { key: key.clone(), flights: self.flights.clone(), _tx: tx });
                    }
                }
            };
            let Some(mut rx) = waiting else { break None };
            self.stats.flight_waits.fetch_add(1, Ordering::Relaxed);
            let woke = tokio::time::timeout(self.settings.flight_wait, rx.changed()).await;
            if let Some(hit) = self.l1_hit(&key, &tables) {
                return hit;
            }
            if woke.is_err() {
                break None; // the leader is slow: run it too, without leading
            }
        };
        let (stamp, local_writes) = self.gens.stamp(&tables);
        let mut last_writes: Vec<Arc<str>> = local_writes.into_iter().flatten().collect();
        let mut l2_stamp = None;
        if let Some(l2) = self.l2.get()
            && let Some(found) = l2.lookup(&key, &tables).await
        {
            if let Some(e) = found.value.as_deref().and_then(Entry::decode)
                && e.key == key
                && e.stamp == found.stamp
            {
                let e = Arc::new(e);
                self.stats.hits_l2.fetch_add(1, Ordering::Relaxed);
                // Into L1 under the local stamp read before the L2 read.
                let mut local = (*e).clone();
                local.stamp = stamp;
                local.refresh_at = self.refresh_at(local.expires, local.ttl_left());
                self.l1.insert(key, Arc::new(local));
                return Lookup::Hit(e, Level::L2);
            }
            last_writes.extend(found.last_writes.into_iter().flatten().map(Arc::from));
            l2_stamp = Some(found.stamp);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        Lookup::Miss(Miss { key, tables, stamp, l2_stamp, last_writes, _flight: flight })
    }

    fn l1_hit(&self, key: &Bytes, tables: &[TableId]) -> Option<Lookup> {
        let e = self.l1.get(key)?;
        let now = Instant::now();
        if e.expires <= now {
            self.l1.remove(key);
            self.stats.expired.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if !self.gens.is_current(tables, &e.stamp) {
            self.l1.remove(key);
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if e.refresh_at <= now && !self.flights.lock().contains_key(key) {
            // Due for a refresh and nobody is refreshing it: this lookup does (as a miss).
            self.stats.refreshes.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.stats.hits_l1.fetch_add(1, Ordering::Relaxed);
        Some(Lookup::Hit(e, Level::L1))
    }

    fn refresh_at(&self, expires: Instant, ttl: Duration) -> Instant {
        if self.settings.refresh_ahead.is_zero() || self.settings.refresh_ahead >= ttl {
            expires
        } else {
            expires - self.settings.refresh_ahead
        }
    }

    /// Stores what a miss's query sent the client (`collected`), for `ttl`. Entries already stale
    /// (a write came in while the query ran) are not stored.
    pub async fn fill(&self, miss: Miss, collected: Collector, rows: u64, ttl: Duration) {
        let Some((packets, count)) = collected.finish() else {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if packets.len() > self.settings.max_entry_bytes {
            self.stats.too_large.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let ttl = ttl.min(MAX_TTL);
        let Some(expires) = Instant::now().checked_add(ttl) else { return };
        let refresh_at = self.refresh_at(expires, ttl);
        let mut e = Entry {
            key: miss.key.clone(),
            packets,
            count,
            rows,
            stamp: miss.stamp.clone(),
            expires,
            refresh_at,
        };
        if self.gens.is_current(&miss.tables, &e.stamp) {
            self.l1.insert(miss.key.clone(), Arc::new(e.clone()));
            self.stats.stores.fetch_add(1, Ordering::Relaxed);
        }
        if let (Some(l2), Some(stamp)) = (self.l2.get(), miss.l2_stamp.clone()) {
            e.stamp = stamp;
            l2.store(&miss.key, e.encode(), ttl).await;
        }
        drop(miss);
    }

    /// Counts a result that was read on a replica that had not applied a read table's last write.
    pub fn not_stored_replica_behind(&self) {
        self.stats.replica_behind.fetch_add(1, Ordering::Relaxed);
    }

    /// A write to `tables` (and, when it cannot be attributed, to every table of `schema`): local
    /// generations at once, then Redis. Call it when the write is sent and when it completes.
    pub async fn bump(&self, tables: &[TableId], schema: Option<&str>, gtid: Option<&str>) {
        self.gens.bump(tables, gtid);
        if let Some(s) = schema {
            self.gens.bump_schema(s, gtid);
        }
        self.stats.invalidations.fetch_add(1, Ordering::Relaxed);
        if let Some(l2) = self.l2.get() {
            l2.bump(tables, schema, gtid).await;
        }
    }

    /// Applies another instance's published invalidation.
    pub fn apply(&self, inv: l2::Invalidation) {
        match inv {
            l2::Invalidation::Tables(ts) => {
                for (t, g) in ts {
                    self.gens.bump(&[Arc::from(t.as_str())], g.as_deref());
                }
            }
            l2::Invalidation::Schema(s, g) => self.gens.bump_schema(&s, g.as_deref()),
            l2::Invalidation::All => self.gens.bump_all(),
        }
    }

    /// Drops everything (FLUSH CACHE), here and in Redis.
    pub async fn flush_all(&self) {
        self.gens.bump_all();
        self.l1.clear();
        if let Some(l2) = self.l2.get() {
            l2.bump_epoch().await;
        }
    }

    /// What the admin interface and /metrics show.
    pub fn snapshot(&self) -> StatsSnapshot {
        self.stats.snapshot(
            self.l1.len() as u64,
            self.l1.weight(),
            self.settings.l1_bytes,
            self.evictions.0.load(Ordering::Relaxed),
            self.l2.get().map(|l| (l.is_up(), l.errors.load(Ordering::Relaxed))),
        )
    }
}

/// quick_cache rejects only a zero capacity, which `Cache::new` never passes.
fn unreachable_options() -> quick_cache::Options {
    #[allow(clippy::expect_used)]
    quick_cache::OptionsBuilder::new()
        .estimated_items_capacity(64)
        .weight_capacity(1)
        .build()
        .expect("valid options")
}

#[cfg(test)]
mod tests;
