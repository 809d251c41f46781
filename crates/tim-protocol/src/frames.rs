use serde::{Deserialize, Serialize};

use crate::KickType;

/// Identifies a request within one connection; its reply echoes it. Chosen by the client.
pub type RequestId = u32;

/// The runtime an SDK instance runs in. Every platform counts toward "Online Web Instances";
/// the server records it so that operators can see where instances live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
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

/// A frame from the SDK to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientFrame {
    /// Log in (or, with `instance_id`, resume a live instance after a reconnect).
    #[serde(rename_all = "camelCase")]
    Login {
        id: RequestId,
        /// [`crate::PROTOCOL_VERSION`] of the sender.
        version: u32,
        sdk_app_id: u64,
        user_id: String,
        user_sig: String,
        #[serde(default)]
        platform: Platform,
        /// Present on a reconnect: the instance id from the earlier `loginAck`. A resume keeps the
        /// instance's slot and never evicts anyone; if the slot is gone the server answers
        /// [`crate::ErrorCode::InstanceNotFound`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance_id: Option<String>,
    },
    /// Log out this connection's instance and free its slot.
    Logout { id: RequestId },
    /// Heartbeat; the server answers `helloAck`.
    Hello { id: RequestId },
    /// Send a text message to another user (needs a logged-in connection).
    #[serde(rename_all = "camelCase")]
    SendMessage { id: RequestId, to: String, text: String },
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

/// A frame from the server to the SDK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerFrame {
    /// The login (or resume) succeeded.
    #[serde(rename_all = "camelCase")]
    LoginAck {
        id: RequestId,
        /// The server-assigned instance id; present it on reconnect to keep the slot.
        instance_id: String,
        /// How often the client should say `hello`, in milliseconds.
        hello_interval_ms: u64,
        /// The server's clock, Unix milliseconds.
        server_time_ms: u64,
        /// This connection was already logged in as the same user.
        #[serde(default)]
        repeat_login: bool,
        /// The login resumed a live instance (reconnect) rather than creating one.
        #[serde(default)]
        resumed: bool,
        /// When the UserSig expires, Unix seconds; the server kicks with `userSigExpired` then.
        #[serde(default)]
        user_sig_expire_at: u64,
    },
    /// The logout succeeded; the slot is free.
    LogoutAck { id: RequestId },
    /// Reply to `hello`.
    #[serde(rename_all = "camelCase")]
    HelloAck { id: RequestId, server_time_ms: u64 },
    /// Reply to `sendMessage`.
    #[serde(rename_all = "camelCase")]
    SendMessageAck { id: RequestId, seq: u64, time_ms: u64 },
    /// A message pushed to a logged-in instance.
    #[serde(rename_all = "camelCase")]
    Message {
        from: String,
        to: String,
        text: String,
        seq: u64,
        time_ms: u64,
    },
    /// A request failed (`id` set) or the connection broke the protocol (`id` absent).
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<RequestId>,
        /// A code of [`crate::ErrorCode`].
        code: u32,
        message: String,
    },
    /// The instance is forced offline; the server closes with [`crate::close::KICKED`] next.
    #[serde(rename_all = "camelCase")]
    Kicked { kick_type: KickType },
}
