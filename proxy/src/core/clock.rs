//! Deadlines and durations from numbers sluice does not choose (config values, admin statements,
//! command-line flags, a replayed capture's offsets): they saturate instead of panicking.
//! `Instant + Duration` panics past what the monotonic clock represents, and
//! `Duration::from_secs_f64` panics on a value too large (`1e300`) or NaN.

use std::time::{Duration, Instant};

/// Longer than any real wait, and representable after any `Instant` a running process sees.
pub const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + d`, or `now + FAR` when `d` is longer than that.
pub fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

/// [`after`] for tokio's clock.
pub fn tokio_after(now: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
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
        let t = tokio::time::Instant::now();
        assert_eq!(tokio_after(t, Duration::from_secs(u64::MAX)), t + FAR);
        assert_eq!(secs_f64(1e300), FAR);
        assert_eq!(secs_f64(f64::INFINITY), FAR);
        assert_eq!(secs_f64(f64::NAN), Duration::ZERO);
        assert_eq!(secs_f64(-1.0), Duration::ZERO);
        assert_eq!(secs_f64(1.5), Duration::from_millis(1500));
        assert_eq!(secs_f64(u64::MAX as f64 / 1e6 / 1e-300), FAR);
    }
}
