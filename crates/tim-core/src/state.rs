//! The session's states: the public [`SessionState`] and the private phase data behind it.

use tim_protocol::{KickType, RequestId};

use crate::{Handle, Millis};

/// Where a [`crate::Session`] is, as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Not logged in: never, after a failed login, or after a logout ([`crate::Session::not_ready_reason`]
    /// tells which).
    LoggedOut,
    /// A login is in flight (socket opening or login frame sent).
    LoggingIn,
    /// Logged in and connected: `SDK_READY` was emitted.
    Ready,
    /// Logged in, but the connection dropped: the session is reconnecting and resumes its instance
    /// silently (no `SDK_NOT_READY`). APIs that need the server fail fast with 2800 meanwhile.
    Reconnecting,
    /// A logout is in flight.
    LoggingOut,
    /// Forced offline by the server. Terminal until the next explicit login: no reconnect, ever.
    Kicked(KickType),
    /// `destroy()` was called; every later command fails with 8005.
    Destroyed,
}

/// Why the session is logged out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoggedOutCause {
    /// No login yet (2024).
    NeverLoggedIn,
    /// The last login failed (3001).
    LoginFailed,
    /// The user logged out (3005).
    LoggedOut,
}

/// The state with its data.
#[derive(Debug)]
pub(crate) enum Phase {
    LoggedOut(LoggedOutCause),
    LoggingIn(LoginAttempt),
    Ready,
    Reconnecting(Reconnect),
    LoggingOut(LogoutAttempt),
    Kicked(KickType),
    Destroyed,
}

/// An explicit login in flight.
#[derive(Debug)]
pub(crate) struct LoginAttempt {
    pub(crate) handle: Handle,
    /// Set once the login frame is sent.
    pub(crate) wire_id: Option<RequestId>,
    pub(crate) deadline: Millis,
}

/// A logout in flight; further `logout()` calls join it.
#[derive(Debug)]
pub(crate) struct LogoutAttempt {
    pub(crate) handles: Vec<Handle>,
    pub(crate) wire_id: RequestId,
    pub(crate) deadline: Millis,
}

/// Reconnect progress while logged in.
#[derive(Debug)]
pub(crate) struct Reconnect {
    /// Failed attempts so far (picks the backoff delay).
    pub(crate) attempt: u32,
    pub(crate) step: ReconnectStep,
}

/// What the reconnect is doing now.
#[derive(Debug)]
pub(crate) enum ReconnectStep {
    /// Waiting for the backoff delay to pass.
    Waiting { at: Millis },
    /// A socket is opening, or the resume login was sent (`wire_id`); the attempt fails at `deadline`.
    Connecting {
        wire_id: Option<RequestId>,
        deadline: Millis,
    },
}

impl Phase {
    pub(crate) fn public(&self) -> SessionState {
        match self {
            Phase::LoggedOut(_) => SessionState::LoggedOut,
            Phase::LoggingIn(_) => SessionState::LoggingIn,
            Phase::Ready => SessionState::Ready,
            Phase::Reconnecting(_) => SessionState::Reconnecting,
            Phase::LoggingOut(_) => SessionState::LoggingOut,
            Phase::Kicked(kick) => SessionState::Kicked(*kick),
            Phase::Destroyed => SessionState::Destroyed,
        }
    }

    /// True between `SDK_READY` and `SDK_NOT_READY`.
    pub(crate) fn has_emitted_ready(&self) -> bool {
        matches!(self, Phase::Ready | Phase::Reconnecting(_) | Phase::LoggingOut(_))
    }
}
