//! The replay summary: per digest count and p50/p95/p99 now vs in the capture, error differences and
//! the biggest regressions; as a text table, one JSON document, or (html.rs) a page with plots.

use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use super::exec::Outcome;
use super::workload::Workload;

/// Percentiles of one digest, µs.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Pcts {
    /// Median.
    pub p50_us: u64,
    /// 95th percentile.
    pub p95_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

impl Pcts {
    /// Exact (nearest-rank) percentiles of `v`; `None` when empty.
    pub fn of(v: &mut [u64]) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Self { p50_us: at(0.50), p95_us: at(0.95), p99_us: at(0.99) })
    }
}

/// One digest's line.
#[derive(Debug, Clone, Serialize)]
pub struct DigestRow {
    /// Digest id, 16 hex digits.
    pub digest: String,
    /// Normalized text.
    pub text: String,
    /// Statements replayed.
    pub count: u64,
    /// Captured latencies of those statements (when the source has them).
    pub then: Option<Pcts>,
    /// Replay latencies.
    pub now: Option<Pcts>,
    /// Failed in the capture.
    pub errors_then: u64,
    /// Failed in the replay.
    pub errors_now: u64,
    /// Replay p95 / captured p95.
    pub p95_ratio: Option<f64>,
    #[serde(skip)]
    /// Replay latencies (for plots).
    pub samples: Vec<(u64, u64)>,
}

/// A statement whose outcome differs from the capture's.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDiff {
    /// Session id in the source.
    pub session: u64,
    /// The statement (first 200 bytes).
    pub sql: String,
    /// Error code in the capture (0: success).
    pub then: u16,
    /// Error code now.
    pub now: u16,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `capture`, `general` or `slow`.
    pub format: &'static str,
    /// `host:port`, or `dry-run`.
    pub target: String,
    /// Speed factor.
    pub speed: f64,
    /// Sessions in the source.
    pub sessions: usize,
    /// Statements in the source.
    pub statements: u64,
    /// Statements replayed.
    pub replayed: u64,
    /// Statements skipped (covered by the start position, `--duration`, `--read-only`).
    pub skipped: u64,
    /// Writes among the replayed statements.
    pub writes: u64,
    /// Records the capture dropped (footer), if known.
    pub dropped_in_capture: Option<u64>,
    /// Errors in the capture / now.
    pub errors_then: u64,
    /// Errors now.
    pub errors_now: u64,
    /// Statements whose error code differs from the capture's.
    pub error_mismatches: u64,
    /// Waits for the write order that timed out.
    pub order_timeouts: u64,
    /// Sessions that could not connect.
    pub connect_failures: u64,
    /// Captured span (first to last statement), s.
    pub captured_span_s: f64,
    /// Replay wall time, s.
    pub elapsed_s: f64,
    /// Replayed statements per second.
    pub qps: f64,
    /// Per digest, most frequent first.
    pub digests: Vec<DigestRow>,
    /// Digests whose p95 grew most (ratio > 1), worst first, at most 10.
    pub regressions: Vec<DigestRow>,
    /// The first 20 error differences.
    pub error_diffs: Vec<ErrorDiff>,
}

