//! The official vectors (`tests/reference/usersig-vectors.json`, a copy of the project's
//! `shared/reference/` one, made by the official npm signer with its clock pinned) decode to the documented fields and verify, expire and mismatch as the file records.
//! Decoded fields and documents are compared, never sig strings (zlib builds differ).

use std::path::PathBuf;

use serde_json::Value;
use tim_usersig::{
    decode, gen_usersig, private_map_key_userbuf, verify, verify_with_userbuf, Room, UserSigError, UserSigInfo,
};

struct Vector {
    name: String,
    sig: String,
    json: String,
    hmac_input: String,
    zlib_header: Vec<u8>,
    key: String,
    info: UserSigInfo,
    outcomes: [(u64, String); 3],
    wrong_user_outcome: String,
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/reference/usersig-vectors.json")
}

/// The copy in the repo is the file in `shared/reference/` when that sits beside the checkout (CI).
#[test]
fn the_vectors_are_the_shared_reference_copy() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/usersig-vectors.json");
    if let Ok(original) = std::fs::read(&shared) {
        let copy = std::fs::read(vectors_path()).expect("tests/reference/usersig-vectors.json");
        assert!(
            copy == original,
            "tests/reference/usersig-vectors.json differs from {}",
            shared.display()
        );
    }
}

fn load_vectors() -> Vec<Vector> {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read the official UserSig vectors at {}: {err}", path.display()));
    let entries: Vec<Value> = serde_json::from_str(&text).expect("usersig-vectors.json is a JSON array");
    assert!(!entries.is_empty(), "usersig-vectors.json holds no vectors");
    entries.iter().map(parse_vector).collect()
}

fn parse_vector(entry: &Value) -> Vector {
    let text = |name: &str| {
        entry[name]
            .as_str()
            .unwrap_or_else(|| panic!("vector field {name} missing"))
            .to_owned()
    };
    let number = |name: &str| {
        entry[name]
            .as_u64()
            .unwrap_or_else(|| panic!("vector field {name} missing"))
    };
    let time = number("time");
    let expire = number("expire");
    Vector {
        name: text("name"),
        sig: text("sig"),
        json: text("json"),
        // The file spells the newlines of the signed text as the two characters `\n`.
        hmac_input: text("hmacInput").replace("\\n", "\n"),
        zlib_header: hex(&text("zlibHeaderHex")),
        key: text("key"),
        info: UserSigInfo {
            identifier: text("identifier"),
            sdk_app_id: number("sdkappid"),
            time,
            expire,
            userbuf: entry.get("userbufHex").and_then(Value::as_str).map(hex),
        },
        outcomes: [
            (time, text("verifyAtTime")),
            (time + expire, text("verifyAtExpiryEdge")),
            (time + expire + 1, text("verifyAfterExpiry")),
        ],
        wrong_user_outcome: text("verifyWrongUser"),
    }
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len() % 2 == 0, "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// The vectors' outcome words, as our results.
fn outcome(result: &Result<UserSigInfo, UserSigError>) -> &'static str {
    match result {
        Ok(_) => "OK",
        Err(UserSigError::Expired { .. }) => "expired",
        Err(UserSigError::IdentifierMismatch) => "identifier mismatch",
        Err(UserSigError::SdkAppIdMismatch { .. }) => "sdkappid mismatch",
        Err(UserSigError::BadSignature) => "bad signature",
        Err(UserSigError::UserbufMismatch) => "userbuf mismatch",
        Err(UserSigError::Malformed(_)) => "malformed",
    }
}

#[test]
fn vectors_decode_to_their_documented_fields() {
    for v in load_vectors() {
        let decoded = decode(&v.sig).unwrap_or_else(|err| panic!("{}: {err}", v.name));
        assert_eq!(decoded.info, v.info, "{}", v.name);
        assert_eq!(decoded.document, v.json, "{}", v.name);
        assert_eq!(decoded.signed_content(), v.hmac_input, "{}", v.name);
        assert_eq!(decoded.signature.len(), 32, "{}: HMAC-SHA256 is 32 bytes", v.name);
    }
}

