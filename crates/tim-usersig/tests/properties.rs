//! Property tests: decoding and verifying any input gives `Ok` or a typed error, never a panic; and what
//! `gen_usersig` issues verifies, with every field intact, for any identifier, key, lifetime and userbuf.

mod common;

use common::{pack, APP, KEY, NOW};
use proptest::prelude::*;
use serde_json::{json, Value};
use tim_usersig::{decode, gen_usersig, verify, verify_with_userbuf, UserSigError, UserSigInfo};

/// Runs both entry points; returning at all (no panic) is the property, and the two must agree on structure.
fn decode_and_verify(sig: &str) {
    let decoded = decode(sig);
    let verified = verify(sig, APP, KEY, "alice", NOW);
    if let Err(UserSigError::Malformed(reason)) = &decoded {
        assert!(!reason.is_empty());
        assert_eq!(
            verified.as_ref().err(),
            decoded.as_ref().err(),
            "verify must fail where decode does"
        );
    }
    let _ = verify_with_userbuf(sig, APP, KEY, "alice", NOW, Some(b"x"));
}

/// JSON values of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[0-9]{1,25}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Documents with the right keys and random values: reaches the field checks, not just the JSON parser.
fn near_miss_document() -> impl Strategy<Value = Value> {
    (
        any_json(),
        any_json(),
        any_json(),
        any_json(),
        any_json(),
        any_json(),
        any_json(),
        any::<u8>(),
    )
        .prop_map(|(ver, id, app, time, expire, userbuf, sig, keep)| {
            let mut doc = json!({
                "TLS.ver": "2.0", "TLS.identifier": "alice", "TLS.sdkappid": APP, "TLS.time": NOW,
                "TLS.expire": 60, "TLS.userbuf": "AAEC", "TLS.sig": "AAAA",
            });
            let replacements = [ver, id, app, time, expire, userbuf, sig];
            let names = [
                "TLS.ver",
                "TLS.identifier",
                "TLS.sdkappid",
                "TLS.time",
                "TLS.expire",
                "TLS.userbuf",
                "TLS.sig",
            ];
            for (bit, (name, value)) in names.iter().zip(replacements).enumerate() {
                // Each bit of `keep` decides whether this field keeps its good value.
                if keep & (1 << bit) == 0 {
                    doc[*name] = value;
                }
            }
            doc
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_string_decodes_or_fails_typed(sig in ".{0,300}") {
        decode_and_verify(&sig);
    }

    #[test]
    fn any_string_of_the_sig_alphabet_decodes_or_fails_typed(sig in "[A-Za-z0-9*_=+/-]{0,400}") {
        decode_and_verify(&sig);
    }

    #[test]
    fn any_compressed_bytes_decode_or_fail_typed(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_and_verify(&pack(&bytes));
    }

    #[test]
    fn any_json_document_decodes_or_fails_typed(doc in any_json()) {
        decode_and_verify(&pack(doc.to_string().as_bytes()));
    }

    #[test]
    fn near_miss_documents_decode_or_fail_typed(doc in near_miss_document()) {
        decode_and_verify(&pack(doc.to_string().as_bytes()));
    }

    #[test]
    fn generated_sigs_verify_with_every_field_intact(
        identifier in ".{0,48}",
        key in ".{0,64}",
        sdk_app_id in any::<u64>(),
        now in any::<u64>(),
        expire in any::<u64>(),
        userbuf in prop::option::of(prop::collection::vec(any::<u8>(), 0..512)),
    ) {
        let sig = gen_usersig(sdk_app_id, &key, &identifier, expire, now, userbuf.as_deref());
        let expected = UserSigInfo { identifier: identifier.clone(), sdk_app_id, time: now, expire, userbuf: userbuf.clone() };
        prop_assert_eq!(verify(&sig, sdk_app_id, &key, &identifier, now), Ok(expected.clone()));
        prop_assert_eq!(
            verify_with_userbuf(&sig, sdk_app_id, &key, &identifier, expected.expires_at(), userbuf.as_deref()),
            Ok(expected.clone())
        );
        if let Some(after) = expected.expires_at().checked_add(1) {
            prop_assert_eq!(
                verify(&sig, sdk_app_id, &key, &identifier, after),
                Err(UserSigError::Expired { expired_at: expected.expires_at() })
            );
        }
        let other_key = format!("{key}!");
        prop_assert_eq!(verify(&sig, sdk_app_id, &other_key, &identifier, now), Err(UserSigError::BadSignature));
        let other_user = format!("{identifier}_");
        prop_assert_eq!(verify(&sig, sdk_app_id, &key, &other_user, now), Err(UserSigError::IdentifierMismatch));
    }
}
