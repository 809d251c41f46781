//! Connection caps (global and per IP) and the failed-login rate limit per IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Counts open connections; a [`ConnSlot`] gives its place back on drop.
#[derive(Debug)]
pub struct ConnectionCaps {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One open connection's place in [`ConnectionCaps`].
#[derive(Debug)]
pub struct ConnSlot {
    caps: Arc<ConnectionCaps>,
    ip: IpAddr,
}

impl ConnectionCaps {
    /// Caps of `max_total` connections, `max_per_ip` of them from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps {
            max_total,
            max_per_ip,
            counts: Mutex::new((0, HashMap::new())),
        })
    }

    /// Takes a place for a connection from `ip`, or `None` when a cap is reached.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        let mut counts = self.lock();
        let (total, per_ip) = &mut *counts;
        let mine = per_ip.get(&ip).copied().unwrap_or(0);
        if *total >= self.max_total || mine >= self.max_per_ip {
            return None;
        }
        *total += 1;
        per_ip.insert(ip, mine + 1);
        Some(ConnSlot {
            caps: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = self.caps.lock();
        let (total, per_ip) = &mut *counts;
        *total = total.saturating_sub(1);
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Failed logins per IP in fixed windows. Only failures count, so many valid users behind one address
/// are never limited. Time comes in as `now` (the server's clock), so that the windows are tested at
/// explicit instants.
#[derive(Debug)]
pub struct LoginFailureLimiter {
    max_failures: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginFailureLimiter {
    /// At most `max_failures` failures per `window` from one address.
    pub fn new(max_failures: u32, window: Duration) -> LoginFailureLimiter {
        LoginFailureLimiter {
            max_failures,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// True when `ip` has used up its failures in the window that contains `now`.
    pub fn is_limited(&self, ip: IpAddr, now: Instant) -> bool {
        let windows = self.lock();
        windows
            .get(&ip)
            .is_some_and(|&(start, n)| now.saturating_duration_since(start) < self.window && n >= self.max_failures)
    }

    /// Records one failure from `ip` at `now`; the first failure after a window ended opens a new one.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut windows = self.lock();
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Forgets windows that ended by `now` (keeps memory bounded by recently failing addresses).
    pub fn sweep(&self, now: Instant) {
        let window = self.window;
        self.lock()
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
    }

    /// Addresses with a window still remembered.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_release() {
        let caps = ConnectionCaps::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = caps.acquire(a).unwrap();
        let _s2 = caps.acquire(a).unwrap();
        assert!(caps.acquire(a).is_none(), "per-ip cap");
        let _s3 = caps.acquire(b).unwrap();
        assert!(caps.acquire(b).is_none(), "global cap");
        drop(s1);
        assert_eq!(caps.open(), 2);
        assert!(caps.acquire(a).is_some());
    }

    #[test]
    fn only_failures_count() {
        let t0 = Instant::now();
        let limiter = LoginFailureLimiter::new(2, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!limiter.is_limited(ip, t0));
        limiter.record_failure(ip, t0);
        assert!(!limiter.is_limited(ip, t0));
        limiter.record_failure(ip, t0);
        assert!(limiter.is_limited(ip, t0));
        assert!(!limiter.is_limited("10.0.0.2".parse().unwrap(), t0));
    }

    #[test]
    fn the_limit_lasts_exactly_one_window_from_the_first_failure() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let limiter = LoginFailureLimiter::new(2, ms(10_000));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record_failure(ip, t0);
        limiter.record_failure(ip, t0 + ms(4_000));
        // The window opened at the first failure, not the last.
        assert!(limiter.is_limited(ip, t0 + ms(4_000)));
        assert!(limiter.is_limited(ip, t0 + ms(9_999)));
        assert!(!limiter.is_limited(ip, t0 + ms(10_000)));
        // A failure after the window starts a new count of one.
        limiter.record_failure(ip, t0 + ms(10_000));
        assert!(!limiter.is_limited(ip, t0 + ms(10_000)));
        limiter.record_failure(ip, t0 + ms(19_999));
        assert!(limiter.is_limited(ip, t0 + ms(19_999)));
        // The sweep forgets a window only once it has ended.
        limiter.sweep(t0 + ms(19_999));
        assert_eq!(limiter.tracked(), 1);
        limiter.sweep(t0 + ms(20_000));
        assert_eq!(limiter.tracked(), 0);
        assert!(!limiter.is_limited(ip, t0 + ms(20_000)));
    }
}
