//! The one codec against a reference: `serde_json` (what the JSON of a browser, Node or the server
//! reads and writes) for every variant, the wire shapes the docs show, and the rules on numbers.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use serde_json::{json, Value};
use tim_protocol::samples::{client_frames, server_frames, STRINGS};
use tim_protocol::{
    request_id_of, ClientFrame, DecodeError, KickType, Platform, ServerFrame, MAX_WIRE_INTEGER, PROTOCOL_VERSION,
};

/// What `serde_json` (like `JSON.parse`) reads from the text, as a JSON value.
fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The frame as the JSON object the docs describe, written out independently of the codec.
fn client_json(frame: &ClientFrame) -> Value {
    match frame {
        ClientFrame::Login {
            id,
            version,
            sdk_app_id,
            user_id,
            user_sig,
            platform,
            instance_id,
        } => {
            let mut v = json!({"type": "login", "id": id, "version": version, "sdkAppId": sdk_app_id,
                "userId": user_id, "userSig": user_sig, "platform": platform.as_str()});
            if let Some(instance_id) = instance_id {
                v["instanceId"] = json!(instance_id);
            }
            v
        }
        ClientFrame::Logout { id } => json!({"type": "logout", "id": id}),
        ClientFrame::Hello { id } => json!({"type": "hello", "id": id}),
        ClientFrame::SendMessage { id, to, text, msg_id } => {
            let mut v = json!({"type": "sendMessage", "id": id, "to": to, "text": text});
            if let Some(msg_id) = msg_id {
                v["msgId"] = json!(msg_id);
            }
            v
        }
    }
}

fn server_json(frame: &ServerFrame) -> Value {
    match frame {
        ServerFrame::LoginAck {
            id,
            instance_id,
            hello_interval_ms,
            server_time_ms,
            repeat_login,
            resumed,
            user_sig_expire_at,
        } => json!({"type": "loginAck", "id": id, "instanceId": instance_id,
            "helloIntervalMs": hello_interval_ms, "serverTimeMs": server_time_ms, "repeatLogin": repeat_login,
            "resumed": resumed, "userSigExpireAt": user_sig_expire_at}),
        ServerFrame::LogoutAck { id } => json!({"type": "logoutAck", "id": id}),
        ServerFrame::HelloAck { id, server_time_ms } => {
            json!({"type": "helloAck", "id": id, "serverTimeMs": server_time_ms})
        }
        ServerFrame::SendMessageAck { id, seq, time_ms } => {
            json!({"type": "sendMessageAck", "id": id, "seq": seq, "timeMs": time_ms})
        }
        ServerFrame::Message {
            from,
            to,
            text,
            seq,
            time_ms,
            msg_id,
        } => json!({"type": "message", "from": from, "to": to, "text": text, "seq": seq, "timeMs": time_ms,
            "msgId": msg_id}),
        ServerFrame::Error { id, code, message } => {
            let mut v = json!({"type": "error", "code": code.get(), "message": message});
            if let Some(id) = id {
                v["id"] = json!(id);
            }
            v
        }
        ServerFrame::Kicked {
            kick_type,
            platform,
            time_ms,
        } => {
            let mut v = json!({"type": "kicked", "kickType": kick_type.as_str()});
            if let Some(platform) = platform {
                v["platform"] = json!(platform.as_str());
            }
            if let Some(time_ms) = time_ms {
                v["time"] = json!(time_ms);
            }
            v
        }
    }
}

#[test]
fn every_variant_is_sampled() {
    let seen: BTreeSet<&str> = client_frames().iter().map(ClientFrame::type_name).collect();
    assert_eq!(seen, ClientFrame::TYPES.iter().copied().collect());
    let seen: BTreeSet<&str> = server_frames().iter().map(ServerFrame::type_name).collect();
    assert_eq!(seen, ServerFrame::TYPES.iter().copied().collect());
    assert_eq!(ClientFrame::TYPES, ["login", "logout", "hello", "sendMessage"]);
    assert_eq!(
        ServerFrame::TYPES,
        [
            "loginAck",
            "logoutAck",
            "helloAck",
            "sendMessageAck",
            "message",
            "error",
            "kicked"
        ]
    );
}

