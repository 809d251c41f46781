//! The requests waiting for a reply from the server: the messages being sent.
//!
//! Login and logout are tracked by the session's phase instead, because their replies change state.

use tim_protocol::RequestId;

use crate::{Handle, Message, Millis};

/// Wire request id → the driver's handle and the time the request gives up. A plain list in the order
/// the requests were sent: few are ever in flight at once, and a map's code is not worth its size in
/// the wasm.
#[derive(Debug, Default)]
pub(crate) struct PendingRequests {
    waiting: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    wire_id: RequestId,
    handle: Handle,
    deadline: Millis,
    /// The message the request sends, returned with its ack.
    message: Message,
}

impl PendingRequests {
    /// Starts waiting for the reply to `wire_id`, which sends `message`.
    pub(crate) fn insert(&mut self, wire_id: RequestId, handle: Handle, deadline: Millis, message: Message) {
        self.take(wire_id);
        self.waiting.push(Pending {
            wire_id,
            handle,
            deadline,
            message,
        });
    }

    /// The reply to `wire_id` arrived: the handle to complete, if the request is still waiting.
    pub(crate) fn take(&mut self, wire_id: RequestId) -> Option<Handle> {
        self.take_with_message(wire_id).map(|(handle, _)| handle)
    }

    /// Like [`PendingRequests::take`], with the message the request sent.
    pub(crate) fn take_with_message(&mut self, wire_id: RequestId) -> Option<(Handle, Message)> {
        let at = self.waiting.iter().position(|p| p.wire_id == wire_id)?;
        let p = self.waiting.remove(at);
        Some((p.handle, p.message))
    }

    /// Removes and returns the handles whose deadline is at or before `now`, oldest request first.
    pub(crate) fn take_expired(&mut self, now: Millis) -> Vec<Handle> {
        let mut expired = Vec::new();
        self.waiting.retain(|p| {
            let due = p.deadline <= now;
            if due {
                expired.push(p.handle);
            }
            !due
        });
        expired
    }

    /// Removes and returns every handle, oldest request first.
    pub(crate) fn take_all(&mut self) -> Vec<Handle> {
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|p| p.handle)
            .collect()
    }

    /// The earliest deadline, if any request waits.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.waiting.iter().map(|p| p.deadline).min()
    }
}
