//! Advice from what sessions run: N+1 SELECT loops and single-row INSERT loops (detected per session,
//! [`SessionTrack`]), statements that used no index and rising p99 (from the digest table, compared
//! interval by interval), and plan lints from the statement text ([`lint`]). Shown by admin
//! `SHOW ADVICE` and HTTP `/advice`; each finding has its digest, evidence and a suggested rewrite.
//!
//! Nothing here takes a lock shared by sessions on the hot path: a session's detector is its own; the
//! shared table is locked only when a loop crosses its threshold (then again when its count doubles).

pub mod lint;
mod session;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
pub use session::SessionTrack;

use crate::core::config::AdviceConfig;
use crate::features::stats::{DigestStats, Event, Sketch};

/// Loop findings kept at most (the oldest goes first).
const MAX_LOOPS: usize = 1000;

/// What a per-session loop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoopKind {
    /// The same SELECT shape again and again with different literals.
    NPlusOne,
    /// One-row INSERTs in a loop.
    SingleRowInsert,
}

/// What a piece of advice is about; its name (`as_str`, and the JSON of `/advice`) is snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The same SELECT by key, many times in one session.
    NPlusOne,
    /// One-row INSERTs in a loop.
    SingleRowInsert,
    /// Statements the server ran without an index.
    NoIndex,
    /// A digest's p99 rose over the last interval.
    RisingP99,
    /// `SELECT *` read often.
    SelectStar,
    /// A function over a column in WHERE (no index use).
    FunctionOnColumn,
    /// `LIKE '%…'`.
    LeadingWildcardLike,
    /// A large OFFSET.
    DeepOffset,
    /// Many rows and no LIMIT.
    LargeResultWithoutLimit,
}

impl Kind {
    /// Its name, as admin `SHOW ADVICE` and `/advice` print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NPlusOne => "n_plus_one",
            Self::SingleRowInsert => "single_row_insert",
            Self::NoIndex => "no_index",
            Self::RisingP99 => "rising_p99",
            Self::SelectStar => "select_star",
            Self::FunctionOnColumn => "function_on_column",
            Self::LeadingWildcardLike => "leading_wildcard_like",
            Self::DeepOffset => "deep_offset",
            Self::LargeResultWithoutLimit => "large_result_without_limit",
        }
    }
}

/// One piece of advice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// What it is about.
    pub kind: Kind,
    /// Digest id, 16 hex digits.
    pub digest: String,
    /// Normalized text.
    pub digest_text: String,
    /// Client user.
    pub user: String,
    /// Schema.
    pub schema: String,
    /// The session that showed it (loops only).
    pub session: Option<u32>,
    /// The count behind it (statements in the loop, or statements of the digest).
    pub count: u64,
    /// What was seen.
    pub evidence: String,
    /// What to do instead.
    pub suggestion: String,
    /// When it was last seen, seconds since the epoch.
    pub last_seen: u64,
}

/// p99 per interval, per digest key.
#[derive(Debug, Default)]
struct P99State {
    /// The sketch at the last tick and the p99 of the last complete interval (µs).
    prev: HashMap<(u64, String, String), (Sketch, Option<f64>)>,
    rising: Vec<Finding>,
}