#[test]
fn client_frames_encode_as_serde_json_reads_them_and_decode_back() {
    for frame in client_frames() {
        let text = frame.encode();
        assert_eq!(parsed(&text), client_json(&frame), "{text}");
        assert!(text.starts_with(r#"{"type":""#), "{text}");
        assert_eq!(ClientFrame::decode(&text), Ok(frame.clone()), "{text}");
        // serde_json's own text of the same object (sorted keys) decodes to the same frame.
        assert_eq!(ClientFrame::decode(&client_json(&frame).to_string()), Ok(frame));
    }
}

#[test]
fn server_frames_encode_as_serde_json_reads_them_and_decode_back() {
    for frame in server_frames() {
        let text = frame.encode();
        assert_eq!(parsed(&text), server_json(&frame), "{text}");
        assert!(text.starts_with(r#"{"type":""#), "{text}");
        assert_eq!(ServerFrame::decode(&text), Ok(frame.clone()), "{text}");
        assert_eq!(ServerFrame::decode(&server_json(&frame).to_string()), Ok(frame));
    }
}

#[test]
fn strings_are_escaped_exactly_as_serde_json_and_json_stringify_escape_them() {
    for s in STRINGS {
        let text = ClientFrame::Hello { id: 1 }.encode();
        assert_eq!(text, r#"{"type":"hello","id":1}"#);
        let frame = ClientFrame::SendMessage {
            id: 1,
            to: s.into(),
            text: s.into(),
            msg_id: None,
        };
        let want = format!(
            "{{\"type\":\"sendMessage\",\"id\":1,\"to\":{0},\"text\":{0}}}",
            serde_json::to_string(s).unwrap()
        );
        assert_eq!(frame.encode(), want);
    }
    let controls: String = (0u8..0x20).map(char::from).chain(['\u{7f}', '"', '\\', '/']).collect();
    let frame = ServerFrame::kicked(KickType::RestApi);
    assert_eq!(frame.encode(), r#"{"type":"kicked","kickType":"REST_API_Kick"}"#);
    let msg = ClientFrame::SendMessage {
        id: 0,
        to: String::new(),
        text: controls.clone(),
        msg_id: None,
    };
    assert!(msg
        .encode()
        .ends_with(&format!("\"text\":{}}}", serde_json::to_string(&controls).unwrap())));
}

#[test]
fn login_frame_wire_shape() {
    let f = ClientFrame::Login {
        id: 1,
        version: PROTOCOL_VERSION,
        sdk_app_id: 1400000000,
        user_id: "alice".into(),
        user_sig: "sig".into(),
        platform: Platform::Wx,
        instance_id: None,
    };
    let text = f.encode();
    assert_eq!(
        text,
        r#"{"type":"login","id":1,"version":1,"sdkAppId":1400000000,"userId":"alice","userSig":"sig","platform":"wx"}"#
    );
    assert_eq!(ClientFrame::decode(&text).unwrap(), f);
}

#[test]
fn kick_frame_uses_official_type_strings() {
    for kind in KickType::ALL {
        let text = ServerFrame::kicked(kind).encode();
        assert!(text.contains(&format!("\"kickType\":\"{}\"", kind.as_str())), "{text}");
        assert_eq!(ServerFrame::decode(&text).unwrap(), ServerFrame::kicked(kind));
    }
}

/// A multi-instance kick names the login that took the slot: its platform and time. Both are optional,
/// so that a frame without them (an older server, another kick type) still reads; the time is a wire
/// integer (at most 2^53-1) like every other.
#[test]
fn kick_frame_names_the_evicting_login_when_known() {
    let frame = ServerFrame::Kicked {
        kick_type: KickType::MultipleAccount,
        platform: Some(Platform::Wx),
        time_ms: Some(1_764_630_000_123),
    };
    let text = frame.encode();
    assert_eq!(
        text,
        r#"{"type":"kicked","kickType":"multipleAccount","platform":"wx","time":1764630000123}"#
    );
    assert_eq!(ServerFrame::decode(&text), Ok(frame));
    assert_eq!(
        ServerFrame::decode(r#"{"type":"kicked","kickType":"multipleAccount"}"#),
        Ok(ServerFrame::kicked(KickType::MultipleAccount))
    );
    assert_eq!(
        ServerFrame::decode(r#"{"type":"kicked","kickType":"multipleAccount","platform":null,"time":null}"#),
        Ok(ServerFrame::kicked(KickType::MultipleAccount))
    );
    for bad in [
        r#"{"type":"kicked","kickType":"multipleAccount","platform":"pc"}"#,
        r#"{"type":"kicked","kickType":"multipleAccount","platform":7}"#,
        r#"{"type":"kicked","kickType":"multipleAccount","time":9007199254740992}"#,
        r#"{"type":"kicked","kickType":"multipleAccount","time":-1}"#,
        r#"{"type":"kicked","kickType":"multipleAccount","time":1.5}"#,
        r#"{"type":"kicked","kickType":"multipleAccount","time":"1"}"#,
    ] {
        assert!(ServerFrame::decode(bad).is_err(), "{bad}");
    }
    // The writer saturates a time beyond the wire's integers, so what it writes always reads back.
    let far = ServerFrame::Kicked {
        kick_type: KickType::MultipleAccount,
        platform: None,
        time_ms: Some(u64::MAX),
    };
    assert!(matches!(
        ServerFrame::decode(&far.encode()),
        Ok(ServerFrame::Kicked {
            time_ms: Some(tim_protocol::MAX_WIRE_INTEGER),
            ..
        })
    ));
}

#[test]
fn oversized_and_garbage_are_typed_errors() {
    let big = format!(
        "{{\"type\":\"hello\",\"id\":1,\"pad\":\"{}\"}}",
        "x".repeat(tim_protocol::limits::MAX_FRAME_BYTES)
    );
    assert!(matches!(ClientFrame::decode(&big), Err(DecodeError::TooLarge { .. })));
    assert!(DecodeError::TooLarge { len: 20000, max: 16384 }
        .describe()
        .contains("frame of 20000 bytes exceeds the 16384-byte limit"));
    assert!(ClientFrame::decode_limited(&big, big.len()).is_ok());
    assert!(matches!(
        ClientFrame::decode("{\"type\":\"nope\"}"),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(ClientFrame::decode("{"), Err(DecodeError::Malformed(_))));
    assert!(matches!(ServerFrame::decode("[]"), Err(DecodeError::Malformed(_))));
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    let f = ClientFrame::decode(r#"{"type":"hello","id":7,"extra":true}"#).unwrap();
    assert_eq!(f, ClientFrame::Hello { id: 7 });
}

#[test]
fn defaults_nulls_and_unknown_fields() {
    let ack = |repeat_login| ServerFrame::LoginAck {
        id: 1,
        instance_id: "i".into(),
        hello_interval_ms: 2,
        server_time_ms: 3,
        repeat_login,
        resumed: false,
        user_sig_expire_at: 0,
    };
    let error = |id| ServerFrame::Error {
        id,
        code: NonZeroU32::new(5).unwrap(),
        message: "m".into(),
    };
    let cases = [
        (
            r#"{"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3}"#,
            ack(false),
        ),
        (
            r#"{"extra":{"a":[1]},"type":"loginAck","id":1,"instanceId":"i","helloIntervalMs":2,"serverTimeMs":3,"repeatLogin":true,"new":null}"#,
            ack(true),
        ),
        (r#"{"type":"error","id":null,"code":5,"message":"m"}"#, error(None)),
        (r#"{"type":"error","code":5,"message":"m","future":1.5}"#, error(None)),
        (r#" {"type":"error","code":5,"message":"m","id":3} "#, error(Some(3))),
        (
            r#"{"type":"kicked","kickType":"REST_API_Kick","x":-1}"#,
            ServerFrame::kicked(KickType::RestApi),
        ),
        (
            r#"{"type":"logoutAck","id":4294967295}"#,
            ServerFrame::LogoutAck { id: u32::MAX },
        ),
    ];
    for (text, frame) in cases {
        assert_eq!(ServerFrame::decode(text), Ok(frame), "{text}");
    }
    let login = ClientFrame::decode(r#"{"type":"login","id":1,"version":1,"sdkAppId":5,"userId":"u","userSig":"s"}"#);
    assert!(matches!(
        login,
        Ok(ClientFrame::Login {
            platform: Platform::Web,
            instance_id: None,
            ..
        })
    ));
}

/// Texts the codec refuses (each also refused by the serde derive the codec replaced, except where noted).
const MALFORMED: &[&str] = &[
    // Not a JSON object.
    "",
    "{",
    "null",
    "[]",
    "1",
    r#""logoutAck""#,
    "true",
    // The array form serde's derive also read; the server never sends it.
    r#"["logoutAck",1]"#,
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
    // Not refused by serde: code 0 means success to the SDK's callers, so no error frame carries it.
    r#"{"type":"error","code":0,"message":"m"}"#,
    // Not refused by serde (it reads the digits): a JS number cannot hold these exactly.
    r#"{"type":"helloAck","id":1,"serverTimeMs":9007199254740992}"#,
    // A field twice (serde: "duplicate field").
    r#"{"type":"logoutAck","id":1,"id":2}"#,
];

#[test]
fn malformed_shapes_are_errors() {
    for text in MALFORMED {
        let err = ServerFrame::decode(text).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed(_)), "{text}: {err:?}");
        assert!(err.describe().starts_with("malformed frame: "), "{text}: {err}");
    }
}

/// JS numbers hold integers exactly only up to 2^53 - 1: larger ones are refused when read, and never
/// sent (the writer saturates), so each end reads every number the other sends.
#[test]
fn integers_beyond_js_precision_are_refused_and_never_sent() {
    for big in [
        "9007199254740992",
        "1152921504606846976",
        "18446744073709551615",
        "18446744073709551616",
        "1e300",
    ] {
        let text = format!(r#"{{"type":"helloAck","id":1,"serverTimeMs":{big}}}"#);
        let err = ServerFrame::decode(&text).unwrap_err().describe();
        assert!(err.contains("serverTimeMs"), "{text}: {err}");
    }
    let max = format!(r#"{{"type":"helloAck","id":1,"serverTimeMs":{MAX_WIRE_INTEGER}}}"#);
    assert_eq!(
        ServerFrame::decode(&max),
        Ok(ServerFrame::HelloAck {
            id: 1,
            server_time_ms: MAX_WIRE_INTEGER
        })
    );
    // A UserSig may claim TLS.expire = 2^62 seconds: the ack still reads, saturated.
    let ack = ServerFrame::LoginAck {
        id: 1,
        instance_id: "i".into(),
        hello_interval_ms: 1,
        server_time_ms: 2,
        repeat_login: false,
        resumed: false,
        user_sig_expire_at: 1 << 62,
    };
    match ServerFrame::decode(&ack.encode()) {
        Ok(ServerFrame::LoginAck { user_sig_expire_at, .. }) => assert_eq!(user_sig_expire_at, MAX_WIRE_INTEGER),
        other => panic!("{other:?}"),
    }
    let login = ClientFrame::Login {
        id: 1,
        version: 1,
        sdk_app_id: u64::MAX,
        user_id: "a".into(),
        user_sig: "s".into(),
        platform: Platform::Web,
        instance_id: None,
    };
    assert!(login.encode().contains("\"sdkAppId\":9007199254740991,"));
}

#[test]
fn errors_name_the_field_or_the_type() {
    let err = ServerFrame::decode(r#"{"type":"sendMessageAck","id":1,"seq":-1,"timeMs":3}"#).unwrap_err();
    assert!(err.describe().contains("`seq`"), "{err}");
    let err = ServerFrame::decode(r#"{"type":"brandNew"}"#).unwrap_err();
    assert!(err.describe().contains("brandNew"), "{err}");
    assert_eq!(
        ServerFrame::decode("[1]").unwrap_err(),
        DecodeError::Malformed("not a JSON object".into())
    );
}

#[test]
fn the_id_of_a_frame_that_did_not_decode() {
    assert_eq!(request_id_of(r#"{"type":"nope","id":12}"#), Some(12));
    assert_eq!(request_id_of(r#"{"type":"login","id":3,"version":"x"}"#), Some(3));
    for none in [
        "",
        "{",
        r#"{"type":"nope"}"#,
        r#"{"id":-1}"#,
        r#"{"id":4294967296}"#,
        r#"{"id":"1"}"#,
        "[1]",
    ] {
        assert_eq!(request_id_of(none), None, "{none}");
    }
}
