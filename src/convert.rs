//! Conversions between core values and JS values: events and `imResponse`.
//!
//! Wire frames need none: `tim-protocol`'s codec reads and writes their JSON text in Rust, the same
//! code the server runs, so a frame crosses the wasm boundary once, as the text the socket carries.
//!
//! The objects of the hot paths (a login's `imResponse`, the `{name, data}` a listener gets,
//! `KICKED_OUT`'s data) are object literals in `src/js/shapes.js`: one call each, where [`object`]
//! costs a key string and a `Reflect.set` per property.

use js_sys::{Array, Object, Reflect};
use tim_core::{Event, Message, MessageStatus, Response, CONV_C2C, MSG_TEXT};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/shapes.js")]
extern "C" {
    /// `{code: 0, data}`.
    pub fn response(data: JsValue) -> JsValue;
    /// A login's `imResponse.data`: `{actionStatus: 'OK', errorCode: 0, errorInfo: ''}` (and
    /// `repeatLogin: true`).
    #[wasm_bindgen(js_name = loginData)]
    fn login_data(repeat: bool) -> JsValue;
    /// `{name, data}`.
    #[wasm_bindgen(js_name = listenerEvent)]
    fn listener_event_object(name: &str, data: JsValue) -> JsValue;
    /// `KICKED_OUT`'s data: `{type}`, plus `platform` and `time` when given.
    #[wasm_bindgen(js_name = kickData)]
    fn kick_data(kick_type: &str, platform: Option<&str>, time: Option<f64>) -> JsValue;
}

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
    use crate::constants::*;
    match event {
        Event::SdkReady => SDK_READY,
        Event::SdkNotReady => SDK_NOT_READY,
        Event::KickedOut { .. } => KICKED_OUT,
        Event::NetStateChange { .. } => NET_STATE_CHANGE,
        Event::Error { .. } => ERROR,
        Event::MessageReceived { .. } => MESSAGE_RECEIVED,
    }
}

/// The `data` listeners see with an event (`undefined` for the state events, as the official SDK).
pub fn event_data(event: &Event) -> JsValue {
    match event {
        Event::SdkReady | Event::SdkNotReady => JsValue::UNDEFINED,
        Event::KickedOut {
            kick_type,
            platform,
            time_ms,
        } => kick_data(
            kick_type.as_str(),
            platform.map(|p| p.as_str()),
            time_ms.map(|t| t as f64),
        ),
        Event::NetStateChange { state } => object(&[("state", state.as_str().into())]),
        Event::Error { code, message } => object(&[("code", (*code).into()), ("message", message.into())]),
        Event::MessageReceived { messages } => messages.iter().map(message).collect::<Array>().into(),
    }
}

/// The object a listener receives: `{name, data}`.
pub fn listener_event(name: &str, data: JsValue) -> JsValue {
    listener_event_object(name, data)
}

/// A message as the official SDK's Message object: `{ID, type, payload: {text}, from, to,
/// conversationID, conversationType, time, flow, status, sequence}` (`time` in Unix seconds), plus
/// this SDK's `text` and `timeMs`.
pub fn message(m: &Message) -> JsValue {
    let obj = object(&[]);
    assign_message(&obj, m);
    obj
}

/// Writes the fields of `m` onto `target` (the object `createTextMessage` returned, which `sendMessage`
/// settles in place, as the official SDK does).
pub fn assign_message(target: &JsValue, m: &Message) {
    let fields: [(&str, JsValue); 13] = [
        ("ID", m.id.as_str().into()),
        ("type", MSG_TEXT.into()),
        ("payload", object(&[("text", m.text.as_str().into())])),
        ("from", m.from.as_str().into()),
        ("to", m.to.as_str().into()),
        ("conversationID", m.conversation_id().into()),
        ("conversationType", CONV_C2C.into()),
        ("time", ((m.time_ms / 1000) as f64).into()),
        ("flow", m.flow.as_str().into()),
        ("status", m.status.as_str().into()),
        ("sequence", (m.seq as f64).into()),
        ("text", m.text.as_str().into()),
        ("timeMs", (m.time_ms as f64).into()),
    ];
    for (key, value) in fields {
        // A frozen or exotic object given as a message keeps its fields; the Promise still settles.
        let _ = Reflect::set(target, &JsValue::from_str(key), &value);
    }
}

/// Marks a message object given to `sendMessage` as failed (`status: 'fail'`).
pub fn mark_failed(target: &JsValue) {
    let _ = Reflect::set(
        target,
        &JsValue::from_str("status"),
        &MessageStatus::Fail.as_str().into(),
    );
}

/// `imResponse.data` of a successful command.
pub fn response_data(response: &Response) -> JsValue {
    match response {
        Response::Login { repeat_login } => login_data(*repeat_login),
        Response::Logout => object(&[]),
        Response::SendMessage { message: m } => send_message_data(message(m), m),
    }
}

/// `imResponse.data` of `sendMessage`: `{message, sequence, time, timeMs}` (`message` is the official
/// field; the others keep this SDK's earlier `{to, text}` form's result).
pub fn send_message_data(message_object: JsValue, m: &Message) -> JsValue {
    object(&[
        ("message", message_object),
        ("sequence", (m.seq as f64).into()),
        ("time", ((m.time_ms / 1000) as f64).into()),
        ("timeMs", (m.time_ms as f64).into()),
    ])
}

