//! Interop with the official Node signer, npm `tls-sig-api-v2` 1.0.2, run by a real `node`:
//! sigs it issues verify with this crate, and sigs this crate issues pass the official algorithm (the
//! package's own HMAC routine; the package has no verify function, so `official_signer.js` writes out the
//! remaining steps from its code) and inflate to the very document the package writes for the same inputs.
//!
//! Needs `node` and `tests/node_modules` (installed by `cargo xtask test`). `TIM_NODE_MODULES` overrides
//! the node_modules directory.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use tim_usersig::{gen_usersig, private_map_key_userbuf, verify, verify_with_userbuf, Room, UserSigError, UserSigInfo};

const HOW_TO_FIX: &str = "run `cargo xtask test`, which installs node's test tools (npm install in tests/)";

fn signer_module() -> PathBuf {
    let node_modules = match std::env::var_os("TIM_NODE_MODULES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node_modules"),
    };
    let module = node_modules.join("tls-sig-api-v2");
    let manifest = std::fs::read_to_string(module.join("package.json")).unwrap_or_else(|err| {
        panic!(
            "the official signer is not installed at {}: {err}; {HOW_TO_FIX}",
            module.display()
        )
    });
    let manifest: Value = serde_json::from_str(&manifest).expect("the package's package.json is JSON");
    assert_eq!(
        manifest["version"], "1.0.2",
        "tests/package.json pins tls-sig-api-v2 1.0.2; {HOW_TO_FIX}"
    );
    module
}

/// Runs `official_signer.js <mode>` with `input` on stdin and parses its JSON output.
fn run_signer(mode: &str, input: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/official_signer.js");
    let mut child = Command::new("node")
        .arg(&script)
        .arg(mode)
        .env("TIM_SIG_MODULE", signer_module())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start `node` ({err}); {HOW_TO_FIX}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write to node");
    let output = child.wait_with_output().expect("node runs to the end");
    assert!(
        output.status.success(),
        "official_signer.js {mode} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("official_signer.js prints JSON")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digits"))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sigs_from_the_official_package_verify_with_ours() {
    let cases = run_signer("gen", "");
    let cases = cases.as_array().expect("a list of sigs");
    assert!(
        cases.len() >= 90,
        "the script issues about a hundred sigs, got {}",
        cases.len()
    );
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for case in cases {
        let text = |name: &str| {
            case[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {case}"))
                .to_owned()
        };
        let number = |name: &str| case[name].as_u64().unwrap_or_else(|| panic!("{name} in {case}"));
        let (sig, key, identifier) = (text("sig"), text("key"), text("identifier"));
        let expected = UserSigInfo {
            identifier: identifier.clone(),
            sdk_app_id: number("sdkappid"),
            time: number("time"),
            expire: number("expire"),
            userbuf: case["userbufHex"].as_str().map(hex),
        };
        let app = expected.sdk_app_id;
        let label = format!("{} {} expire={}", text("kind"), identifier, expected.expire);
        *kinds.entry(text("kind")).or_default() += 1;

        let at = |now| verify_with_userbuf(&sig, app, &key, &identifier, now, expected.userbuf.as_deref());
        assert_eq!(at(expected.time), Ok(expected.clone()), "{label}");
        assert_eq!(
            at(expected.expires_at()),
            Ok(expected.clone()),
            "{label} at the expiry edge"
        );
        assert_eq!(
            at(expected.expires_at() + 1),
            Err(UserSigError::Expired {
                expired_at: expected.expires_at()
            })
        );
        assert_eq!(
            verify(&sig, app, &key, "someone-else", expected.time),
            Err(UserSigError::IdentifierMismatch)
        );
        assert_eq!(
            verify(&sig, app, "not-the-key", &identifier, expected.time),
            Err(UserSigError::BadSignature)
        );

        // Our builder of the private-map-key userbuf writes the same bytes as the package.
        let room = match text("kind").as_str() {
            "genPrivateMapKey" => Some(Room::Numeric(number("room") as u32)),
            "genPrivateMapKeyWithStringRoomID" => Some(Room::Named(case["roomName"].as_str().expect("roomName"))),
            _ => None,
        };
        if let Some(room) = room {
            let built = private_map_key_userbuf(&identifier, app, room, expected.expires_at(), number("priv") as u32);
            assert_eq!(built, expected.userbuf, "{label}");
        }
    }
    for kind in [
        "genUserSig",
        "genPrivateMapKey",
        "genPrivateMapKeyWithStringRoomID",
        "genUserSig (real clock)",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} sigs in {kinds:?}");
    }
}

