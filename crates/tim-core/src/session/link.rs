//! The connection: opening and closing sockets, heartbeat, timers, network hints, reconnecting.

use tim_protocol::{close, ClientFrame, ErrorCode, KickType, RequestId, PROTOCOL_VERSION};

use super::{Link, Session};
use crate::state::{LoggedOutCause, Phase, Reconnect, ReconnectStep};
use crate::{Event, NetState, NetworkHint, Output, TimError};

/// Close code the session uses when it closes a socket itself.
pub(super) const NORMAL_CLOSE: u16 = 1000;

impl Session {
    /// Opens a new socket; it replaces the current one (which must be gone already).
    pub(super) fn open_socket(&mut self) {
        let socket = self.next_socket;
        self.next_socket += 1;
        self.link = Some(Link {
            socket,
            open: false,
            login_sent: false,
            heartbeat: None,
        });
        self.out.push_back(Output::OpenSocket {
            socket,
            // In range: `server` is always taken modulo the (validated, non-empty) list's length.
            url: self.config.server_urls[self.server].clone(),
        });
        self.set_net_state(if self.offline {
            NetState::Disconnected
        } else {
            NetState::Connecting
        });
    }

    /// The connect to the current URL failed: move to the next one (wrapping). True while this round
    /// still has a URL that has not failed; false when every URL failed once, which starts a new round.
    fn next_server(&mut self) -> bool {
        let count = self.config.server_urls.len().max(1);
        self.server = (self.server + 1) % count;
        self.failed_in_round += 1;
        if self.failed_in_round < count {
            return true;
        }
        self.failed_in_round = 0;
        false
    }

    /// A login got no reply from its server (the socket closed first, or the request timeout passed): try
    /// the next URL at once, with a fresh deadline, or fail the login with `error` when every URL failed.
    fn login_connect_failed(&mut self, error: TimError) {
        self.close_link(NORMAL_CLOSE);
        if !self.next_server() {
            return self.login_failed(error);
        }
        // (The old wire id may stay: a reply on the closed socket is ignored as not current.)
        let deadline = self.deadline();
        if let Phase::LoggingIn(login) = &mut self.phase {
            login.deadline = deadline;
        }
        self.open_socket();
    }

    /// Closes the current socket, if any.
    pub(super) fn close_link(&mut self, code: u16) {
        if let Some(link) = self.link.take() {
            self.out.push_back(Output::CloseSocket {
                socket: link.socket,
                code,
            });
        }
    }

    /// Sends a frame on the current socket (dropped when there is no open socket).
    pub(super) fn transmit(&mut self, frame: ClientFrame) {
        if let Some(link) = self.link.as_mut().filter(|l| l.open) {
            if matches!(frame, ClientFrame::Login { .. }) {
                link.login_sent = true;
            }
            self.out.push_back(Output::Transmit {
                socket: link.socket,
                frame,
            });
        }
    }

    /// Sends the login frame (a resume when the account has an instance id); returns its wire id.
    fn send_login(&mut self) -> Option<RequestId> {
        let id = self.alloc_wire_id();
        let account = self.account.as_ref()?;
        let frame = ClientFrame::Login {
            id,
            version: PROTOCOL_VERSION,
            sdk_app_id: self.config.sdk_app_id,
            user_id: account.user_id.clone(),
            user_sig: account.user_sig.clone(),
            platform: self.config.platform,
            instance_id: account.instance_id.clone(),
        };
        self.transmit(frame);
        Some(id)
    }

    /// Before giving up a socket on which this instance may be logged in: tell the server to free the slot.
    pub(super) fn send_farewell(&mut self) {
        if self.link.as_ref().is_some_and(|l| l.open && l.login_sent) {
            let id = self.alloc_wire_id();
            self.transmit(ClientFrame::Logout { id });
        }
    }

