//! The client session state machine.

mod commands;
mod inbound;
mod link;
mod messages;
mod shutdown;

use std::collections::VecDeque;

use tim_protocol::{ErrorCode, RequestId};

use crate::config::Config;
use crate::heartbeat::Heartbeat;
use crate::requests::PendingRequests;
use crate::rng::Rng;
use crate::state::{LoggedOutCause, Phase, ReconnectStep, SessionState};
use crate::{Event, Handle, Input, Millis, NetState, Output, Response, SocketId, TimError};

/// Mixed into the seed for the message-id generator (any odd constant: a distinct SplitMix64 stream).
const MESSAGE_ID_STREAM: u64 = 0x6d65_7373_6167_6573;

/// One SDK instance's login session, as a sans-IO state machine.
///
/// Feed [`Input`]s with the current time through [`Session::handle_input`], drain [`Output`]s with
/// [`Session::poll_output`] until it returns `None`, then arm one timer for [`Session::poll_timeout`]
/// and feed [`Input::Timeout`] when it fires. The session never reads a clock, never does I/O and never
/// draws randomness other than from [`Config::rng_seed`].
///
/// # Guarantees
/// - Every [`Input::Command`] completes exactly once ([`Output::Completed`]), possibly during the same
///   `handle_input` call.
/// - `SDK_READY` is emitted before the login completes, so `await tim.login(); tim.sendMessage()` works.
/// - `KICKED_OUT` comes before its `SDK_NOT_READY`; `SDK_READY` and `SDK_NOT_READY` alternate, starting
///   with `SDK_READY`; `SDK_NOT_READY` is emitted only after an `SDK_READY`.
/// - When leaving the logged-in state the outputs come in this order: `KICKED_OUT` (for a kick),
///   `SDK_NOT_READY`, the completion of the call that caused it (logout), failures of other pending
///   requests, `CloseSocket`, `NET_STATE_CHANGE disconnected`.
/// - No reconnect after a kick, a logout, `destroy()` or a terminal close code.
///
/// # Decisions
/// - Login while ready as the same user completes `{repeat_login: true}` locally, without a frame, and
///   keeps the new UserSig for later reconnects. As another user it fails with 8001 (logout first).
/// - A login the server rejects fails with the server's code and message; the state becomes logged out
///   with reason 3001. No `SDK_NOT_READY` is emitted, because no `SDK_READY` was.
/// - A kick that arrives before the login reply fails that login with the kick's reason code (3002-3006)
///   after `KICKED_OUT`; again no `SDK_NOT_READY`, since the session was never ready.
/// - A close with code [`tim_protocol::close::KICKED`] without a kick frame counts as a kick of type
///   `multipleAccount` (the server always sends the frame first; losing it means a broken frame).
/// - `logout()` during a login cancels that login (it fails with 3005) and then completes `Ok`; if the
///   login frame was already sent, a logout frame follows it so the server frees the slot.
/// - `logout()` always succeeds once logged in: if the reply does not come in time, the socket dies, or the
///   server answers with an error, the session still logs out locally. While reconnecting it logs out
///   locally at once. A second `logout()` during a logout joins it.
/// - `login()` during a logout fails with 8008 `LOGOUT_IN_PROGRESS` (2025 is a second login in flight).
/// - Requests in flight when the connection drops fail with 2800; `sendMessage` while reconnecting fails
///   with 2800 at once (not queued). After a kick or logout they fail with the not-ready reason.
/// - Heartbeat: a `hello` every `helloIntervalMs` from the login reply (clamped to
///   [`crate::MIN_HELLO_INTERVAL_MS`]..=[`crate::MAX_HELLO_INTERVAL_MS`]); the connection is dead after
///   `hello interval + request_timeout_ms` without any inbound frame. A network hint while connected
///   sends a probe `hello` that must be answered within `request_timeout_ms`.
/// - Reconnect: after a drop (close with a non-terminal code, dead connection, undecodable frame) the
///   session waits [`crate::ReconnectPolicy`]'s delay, opens a new socket and logs in again with the
///   same instance id. Success is silent except for `NET_STATE_CHANGE connected`. A resume refused with
///   80007 (instance gone) ends in `KICKED_OUT multipleAccount`, with 70001 in `KICKED_OUT userSigExpired`,
///   with 70052 in `KICKED_OUT REST_API_Kick`, each then `SDK_NOT_READY`. Temporary refusals (70050,
///   70500, 80004, 80005, unknown codes) retry; any other refusal emits `ERROR {code, message}` then
///   `SDK_NOT_READY`, and the state becomes logged out with reason 3001.
/// - Several server URLs ([`Config::server_urls`]): the first connect goes to the one
///   [`Config::server_start`] picks. A connect that fails (the socket closes before the login reply, or
///   no reply comes within `request_timeout_ms`) moves to the next URL, wrapping around. A login tries
///   each URL once, at once, each with a fresh request timeout, and fails with the last URL's error; a
///   login the server answers with an error is not retried elsewhere. A reconnect starts with the URL
///   that worked last; a failed attempt (connect failure or temporary refusal) tries the next URL at
///   once, and only after a round in which every URL failed does it wait the next, longer backoff
///   delay: each URL is tried at most once per backoff delay. One URL behaves as a round of one.
/// - `NET_STATE_CHANGE` mirrors the connection: `connecting` when a login opens a socket and during a
///   reconnect (`disconnected` instead while the platform says it is offline), `connected` on the login
///   reply, `disconnected` when the session gives up its connection. Only changes are emitted.
/// - `destroy()` sends a logout frame if logged in on an open socket, closes it, emits `SDK_NOT_READY`
///   if `SDK_READY` was emitted, and fails every pending request (logins and logouts included) with 8005.
#[derive(Debug)]
pub struct Session {
    config: Config,
    rng: Rng,
    /// Message ids: a stream of its own, so that making messages does not move the reconnect jitter.
    ids: Rng,
    phase: Phase,
    /// The user logged in or logging in; `None` when logged out, kicked or destroyed.
    account: Option<Account>,
    /// The current socket, if any.
    link: Option<Link>,
    /// Index in `config.server_urls` of the URL the next socket opens.
    server: usize,
    /// URLs that failed since the last success or backoff wait (a round ends when all of them did).
    failed_in_round: usize,
    /// The server closed with 1012 (resume elsewhere at once); read by the next `connection_lost`.
    moved: bool,
    requests: PendingRequests,
    out: VecDeque<Output>,
    net_state: NetState,
    /// The platform's last hint was `Offline`.
    offline: bool,
    next_socket: SocketId,
    next_wire_id: RequestId,
    now: Millis,
}

