//! The signed content, the HMAC over it, and [`gen_usersig`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::codec;
use crate::document::{SigDocument, USERSIG_VERSION};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The text that `TLS.sig` authenticates, byte for byte as the official signers build it: one
/// `TLS.<field>:<value>\n` line each for identifier, sdkappid, time and expire, then
/// `TLS.userbuf:<standard base64>\n` when a userbuf is present.
pub fn signed_content(
    identifier: &str,
    sdk_app_id: u64,
    time: u64,
    expire: u64,
    userbuf_base64: Option<&str>,
) -> String {
    let mut content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(userbuf) = userbuf_base64 {
        content.push_str("TLS.userbuf:");
        content.push_str(userbuf);
        content.push('\n');
    }
    content
}

/// HMAC-SHA256 keyed with the UTF-8 bytes of the secret key, fed with `content`.
pub(crate) fn keyed_hmac(key: &str, content: &str) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(content.as_bytes());
    mac
}

/// Issues a UserSig for `identifier`, valid from `now` (unix seconds) for `expire` seconds, with an optional
/// userbuf bound into the signature. The result is what the official signers produce for the same inputs:
/// compact JSON in their key order, zlib at the default level, base64 with `+/=` swapped for `*-_`.
pub fn gen_usersig(
    sdk_app_id: u64,
    key: &str,
    identifier: &str,
    expire: u64,
    now: u64,
    userbuf: Option<&[u8]>,
) -> String {
    let userbuf_base64 = userbuf.map(|bytes| STANDARD.encode(bytes));
    let content = signed_content(identifier, sdk_app_id, now, expire, userbuf_base64.as_deref());
    let sig = STANDARD.encode(keyed_hmac(key, &content).finalize().into_bytes());
    let document = SigDocument {
        ver: USERSIG_VERSION,
        identifier,
        sdk_app_id,
        time: now,
        expire,
        userbuf: userbuf_base64.as_deref(),
        sig: &sig,
    };
    let json = match serde_json::to_vec(&document) {
        Ok(json) => json,
        Err(_) => unreachable!("a struct of strings and integers always serialises"),
    };
    codec::encode(&json)
}
