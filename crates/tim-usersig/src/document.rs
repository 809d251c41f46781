//! The JSON document inside a UserSig, and [`decode`]: every structural check, no key needed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::codec::{self, LENIENT_STANDARD};
use crate::error::UserSigError;
use base64::Engine;

/// The only `TLS.ver` this crate speaks.
pub const USERSIG_VERSION: &str = "2.0";

/// The fields a UserSig carries about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSigInfo {
    /// The userID the UserSig was issued for (`TLS.identifier`).
    pub identifier: String,
    /// The application it was issued for (`TLS.sdkappid`).
    pub sdk_app_id: u64,
    /// Issue time, unix seconds (`TLS.time`).
    pub time: u64,
    /// Lifetime in seconds (`TLS.expire`).
    pub expire: u64,
    /// Application bytes bound into the signature (`TLS.userbuf`, decoded), if any.
    pub userbuf: Option<Vec<u8>>,
}

impl UserSigInfo {
    /// The last second (inclusive) at which the UserSig is valid: `time + expire`, saturating.
    pub fn expires_at(&self) -> u64 {
        self.time.saturating_add(self.expire)
    }
}

/// A UserSig taken apart without its key: the fields, plus what the signature check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedUserSig {
    /// The fields of the document.
    pub info: UserSigInfo,
    /// `TLS.userbuf` exactly as written in the document (the signed form), if present.
    pub userbuf_base64: Option<String>,
    /// `TLS.sig`, base64-decoded: the HMAC-SHA256 claimed by the signer.
    pub signature: Vec<u8>,
    /// The inflated JSON document, as found.
    pub document: String,
}

impl DecodedUserSig {
    /// The text the HMAC covers (see [`crate::signed_content`]).
    pub fn signed_content(&self) -> String {
        crate::sign::signed_content(
            &self.info.identifier,
            self.info.sdk_app_id,
            self.info.time,
            self.info.expire,
            self.userbuf_base64.as_deref(),
        )
    }
}

/// The document as the official signers write it: compact JSON, this key order.
#[derive(Serialize)]
pub(crate) struct SigDocument<'a> {
    #[serde(rename = "TLS.ver")]
    pub ver: &'a str,
    #[serde(rename = "TLS.identifier")]
    pub identifier: &'a str,
    #[serde(rename = "TLS.sdkappid")]
    pub sdk_app_id: u64,
    #[serde(rename = "TLS.time")]
    pub time: u64,
    #[serde(rename = "TLS.expire")]
    pub expire: u64,
    #[serde(rename = "TLS.userbuf", skip_serializing_if = "Option::is_none")]
    pub userbuf: Option<&'a str>,
    #[serde(rename = "TLS.sig")]
    pub sig: &'a str,
}

/// Takes a UserSig apart without checking its signature, expiry or owner (for tooling and as the first
/// step of verification). Every structural problem is [`UserSigError::Malformed`].
///
/// Tolerated, because official implementations differ: any key order and spacing, missing base64 padding,
/// and `TLS.sdkappid` / `TLS.time` / `TLS.expire` written as decimal strings instead of numbers.
pub fn decode(sig: &str) -> Result<DecodedUserSig, UserSigError> {
    let inflated = codec::decode(sig)?;
    let document =
        String::from_utf8(inflated).map_err(|_| UserSigError::malformed("the document is not UTF-8 text"))?;
    let value: Value = serde_json::from_str(&document)
        .map_err(|err| UserSigError::malformed(format!("the document is not JSON: {err}")))?;
    let Value::Object(fields) = value else {
        return Err(UserSigError::malformed("the document is not a JSON object"));
    };

    let ver = string_field(&fields, "TLS.ver")?;
    if ver != USERSIG_VERSION {
        return Err(UserSigError::malformed(format!(
            "TLS.ver is {ver:?}; only {USERSIG_VERSION:?} is supported"
        )));
    }
    let identifier = string_field(&fields, "TLS.identifier")?.to_owned();
    let sdk_app_id = integer_field(&fields, "TLS.sdkappid")?;
    let time = integer_field(&fields, "TLS.time")?;
    let expire = integer_field(&fields, "TLS.expire")?;
    let userbuf_base64 = match fields.get("TLS.userbuf") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(_) => return Err(UserSigError::malformed("TLS.userbuf is not a string")),
    };
    let userbuf = match &userbuf_base64 {
        None => None,
        Some(text) => Some(
            LENIENT_STANDARD
                .decode(text)
                .map_err(|err| UserSigError::malformed(format!("TLS.userbuf is not base64: {err}")))?,
        ),
    };
    let signature = LENIENT_STANDARD
        .decode(string_field(&fields, "TLS.sig")?)
        .map_err(|err| UserSigError::malformed(format!("TLS.sig is not base64: {err}")))?;

    Ok(DecodedUserSig {
        info: UserSigInfo {
            identifier,
            sdk_app_id,
            time,
            expire,
            userbuf,
        },
        userbuf_base64,
        signature,
        document,
    })
}

fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, UserSigError> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(UserSigError::malformed(format!("{name} is not a string"))),
        None => Err(UserSigError::malformed(format!("{name} is missing"))),
    }
}

/// A non-negative integer, as a JSON number or as a string of decimal digits.
fn integer_field(fields: &Map<String, Value>, name: &str) -> Result<u64, UserSigError> {
    let parsed = match fields.get(name) {
        None => return Err(UserSigError::malformed(format!("{name} is missing"))),
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        Some(_) => None,
    };
    parsed.ok_or_else(|| UserSigError::malformed(format!("{name} is not a non-negative integer below 2^64")))
}
