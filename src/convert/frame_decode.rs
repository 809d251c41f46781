//! Decoding of received server frames without serde: the host's `JSON.parse`, then each field read
//! with `Reflect` and checked by hand.
//!
//! serde's derive for the internally tagged `ServerFrame` buffers every field in its `Content` type and
//! its error texts pull in float formatting; together about two fifths of the wasm. This decoder accepts
//! what the serde derive (through `serde-wasm-bindgen`, used before) accepted: unknown fields are
//! ignored, `#[serde(default)]` fields may be absent, `null` stands for an absent optional id, integers
//! must be safe JS integers within the field's range. Only serde's array form of a variant is refused.

use js_sys::{Array, Reflect, JSON};
use tim_protocol::{KickType, RequestId, ServerFrame};
use wasm_bindgen::JsValue;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`, 2^53 - 1). Larger values
/// may already have been rounded by `JSON.parse`, so they are refused, as `serde-wasm-bindgen` did.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Parses JSON text into a server frame; any bad input gives an error text, never a panic.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, String> {
    let value = JSON::parse(text).map_err(|_| "not JSON".to_owned())?;
    server_frame(&value)
}

/// Reads a server frame from a parsed JSON value.
pub fn server_frame(value: &JsValue) -> Result<ServerFrame, String> {
    if !value.is_object() || Array::is_array(value) {
        return Err("not a JSON object".to_owned());
    }
    let obj = Obj(value);
    let kind = obj.string("type")?;
    let frame = match kind.as_str() {
        "loginAck" => ServerFrame::LoginAck {
            id: obj.id("id")?,
            instance_id: obj.string("instanceId")?,
            hello_interval_ms: obj.u64("helloIntervalMs")?,
            server_time_ms: obj.u64("serverTimeMs")?,
            repeat_login: obj.optional("repeatLogin", Obj::bool)?.unwrap_or(false),
            resumed: obj.optional("resumed", Obj::bool)?.unwrap_or(false),
            user_sig_expire_at: obj.optional("userSigExpireAt", Obj::u64)?.unwrap_or(0),
        },
        "logoutAck" => ServerFrame::LogoutAck { id: obj.id("id")? },
        "helloAck" => ServerFrame::HelloAck {
            id: obj.id("id")?,
            server_time_ms: obj.u64("serverTimeMs")?,
        },
        "sendMessageAck" => ServerFrame::SendMessageAck {
            id: obj.id("id")?,
            seq: obj.u64("seq")?,
            time_ms: obj.u64("timeMs")?,
        },
        "message" => ServerFrame::Message {
            from: obj.string("from")?,
            to: obj.string("to")?,
            text: obj.string("text")?,
            seq: obj.u64("seq")?,
            time_ms: obj.u64("timeMs")?,
        },
        "error" => ServerFrame::Error {
            // `null` counts as absent, as serde's `Option` did.
            id: obj.optional_or_null("id", Obj::id)?,
            code: obj.u32("code")?,
            message: obj.string("message")?,
        },
        "kicked" => ServerFrame::Kicked {
            kick_type: obj.kick_type("kickType")?,
        },
        _ => return Err(format!("unknown frame type `{kind}`")),
    };
    Ok(frame)
}

/// A parsed JSON object whose fields are read one by one.
struct Obj<'a>(&'a JsValue);

impl Obj<'_> {
    /// The field's value (`undefined` when absent). `Reflect.get` on an object made by `JSON.parse`
    /// has no getter or proxy to throw; a failure still reads as absent.
    fn get(&self, key: &str) -> JsValue {
        Reflect::get(self.0, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    fn string(&self, key: &str) -> Result<String, String> {
        self.get(key).as_string().ok_or_else(|| invalid(key, "a string"))
    }

    fn bool(&self, key: &str) -> Result<bool, String> {
        self.get(key).as_bool().ok_or_else(|| invalid(key, "a boolean"))
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        self.integer(key, MAX_SAFE_INTEGER)
            .ok_or_else(|| invalid(key, "an integer in 0..=2^53-1"))
    }

    fn u32(&self, key: &str) -> Result<u32, String> {
        match self.integer(key, u32::MAX as f64) {
            Some(v) => Ok(v as u32),
            None => Err(invalid(key, "an integer in 0..=4294967295")),
        }
    }

    fn id(&self, key: &str) -> Result<RequestId, String> {
        self.u32(key)
    }

    /// A number that is finite, integral and within `0..=max` (`max` <= 2^53 - 1, so exact).
    fn integer(&self, key: &str, max: f64) -> Option<u64> {
        let v = self.get(key).as_f64()?;
        // NaN and the infinities fail the range test; `-0` is accepted as 0.
        if (0.0..=max).contains(&v) && v.trunc() == v {
            Some(v as u64)
        } else {
            None
        }
    }

    fn kick_type(&self, key: &str) -> Result<KickType, String> {
        let name = self.string(key)?;
        KickType::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| format!("field `{key}`: unknown kick type `{name}`"))
    }

    /// `None` when the field is absent, else the field read by `read`.
    fn optional<T>(&self, key: &str, read: fn(&Self, &str) -> Result<T, String>) -> Result<Option<T>, String> {
        if self.get(key).is_undefined() {
            Ok(None)
        } else {
            read(self, key).map(Some)
        }
    }

    /// `None` when the field is absent or `null`, else the field read by `read`.
    fn optional_or_null<T>(&self, key: &str, read: fn(&Self, &str) -> Result<T, String>) -> Result<Option<T>, String> {
        if self.get(key).is_null() {
            Ok(None)
        } else {
            self.optional(key, read)
        }
    }
}

fn invalid(key: &str, expected: &str) -> String {
    format!("field `{key}`: missing or not {expected}")
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    const MAX_U53: u64 = (1 << 53) - 1;

    /// The wire name of a variant; exhaustive, so a new variant must be added to the samples below.
    fn variant(frame: &ServerFrame) -> &'static str {
        match frame {
            ServerFrame::LoginAck { .. } => "loginAck",
            ServerFrame::LogoutAck { .. } => "logoutAck",
            ServerFrame::HelloAck { .. } => "helloAck",
            ServerFrame::SendMessageAck { .. } => "sendMessageAck",
            ServerFrame::Message { .. } => "message",
            ServerFrame::Error { .. } => "error",
            ServerFrame::Kicked { .. } => "kicked",
        }
    }

    /// Every variant with edge values: 0 and the extremes of each integer type, empty, unicode and
    /// escaped strings, optional fields absent and present.
    fn samples() -> Vec<ServerFrame> {
        let strings = ["", "alice", "日本語 ☃ 😀", "quote \" back\\slash\nnewline\u{0}"];
        let mut frames = Vec::new();
        for (i, s) in strings.iter().enumerate() {
            let (id, big) = if i % 2 == 0 { (0, 0) } else { (u32::MAX, MAX_U53) };
            frames.push(ServerFrame::LoginAck {
                id,
                instance_id: s.to_string(),
                hello_interval_ms: big,
                server_time_ms: MAX_U53 - big,
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
                time_ms: MAX_U53 - big,
            });
            frames.push(ServerFrame::Message {
                from: s.to_string(),
                to: strings[(i + 1) % strings.len()].to_string(),
                text: s.repeat(3),
                seq: big,
                time_ms: big,
            });
            frames.push(ServerFrame::Error {
                id: [None, Some(0), Some(u32::MAX), Some(7)][i],
                code: [0, 70001, u32::MAX, 80001][i],
                message: s.to_string(),
            });
        }
        for kick_type in KickType::ALL {
            frames.push(ServerFrame::Kicked { kick_type });
        }
        frames
    }

    #[wasm_bindgen_test]
    fn every_variant_decodes_as_the_protocol_encodes_it() {
        let frames = samples();
        let mut seen: Vec<&str> = frames.iter().map(variant).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 7, "every ServerFrame variant is sampled: {seen:?}");
        for frame in frames {
            let text = frame.encode();
            assert_eq!(decode_server_frame(&text), Ok(frame.clone()), "{text}");
            // The public entry point adds only the size check and the error prefix.
            assert_eq!(crate::convert::decode_frame(&text), Ok(frame), "{text}");
        }
    }

    #[wasm_bindgen_test]
    fn defaults_nulls_and_unknown_fields_as_serde() {
        let cases = [
            r#"{"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3}"#,
            r#"{"extra":{"a":[1]},"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3,"repeatLogin":false,"new":null}"#,
            r#"{"type":"error","id":null,"code":5,"message":"m"}"#,
            r#"{"type":"error","code":5,"message":"m","future":1.5}"#,
            r#"{"type":"kicked","kickType":"REST_API_Kick","x":-1}"#,
            r#"{"type":"logoutAck","id":4294967295}"#,
        ];
        for text in cases {
            let serde = ServerFrame::decode(text).expect(text);
            assert_eq!(decode_server_frame(text), Ok(serde), "{text}");
        }
    }

    /// Texts that both this decoder and the protocol's serde decoder refuse.
    const MALFORMED: &[&str] = &[
        // Not a JSON object.
        "",
        "{",
        "null",
        "[]",
        "1",
        r#""logoutAck""#,
        "true",
        // No type, or a bad one.
        "{}",
        r#"{"id":1}"#,
        r#"{"type":1,"id":1}"#,
        r#"{"type":null,"id":1}"#,
        r#"{"type":"nope","id":1}"#,
        r#"{"type":"LogoutAck","id":1}"#,
        // Missing fields.
        r#"{"type":"logoutAck"}"#,
        r#"{"type":"helloAck","id":1}"#,
        r#"{"type":"sendMessageAck","id":1,"seq":2}"#,
        r#"{"type":"message","from":"a","to":"b","seq":1,"timeMs":2}"#,
        r#"{"type":"error","id":1,"message":"m"}"#,
        r#"{"type":"error","code":1}"#,
        r#"{"type":"kicked"}"#,
        r#"{"type":"loginAck","id":1,"helloIntervalMs":2,"serverTimeMs":3}"#,
        // Wrong types.
        r#"{"type":"logoutAck","id":"1"}"#,
        r#"{"type":"logoutAck","id":true}"#,
        r#"{"type":"logoutAck","id":null}"#,
        r#"{"type":"logoutAck","id":[1]}"#,
        r#"{"type":"helloAck","id":1,"serverTimeMs":{}}"#,
        r#"{"type":"message","from":1,"to":"b","text":"t","seq":1,"timeMs":2}"#,
        r#"{"type":"error","code":1,"message":null}"#,
        r#"{"type":"error","id":"x","code":1,"message":"m"}"#,
        r#"{"type":"kicked","kickType":1}"#,
        r#"{"type":"kicked","kickType":"restApiKick"}"#,
        r#"{"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3,"repeatLogin":"yes"}"#,
        r#"{"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3,"resumed":null}"#,
        r#"{"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3,"userSigExpireAt":-5}"#,
        // Negative, fractional, out of range.
        r#"{"type":"logoutAck","id":-1}"#,
        r#"{"type":"logoutAck","id":1.5}"#,
        r#"{"type":"logoutAck","id":4294967296}"#,
        r#"{"type":"helloAck","id":1,"serverTimeMs":-1}"#,
        r#"{"type":"helloAck","id":1,"serverTimeMs":0.25}"#,
        r#"{"type":"helloAck","id":1,"serverTimeMs":1e400}"#,
        r#"{"type":"helloAck","id":1,"serverTimeMs":-1e400}"#,
        r#"{"type":"error","code":4294967296,"message":"m"}"#,
        r#"{"type":"sendMessageAck","id":1,"seq":2.000001,"timeMs":3}"#,
    ];

    #[wasm_bindgen_test]
    fn malformed_shapes_are_errors() {
        for text in MALFORMED {
            assert!(ServerFrame::decode(text).is_err(), "serde accepts {text}");
            let err = crate::convert::decode_frame(text).unwrap_err();
            assert!(err.starts_with("malformed frame: "), "{text}: {err}");
        }
    }

    /// serde's derive also reads a struct variant from an array (`["logoutAck", 1]`); the server never
    /// sends one, so this decoder refuses it.
    #[wasm_bindgen_test]
    fn the_array_form_is_refused() {
        let text = r#"["logoutAck",1]"#;
        assert!(ServerFrame::decode(text).is_ok());
        assert_eq!(decode_server_frame(text), Err("not a JSON object".to_owned()));
    }

    /// JS numbers hold integers exactly only up to 2^53 - 1: larger ones are refused (serde_json, which
    /// reads the digits, would accept them; `serde-wasm-bindgen` refused them too).
    #[wasm_bindgen_test]
    fn integers_beyond_js_precision_are_errors() {
        for big in [
            "9007199254740992",
            "1152921504606846976",
            "18446744073709551615",
            "1e300",
        ] {
            let text = format!(r#"{{"type":"helloAck","id":1,"serverTimeMs":{big}}}"#);
            let err = decode_server_frame(&text).unwrap_err();
            assert!(err.contains("serverTimeMs"), "{text}: {err}");
        }
        let max = format!(r#"{{"type":"helloAck","id":1,"serverTimeMs":{MAX_U53}}}"#);
        assert_eq!(
            decode_server_frame(&max),
            Ok(ServerFrame::HelloAck {
                id: 1,
                server_time_ms: MAX_U53
            })
        );
    }

    #[wasm_bindgen_test]
    fn errors_name_the_field() {
        let err = decode_server_frame(r#"{"type":"sendMessageAck","id":1,"seq":-1,"timeMs":3}"#).unwrap_err();
        assert!(err.contains("`seq`"), "{err}");
        let err = decode_server_frame(r#"{"type":"brandNew"}"#).unwrap_err();
        assert!(err.contains("brandNew"), "{err}");
    }
}
