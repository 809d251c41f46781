//! The server's one clock: every read of time in `tim-server` goes through a [`Clock`] held in
//! `AppState`.
//!
//! Two kinds of time, one source each:
//! - monotonic ([`Clock::now`], tokio's `Instant`): deadlines, timeouts, rate-limit windows, grace;
//! - wall ([`Clock::unix_ms`], [`Clock::unix_secs`]): UserSig `TLS.time`/expiry, `serverTimeMs`,
//!   login times, the resume-grace end stored in the registry.
//!
//! [`Clock::system`] reads the system's wall clock. [`Clock::simulated`] derives wall time from tokio's
//! monotonic clock (a fixed Unix time plus the tokio time elapsed since the clock was made), so that under
//! `#[tokio::test(start_paused = true)]` and `tokio::time::advance` both kinds move together, in
//! simulated time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// The clock a server (or one test of it) reads. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `None`: wall time is the system's. `Some((unix_ms, at))`: wall time was `unix_ms` at tokio
    /// instant `at` and advances with tokio's clock.
    simulated_wall: Option<(u64, Instant)>,
}

impl Clock {
    /// The production clock: system wall time, tokio's monotonic time.
    pub fn system() -> Clock {
        Clock { simulated_wall: None }
    }

    /// A clock whose wall time is `unix_ms` now and then follows tokio's (possibly paused) clock.
    pub fn simulated(unix_ms: u64) -> Clock {
        Clock {
            simulated_wall: Some((unix_ms, Instant::now())),
        }
    }

    /// Monotonic now, for deadlines and windows.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Wall time, Unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        match self.simulated_wall {
            Some((unix_ms, at)) => unix_ms.saturating_add(millis(Instant::now().saturating_duration_since(at))),
            None => SystemTime::now().duration_since(UNIX_EPOCH).map(millis).unwrap_or(0),
        }
    }

    /// Wall time, Unix seconds (the unit of UserSig `TLS.time`).
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms() / 1000
    }

    /// The monotonic instant at which wall time reaches `unix_ms` (now, if it already has); `None` when
    /// that is too far ahead for an `Instant` to hold.
    pub fn instant_at_unix_ms(&self, unix_ms: u64) -> Option<Instant> {
        self.now()
            .checked_add(Duration::from_millis(unix_ms.saturating_sub(self.unix_ms())))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn simulated_wall_time_moves_with_paused_tokio_time() {
        let clock = Clock::simulated(1_700_000_000_000);
        let start = clock.now();
        assert_eq!(clock.unix_ms(), 1_700_000_000_000);
        tokio::time::advance(Duration::from_millis(1_500)).await;
        assert_eq!(clock.now() - start, Duration::from_millis(1_500));
        assert_eq!(clock.unix_ms(), 1_700_000_001_500);
        assert_eq!(clock.unix_secs(), 1_700_000_001);
        assert_eq!(
            clock.instant_at_unix_ms(1_700_000_002_000).map(|at| at - start),
            Some(Duration::from_millis(2_000))
        );
        assert_eq!(clock.instant_at_unix_ms(0), Some(clock.now()), "a past time is now");
        // The farthest wall time there is: an instant or None, never a panic.
        let _ = clock.instant_at_unix_ms(u64::MAX);
    }

    #[test]
    fn system_wall_time_is_after_2024() {
        assert!(Clock::system().unix_secs() > 1_700_000_000);
    }
}
