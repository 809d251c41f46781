//! Latency samples and their percentiles.

use std::time::Duration;

/// A set of durations, in microseconds.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    micros: Vec<f64>,
}

impl Samples {
    /// Samples from microsecond values.
    pub fn from_micros(micros: Vec<f64>) -> Samples {
        Samples { micros }
    }

    /// Adds one duration.
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_secs_f64() * 1e6);
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `q` quantile (0.0..=1.0) in microseconds by the nearest-rank method; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.micros.is_empty() {
            return None;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s = Samples::from_micros((1..=100).map(f64::from).collect());
        assert_eq!(s.quantile(0.5), Some(50.0));
        assert_eq!(s.quantile(0.99), Some(99.0));
        assert_eq!(s.quantile(1.0), Some(100.0));
        assert_eq!(s.quantile(0.0), Some(1.0));
        assert_eq!(Samples::default().quantile(0.5), None);
    }
}
