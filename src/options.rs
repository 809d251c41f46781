//! Reading the option objects of `TIM.create`, `login` and `sendMessage` into typed values.
//!
//! Only JS types are checked here (number or string, string, function); the rules on the values
//! (UserID format, URL scheme, ...) belong to the core, which reports them with their codes.

use js_sys::{Function, Reflect};
use tim_core::{Command, ErrorCode, Flow, Message, MessageStatus, Platform, MAX_SERVER_URLS};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error;

/// What `TIM.create(options)` was given.
#[derive(Debug)]
pub struct CreateOptions {
    /// `options.SDKAppID` read as an integer (0 when it is not one); the core checks its value.
    pub sdk_app_id: u64,
    /// `options.serverUrl`: the server's WebSocket URL, or an array of them (see [`url_list`]).
    pub server_url: Option<Vec<String>>,
    /// `options.proxyServer`: the official SDK's name for it, read the same way (the core picks one).
    pub proxy_server: Option<Vec<String>>,
    /// `options.WebSocket`: a constructor with the W3C `WebSocket` shape, if given.
    pub websocket: Option<Function>,
    /// `options.platform` (set by the mini-program entry): the runtime reported to the server.
    pub platform: Option<Platform>,
    /// `options.logLevel`: `setLogLevel`'s level, set before the instance logs anything (`undefined`
    /// when not given).
    pub log_level: JsValue,
}

#[wasm_bindgen]
extern "C" {
    /// `login()`'s options, read through plain getters (the hot path: no key string crosses per read;
    /// `catch`: a getter may throw).
    type LoginOptions;
    #[wasm_bindgen(method, getter, catch, js_name = userID)]
    fn user_id(this: &LoginOptions) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, getter, catch, js_name = userSig)]
    fn user_sig(this: &LoginOptions) -> Result<JsValue, JsValue>;
}

fn get(options: &JsValue, key: &str) -> JsValue {
    Reflect::get(options, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn is_object(value: &JsValue) -> bool {
    value.is_object() || value.is_function()
}

/// Reads an SDKAppID given as a number or a string of digits as an integer, and anything else
/// (missing, a fraction, a negative number, other text) as 0. Whether the integer is a valid SDKAppID
/// is the core's rule (`Config::validate`: 1 to 2^53-1, else 2000); a huge number saturates, so it fails
/// that rule too.
pub fn sdk_app_id(value: &JsValue) -> u64 {
    if let Some(n) = value.as_f64() {
        return if n >= 0.0 && n.fract() == 0.0 { n as u64 } else { 0 };
    }
    // The host's `trim()` (the same white space as Rust's `str::trim`, plus U+FEFF), rather than
    // carrying Rust's Unicode white-space table in the wasm.
    let Some(text) = value.dyn_ref::<js_sys::JsString>().map(|s| String::from(s.trim())) else {
        return 0;
    };
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    text.bytes()
        .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .unwrap_or(u64::MAX)
}

/// Reads `TIM.create(options)`; the error is a JS `TimError` (2000 when `options` is not an object,
/// 8002 for a `WebSocket` option that is not a constructor or an unknown `platform`).
pub fn create(options: &JsValue) -> Result<CreateOptions, JsValue> {
    if !is_object(options) {
        return Err(error::with_message(
            ErrorCode::NoSdkAppId,
            "TIM.create needs an options object: TIM.create({SDKAppID, serverUrl}).",
        ));
    }
    let sdk_app_id = sdk_app_id(&get(options, "SDKAppID"));
    // The core chooses between them (`choose_server_url`) and checks the values (`Config::validate`:
    // 8003 unless 1 to 16 URLs, each ws:// or wss:// with a host).
    let server_url = url_list(&get(options, "serverUrl"));
    let proxy_server = url_list(&get(options, "proxyServer"));
    let (websocket, platform) = runtime_options(options)?;
    let log_level = get(options, "logLevel");
    Ok(CreateOptions {
        sdk_app_id,
        server_url,
        proxy_server,
        websocket,
        platform,
        log_level,
    })
}

/// A string as one URL, an array (any object with a `length`) as its entries (one that is not a string reads as `""`, which the core
/// refuses by its index; at most one past the core's limit is read, enough for the core to refuse it);
/// anything else as not given.
pub fn url_list(value: &JsValue) -> Option<Vec<String>> {
    if !value.is_object() {
        return value.as_string().map(|url| vec![url]);
    }
    // Through `Reflect` (already imported) rather than `Array`'s own imports: a smaller wasm.
    let count = get(value, "length").as_f64()? as u32;
    let mut urls = Vec::new();
    for i in 0..count.min(MAX_SERVER_URLS as u32 + 1) {
        urls.push(
            Reflect::get(value, &i.into())
                .unwrap_or_default()
                .as_string()
                .unwrap_or_default(),
        );
    }
    Some(urls)
}

/// `WebSocket` and `platform` of `TIM.create`'s options or of the loaders' `setRuntimeDefaults`:
/// absent (`undefined`, `null`) or a constructor, and one of the platform names; else 8002.
pub fn runtime_options(options: &JsValue) -> Result<(Option<Function>, Option<Platform>), JsValue> {
    let websocket = match get(options, "WebSocket") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(v.dyn_into::<Function>().map_err(|_| {
            error::with_message(
                ErrorCode::InvalidArgument,
                "options.WebSocket must be a WebSocket constructor.",
            )
        })?),
    };
    let platform = match get(options, "platform") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(v.as_string().and_then(|p| Platform::parse(&p)).ok_or_else(|| {
            error::with_message(
                ErrorCode::InvalidArgument,
                "options.platform must be one of web, node, wx, qq, tt, swan, my.",
            )
        })?),
    };
    Ok((websocket, platform))
}

