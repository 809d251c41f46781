//! The inputs and outputs of the [`crate::Session`] state machine.
//!
//! The driver (the wasm bindings, or a test harness) feeds [`Input`]s with the current time and drains
//! [`Output`]s until `poll_output` returns `None`; then it arms one timer for `poll_timeout`.

use tim_protocol::{ClientFrame, ErrorCode, KickType, Platform, ServerFrame};

use crate::message::Message;

/// Milliseconds on the driver's clock (JS `Date.now()` in the SDK, simulated time in tests).
pub type Millis = u64;

/// Identifies one request of the driver (one JS Promise). Chosen by the driver, echoed by
/// [`Output::Completed`]. Distinct from the wire's [`tim_protocol::RequestId`].
pub type Handle = u64;

/// Identifies one WebSocket opened on the core's request. Events of an older socket are ignored, so a
/// late `onclose` of a replaced connection cannot disturb the current one.
pub type SocketId = u64;

/// An API call of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `tim.login({userID, userSig})`.
    Login {
        /// The user to log in as.
        user_id: String,
        /// The user's UserSig (TLSSigAPIv2).
        user_sig: String,
    },
    /// `tim.logout()`.
    Logout,
    /// `tim.sendMessage({to, text})`: a text message to `to`, made as `createTextMessage` would. Needs the
    /// ready state.
    SendMessage {
        /// The receiving user's id.
        to: String,
        /// The message text.
        text: String,
    },
    /// `tim.sendMessage(message)`: a message from [`crate::Session::create_text_message`]. Needs the ready
    /// state.
    SendTextMessage {
        /// The message (its `ID` travels to the receiver).
        message: Message,
    },
}

/// A hint from the platform that the network may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkHint {
    /// Browser `online`, mini-program network available, or app shown: retry a pending reconnect now.
    Online,
    /// Browser `offline` or mini-program network lost.
    Offline,
}

/// Something that happened, fed to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The user called an API; it completes with exactly one [`Output::Completed`] for `handle`.
    Command {
        /// The driver's id for this call.
        handle: Handle,
        /// The call.
        command: Command,
    },
    /// The socket requested by [`Output::OpenSocket`] is open.
    SocketOpened {
        /// The socket of [`Output::OpenSocket`].
        socket: SocketId,
    },
    /// The socket closed (or failed to open). `code` is the WebSocket close code (1006 when unknown).
    SocketClosed {
        /// The socket of [`Output::OpenSocket`].
        socket: SocketId,
        /// The WebSocket close code.
        code: u16,
        /// The close reason text (may be empty).
        reason: String,
    },
    /// A frame arrived and decoded. Feed frames one by one, in arrival order.
    FrameReceived {
        /// The socket the frame came on.
        socket: SocketId,
        /// The decoded frame.
        frame: ServerFrame,
    },
    /// A frame arrived that did not decode (too large, binary, malformed).
    FrameUndecodable {
        /// The socket the frame came on.
        socket: SocketId,
        /// Why it did not decode.
        error: String,
    },
    /// The deadline given by `poll_timeout` has passed.
    Timeout,
    /// The platform reported a network change.
    Network(NetworkHint),
    /// `tim.destroy()`: close everything, fail pending requests, never connect again.
    Destroy,
}

/// `TIM.TYPES.NET_STATE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetState {
    /// `connected`
    Connected,
    /// `connecting`
    Connecting,
    /// `disconnected`
    Disconnected,
}

impl NetState {
    /// The JS string value.
    pub fn as_str(self) -> &'static str {
        match self {
            NetState::Connected => "connected",
            NetState::Connecting => "connecting",
            NetState::Disconnected => "disconnected",
        }
    }
}

/// An event for the user's listeners (`TIM.EVENT.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `sdkStateReady`
    SdkReady,
    /// `sdkStateNotReady`
    SdkNotReady,
    /// `kickedOut`, with `data.type` and, for a multi-instance eviction, `data.platform` and `data.time`.
    KickedOut {
        /// Why (`TIM.TYPES.KICKED_OUT_*`).
        kick_type: KickType,
        /// The platform of the instance whose login took this one's slot, when the server said.
        platform: Option<Platform>,
        /// When that login happened, Unix milliseconds, when the server said.
        time_ms: Option<u64>,
    },
    /// `netStateChange`, with `data.state`.
    NetStateChange {
        /// The new state.
        state: NetState,
    },
    /// `error`, with `data.code` and `data.message`.
    Error {
        /// The error code.
        code: u32,
        /// The English message.
        message: String,
    },
    /// `onMessageReceived`, with an array of messages.
    MessageReceived {
        /// The messages, oldest first.
        messages: Vec<Message>,
    },
}

/// The success value of a command (`imResponse.data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Login succeeded; `repeat_login` when this instance was already logged in as that user.
    Login {
        /// This instance was already logged in as that user (no new login happened).
        repeat_login: bool,
    },
    /// Logout succeeded: `data` is `{}`.
    Logout,
    /// A message was accepted by the server.
    SendMessage {
        /// The message, `status` success, with the server's sequence number and time.
        message: Message,
    },
}

/// The failure value of a command (`imError`): a numeric code and an English message.
/// `code` is a `u32` rather than an [`ErrorCode`] because a newer server may send codes this SDK
/// does not know; [`TimError::error_code`] gives the table entry when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimError {
    /// The numeric code (`imError.code`).
    pub code: u32,
    /// The English message (`imError.message`).
    pub message: String,
}

impl TimError {
    /// The table entry for this code, if any.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }
}

impl From<ErrorCode> for TimError {
    fn from(code: ErrorCode) -> Self {
        TimError {
            code: code.code(),
            message: code.message().to_owned(),
        }
    }
}

impl std::fmt::Display for TimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TimError {}

/// Something the driver must do, or deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a WebSocket to `url`; report it with `socket`.
    OpenSocket {
        /// The id to report this socket's events with.
        socket: SocketId,
        /// The WebSocket URL.
        url: String,
    },
    /// Close that socket (and drop its handlers). No `SocketClosed` input is expected afterwards.
    CloseSocket {
        /// The socket to close.
        socket: SocketId,
        /// The close code to send (1000, or 4000 after a frame that did not decode).
        code: u16,
    },
    /// Send this frame as a text message on that socket.
    Transmit {
        /// The socket to send on.
        socket: SocketId,
        /// The frame.
        frame: ClientFrame,
    },
    /// Call the listeners of this event.
    Event(Event),
    /// Settle the Promise of `handle`: exactly once per [`Input::Command`].
    Completed {
        /// The handle of the [`Input::Command`].
        handle: Handle,
        /// `imResponse.data` or `imError`.
        result: Result<Response, TimError>,
    },
}
