//! Per-digest statistics: every statement a session runs (forwarded, blocked or failed) records one
//! event, aggregated per (digest, user, schema): count, first/last seen, total/min/max latency,
//! p50/p95/p99 from a [`Sketch`], rows, errors, warnings, index use, routes, pins.
//!
//! Sessions record into one of 32 shards picked by the key's hash (a short critical section: no lock is
//! shared by all sessions). Memory is bounded by `max_digests`: past it the least recently seen entry of
//! the shard is evicted and counted.

mod sketch;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub use sketch::Sketch;

const SHARDS: usize = 32;

/// One statement's outcome.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Digest id.
    pub digest: u64,
    /// Normalized text.
    pub text: &'a str,
    /// The statement as the client sent it (COM_QUERY text; empty for a prepared EXECUTE): the slow
    /// log's text and the digest's last sample (EXPLAIN DIGEST, plan lints).
    pub sql: &'a [u8],
    /// The client session's connection id.
    pub session: u32,
    /// The client's address.
    pub peer: std::net::IpAddr,
    /// Client user.
    pub user: &'a str,
    /// Schema, if any.
    pub schema: &'a [u8],
    /// Where it ran.
    pub target: Target,
    /// Start to last byte sent.
    pub latency: Duration,
    /// Rows sent to the client.
    pub rows_sent: u64,
    /// Rows affected (OK packets).
    pub rows_affected: u64,
    /// Whether it ended in an error.
    pub error: bool,
    /// Warnings reported.
    pub warnings: u64,
    /// The server reported NO_INDEX_USED or NO_GOOD_INDEX_USED.
    pub no_index: bool,
    /// The session was pinned when it ran.
    pub pinned: bool,
    /// The pins this statement opened (bits of [`crate::frontend::session::Pins`]; 0 for none).
    pub pins_opened: u32,
    /// What the result cache did.
    pub cache: CacheStatus,
}

/// Where a statement ran, in [`Totals::by_target`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The group's primary.
    Primary,
    /// A replica.
    Replica,
    /// Answered or refused by sluice itself.
    Sluice,
    /// Failed before reaching a backend.
    None,
    /// Served from the result cache.
    Cache,
    /// Several shards (a scatter read or a split write).
    Shards,
}

impl Target {
    /// Every target, in [`Totals::by_target`] order.
    pub const ALL: [Target; 6] =
        [Target::Primary, Target::Replica, Target::Sluice, Target::None, Target::Cache, Target::Shards];

    /// The name in `/metrics` (`target` label) and the admin interface.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
            Self::Sluice => "sluice",
            Self::None => "none",
            Self::Cache => "cache",
            Self::Shards => "shards",
        }
    }
}

/// What the result cache did with a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheStatus {
    /// No cache configured.
    #[default]
    Off,
    /// Served from L1 or L2.
    Hit,
    /// Run, and stored if it could be.
    Miss,
    /// Not cacheable.
    Bypass,
}