#[derive(Debug)]
struct Account {
    user_id: String,
    user_sig: String,
    /// From the first login reply; presented on every reconnect.
    instance_id: Option<String>,
}

#[derive(Debug)]
struct Link {
    socket: SocketId,
    open: bool,
    /// A login frame went out on this socket (so a farewell logout makes sense).
    login_sent: bool,
    /// Running once logged in on this socket.
    heartbeat: Option<Heartbeat>,
}

impl Session {
    /// A logged-out session. A `request_timeout_ms` of 0 is raised to 1 so that every timer moves time on.
    pub fn new(mut config: Config) -> Session {
        config.request_timeout_ms = config.request_timeout_ms.max(1);
        Session {
            server: config.server_start as usize % config.server_urls.len().max(1),
            failed_in_round: 0,
            moved: false,
            rng: Rng::new(config.rng_seed),
            ids: Rng::new(config.rng_seed ^ MESSAGE_ID_STREAM),
            config,
            phase: Phase::LoggedOut(LoggedOutCause::NeverLoggedIn),
            account: None,
            link: None,
            requests: PendingRequests::default(),
            out: VecDeque::new(),
            net_state: NetState::Disconnected,
            offline: false,
            next_socket: 1,
            next_wire_id: 1,
            now: 0,
        }
    }

    /// Feeds one input that happened at `now` (milliseconds on the driver's clock).
    pub fn handle_input(&mut self, now: Millis, input: Input) {
        // A clock that steps back must not resurrect expired deadlines.
        self.now = self.now.max(now);
        if matches!(self.phase, Phase::Destroyed) {
            if let Input::Command { handle, .. } = input {
                self.fail(handle, ErrorCode::SdkDestroyed.into());
            }
            return;
        }
        match input {
            Input::Command { handle, command } => self.on_command(handle, command),
            Input::SocketOpened { socket } => {
                if self.is_current(socket) {
                    self.on_socket_opened();
                }
            }
            Input::SocketClosed { socket, code, reason } => {
                if self.is_current(socket) {
                    self.on_socket_closed(code, &reason);
                }
            }
            Input::FrameReceived { socket, frame } => {
                if self.is_current(socket) {
                    self.on_frame(frame);
                }
            }
            Input::FrameUndecodable { socket, error } => {
                if self.is_current(socket) {
                    self.on_undecodable(&error);
                }
            }
            Input::Timeout => self.on_timeout(),
            Input::Network(hint) => self.on_network(hint),
            Input::Destroy => self.destroy(),
        }
    }

