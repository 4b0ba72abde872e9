//! Deadlines and durations from numbers the program does not choose (config values, admin statements,
//! command-line flags, a capture's offsets): they saturate instead of panicking. `Instant + Duration`
//! panics past what the monotonic clock represents, and `Duration::from_secs_f64` panics on a value
//! too large (`1e300`) or NaN. Shared by the proxy and `sluice replay`, which both depend on this
//! crate; no I/O.

use std::time::{Duration, Instant};

/// Longer than any real wait, and representable after any `Instant` a running process sees.
pub const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + d`, or `now + FAR` when `d` is longer than that.
pub fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

/// `secs` seconds as a duration: NaN and negatives are zero, values past [`FAR`] are `FAR`.
pub fn secs_f64(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(FAR, |d| d.min(FAR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_numbers_saturate() {
        let now = Instant::now();
        assert_eq!(after(now, Duration::from_millis(u64::MAX)), now + FAR);
        assert_eq!(after(now, Duration::MAX), now + FAR);
        assert_eq!(after(now, Duration::from_millis(5)), now + Duration::from_millis(5));
        assert_eq!(secs_f64(1e300), FAR);
        assert_eq!(secs_f64(f64::INFINITY), FAR);
        assert_eq!(secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(secs_f64(-1.0), Duration::ZERO);
        assert_eq!(secs_f64(1.5), Duration::from_millis(1500));
        assert_eq!(secs_f64(u64::MAX as f64 / 1e6 / 1e-300), FAR);
    }
}