impl CacheStatus {
    /// The name in SHOW LAST ROUTE (`""` when the cache is off).
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "",
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// The aggregate of one (digest, user, schema).
#[derive(Debug, Clone)]
pub struct DigestStats {
    /// Digest id.
    pub digest: u64,
    /// Normalized text.
    pub text: Arc<str>,
    /// Client user.
    pub user: Arc<str>,
    /// Schema ("" for none).
    pub schema: Arc<str>,
    /// Statements.
    pub count: u64,
    /// When first and last seen.
    pub first_seen: SystemTime,
    /// When last seen.
    pub last_seen: SystemTime,
    /// Latency sum, µs.
    pub total_us: u64,
    /// Smallest latency, µs.
    pub min_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// Latency quantiles.
    pub sketch: Sketch,
    /// Rows sent.
    pub rows_sent: u64,
    /// Rows affected.
    pub rows_affected: u64,
    /// Statements that failed.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
    /// Statements that used no (good) index.
    pub no_index: u64,
    /// Statements run on the primary.
    pub on_primary: u64,
    /// Statements run on replicas.
    pub on_replica: u64,
    /// Statements answered by sluice itself.
    pub by_sluice: u64,
    /// Statements run while the session was pinned.
    pub pinned: u64,
    /// Every pin reason this digest's statements opened (bits of [`crate::frontend::session::Pins`]).
    pub pin_reasons: u32,
    /// Answered from the result cache.
    pub cache_hits: u64,
    /// Cacheable, not in the cache: run.
    pub cache_misses: u64,
    /// The last statement text seen (up to [`SAMPLE_MAX`] bytes; empty if none had text).
    pub sample: String,
    /// Whether `sample` was cut at [`SAMPLE_MAX`] (it cannot be EXPLAINed then).
    pub sample_truncated: bool,
}

/// Longest statement text kept as a digest's sample, bytes.
pub const SAMPLE_MAX: usize = 4096;

impl DigestStats {
    /// An empty aggregate of (digest, user, schema), first seen `now`.
    pub fn new(digest: u64, text: Arc<str>, user: Arc<str>, schema: Arc<str>, now: SystemTime) -> Self {
        DigestStats {
            digest,
            text,
            user,
            schema,
            count: 0,
            first_seen: now,
            last_seen: now,
            total_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            sketch: Sketch::default(),
            rows_sent: 0,
            rows_affected: 0,
            errors: 0,
            warnings: 0,
            no_index: 0,
            on_primary: 0,
            on_replica: 0,
            by_sluice: 0,
            pinned: 0,
            pin_reasons: 0,
            cache_hits: 0,
            cache_misses: 0,
            sample: String::new(),
            sample_truncated: false,
        }
    }

    /// Mean latency, µs.
    pub fn avg_us(&self) -> u64 {
        self.total_us.checked_div(self.count).unwrap_or(0)
    }

    /// A latency quantile, µs (0 when empty).
    pub fn quantile_us(&self, q: f64) -> u64 {
        self.sketch.quantile(q).map_or(0, |v| v.round() as u64)
    }
}

/// The hash of (digest, user, schema): FNV-1a over user and schema seeded with the digest (already a
/// 64-bit hash), then a finalizer so every input bit reaches the top bits (the shard). A few dozen
/// instructions where SipHash, hashed twice (key, then map), cost hundreds per statement.
fn key_hash(digest: u64, user: &str, schema: &[u8]) -> u64 {
    let mut h = digest ^ 0xcbf2_9ce4_8422_2325;
    for b in user.bytes().chain(std::iter::once(0xff)).chain(schema.iter().copied()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// A map hasher for keys that are already hashes ([`key_hash`]): passes the `u64` through.
#[derive(Debug, Default, Clone, Copy)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in so this stays correct if that changes.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Entries by the hash of (digest, user, schema); a hash shared by two keys keeps both (compared in full).
#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u64, Vec<DigestStats>, BuildHasherDefault<Prehashed>>,
    len: usize,
}

impl Shard {
    /// Evicts the least recently seen entry.
    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .map
            .iter()
            .flat_map(|(h, v)| v.iter().enumerate().map(move |(i, e)| (*h, i, e.last_seen)))
            .min_by_key(|(_, _, seen)| *seen);
        let Some((h, i, _)) = oldest else { return false };
        if let Some(v) = self.map.get_mut(&h) {
            v.swap_remove(i);
            if v.is_empty() {
                self.map.remove(&h);
            }
            self.len -= 1;
        }
        true
    }
}

/// Upper bounds of the global latency histogram (Prometheus `le`), seconds.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Process-wide counters (never evicted, unlike digest entries): what `/metrics` exports.
#[derive(Debug, Default)]
pub struct Totals {
    /// Statements by [`Target`] (in [`Target::ALL`] order).
    pub by_target: [AtomicU64; Target::ALL.len()],
    /// Statements that failed.
    pub errors: AtomicU64,
    /// Rows sent.
    pub rows_sent: AtomicU64,
    /// Latency histogram: counts per bucket of [`LATENCY_BUCKETS`] (not cumulative) and the +Inf rest.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Latency sum, µs.
    pub latency_sum_us: AtomicU64,
    /// Statements stopped by a `[[rules]] timeout_ms` (KILL QUERY sent).
    pub limit_kills: AtomicU64,
    /// Client connections refused, in [`Refusal::ALL`] order.
    pub refused: [AtomicU64; Refusal::ALL.len()],
}

/// Why a client (or admin, or HTTP) connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `[server] max_client_connections` reached.
    MaxClientConnections,
    /// The user's `max_connections` reached.
    MaxUserConnections,
    /// Authentication failed.
    LoginFailed,
    /// The handshake took longer than `[server] handshake_timeout_ms`.
    HandshakeTimeout,
    /// `[server] max_handshakes_per_ip` reached.
    MaxHandshakesPerIp,
    /// `[admin] max_connections` reached.
    AdminMaxConnections,
    /// `[http] max_connections` reached.
    HttpMaxConnections,
}

