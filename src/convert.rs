//! Conversions between core values and JS values: events, `imResponse`, wire frames.
//!
//! Frames go through the host's `JSON` and are built or read field by field ([`frame_encode`],
//! [`frame_decode`]), which keeps `serde_json` and serde's derived code out of the wasm binary.

mod frame_decode;
mod frame_encode;

use js_sys::{Array, Object, Reflect};
use tim_core::{Event, Message, Response};
use tim_protocol::limits::MAX_FRAME_BYTES;
use tim_protocol::{ClientFrame, ServerFrame};
use wasm_bindgen::prelude::*;

/// A plain object with these properties.
pub fn object(entries: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (key, value) in entries {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&obj, &JsValue::from_str(key), value);
    }
    obj.into()
}

/// The `TIM.EVENT` value (the `name` listeners see) of an event.
pub fn event_name(event: &Event) -> &'static str {
    match event {
        Event::SdkReady => "sdkStateReady",
        Event::SdkNotReady => "sdkStateNotReady",
        Event::KickedOut { .. } => "kickedOut",
        Event::NetStateChange { .. } => "netStateChange",
        Event::Error { .. } => "error",
        Event::MessageReceived { .. } => "onMessageReceived",
    }
}

/// The `data` listeners see with an event (`undefined` for the state events, as the official SDK).
pub fn event_data(event: &Event) -> JsValue {
    match event {
        Event::SdkReady | Event::SdkNotReady => JsValue::UNDEFINED,
        Event::KickedOut { kick_type } => object(&[("type", kick_type.as_str().into())]),
        Event::NetStateChange { state } => object(&[("state", state.as_str().into())]),
        Event::Error { code, message } => object(&[("code", (*code).into()), ("message", message.into())]),
        Event::MessageReceived { messages } => messages.iter().map(message).collect::<Array>().into(),
    }
}

/// The object a listener receives: `{name, data}`.
pub fn listener_event(name: &str, data: JsValue) -> JsValue {
    object(&[("name", name.into()), ("data", data)])
}

/// One received message: `{from, to, text, payload: {text}, sequence, time}` (`time` in Unix seconds,
/// as the official message objects; `timeMs` keeps the milliseconds).
pub fn message(m: &Message) -> JsValue {
    object(&[
        ("from", m.from.as_str().into()),
        ("to", m.to.as_str().into()),
        ("type", "TIMTextElem".into()),
        ("text", m.text.as_str().into()),
        ("payload", object(&[("text", m.text.as_str().into())])),
        ("sequence", (m.seq as f64).into()),
        ("time", ((m.time_ms / 1000) as f64).into()),
        ("timeMs", (m.time_ms as f64).into()),
    ])
}

/// `imResponse.data` of a successful command.
pub fn response_data(response: &Response) -> JsValue {
    match response {
        Response::Login { repeat_login } => {
            let mut entries = vec![
                ("actionStatus", JsValue::from_str("OK")),
                ("errorCode", JsValue::from(0)),
                ("errorInfo", JsValue::from_str("")),
            ];
            if *repeat_login {
                entries.push(("repeatLogin", JsValue::TRUE));
            }
            object(&entries)
        }
        Response::Logout => object(&[]),
        Response::SendMessage { seq, time_ms } => object(&[
            ("sequence", (*seq as f64).into()),
            ("time", ((time_ms / 1000) as f64).into()),
            ("timeMs", (*time_ms as f64).into()),
        ]),
    }
}

/// `imResponse`: `{code: 0, data}`.
pub fn im_response(response: &Response) -> JsValue {
    object(&[("code", 0.into()), ("data", response_data(response))])
}

/// Encodes a frame as JSON text with the host's `JSON.stringify`.
pub fn encode_frame(frame: &ClientFrame) -> Result<String, String> {
    frame_encode::encode_client_frame(frame)
}