/// One of our sigs and what the official check should say about it.
struct OurSig {
    sig: String,
    app: u64,
    key: &'static str,
    identifier: &'static str,
    now: u64,
    expire: u64,
    userbuf: Option<Vec<u8>>,
    expected: &'static str,
}

const APP: u64 = 1_400_000_000;
const KEY: &str = "test-secret-key-0123456789abcdef";
const NOW: u64 = 1_700_000_000;

/// A sig of ours, issued at `NOW`, that the official check should accept.
fn ours(identifier: &'static str, expire: u64, userbuf: Option<Vec<u8>>) -> OurSig {
    let sig = gen_usersig(APP, KEY, identifier, expire, NOW, userbuf.as_deref());
    OurSig {
        sig,
        app: APP,
        key: KEY,
        identifier,
        now: NOW,
        expire,
        userbuf,
        expected: "OK",
    }
}

fn our_sigs() -> Vec<OurSig> {
    let room_buf = private_map_key_userbuf("alice", APP, Room::Named("1000000040"), NOW + 300, 42).expect("short");
    vec![
        ours("alice", 86400, None),
        ours("bob_2", 1, None),
        ours("user-with-dash", 86400 * 180, None),
        ours("alice", 300, Some(room_buf)),
        ours("alice", 60, Some((0..=255).collect())),
        ours("alice", 60, Some(Vec::new())),
        ours("名前 \"quoted\"\n/slash", 60, None),
        // Sigs the official check must refuse, so that its acceptances mean something.
        OurSig {
            sig: gen_usersig(APP, "another-key", "alice", 60, NOW, None),
            expected: "bad signature",
            ..ours("alice", 60, None)
        },
        OurSig {
            now: NOW + 61,
            expected: "expired",
            ..ours("alice", 60, None)
        },
    ]
}

/// Our verdict in the words of the official check.
fn our_verdict(s: &OurSig) -> &'static str {
    match verify_with_userbuf(&s.sig, s.app, s.key, s.identifier, s.now, s.userbuf.as_deref()) {
        Ok(_) => "OK",
        Err(UserSigError::BadSignature) => "bad signature",
        Err(UserSigError::Expired { .. }) => "expired",
        Err(other) => panic!("unexpected verdict {other:?}"),
    }
}

#[test]
fn sigs_we_issue_pass_the_official_check_and_match_its_document() {
    let sigs = our_sigs();
    let input: Vec<Value> = sigs
        .iter()
        .map(|s| {
            json!({
                "sig": s.sig, "sdkappid": s.app, "key": s.key, "identifier": s.identifier, "now": s.now,
                "expire": s.expire, "userbufHex": s.userbuf.as_deref().map(to_hex),
            })
        })
        .collect();
    let results = run_signer("verify", &Value::from(input).to_string());
    let results = results.as_array().expect("one result per sig");
    assert_eq!(results.len(), sigs.len());
    for (ours, official) in sigs.iter().zip(results) {
        let label = format!(
            "{:?} expire={} userbuf={:?}",
            ours.identifier,
            ours.expire,
            ours.userbuf.as_ref().map(Vec::len)
        );
        assert_eq!(official["reason"], ours.expected, "{label}: {official}");
        assert_eq!(
            our_verdict(ours),
            ours.expected,
            "{label}: our verdict agrees with the official one"
        );
        if ours.expected == "OK" {
            assert_eq!(official["ok"], true, "{label}");
            assert_eq!(
                official["document"], official["officialDocument"],
                "{label}: same JSON document as the package"
            );
            assert_eq!(official["sameDocument"], true, "{label}");
        }
    }
}
