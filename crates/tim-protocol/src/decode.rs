//! Text encoding and total decoding of frames (feature `json`).

use std::fmt;

use serde::de::DeserializeOwned;

use crate::limits::MAX_FRAME_BYTES;
use crate::{ClientFrame, ServerFrame};

/// Why bytes received did not make a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than [`MAX_FRAME_BYTES`].
    TooLarge { len: usize, max: usize },
    /// Not UTF-8 text.
    NotUtf8,
    /// Valid text, but not a frame of this protocol (bad JSON, unknown type, missing field...).
    Malformed(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { len, max } => write!(f, "frame of {len} bytes exceeds the {max}-byte limit"),
            DecodeError::NotUtf8 => f.write_str("frame is not UTF-8 text"),
            DecodeError::Malformed(why) => write!(f, "malformed frame: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn check_size(len: usize, max: usize) -> Result<(), DecodeError> {
    if len > max {
        return Err(DecodeError::TooLarge { len, max });
    }
    Ok(())
}

fn decode_text<T: DeserializeOwned>(text: &str, max: usize) -> Result<T, DecodeError> {
    check_size(text.len(), max)?;
    serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
}

fn decode_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    // Size first: a huge buffer is refused without scanning it for UTF-8.
    check_size(bytes.len(), MAX_FRAME_BYTES)?;
    decode_text(
        std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?,
        MAX_FRAME_BYTES,
    )
}

macro_rules! text_codec {
    ($frame:ty) => {
        impl $frame {
            /// Decodes a text frame of at most [`MAX_FRAME_BYTES`]; never panics.
            pub fn decode(text: &str) -> Result<Self, DecodeError> {
                decode_text(text, MAX_FRAME_BYTES)
            }
            /// Decodes a text frame of at most `max` bytes (a server's configured limit); never panics.
            pub fn decode_limited(text: &str, max: usize) -> Result<Self, DecodeError> {
                decode_text(text, max)
            }
            /// Decodes raw bytes that should hold UTF-8 text; never panics.
            pub fn decode_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
                decode_bytes(bytes)
            }
            /// Encodes as JSON text.
            pub fn encode(&self) -> String {
                // Serializing these plain enums cannot fail: no maps with non-string keys, no floats.
                serde_json::to_string(self).expect("frame serializes")
            }
        }
    };
}

text_codec!(ClientFrame);
text_codec!(ServerFrame);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KickType, Platform, PROTOCOL_VERSION};

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
            let text = ServerFrame::Kicked { kick_type: kind }.encode();
            assert!(text.contains(&format!("\"kickType\":\"{}\"", kind.as_str())), "{text}");
            assert_eq!(
                ServerFrame::decode(&text).unwrap(),
                ServerFrame::Kicked { kick_type: kind }
            );
        }
    }

    #[test]
    fn oversized_non_utf8_and_garbage_are_typed_errors() {
        let big = format!(
            "{{\"type\":\"hello\",\"id\":1,\"pad\":\"{}\"}}",
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(ClientFrame::decode(&big), Err(DecodeError::TooLarge { .. })));
        assert_eq!(ClientFrame::decode_bytes(&[0xff, 0xfe]), Err(DecodeError::NotUtf8));
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
}