/// Builds the summary of a replay (`outcomes` empty for a dry run).
pub fn summarize(
    w: &Workload,
    outcomes: &[Outcome],
    target: String,
    speed: f64,
    elapsed_s: f64,
    counters: (u64, u64),
) -> Summary {
    struct Acc {
        text: String,
        then: Vec<u64>,
        now: Vec<u64>,
        errors_then: u64,
        errors_now: u64,
        samples: Vec<(u64, u64)>,
    }
    let mut by: HashMap<u64, Acc> = HashMap::new();
    let (mut errors_then, mut errors_now, mut mismatches, mut writes) = (0, 0, 0, 0);
    let mut diffs = Vec::new();
    for o in outcomes {
        let script = &w.sessions[o.session];
        let e = &script.events[o.event];
        let a = by.entry(e.digest).or_insert_with(|| Acc {
            text: e.digest_text.clone(),
            then: Vec::new(),
            now: Vec::new(),
            errors_then: 0,
            errors_now: 0,
            samples: Vec::new(),
        });
        a.now.push(o.latency_us);
        a.samples.push((o.at_us, o.latency_us));
        if let Some(t) = e.captured_us {
            a.then.push(t);
        }
        writes += u64::from(e.write);
        let then = e.error.unwrap_or(0);
        errors_then += u64::from(then != 0);
        a.errors_then += u64::from(then != 0);
        errors_now += u64::from(o.error != 0);
        a.errors_now += u64::from(o.error != 0);
        if e.error.is_some_and(|t| t != o.error) {
            mismatches += 1;
            if diffs.len() < 20 {
                let sql: String = e.sql.chars().take(200).collect();
                diffs.push(ErrorDiff { session: script.id, sql, then, now: o.error });
            }
        }
    }
    let mut digests: Vec<DigestRow> = by
        .into_iter()
        .map(|(d, mut a)| {
            let then = Pcts::of(&mut a.then);
            let now = Pcts::of(&mut a.now);
            let p95_ratio = match (then, now) {
                (Some(t), Some(n)) => Some(n.p95_us as f64 / t.p95_us.max(1) as f64),
                _ => None,
            };
            DigestRow {
                digest: format!("{d:016x}"),
                text: a.text,
                count: a.now.len() as u64,
                then,
                now,
                errors_then: a.errors_then,
                errors_now: a.errors_now,
                p95_ratio,
                samples: a.samples,
            }
        })
        .collect();
    digests.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    let mut regressions: Vec<DigestRow> =
        digests.iter().filter(|d| d.p95_ratio.is_some_and(|r| r > 1.0)).cloned().collect();
    regressions.sort_by(|a, b| b.p95_ratio.unwrap_or(0.0).total_cmp(&a.p95_ratio.unwrap_or(0.0)));
    regressions.truncate(10);
    let statements = w.events().count() as u64;
    let skipped = w.events().filter(|e| e.skip).count() as u64;
    let first = w.events().map(|e| e.offset_us).min().unwrap_or(0);
    let last = w.events().map(|e| e.offset_us.saturating_add(e.captured_us.unwrap_or(0))).max().unwrap_or(0);
    Summary {
        format: w.format,
        target,
        speed,
        sessions: w.sessions.len(),
        statements,
        replayed: outcomes.len() as u64,
        skipped,
        writes,
        dropped_in_capture: w.dropped_in_capture,
        errors_then,
        errors_now,
        error_mismatches: mismatches,
        order_timeouts: counters.0,
        connect_failures: counters.1,
        captured_span_s: last.saturating_sub(first) as f64 / 1e6,
        elapsed_s,
        qps: if elapsed_s > 0.0 { outcomes.len() as f64 / elapsed_s } else { 0.0 },
        digests,
        regressions,
        error_diffs: diffs,
    }
}

fn ms(p: Option<Pcts>, f: fn(&Pcts) -> u64) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{:.2}", f(&p) as f64 / 1000.0))
}

/// Writes the summary as text tables.
pub fn write_text(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "replay of a {} ({} sessions, {} statements) against {} at speed {}: {} replayed, {} skipped, {} writes",
        s.format, s.sessions, s.statements, s.target, s.speed, s.replayed, s.skipped, s.writes
    )?;
    writeln!(
        out,
        "captured span {:.2}s, replay took {:.2}s ({:.0} statements/s); errors then {} now {} ({} differ); order waits timed out {}; connect failures {}",
        s.captured_span_s,
        s.elapsed_s,
        s.qps,
        s.errors_then,
        s.errors_now,
        s.error_mismatches,
        s.order_timeouts,
        s.connect_failures
    )?;
    if let Some(d) = s.dropped_in_capture.filter(|d| *d > 0) {
        writeln!(
            out,
            "warning: the capture dropped {d} statements (its writer fell behind): the replay is incomplete"
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}  digest",
        "count", "p50 then", "p50 now", "p95 then", "p95 now", "p99 then", "p99 now", "err<", "err>"
    )?;
    for d in &s.digests {
        let text: String = d.text.chars().take(70).collect();
        writeln!(
            out,
            "{:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}  {text}",
            d.count,
            ms(d.then, |p| p.p50_us),
            ms(d.now, |p| p.p50_us),
            ms(d.then, |p| p.p95_us),
            ms(d.now, |p| p.p95_us),
            ms(d.then, |p| p.p99_us),
            ms(d.now, |p| p.p99_us),
            d.errors_then,
            d.errors_now
        )?;
    }
    writeln!(out, "(latencies in ms; err< in the capture, err> now)")?;
    if !s.regressions.is_empty() {
        writeln!(out, "\nbiggest regressions (p95 now / then):")?;
        for d in &s.regressions {
            writeln!(
                out,
                "  {:>7.2}x  {}",
                d.p95_ratio.unwrap_or(0.0),
                d.text.chars().take(90).collect::<String>()
            )?;
        }
    }
    if !s.error_diffs.is_empty() {
        writeln!(out, "\nerror differences (first {}):", s.error_diffs.len())?;
        for e in &s.error_diffs {
            writeln!(
                out,
                "  session {} then {} now {}: {}",
                e.session,
                e.then,
                e.now,
                e.sql.replace('\n', " ")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(Pcts::of(&mut v), Some(Pcts { p50_us: 50, p95_us: 95, p99_us: 99 }));
        assert_eq!(Pcts::of(&mut [7]), Some(Pcts { p50_us: 7, p95_us: 7, p99_us: 7 }));
        assert_eq!(Pcts::of(&mut []), None);
    }
}
