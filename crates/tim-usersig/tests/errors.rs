//! One distinct, typed error per way a UserSig can fail, in the documented order of checks, and the
//! tolerances that official implementations need (key order, spacing, numeric strings, missing padding).

mod common;

use common::{hmac_b64, pack, APP, KEY, NOW};
use serde_json::json;
use tim_protocol::ErrorCode;
use tim_usersig::{decode, gen_usersig, verify, verify_with_userbuf, UserSigError, MAX_USERSIG_LEN};

fn malformed(sig: &str) -> String {
    match decode(sig) {
        Err(UserSigError::Malformed(reason)) => {
            assert_eq!(
                verify(sig, APP, KEY, "alice", NOW),
                Err(UserSigError::Malformed(reason.clone()))
            );
            reason
        }
        other => panic!("expected Malformed for {sig:?}, got {other:?}"),
    }
}

/// A correctly signed document for alice, as a JSON value to alter.
fn good_doc() -> serde_json::Value {
    json!({
        "TLS.ver": "2.0",
        "TLS.identifier": "alice",
        "TLS.sdkappid": APP,
        "TLS.time": NOW,
        "TLS.expire": 3600,
        "TLS.sig": hmac_b64(KEY, "alice", APP, NOW, 3600, None),
    })
}

fn without(field: &str) -> String {
    let mut doc = good_doc();
    doc.as_object_mut().expect("object").remove(field);
    pack(doc.to_string().as_bytes())
}

fn with(field: &str, value: serde_json::Value) -> String {
    let mut doc = good_doc();
    doc[field] = value;
    pack(doc.to_string().as_bytes())
}

#[test]
fn the_hand_built_document_verifies() {
    let info = verify(&pack(good_doc().to_string().as_bytes()), APP, KEY, "alice", NOW).expect("valid");
    assert_eq!(
        (info.identifier.as_str(), info.time, info.expire, info.userbuf),
        ("alice", NOW, 3600, None)
    );
}

#[test]
fn garbage_and_bad_characters_are_malformed() {
    assert!(malformed("").contains("empty"));
    assert!(malformed("eJyr VgrxCdY").contains("alphabet"));
    assert!(malformed("abc.def").contains("alphabet"));
    assert!(malformed("héllo").contains("alphabet"));
}

#[test]
fn bad_base64_is_malformed() {
    assert!(malformed("A").contains("base64"));
    assert!(malformed("AB_C").contains("base64"), "padding in the middle");
}

#[test]
fn base64_that_is_not_zlib_is_malformed() {
    // "hello world" in base64, swapped.
    assert!(malformed("aGVsbG8gd29ybGQ_").contains("zlib"));
    // A zlib stream cut short.
    let sig = pack(good_doc().to_string().as_bytes());
    let cut = common::swap(&{
        use base64::Engine;
        let std: String = sig.replace('*', "+").replace('-', "/").replace('_', "=");
        let bytes = base64::engine::general_purpose::STANDARD.decode(std).expect("base64");
        base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() / 2])
    });
    assert!(malformed(&cut).contains("zlib"));
}

#[test]
fn zlib_that_is_not_a_json_object_is_malformed() {
    assert!(malformed(&pack(b"not json")).contains("not JSON"));
    assert!(malformed(&pack(b"[1,2,3]")).contains("not a JSON object"));
    assert!(malformed(&pack(&[0xff, 0xfe, b'{', b'}'])).contains("UTF-8"));
    assert!(malformed(&pack(b"")).contains("not JSON"));
}

#[test]
fn each_missing_field_is_named() {
    for field in [
        "TLS.ver",
        "TLS.identifier",
        "TLS.sdkappid",
        "TLS.time",
        "TLS.expire",
        "TLS.sig",
    ] {
        let reason = malformed(&without(field));
        assert!(
            reason.contains(field) && reason.contains("missing"),
            "{field}: {reason}"
        );
    }
}

#[test]
fn wrong_version_and_mistyped_fields_are_malformed() {
    assert!(malformed(&with("TLS.ver", json!("1.0"))).contains("TLS.ver"));
    assert!(malformed(&with("TLS.ver", json!(2.0))).contains("TLS.ver"));
    assert!(malformed(&with("TLS.identifier", json!(42))).contains("TLS.identifier"));
    assert!(malformed(&with("TLS.sdkappid", json!(-1))).contains("TLS.sdkappid"));
    assert!(malformed(&with("TLS.time", json!(1.5))).contains("TLS.time"));
    assert!(malformed(&with("TLS.expire", json!("12a"))).contains("TLS.expire"));
    assert!(malformed(&with("TLS.expire", json!("99999999999999999999999"))).contains("TLS.expire"));
    assert!(malformed(&with("TLS.userbuf", json!(7))).contains("TLS.userbuf"));
    assert!(malformed(&with("TLS.userbuf", json!("not base64!"))).contains("TLS.userbuf"));
    assert!(malformed(&with("TLS.sig", json!("%%%"))).contains("TLS.sig"));
    assert!(malformed(&with("TLS.sig", json!(null))).contains("TLS.sig"));
}

