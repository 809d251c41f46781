//! Decoding is total: any input gives a frame or a typed error, never a panic; and every frame that
//! encodes decodes back to itself (integers on the wire are at most 2^53-1: larger ones are sent
//! saturated, see `tests/codec.rs`).

use std::num::NonZeroU32;

use proptest::prelude::*;
use tim_protocol::{ClientFrame, DecodeError, KickType, Platform, ServerFrame, MAX_WIRE_INTEGER};

fn wire_int() -> impl Strategy<Value = u64> {
    prop_oneof![0..=MAX_WIRE_INTEGER, Just(MAX_WIRE_INTEGER), Just(0)]
}

fn platform() -> impl Strategy<Value = Platform> {
    proptest::sample::select(Platform::ALL.to_vec())
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            wire_int(),
            ".{0,40}",
            ".{0,80}",
            platform(),
            proptest::option::of("[a-f0-9]{0,32}")
        )
            .prop_map(|(id, version, sdk_app_id, user_id, user_sig, platform, instance_id)| {
                ClientFrame::Login {
                    id,
                    version,
                    sdk_app_id,
                    user_id,
                    user_sig,
                    platform,
                    instance_id,
                }
            }),
        any::<u32>().prop_map(|id| ClientFrame::Logout { id }),
        any::<u32>().prop_map(|id| ClientFrame::Hello { id }),
        (
            any::<u32>(),
            ".{0,40}",
            ".{0,200}",
            proptest::option::of("[0-9a-f]{0,40}")
        )
            .prop_map(|(id, to, text, msg_id)| { ClientFrame::SendMessage { id, to, text, msg_id } }),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (
            any::<u32>(),
            "[a-z0-9]{0,32}",
            wire_int(),
            wire_int(),
            any::<bool>(),
            any::<bool>(),
            wire_int()
        )
            .prop_map(
                |(id, instance_id, hello, time, repeat_login, resumed, exp)| ServerFrame::LoginAck {
                    id,
                    instance_id,
                    hello_interval_ms: hello,
                    server_time_ms: time,
                    repeat_login,
                    resumed,
                    user_sig_expire_at: exp
                }
            ),
        any::<u32>().prop_map(|id| ServerFrame::LogoutAck { id }),
        (proptest::option::of(any::<u32>()), 1..=u32::MAX, ".{0,100}").prop_map(|(id, code, message)| {
            ServerFrame::Error {
                id,
                code: NonZeroU32::new(code).unwrap_or(NonZeroU32::MIN),
                message,
            }
        }),
        (
            proptest::sample::select(KickType::ALL.to_vec()),
            proptest::option::of(platform()),
            proptest::option::of(wire_int()),
        )
            .prop_map(|(kick_type, platform, time_ms)| ServerFrame::Kicked {
                kick_type,
                platform,
                time_ms
            }),
        (
            ".{0,32}",
            ".{0,32}",
            ".{0,100}",
            wire_int(),
            wire_int(),
            "[0-9a-f]{0,40}"
        )
            .prop_map(|(from, to, text, seq, time_ms, msg_id)| ServerFrame::Message {
                from,
                to,
                text,
                seq,
                time_ms,
                msg_id,
            }),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        // What a peer sends is text (the WebSocket layer checks UTF-8); any text of these bytes must do.
        let text = String::from_utf8_lossy(&bytes);
        let _ = ClientFrame::decode(&text);
        let _ = ServerFrame::decode(&text);
        let _ = tim_protocol::request_id_of(&text);
    }

    #[test]
    fn json_shaped_noise_never_panics(text in "[{}\\[\\]\",:0-9a-z.eE+\\-\\\\ ]{0,200}") {
        let _ = ClientFrame::decode(&text);
        let _ = ServerFrame::decode(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = ClientFrame::decode(&text);
        let _ = ServerFrame::decode(&text);
    }

    #[test]
    fn json_shaped_garbage_is_a_typed_error(
        ty in prop_oneof![Just("login".to_owned()), Just("logout".to_owned()), Just("kicked".to_owned()), Just("loginAck".to_owned()), "[a-z]{0,8}"],
        field in "[a-zA-Z]{0,10}",
        value in prop_oneof![Just("null".to_owned()), Just("-1".to_owned()), Just("1e400".to_owned()), "\"[^\"\\\\]{0,10}\"", Just("[]".to_owned()), Just("{}".to_owned())],
    ) {
        let text = format!("{{\"type\":\"{ty}\",\"{field}\":{value}}}");
        for result in [ClientFrame::decode(&text).err(), ServerFrame::decode(&text).err()].into_iter().flatten() {
            prop_assert!(matches!(result, DecodeError::Malformed(_)), "{result:?}");
        }
    }

    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        prop_assert_eq!(ClientFrame::decode(&frame.encode()).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        prop_assert_eq!(ServerFrame::decode(&frame.encode()).unwrap(), frame);
    }
}