/// `imResponse`: `{code: 0, data}`.
pub fn im_response(response: &Response) -> JsValue {
    self::response(response_data(response))
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tim_core::{KickType, NetState};
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
                platform: None,
                time_ms: None,
            },
            Event::NetStateChange {
                state: NetState::Connecting,
            },
            Event::Error {
                code: 70001,
                message: "expired".into(),
            },
            Event::MessageReceived {
                messages: vec![Message::received(
                    "id1".into(),
                    "a".into(),
                    "b".into(),
                    "hi".into(),
                    7,
                    1_700_000_000_123,
                    "b",
                )],
            },
        ]
    }

    /// The whole mapping, core event → `TIM.EVENT` key and value: each core event has its own official
    /// entry, and every entry but `SDK_DESTROY` (the bindings' own) belongs to a core event.
    #[wasm_bindgen_test]
    fn every_event_maps_to_its_official_entry() {
        let key_of = |value: &str| {
            let keys: Vec<&str> = crate::constants::EVENTS
                .iter()
                .filter(|(_, v)| *v == value)
                .map(|(k, _)| *k)
                .collect();
            assert_eq!(keys.len(), 1, "{value} appears once in TIM.EVENT");
            keys[0]
        };
        // Exhaustive: a new core event fails to compile here until it is sampled and mapped.
        let index = |e: &Event| match e {
            Event::SdkReady => 0,
            Event::SdkNotReady => 1,
            Event::KickedOut { .. } => 2,
            Event::NetStateChange { .. } => 3,
            Event::Error { .. } => 4,
            Event::MessageReceived { .. } => 5,
        };
        assert_eq!(all_events().iter().map(index).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
        let mapping: Vec<(&str, &str)> = all_events()
            .iter()
            .map(|e| (key_of(event_name(e)), event_name(e)))
            .collect();
        assert_eq!(
            mapping,
            [
                ("SDK_READY", "sdkStateReady"),
                ("SDK_NOT_READY", "sdkStateNotReady"),
                ("KICKED_OUT", "kickedOut"),
                ("NET_STATE_CHANGE", "netStateChange"),
                ("ERROR", "error"),
                ("MESSAGE_RECEIVED", "onMessageReceived"),
            ]
        );
        let mut covered: Vec<&str> = mapping.iter().map(|(k, _)| *k).chain(["SDK_DESTROY"]).collect();
        covered.sort_unstable();
        let mut all: Vec<&str> = crate::constants::EVENTS.iter().map(|(k, _)| *k).collect();
        all.sort_unstable();
        assert_eq!(covered, all);
        assert_eq!(crate::constants::SDK_DESTROY, "sdkDestroy");
    }

    #[wasm_bindgen_test]
    fn event_data_shapes() {
        let events = all_events();
        assert!(event_data(&events[0]).is_undefined());
        assert!(event_data(&events[1]).is_undefined());
        for kick in KickType::ALL {
            let data = event_data(&Event::KickedOut {
                kick_type: kick,
                platform: None,
                time_ms: None,
            });
            assert_eq!(get(&data, "type").as_string().as_deref(), Some(kick.as_str()));
            assert_eq!(Object::keys(data.unchecked_ref::<Object>()).length(), 1, "only `type`");
        }
        let named = event_data(&Event::KickedOut {
            kick_type: KickType::MultipleAccount,
            platform: Some(tim_core::Platform::Wx),
            time_ms: Some(1_764_630_000_123),
        });
        assert_eq!(get(&named, "type").as_string().as_deref(), Some("multipleAccount"));
        assert_eq!(get(&named, "platform").as_string().as_deref(), Some("wx"));
        assert_eq!(get(&named, "time").as_f64(), Some(1_764_630_000_123.0));
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
        assert_eq!(get(&first, "ID").as_string().as_deref(), Some("id1"));
        assert_eq!(get(&first, "type").as_string().as_deref(), Some("TIMTextElem"));
        assert_eq!(get(&first, "conversationID").as_string().as_deref(), Some("C2Ca"));
        assert_eq!(get(&first, "conversationType").as_string().as_deref(), Some("C2C"));
        assert_eq!(get(&first, "flow").as_string().as_deref(), Some("in"));
        assert_eq!(get(&first, "status").as_string().as_deref(), Some("success"));
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

    /// The host's JSON reads what the codec writes, and writes what it reads, for every variant: the
    /// codec's own tests compare it with serde_json natively; this is the same check against `JSON`.
    #[wasm_bindgen_test]
    fn the_hosts_json_agrees_with_the_codec() {
        use js_sys::JSON;
        use tim_protocol::samples::{client_frames, server_frames};
        use tim_protocol::{ClientFrame, ServerFrame};
        let round_trip = |text: &str| -> String { JSON::stringify(&JSON::parse(text).unwrap()).unwrap().into() };
        for frame in client_frames() {
            let text = frame.encode();
            assert_eq!(round_trip(&text), text);
            assert_eq!(ClientFrame::decode(&text), Ok(frame));
        }
        for frame in server_frames() {
            let text = frame.encode();
            assert_eq!(round_trip(&text), text);
            assert_eq!(ServerFrame::decode(&round_trip(&text)), Ok(frame));
        }
        // Escapes JSON.stringify never writes still read as JSON.parse reads them.
        let text = r#"{"type":"kicked","kickType":"\u006dultipleAccount","x":"\/\ud83d\ude00"}"#;
        assert!(JSON::parse(text).is_ok());
        assert_eq!(
            ServerFrame::decode(text),
            Ok(ServerFrame::kicked(KickType::MultipleAccount))
        );
    }
}