#[test]
fn an_oversized_string_is_malformed_before_any_decoding() {
    let reason = malformed(&"A".repeat(MAX_USERSIG_LEN + 1));
    assert!(reason.contains("long"), "{reason}");
}

#[test]
fn key_order_spacing_numeric_strings_and_missing_padding_are_tolerated() {
    let sig_b64 = hmac_b64(KEY, "alice", APP, NOW, 3600, None);
    let doc = format!(
        "{{ \"TLS.sig\" : \"{sig_b64}\",\n  \"TLS.expire\": \"3600\", \"TLS.time\": \"{NOW}\",\n  \
         \"TLS.sdkappid\": \"{APP}\", \"TLS.identifier\": \"alice\", \"TLS.ver\": \"2.0\" }}"
    );
    let packed = pack(doc.as_bytes());
    let unpadded = packed.trim_end_matches('_');
    for sig in [packed.as_str(), unpadded] {
        let info = verify(sig, APP, KEY, "alice", NOW).expect("tolerated");
        assert_eq!((info.sdk_app_id, info.time, info.expire), (APP, NOW, 3600));
    }
}

#[test]
fn unswapped_standard_base64_is_tolerated() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, Some(&[0xfb, 0xff, 0xfe]));
    let unswapped = sig.replace('*', "+").replace('-', "/").replace('_', "=");
    assert_eq!(
        verify(&unswapped, APP, KEY, "alice", NOW),
        verify(&sig, APP, KEY, "alice", NOW)
    );
    assert!(verify(&unswapped, APP, KEY, "alice", NOW).is_ok());
}

#[test]
fn expired_after_time_plus_expire_only() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, None);
    assert!(verify(&sig, APP, KEY, "alice", NOW + 60).is_ok(), "valid at the edge");
    assert_eq!(
        verify(&sig, APP, KEY, "alice", NOW + 61),
        Err(UserSigError::Expired { expired_at: NOW + 60 })
    );
    // A sig used before its issue time (clock skew) is accepted, as the official verifiers do.
    assert!(verify(&sig, APP, KEY, "alice", NOW - 30).is_ok());
}

#[test]
fn expiry_saturates_instead_of_wrapping() {
    let sig = gen_usersig(APP, KEY, "alice", u64::MAX, NOW, None);
    assert_eq!(
        verify(&sig, APP, KEY, "alice", u64::MAX).map(|i| i.expires_at()),
        Ok(u64::MAX)
    );
}

#[test]
fn wrong_sdkappid_reports_both_ids() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, None);
    assert_eq!(
        verify(&sig, 1_400_000_001, KEY, "alice", NOW),
        Err(UserSigError::SdkAppIdMismatch {
            expected: 1_400_000_001,
            found: APP
        })
    );
}

#[test]
fn wrong_identifier_is_case_sensitive() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, None);
    assert_eq!(
        verify(&sig, APP, KEY, "Alice", NOW),
        Err(UserSigError::IdentifierMismatch)
    );
    assert_eq!(verify(&sig, APP, KEY, "", NOW), Err(UserSigError::IdentifierMismatch));
}

