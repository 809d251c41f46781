//! Heartbeat bookkeeping of a logged-in connection: when to say hello, when to declare it dead.
//!
//! The client sends `hello` every `interval` (from the login reply). Any inbound frame proves the
//! connection alive. The connection is dead when nothing has arrived for `interval + grace` (grace is
//! the request timeout): by then a hello has been sent and has had `grace` to be answered. A network
//! hint starts a probe: a hello now, and the connection is dead unless something arrives within `grace`.

use crate::Millis;

/// Timers of the heartbeat on one connection.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    interval: Millis,
    grace: Millis,
    next_hello: Millis,
    last_inbound: Millis,
    probe_deadline: Option<Millis>,
}

impl Heartbeat {
    /// Starts at `now` (the login reply just arrived).
    pub(crate) fn start(now: Millis, interval: Millis, grace: Millis) -> Heartbeat {
        Heartbeat {
            interval,
            grace,
            next_hello: now.saturating_add(interval),
            last_inbound: now,
            probe_deadline: None,
        }
    }

    /// A frame arrived at `now`.
    pub(crate) fn inbound(&mut self, now: Millis) {
        self.last_inbound = now;
        self.probe_deadline = None;
    }

    /// A hello was sent at `now`.
    pub(crate) fn hello_sent(&mut self, now: Millis) {
        self.next_hello = now.saturating_add(self.interval);
    }

    /// A probe hello was sent at `now`: the connection must answer within the grace.
    pub(crate) fn probe_sent(&mut self, now: Millis) {
        let deadline = now.saturating_add(self.grace);
        self.probe_deadline = Some(self.probe_deadline.map_or(deadline, |d| d.min(deadline)));
        self.hello_sent(now);
    }

    /// When the connection counts as dead if nothing arrives before.
    pub(crate) fn dead_at(&self) -> Millis {
        let silent = self
            .last_inbound
            .saturating_add(self.interval)
            .saturating_add(self.grace);
        self.probe_deadline.map_or(silent, |p| p.min(silent))
    }

    /// When the next hello is due.
    pub(crate) fn hello_at(&self) -> Millis {
        self.next_hello
    }

    /// The earliest of the two deadlines.
    pub(crate) fn next_deadline(&self) -> Millis {
        self.hello_at().min(self.dead_at())
    }
}
