//! The requests waiting for a reply from the server: the messages being sent.
//!
//! Login and logout are tracked by the session's phase instead, because their replies change state.

use std::collections::BTreeMap;

use tim_protocol::RequestId;

use crate::{Handle, Message, Millis};

/// Wire request id → the driver's handle and the time the request gives up.
#[derive(Debug, Default)]
pub(crate) struct PendingRequests {
    by_wire_id: BTreeMap<RequestId, Pending>,
}

#[derive(Debug)]
struct Pending {
    handle: Handle,
    deadline: Millis,
    /// The message the request sends, returned with its ack.
    message: Message,
}

impl PendingRequests {
    /// Starts waiting for the reply to `wire_id`, which sends `message`.
    pub(crate) fn insert(&mut self, wire_id: RequestId, handle: Handle, deadline: Millis, message: Message) {
        self.by_wire_id.insert(
            wire_id,
            Pending {
                handle,
                deadline,
                message,
            },
        );
    }

    /// The reply to `wire_id` arrived: the handle to complete, if the request is still waiting.
    pub(crate) fn take(&mut self, wire_id: RequestId) -> Option<Handle> {
        self.take_with_message(wire_id).map(|(handle, _)| handle)
    }

    /// Like [`PendingRequests::take`], with the message the request sent.
    pub(crate) fn take_with_message(&mut self, wire_id: RequestId) -> Option<(Handle, Message)> {
        self.by_wire_id.remove(&wire_id).map(|p| (p.handle, p.message))
    }

    /// Removes and returns the handles whose deadline is at or before `now`, oldest request first.
    pub(crate) fn take_expired(&mut self, now: Millis) -> Vec<Handle> {
        let expired: Vec<RequestId> = self
            .by_wire_id
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.into_iter().filter_map(|id| self.take(id)).collect()
    }

    /// Removes and returns every handle, oldest request first.
    pub(crate) fn take_all(&mut self) -> Vec<Handle> {
        std::mem::take(&mut self.by_wire_id)
            .into_values()
            .map(|p| p.handle)
            .collect()
    }

    /// The earliest deadline, if any request waits.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.by_wire_id.values().map(|p| p.deadline).min()
    }
}