    /// The next thing the driver must do or deliver, in order; `None` when there is nothing left.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The absolute time at which [`Input::Timeout`] must be fed, if any timer is armed.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let phase_deadline = match &self.phase {
            Phase::LoggingIn(login) => Some(login.deadline),
            Phase::LoggingOut(logout) => Some(logout.deadline),
            Phase::Reconnecting(r) => Some(match r.step {
                ReconnectStep::Waiting { at } => at,
                ReconnectStep::Connecting { deadline, .. } => deadline,
            }),
            Phase::Ready => self
                .link
                .as_ref()
                .and_then(|l| l.heartbeat.as_ref())
                .map(Heartbeat::next_deadline),
            Phase::LoggedOut(_) | Phase::Kicked(_) | Phase::Destroyed => None,
        };
        [phase_deadline, self.requests.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.phase.public()
    }

    /// True when APIs that need the ready state work (`tim.isReady()`): after `SDK_READY` and before
    /// `SDK_NOT_READY` or a `logout()` call. Stays true while reconnecting.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase, Phase::Ready | Phase::Reconnecting(_))
    }

    /// The logged-in user (`tim.getLoginUser()`); `""` when not logged in (also during a login).
    pub fn login_user(&self) -> &str {
        match (&self.phase, &self.account) {
            (Phase::Ready | Phase::Reconnecting(_) | Phase::LoggingOut(_), Some(account)) => &account.user_id,
            _ => "",
        }
    }

    /// Why APIs that need the ready state are refused now: 2024 before any login, 3000 while logging in,
    /// 3001 after a failed login, 3005 during and after a logout, 3002-3006 after a kick, 8005 after
    /// destroy. While ready it returns 2999 ([`ErrorCode::SdkIsNotReady`]), which no API reports then.
    pub fn not_ready_reason(&self) -> ErrorCode {
        match &self.phase {
            Phase::LoggedOut(LoggedOutCause::NeverLoggedIn) => ErrorCode::UserNotLoggedIn,
            Phase::LoggedOut(LoggedOutCause::LoginFailed) => ErrorCode::LoginFailed,
            Phase::LoggedOut(LoggedOutCause::LoggedOut) | Phase::LoggingOut(_) => ErrorCode::LoggedOut,
            Phase::LoggingIn(_) => ErrorCode::LoggingIn,
            Phase::Kicked(kick) => kick.error_code(),
            Phase::Destroyed => ErrorCode::SdkDestroyed,
            Phase::Ready | Phase::Reconnecting(_) => ErrorCode::SdkIsNotReady,
        }
    }

    /// The error an API that needs the ready state reports now: the reason's code, with the text of
    /// 2999 followed by the reason's text.
    fn not_ready_error(&self) -> TimError {
        let reason = self.not_ready_reason();
        if reason == ErrorCode::SdkDestroyed {
            return reason.into();
        }
        TimError {
            code: reason.code(),
            message: String::from(ErrorCode::SdkIsNotReady.message()) + " Reason: " + reason.message(),
        }
    }

    fn is_current(&self, socket: SocketId) -> bool {
        self.link.as_ref().is_some_and(|l| l.socket == socket)
    }

    fn alloc_wire_id(&mut self) -> RequestId {
        let id = self.next_wire_id;
        self.next_wire_id = self.next_wire_id.checked_add(1).unwrap_or(1);
        id
    }

    fn deadline(&self) -> Millis {
        self.now.saturating_add(self.config.request_timeout_ms)
    }

    fn emit(&mut self, event: Event) {
        self.out.push_back(Output::Event(event));
    }

    fn complete(&mut self, handle: Handle, result: Result<Response, TimError>) {
        self.out.push_back(Output::Completed { handle, result });
    }

    fn fail(&mut self, handle: Handle, error: TimError) {
        self.complete(handle, Err(error));
    }

    fn set_net_state(&mut self, state: NetState) {
        if self.net_state != state {
            self.net_state = state;
            self.emit(Event::NetStateChange { state });
        }
    }
}
