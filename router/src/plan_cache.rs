//! The plan cache: classification computed once per query shape, found again by digest id. Bounded by
//! entries and bytes, on [`quick_cache`] (sharded, its own locks; CLOCK-PRO-like eviction: a shape
//! used again outlives one seen once). A hit compares the normalized text too: a 64-bit collision must
//! never hand one statement another's plan.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, Weighter};

use crate::analyze::{Analysis, Unparsed, analyze_then};
use crate::classify::{Class, Tables, Target, classify_unhinted};
use crate::lexer::{Lexed, Token};
use crate::shard::ShardMap;
use crate::shard::shape::ShardShape;

struct Entry {
    text: Arc<str>,
    class: Arc<Class>,
    unparsed: Option<Unparsed>,
}

/// An entry weighs its text's bytes, and at least `floor` (the byte bound over the entry bound): the
/// cache's one weight capacity (the byte bound) then also holds at most the entry bound of shapes.
#[derive(Clone)]
struct ByText {
    floor: u64,
}

impl Weighter<u64, Arc<Entry>> for ByText {
    fn weight(&self, _: &u64, e: &Arc<Entry>) -> u64 {
        (e.text.len() as u64).max(self.floor)
    }
}

/// Counts evictions (and inserts refused for being heavier than a cache shard, which quick_cache
/// reports the same way).
#[derive(Clone)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<u64, Arc<Entry>> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: u64, _: Arc<Entry>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
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
    /// Shapes sqlparser could not read (planned from the lexer alone, reads sent to the primary).
    pub unparsed: u64,
    /// Of those, shapes over the complexity limits, not given to sqlparser at all (see
    /// [`crate::analyze::MAX_OPERATORS`]).
    pub too_complex: u64,
}

/// Digest id → plan.
pub struct PlanCache {
    cache: Cache<u64, Arc<Entry>, ByText, DefaultHashBuilder, CountEvictions>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<AtomicU64>,
    unparsed: AtomicU64,
    too_complex: AtomicU64,
    sharded: ShardMap,
}