/// A string option: missing (`undefined`, `null`) reads as `""`, so that the core reports the
/// option's own "missing" code; any other non-string is 8002.
fn string_option(options: &JsValue, key: &str) -> Result<String, JsValue> {
    string_value(get(options, key), key)
}

/// Option `key`'s `value` as a string (`undefined` and `null` read as the empty string).
fn string_value(value: JsValue, key: &str) -> Result<String, JsValue> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    if value.is_undefined() || value.is_null() {
        return Ok(String::new());
    }
    Err(error::with_message(
        ErrorCode::InvalidArgument,
        &(String::from(key) + " must be a string."),
    ))
}

fn require_object(options: &JsValue, call: &str) -> Result<(), JsValue> {
    if is_object(options) {
        Ok(())
    } else {
        Err(error::with_message(
            ErrorCode::InvalidArgument,
            &(String::from(call) + " needs an options object."),
        ))
    }
}

/// Reads `login({userID, userSig})`.
pub fn login(options: &JsValue) -> Result<Command, JsValue> {
    require_object(options, "login")?;
    let options: &LoginOptions = options.unchecked_ref();
    let read = |value: Result<JsValue, JsValue>| value.unwrap_or(JsValue::UNDEFINED);
    Ok(Command::Login {
        user_id: string_value(read(options.user_id()), "userID")?,
        user_sig: string_value(read(options.user_sig()), "userSig")?,
    })
}

/// Reads `sendMessage(message)` (an object with a string `ID`, as `createTextMessage` returns) or the
/// short form `sendMessage({to, text})`.
pub fn send_message(options: &JsValue) -> Result<Command, JsValue> {
    require_object(options, "sendMessage")?;
    let Some(id) = get(options, "ID").as_string() else {
        return Ok(Command::SendMessage {
            to: string_option(options, "to")?,
            text: string_option(options, "text")?,
        });
    };
    let text = payload_text(options, "sendMessage(message)")?;
    let time_ms = get(options, "timeMs")
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .unwrap_or(0.0);
    Ok(Command::SendTextMessage {
        message: Message {
            id,
            from: string_option(options, "from")?,
            to: string_option(options, "to")?,
            text,
            flow: Flow::Out,
            status: MessageStatus::UnSend,
            seq: 0,
            time_ms: time_ms as u64,
        },
    })
}

/// What `createTextMessage({to, conversationType, payload: {text}})` was given: conversation type, to,
/// text (the core checks their values).
pub fn text_message(options: &JsValue) -> Result<(String, String, String), JsValue> {
    require_object(options, "createTextMessage")?;
    let text = payload_text(options, "createTextMessage")?;
    Ok((
        string_option(options, "conversationType")?,
        string_option(options, "to")?,
        text,
    ))
}

