//! Frames from the server.

use tim_protocol::{close, ErrorCode, KickType, Platform, RequestId, ServerFrame};

use super::link::NORMAL_CLOSE;
use super::Session;
use crate::config::{MAX_HELLO_INTERVAL_MS, MIN_HELLO_INTERVAL_MS};
use crate::heartbeat::Heartbeat;
use crate::state::{LoggedOutCause, Phase, Reconnect, ReconnectStep};
use crate::{Event, Message, MessageStatus, NetState, Response, TimError};

/// How a refused resume (reconnect login) is handled.
enum ResumeRefusal {
    /// The instance is gone or may not come back: treat it as this kick.
    Kicked(KickType),
    /// Temporary: try again after the backoff delay.
    Retry,
    /// Retrying cannot help (the credentials are wrong): give up.
    Fatal,
}

fn classify_resume_refusal(code: u32) -> ResumeRefusal {
    match ErrorCode::from_code(code) {
        Some(ErrorCode::InstanceNotFound) => ResumeRefusal::Kicked(KickType::MultipleAccount),
        Some(ErrorCode::UserSigExpired) => ResumeRefusal::Kicked(KickType::UserSigExpired),
        Some(ErrorCode::UserSigRevoked) => ResumeRefusal::Kicked(KickType::RestApi),
        Some(
            ErrorCode::LoginRateLimited
            | ErrorCode::ServerInternal
            | ErrorCode::TooManyConnections
            | ErrorCode::LoginDeadlineExceeded
            | ErrorCode::RegistryUnavailable,
        )
        | None => ResumeRefusal::Retry,
        Some(_) => ResumeRefusal::Fatal,
    }
}

impl Session {
    pub(super) fn on_frame(&mut self, frame: ServerFrame) {
        let now = self.now;
        if let Some(heartbeat) = self.link.as_mut().and_then(|l| l.heartbeat.as_mut()) {
            heartbeat.inbound(now);
        }
        match frame {
            ServerFrame::LoginAck {
                id,
                instance_id,
                hello_interval_ms,
                ..
            } => self.on_login_ack(id, instance_id, hello_interval_ms),
            ServerFrame::LogoutAck { id } => {
                if matches!(&self.phase, Phase::LoggingOut(l) if l.wire_id == id) {
                    self.finish_logout();
                }
            }
            ServerFrame::HelloAck { .. } => {}
            ServerFrame::SendMessageAck { id, seq, time_ms } => {
                if let Some((handle, mut message)) = self.requests.take_with_message(id) {
                    message.status = MessageStatus::Success;
                    message.seq = seq;
                    message.time_ms = time_ms;
                    self.complete(handle, Ok(Response::SendMessage { message }));
                }
            }
            ServerFrame::Message {
                from,
                to,
                text,
                seq,
                time_ms,
                msg_id,
            } => {
                if self.phase.has_emitted_ready() {
                    let message = Message::received(msg_id, from, to, text, seq, time_ms, self.login_user());
                    self.emit(Event::MessageReceived {
                        messages: vec![message],
                    });
                }
            }
            ServerFrame::Error {
                id: Some(id),
                code,
                message,
            } => self.on_error_reply(
                id,
                TimError {
                    code: code.get(),
                    message,
                },
            ),
            ServerFrame::Error {
                id: None,
                code,
                message,
            } => {
                let code = code.get();
                if matches!(self.phase, Phase::LoggingIn(_)) {
                    // The connection is refused as a whole (bad version, deadline...): that is the answer.
                    self.login_failed(TimError { code, message });
                } else {
                    self.emit(Event::Error { code, message });
                }
            }
            ServerFrame::Kicked {
                kick_type,
                platform,
                time_ms,
            } => self.on_kicked(kick_type, platform, time_ms),
        }
    }

    pub(super) fn on_undecodable(&mut self, error: &str) {
        let message = String::from(ErrorCode::ProtocolError.message()) + " " + error;
        let error = TimError {
            code: ErrorCode::ProtocolError.code(),
            message,
        };
        self.emit(Event::Error {
            code: error.code,
            message: error.message.clone(),
        });
        self.close_link(close::PROTOCOL_ERROR);
        match &self.phase {
            Phase::LoggingIn(_) => self.login_failed(error),
            Phase::Ready | Phase::Reconnecting(_) => self.connection_lost(),
            Phase::LoggingOut(_) => self.finish_logout(),
            Phase::LoggedOut(_) | Phase::Kicked(_) | Phase::Destroyed => {}
        }
    }

