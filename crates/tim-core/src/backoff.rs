//! The reconnect delay: exponential backoff with jitter, bounded.

use crate::rng::Rng;
use crate::Millis;

/// How long to wait before each reconnect attempt.
///
/// Attempt `n` (0 for the first retry after a drop) waits around
/// `base(n) = min(max_delay_ms, initial_delay_ms * multiplier^n)`, spread uniformly over
/// `base(n) ± base(n) * jitter_percent / 100` so that clients dropped together do not return together.
///
/// With the defaults the first retry comes after 0.8 to 1.2 s, then about 2, 4, 8, 16 s, and from then
/// on every 24 to 36 s: the delay never exceeds `max_delay_ms * (100 + jitter_percent) / 100`.
/// Out-of-range values are clamped when used: `initial_delay_ms >= 1`, `max_delay_ms >= initial_delay_ms`,
/// `multiplier >= 1`, `jitter_percent <= 100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Base delay of the first attempt (default 1 000 ms).
    pub initial_delay_ms: Millis,
    /// Cap of the base delay (default 30 000 ms).
    pub max_delay_ms: Millis,
    /// Growth factor of the base delay per failed attempt (default 2).
    pub multiplier: u32,
    /// Spread around the base delay, in percent of it (default 20).
    pub jitter_percent: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay_ms: 1_000,
            max_delay_ms: 30_000,
            multiplier: 2,
            jitter_percent: 20,
        }
    }
}

impl ReconnectPolicy {
    /// The base delay of attempt `attempt`, before jitter.
    pub fn base_delay(&self, attempt: u32) -> Millis {
        let initial = self.initial_delay_ms.max(1);
        let max = self.max_delay_ms.max(initial);
        let multiplier = u64::from(self.multiplier.max(1));
        let mut delay = initial;
        for _ in 0..attempt {
            delay = delay.saturating_mul(multiplier);
            if delay >= max {
                return max;
            }
        }
        delay.min(max)
    }

    /// The smallest and largest delay attempt `attempt` can get.
    pub fn delay_bounds(&self, attempt: u32) -> (Millis, Millis) {
        let base = self.base_delay(attempt);
        let spread = self.spread(base);
        (base - spread, base.saturating_add(spread))
    }

    /// The jittered delay of attempt `attempt`, drawn from `rng`.
    pub(crate) fn delay(&self, attempt: u32, rng: &mut Rng) -> Millis {
        let base = self.base_delay(attempt);
        let spread = self.spread(base);
        (base - spread).saturating_add(rng.up_to(spread.saturating_mul(2)))
    }

    /// `base * percent / 100`, rounded down, without overflow (and without a 128-bit division, which
    /// costs the wasm a kilobyte): with `base = 100q + r`, it is `q * percent + r * percent / 100`.
    fn spread(&self, base: Millis) -> Millis {
        let percent = Millis::from(self.jitter_percent.min(100));
        (base / 100) * percent + (base % 100) * percent / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn default_base_delays_double_up_to_the_cap() {
        let p = ReconnectPolicy::default();
        let bases: Vec<_> = (0..8).map(|n| p.base_delay(n)).collect();
        assert_eq!(bases, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(p.base_delay(u32::MAX), 30_000);
        assert_eq!(p.delay_bounds(0), (800, 1_200));
        assert_eq!(p.delay_bounds(40), (24_000, 36_000));
    }

    #[test]
    fn jittered_delays_stay_within_bounds_and_vary() {
        let p = ReconnectPolicy::default();
        let mut rng = Rng::new(7);
        for attempt in 0..20 {
            let (lo, hi) = p.delay_bounds(attempt);
            let delays: Vec<_> = (0..200).map(|_| p.delay(attempt, &mut rng)).collect();
            assert!(
                delays.iter().all(|d| (lo..=hi).contains(d)),
                "attempt {attempt}: {delays:?}"
            );
            assert!(delays.iter().any(|d| *d != delays[0]), "no jitter at attempt {attempt}");
        }
    }

    #[test]
    fn nonsense_values_are_clamped() {
        let p = ReconnectPolicy {
            initial_delay_ms: 0,
            max_delay_ms: 0,
            multiplier: 0,
            jitter_percent: 500,
        };
        assert_eq!(p.base_delay(0), 1);
        assert_eq!(p.base_delay(10), 1);
        assert_eq!(p.delay_bounds(3), (0, 2));
        let huge = ReconnectPolicy {
            initial_delay_ms: u64::MAX,
            max_delay_ms: u64::MAX,
            multiplier: 1000,
            jitter_percent: 100,
        };
        assert_eq!(huge.delay_bounds(5), (0, u64::MAX));
        let _ = huge.delay(5, &mut Rng::new(1));
    }
}