    pub(super) fn on_socket_opened(&mut self) {
        let Some(link) = self.link.as_mut().filter(|l| !l.open) else {
            return;
        };
        link.open = true;
        match &self.phase {
            Phase::LoggingIn(_)
            | Phase::Reconnecting(Reconnect {
                step: ReconnectStep::Connecting { .. },
                ..
            }) => {
                let wire_id = self.send_login();
                match &mut self.phase {
                    Phase::LoggingIn(login) => login.wire_id = wire_id,
                    Phase::Reconnecting(Reconnect {
                        step: ReconnectStep::Connecting { wire_id: w, .. },
                        ..
                    }) => *w = wire_id,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_socket_closed(&mut self, code: u16, reason: &str) {
        // The driver closed it: nothing to close on our side.
        self.link = None;
        if code == close::KICKED {
            return self.on_kicked(KickType::MultipleAccount, None, None);
        }
        match &self.phase {
            Phase::LoggingIn(_) => {
                let message = String::from(ErrorCode::NetworkError.message())
                    + " The connection closed before the login reply (code "
                    + &tim_protocol::decimal(u64::from(code))
                    + if reason.is_empty() { "" } else { ": " }
                    + reason
                    + ").";
                self.login_connect_failed(TimError {
                    code: ErrorCode::NetworkError.code(),
                    message,
                });
            }
            // A terminal close other than a kick (a logout elsewhere freed the slot): never reconnect.
            Phase::Ready | Phase::Reconnecting(_) if close::is_terminal(code) => {
                self.shut_down(
                    Phase::LoggedOut(LoggedOutCause::LoggedOut),
                    &[Event::SdkNotReady],
                    Vec::new(),
                );
            }
            Phase::Ready | Phase::Reconnecting(_) => {
                // 1012: the node is restarting or cut off from the shared registry: resume elsewhere at
                // once (the next URL), not after a backoff step.
                self.moved = code == close::SERVICE_RESTART;
                self.connection_lost()
            }
            Phase::LoggingOut(_) => self.finish_logout(),
            Phase::LoggedOut(_) | Phase::Kicked(_) | Phase::Destroyed => {}
        }
    }

    /// The current connection is broken (closed, dead, or garbled) while logged in: fail what waits on
    /// it, then wait for the next reconnect attempt.
    pub(super) fn connection_lost(&mut self) {
        self.close_link(NORMAL_CLOSE);
        for handle in self.requests.take_all() {
            let message = String::from(ErrorCode::NetworkError.message()) + " The connection dropped before the reply.";
            self.fail(
                handle,
                TimError {
                    code: ErrorCode::NetworkError.code(),
                    message,
                },
            );
        }
        let attempt = match &self.phase {
            // The URL that worked is tried first again.
            Phase::Ready => 0,
            Phase::Reconnecting(r) => match r.step {
                ReconnectStep::Connecting { .. } => {
                    let attempt = r.attempt;
                    // A failed attempt: the next URL at once while the round has one left; after a
                    // round in which every URL failed, the next one waits longer.
                    if self.next_server() {
                        return self.start_reconnect_attempt();
                    }
                    attempt.saturating_add(1)
                }
                ReconnectStep::Waiting { .. } => r.attempt,
            },
            _ => return,
        };
        // After a 1012 at once: the same URL first (behind a load balancer another node answers it; a
        // node that went away refuses at once, and the next URL follows). A node closes its sockets
        // one after another, so its clients do not all arrive in the same millisecond.
        let at = match core::mem::take(&mut self.moved) {
            true => self.now,
            false => self
                .now
                .saturating_add(self.config.reconnect.delay(attempt, &mut self.rng)),
        };
        self.phase = Phase::Reconnecting(Reconnect {
            attempt,
            step: ReconnectStep::Waiting { at },
        });
        self.set_net_state(if self.offline {
            NetState::Disconnected
        } else {
            NetState::Connecting
        });
    }

    /// Opens the socket of a reconnect attempt.
    fn start_reconnect_attempt(&mut self) {
        if let Phase::Reconnecting(r) = &mut self.phase {
            r.step = ReconnectStep::Connecting {
                wire_id: None,
                deadline: self.now.saturating_add(self.config.request_timeout_ms),
            };
            self.open_socket();
        }
    }

    pub(super) fn on_timeout(&mut self) {
        let now = self.now;
        for handle in self.requests.take_expired(now) {
            self.fail(handle, ErrorCode::NetworkTimeout.into());
        }
        match &self.phase {
            Phase::LoggingIn(login) if login.deadline <= now => {
                self.login_connect_failed(ErrorCode::NetworkTimeout.into());
            }
            Phase::LoggingOut(logout) if logout.deadline <= now => self.finish_logout(),
            Phase::Reconnecting(r) => match r.step {
                ReconnectStep::Waiting { at } if at <= now => self.start_reconnect_attempt(),
                ReconnectStep::Connecting { deadline, .. } if deadline <= now => self.connection_lost(),
                _ => {}
            },
            Phase::Ready => self.heartbeat_tick(),
            _ => {}
        }
    }

    fn heartbeat_tick(&mut self) {
        let now = self.now;
        let Some(heartbeat) = self.link.as_ref().and_then(|l| l.heartbeat.as_ref()) else {
            return;
        };
        if heartbeat.dead_at() <= now {
            self.connection_lost();
        } else if heartbeat.hello_at() <= now {
            self.send_hello(false);
        }
    }

    /// Sends a hello; a probe must be answered within the request timeout.
    fn send_hello(&mut self, probe: bool) {
        let id = self.alloc_wire_id();
        self.transmit(ClientFrame::Hello { id });
        let now = self.now;
        if let Some(heartbeat) = self.link.as_mut().and_then(|l| l.heartbeat.as_mut()) {
            if probe {
                heartbeat.probe_sent(now);
            } else {
                heartbeat.hello_sent(now);
            }
        }
    }

    pub(super) fn on_network(&mut self, hint: NetworkHint) {
        self.offline = hint == NetworkHint::Offline;
        match &self.phase {
            // The network changed under a live socket: check that it still works.
            Phase::Ready => self.send_hello(true),
            Phase::Reconnecting(r) => {
                let waiting = matches!(r.step, ReconnectStep::Waiting { .. });
                match hint {
                    NetworkHint::Online if waiting => self.start_reconnect_attempt(),
                    NetworkHint::Online => self.set_net_state(NetState::Connecting),
                    NetworkHint::Offline => self.set_net_state(NetState::Disconnected),
                }
            }
            _ => {}
        }
    }
}