/// Shared advice state.
#[derive(Debug)]
pub struct Advice {
    enabled: AtomicBool,
    threshold: AtomicU32,
    window_us: AtomicU64,
    cfg: ArcSwap<AdviceConfig>,
    loops: Mutex<HashMap<(LoopKind, u64, String), Finding>>,
    p99: Mutex<P99State>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Advice {
    /// From `[advice]`.
    pub fn new(cfg: &AdviceConfig) -> Self {
        let a = Self {
            enabled: AtomicBool::new(cfg.enabled),
            threshold: AtomicU32::new(cfg.repeat_threshold),
            window_us: AtomicU64::new(0),
            cfg: ArcSwap::from_pointee(cfg.clone()),
            loops: Mutex::new(HashMap::new()),
            p99: Mutex::new(P99State::default()),
        };
        a.configure(cfg);
        a
    }

    /// Applies a (reloaded) `[advice]`.
    pub fn configure(&self, cfg: &AdviceConfig) {
        self.enabled.store(cfg.enabled, Ordering::Relaxed);
        self.threshold.store(cfg.repeat_threshold.max(2), Ordering::Relaxed);
        self.window_us.store(cfg.repeat_window_ms.saturating_mul(1000), Ordering::Relaxed);
        self.cfg.store(std::sync::Arc::new(cfg.clone()));
    }

    /// Whether per-session detection runs.
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// `(repeat_threshold, repeat_window)`.
    pub fn repeat_limits(&self) -> (u32, Duration) {
        (
            self.threshold.load(Ordering::Relaxed),
            Duration::from_micros(self.window_us.load(Ordering::Relaxed)),
        )
    }

    /// How often p99 intervals are compared.
    pub fn p99_interval(&self) -> Duration {
        Duration::from_millis(self.cfg.load().p99_interval_ms.max(1))
    }

    /// A session crossed a loop threshold (called rarely: once, then at each doubling).
    pub fn report_loop(
        &self,
        kind: LoopKind,
        e: &Event<'_>,
        count: u32,
        distinct: u32,
        rows: u64,
        span: Duration,
    ) {
        let (name, suggestion) = match kind {
            LoopKind::NPlusOne => (Kind::NPlusOne, format!("batch these: `{}`", batched(e.text))),
            LoopKind::SingleRowInsert => (
                Kind::SingleRowInsert,
                "use a multi-row INSERT: `INSERT INTO … VALUES (…), (…), …` (hundreds of rows per statement), or LOAD DATA for bulk loads".to_owned(),
            ),
        };
        let evidence = format!(
            "{count} statements of this shape in {} ms in session {} (user {}), {distinct} with different literals, {rows} rows in all",
            span.as_millis(),
            e.session,
            e.user
        );
        let f = Finding {
            kind: name,
            digest: format!("{:016x}", e.digest),
            digest_text: e.text.to_owned(),
            user: e.user.to_owned(),
            schema: String::from_utf8_lossy(e.schema).into_owned(),
            session: Some(e.session),
            count: u64::from(count),
            evidence,
            suggestion,
            last_seen: now_secs(),
        };
        tracing::debug!(kind = name.as_str(), digest = %f.digest, session = e.session, count, "advice: loop detected");
        let Ok(mut loops) = self.loops.lock() else { return };
        if loops.len() >= MAX_LOOPS
            && let Some(oldest) = loops.iter().min_by_key(|(_, f)| f.last_seen).map(|(k, _)| k.clone())
        {
            loops.remove(&oldest);
        }
        let key = (kind, e.digest, f.user.clone());
        // Keep the largest loop seen for the digest (its evidence is the strongest).
        match loops.get_mut(&key) {
            Some(old) if old.count > f.count && old.session != f.session => old.last_seen = f.last_seen,
            _ => {
                loops.insert(key, f);
            }
        }
    }

    /// Compares each digest's p99 over the last interval with the interval before (run every
    /// `p99_interval_ms` by the state's ticker, `Shared::start_monitor`).
    pub fn tick(&self, digests: &[DigestStats]) {
        let factor = self.cfg.load().p99_rise_factor;
        let interval = self.p99_interval();
        let Ok(mut st) = self.p99.lock() else { return };
        let mut next = HashMap::with_capacity(digests.len());
        let mut rising = Vec::new();
        for d in digests {
            let key = (d.digest, d.user.to_string(), d.schema.to_string());
            let (window, last) = match st.prev.remove(&key) {
                Some((old, last)) => (d.sketch.since(&old), last),
                None => (d.sketch.clone(), None),
            };
            let p99 = (window.count() >= 20).then(|| window.quantile(0.99)).flatten();
            if let (Some(now), Some(before)) = (p99, last)
                && now > before * factor
                && now - before > 1_000.0
            {
                rising.push(Finding {
                    kind: Kind::RisingP99,
                    digest: format!("{:016x}", d.digest),
                    digest_text: d.text.to_string(),
                    user: d.user.to_string(),
                    schema: d.schema.to_string(),
                    session: None,
                    count: window.count(),
                    evidence: format!(
                        "p99 {:.0} µs over the last {} s ({} statements), was {:.0} µs the interval before",
                        now,
                        interval.as_secs(),
                        window.count(),
                        before
                    ),
                    suggestion: "look at what changed: EXPLAIN DIGEST for a plan change, SHOW BACKENDS for lag or a busy replica, the slow log for the outliers".to_owned(),
                    last_seen: now_secs(),
                });
            }
            next.insert(key, (d.sketch.clone(), p99.or(last)));
        }
        st.prev = next;
        st.rising = rising;
    }

    /// Forgets loops and p99 history (admin `RESET DIGESTS`).
    pub fn reset(&self) {
        if let Ok(mut l) = self.loops.lock() {
            l.clear();
        }
        if let Ok(mut p) = self.p99.lock() {
            *p = P99State::default();
        }
    }

    /// Every finding now: loops, rising p99, then per-digest advice from `digests` (most statements
    /// first within each kind). Evidence quotes statements as sent (admin `SHOW ADVICE`).
    pub fn findings(&self, digests: &[DigestStats]) -> Vec<Finding> {
        let cfg = self.cfg.load();
        let mut out = self.session_findings(usize::MAX);
        let mut per_digest = Vec::new();
        for d in digests {
            digest_findings(d, &cfg, true, &mut per_digest);
        }
        per_digest.sort_by_key(|f| std::cmp::Reverse(f.count));
        out.extend(per_digest);
        out
    }

    /// The first `limit` of [`Advice::findings`], computed on the digest table in place (entry by
    /// entry, under its shard's lock; only the findings kept are built). With `literals` false,
    /// evidence quotes normalized text only (HTTP `/advice` unless `[http] show_literals`).
    pub fn findings_top(
        &self,
        digests: &crate::features::stats::Digests,
        limit: usize,
        literals: bool,
    ) -> Vec<Finding> {
        let cfg = self.cfg.load();
        let mut out = self.session_findings(limit);
        let mut best = crate::features::stats::TopN::new(limit - out.len());
        let mut found = Vec::new();
        digests.for_each(|d| {
            if !best.admits(d.count) {
                return;
            }
            digest_findings(d, &cfg, literals, &mut found);
            for f in found.drain(..) {
                best.push(f.count, f);
            }
        });
        out.extend(best.into_sorted());
        out
    }

    /// Loops (most statements first), then rising p99; at most `limit`.
    fn session_findings(&self, limit: usize) -> Vec<Finding> {
        let mut out: Vec<Finding> =
            self.loops.lock().map(|l| l.values().cloned().collect()).unwrap_or_default();
        out.sort_by_key(|f| std::cmp::Reverse(f.count));
        if let Ok(p) = self.p99.lock() {
            out.extend(p.rising.iter().take(limit.saturating_sub(out.len())).cloned());
        }
        out.truncate(limit);
        out
    }
}

/// The findings of one digest: no index used, and its plan lints.
fn digest_findings(d: &DigestStats, cfg: &AdviceConfig, literals: bool, out: &mut Vec<Finding>) {
    let base = |kind: Kind, evidence: String, suggestion: String| Finding {
        kind,
        digest: format!("{:016x}", d.digest),
        digest_text: d.text.to_string(),
        user: d.user.to_string(),
        schema: d.schema.to_string(),
        session: None,
        count: d.count,
        evidence,
        suggestion,
        last_seen: d.last_seen.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |t| t.as_secs()),
    };
    if d.no_index > 0 {
        out.push(base(
            Kind::NoIndex,
            format!(
                "{} of {} statements used no index (server flag NO_INDEX_USED), {} rows sent, avg {} µs",
                d.no_index,
                d.count,
                d.rows_sent,
                d.avg_us()
            ),
            format!(
                "add an index on the columns this statement filters or joins on; EXPLAIN DIGEST {:016x} shows the plan",
                d.digest
            ),
        ));
    }
    for (kind, evidence, suggestion) in lint::lints(d, cfg, literals) {
        out.push(base(kind, evidence, suggestion));
    }
}

