//! A latency sketch with a bounded relative error (DDSketch's logarithmic buckets): a quantile it
//! reports is within 1 % of the true value, whatever the distribution, in at most a few KiB per digest.

/// Relative accuracy of reported quantiles.
const ALPHA: f64 = 0.01;

/// Buckets cover 1 µs … ~2.8 hours; faster values count in the first bucket, slower in the last.
const MIN_US: f64 = 1.0;
const BUCKETS: usize = 1_100;

/// Counts of latencies in logarithmic buckets (bucket i holds values in (γ^(i-1), γ^i] µs).
#[derive(Debug, Clone, Default)]
pub struct Sketch {
    /// Dense counts from `offset`, grown on demand: a digest with steady latencies uses a few dozen.
    counts: Vec<u32>,
    offset: usize,
    total: u64,
}

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

fn index_of(us: f64) -> usize {
    if us <= MIN_US {
        return 0;
    }
    let i = (us / MIN_US).ln() / gamma().ln();
    (i.ceil() as usize).min(BUCKETS - 1)
}

/// The value reported for bucket `i`: the middle of the bucket in relative terms.
fn value_of(i: usize) -> f64 {
    if i == 0 {
        return MIN_US;
    }
    let g = gamma();
    MIN_US * 2.0 * g.powi(i as i32) / (g + 1.0)
}

impl Sketch {
    /// Counts one latency in microseconds.
    pub fn add(&mut self, us: f64) {
        let i = index_of(us);
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        } else if i < self.offset {
            let grow = self.offset - i;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        } else if i >= self.offset + self.counts.len() {
            self.counts.resize(i - self.offset + 1, 0);
        }
        let slot = &mut self.counts[i - self.offset];
        *slot = slot.saturating_add(1);
        self.total += 1;
    }

    /// The `q` quantile (0..=1) in microseconds; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * (self.total - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        for (k, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen > rank {
                return Some(value_of(self.offset + k));
            }
        }
        Some(value_of(self.offset + self.counts.len().saturating_sub(1)))
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// What was counted after `older` (an earlier clone of this sketch): the counts of one interval.
    /// A bucket that shrank (the sketch was reset in between) counts as empty.
    pub fn since(&self, older: &Sketch) -> Sketch {
        let mut out = Sketch { counts: Vec::with_capacity(self.counts.len()), offset: self.offset, total: 0 };
        for (k, c) in self.counts.iter().enumerate() {
            let i = self.offset + k;
            let before = i.checked_sub(older.offset).and_then(|j| older.counts.get(j)).copied().unwrap_or(0);
            let d = c.saturating_sub(before);
            out.counts.push(d);
            out.total += u64::from(d);
        }
        out
    }

    /// Bytes of counts held.
    pub fn bytes(&self) -> usize {
        self.counts.len() * 4
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_one_percent() {
        let mut s = Sketch::default();
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 3.7).collect();
        for v in values.iter().rev() {
            s.add(*v);
        }
        for q in [0.5, 0.95, 0.99] {
            let exact = values[((values.len() - 1) as f64 * q) as usize];
            let got = s.quantile(q).unwrap();
            assert!((got - exact).abs() / exact <= 0.0101, "q{q}: {got} vs {exact}");
        }
        assert_eq!(s.count(), 10_000);
        assert!(s.bytes() <= 8 * 1024, "{}", s.bytes());
    }

    #[test]
    fn since_gives_one_interval() {
        let mut s = Sketch::default();
        for _ in 0..100 {
            s.add(100.0);
        }
        let before = s.clone();
        for _ in 0..100 {
            s.add(10_000.0);
        }
        let d = s.since(&before);
        assert_eq!(d.count(), 100);
        assert!((d.quantile(0.5).unwrap() - 10_000.0).abs() < 150.0);
        assert_eq!(s.since(&s.clone()).count(), 0);
        assert_eq!(s.since(&Sketch::default()).count(), 200);
    }

    #[test]
    fn extremes_and_empty() {
        let mut s = Sketch::default();
        assert_eq!(s.quantile(0.5), None);
        s.add(0.0);
        s.add(1e13);
        assert_eq!(s.quantile(0.0), Some(MIN_US));
        assert!(s.quantile(1.0).unwrap() > 1e9);
    }
}
