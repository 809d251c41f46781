//! The app backend's REST calls and the admin surface's defences, against the real binary:
//! `query_online_status`, UserSigs dated in the future, revocation of the admin's own UserSigs, the
//! admin's own failure limiter, `/metrics` on its own address, and the per-sender send rate.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tim_protocol::{ClientFrame, ErrorCode, Platform, ServerFrame, PROTOCOL_VERSION};

const STATUS: &str = "/v4/openim/query_online_status";

fn login_as(platform: Platform, user: &str, sig: &str) -> ClientFrame {
    ClientFrame::Login {
        id: 1,
        version: PROTOCOL_VERSION,
        sdk_app_id: APP,
        user_id: user.into(),
        user_sig: sig.into(),
        platform,
        instance_id: None,
    }
}

#[tokio::test]
async fn query_online_status_answers_in_the_vendors_shape() {
    let server = Server::start(&config(2, "resume_grace_ms = 60000"));
    let mut wx = server.connect().await;
    send(&mut wx, &login_as(Platform::Wx, "alice", &sig("alice"))).await;
    let ServerFrame::LoginAck { instance_id: wx_id, .. } = recv(&mut wx).await else {
        panic!("login")
    };
    let (web, web_id) = server.login_ok("alice").await;
    drop(web); // detached: keeps its slot for the resume grace
    tokio::time::sleep(Duration::from_millis(300)).await;

    let body = json!({"To_Account": ["alice", "bob", "", 7], "IsNeedDetail": 1}).to_string();
    let reply = server.admin(STATUS, &body).await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
    assert_eq!(reply["ErrorCode"], 0);
    assert_eq!(
        reply["QueryResult"],
        json!([
            {"To_Account": "alice", "Status": "Online", "Detail": [
                {"Platform": "wx", "Status": "Online", "InstID": wx_id},
                {"Platform": "node", "Status": "PushOnline", "InstID": web_id},
            ]},
            {"To_Account": "bob", "Status": "Offline", "Detail": []},
        ])
    );
    let errors = reply["ErrorList"].as_array().unwrap();
    let codes: Vec<(serde_json::Value, u64)> = errors
        .iter()
        .map(|e| (e["To_Account"].clone(), e["ErrorCode"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (json!(""), u64::from(ErrorCode::NoIdentifier.code())),
            (json!(7), u64::from(ErrorCode::InvalidParameters.code())),
        ]
    );

    // Without IsNeedDetail: no Detail.
    let reply = server.admin(STATUS, r#"{"To_Account":["alice"]}"#).await;
    assert_eq!(
        reply["QueryResult"],
        json!([{"To_Account": "alice", "Status": "Online"}])
    );

    // 1 to 500 accounts.
    let many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    let reply = server.admin(STATUS, &json!({"To_Account": many}).to_string()).await;
    assert_eq!(reply["ErrorCode"], ErrorCode::InvalidParameters.code(), "{reply}");
    let reply = server
        .admin(STATUS, &json!({"To_Account": many[..500]}).to_string())
        .await;
    assert_eq!(reply["QueryResult"].as_array().unwrap().len(), 500);
    let reply = server.admin(STATUS, r#"{"To_Account":[]}"#).await;
    assert_eq!(reply["ErrorCode"], ErrorCode::InvalidParameters.code());
}

#[tokio::test]
async fn a_usersig_dated_beyond_the_skew_is_refused_and_cannot_outrun_a_kick() {
    let server = Server::start(&config(1, "usersig_max_future_secs = 120"));
    // Made on a clock 10 minutes ahead, before the kick: refused with its own code, login and admin.
    let ahead = tim_usersig::gen_usersig(APP, KEY, "alice", 86_400, now_secs() + 600, None);
    let (_, reply) = server.login("alice", &ahead).await;
    assert_eq!(error_code(&reply), Some(ErrorCode::UserSigFromTheFuture.code()));
    let admin_ahead = tim_usersig::gen_usersig(APP, KEY, "administrator", 86_400, now_secs() + 600, None);
    let target =
        format!("/v4/tim_wasm_admin/get_app_config?sdkappid={APP}&identifier=administrator&usersig={admin_ahead}");
    let (_, text) = http(&server.addr, "POST", &target, "{}").await;
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["ErrorCode"], ErrorCode::UserSigFromTheFuture.code(), "{reply}");

    // Within the skew: accepted; a REST kick then revokes it like any earlier UserSig.
    let slightly_ahead = tim_usersig::gen_usersig(APP, KEY, "alice", 86_400, now_secs() + 60, None);
    let (mut ws, reply) = server.login("alice", &slightly_ahead).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
    server
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"alice"}"#)
        .await;
    until_close(&mut ws, Duration::from_secs(5)).await;
    let (_, reply) = server.login("alice", &ahead).await;
    assert_eq!(error_code(&reply), Some(ErrorCode::UserSigFromTheFuture.code()));
    let (_, reply) = server.login("alice", &sig("alice")).await;
    assert_eq!(error_code(&reply), Some(ErrorCode::UserSigRevoked.code()));
    let after = tim_usersig::gen_usersig(APP, KEY, "alice", 86_400, now_secs() + 1, None);
    let (_ws, reply) = server.login("alice", &after).await;
    assert!(
        matches!(reply, ServerFrame::LoginAck { .. }),
        "a UserSig made after the kick works: {reply:?}"
    );
}

#[tokio::test]
async fn kicking_the_admin_revokes_the_admins_older_usersigs_at_the_admin_api() {
    let server = Server::start(&config(1, ""));
    let old = sig("administrator");
    let call = |usersig: String| {
        let addr = server.addr.clone();
        async move {
            let target =
                format!("/v4/tim_wasm_admin/get_app_config?sdkappid={APP}&identifier=administrator&usersig={usersig}");
            let (_, text) = http(&addr, "POST", &target, "{}").await;
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    assert_eq!(call(old.clone()).await["ActionStatus"], "OK");
    let reply = server
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"administrator"}"#)
        .await;
    assert_eq!(reply["ActionStatus"], "OK");
    assert_eq!(call(old).await["ErrorCode"], ErrorCode::UserSigRevoked.code());
    let newer = tim_usersig::gen_usersig(APP, KEY, "administrator", 86_400, now_secs() + 1, None);
    assert_eq!(call(newer).await["ActionStatus"], "OK");
}

#[tokio::test]
async fn bad_logins_do_not_lock_the_admin_out_and_admin_failures_have_their_own_limit() {
    let limits = "login_failures_per_ip = 2\nadmin_failures_per_ip = 3\nlogin_failure_window_ms = 60000";
    let server = Server::start(&config(1, limits));
    for _ in 0..3 {
        let (_, reply) = server.login("mallory", "bad").await;
        assert!(error_code(&reply).is_some());
    }
    let (_, reply) = server.login("mallory", "bad").await;
    assert_eq!(
        error_code(&reply),
        Some(ErrorCode::LoginRateLimited.code()),
        "bad logins are limited"
    );
    let reply = server.admin("/v4/tim_wasm_admin/get_app_config", "{}").await;
    assert_eq!(reply["ActionStatus"], "OK", "the admin still gets in: {reply}");

    // Wrong identifiers: refused without naming the admin; past the admin limit they get 70050, while
    // valid admin credentials from the same address still pass.
    let user_sig = sig("alice");
    let mut codes = Vec::new();
    for _ in 0..4 {
        let target = format!("/v4/tim_wasm_admin/get_app_config?sdkappid={APP}&identifier=alice&usersig={user_sig}");
        let (_, text) = http(&server.addr, "POST", &target, "{}").await;
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
        codes.push(reply["ErrorCode"].as_u64().unwrap());
        assert!(!text.contains("administrator"), "the admin's name stays secret: {text}");
    }
    let (refused, limited) = (
        u64::from(ErrorCode::AdminRequired.code()),
        u64::from(ErrorCode::LoginRateLimited.code()),
    );
    assert_eq!(codes, [refused, refused, refused, limited]);
    let reply = server.admin("/v4/tim_wasm_admin/get_app_config", "{}").await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
}

#[tokio::test]
async fn metrics_can_be_served_on_their_own_address() {
    let config_text = config(1, "").replacen("[[app]]", "metrics_listen = \"127.0.0.1:0\"\n[[app]]", 1);
    let server = Server::start(&config_text);
    let line = server
        .stdout_lines
        .iter()
        .find(|l| l.contains("metrics on http://"))
        .expect("announces the metrics address");
    let url = line.rsplit(' ').next().unwrap();
    let addr = url.trim_start_matches("http://").trim_end_matches("/metrics");
    assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{line}");
    let (_ws, _) = server.login_ok("alice").await;
    let (status, body) = http(addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("tim_logins_total{result=\"ok\"} 1\n"), "{body}");
    let (status, _) = http(&server.addr, "GET", "/metrics", "").await;
    assert_eq!(status, 404, "not on the main address any more");
}

#[tokio::test]
async fn send_message_is_rate_limited_per_sender() {
    let server = Server::start(&config(
        1,
        "messages_per_sender_per_min = 1\nmessage_burst_per_sender = 3",
    ));
    let (mut alice, _) = server.login_ok("alice").await;
    let (mut carol, _) = server.login_ok("carol").await;
    let (mut bob, _) = server.login_ok("bob").await;
    let mut codes = Vec::new();
    for id in 10..15 {
        let frame = ClientFrame::SendMessage {
            id,
            to: "bob".into(),
            text: "hi".into(),
            msg_id: None,
        };
        send(&mut alice, &frame).await;
        codes.push(match recv(&mut alice).await {
            ServerFrame::SendMessageAck { .. } => 0,
            other => error_code(&other).unwrap(),
        });
    }
    let limited = ErrorCode::SendRateLimited.code();
    assert_eq!(codes, [0, 0, 0, limited, limited]);
    // Another sender keeps its own rate, and bob got exactly the accepted three.
    send(
        &mut carol,
        &ClientFrame::SendMessage {
            id: 1,
            to: "bob".into(),
            text: "hello".into(),
            msg_id: None,
        },
    )
    .await;
    assert!(matches!(recv(&mut carol).await, ServerFrame::SendMessageAck { .. }));
    let mut from = Vec::new();
    for _ in 0..4 {
        match recv(&mut bob).await {
            ServerFrame::Message { from: f, .. } => from.push(f),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(from, ["alice", "alice", "alice", "carol"]);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tim_messages_refused_total{reason=\"rate_limited\"} 2\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_admin_api_lists_an_accounts_recent_kicks() {
    let server = Server::start(&config(1, ""));
    let mut wx = server.connect().await;
    send(&mut wx, &login_as(Platform::Wx, "alice", &sig("alice"))).await;
    let ServerFrame::LoginAck { instance_id: wx_id, .. } = recv(&mut wx).await else {
        panic!("login")
    };
    let (_node, node_id) = server.login_ok("alice").await;
    until_close(&mut wx, Duration::from_secs(5)).await;
    server
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"alice"}"#)
        .await;
    let reply = server
        .admin("/v4/tim_wasm_admin/query_recent_kicks", r#"{"UserID":"alice"}"#)
        .await;
    assert_eq!(reply["UserID"], "alice");
    let kicks = reply["Kicks"].as_array().unwrap();
    let shape: Vec<serde_json::Value> = kicks
        .iter()
        .map(|k| {
            json!([
                k["InstanceID"],
                k["Platform"],
                k["Type"],
                k["ByInstanceID"],
                k["ByPlatform"]
            ])
        })
        .collect();
    assert_eq!(
        shape,
        [
            json!([wx_id, "wx", "multipleAccount", node_id, "node"]),
            json!([node_id, "node", "REST_API_Kick", null, "RESTAPI"]),
        ]
    );
    let (t0, t1) = (
        kicks[0]["TimeMs"].as_u64().unwrap(),
        kicks[1]["TimeMs"].as_u64().unwrap(),
    );
    assert!(t0 <= t1 && t0.abs_diff(now_secs() * 1000) < 60_000, "{t0} {t1}");
    let reply = server
        .admin("/v4/tim_wasm_admin/query_recent_kicks", r#"{"UserID":"bob"}"#)
        .await;
    assert_eq!(reply["Kicks"], json!([]));
}
