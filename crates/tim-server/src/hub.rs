//! The connections of this process, by id: how kicks and pushed messages reach a connection's task.
//!
//! Two channels per connection. Control (kick, replace, close) is unbounded but carries at most a
//! few server-originated commands per instance. Pushes (messages from other users) are bounded by
//! `limits.outbound_queue_frames`; a connection whose push queue is full is a slow consumer and is told
//! to close instead of growing memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tim_protocol::{KickType, ServerFrame};
use tokio::sync::mpsc;

use crate::registry::ConnId;

/// A command to a connection's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The registry removed this instance: push `kicked`, close with 4001, forget the instance.
    Kick { instance_id: String, kick_type: KickType },
    /// Another connection resumed this instance: close without a kick, keep the slot alone.
    Replaced { instance_id: String },
    /// Close with this code (slow consumer).
    Close { code: u16, reason: &'static str },
}

/// The sending ends of one connection's channels.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    control: mpsc::UnboundedSender<Control>,
    push: mpsc::Sender<ServerFrame>,
}

/// The receiving ends, owned by the connection's task.
#[derive(Debug)]
pub struct ConnInbox {
    /// Control commands.
    pub control: mpsc::UnboundedReceiver<Control>,
    /// Pushed frames.
    pub push: mpsc::Receiver<ServerFrame>,
}

/// Close code for a client that does not read its pushes fast enough (RFC 6455 policy violation).
pub const SLOW_CONSUMER_CLOSE: u16 = 1008;

/// Registered connections.
#[derive(Debug, Default)]
pub struct Hub {
    next_id: AtomicU64,
    conns: Mutex<HashMap<ConnId, ConnHandle>>,
}

impl Hub {
    /// Registers a new connection with a push queue of `queue` frames.
    pub fn register(&self, queue: usize) -> (ConnId, ConnInbox) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (push_tx, push_rx) = mpsc::channel(queue.max(1));
        self.lock().insert(
            id,
            ConnHandle {
                control: control_tx,
                push: push_tx,
            },
        );
        (
            id,
            ConnInbox {
                control: control_rx,
                push: push_rx,
            },
        )
    }

    /// Forgets a connection (its task ended).
    pub fn unregister(&self, id: ConnId) {
        self.lock().remove(&id);
    }

    /// Sends a control command; false when the connection is gone.
    pub fn control(&self, id: ConnId, cmd: Control) -> bool {
        let handle = self.lock().get(&id).cloned();
        handle.is_some_and(|h| h.control.send(cmd).is_ok())
    }

    /// Queues a pushed frame; a full queue makes the connection close as a slow consumer.
    pub fn push(&self, id: ConnId, frame: ServerFrame) {
        let Some(handle) = self.lock().get(&id).cloned() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = handle.push.try_send(frame) {
            let _ = handle.control.send(Control::Close {
                code: SLOW_CONSUMER_CLOSE,
                reason: "slow consumer",
            });
        }
    }

    /// Number of registered connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, ConnHandle>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}
