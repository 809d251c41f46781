//! `TIM.EVENT`, `TIM.TYPES` and `TIM.VERSION`: names and string values of the official SDK.

use js_sys::Object;
use tim_core::{KickType, NetState, CONV_C2C, MSG_TEXT};
use wasm_bindgen::prelude::*;

/// `TIM.EVENT.SDK_READY`.
pub const SDK_READY: &str = "sdkStateReady";
/// `TIM.EVENT.SDK_NOT_READY`.
pub const SDK_NOT_READY: &str = "sdkStateNotReady";
/// `TIM.EVENT.KICKED_OUT`.
pub const KICKED_OUT: &str = "kickedOut";
/// `TIM.EVENT.NET_STATE_CHANGE`.
pub const NET_STATE_CHANGE: &str = "netStateChange";
/// `TIM.EVENT.ERROR`.
pub const ERROR: &str = "error";
/// `TIM.EVENT.SDK_DESTROY`: emitted by the bindings themselves (the core has no such event).
pub const SDK_DESTROY: &str = "sdkDestroy";
/// `TIM.EVENT.MESSAGE_RECEIVED`.
pub const MESSAGE_RECEIVED: &str = "onMessageReceived";

/// `TIM.EVENT`: (name, value), in the order of the official table. Each value is written once, above.
pub const EVENTS: [(&str, &str); 7] = [
    ("SDK_READY", SDK_READY),
    ("SDK_NOT_READY", SDK_NOT_READY),
    ("KICKED_OUT", KICKED_OUT),
    ("NET_STATE_CHANGE", NET_STATE_CHANGE),
    ("ERROR", ERROR),
    ("SDK_DESTROY", SDK_DESTROY),
    ("MESSAGE_RECEIVED", MESSAGE_RECEIVED),
];

/// The `TIM.TYPES` name of a kick type.
pub fn kick_type_name(kick: KickType) -> &'static str {
    match kick {
        KickType::MultipleAccount => "KICKED_OUT_MULT_ACCOUNT",
        KickType::MultipleDevice => "KICKED_OUT_MULT_DEVICE",
        KickType::UserSigExpired => "KICKED_OUT_USERSIG_EXPIRED",
        KickType::RestApi => "KICKED_OUT_REST_API",
    }
}

/// The `TIM.TYPES` name of a network state.
pub fn net_state_name(state: NetState) -> &'static str {
    match state {
        NetState::Connected => "NET_STATE_CONNECTED",
        NetState::Connecting => "NET_STATE_CONNECTING",
        NetState::Disconnected => "NET_STATE_DISCONNECTED",
    }
}

/// `TIM.TYPES`: (name, value).
pub fn types() -> Vec<(&'static str, &'static str)> {
    let kicks = KickType::ALL.into_iter().map(|k| (kick_type_name(k), k.as_str()));
    let states = [NetState::Connected, NetState::Connecting, NetState::Disconnected]
        .into_iter()
        .map(|s| (net_state_name(s), s.as_str()));
    let messages = [("MSG_TEXT", MSG_TEXT), ("CONV_C2C", CONV_C2C)];
    kicks.chain(states).chain(messages).collect()
}

/// A frozen plain object of string constants.
pub fn frozen_table(entries: &[(&str, &str)]) -> JsValue {
    let obj = Object::new();
    for (name, value) in entries {
        // Defining a property on a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(name), &JsValue::from_str(value));
    }
    Object::freeze(&obj).into()
}

thread_local! {
    static EVENT_TABLE: JsValue = frozen_table(&EVENTS);
    static TYPES_TABLE: JsValue = frozen_table(&types());
}

/// The one `TIM.EVENT` object (the same object on every access).
pub fn event_table() -> JsValue {
    EVENT_TABLE.with(JsValue::clone)
}

/// The one `TIM.TYPES` object.
pub fn types_table() -> JsValue {
    TYPES_TABLE.with(JsValue::clone)
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use js_sys::Reflect;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn get(v: &JsValue, key: &str) -> Option<String> {
        Reflect::get(v, &JsValue::from_str(key)).unwrap().as_string()
    }

    #[wasm_bindgen_test]
    fn tables_have_the_official_values_and_are_frozen_singletons() {
        let ev = event_table();
        assert_eq!(get(&ev, "KICKED_OUT").as_deref(), Some("kickedOut"));
        assert_eq!(get(&ev, "SDK_DESTROY").as_deref(), Some(SDK_DESTROY));
        assert_eq!(get(&ev, "MESSAGE_RECEIVED").as_deref(), Some("onMessageReceived"));
        assert!(Object::is_frozen(ev.unchecked_ref::<Object>()));
        assert!(Object::is(&ev, &event_table()));
        let ty = types_table();
        assert_eq!(get(&ty, "KICKED_OUT_MULT_ACCOUNT").as_deref(), Some("multipleAccount"));
        assert_eq!(get(&ty, "KICKED_OUT_MULT_DEVICE").as_deref(), Some("multipleDevice"));
        assert_eq!(
            get(&ty, "KICKED_OUT_USERSIG_EXPIRED").as_deref(),
            Some("userSigExpired")
        );
        assert_eq!(get(&ty, "KICKED_OUT_REST_API").as_deref(), Some("REST_API_Kick"));
        assert_eq!(get(&ty, "NET_STATE_CONNECTED").as_deref(), Some("connected"));
        assert_eq!(get(&ty, "NET_STATE_CONNECTING").as_deref(), Some("connecting"));
        assert_eq!(get(&ty, "NET_STATE_DISCONNECTED").as_deref(), Some("disconnected"));
        assert_eq!(get(&ty, "MSG_TEXT").as_deref(), Some("TIMTextElem"));
        assert_eq!(get(&ty, "CONV_C2C").as_deref(), Some("C2C"));
    }
}