impl PlanCache {
    /// A cache of at most `max_entries` shapes and `max_bytes` of normalized text (both spread over
    /// quick_cache's shards, so each bound holds to within one entry per shard).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        let max_entries = max_entries.max(1);
        let max_bytes = max_bytes.max(1);
        let evictions = Arc::new(AtomicU64::new(0));
        let weighter = ByText { floor: max_bytes.div_ceil(max_entries) as u64 };
        Self {
            cache: Cache::with(
                max_entries,
                max_bytes as u64,
                weighter,
                DefaultHashBuilder::default(),
                CountEvictions(evictions.clone()),
            ),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions,
            unparsed: AtomicU64::new(0),
            too_complex: AtomicU64::new(0),
            sharded: ShardMap::default(),
        }
    }

    /// The same cache, planning statements over `map`'s sharded tables too.
    pub fn with_shards(mut self, map: ShardMap) -> Self {
        self.sharded = map;
        self
    }

    /// The sharded tables it plans for.
    pub fn shards(&self) -> &ShardMap {
        &self.sharded
    }

    /// The plan of a lexed statement: cached, or classified now and cached. The statement is parsed in
    /// the mode it was lexed in ([`Lexed::mode`]).
    pub fn plan(&self, l: &Lexed, sql: &[u8]) -> Arc<Class> {
        self.plan_with_reason(l, sql).0
    }

    /// [`PlanCache::plan`], and why its tables are unknown when they are (`class.tables.parsed`
    /// false): sqlparser did not know the syntax, or the statement was too complex to parse (SHOW LAST
    /// ROUTE can say which).
    pub fn plan_with_reason(&self, l: &Lexed, sql: &[u8]) -> (Arc<Class>, Option<Unparsed>) {
        self.plan_with_tokens(l, None, sql)
    }

    /// [`PlanCache::plan_with_reason`] of a statement lexed with its tokens
    /// ([`crate::lexer::lex_tokens_with`]): a miss over a sharded table finds its shape with them
    /// instead of lexing the statement again (when the session's mode spells it as the default mode
    /// does, as it nearly always does).
    pub fn plan_with_tokens(
        &self,
        l: &Lexed,
        toks: Option<&[Token]>,
        sql: &[u8],
    ) -> (Arc<Class>, Option<Unparsed>) {
        let (class, unparsed) = self.plan_unhinted(l, toks, sql);
        if l.hints.is_empty() {
            return (class, unparsed);
        }
        let mut c = (*class).clone();
        crate::classify::apply_hints(&mut c, &l.hints);
        (Arc::new(c), unparsed)
    }

    fn plan_unhinted(&self, l: &Lexed, toks: Option<&[Token]>, sql: &[u8]) -> (Arc<Class>, Option<Unparsed>) {
        if let Some(e) = self.cache.get(&l.digest)
            && *e.text == *l.text
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return (e.class.clone(), e.unparsed);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // The parse (microseconds) runs outside any lock: other shapes are not held up. The same shape
        // planned twice at once, or a collision: the later insert takes the slot.
        let (class, unparsed) = self.full_plan(l, toks, sql);
        let class = Arc::new(class);
        let entry = Entry { text: Arc::from(l.text.as_str()), class: class.clone(), unparsed };
        self.cache.insert(l.digest, Arc::new(entry));
        (class, unparsed)
    }

    /// A miss: the lexer's classification, completed by the full parse. A statement the parser cannot
    /// read keeps the lexer's decision when that is the primary; a read it cannot read goes to the
    /// primary, uncached (counted as `unparsed`), except SHOW/DESCRIBE/EXPLAIN/HELP, whose many
    /// server-specific forms the lexer knows well enough. One too complex to parse is not cached and
    /// never goes to a replica, whatever it is.
    fn full_plan(&self, l: &Lexed, toks: Option<&[Token]>, sql: &[u8]) -> (Class, Option<Unparsed>) {
        let mut c = classify_unhinted(l);
        // One sqlparser parse: its AST gives the tables here and, on the stack the analysis sized for
        // it, the shard shape (in the default mode's spelling, whose word ordinals are the original's;
        // the caller's tokens serve when they are the default mode's over those very bytes).
        let (a, shard) = analyze_then(&String::from_utf8_lossy(sql), l.mode, |a, text, stmts| {
            if self.sharded.is_empty() {
                return None;
            }
            let toks = toks.filter(|_| l.mode.is_default() && text.as_bytes() == sql);
            let tables: Vec<String> = a.tables_read.iter().chain(&a.tables_written).cloned().collect();
            crate::shard::shape::shape(&self.sharded, text, toks, stmts, &tables).map(Arc::new)
        });
        let shard = match shard {
            Some(shard) => shard,
            None => self.refuse_unparsed(l, &a),
        };
        let unparsed = a.unparsed();
        c.tables =
            Tables { parsed: a.parsed, read: a.tables_read.into(), written: a.tables_written.into(), shard };
        match unparsed {
            None => {}
            Some(Unparsed::TooComplex) => {
                self.unparsed.fetch_add(1, Ordering::Relaxed);
                self.too_complex.fetch_add(1, Ordering::Relaxed);
                if c.target == Target::Replica {
                    c.target = Target::Primary;
                }
                c.cacheable = false;
            }
            Some(Unparsed::Syntax) => {
                self.unparsed.fetch_add(1, Ordering::Relaxed);
                let metadata =
                    matches!(l.first_keyword.as_str(), "show" | "describe" | "desc" | "explain" | "help");
                if c.target == Target::Replica && !metadata {
                    c.target = Target::Primary;
                    c.cacheable = false;
                }
            }
        }
        (c, unparsed)
    }

    /// A statement sqlparser could not read that names a sharded table is refused.
    fn refuse_unparsed(&self, l: &Lexed, a: &Analysis) -> Option<Arc<ShardShape>> {
        if self.sharded.is_empty() || a.parsed {
            return None;
        }
        let t = self
            .sharded
            .tables
            .iter()
            .find(|t| l.text.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == t.name))?;
        Some(Arc::new(ShardShape::Refused(crate::shard::shape::NotRouted(format!(
            "this statement names sharded table {} but sluice cannot parse it, so it cannot tell which shard it belongs to; rewrite it as a plain SELECT/INSERT/UPDATE/DELETE",
            t.name
        )))))
    }

    /// Shapes cached now.
    pub fn len(&self) -> usize {
        self.cache.len()
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
            unparsed: self.unparsed.load(Ordering::Relaxed),
            too_complex: self.too_complex.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Target;
    use crate::lexer::lex;

    fn plan(c: &PlanCache, sql: &[u8]) -> Arc<Class> {
        c.plan(&lex(sql), sql)
    }

    #[test]
    fn hints_apply_to_cached_plans_but_are_not_cached() {
        let c = PlanCache::new(100, 1 << 20);
        assert_eq!(plan(&c, b"SELECT a FROM t WHERE id = 1").target, Target::Replica);
        let hinted_sql = b"/* sluice: primary */ SELECT a FROM t WHERE id = 2";
        let hinted = lex(hinted_sql);
        assert_eq!(hinted.digest, lex(b"SELECT a FROM t WHERE id = 3").digest);
        assert_eq!(c.plan(&hinted, hinted_sql).target, Target::Primary);
        assert_eq!(plan(&c, b"SELECT a FROM t WHERE id = 4").target, Target::Replica);
        let fresh = PlanCache::new(100, 1 << 20);
        assert_eq!(fresh.plan(&hinted, hinted_sql).target, Target::Primary);
        assert_eq!(plan(&fresh, b"SELECT a FROM t WHERE id = 5").target, Target::Replica);
    }

    #[test]
    fn one_classification_per_shape() {
        let c = PlanCache::new(100, 1 << 20);
        for id in 0..50 {
            let sql = format!("SELECT a FROM t WHERE id = {id}");
            assert_eq!(plan(&c, sql.as_bytes()).target, Target::Replica);
        }
        assert_eq!(
            c.stats(),
            PlanCacheStats { hits: 49, misses: 1, evictions: 0, unparsed: 0, too_complex: 0 }
        );
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let c = PlanCache::new(32, 1 << 20);
        for n in 0..500 {
            plan(&c, format!("SELECT c{n} FROM t").as_bytes());
        }
        assert!(c.len() <= 32, "{}", c.len());
        assert_eq!(c.stats().evictions, 500 - c.len() as u64);
        // 1 KiB of text: at most 26 shapes of 38 bytes (quick_cache's shards may round that down).
        let c = PlanCache::new(10_000, 1024);
        for n in 0..500 {
            plan(&c, format!("SELECT column_number_{n} FROM some_table").as_bytes());
        }
        assert!((1..=26).contains(&c.len()), "{}", c.len());
        assert_eq!(c.stats().evictions, 500 - c.len() as u64);
    }

    #[test]
    fn a_shape_in_use_outlives_a_scan_of_one_off_shapes() {
        let c = PlanCache::new(32, 1 << 20);
        let hot: &[u8] = b"SELECT a FROM t WHERE id = 1";
        for n in 0..500 {
            plan(&c, hot);
            plan(&c, format!("SELECT c{n} FROM t").as_bytes());
        }
        // Only its first lookup missed.
        assert_eq!(c.stats().hits, 499);
    }

    #[test]
    fn a_digest_collision_never_shares_a_plan() {
        let c = PlanCache::new(100, 1 << 20);
        let read = lex(b"SELECT a FROM t");
        let mut write = lex(b"DELETE FROM t");
        write.digest = read.digest; // forge a collision
        assert_eq!(c.plan(&read, b"SELECT a FROM t").target, Target::Replica);
        assert_eq!(c.plan(&write, b"DELETE FROM t").target, Target::Primary);
        assert_eq!(c.plan(&read, b"SELECT a FROM t").target, Target::Replica);
    }

    #[test]
    fn misses_know_tables_and_unparsed_reads_go_to_the_primary() {
        let c = PlanCache::new(100, 1 << 20);
        let p = plan(&c, b"INSERT INTO log SELECT * FROM src WHERE id > 5");
        assert_eq!(
            (&*p.tables.read, &*p.tables.written),
            (&["src".to_string()][..], &["log".to_string()][..])
        );
        // A read sqlparser cannot read: the primary, uncached, counted.
        let p = plan(&c, b"SELECT a FROM t WHERE id = 1 PROCEDURE ANALYSE()");
        assert!(!p.tables.parsed);
        assert_eq!((p.target, p.cacheable), (Target::Primary, false));
        // SHOW forms it cannot read keep the lexer's route.
        let p = plan(&c, b"SHOW FULL PROCESSLIST");
        assert_eq!(p.target, classify_unhinted(&lex(b"SHOW FULL PROCESSLIST")).target);
        assert!(c.stats().unparsed >= 1);
    }

    fn sharded() -> ShardMap {
        use crate::shard::{PhysicalShard, ShardFunction, ShardTable};
        let shard = |i: usize| PhysicalShard { group: 0, schema: None, table: format!("documents_{i}") };
        ShardMap {
            tables: vec![ShardTable {
                name: "documents".into(),
                key: "id".into(),
                function: ShardFunction::Hash,
                shards: (0..4).map(shard).collect(),
                broadcast_writes: false,
                generate_key: false,
            }],
        }
    }

    #[test]
    fn too_complex_statements_are_served_conservatively() {
        use crate::analyze::tests::{hostile, on_small_stack};
        on_small_stack(|| {
            let c = PlanCache::new(100, 1 << 30).with_shards(sharded());
            let cases = hostile();
            for (name, sql) in &cases {
                let (p, why) = c.plan_with_reason(&lex(sql.as_bytes()), sql.as_bytes());
                assert_eq!((p.target, p.cacheable), (Target::Primary, false), "{name}");
                assert!(
                    !p.tables.parsed && p.tables.read.is_empty() && p.tables.written.is_empty(),
                    "{name}"
                );
                assert_eq!(why, Some(Unparsed::TooComplex), "{name}");
                // Naming a sharded table it cannot parse, it is refused rather than sent to one shard.
                let refused = matches!(p.tables.shard.as_deref(), Some(ShardShape::Refused(_)));
                assert_eq!(refused, sql.contains("documents"), "{name}");
                // The hit says why too.
                assert_eq!(c.plan_with_reason(&lex(sql.as_bytes()), sql.as_bytes()).1, why);
            }
            let n = cases.len() as u64;
            assert_eq!((c.stats().too_complex, c.stats().unparsed, c.stats().misses), (n, n, n));
        });
    }

    #[test]
    fn a_long_and_chain_under_the_limits_finds_its_shard_key_on_a_small_stack() {
        use crate::shard::shape::{Kind, ShardShape};
        crate::analyze::tests::on_small_stack(|| {
            let c = PlanCache::new(100, 1 << 30).with_shards(sharded());
            let sql = format!("SELECT a FROM documents WHERE {}id = 7", "b = 2 AND ".repeat(3_000));
            let (p, why) = c.plan_with_reason(&lex(sql.as_bytes()), sql.as_bytes());
            assert_eq!(why, None);
            match p.tables.shard.as_deref() {
                Some(ShardShape::Routed { kind: Kind::Select { key, .. }, .. }) => assert!(key.is_some()),
                other => panic!("not routed by its key: {other:?}"),
            }
        });
    }

    #[test]
    fn the_sessions_tokens_give_the_same_shape_in_every_mode() {
        use crate::lexer::{LexMode, lex_tokens_with, lex_with};
        use crate::shard::shape::{Kind, ShardShape};
        let nbe = LexMode { no_backslash_escapes: true, ansi_quotes: false };
        let ansi = LexMode { no_backslash_escapes: false, ansi_quotes: true };
        let cases: [(LexMode, &[u8]); 4] = [
            (LexMode::DEFAULT, b"SELECT a FROM documents WHERE id = 7"),
            (ansi, br#"SELECT "a" FROM "documents" WHERE "id" = 7"#),
            (nbe, br"SELECT a FROM documents WHERE b = 'x\' AND id = 7"),
            (LexMode::DEFAULT, br"SELECT a FROM documents WHERE b = 'x\'' AND id = 7"),
        ];
        for (mode, sql) in cases {
            let (l, toks) = lex_tokens_with(sql, mode);
            let with = PlanCache::new(10, 1 << 20).with_shards(sharded());
            let without = PlanCache::new(10, 1 << 20).with_shards(sharded());
            let p = with.plan_with_tokens(&l, Some(&toks), sql).0;
            assert_eq!(p, without.plan(&lex_with(sql, mode), sql));
            match p.tables.shard.as_deref() {
                Some(ShardShape::Routed { kind: Kind::Select { key, .. }, .. }) => {
                    assert!(key.is_some(), "{}", String::from_utf8_lossy(sql))
                }
                other => panic!("{}: {other:?}", String::from_utf8_lossy(sql)),
            }
        }
    }

    #[test]
    fn each_mode_gets_its_own_plan() {
        use crate::lexer::{LexMode, lex_with};
        let nbe = LexMode { no_backslash_escapes: true, ansi_quotes: false };
        let ansi = LexMode { no_backslash_escapes: false, ansi_quotes: true };
        // The same bytes: one SELECT in the default mode, a SELECT and a DELETE without backslash escapes.
        let sql: &[u8] = br"SELECT '\'; DELETE FROM t; -- '";
        for order in [[LexMode::DEFAULT, nbe], [nbe, LexMode::DEFAULT]] {
            let c = PlanCache::new(100, 1 << 20);
            for mode in order {
                let l = lex_with(sql, mode);
                let p = c.plan(&l, sql);
                if mode == nbe {
                    assert_eq!(p.target, Target::Primary);
                    assert_eq!(&*p.tables.written, &["t".to_string()][..]);
                } else {
                    assert_eq!((p.target, p.tables.written.len()), (Target::Replica, 0));
                }
            }
            assert_eq!(c.stats().misses, 2);
        }
        // `"Orders"` is a table in ANSI_QUOTES and a string otherwise: other text, other plan.
        let sql: &[u8] = br#"SELECT * FROM "Orders" WHERE id = 1"#;
        let c = PlanCache::new(100, 1 << 20);
        let p = c.plan(&lex_with(sql, ansi), sql);
        assert_eq!((p.target, &*p.tables.read), (Target::Replica, &["orders".to_string()][..]));
        assert_ne!(lex_with(sql, ansi).text, lex(sql).text);
        c.plan(&lex(sql), sql);
        assert_eq!(c.stats().misses, 2);
        // A statement that reads the same in both modes shares the plan (same text, same digest).
        let plain: &[u8] = b"SELECT a FROM t WHERE id = 5";
        c.plan(&lex(plain), plain);
        c.plan(&lex_with(plain, nbe), plain);
        assert_eq!(c.stats().hits, 1);
    }
}
