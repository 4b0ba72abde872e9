//! Saturating deadlines (see `sluice_protocol::clock`, shared with `sluice replay`), and the same for
//! tokio's clock.

use std::time::Duration;

pub use sluice_protocol::clock::{FAR, after, secs_f64};

/// [`after`] for tokio's clock.
pub fn tokio_after(now: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokio_deadlines_saturate() {
        let t = tokio::time::Instant::now();
        assert_eq!(tokio_after(t, Duration::from_secs(u64::MAX)), t + FAR);
        assert_eq!(tokio_after(t, Duration::from_millis(5)), t + Duration::from_millis(5));
    }
}
