//! A connection's login state and what its requests do: login (and resume), logout, hello, sendMessage.
//!
//! The socket loop (`connection`) feeds decoded frames here and sends back what these handlers return.
//! (Named `ConnLogin`, not `Session`: the client's session is `tim_core::Session`, another thing.)

use std::net::IpAddr;
use std::sync::Arc;

use tim_protocol::{close, ClientFrame, ErrorCode, Platform, RequestId, ServerFrame, PROTOCOL_VERSION};

use crate::app_state::AppState;
use crate::auth;
use crate::effects::settle::{Pending, Settle};
use crate::effects::Gone;
use crate::registry::{AccountKey, AdmitError, AdmitRequest, ConnId};

/// The instance a connection holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// App and user.
    pub account: AccountKey,
    /// Instance id.
    pub instance_id: String,
    /// Last valid second of the UserSig; the server kicks with `userSigExpired` then.
    pub sig_expires_at: u64,
    /// The runtime the instance runs in.
    pub platform: Platform,
}

/// What the socket loop does after a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The frame to send.
    pub frame: ServerFrame,
    /// Close the connection after sending it, with this code and reason.
    pub close: Option<(u16, &'static str)>,
}

impl Reply {
    fn frame(frame: ServerFrame) -> Reply {
        Reply { frame, close: None }
    }

    fn error(id: Option<RequestId>, code: ErrorCode) -> Reply {
        Reply::frame(error_frame(id, code))
    }
}

/// An error frame with the table's message.
pub fn error_frame(id: Option<RequestId>, code: ErrorCode) -> ServerFrame {
    ServerFrame::error(id, code)
}

/// One connection's login state (the instance it holds, if any) and its request handlers.
pub struct ConnLogin {
    state: Arc<AppState>,
    conn: ConnId,
    ip: IpAddr,
    /// The instance this connection holds, if logged in.
    pub current: Option<LoggedIn>,
}

/// Login failures that count towards the per-IP limit: wrong credentials, not protocol or state mistakes.
fn counts_as_failed_credentials(code: ErrorCode) -> bool {
    !matches!(
        code,
        ErrorCode::UnsupportedProtocolVersion
            | ErrorCode::InstanceNotFound
            | ErrorCode::AlreadyLoggedInAsOther
            | ErrorCode::RegistryUnavailable
    )
}

/// Instance ids this server issues are 32 hex digits; accept the same alphabet back, bounded.
fn valid_instance_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= tim_protocol::limits::MAX_INSTANCE_ID_BYTES
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn new_instance_id() -> String {
    tim_protocol::hex::lower(&rand::random::<[u8; 16]>())
}

impl ConnLogin {
    /// The login state of a new connection: not logged in.
    pub fn new(state: Arc<AppState>, conn: ConnId, ip: IpAddr) -> ConnLogin {
        ConnLogin {
            state,
            conn,
            ip,
            current: None,
        }
    }

    /// Handles one decoded frame.
    pub async fn handle(&mut self, frame: ClientFrame) -> Reply {
        match frame {
            ClientFrame::Login { .. } => self.login(&frame).await,
            ClientFrame::Logout { id } => self.logout(id).await,
            ClientFrame::Hello { id } => Reply::frame(ServerFrame::HelloAck {
                id,
                server_time_ms: self.state.clock.unix_ms(),
            }),
            ClientFrame::SendMessage { id, to, text, msg_id } => self.send_message(id, to, text, msg_id).await,
        }
    }

    /// `frame` is a [`ClientFrame::Login`].
    async fn login(&mut self, frame: &ClientFrame) -> Reply {
        let ClientFrame::Login { id, user_id, .. } = frame else {
            return Reply::error(Some(frame.id()), ErrorCode::ServerInternal);
        };
        let state = Arc::clone(&self.state);
        // A valid UserSig is always admitted, even from an address that is failing a lot (verifying costs
        // a few microseconds); only the failing connection pays: once its address is over the limit, a
        // failure closes it, so every further attempt costs the attacker a new connection.
        match self.try_login(frame).await {
            Ok(reply) => reply,
            Err(code)
                if counts_as_failed_credentials(code)
                    && state.login_failures.is_limited(self.ip, state.clock.now()) =>
            {
                state.login_failures.record_failure(self.ip, state.clock.now());
                state.metrics.login("login_rate_limited");
                state.metrics.connection_refused("rate_limited");
                let mut reply = Reply::error(Some(*id), ErrorCode::LoginRateLimited);
                reply.close = Some((close::RATE_LIMITED, "too many failed logins"));
                reply
            }
            Err(code) => {
                state.metrics.login(&code.name().to_ascii_lowercase());
                if counts_as_failed_credentials(code) {
                    state.login_failures.record_failure(self.ip, state.clock.now());
                }
                tracing::debug!(conn = self.conn, user = %user_id, code = code.code(), "login refused");
                Reply::error(Some(*id), code)
            }
        }
    }

