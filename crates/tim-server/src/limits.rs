//! Connection caps (global and per IP), taken when a TCP connection is accepted, and the failed-login
//! rate limit per IP.
//!
//! A connection is *pending* until it logs in. When a cap is reached, a new connection evicts the oldest
//! pending connection of the address that holds the most pending ones (for the per-IP cap: of its own
//! address), so silent or slow connections can never keep a valid user out; only logged-in connections
//! make the server refuse. Evicted connections close at once; until they have, up to `overcommit`
//! connections beyond the cap are allowed, and `overcommit` more for newcomers from a *light* address
//! (one holding fewer than half the pending connections of the heaviest): a valid user among
//! attackers whose evictions are still closing (the file-descriptor reserve covers both bands).
//! Everyone else is refused at once: a refusal is cheap, and waiting would stall the accept loop.
//!
//! Every per-address limit (these caps, the failed-login and admin-failure limiters) keys an address
//! with [`limit_key`]: IPv6 addresses are grouped by their first `ipv6_prefix_len` bits (a /64 by
//! default), so that rotating addresses inside one customer's block does not step around them.
//!
//! Behind a proxy the address at accept is the proxy's: such a connection takes a place that counts in
//! the total but not against its address ([`ConnectionCaps::acquire_unattributed`]), and moves to its
//! client's address (with that address's cap applied) once the client is known ([`ConnSlot::attribute`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Notify;

/// The key of `ip` in every per-address limit: an IPv4 address (IPv4-mapped IPv6 included) is itself, an
/// IPv6 address is its first `ipv6_prefix_len` bits (the rest zero).
pub fn limit_key(ip: IpAddr, ipv6_prefix_len: u8) -> IpAddr {
    match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => v4,
        v6 => mask(v6, ipv6_prefix_len),
    }
}

/// `ip` with every bit after the first `len` cleared.
pub fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            // A shift by the full width (a /0 prefix) keeps no bit: 0 is the answer, not a fallback.
            let keep = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

/// Places beyond the caps that may be taken while evicted connections close; twice as many for a
/// light address (both bands within the descriptor reserve of `accept::FD_RESERVE`).
pub const EVICTION_OVERCOMMIT: usize = 16;

/// Counts open connections; a [`ConnSlot`] gives its place back on drop.
#[derive(Debug)]
pub struct ConnectionCaps {
    max_total: usize,
    max_per_ip: usize,
    overcommit: usize,
    ipv6_prefix_len: u8,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    total: usize,
    evicting: usize,
    next_id: u64,
    per_ip: HashMap<IpAddr, PerIp>,
}

#[derive(Debug, Default)]
struct PerIp {
    open: usize,
    evicting: usize,
    /// Pending (not logged-in) connections, oldest first.
    pending: VecDeque<(u64, Arc<Eviction>)>,
}

#[derive(Debug, Default)]
struct Eviction {
    evicted: AtomicBool,
    notify: Notify,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every place is held by logged-in connections (or evictions are still under way).
    ServerFull,
    /// Every place of this address is held by its logged-in connections.
    AddressFull,
}

impl Refusal {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::ServerFull => "server_full",
            Refusal::AddressFull => "address_full",
        }
    }
}

/// One open connection's place in [`ConnectionCaps`].
#[derive(Debug)]
pub struct ConnSlot {
    caps: Arc<ConnectionCaps>,
    /// The limit key it counts under (it changes once, when a proxy's connection learns its client).
    ip: Mutex<IpAddr>,
    id: u64,
    eviction: Arc<Eviction>,
}

impl ConnectionCaps {
    /// Caps of `max_total` connections, `max_per_ip` of them from one address; `overcommit` places beyond
    /// the caps may be taken while evicted connections close.
    pub fn new(max_total: usize, max_per_ip: usize, overcommit: usize) -> Arc<ConnectionCaps> {
        ConnectionCaps::with_ipv6_prefix(max_total, max_per_ip, overcommit, 64)
    }

