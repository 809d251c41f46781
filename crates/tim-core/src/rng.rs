//! A tiny deterministic PRNG (SplitMix64) for reconnect jitter.
//!
//! The core takes no randomness from the platform: the seed comes in [`crate::Config::rng_seed`], so a
//! test that fixes the seed replays the exact same delays.

/// SplitMix64 (Steele, Lea, Flood 2014): one `u64` of state, full period, good enough for jitter.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator started from `seed` (any value, zero included).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..=max`, uniform up to a negligible bias.
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            // Multiply-shift maps 64 random bits onto 0..span without a modulo.
            Some(span) => ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn same_seed_same_sequence_and_known_first_value() {
        let mut a = Rng::new(0);
        let mut b = Rng::new(0);
        // First SplitMix64 output for seed 0 (reference implementation).
        assert_eq!(a.next_u64(), 0xE220_A839_7B1D_CDAF);
        b.next_u64();
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn up_to_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(42);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.up_to(4);
            assert!(v <= 4);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(rng.up_to(0), 0);
        let _ = rng.up_to(u64::MAX);
    }
}