/// The normalized text with its first `col = ?` turned into `col in (?, ?, …)`.
fn batched(text: &str) -> String {
    let Some(w) = text.find(" where ") else { return format!("{text} -- one statement for many keys") };
    let (head, tail) = text.split_at(w);
    match tail.find(" = ?") {
        Some(at) => format!("{head}{} in (?, ?, …){}", &tail[..at], &tail[at + 4..]),
        None => format!("{text} -- one statement for many keys"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn batched_rewrites_the_first_equality() {
        assert_eq!(batched("select * from t where id = ?"), "select * from t where id in (?, ?, …)");
        assert_eq!(
            batched("select a from t where id = ? and b = ?"),
            "select a from t where id in (?, ?, …) and b = ?"
        );
    }

    fn event<'a>(sql: &'a [u8], text: &'a str, digest: u64) -> Event<'a> {
        Event {
            digest,
            text,
            sql,
            session: 7,
            peer: std::net::IpAddr::from([127, 0, 0, 1]),
            user: "app",
            schema: b"s",
            target: crate::features::stats::Target::Replica,
            latency: Duration::from_micros(100),
            rows_sent: 1,
            rows_affected: 0,
            error: false,
            warnings: 0,
            no_index: false,
            pinned: false,
            pins_opened: 0,
            cache: crate::features::stats::CacheStatus::Off,
        }
    }

    #[test]
    fn loop_of_point_selects_is_reported_once_with_its_session() {
        let advice = Advice::new(&AdviceConfig::default());
        let mut track = SessionTrack::default();
        let sqls: Vec<String> = (0..25).map(|i| format!("SELECT * FROM t WHERE id = {i}")).collect();
        for s in &sqls {
            track.observe(&event(s.as_bytes(), "select * from t where id = ?", 42), &advice);
            // Another shape in between does not break the loop.
            track.observe(&event(b"SELECT 1", "select ?", 43), &advice);
        }
        let f = advice.findings(&[]);
        let loops: Vec<_> = f.iter().filter(|f| f.kind == Kind::NPlusOne).collect();
        assert_eq!(loops.len(), 1, "{f:?}");
        assert_eq!(loops[0].session, Some(7));
        assert_eq!(loops[0].count, 20, "reported at 10, again at 20");
        assert!(loops[0].suggestion.contains("where id in (?, ?, …)"), "{}", loops[0].suggestion);
        // `select ?` repeated with the same text is not an N+1 (no different literals).
        assert!(f.iter().all(|f| f.digest != format!("{:016x}", 43)));
    }

    #[test]
    fn p99_rising_between_intervals() {
        let advice = Advice::new(&AdviceConfig::default());
        let d = crate::features::stats::Digests::new(100);
        let mut e = event(b"SELECT 1", "select ?", 1);
        for _ in 0..50 {
            d.record(&e);
        }
        advice.tick(&d.snapshot());
        for _ in 0..50 {
            d.record(&e);
        }
        advice.tick(&d.snapshot());
        assert!(advice.findings(&[]).is_empty());
        e.latency = Duration::from_millis(20);
        for _ in 0..50 {
            d.record(&e);
        }
        advice.tick(&d.snapshot());
        let f = advice.findings(&[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].kind, Kind::RisingP99);
    }
}
