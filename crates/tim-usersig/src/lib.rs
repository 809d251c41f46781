//! `tim-usersig`: TLSSigAPIv2 UserSig generation and verification, compatible with Tencent's official
//! signers (`tls-sig-api-v2` for Node, Java, Python, Go...).
//!
//! A UserSig is a small JSON document (`TLS.ver` "2.0", `TLS.identifier`, `TLS.sdkappid`, `TLS.time`,
//! `TLS.expire`, optional `TLS.userbuf`, `TLS.sig`), zlib-compressed, standard-base64-encoded, with
//! `+`→`*`, `/`→`-`, `=`→`_`. `TLS.sig` is an HMAC-SHA256, keyed with the UTF-8 bytes of the app's secret
//! key, over [`signed_content`].
//!
//! - [`gen_usersig`] issues one (the server's tooling and tests; apps normally sign on their backend).
//! - [`verify`] / [`verify_with_userbuf`] check one; each failure is a distinct [`UserSigError`] that maps
//!   to the shared error table through [`UserSigError::error_code`]. The order of the checks (documented
//!   on [`verify`]): structure, SDKAppID, identifier, HMAC (constant time), expiry, userbuf.
//! - [`decode`] takes one apart without the key, for tooling.
//!
//! Decoding is bounded: at most [`MAX_USERSIG_LEN`] input bytes, at most [`MAX_INFLATED_LEN`] inflated
//! bytes (a zlib bomb is refused after reading one byte past the cap), and never panics.

mod codec;
mod document;
mod error;
mod sign;
mod userbuf;
mod verify;

pub use document::{decode, DecodedUserSig, UserSigInfo, USERSIG_VERSION};
pub use error::UserSigError;
pub use sign::{gen_usersig, signed_content};
pub use userbuf::{private_map_key_userbuf, Room};
pub use verify::{verify, verify_with_userbuf};

/// Longest UserSig string accepted: the same bound as the wire protocol's login frame.
pub const MAX_USERSIG_LEN: usize = tim_protocol::limits::MAX_USER_SIG_BYTES;

/// Largest inflated document accepted. Real documents are 150-300 bytes, a few KiB with a large userbuf.
pub const MAX_INFLATED_LEN: usize = 8 * 1024;