    /// Like [`ConnectionCaps::new`], IPv6 addresses grouped by `ipv6_prefix_len` bits ([`limit_key`]).
    pub fn with_ipv6_prefix(
        max_total: usize,
        max_per_ip: usize,
        overcommit: usize,
        ipv6_prefix_len: u8,
    ) -> Arc<ConnectionCaps> {
        Arc::new(ConnectionCaps {
            max_total,
            max_per_ip,
            overcommit,
            ipv6_prefix_len,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The total cap.
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// Takes a place for a (pending) connection from `ip`, evicting a pending one when a cap is reached.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, Refusal> {
        self.take(limit_key(ip, self.ipv6_prefix_len), true)
    }

    /// Takes a place for a connection from a proxy whose client is not known yet: it counts in the total
    /// (and may be evicted while pending) but not against the proxy's own address, which carries every
    /// client behind it. [`ConnSlot::attribute`] moves it to its client's address.
    pub fn acquire_unattributed(self: &Arc<Self>, proxy: IpAddr) -> Result<ConnSlot, Refusal> {
        self.take(limit_key(proxy, self.ipv6_prefix_len), false)
    }

    fn take(self: &Arc<Self>, ip: IpAddr, per_address: bool) -> Result<ConnSlot, Refusal> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.total >= self.max_total + self.overcommit
            && (inner.total >= self.max_total + 2 * self.overcommit || !inner.is_light(ip))
        {
            return Err(Refusal::ServerFull);
        }
        if per_address {
            self.make_room_at(inner, ip)?;
        }
        if inner.total - inner.evicting >= self.max_total {
            let heaviest = inner
                .per_ip
                .iter()
                .filter(|(_, p)| !p.pending.is_empty())
                .max_by_key(|(_, p)| p.pending.len())
                .map(|(ip, _)| *ip);
            if !heaviest
                .and_then(|h| inner.per_ip.get_mut(&h))
                .is_some_and(evict_oldest)
            {
                drop_if_empty(&mut inner.per_ip, ip);
                return Err(Refusal::ServerFull);
            }
            inner.evicting += 1;
        }
        inner.next_id += 1;
        let id = inner.next_id;
        let eviction = Arc::new(Eviction::default());
        let mine = inner.per_ip.entry(ip).or_default();
        mine.open += 1;
        mine.pending.push_back((id, Arc::clone(&eviction)));
        inner.total += 1;
        Ok(ConnSlot {
            caps: Arc::clone(self),
            ip: Mutex::new(ip),
            id,
            eviction,
        })
    }

    /// Applies the per-address cap of `ip` to one more connection: evicts a pending one of `ip` when it is
    /// reached, or refuses.
    fn make_room_at(&self, inner: &mut Inner, ip: IpAddr) -> Result<(), Refusal> {
        let mine = inner.per_ip.entry(ip).or_default();
        if mine.open >= self.max_per_ip + self.overcommit {
            drop_if_empty(&mut inner.per_ip, ip);
            return Err(Refusal::AddressFull);
        }
        if mine.open - mine.evicting >= self.max_per_ip {
            if !evict_oldest(mine) {
                drop_if_empty(&mut inner.per_ip, ip);
                return Err(Refusal::AddressFull);
            }
            inner.evicting += 1;
        }
        Ok(())
    }

    /// Evicted connections that have not closed yet (the accept loop no longer waits on them; the unit
    /// tests read it).
    #[cfg(test)]
    fn evictions_in_flight(&self) -> usize {
        self.lock().evicting
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// True when `ip` holds fewer than half the pending connections of the heaviest address.
    fn is_light(&self, ip: IpAddr) -> bool {
        let pending = |p: &PerIp| p.pending.len();
        let heaviest = self.per_ip.values().map(pending).max().unwrap_or(0);
        self.per_ip.get(&ip).map_or(0, pending) * 2 < heaviest
    }
}

/// Tells the oldest pending connection of `per` to go; false when it has none.
fn evict_oldest(per: &mut PerIp) -> bool {
    let Some((_, eviction)) = per.pending.pop_front() else {
        return false;
    };
    eviction.evicted.store(true, Ordering::SeqCst);
    eviction.notify.notify_one();
    per.evicting += 1;
    true
}

fn drop_if_empty(per_ip: &mut HashMap<IpAddr, PerIp>, ip: IpAddr) {
    if per_ip.get(&ip).is_some_and(|p| p.open == 0) {
        per_ip.remove(&ip);
    }
}

impl ConnSlot {
    /// Marks the connection logged in (never evicted) or pending again (after a logout).
    pub fn set_logged_in(&self, logged_in: bool) {
        let mut inner = self.caps.lock();
        let ip = self.key();
        let Some(mine) = inner.per_ip.get_mut(&ip) else {
            return;
        };
        mine.pending.retain(|(id, _)| *id != self.id);
        if !logged_in && !self.is_evicted() {
            mine.pending.push_back((self.id, Arc::clone(&self.eviction)));
        }
    }

    /// The limit key the connection counts under.
    pub fn key(&self) -> IpAddr {
        *self.ip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the connection to its client's address `client` (the client behind a proxy), applying that
    /// address's cap (evicting a pending connection of it, or refusing when every place of it is logged
    /// in); `per_address: false` when `client` is itself a trusted proxy (its place then stays out of the
    /// per-address cap). An evicted connection stays where it is (it is closing).
    pub fn attribute(&self, client: IpAddr, per_address: bool) -> Result<(), Refusal> {
        let caps = &self.caps;
        let client = limit_key(client, caps.ipv6_prefix_len);
        let mut guard = caps.lock();
        let inner = &mut *guard;
        if self.is_evicted() {
            return Ok(());
        }
        let mut key = self.ip.lock().unwrap_or_else(|p| p.into_inner());
        // Leave the old entry first, so that moving to the same key checks the cap without counting itself.
        let mut was_pending = false;
        if let Some(old) = inner.per_ip.get_mut(&*key) {
            old.open = old.open.saturating_sub(1);
            let before = old.pending.len();
            old.pending.retain(|(id, _)| *id != self.id);
            was_pending = old.pending.len() != before;
        }
        let old_key = *key;
        let placed = if per_address {
            caps.make_room_at(inner, client)
        } else {
            Ok(())
        };
        let to = if placed.is_ok() { client } else { old_key };
        let entry = inner.per_ip.entry(to).or_default();
        entry.open += 1;
        if was_pending {
            entry.pending.push_back((self.id, Arc::clone(&self.eviction)));
        }
        if to != old_key {
            drop_if_empty(&mut inner.per_ip, old_key);
        }
        *key = to;
        placed
    }

    /// True once this connection has been told to make room.
    pub fn is_evicted(&self) -> bool {
        self.eviction.evicted.load(Ordering::SeqCst)
    }

    /// Resolves when this connection is evicted (at once if it already was).
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.eviction.notify.notified().await;
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut guard = self.caps.lock();
        // Read under the lock: an eviction between a read before it and the lock would be counted as in
        // flight for ever (and `evicting` would outgrow `total`).
        let evicted = self.is_evicted();
        let inner = &mut *guard;
        inner.total = inner.total.saturating_sub(1);
        if evicted {
            inner.evicting = inner.evicting.saturating_sub(1);
        }
        let ip = *self.ip.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = inner.per_ip.get_mut(&ip) {
            mine.open = mine.open.saturating_sub(1);
            if evicted {
                mine.evicting = mine.evicting.saturating_sub(1);
            } else {
                mine.pending.retain(|(id, _)| *id != self.id);
            }
            if mine.open == 0 {
                inner.per_ip.remove(&ip);
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
    ipv6_prefix_len: u8,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginFailureLimiter {
    /// At most `max_failures` failures per `window` from one address.
    pub fn new(max_failures: u32, window: Duration) -> LoginFailureLimiter {
        LoginFailureLimiter::with_ipv6_prefix(max_failures, window, 64)
    }

    /// Like [`LoginFailureLimiter::new`], IPv6 addresses grouped by `ipv6_prefix_len` bits ([`limit_key`]).
    pub fn with_ipv6_prefix(max_failures: u32, window: Duration, ipv6_prefix_len: u8) -> LoginFailureLimiter {
        LoginFailureLimiter {
            max_failures,
            window,
            ipv6_prefix_len,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// True when `ip` has used up its failures in the window that contains `now`.
    pub fn is_limited(&self, ip: IpAddr, now: Instant) -> bool {
        let windows = self.lock();
        windows
            .get(&limit_key(ip, self.ipv6_prefix_len))
            .is_some_and(|&(start, n)| now.saturating_duration_since(start) < self.window && n >= self.max_failures)
    }

    /// Records one failure from `ip` at `now`; the first failure after a window ended opens a new one.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) {
        let mut windows = self.lock();
        let entry = windows.entry(limit_key(ip, self.ipv6_prefix_len)).or_insert((now, 0));
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

/// sendMessage requests per sender account: a token bucket of `burst` requests refilled at `per_min`,
/// so that one user cannot flood another's push queue until the server drops the victim as a slow
/// consumer. Keyed by account (not address): many users behind one address each keep their own rate.
#[derive(Debug)]
pub struct SendRateLimiter<K> {
    /// Refill rate, tokens per second.
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: std::hash::Hash + Eq + Clone> SendRateLimiter<K> {
    /// `per_min` sustained, `burst` at once.
    pub fn new(per_min: u32, burst: u32) -> SendRateLimiter<K> {
        SendRateLimiter {
            per_sec: f64::from(per_min.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token for `sender` at `now`; false when the sender is over its rate.
    pub fn try_acquire(&self, sender: &K, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(sender.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets senders whose bucket has refilled (keeps memory bounded by recent senders).
    pub fn sweep(&self, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.per_sec);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.retain(|_, (_, last)| now.saturating_duration_since(*last) < refill);
    }
}

/// What the accept loop knows about a connection, handed to its requests as an extension.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    slot: Result<Arc<ConnSlot>, Refusal>,
}

impl ConnCtx {
    /// The context of a connection that took `slot` (or was refused one).
    pub fn new(slot: Result<Arc<ConnSlot>, Refusal>) -> ConnCtx {
        ConnCtx { slot }
    }

    /// The connection's place in the caps, or why it has none.
    pub fn take_slot(&self) -> Result<Arc<ConnSlot>, Refusal> {
        self.slot.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_release() {
        let caps = ConnectionCaps::new(3, 2, 0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = caps.acquire(a).unwrap();
        let s2 = caps.acquire(a).unwrap();
        s1.set_logged_in(true);
        s2.set_logged_in(true);
        assert_eq!(caps.acquire(a).unwrap_err(), Refusal::AddressFull);
        let s3 = caps.acquire(b).unwrap();
        s3.set_logged_in(true);
        assert_eq!(caps.acquire(b).unwrap_err(), Refusal::ServerFull);
        drop(s1);
        assert_eq!(caps.open(), 2);
        assert!(caps.acquire(a).is_ok());
    }

    #[test]
    fn a_full_cap_evicts_the_oldest_pending_connection_of_the_heaviest_address() {
        let caps = ConnectionCaps::new(4, 10, 2);
        let attacker: IpAddr = "10.0.0.9".parse().unwrap();
        let user: IpAddr = "10.0.0.1".parse().unwrap();
        let mine = caps.acquire(user).unwrap();
        let first = caps.acquire(attacker).unwrap();
        let _second = caps.acquire(attacker).unwrap();
        let _third = caps.acquire(attacker).unwrap();
        let newcomer = caps.acquire(user).unwrap();
        assert!(first.is_evicted(), "the attacker's oldest makes room");
        assert!(!mine.is_evicted() && !newcomer.is_evicted());
        drop(first);
        assert_eq!(caps.open(), 4);
        // Logged-in connections are never evicted: with every place logged in, refuse.
        let caps = ConnectionCaps::new(1, 1, 2);
        let held = caps.acquire(user).unwrap();
        held.set_logged_in(true);
        assert_eq!(caps.acquire(user).unwrap_err(), Refusal::AddressFull);
        assert_eq!(caps.acquire(attacker).unwrap_err(), Refusal::ServerFull);
        // A logout makes it pending (evictable) again.
        held.set_logged_in(false);
        let _next = caps.acquire(attacker).unwrap();
        assert!(held.is_evicted());
    }

    #[test]
    fn the_overcommit_bounds_places_taken_while_evictions_are_under_way() {
        let caps = ConnectionCaps::new(2, 100, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let _a = caps.acquire(ip).unwrap();
        let _b = caps.acquire(ip).unwrap();
        let _c = caps.acquire(ip).unwrap(); // evicts a, which has not closed yet
        assert_eq!(caps.acquire(ip).unwrap_err(), Refusal::ServerFull);
    }

    #[test]
    fn a_light_address_has_a_second_band_while_evictions_are_under_way() {
        let caps = ConnectionCaps::new(4, 100, 1);
        let attacker: IpAddr = "10.0.0.9".parse().unwrap();
        let user: IpAddr = "10.0.0.1".parse().unwrap();
        let _held: Vec<ConnSlot> = (0..5).map(|_| caps.acquire(attacker).unwrap()).collect();
        // The fifth evicted the attacker's oldest, still closing: the band is full for the attacker...
        assert_eq!(caps.evictions_in_flight(), 1);
        assert_eq!(caps.acquire(attacker).unwrap_err(), Refusal::ServerFull);
        // ...but a valid user from a light address gets in (and evicts in turn), once.
        let newcomer = caps.acquire(user).unwrap();
        assert!(!newcomer.is_evicted());
        assert_eq!(caps.evictions_in_flight(), 2);
        assert_eq!(caps.acquire(user).unwrap_err(), Refusal::ServerFull);
        // Light means under half the heaviest's pending connections: an equal address is not.
        let caps = ConnectionCaps::new(3, 100, 1);
        let other: IpAddr = "10.0.0.8".parse().unwrap();
        let _a: Vec<ConnSlot> = (0..2).map(|_| caps.acquire(attacker).unwrap()).collect();
        let _b = caps.acquire(other).unwrap();
        let _c = caps.acquire(attacker).unwrap(); // evicts the attacker's oldest, still closing
        assert_eq!(
            caps.acquire(other).unwrap_err(),
            Refusal::ServerFull,
            "1 of 2 is not light"
        );
    }

    #[test]
    fn send_rate_is_per_sender_with_a_burst() {
        let limiter = SendRateLimiter::new(60, 3); // one a second
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_acquire(&"alice", t0));
        }
        assert!(!limiter.try_acquire(&"alice", t0), "burst used up");
        assert!(limiter.try_acquire(&"bob", t0), "bob has his own bucket");
        assert!(!limiter.try_acquire(&"alice", t0 + Duration::from_millis(900)));
        assert!(
            limiter.try_acquire(&"alice", t0 + Duration::from_millis(1900)),
            "refilled"
        );
        limiter.sweep(t0 + Duration::from_secs(10));
        assert!(limiter.buckets.lock().unwrap().is_empty(), "full buckets forgotten");
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

    #[test]
    fn ipv6_addresses_share_a_key_per_prefix_in_every_limiter() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a, 64), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(limit_key(a, 64), limit_key(b, 64));
        assert_ne!(limit_key(a, 64), limit_key(other, 64));
        assert_eq!(limit_key(a, 48), limit_key(other, 48));
        assert_eq!(limit_key(a, 128), a);
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limit_key(v4, 64), v4, "IPv4 addresses are never grouped");
        assert_eq!(
            limit_key("::ffff:192.0.2.7".parse().unwrap(), 64),
            v4,
            "IPv4-mapped is IPv4"
        );
        // The caps: a second address of the /64 is the same address.
        let caps = ConnectionCaps::with_ipv6_prefix(10, 1, 0, 64);
        let held = caps.acquire(a).unwrap();
        held.set_logged_in(true);
        assert_eq!(caps.acquire(b).unwrap_err(), Refusal::AddressFull);
        assert!(caps.acquire(other).is_ok());
        // The failed-login limiter: failures from rotating addresses share one bucket.
        let limiter = LoginFailureLimiter::with_ipv6_prefix(2, Duration::from_secs(10), 64);
        let now = Instant::now();
        limiter.record_failure(a, now);
        limiter.record_failure(b, now);
        assert!(limiter.is_limited("2001:db8:1:2::99".parse().unwrap(), now));
        assert!(!limiter.is_limited(other, now));
    }

    #[test]
    fn a_proxys_connection_counts_against_its_client_once_attributed() {
        let caps = ConnectionCaps::new(10, 2, 2);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let alice: IpAddr = "192.0.2.1".parse().unwrap();
        let bob: IpAddr = "192.0.2.2".parse().unwrap();
        // Many connections of the proxy: its address has no cap of its own.
        let slots: Vec<ConnSlot> = (0..6).map(|_| caps.acquire_unattributed(proxy).unwrap()).collect();
        assert_eq!(caps.open(), 6);
        for s in &slots[..2] {
            s.attribute(alice, true).unwrap();
            s.set_logged_in(true);
        }
        assert_eq!(slots[2].attribute(alice, true).unwrap_err(), Refusal::AddressFull);
        slots[3].attribute(bob, true).unwrap();
        slots[4].attribute(bob, true).unwrap();
        // Bob's third evicts his oldest pending one.
        slots[5].attribute(bob, true).unwrap();
        assert!(slots[3].is_evicted() && !slots[4].is_evicted());
        drop(slots);
        assert_eq!(caps.open(), 0);
        assert!(caps.lock().per_ip.is_empty(), "every entry is gone");
    }
}
