//! The user's API calls.

use tim_protocol::limits::{validate_message_id, validate_user_id, validate_user_sig, MAX_MESSAGE_TEXT_BYTES};
use tim_protocol::{ClientFrame, ErrorCode};

use super::{Account, Session};
use crate::state::{LoggedOutCause, LoginAttempt, LogoutAttempt, Phase};
use crate::{Command, Event, Flow, Handle, Message, Response, TimError};

impl Session {
    pub(super) fn on_command(&mut self, handle: Handle, command: Command) {
        match command {
            Command::Login { user_id, user_sig } => self.login(handle, user_id, user_sig),
            Command::Logout => self.logout(handle),
            Command::SendMessage { to, text } => {
                let message = self.new_text_message(to, text);
                self.send_message(handle, message)
            }
            Command::SendTextMessage { message } => self.send_message(handle, message),
        }
    }

    fn login(&mut self, handle: Handle, user_id: String, user_sig: String) {
        if let Err(code) = validate_user_id(&user_id).and_then(|()| validate_user_sig(&user_sig)) {
            return self.fail(handle, code.into());
        }
        match &self.phase {
            Phase::LoggingIn(_) => self.fail(handle, ErrorCode::RepeatLogin.into()),
            Phase::LoggingOut(_) => self.fail(handle, ErrorCode::LogoutInProgress.into()),
            Phase::Ready | Phase::Reconnecting(_) => match &mut self.account {
                Some(account) if account.user_id == user_id => {
                    // Keep the newest UserSig: a reconnect presents it.
                    account.user_sig = user_sig;
                    self.complete(handle, Ok(Response::Login { repeat_login: true }));
                }
                _ => self.fail(handle, ErrorCode::AnotherUserLoggedIn.into()),
            },
            Phase::LoggedOut(_) | Phase::Kicked(_) if !self.config.transport_available => {
                self.fail(handle, ErrorCode::NoWebSocket.into())
            }
            Phase::LoggedOut(_) | Phase::Kicked(_) => self.start_login(handle, user_id, user_sig),
            Phase::Destroyed => self.fail(handle, ErrorCode::SdkDestroyed.into()),
        }
    }

    fn start_login(&mut self, handle: Handle, user_id: String, user_sig: String) {
        // The one check of the SDKAppID and the server URL (`TIM.create` made it already: a session whose
        // config does not pass never opens a socket).
        if let Err(error) = self.config.validate() {
            return self.fail(handle, error);
        }
        self.failed_in_round = 0;
        self.account = Some(Account {
            user_id,
            user_sig,
            instance_id: None,
        });
        self.phase = Phase::LoggingIn(LoginAttempt {
            handle,
            wire_id: None,
            deadline: self.deadline(),
        });
        self.open_socket();
    }

    fn logout(&mut self, handle: Handle) {
        match &mut self.phase {
            Phase::LoggedOut(_) | Phase::Kicked(_) => self.fail(handle, ErrorCode::UserNotLoggedIn.into()),
            Phase::Destroyed => self.fail(handle, ErrorCode::SdkDestroyed.into()),
            Phase::LoggingOut(logout) => logout.handles.push(handle),
            Phase::LoggingIn(login) => {
                let login_handle = login.handle;
                self.send_farewell();
                let cancelled = TimError {
                    code: ErrorCode::LoggedOut.code(),
                    message: "The login was cancelled by logout().".to_owned(),
                };
                self.shut_down(
                    Phase::LoggedOut(LoggedOutCause::LoggedOut),
                    &[],
                    vec![(login_handle, Err(cancelled)), (handle, Ok(Response::Logout))],
                );
            }
            Phase::Reconnecting(_) => {
                self.send_farewell();
                self.shut_down(
                    Phase::LoggedOut(LoggedOutCause::LoggedOut),
                    &[Event::SdkNotReady],
                    vec![(handle, Ok(Response::Logout))],
                );
            }
            Phase::Ready => {
                let wire_id = self.alloc_wire_id();
                self.transmit(ClientFrame::Logout { id: wire_id });
                self.phase = Phase::LoggingOut(LogoutAttempt {
                    handles: vec![handle],
                    wire_id,
                    deadline: self.deadline(),
                });
            }
        }
    }

    /// The logout reply arrived, timed out, or the socket died: the user is out either way.
    pub(super) fn finish_logout(&mut self) {
        if let Phase::LoggingOut(logout) = &mut self.phase {
            let completions = std::mem::take(&mut logout.handles)
                .into_iter()
                .map(|h| (h, Ok(Response::Logout)))
                .collect();
            self.shut_down(
                Phase::LoggedOut(LoggedOutCause::LoggedOut),
                &[Event::SdkNotReady],
                completions,
            );
        }
    }

    fn send_message(&mut self, handle: Handle, mut message: Message) {
        match self.phase {
            Phase::Ready => {}
            Phase::Reconnecting(_) => {
                return self.fail(
                    handle,
                    TimError {
                        code: ErrorCode::NetworkError.code(),
                        message: String::from(ErrorCode::NetworkError.message()) + " The SDK is reconnecting.",
                    },
                );
            }
            _ => return self.fail(handle, self.not_ready_error()),
        }
        if let Err(code) = validate_user_id(&message.to) {
            return self.fail(handle, code.into());
        }
        if validate_message_id(&message.id).is_err() {
            return self.fail(
                handle,
                TimError {
                    code: ErrorCode::InvalidArgument.code(),
                    message: "message.ID must be 1 to 64 letters, digits, '-' or '_': send a message made by createTextMessage.".to_owned(),
                },
            );
        }
        if message.text.len() > MAX_MESSAGE_TEXT_BYTES {
            return self.fail(
                handle,
                TimError {
                    code: ErrorCode::InvalidArgument.code(),
                    message: String::from("The message text exceeds ")
                        + &tim_protocol::decimal(MAX_MESSAGE_TEXT_BYTES as u64)
                        + " bytes.",
                },
            );
        }
        // A message created before login gets its sender now.
        message.from = self.login_user().to_owned();
        message.flow = Flow::Out;
        let wire_id = self.alloc_wire_id();
        self.transmit(ClientFrame::SendMessage {
            id: wire_id,
            to: message.to.clone(),
            text: message.text.clone(),
            msg_id: Some(message.id.clone()),
        });
        let deadline = self.deadline();
        self.requests.insert(wire_id, handle, deadline, message);
    }
}