impl Refusal {
    /// Every reason, in [`Totals::refused`] order (the discriminant is the index).
    pub const ALL: [Refusal; 7] = [
        Self::MaxClientConnections,
        Self::MaxUserConnections,
        Self::LoginFailed,
        Self::HandshakeTimeout,
        Self::MaxHandshakesPerIp,
        Self::AdminMaxConnections,
        Self::HttpMaxConnections,
    ];

    /// The `reason` label of `sluice_client_connections_refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxClientConnections => "max_client_connections",
            Self::MaxUserConnections => "max_user_connections",
            Self::LoginFailed => "login_failed",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::MaxHandshakesPerIp => "max_handshakes_per_ip",
            Self::AdminMaxConnections => "admin_max_connections",
            Self::HttpMaxConnections => "http_max_connections",
        }
    }
}

impl Totals {
    /// Counts a refused connection.
    pub fn refuse(&self, reason: Refusal) {
        if let Some(n) = self.refused.get(reason as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The digest table.
#[derive(Debug)]
pub struct Digests {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    evicted: AtomicU64,
    /// Process-wide totals.
    pub totals: Totals,
}

impl Digests {
    /// A table of at most `max_digests` entries (spread over shards).
    pub fn new(max_digests: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: max_digests.div_ceil(SHARDS).max(1),
            evicted: AtomicU64::new(0),
            totals: Totals::default(),
        }
    }

    /// Records one statement.
    pub fn record(&self, e: &Event<'_>) {
        self.record_totals(e);
        self.record_digest(e);
    }

    /// Counts one statement in the process totals only (what `/metrics` exports).
    pub fn record_totals(&self, e: &Event<'_>) {
        let t = &self.totals;
        t.by_target[e.target as usize].fetch_add(1, Ordering::Relaxed);
        if e.error {
            t.errors.fetch_add(1, Ordering::Relaxed);
        }
        t.rows_sent.fetch_add(e.rows_sent, Ordering::Relaxed);
        let secs = e.latency.as_secs_f64();
        let b = LATENCY_BUCKETS.iter().position(|le| secs <= *le).unwrap_or(LATENCY_BUCKETS.len());
        t.latency_buckets[b].fetch_add(1, Ordering::Relaxed);
        t.latency_sum_us
            .fetch_add(u64::try_from(e.latency.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Aggregates one statement into its (digest, user, schema) entry.
    fn record_digest(&self, e: &Event<'_>) {
        let hash = key_hash(e.digest, e.user, e.schema);
        // The top bits pick the shard, so the map inside sees varied low bits.
        let Some(shard) = self.shards.get((hash >> 59) as usize % SHARDS) else { return };
        let Ok(mut shard) = shard.lock() else { return };
        let now = SystemTime::now();
        let us = u64::try_from(e.latency.as_micros()).unwrap_or(u64::MAX);
        let same =
            |v: &DigestStats| v.digest == e.digest && *v.user == *e.user && v.schema.as_bytes() == e.schema;
        let known = shard.map.get(&hash).is_some_and(|v| v.iter().any(same));
        if !known {
            if shard.len >= self.per_shard && shard.evict_oldest() {
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
            let fresh = DigestStats::new(
                e.digest,
                Arc::from(e.text),
                Arc::from(e.user),
                Arc::from(String::from_utf8_lossy(e.schema).as_ref()),
                now,
            );
            shard.map.entry(hash).or_default().push(fresh);
            shard.len += 1;
        }
        let Some(entry) = shard.map.get_mut(&hash).and_then(|v| v.iter_mut().find(|v| same(v))) else {
            return;
        };
        entry.count += 1;
        entry.last_seen = now;
        entry.total_us = entry.total_us.saturating_add(us);
        entry.min_us = entry.min_us.min(us);
        entry.max_us = entry.max_us.max(us);
        entry.sketch.add(e.latency.as_secs_f64() * 1e6);
        entry.rows_sent += e.rows_sent;
        entry.rows_affected += e.rows_affected;
        entry.errors += u64::from(e.error);
        entry.warnings += e.warnings;
        entry.no_index += u64::from(e.no_index);
        entry.pinned += u64::from(e.pinned);
        entry.pin_reasons |= e.pins_opened;
        match e.cache {
            CacheStatus::Hit => entry.cache_hits += 1,
            CacheStatus::Miss => entry.cache_misses += 1,
            CacheStatus::Off | CacheStatus::Bypass => {}
        }
        if !e.sql.is_empty() {
            // Reuses the entry's buffer: no allocation once a digest's statements are of similar size.
            let cut = e.sql.len().min(SAMPLE_MAX);
            entry.sample.clear();
            entry.sample.push_str(&String::from_utf8_lossy(&e.sql[..cut]));
            entry.sample_truncated = cut < e.sql.len();
        }
        match e.target {
            Target::Primary => entry.on_primary += 1,
            Target::Replica => entry.on_replica += 1,
            Target::Sluice => entry.by_sluice += 1,
            Target::None | Target::Cache | Target::Shards => {}
        }
    }

    /// A copy of every entry.
    pub fn snapshot(&self) -> Vec<DigestStats> {
        let mut out = Vec::new();
        for s in self.shards.iter().filter_map(|s| s.lock().ok()) {
            out.extend(s.map.values().flatten().cloned());
        }
        out
    }

    /// The `n` entries with the largest `key`, largest first, each turned into a row by `row` while its
    /// shard is locked: nothing else is copied (a request shows a few rows of a table of thousands,
    /// whose entries each hold a ~4 KiB sketch and sample). Rows are built only for entries that are
    /// among the `n` largest seen so far.
    pub fn top<R>(
        &self,
        n: usize,
        key: impl Fn(&DigestStats) -> u64,
        row: impl Fn(&DigestStats) -> R,
    ) -> Vec<R> {
        let mut best = TopN::new(n);
        self.for_each(|d| {
            let k = key(d);
            if best.admits(k) {
                best.push(k, row(d));
            }
        });
        best.into_sorted()
    }

    /// Visits every entry, one shard locked at a time (keep `f` short: sessions recording into that
    /// shard wait for it).
    pub fn for_each(&self, mut f: impl FnMut(&DigestStats)) {
        for s in self.shards.iter().filter_map(|s| s.lock().ok()) {
            s.map.values().flatten().for_each(&mut f);
        }
    }

    /// Forgets everything (admin `RESET DIGESTS`).
    pub fn reset(&self) {
        for s in &self.shards {
            if let Ok(mut s) = s.lock() {
                *s = Shard::default();
            }
        }
    }

    /// Entries evicted to stay within `max_digests`.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// The `n` values with the largest keys: a min-heap of at most `n` (ties: the first pushed stays).
pub struct TopN<R> {
    n: usize,
    seq: u64,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Keyed<R>>>,
}

/// A value ordered by `(key, later first)` only.
struct Keyed<R>(u64, std::cmp::Reverse<u64>, R);

impl<R> PartialEq for Keyed<R> {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl<R> Eq for Keyed<R> {}
impl<R> PartialOrd for Keyed<R> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<R> Ord for Keyed<R> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

impl<R> TopN<R> {
    /// Keeps at most `n`.
    pub fn new(n: usize) -> Self {
        Self { n, seq: 0, heap: std::collections::BinaryHeap::with_capacity(n.min(1024) + 1) }
    }

    /// Whether a value with `key` would be kept (build it only then).
    pub fn admits(&self, key: u64) -> bool {
        self.n > 0
            && (self.heap.len() < self.n || self.heap.peek().is_some_and(|std::cmp::Reverse(m)| key > m.0))
    }

    /// Adds `value`; the smallest goes once there are more than `n`.
    pub fn push(&mut self, key: u64, value: R) {
        if !self.admits(key) {
            return;
        }
        self.seq += 1;
        self.heap.push(std::cmp::Reverse(Keyed(key, std::cmp::Reverse(self.seq), value)));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    /// The values, largest key first (equal keys in the order they were pushed).
    pub fn into_sorted(self) -> Vec<R> {
        // Ascending order of Reverse = descending order of (key, earlier first).
        self.heap.into_sorted_vec().into_iter().map(|std::cmp::Reverse(k)| k.2).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn each_refusal_counts_in_its_own_slot() {
        let t = Totals::default();
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?} is out of order in Refusal::ALL");
            t.refuse(*r);
            t.refuse(*r);
        }
        t.refuse(Refusal::LoginFailed);
        let counts: Vec<u64> = t.refused.iter().map(|n| n.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [2, 2, 3, 2, 2, 2, 2]);
        assert_eq!(Refusal::MaxHandshakesPerIp.as_str(), "max_handshakes_per_ip");
    }

    fn event(digest: u64, user: &'static str, ms: u64) -> Event<'static> {
        Event {
            digest,
            text: "select ?",
            sql: b"select 1",
            session: 1,
            peer: std::net::IpAddr::from([127, 0, 0, 1]),
            user,
            schema: b"app",
            target: Target::Replica,
            latency: Duration::from_millis(ms),
            rows_sent: 1,
            rows_affected: 0,
            error: ms == 0,
            warnings: 0,
            no_index: false,
            pinned: false,
            pins_opened: 0,
            cache: CacheStatus::Off,
        }
    }

    #[test]
    fn aggregates_per_digest_user_schema() {
        let d = Digests::new(100);
        for ms in 0..100 {
            d.record(&event(1, "app", ms));
        }
        d.record(&event(1, "other", 5));
        d.record(&event(2, "app", 5));
        let snap = d.snapshot();
        assert_eq!(snap.len(), 3);
        let e = snap.iter().find(|e| e.digest == 1 && &*e.user == "app").unwrap();
        assert_eq!((e.count, e.errors, e.rows_sent, e.on_replica), (100, 1, 100, 100));
        assert_eq!((e.min_us, e.max_us), (0, 99_000));
        let p99 = e.quantile_us(0.99) as f64;
        assert!((p99 - 98_000.0).abs() / 98_000.0 < 0.02, "{p99}");
        d.reset();
        assert!(d.snapshot().is_empty());
    }

    #[test]
    fn top_builds_only_the_rows_it_returns() {
        let d = Digests::new(1000);
        for n in 0..200u64 {
            d.record(&event(n, "app", n % 50));
        }
        let built = std::cell::Cell::new(0);
        let top = d.top(
            5,
            |e| e.total_us,
            |e| {
                built.set(built.get() + 1);
                e.total_us
            },
        );
        assert_eq!(top, [49_000, 49_000, 49_000, 49_000, 48_000]);
        assert!(built.get() < 200, "rows built for {} of 200 entries", built.get());
        assert!(d.top(0, |e| e.count, |e| e.digest).is_empty());
        assert_eq!(d.top(1000, |e| e.count, |e| e.digest).len(), 200);
        let mut t = TopN::new(2);
        for (k, v) in [(1, "a"), (3, "b"), (3, "c"), (2, "d"), (3, "e")] {
            t.push(k, v);
        }
        assert_eq!(t.into_sorted(), ["b", "c"], "ties keep the first pushed");
    }

    #[test]
    fn bounded_with_least_recently_seen_evicted() {
        let d = Digests::new(SHARDS);
        for n in 0..500 {
            d.record(&event(n, "app", 1));
        }
        assert!(d.snapshot().len() <= SHARDS, "{}", d.snapshot().len());
        assert!(d.evicted() >= 500 - SHARDS as u64);
    }
}
