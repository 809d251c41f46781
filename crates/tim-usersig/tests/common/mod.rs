//! Test helpers: build UserSig strings from hand-written documents, the way the official signers pack them.
#![allow(dead_code)]

use std::io::Write;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const APP: u64 = 1_400_000_000;
pub const KEY: &str = "test-secret-key-0123456789abcdef";
pub const NOW: u64 = 1_700_000_000;

/// zlib (default level), standard base64, then `+/=` → `*-_`.
pub fn pack(bytes: &[u8]) -> String {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("zlib into a Vec");
    swap(&STANDARD.encode(encoder.finish().expect("zlib into a Vec")))
}

/// The official character swap on an already base64-encoded text.
pub fn swap(base64_text: &str) -> String {
    base64_text
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

/// `TLS.sig` for the given fields, computed here independently of the crate.
pub fn hmac_b64(key: &str, identifier: &str, app: u64, time: u64, expire: u64, userbuf_b64: Option<&str>) -> String {
    let mut content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{app}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(userbuf) = userbuf_b64 {
        content += &format!("TLS.userbuf:{userbuf}\n");
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}
