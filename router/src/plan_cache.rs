//! The plan cache: classification computed once per query shape, found again by digest id. Bounded by
//! entries and bytes (oldest shape evicted first), sharded so sessions do not serialize on one lock.
//! A hit compares the normalized text too: a 64-bit collision must never hand one statement another's plan.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::classify::{Class, classify_unhinted};
use crate::lexer::Lexed;

const SHARDS: usize = 16;

struct Entry {
    text: Arc<str>,
    class: Arc<Class>,
}

#[derive(Default)]
struct Shard {
    map: HashMap<u64, Entry>,
    order: VecDeque<u64>,
    bytes: usize,
}

/// Counters for stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanCacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that classified the statement.
    pub misses: u64,
    /// Shapes evicted to stay within bounds.
    pub evictions: u64,
}

/// Digest id → plan.
pub struct PlanCache {
    shards: Vec<Mutex<Shard>>,
    max_entries: usize,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl PlanCache {
    /// A cache of at most `max_entries` shapes and `max_bytes` of normalized text (both spread over shards).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_entries: max_entries.div_ceil(SHARDS).max(1),
            max_bytes: max_bytes.div_ceil(SHARDS).max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The plan of a lexed statement: cached, or classified now and cached.
    pub fn plan(&self, l: &Lexed) -> Arc<Class> {
        let class = self.plan_unhinted(l);
        if l.hints.is_empty() {
            return class;
        }
        let mut c = (*class).clone();
        crate::classify::apply_hints(&mut c, &l.hints);
        Arc::new(c)
    }

    fn plan_unhinted(&self, l: &Lexed) -> Arc<Class> {
        let shard = &self.shards[(l.digest as usize) % SHARDS];
        let Ok(mut s) = shard.lock() else {
            // A poisoned shard (a panic elsewhere) must not stop routing: classify without caching.
            return Arc::new(classify_unhinted(l));
        };
        if let Some(e) = s.map.get(&l.digest)
            && *e.text == *l.text
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return e.class.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let class = Arc::new(classify_unhinted(l));
        let text: Arc<str> = Arc::from(l.text.as_str());
        if let Some(old) = s.map.insert(l.digest, Entry { text: text.clone(), class: class.clone() }) {
            // Same digest, other text (a collision): the newer shape takes the slot.
            s.bytes -= old.text.len();
            s.order.retain(|d| *d != l.digest);
        }
        s.bytes += text.len();
        s.order.push_back(l.digest);
        while s.order.len() > self.max_entries || s.bytes > self.max_bytes {
            let Some(d) = s.order.pop_front() else { break };
            if let Some(e) = s.map.remove(&d) {
                s.bytes -= e.text.len();
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        class
    }

    /// Shapes cached now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map(|s| s.map.len()).unwrap_or(0)).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit/miss/eviction counters.
    pub fn stats(&self) -> PlanCacheStats {
        PlanCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Target;
    use crate::lexer::lex;

    #[test]
    fn hints_apply_to_cached_plans_but_are_not_cached() {
        let c = PlanCache::new(100, 1 << 20);
        assert_eq!(c.plan(&lex(b"SELECT a FROM t WHERE id = 1")).target, Target::Replica);
        let hinted = lex(b"/* sluice: primary */ SELECT a FROM t WHERE id = 2");
        assert_eq!(hinted.digest, lex(b"SELECT a FROM t WHERE id = 3").digest);
        assert_eq!(c.plan(&hinted).target, Target::Primary);
        assert_eq!(c.plan(&lex(b"SELECT a FROM t WHERE id = 4")).target, Target::Replica);
        let fresh = PlanCache::new(100, 1 << 20);
        assert_eq!(fresh.plan(&hinted).target, Target::Primary);
        assert_eq!(fresh.plan(&lex(b"SELECT a FROM t WHERE id = 5")).target, Target::Replica);
    }

    #[test]
    fn one_classification_per_shape() {
        let c = PlanCache::new(100, 1 << 20);
        for id in 0..50 {
            let l = lex(format!("SELECT a FROM t WHERE id = {id}").as_bytes());
            assert_eq!(c.plan(&l).target, Target::Replica);
        }
        assert_eq!(c.stats(), PlanCacheStats { hits: 49, misses: 1, evictions: 0 });
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let c = PlanCache::new(32, 1 << 20);
        for n in 0..500 {
            c.plan(&lex(format!("SELECT c{n} FROM t").as_bytes()));
        }
        assert!(c.len() <= 32 + SHARDS, "{}", c.len());
        assert!(c.stats().evictions >= 500 - 48);
        let c = PlanCache::new(10_000, 64 * SHARDS);
        for n in 0..500 {
            c.plan(&lex(format!("SELECT column_number_{n} FROM some_table").as_bytes()));
        }
        assert!(c.len() <= 3 * SHARDS, "{}", c.len());
    }

    #[test]
    fn a_digest_collision_never_shares_a_plan() {
        let c = PlanCache::new(100, 1 << 20);
        let read = lex(b"SELECT a FROM t");
        let mut write = lex(b"DELETE FROM t");
        write.digest = read.digest; // forge a collision
        assert_eq!(c.plan(&read).target, Target::Replica);
        assert_eq!(c.plan(&write).target, Target::Primary);
        assert_eq!(c.plan(&read).target, Target::Replica);
    }
}
