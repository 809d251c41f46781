//! Encoding of sent client frames without serde: a plain JS object in the protocol's field order, then
//! the host's `JSON.stringify`. The text equals the protocol's serde encoding (tested below).

use js_sys::JSON;
use tim_protocol::ClientFrame;
use wasm_bindgen::JsValue;

use super::object;

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`, 2^53 - 1).
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Encodes a frame as JSON text; an integer a JS number cannot hold exactly is an error.
pub fn encode_client_frame(frame: &ClientFrame) -> Result<String, String> {
    let value = match frame {
        ClientFrame::Login {
            id,
            version,
            sdk_app_id,
            user_id,
            user_sig,
            platform,
            instance_id,
        } => {
            if *sdk_app_id > MAX_SAFE_INTEGER {
                return Err(format!("sdkAppId {sdk_app_id} is beyond a JS number's exact range"));
            }
            let mut entries = vec![
                ("type", JsValue::from_str("login")),
                ("id", (*id).into()),
                ("version", (*version).into()),
                ("sdkAppId", (*sdk_app_id as f64).into()),
                ("userId", user_id.into()),
                ("userSig", user_sig.into()),
                ("platform", platform.as_str().into()),
            ];
            if let Some(instance_id) = instance_id {
                entries.push(("instanceId", instance_id.into()));
            }
            object(&entries)
        }
        ClientFrame::Logout { id } => object(&[("type", "logout".into()), ("id", (*id).into())]),
        ClientFrame::Hello { id } => object(&[("type", "hello".into()), ("id", (*id).into())]),
        ClientFrame::SendMessage { id, to, text } => object(&[
            ("type", "sendMessage".into()),
            ("id", (*id).into()),
            ("to", to.into()),
            ("text", text.into()),
        ]),
    };
    JSON::stringify(&value)
        .map(String::from)
        .map_err(|e| format!("JSON.stringify failed: {}", crate::transport::describe(&e)))
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use tim_protocol::Platform;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// The wire name of a variant; exhaustive, so a new variant must be added to the samples below.
    fn variant(frame: &ClientFrame) -> &'static str {
        match frame {
            ClientFrame::Login { .. } => "login",
            ClientFrame::Logout { .. } => "logout",
            ClientFrame::Hello { .. } => "hello",
            ClientFrame::SendMessage { .. } => "sendMessage",
        }
    }

    /// Every variant and platform with edge values: integer extremes, empty, unicode, control and
    /// escaped characters, the optional instance id absent and present.
    fn samples() -> Vec<ClientFrame> {
        let strings = [
            "",
            "alice",
            "日本語 ☃ 😀",
            "quote \" back\\slash /\n\t\r\u{0}\u{1f}\u{7f}\u{2028}",
        ];
        let mut frames = Vec::new();
        for (i, s) in strings.iter().enumerate() {
            let id = [0, 1, u32::MAX, 42][i];
            for platform in Platform::ALL {
                frames.push(ClientFrame::Login {
                    id,
                    version: [0, 1, u32::MAX, 7][i],
                    sdk_app_id: [0, 1_400_000_000, MAX_SAFE_INTEGER, 1][i],
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
                text: strings[(i + 1) % strings.len()].to_string(),
            });
        }
        frames
    }

    #[wasm_bindgen_test]
    fn every_variant_encodes_as_the_protocol_does() {
        let frames = samples();
        let mut seen: Vec<&str> = frames.iter().map(variant).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 4, "every ClientFrame variant is sampled: {seen:?}");
        for frame in frames {
            let text = encode_client_frame(&frame).unwrap();
            assert_eq!(text, frame.encode());
            assert_eq!(ClientFrame::decode(&text), Ok(frame));
        }
    }

    #[wasm_bindgen_test]
    fn an_sdk_app_id_beyond_js_precision_is_an_error() {
        let frame = ClientFrame::Login {
            id: 1,
            version: 1,
            sdk_app_id: MAX_SAFE_INTEGER + 1,
            user_id: "a".into(),
            user_sig: "s".into(),
            platform: Platform::Web,
            instance_id: None,
        };
        assert!(encode_client_frame(&frame).unwrap_err().contains("sdkAppId"));
    }
}