/// Decodes a received text frame; any bad input gives an error text, never a panic.
pub fn decode_frame(text: &str) -> Result<ServerFrame, String> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(format!(
            "frame of {} bytes exceeds the {MAX_FRAME_BYTES}-byte limit",
            text.len()
        ));
    }
    frame_decode::decode_server_frame(text).map_err(|e| format!("malformed frame: {e}"))
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tim_core::{KickType, NetState};
    use tim_protocol::{Platform, PROTOCOL_VERSION};
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn get(v: &JsValue, key: &str) -> JsValue {
        Reflect::get(v, &JsValue::from_str(key)).unwrap()
    }

    fn all_events() -> Vec<Event> {
        vec![
            Event::SdkReady,
            Event::SdkNotReady,
            Event::KickedOut {
                kick_type: KickType::MultipleAccount,
            },
            Event::NetStateChange {
                state: NetState::Connecting,
            },
            Event::Error {
                code: 70001,
                message: "expired".into(),
            },
            Event::MessageReceived {
                messages: vec![Message {
                    from: "a".into(),
                    to: "b".into(),
                    text: "hi".into(),
                    seq: 7,
                    time_ms: 1_700_000_000_123,
                }],
            },
        ]
    }

    #[wasm_bindgen_test]
    fn every_event_has_an_official_name() {
        let official: Vec<&str> = crate::constants::EVENTS.iter().map(|(_, v)| *v).collect();
        for event in all_events() {
            assert!(official.contains(&event_name(&event)), "{event:?}");
        }
    }

    #[wasm_bindgen_test]
    fn event_data_shapes() {
        let events = all_events();
        assert!(event_data(&events[0]).is_undefined());
        assert!(event_data(&events[1]).is_undefined());
        for kick in KickType::ALL {
            let data = event_data(&Event::KickedOut { kick_type: kick });
            assert_eq!(get(&data, "type").as_string().as_deref(), Some(kick.as_str()));
        }
        assert_eq!(
            get(&event_data(&events[3]), "state").as_string().as_deref(),
            Some("connecting")
        );
        let err = event_data(&events[4]);
        assert_eq!(get(&err, "code").as_f64(), Some(70001.0));
        assert_eq!(get(&err, "message").as_string().as_deref(), Some("expired"));
        let msgs = event_data(&events[5]);
        assert!(Array::is_array(&msgs));
        let first = msgs.unchecked_ref::<Array>().get(0);
        assert_eq!(get(&first, "text").as_string().as_deref(), Some("hi"));
        assert_eq!(get(&get(&first, "payload"), "text").as_string().as_deref(), Some("hi"));
        assert_eq!(get(&first, "sequence").as_f64(), Some(7.0));
        assert_eq!(get(&first, "time").as_f64(), Some(1_700_000_000.0));
        let wrapped = listener_event("kickedOut", JsValue::from(1));
        assert_eq!(get(&wrapped, "name").as_string().as_deref(), Some("kickedOut"));
        assert_eq!(get(&wrapped, "data").as_f64(), Some(1.0));
    }

    #[wasm_bindgen_test]
    fn responses() {
        let login = im_response(&Response::Login { repeat_login: false });
        assert_eq!(get(&login, "code").as_f64(), Some(0.0));
        let data = get(&login, "data");
        assert_eq!(get(&data, "actionStatus").as_string().as_deref(), Some("OK"));
        assert_eq!(get(&data, "errorCode").as_f64(), Some(0.0));
        assert_eq!(get(&data, "errorInfo").as_string().as_deref(), Some(""));
        assert!(get(&data, "repeatLogin").is_undefined());
        let repeat = response_data(&Response::Login { repeat_login: true });
        assert_eq!(get(&repeat, "repeatLogin").as_bool(), Some(true));
        let logout = response_data(&Response::Logout);
        assert_eq!(Object::keys(logout.unchecked_ref::<Object>()).length(), 0);
    }

    #[wasm_bindgen_test]
    fn frames_encode_like_the_protocol_crate() {
        let frame = ClientFrame::Login {
            id: 1,
            version: PROTOCOL_VERSION,
            sdk_app_id: 1400000000,
            user_id: "alice".into(),
            user_sig: "sig".into(),
            platform: Platform::Wx,
            instance_id: None,
        };
        assert_eq!(
            encode_frame(&frame).unwrap(),
            r#"{"type":"login","id":1,"version":1,"sdkAppId":1400000000,"userId":"alice","userSig":"sig","platform":"wx"}"#
        );
    }

    #[wasm_bindgen_test]
    fn frames_decode_totally() {
        let ok = decode_frame(r#"{"type":"kicked","kickType":"multipleAccount","extra":1}"#).unwrap();
        assert_eq!(
            ok,
            ServerFrame::Kicked {
                kick_type: KickType::MultipleAccount
            }
        );
        let ack = decode_frame(
            r#"{"type":"loginAck","id":3,"instanceId":"i","helloIntervalMs":120000,"serverTimeMs":1700000000000}"#,
        )
        .unwrap();
        assert!(matches!(ack, ServerFrame::LoginAck { id: 3, .. }));
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"type":"nope"}"#,
            r#"{"type":"logoutAck","id":-1}"#,
        ] {
            assert!(decode_frame(bad).is_err(), "{bad}");
        }
        let big = format!(
            r#"{{"type":"logoutAck","id":1,"pad":"{}"}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(decode_frame(&big).unwrap_err().contains("exceeds"));
    }
}