#[test]
fn wrong_key_is_a_bad_signature() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, None);
    assert_eq!(
        verify(&sig, APP, "another-key", "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    assert_eq!(verify(&sig, APP, "", "alice", NOW), Err(UserSigError::BadSignature));
}

#[test]
fn each_tampered_field_is_a_bad_signature() {
    assert_eq!(
        verify(&with("TLS.expire", json!(999_999)), APP, KEY, "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    assert_eq!(
        verify(&with("TLS.time", json!(NOW + 1)), APP, KEY, "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    assert_eq!(
        verify(&with("TLS.userbuf", json!("AAEC")), APP, KEY, "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    // A truncated tag (wrong length) and a tag with one bit flipped.
    assert_eq!(
        verify(&with("TLS.sig", json!("AAEC")), APP, KEY, "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    let mut flipped = hmac_b64(KEY, "alice", APP, NOW, 3600, None).into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    assert_eq!(
        verify(&with("TLS.sig", json!(flipped)), APP, KEY, "alice", NOW),
        Err(UserSigError::BadSignature)
    );
    // Rewriting the identifier (and asking for the new one) does not carry the signature along.
    assert_eq!(
        verify(&with("TLS.identifier", json!("bob")), APP, KEY, "bob", NOW),
        Err(UserSigError::BadSignature)
    );
}

#[test]
fn a_forged_sig_is_never_reported_as_expired() {
    // Expired and forged: the signature check comes first.
    let forged = with("TLS.time", json!(1000));
    assert_eq!(verify(&forged, APP, KEY, "alice", NOW), Err(UserSigError::BadSignature));
}

#[test]
fn sdkappid_and_identifier_are_checked_before_the_signature() {
    // Another app's sig (so another key): the verifier learns which app it was meant for.
    let other_app = gen_usersig(1_400_000_999, "other-app-key", "alice", 60, NOW, None);
    assert_eq!(
        verify(&other_app, APP, KEY, "alice", NOW),
        Err(UserSigError::SdkAppIdMismatch {
            expected: APP,
            found: 1_400_000_999
        })
    );
    let bob_wrong_key = gen_usersig(APP, "other-key", "bob", 60, NOW, None);
    assert_eq!(
        verify(&bob_wrong_key, APP, KEY, "alice", NOW),
        Err(UserSigError::IdentifierMismatch)
    );
}

#[test]
fn userbuf_must_match_exactly_when_expected() {
    let with_buf = gen_usersig(APP, KEY, "alice", 60, NOW, Some(b"room-1"));
    let without_buf = gen_usersig(APP, KEY, "alice", 60, NOW, None);
    let empty_buf = gen_usersig(APP, KEY, "alice", 60, NOW, Some(b""));
    let check = |sig: &str, expected: Option<&[u8]>| verify_with_userbuf(sig, APP, KEY, "alice", NOW, expected);
    assert_eq!(
        check(&with_buf, Some(b"room-1")).map(|i| i.userbuf),
        Ok(Some(b"room-1".to_vec()))
    );
    assert_eq!(check(&with_buf, Some(b"room-2")), Err(UserSigError::UserbufMismatch));
    assert_eq!(check(&with_buf, Some(b"room-")), Err(UserSigError::UserbufMismatch));
    assert_eq!(check(&with_buf, None), Err(UserSigError::UserbufMismatch));
    assert_eq!(check(&without_buf, Some(b"room-1")), Err(UserSigError::UserbufMismatch));
    assert_eq!(check(&without_buf, None).map(|i| i.userbuf), Ok(None));
    // An empty userbuf is present (it is signed as `TLS.userbuf:\n`), not absent.
    assert_eq!(check(&empty_buf, Some(b"")).map(|i| i.userbuf), Ok(Some(Vec::new())));
    assert_eq!(check(&empty_buf, None), Err(UserSigError::UserbufMismatch));
    // `verify` accepts any userbuf and returns it.
    assert_eq!(
        verify(&with_buf, APP, KEY, "alice", NOW).map(|i| i.userbuf),
        Ok(Some(b"room-1".to_vec()))
    );
}

#[test]
fn userbuf_mismatch_comes_after_the_signature_and_expiry() {
    let sig = gen_usersig(APP, KEY, "alice", 60, NOW, Some(b"room-1"));
    let late = verify_with_userbuf(&sig, APP, KEY, "alice", NOW + 61, Some(b"room-2"));
    assert_eq!(late, Err(UserSigError::Expired { expired_at: NOW + 60 }));
    let wrong_key = verify_with_userbuf(&sig, APP, "x", "alice", NOW, Some(b"room-2"));
    assert_eq!(wrong_key, Err(UserSigError::BadSignature));
}

#[test]
fn every_error_has_its_own_code_and_message() {
    let errors = [
        UserSigError::Malformed("not base64".into()),
        UserSigError::Expired { expired_at: 5 },
        UserSigError::SdkAppIdMismatch { expected: 1, found: 2 },
        UserSigError::IdentifierMismatch,
        UserSigError::BadSignature,
        UserSigError::UserbufMismatch,
    ];
    let codes: Vec<ErrorCode> = errors.iter().map(UserSigError::error_code).collect();
    assert_eq!(
        codes,
        [
            ErrorCode::UserSigMalformed,
            ErrorCode::UserSigExpired,
            ErrorCode::UserSigSdkAppIdMismatch,
            ErrorCode::UserSigIdentifierMismatch,
            ErrorCode::UserSigBadSignature,
            ErrorCode::UserSigUserbufMismatch,
        ]
    );
    assert_eq!(ErrorCode::UserSigMalformed.code(), 70003);
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(messages[0].contains("not base64"));
    assert!(messages[1].contains('5'));
    assert!(messages[2].contains('1') && messages[2].contains('2'));
    let mut unique = messages.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), messages.len(), "{messages:?}");
    let as_std: &dyn std::error::Error = &errors[4];
    assert!(as_std.to_string().contains("signature"));
}