    fn on_login_ack(&mut self, id: RequestId, instance_id: String, hello_interval_ms: u64) {
        let interval = hello_interval_ms.clamp(MIN_HELLO_INTERVAL_MS, MAX_HELLO_INTERVAL_MS);
        let heartbeat = Heartbeat::start(self.now, interval, self.config.request_timeout_ms);
        match &self.phase {
            Phase::LoggingIn(login) if login.wire_id == Some(id) => {
                let handle = login.handle;
                self.logged_in(instance_id, heartbeat);
                self.emit(Event::SdkReady);
                self.complete(handle, Ok(Response::Login { repeat_login: false }));
            }
            Phase::Reconnecting(Reconnect {
                step: ReconnectStep::Connecting { wire_id, .. },
                ..
            }) if *wire_id == Some(id) => {
                // Resumed: silent, apart from the network state.
                self.logged_in(instance_id, heartbeat);
            }
            _ => {}
        }
    }

    fn logged_in(&mut self, instance_id: String, heartbeat: Heartbeat) {
        if let Some(account) = self.account.as_mut() {
            account.instance_id = Some(instance_id);
        }
        if let Some(link) = self.link.as_mut() {
            link.heartbeat = Some(heartbeat);
        }
        self.phase = Phase::Ready;
        self.failed_in_round = 0;
        self.offline = false;
        self.set_net_state(NetState::Connected);
    }

    fn on_error_reply(&mut self, id: RequestId, error: TimError) {
        match &self.phase {
            Phase::LoggingIn(login) if login.wire_id == Some(id) => return self.login_failed(error),
            Phase::Reconnecting(Reconnect {
                step: ReconnectStep::Connecting { wire_id, .. },
                ..
            }) if *wire_id == Some(id) => {
                return self.on_resume_refused(error);
            }
            // The server could not log us out (already gone?): the user is out either way.
            Phase::LoggingOut(logout) if logout.wire_id == id => return self.finish_logout(),
            _ => {}
        }
        if let Some(handle) = self.requests.take(id) {
            self.fail(handle, error);
        }
    }

    fn on_resume_refused(&mut self, error: TimError) {
        match classify_resume_refusal(error.code) {
            // Kicked while away: the refusal does not say by whom.
            ResumeRefusal::Kicked(kick) => self.on_kicked(kick, None, None),
            ResumeRefusal::Retry => self.connection_lost(),
            ResumeRefusal::Fatal => {
                let event = Event::Error {
                    code: error.code,
                    message: error.message,
                };
                self.shut_down(
                    Phase::LoggedOut(LoggedOutCause::LoginFailed),
                    &[event, Event::SdkNotReady],
                    Vec::new(),
                );
            }
        }
    }

    /// The explicit login failed: reject it and drop the connection. No `SDK_NOT_READY`: never ready.
    pub(super) fn login_failed(&mut self, error: TimError) {
        if let Phase::LoggingIn(login) = &self.phase {
            let handle = login.handle;
            self.shut_down(
                Phase::LoggedOut(LoggedOutCause::LoginFailed),
                &[],
                vec![(handle, Err(error))],
            );
        }
    }

    /// The server forced this instance offline; `platform` and `time_ms` name the login that took the
    /// slot when the server said (a multi-instance eviction). Terminal: nothing reconnects from
    /// [`Phase::Kicked`].
    pub(super) fn on_kicked(&mut self, kick: KickType, platform: Option<Platform>, time_ms: Option<u64>) {
        let kicked_out = Event::KickedOut {
            kick_type: kick,
            platform,
            time_ms,
        };
        match &mut self.phase {
            Phase::LoggingIn(login) => {
                let handle = login.handle;
                let error = TimError {
                    code: kick.error_code().code(),
                    message: kick.error_code().message().to_owned(),
                };
                self.shut_down(Phase::Kicked(kick), &[kicked_out], vec![(handle, Err(error))]);
            }
            Phase::Ready | Phase::Reconnecting(_) => {
                self.shut_down(Phase::Kicked(kick), &[kicked_out, Event::SdkNotReady], Vec::new());
            }
            Phase::LoggingOut(logout) => {
                // The user wanted out and is out: the logout succeeds, the kick is still reported.
                let completions = std::mem::take(&mut logout.handles)
                    .into_iter()
                    .map(|h| (h, Ok(Response::Logout)))
                    .collect();
                self.shut_down(Phase::Kicked(kick), &[kicked_out, Event::SdkNotReady], completions);
            }
            Phase::LoggedOut(_) | Phase::Kicked(_) | Phase::Destroyed => self.close_link(NORMAL_CLOSE),
        }
    }
}
