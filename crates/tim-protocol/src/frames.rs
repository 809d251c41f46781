use std::num::NonZeroU32;

use crate::codec::{read_name, wire_frames, Field};
use crate::json::{Value, Writer};
use crate::KickType;

/// Identifies a request within one connection; its reply echoes it. Chosen by the client.
pub type RequestId = u32;

/// The runtime an SDK instance runs in. Every platform counts toward "Online Web Instances";
/// the server records it so that operators can see where instances live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Platform {
    /// A web page.
    #[default]
    Web,
    /// Node.js.
    Node,
    /// WeChat mini program (`wx`).
    Wx,
    /// QQ mini program (`qq`).
    Qq,
    /// ByteDance mini program (`tt`).
    Tt,
    /// Baidu smart program (`swan`).
    Swan,
    /// Alipay mini program (`my`).
    My,
}

impl Platform {
    /// Every platform.
    pub const ALL: [Platform; 7] = [
        Platform::Web,
        Platform::Node,
        Platform::Wx,
        Platform::Qq,
        Platform::Tt,
        Platform::Swan,
        Platform::My,
    ];

    /// The wire name (`"web"`, `"wx"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Web => "web",
            Platform::Node => "node",
            Platform::Wx => "wx",
            Platform::Qq => "qq",
            Platform::Tt => "tt",
            Platform::Swan => "swan",
            Platform::My => "my",
        }
    }

    /// Parses a wire name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

wire_frames! {
    /// A frame from the SDK to the server.
    pub enum ClientFrame {
        /// Log in (or, with `instance_id`, resume a live instance after a reconnect).
        Login = "login" {
            id: RequestId = "id",
            /// [`crate::PROTOCOL_VERSION`] of the sender.
            version: u32 = "version",
            sdk_app_id: u64 = "sdkAppId",
            user_id: String = "userId",
            user_sig: String = "userSig",
            platform: Platform = "platform" or default,
            /// Present on a reconnect: the instance id from the earlier `loginAck`. A resume keeps the
            /// instance's slot and never evicts anyone; if the slot is gone the server answers
            /// [`crate::ErrorCode::InstanceNotFound`].
            instance_id: Option<String> = "instanceId",
        },
        /// Log out this connection's instance and free its slot.
        Logout = "logout" { id: RequestId = "id" },
        /// Heartbeat; the server answers `helloAck`.
        Hello = "hello" { id: RequestId = "id" },
        /// Send a text message to another user (needs a logged-in connection).
        SendMessage = "sendMessage" {
            id: RequestId = "id",
            to: String = "to",
            text: String = "text",
            /// The message's `ID`, made by the sending SDK (see [`crate::limits::validate_message_id`]);
            /// absent from older clients, then the server makes one.
            msg_id: Option<String> = "msgId",
        },
    }

    /// A frame from the server to the SDK.
    pub enum ServerFrame {
        /// The login (or resume) succeeded.
        LoginAck = "loginAck" {
            id: RequestId = "id",
            /// The server-assigned instance id; present it on reconnect to keep the slot.
            instance_id: String = "instanceId",
            /// How often the client should say `hello`, in milliseconds.
            hello_interval_ms: u64 = "helloIntervalMs",
            /// The server's clock, Unix milliseconds.
            server_time_ms: u64 = "serverTimeMs",
            /// This connection was already logged in as the same user.
            repeat_login: bool = "repeatLogin" or default,
            /// The login resumed a live instance (reconnect) rather than creating one.
            resumed: bool = "resumed" or default,
            /// When the UserSig expires, Unix seconds; the server kicks with `userSigExpired` then.
            /// Sent saturated at 2^53-1 (a UserSig may claim to live for 2^62 seconds).
            user_sig_expire_at: u64 = "userSigExpireAt" or default,
        },
        /// The logout succeeded; the slot is free.
        LogoutAck = "logoutAck" { id: RequestId = "id" },
        /// Reply to `hello`.
        HelloAck = "helloAck" {
            id: RequestId = "id",
            server_time_ms: u64 = "serverTimeMs",
        },
        /// Reply to `sendMessage`.
        SendMessageAck = "sendMessageAck" {
            id: RequestId = "id",
            seq: u64 = "seq",
            time_ms: u64 = "timeMs",
        },
        /// A message pushed to a logged-in instance.
        Message = "message" {
            from: String = "from",
            to: String = "to",
            text: String = "text",
            seq: u64 = "seq",
            time_ms: u64 = "timeMs",
            /// The message's `ID`: the same on every side (the sender's SDK made it).
            msg_id: String = "msgId" or default,
        },
        /// A request failed (`id` set) or the connection broke the protocol (`id` absent).
        Error = "error" {
            id: Option<RequestId> = "id",
            /// A code of [`crate::ErrorCode`] (never 0, which means success to the SDK's callers).
            code: NonZeroU32 = "code",
            message: String = "message",
        },
        /// The instance is forced offline; the server closes with [`crate::close::KICKED`] next.
        Kicked = "kicked" {
            kick_type: KickType = "kickType",
            /// A multi-instance eviction: the platform of the instance whose login took the slot.
            /// Absent for other kicks and from older servers.
            platform: Option<Platform> = "platform",
            /// A multi-instance eviction: when that login happened, Unix milliseconds.
            time_ms: Option<u64> = "time",
        },
    }
}

impl ClientFrame {
    /// The request id of this frame.
    pub fn id(&self) -> RequestId {
        match self {
            ClientFrame::Login { id, .. }
            | ClientFrame::Logout { id }
            | ClientFrame::Hello { id }
            | ClientFrame::SendMessage { id, .. } => *id,
        }
    }
}

impl ServerFrame {
    /// A `kicked` frame that names no evicting login (UserSig expiry, REST kick).
    pub fn kicked(kick_type: KickType) -> ServerFrame {
        ServerFrame::Kicked {
            kick_type,
            platform: None,
            time_ms: None,
        }
    }

    /// An `error` frame with the table's code and message.
    pub fn error(id: Option<RequestId>, code: crate::ErrorCode) -> ServerFrame {
        ServerFrame::Error {
            id,
            code: code.wire_code(),
            message: code.message().to_owned(),
        }
    }
}

impl Field for Platform {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        // Through `parse`, which the SDK's options already use: one copy of the search in the wasm.
        match value {
            Some(Value::String(name)) => Platform::parse(name).ok_or("a platform name"),
            _ => Err("a platform name"),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.string(key, self.as_str());
    }
}

impl Field for KickType {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        read_name(value, &KickType::ALL, KickType::as_str, "a kick type")
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.string(key, self.as_str());
    }
}

impl Field for NonZeroU32 {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        u32::read(value)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or("an integer in 1..=4294967295")
    }
    fn write(&self, key: &str, out: &mut Writer) {
        self.get().write(key, out);
    }
}
