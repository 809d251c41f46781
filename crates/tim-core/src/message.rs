//! C2C text messages as the official SDK's Message objects describe them: an `ID` made by the sender,
//! a `flow` seen from this account, a `status` that a send settles.

use tim_protocol::ErrorCode;

use crate::{Millis, TimError};

/// `TIM.TYPES.MSG_TEXT`: the `type` of a text message.
pub const MSG_TEXT: &str = "TIMTextElem";
/// `TIM.TYPES.CONV_C2C`: the one conversation type this SDK has (one-to-one).
pub const CONV_C2C: &str = "C2C";

/// `message.flow`: whether this account sent the message (on any of its instances) or received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `in`: sent to this account by someone else.
    In,
    /// `out`: sent by this account.
    Out,
}

impl Flow {
    /// The JS string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::In => "in",
            Flow::Out => "out",
        }
    }
}

/// `message.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// `unSend`: created, not (yet) accepted by the server.
    UnSend,
    /// `success`: accepted by the server (every received message is).
    Success,
    /// `fail`: the send failed.
    Fail,
}

impl MessageStatus {
    /// The JS string value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::UnSend => "unSend",
            MessageStatus::Success => "success",
            MessageStatus::Fail => "fail",
        }
    }
}

/// A C2C text message (`createTextMessage`, `sendMessage`'s result, `MESSAGE_RECEIVED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `message.ID`: made by the sending SDK from its seeded generator; the same on every side.
    pub id: String,
    /// The sender's user id (`""` for a message created before login; set when it is sent).
    pub from: String,
    /// The receiver's user id.
    pub to: String,
    /// The text (`payload.text`).
    pub text: String,
    /// Sent by this account or received.
    pub flow: Flow,
    /// Where the send is.
    pub status: MessageStatus,
    /// The server's sequence number (0 until sent).
    pub seq: u64,
    /// Unix milliseconds: the creation time, then the server's time once accepted.
    pub time_ms: u64,
}

impl Message {
    /// `message.conversationID`: `C2C` + the other party (the receiver of an `out` message, the sender
    /// of an `in` one).
    pub fn conversation_id(&self) -> String {
        let peer = match self.flow {
            Flow::Out => &self.to,
            Flow::In => &self.from,
        };
        String::from(CONV_C2C) + peer
    }

    /// A message the server pushed, seen by `login_user`: `out` when this account sent it.
    pub fn received(
        id: String,
        from: String,
        to: String,
        text: String,
        seq: u64,
        time_ms: Millis,
        login_user: &str,
    ) -> Message {
        let flow = if from == login_user { Flow::Out } else { Flow::In };
        Message {
            id,
            from,
            to,
            text,
            flow,
            status: MessageStatus::Success,
            seq,
            time_ms,
        }
    }
}

/// Checks `createTextMessage`'s conversation type: only [`CONV_C2C`] (8002 otherwise).
pub(crate) fn check_conversation_type(conversation_type: &str) -> Result<(), TimError> {
    if conversation_type == CONV_C2C {
        return Ok(());
    }
    Err(TimError {
        code: ErrorCode::InvalidArgument.code(),
        message: String::from("conversationType must be TIM.TYPES.CONV_C2C ('")
            + CONV_C2C
            + "'): this SDK has one-to-one text messages only (got '"
            + conversation_type
            + "').",
    })
}

/// A message id: 32 hex digits from the session's generator (seeded per instance).
pub(crate) fn new_id(random: [u64; 2]) -> String {
    let mut id = String::with_capacity(32);
    for word in random {
        tim_protocol::hex::push_lower(&mut id, &word.to_be_bytes());
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn flow_and_conversation_id_follow_the_login_user() {
        let m = |user| Message::received("i".into(), "bob".into(), "alice".into(), "t".into(), 1, 2, user);
        let at_alice = m("alice");
        assert_eq!(
            (at_alice.flow, at_alice.conversation_id().as_str()),
            (Flow::In, "C2Cbob")
        );
        let at_bob = m("bob");
        assert_eq!(
            (at_bob.flow, at_bob.conversation_id().as_str()),
            (Flow::Out, "C2Calice")
        );
        assert_eq!(at_bob.status, MessageStatus::Success);
    }

    #[test]
    fn strings_are_the_official_ones() {
        assert_eq!([Flow::In.as_str(), Flow::Out.as_str()], ["in", "out"]);
        assert_eq!(
            [MessageStatus::UnSend, MessageStatus::Success, MessageStatus::Fail].map(MessageStatus::as_str),
            ["unSend", "success", "fail"]
        );
        assert!(check_conversation_type("C2C").is_ok());
        assert_eq!(check_conversation_type("GROUP").unwrap_err().code, 8002);
        assert_eq!(new_id([1, u64::MAX]), "0000000000000001ffffffffffffffff");
    }
}