/// `options.payload.text`, a string (8002 otherwise: the payload is where the official API puts it).
fn payload_text(options: &JsValue, call: &str) -> Result<String, JsValue> {
    let payload = get(options, "payload");
    if !is_object(&payload) {
        return Err(error::with_message(
            ErrorCode::InvalidArgument,
            &(String::from(call) + ": payload must be an object {text}."),
        ));
    }
    get(&payload, "text").as_string().ok_or_else(|| {
        error::with_message(
            ErrorCode::InvalidArgument,
            &(String::from(call) + ": payload.text must be a string."),
        )
    })
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use crate::convert::object;
    use crate::Tim;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn code(err: JsValue) -> f64 {
        Reflect::get(&err, &"code".into()).unwrap().as_f64().unwrap()
    }

    #[wasm_bindgen_test]
    fn sdk_app_id_accepts_numbers_and_numeric_strings_only() {
        use tim_protocol::limits::validate_sdk_app_id;
        assert_eq!(sdk_app_id(&1400000000.into()), 1400000000);
        assert_eq!(sdk_app_id(&"1400000000".into()), 1400000000);
        assert_eq!(sdk_app_id(&" 7 ".into()), 7);
        assert_eq!(sdk_app_id(&9_007_199_254_740_991.0.into()), 9_007_199_254_740_991);
        for bad in [
            JsValue::from(0),
            JsValue::from(-1),
            JsValue::from(1.5),
            JsValue::from(f64::NAN),
            JsValue::from(1e300),
            JsValue::from(9_007_199_254_740_992.0),
            "".into(),
            "12a".into(),
            "-5".into(),
            "0".into(),
            "99999999999999999999999".into(),
            JsValue::NULL,
            JsValue::UNDEFINED,
            JsValue::TRUE,
        ] {
            // Read as a number the core refuses (2000), whatever it was.
            assert!(validate_sdk_app_id(sdk_app_id(&bad)).is_err(), "{bad:?}");
            let options = object(&[("SDKAppID", bad.clone()), ("serverUrl", "ws://h/ws".into())]);
            assert_eq!(code(Tim::create(options).unwrap_err()), 2000.0, "{bad:?}");
        }
    }

    #[wasm_bindgen_test]
    fn create_errors_have_codes() {
        let url = "ws://127.0.0.1:1/ws";
        assert_eq!(code(create(&JsValue::UNDEFINED).unwrap_err()), 2000.0);
        assert_eq!(create(&object(&[("serverUrl", url.into())])).unwrap().sdk_app_id, 0);
        assert_eq!(
            code(Tim::create(object(&[("serverUrl", url.into())])).unwrap_err()),
            2000.0
        );
        // A missing serverUrl reads as absent: the core's `Config::validate` turns "" into 8003.
        let no_url = object(&[("SDKAppID", 1.into()), ("serverUrl", 5.into())]);
        assert_eq!(create(&no_url).unwrap().server_url, None);
        let proxy = object(&[("SDKAppID", 1.into()), ("proxyServer", url.into())]);
        assert_eq!(create(&proxy).unwrap().proxy_server, Some(vec![url.to_owned()]));
        let bad_ws = object(&[
            ("SDKAppID", 1.into()),
            ("serverUrl", url.into()),
            ("WebSocket", 3.into()),
        ]);
        assert_eq!(code(create(&bad_ws).unwrap_err()), 8002.0);
        let ok = create(&object(&[("SDKAppID", "7".into()), ("serverUrl", url.into())])).unwrap();
        assert_eq!(ok.sdk_app_id, 7);
        assert!(ok.websocket.is_none());
    }

    #[wasm_bindgen_test]
    fn server_urls_are_read_as_a_string_or_an_array_of_strings() {
        let array = |items: &[JsValue]| -> JsValue { items.iter().collect::<js_sys::Array>().into() };
        assert_eq!(url_list(&"ws://a/ws".into()), Some(vec!["ws://a/ws".to_owned()]));
        assert_eq!(
            url_list(&array(&["ws://a/ws".into(), 5.into(), "ws://b/ws".into()])),
            Some(vec!["ws://a/ws".to_owned(), String::new(), "ws://b/ws".to_owned()])
        );
        assert_eq!(url_list(&array(&[])), Some(vec![]));
        assert_eq!(url_list(&5.into()), None);
        assert_eq!(url_list(&JsValue::UNDEFINED), None);
        let many: Vec<JsValue> = (0..1000).map(|_| "ws://a/ws".into()).collect();
        assert_eq!(url_list(&array(&many)).unwrap().len(), MAX_SERVER_URLS + 1);
        // The core's rule names the bad entry; an empty array alone is refused.
        let message = |v: JsValue| {
            let err = Tim::create(object(&[("SDKAppID", 1.into()), ("serverUrl", v)])).unwrap_err();
            assert_eq!(code(err.clone()), 8003.0);
            Reflect::get(&err, &"message".into()).unwrap().as_string().unwrap()
        };
        assert!(message(array(&["ws://a/ws".into(), "http://b/ws".into()])).contains("serverUrl[1]"));
        assert!(message(array(&[])).contains("1 to 16"));
        assert!(message(array(&many)).contains("1 to 16"));
    }

    #[wasm_bindgen_test]
    fn login_options() {
        assert_eq!(code(login(&JsValue::UNDEFINED).unwrap_err()), 8002.0);
        assert_eq!(code(login(&object(&[("userID", 5.into())])).unwrap_err()), 8002.0);
        assert_eq!(
            login(&object(&[("userID", "a".into())])).unwrap(),
            Command::Login {
                user_id: "a".into(),
                user_sig: String::new()
            }
        );
        assert_eq!(code(send_message(&JsValue::NULL).unwrap_err()), 8002.0);
        let payload = object(&[("text", "hi".into())]);
        let message = object(&[("ID", "m1".into()), ("to", "bob".into()), ("payload", payload.clone())]);
        match send_message(&message).unwrap() {
            Command::SendTextMessage { message } => {
                assert_eq!(
                    (message.id.as_str(), message.to.as_str(), message.text.as_str()),
                    ("m1", "bob", "hi")
                )
            }
            other => panic!("{other:?}"),
        }
        let no_payload = object(&[("ID", "m1".into()), ("to", "bob".into())]);
        assert_eq!(code(send_message(&no_payload).unwrap_err()), 8002.0);
        let created = object(&[
            ("to", "bob".into()),
            ("conversationType", "C2C".into()),
            ("payload", payload),
        ]);
        assert_eq!(
            text_message(&created).unwrap(),
            ("C2C".to_owned(), "bob".to_owned(), "hi".to_owned())
        );
        let bad_text = object(&[("to", "bob".into()), ("payload", object(&[("text", 5.into())]))]);
        assert_eq!(code(text_message(&bad_text).unwrap_err()), 8002.0);
    }
}
