//! The command line contract: usersig tools, config errors, --dev mode, graceful shutdown.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use tim_protocol::{close, ErrorCode, ServerFrame};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().expect("run tim-server");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn usersig_gen_refuses_what_no_app_can_have() {
    let gen = |sdkappid: &str, key: &str, user: &str| {
        run(&["usersig", "gen", "--sdkappid", sdkappid, "--key", key, "--user", user])
    };
    let (code, out, err) = gen("0", "k", "alice");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("--sdkappid"), "{err}");
    let (code, _, err) = gen("1400000000", " ", "alice");
    assert_eq!(code, 2);
    assert!(err.contains("--key"), "{err}");
    let (code, _, err) = gen("1400000000", "k", "");
    assert_eq!(code, 2);
    assert!(err.contains("--user"), "{err}");
    let (code, _, err) = gen("1400000000", "k", &"a".repeat(33));
    assert_eq!(code, 2);
    assert!(err.contains("--user"), "{err}");
}

#[test]
fn usersig_gen_and_verify() {
    let (code, sig, _) = run(&[
        "usersig",
        "gen",
        "--sdkappid",
        "1400000000",
        "--key",
        "k1",
        "--user",
        "alice",
        "--expire",
        "60",
    ]);
    assert_eq!(code, 0);
    let info = tim_usersig::verify(&sig, 1_400_000_000, "k1", "alice", now_secs()).expect("generated sig verifies");
    assert_eq!(info.expire, 60);

    let verify = |key: &str, user: &str, now: Option<u64>| {
        let mut args = vec![
            "usersig",
            "verify",
            "--sdkappid",
            "1400000000",
            "--key",
            key,
            "--user",
            user,
            "--sig",
            &sig,
        ];
        let now = now.map(|n| n.to_string());
        if let Some(now) = &now {
            args.extend(["--now", now]);
        }
        run(&args)
    };
    assert_eq!(
        verify("k1", "alice", None),
        (0, r#"{"ok":true}"#.to_string(), String::new())
    );
    let expect_fail = |(code, out, _): (i32, String, String), expected: ErrorCode| {
        assert_eq!(code, 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["code"], expected.code(), "{out}");
        assert!(!v["error"].as_str().unwrap().is_empty());
        assert!(out.starts_with(r#"{"ok":false,"code":"#), "{out}");
    };
    expect_fail(verify("k2", "alice", None), ErrorCode::UserSigBadSignature);
    expect_fail(verify("k1", "bob", None), ErrorCode::UserSigIdentifierMismatch);
    expect_fail(
        verify("k1", "alice", Some(now_secs() + 3600)),
        ErrorCode::UserSigExpired,
    );
}

#[test]
fn bad_configs_are_refused_naming_the_key() {
    let dir = TempDir::new("badcfg");
    let cases = [
        ("[[app]]\nsdkappid = 1\nsecret_key = \"\"\n", "app[0].secret_key"),
        (
            "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\n[[app]]\nsdkappid = 1\nsecret_key = \"k\"\n",
            "app[1].sdkappid",
        ),
        (
            "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\nonline_web_instances = 0\n",
            "app[0].online_web_instances",
        ),
        ("[[app]]\nsdkappid = 1\nsecret_key = \"k\"\nsecret = 3\n", "secret"),
        (
            "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\n[limits]\nlogin_deadline_ms = 0\n",
            "limits.login_deadline_ms",
        ),
        ("listen = 5\n", "listen"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = dir.0.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let (code, _, err) = run(&["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.contains(key), "{text}: message should name {key}: {err}");
    }
    let (code, _, err) = run(&["--config", "/nonexistent/tim.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/tim.toml"), "{err}");
    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("--dev"), "{err}");
}

#[tokio::test]
async fn dev_mode_prints_url_and_usersig_and_serves_dev_usersig() {
    let args: Vec<String> = ["--dev", "--dev-key", "my-dev-key", "--listen", "127.0.0.1:0"]
        .map(String::from)
        .to_vec();
    let server = Server::spawn(&args, TempDir::new("dev"));
    let example = server
        .stdout_lines
        .iter()
        .find(|l| l.contains("example UserSig"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("example UserSig line");
    tim_usersig::verify(example, 1_400_000_000, "my-dev-key", "user1", now_secs()).expect("example sig verifies");

    // The demo page's origin may read the reply; no other origin gets a UserSig or a CORS header.
    let demo = "Origin: http://127.0.0.1:8700\r\n";
    let (status, head, body) = http_with(&server.addr, "GET", "/dev/usersig?userID=alice", demo, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("access-control-allow-origin: http://127.0.0.1:8700\r\n"),
        "{head}"
    );
    assert!(!head.contains("access-control-allow-origin: *"), "{head}");
    let evil = "Origin: http://evil.example\r\n";
    let (status, _, refused) = http_with(&server.addr, "GET", "/dev/usersig?userID=alice", evil, "").await;
    assert_eq!(status, 403, "{refused}");
    assert!(!refused.contains("userSig"), "{refused}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["userID"].as_str(), v["SDKAppID"].as_u64()),
        (Some("alice"), Some(1_400_000_000))
    );
    let user_sig = v["userSig"].as_str().unwrap();
    tim_usersig::verify(user_sig, 1_400_000_000, "my-dev-key", "alice", now_secs()).expect("served sig verifies");
    let (status, _) = http(&server.addr, "GET", "/dev/usersig?userID=", "").await;
    assert_eq!(status, 400);

    // The served UserSig logs in, with N = 1.
    let mut ws = server.connect().await;
    send(&mut ws, &login_frame(1, 1_400_000_000, "alice", user_sig, None)).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::LoginAck { .. }));
    // The admin API works with an admin UserSig from /dev/usersig, and preflights are answered.
    let (_, body) = http(&server.addr, "GET", "/dev/usersig?userID=administrator", "").await;
    let admin: serde_json::Value = serde_json::from_str(&body).unwrap();
    let target = format!(
        "/v4/tim_wasm_admin/get_app_config?sdkappid=1400000000&identifier=administrator&usersig={}&random=1&contenttype=json",
        admin["userSig"].as_str().unwrap()
    );
    let (_, body) = http(&server.addr, "POST", &target, "{}").await;
    assert!(body.contains(r#""OnlineWebInstances":1"#), "{body}");
    let (status, head, _) = http_with(&server.addr, "OPTIONS", &target, demo, "").await;
    assert!(
        status == 204 && head.contains("access-control-allow-methods"),
        "{status} {head}"
    );
}

#[test]
fn dev_mode_refuses_a_non_loopback_listen_address_unless_allowed() {
    // 192.0.2.1 is no local address: were the check missing, binding would fail (exit 1), never hang.
    let (code, _, err) = run(&["--dev", "--listen", "192.0.2.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--dev-allow-remote"), "{err}");
    let (code, _, err) = run(&["--dev-allow-remote", "--listen", "192.0.2.1:0"]);
    assert_eq!(code, 2, "--dev-allow-remote needs --dev: {err}");
}

#[tokio::test]
async fn dev_mode_allows_the_origins_it_is_given() {
    let args: Vec<String> = [
        "--dev",
        "--listen",
        "127.0.0.1:0",
        "--dev-origin",
        "http://127.0.0.1:4242",
    ]
    .map(String::from)
    .to_vec();
    let server = Server::spawn(&args, TempDir::new("dev-origin"));
    let page = "Origin: http://127.0.0.1:4242\r\n";
    let (status, head, _) = http_with(&server.addr, "GET", "/dev/usersig?userID=alice", page, "").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("access-control-allow-origin: http://127.0.0.1:4242\r\n"),
        "{head}"
    );
    let default = "Origin: http://127.0.0.1:8700\r\n";
    let (status, _, _) = http_with(&server.addr, "GET", "/dev/usersig?userID=alice", default, "").await;
    assert_eq!(status, 403, "the default origin is replaced by --dev-origin");
}

#[tokio::test]
async fn dev_usersig_refuses_another_origin_with_a_403_that_page_can_read() {
    let args: Vec<String> = ["--dev", "--listen", "127.0.0.1:0"].map(String::from).to_vec();
    let server = Server::spawn(&args, TempDir::new("dev-403-cors"));
    let page = "Origin: http://localhost:5173\r\n";
    let (status, head, body) = http_with(&server.addr, "GET", "/dev/usersig?userID=alice", page, "").await;
    assert_eq!(status, 403, "{body}");
    // CORS for that origin on the refusal, so that the page's fetch can read why: no UserSig in it.
    assert!(
        head.contains("access-control-allow-origin: http://localhost:5173\r\n"),
        "{head}"
    );
    assert!(head.contains("vary: origin\r\n"), "{head}");
    assert!(!head.contains("access-control-allow-origin: *"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["userSig"].is_null(), "{body}");
    assert!(v["error"].as_str().unwrap().contains("--dev-origin"), "{body}");
}

#[tokio::test]
async fn dev_usersig_does_not_exist_without_dev() {
    let server = Server::start(&config(1, ""));
    let (status, _) = http(&server.addr, "GET", "/dev/usersig?userID=alice", "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn sigterm_closes_sockets_with_going_away() {
    let mut server = Server::start(&config(1, ""));
    let (mut ws, _) = server.login_ok("alice").await;
    let pid = server.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let (_, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(closed, Some(close::SERVICE_RESTART));
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        exited.is_some_and(|s| s.success()),
        "server exits 0 after SIGTERM: {exited:?}"
    );
}
