//! Every frame variant with edge values, for the codec's tests here and the SDK's tests in wasm
//! (unused code: the release builds drop it).

use std::num::NonZeroU32;

use crate::{ClientFrame, KickType, Platform, ServerFrame, MAX_WIRE_INTEGER};

/// Strings that stress the JSON: empty, unicode, every kind of escape.
pub const STRINGS: [&str; 4] = [
    "",
    "alice",
    "日本語 ☃ 😀",
    "quote \" back\\slash /\n\t\r\u{0}\u{8}\u{c}\u{1f}\u{7f}\u{2028}",
];

/// Every client frame variant and platform: integer extremes, the optional instance id absent and present.
pub fn client_frames() -> Vec<ClientFrame> {
    let mut frames = Vec::new();
    for (i, s) in STRINGS.iter().enumerate() {
        let id = [0, 1, u32::MAX, 42][i];
        for platform in Platform::ALL {
            frames.push(ClientFrame::Login {
                id,
                version: [0, 1, u32::MAX, 7][i],
                sdk_app_id: [0, 1_400_000_000, MAX_WIRE_INTEGER, 1][i],
                user_id: s.to_string(),
                user_sig: s.repeat(2),
                platform,
                instance_id: (i % 2 == 1).then(|| s.to_string()),
            });
        }
        frames.push(ClientFrame::Logout { id });
        frames.push(ClientFrame::Hello { id });
        frames.push(ClientFrame::SendMessage {
            id,
            to: s.to_string(),
            text: STRINGS[(i + 1) % STRINGS.len()].to_string(),
            msg_id: (i % 2 == 1).then(|| s.to_string()),
        });
    }
    frames
}

/// Every server frame variant and kick type: 0 and the extremes of each integer type, optional fields
/// absent and present.
pub fn server_frames() -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    for (i, s) in STRINGS.iter().enumerate() {
        let (id, big) = if i % 2 == 0 {
            (0, 0)
        } else {
            (u32::MAX, MAX_WIRE_INTEGER)
        };
        frames.push(ServerFrame::LoginAck {
            id,
            instance_id: s.to_string(),
            hello_interval_ms: big,
            server_time_ms: MAX_WIRE_INTEGER - big,
            repeat_login: i % 2 == 1,
            resumed: i >= 2,
            user_sig_expire_at: big,
        });
        frames.push(ServerFrame::LogoutAck { id });
        frames.push(ServerFrame::HelloAck {
            id,
            server_time_ms: big,
        });
        frames.push(ServerFrame::SendMessageAck {
            id,
            seq: big,
            time_ms: MAX_WIRE_INTEGER - big,
        });
        frames.push(ServerFrame::Message {
            from: s.to_string(),
            to: STRINGS[(i + 1) % STRINGS.len()].to_string(),
            text: s.repeat(3),
            seq: big,
            time_ms: big,
            msg_id: s.to_string(),
        });
        frames.push(ServerFrame::Error {
            id: [None, Some(0), Some(u32::MAX), Some(7)][i],
            code: NonZeroU32::new([1, 70001, u32::MAX, 80001][i]).unwrap_or(NonZeroU32::MIN),
            message: s.to_string(),
        });
    }
    for (i, kick_type) in KickType::ALL.into_iter().enumerate() {
        frames.push(ServerFrame::kicked(kick_type));
        frames.push(ServerFrame::Kicked {
            kick_type,
            platform: Some(Platform::ALL[i % Platform::ALL.len()]),
            time_ms: Some([0, 1_764_630_000_123, MAX_WIRE_INTEGER, 1][i % 4]),
        });
    }
    frames
}
