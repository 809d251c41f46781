//! The connections of this process, by id: how kicks and pushed messages reach a connection's task.
//!
//! One mailbox per connection, two queues in it. Control (kick, replace, close) carries at most a few
//! server-originated commands per instance. Pushes (messages from other users) are bounded by
//! `limits.outbound_queue_frames`; a connection whose push queue is full is a slow consumer and is told
//! to close instead of growing memory. The mailbox allocates nothing until something is queued (two tokio
//! channels preallocated a 32-slot block each: ~4 KB per idle connection).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tim_protocol::{KickType, ServerFrame};
use tokio::sync::Notify;

use crate::registry::{ConnId, Evictor};

/// A command to a connection's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The registry removed this instance: push `kicked` (naming the evicting login `by`, when known),
    /// close with 4001, forget the instance.
    Kick {
        instance_id: String,
        kick_type: KickType,
        by: Option<Evictor>,
    },
    /// Another connection resumed this instance: close without a kick, keep the slot alone.
    Replaced { instance_id: String },
    /// This node cannot serve the instance now (it fenced itself): close with 1012 so that the client
    /// resumes at once, on another node where there is one; the registry is not touched.
    Move { instance_id: String },
    /// Close with this code (slow consumer).
    Close { code: u16, reason: &'static str },
}

/// What one connection's task receives, control commands first.
#[derive(Debug)]
pub enum Inbound {
    /// A control command.
    Control(Control),
    /// A pushed frame.
    Push(ServerFrame),
}

#[derive(Debug, Default)]
struct Queues {
    control: VecDeque<Control>,
    push: VecDeque<ServerFrame>,
}

#[derive(Debug)]
struct Mailbox {
    queues: Mutex<Queues>,
    ready: Notify,
    capacity: usize,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The receiving end, owned by the connection's task.
#[derive(Debug)]
pub struct ConnInbox {
    mailbox: Arc<Mailbox>,
}

impl ConnInbox {
    /// The next control command or pushed frame (control first). Cancellation-safe: nothing is taken
    /// from the queues unless it is returned.
    pub async fn recv(&mut self) -> Inbound {
        loop {
            {
                let mut queues = self.mailbox.lock();
                if let Some(cmd) = queues.control.pop_front() {
                    return Inbound::Control(cmd);
                }
                if let Some(frame) = queues.push.pop_front() {
                    return Inbound::Push(frame);
                }
            }
            // notify_one stores a permit when nobody waits, so a push between the check and here is seen.
            self.mailbox.ready.notified().await;
        }
    }
}

/// Close code for a client that does not read its pushes fast enough (RFC 6455 policy violation).
pub const SLOW_CONSUMER_CLOSE: u16 = 1008;

/// Registered connections.
#[derive(Debug, Default)]
pub struct Hub {
    next_id: AtomicU64,
    conns: Mutex<HashMap<ConnId, Arc<Mailbox>>>,
}

impl Hub {
    /// Registers a new connection with a push queue of `queue` frames.
    pub fn register(&self, queue: usize) -> (ConnId, ConnInbox) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mailbox = Arc::new(Mailbox {
            queues: Mutex::new(Queues::default()),
            ready: Notify::new(),
            capacity: queue.max(1),
        });
        self.lock().insert(id, Arc::clone(&mailbox));
        (id, ConnInbox { mailbox })
    }

    /// Forgets a connection (its task ended).
    pub fn unregister(&self, id: ConnId) {
        self.lock().remove(&id);
    }

    /// Sends a control command; false when the connection is gone.
    pub fn control(&self, id: ConnId, cmd: Control) -> bool {
        let Some(mailbox) = self.lock().get(&id).cloned() else {
            return false;
        };
        mailbox.lock().control.push_back(cmd);
        mailbox.ready.notify_one();
        true
    }

    /// Queues a pushed frame; a full queue makes the connection close as a slow consumer.
    pub fn push(&self, id: ConnId, frame: ServerFrame) {
        let Some(mailbox) = self.lock().get(&id).cloned() else {
            return;
        };
        {
            let mut queues = mailbox.lock();
            if queues.push.len() < mailbox.capacity {
                queues.push.push_back(frame);
            } else if !queues.control.iter().any(|c| {
                matches!(
                    c,
                    Control::Close {
                        code: SLOW_CONSUMER_CLOSE,
                        ..
                    }
                )
            }) {
                queues.control.push_back(Control::Close {
                    code: SLOW_CONSUMER_CLOSE,
                    reason: "slow consumer",
                });
            }
        }
        mailbox.ready.notify_one();
    }

    /// Number of registered connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Arc<Mailbox>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}