    async fn try_login(&mut self, frame: &ClientFrame) -> Result<Reply, ErrorCode> {
        let ClientFrame::Login {
            id,
            version,
            sdk_app_id,
            user_id,
            user_sig,
            platform,
            instance_id: presented,
        } = frame
        else {
            return Err(ErrorCode::ServerInternal);
        };
        let (id, sdk_app_id, platform) = (*id, *sdk_app_id, *platform);
        let state = Arc::clone(&self.state);
        if *version != PROTOCOL_VERSION {
            return Err(ErrorCode::UnsupportedProtocolVersion);
        }
        if let Some(current) = &self.current {
            if current.account.sdk_app_id != sdk_app_id || current.account.user_id != *user_id {
                return Err(ErrorCode::AlreadyLoggedInAsOther);
            }
            state.metrics.login("repeat");
            return Ok(Reply::frame(self.login_ack(
                id,
                current.instance_id.clone(),
                true,
                false,
            )));
        }
        tim_protocol::limits::validate_user_id(user_id)?;
        tim_protocol::limits::validate_user_sig(user_sig)?;
        if presented.as_deref().is_some_and(|id| !valid_instance_id(id)) {
            return Err(ErrorCode::InvalidParameters);
        }
        let app = state.apps.get(&sdk_app_id).ok_or(ErrorCode::SdkAppIdNotFound)?;
        let max_future = state.limits.usersig_max_future_secs;
        let sig = auth::verify(app, user_id, user_sig, state.clock.unix_secs(), max_future).map_err(|refused| {
            tracing::debug!(conn = self.conn, detail = %refused.detail, "UserSig refused");
            refused.code
        })?;
        let account = AccountKey {
            sdk_app_id,
            user_id: user_id.clone(),
        };
        let instance_id = presented.clone().unwrap_or_else(new_instance_id);
        // The new instance's login time: the registry records it, and each evicted instance's `kicked`
        // frame names it with the platform.
        let now_ms = state.clock.unix_ms();
        let admission = state
            .registry
            .admit(AdmitRequest {
                account: account.clone(),
                instance_id: instance_id.clone(),
                presented: presented.is_some(),
                conn: self.conn,
                platform,
                // The Redis script reads the shared setting itself; this is the fallback.
                limit: app.online_web_instances() as usize,
                sig_time: sig.issued_at,
                now_ms,
                ip: self.ip,
            })
            .await
            .map_err(|e| match e {
                AdmitError::InstanceGone => ErrorCode::InstanceNotFound,
                AdmitError::Revoked => ErrorCode::UserSigRevoked,
                AdmitError::Unavailable => ErrorCode::RegistryUnavailable,
            })?;
        let signalled = state.instance_admitted(&account, &instance_id, platform, self.ip, now_ms, &admission);
        if signalled {
            // The evicted connections' tasks were just woken: let them write `kicked` before this
            // task writes the ack, so that the instance losing its slot hears first (no moment in
            // which both instances think they are online), and its app is told as soon as it can be.
            tokio::task::yield_now().await;
        }
        state.metrics.login(if admission.resumed { "resumed" } else { "ok" });
        state.metrics.login_platform(platform.as_str());
        tracing::info!(
            conn = self.conn,
            app = sdk_app_id,
            user = %user_id,
            instance = %instance_id,
            platform = platform.as_str(),
            resumed = admission.resumed,
            evicted = admission.evicted.len(),
            "login"
        );
        self.current = Some(LoggedIn {
            account,
            instance_id: instance_id.clone(),
            sig_expires_at: sig.expires_at,
            platform,
        });
        Ok(Reply::frame(self.login_ack(id, instance_id, false, admission.resumed)))
    }

    fn login_ack(&self, id: RequestId, instance_id: String, repeat_login: bool, resumed: bool) -> ServerFrame {
        ServerFrame::LoginAck {
            id,
            instance_id,
            hello_interval_ms: self.state.limits.hello_interval_ms,
            server_time_ms: self.state.clock.unix_ms(),
            repeat_login,
            resumed,
            user_sig_expire_at: self.current.as_ref().map(|c| c.sig_expires_at).unwrap_or(0),
        }
    }

