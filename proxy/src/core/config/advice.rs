//! `[advice]`: thresholds of the advice sluice gives from what sessions run.

use serde::{Deserialize, Serialize};

/// `[advice]`: what sluice suggests from the statements it sees (admin `SHOW ADVICE`, HTTP `/advice`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdviceConfig {
    /// Advice on/off (per-session loop detection costs a few comparisons per statement). Default true.
    pub enabled: bool,
    /// The same statement shape this many times in one session within `repeat_window_ms`, with
    /// different literals, is a loop: N+1 SELECTs ("batch them with IN (…)") or single-row INSERTs
    /// ("use a multi-row INSERT"). Default 10.
    pub repeat_threshold: u32,
    /// The window of `repeat_threshold`, ms. Default 1000.
    pub repeat_window_ms: u64,
    /// p99 is compared between consecutive intervals of this length, ms. Default 60000.
    pub p99_interval_ms: u64,
    /// p99 of an interval this many times the previous interval's (and at least 1 ms more) is "rising".
    /// Default 2.0.
    pub p99_rise_factor: f64,
    /// A digest returning more rows than this per statement on average, without LIMIT, is flagged.
    /// Default 1000.
    pub large_result_rows: u64,
    /// An OFFSET (or `LIMIT a, b` start) at least this deep is flagged. Default 1000.
    pub deep_offset: u64,
    /// Digests run at least this often are "read-heavy" for the `SELECT *` lint. Default 100.
    pub read_heavy_count: u64,
}

impl Default for AdviceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            repeat_threshold: 10,
            repeat_window_ms: 1_000,
            p99_interval_ms: 60_000,
            p99_rise_factor: 2.0,
            large_result_rows: 1_000,
            deep_offset: 1_000,
            read_heavy_count: 100,
        }
    }
}
