//! Leaving the logged-in state (logout, kick, failed login, fatal resume) and `destroy()`.

use tim_protocol::ErrorCode;

use super::link::NORMAL_CLOSE;
use super::Session;
use crate::state::Phase;
use crate::{Event, Handle, NetState, Response, TimError};

impl Session {
    /// Moves to `next` and emits, in this order: `events`, `completions`, the failures of every other
    /// pending request (with the new not-ready reason), `CloseSocket`, `NET_STATE_CHANGE disconnected`.
    pub(super) fn shut_down(
        &mut self,
        next: Phase,
        events: &[Event],
        completions: Vec<(Handle, Result<Response, TimError>)>,
    ) {
        self.phase = next;
        self.account = None;
        for event in events {
            self.emit(event.clone());
        }
        for (handle, result) in completions {
            self.complete(handle, result);
        }
        let pending_error = self.not_ready_error();
        for handle in self.requests.take_all() {
            self.fail(handle, pending_error.clone());
        }
        self.close_link(NORMAL_CLOSE);
        self.set_net_state(NetState::Disconnected);
    }

    /// `tim.destroy()`: say goodbye to the server if logged in, close, fail everything pending with 8005.
    pub(super) fn destroy(&mut self) {
        if matches!(self.phase, Phase::Ready | Phase::LoggingOut(_)) {
            self.send_farewell();
        }
        let destroyed = || Err(TimError::from(ErrorCode::SdkDestroyed));
        let events: &[Event] = if self.phase.has_emitted_ready() {
            &[Event::SdkNotReady]
        } else {
            &[]
        };
        let completions = match &mut self.phase {
            Phase::LoggingIn(login) => vec![(login.handle, destroyed())],
            Phase::LoggingOut(logout) => std::mem::take(&mut logout.handles)
                .into_iter()
                .map(|h| (h, destroyed()))
                .collect(),
            _ => Vec::new(),
        };
        self.shut_down(Phase::Destroyed, events, completions);
    }
}