#[test]
fn vectors_verify_at_time_and_edge_and_expire_after() {
    for v in load_vectors() {
        for (now, expected) in &v.outcomes {
            let result = verify(&v.sig, v.info.sdk_app_id, &v.key, &v.info.identifier, *now);
            assert_eq!(outcome(&result), expected, "{} at {now}: {result:?}", v.name);
            if let Ok(info) = result {
                assert_eq!(info, v.info, "{}", v.name);
            }
        }
        let after = v.outcomes[2].0;
        assert_eq!(
            verify(&v.sig, v.info.sdk_app_id, &v.key, &v.info.identifier, after),
            Err(UserSigError::Expired {
                expired_at: v.info.time + v.info.expire
            }),
            "{}",
            v.name
        );
    }
}

#[test]
fn vectors_refuse_another_user_key_and_app() {
    for v in load_vectors() {
        let (sdk_app_id, time) = (v.info.sdk_app_id, v.info.time);
        let wrong_user = verify(&v.sig, sdk_app_id, &v.key, "mallory", time);
        assert_eq!(outcome(&wrong_user), v.wrong_user_outcome, "{}", v.name);
        assert_eq!(wrong_user, Err(UserSigError::IdentifierMismatch), "{}", v.name);
        let wrong_key = format!("{}x", v.key);
        assert_eq!(
            verify(&v.sig, sdk_app_id, &wrong_key, &v.info.identifier, time),
            Err(UserSigError::BadSignature)
        );
        assert_eq!(
            verify(&v.sig, sdk_app_id + 1, &v.key, &v.info.identifier, time),
            Err(UserSigError::SdkAppIdMismatch {
                expected: sdk_app_id + 1,
                found: sdk_app_id
            })
        );
    }
}

#[test]
fn vectors_check_their_userbuf_exactly() {
    for v in load_vectors() {
        let (sdk_app_id, time, id) = (v.info.sdk_app_id, v.info.time, v.info.identifier.as_str());
        let exact = verify_with_userbuf(&v.sig, sdk_app_id, &v.key, id, time, v.info.userbuf.as_deref());
        assert_eq!(exact.as_ref(), Ok(&v.info), "{}", v.name);
        let other: Option<&[u8]> = match &v.info.userbuf {
            Some(_) => None,
            None => Some(b"room"),
        };
        assert_eq!(
            verify_with_userbuf(&v.sig, sdk_app_id, &v.key, id, time, other),
            Err(UserSigError::UserbufMismatch),
            "{}",
            v.name
        );
    }
}

#[test]
fn our_signer_writes_the_official_document_for_each_vector() {
    for v in load_vectors() {
        let info = &v.info;
        let ours = gen_usersig(
            info.sdk_app_id,
            &v.key,
            &info.identifier,
            info.expire,
            info.time,
            info.userbuf.as_deref(),
        );
        let decoded = decode(&ours).unwrap_or_else(|err| panic!("{}: {err}", v.name));
        assert_eq!(
            decoded.document, v.json,
            "{}: same JSON bytes as the official signer",
            v.name
        );
        assert_eq!(
            verify(&ours, info.sdk_app_id, &v.key, &info.identifier, info.time).as_ref(),
            Ok(info)
        );
        let ours_compressed = base64_of_sig(&ours);
        assert_eq!(
            ours_compressed[..2],
            v.zlib_header[..],
            "{}: zlib header (default level)",
            v.name
        );
    }
}

#[test]
fn private_map_key_userbuf_matches_the_official_bytes() {
    let with_userbuf: Vec<Vector> = load_vectors()
        .into_iter()
        .filter(|v| v.info.userbuf.is_some())
        .collect();
    assert!(
        !with_userbuf.is_empty(),
        "the vectors include a genPrivateMapKey userbuf"
    );
    for v in with_userbuf {
        // The vector's name records the arguments: genPrivateMapKey(roomid=10000, priv=255).
        assert!(
            v.name.contains("roomid=10000, priv=255"),
            "unexpected vector {}",
            v.name
        );
        let built = private_map_key_userbuf(
            &v.info.identifier,
            v.info.sdk_app_id,
            Room::Numeric(10000),
            v.info.expires_at(),
            255,
        );
        assert_eq!(built, v.info.userbuf, "{}", v.name);
    }
}

/// The zlib stream inside a sig (test helper: undoes the character swap and base64).
fn base64_of_sig(sig: &str) -> Vec<u8> {
    use base64::Engine;
    let standard: String = sig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            other => other,
        })
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .expect("our sigs are padded base64")
}