    async fn logout(&mut self, id: RequestId) -> Reply {
        let Some(current) = self.current.take() else {
            return Reply::error(Some(id), ErrorCode::NotLoggedIn);
        };
        // If a kick raced the logout the instance is already gone; the client asked to be out, and is
        // (and the kick's transition was the one reported). When the registry cannot answer, the
        // release is retried until it confirms (the connection no longer holds the instance either way).
        let gone = Gone {
            instance_id: current.instance_id.clone(),
            platform: current.platform,
            ip: Some(self.ip),
            conn: None,
        };
        let release = Pending {
            account: current.account.clone(),
            gone,
            conn: self.conn,
            what: Settle::Release,
        };
        self.state.settle(release).await;
        tracing::info!(conn = self.conn, user = %current.account.user_id, instance = %current.instance_id, "logout");
        Reply::frame(ServerFrame::LogoutAck { id })
    }

    async fn send_message(&mut self, id: RequestId, to: String, text: String, msg_id: Option<String>) -> Reply {
        let Some(current) = &self.current else {
            return Reply::error(Some(id), ErrorCode::NotLoggedIn);
        };
        if let Err(code) = tim_protocol::limits::validate_user_id(&to) {
            return Reply::error(Some(id), code);
        }
        if text.len() > tim_protocol::limits::MAX_MESSAGE_TEXT_BYTES {
            return Reply::error(Some(id), ErrorCode::InvalidParameters);
        }
        // The sender's SDK names the message, so that every side shows the same `ID`; an older client
        // that sends none gets one made here.
        let msg_id = match msg_id {
            Some(msg_id) => match tim_protocol::limits::validate_message_id(&msg_id) {
                Ok(()) => msg_id,
                Err(code) => return Reply::error(Some(id), code),
            },
            None => new_instance_id(),
        };
        if !self
            .state
            .send_rate
            .try_acquire(&current.account, self.state.clock.now())
        {
            self.state.metrics.message_refused("rate_limited");
            return Reply::error(Some(id), ErrorCode::SendRateLimited);
        }
        let from = current.account.user_id.clone();
        let seq = match self
            .state
            .registry
            .message_seq(current.account.sdk_app_id, &from, &to)
            .await
        {
            Ok(seq) => seq,
            Err(_) => return Reply::error(Some(id), ErrorCode::RegistryUnavailable),
        };
        let time_ms = self.state.clock.unix_ms();
        let target = AccountKey {
            sdk_app_id: current.account.sdk_app_id,
            user_id: to.clone(),
        };
        let message = ServerFrame::Message {
            from,
            to,
            text,
            seq,
            time_ms,
            msg_id,
        };
        // The receiver's instances, and the sender's other instances (they show the message as sent, as
        // the official SDK syncs it); never the sending connection, which gets the ack. A message to
        // oneself reaches each instance once. Instances on other nodes get it through the registry.
        let Ok(mut targets) = self.state.registry.instances(&target).await else {
            return Reply::error(Some(id), ErrorCode::RegistryUnavailable);
        };
        if target != current.account {
            let Ok(own) = self.state.registry.instances(&current.account).await else {
                return Reply::error(Some(id), ErrorCode::RegistryUnavailable);
            };
            targets.extend(own);
        }
        for instance in targets {
            let Some(conn) = instance.conn else { continue };
            match instance.node.as_deref() {
                Some(node) if node != self.state.node_id => {
                    // Best effort, as a local push: a lost relay is not retried.
                    let _ = self
                        .state
                        .registry
                        .relay(node, conn, &instance.instance_id, &message)
                        .await;
                }
                _ if conn != self.conn => self.state.hub.push(conn, message.clone()),
                _ => {}
            }
        }
        Reply::frame(ServerFrame::SendMessageAck { id, seq, time_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_32_lowercase_hex_digits_and_differ() {
        let (a, b) = (new_instance_id(), new_instance_id());
        for id in [&a, &b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')), "{id}");
            assert!(valid_instance_id(id), "{id}");
        }
        assert_ne!(a, b);
        // Every digit value appears over many ids (the table is indexed by both nibbles).
        let seen: std::collections::HashSet<u8> = (0..64).flat_map(|_| new_instance_id().into_bytes()).collect();
        assert_eq!(seen.len(), 16);
    }
}
