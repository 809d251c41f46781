//! Making messages: `createTextMessage` and the short `sendMessage({to, text})` form.

use super::Session;
use crate::message::{check_conversation_type, new_id};
use crate::{Flow, Message, MessageStatus, Millis, TimError};

impl Session {
    /// `tim.createTextMessage({to, conversationType, payload: {text}})` at `now`: a message with a new
    /// `ID`, `flow` out, `status` unSend, `from` the login user (`""` before login: set when sent).
    /// `to` and `text` are checked by the send; only `conversationType` `C2C` is accepted here (8002).
    pub fn create_text_message(
        &mut self,
        now: Millis,
        conversation_type: &str,
        to: String,
        text: String,
    ) -> Result<Message, TimError> {
        self.now = self.now.max(now);
        check_conversation_type(conversation_type)?;
        Ok(self.new_text_message(to, text))
    }

    pub(super) fn new_text_message(&mut self, to: String, text: String) -> Message {
        let id = new_id([self.ids.next_u64(), self.ids.next_u64()]);
        Message {
            id,
            from: self.login_user().to_owned(),
            to,
            text,
            flow: Flow::Out,
            status: MessageStatus::UnSend,
            seq: 0,
            time_ms: self.now,
        }
    }
}
