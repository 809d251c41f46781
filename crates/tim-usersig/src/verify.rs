//! Verification: [`verify`] and [`verify_with_userbuf`] (the order of the checks is documented on [`verify`]).

use hmac::Mac;
use subtle::ConstantTimeEq;

use crate::document::{decode, UserSigInfo};
use crate::error::UserSigError;
use crate::sign::keyed_hmac;

/// Verifies a UserSig for `identifier` of application `sdk_app_id` at unix time `now`, accepting any userbuf
/// (it is returned in the info).
///
/// Order of the checks, first failure wins:
/// 1. structure ([`decode`]): anything unreadable is [`UserSigError::Malformed`];
/// 2. SDKAppID, then identifier: they say which key and which account the sig is meant for, so they come
///    before the HMAC (a sig from another app fails as `SdkAppIdMismatch`, not as `BadSignature`);
/// 3. the HMAC over [`crate::signed_content`], compared in constant time: `BadSignature`;
/// 4. expiry: `Expired` when `now > time + expire` (at exactly `time + expire` the sig is still valid; a
///    `now` before `time` is accepted, as the official verifiers do);
/// 5. the userbuf, in [`verify_with_userbuf`] only: `UserbufMismatch`.
///
/// Expiry and userbuf come after the HMAC so that those errors are only ever reported about genuine sigs:
/// a forged sig is always `BadSignature`, whatever time or userbuf it claims.
pub fn verify(sig: &str, sdk_app_id: u64, key: &str, identifier: &str, now: u64) -> Result<UserSigInfo, UserSigError> {
    verify_signed(sig, sdk_app_id, key, identifier, now)
}

/// Like [`verify`], and then requires the userbuf to be exactly `expected_userbuf`: `Some(bytes)` needs a
/// userbuf with those bytes, `None` needs a UserSig without userbuf.
pub fn verify_with_userbuf(
    sig: &str,
    sdk_app_id: u64,
    key: &str,
    identifier: &str,
    now: u64,
    expected_userbuf: Option<&[u8]>,
) -> Result<UserSigInfo, UserSigError> {
    let info = verify_signed(sig, sdk_app_id, key, identifier, now)?;
    let matches = match (info.userbuf.as_deref(), expected_userbuf) {
        (None, None) => true,
        (Some(found), Some(expected)) => bool::from(found.ct_eq(expected)),
        _ => false,
    };
    if matches {
        Ok(info)
    } else {
        Err(UserSigError::UserbufMismatch)
    }
}

fn verify_signed(
    sig: &str,
    sdk_app_id: u64,
    key: &str,
    identifier: &str,
    now: u64,
) -> Result<UserSigInfo, UserSigError> {
    let decoded = decode(sig)?;
    let info = &decoded.info;
    if info.sdk_app_id != sdk_app_id {
        return Err(UserSigError::SdkAppIdMismatch {
            expected: sdk_app_id,
            found: info.sdk_app_id,
        });
    }
    if info.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch);
    }
    // `verify_slice` compares in constant time (and refuses a tag of the wrong length).
    keyed_hmac(key, &decoded.signed_content())
        .verify_slice(&decoded.signature)
        .map_err(|_| UserSigError::BadSignature)?;
    if now > info.expires_at() {
        return Err(UserSigError::Expired {
            expired_at: info.expires_at(),
        });
    }
    Ok(decoded.info)
}
