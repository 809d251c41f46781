//! The admin REST API and metrics, against the real binary.

mod common;

use std::time::Duration;

use common::*;
use tim_protocol::{close, ClientFrame, ErrorCode, KickType, Platform, ServerFrame, PROTOCOL_VERSION};

#[tokio::test]
async fn rest_kick_kicks_every_instance_and_revokes_older_usersigs() {
    let server = Server::start(&config(2, ""));
    let old_sig = sig("alice");
    let (mut a, _) = server.login("alice", &old_sig).await;
    let (mut b, _) = server.login("alice", &old_sig).await;
    let (mut bob, _) = server.login_ok("bob").await;
    let reply = server
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"alice"}"#)
        .await;
    assert_eq!(
        reply,
        serde_json::json!({"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": ""})
    );
    for ws in [&mut a, &mut b] {
        let (frames, closed) = until_close(ws, Duration::from_secs(5)).await;
        assert_eq!(frames, vec![ServerFrame::kicked(KickType::RestApi)]);
        assert_eq!(closed, Some(close::KICKED));
    }
    assert_not_kicked(&mut bob, "bob untouched").await;

    // The UserSig issued before the kick is refused now; one issued later is accepted.
    let (_, reply) = server.login("alice", &old_sig).await;
    assert_eq!(error_code(&reply), Some(ErrorCode::UserSigRevoked.code()));
    let later = tim_usersig::gen_usersig(APP, KEY, "alice", 86_400, now_secs() + 1, None);
    let (_c, reply) = server.login("alice", &later).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tim_kicks_total{type=\"REST_API_Kick\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tim_logins_total{result=\"usersig_revoked\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn admin_calls_need_the_admin_identifier_and_a_valid_usersig() {
    let server = Server::start(&config(1, ""));
    let kick = "/v4/im_open_login_svc/kick";
    let body = r#"{"UserID":"alice"}"#;
    let user_sig = sig("alice");
    let admin_sig = sig("administrator");
    let cases = [
        (
            format!("{kick}?sdkappid={APP}&identifier=alice&usersig={user_sig}"),
            ErrorCode::AdminRequired,
        ),
        (
            format!("{kick}?sdkappid={APP}&identifier=administrator&usersig=garbage"),
            ErrorCode::UserSigMalformed,
        ),
        (
            format!("{kick}?sdkappid={APP}&identifier=administrator&usersig={user_sig}"),
            ErrorCode::UserSigIdentifierMismatch,
        ),
        (
            format!("{kick}?sdkappid=7&identifier=administrator&usersig={admin_sig}"),
            ErrorCode::SdkAppIdNotFound,
        ),
        (
            format!("{kick}?identifier=administrator&usersig={admin_sig}"),
            ErrorCode::InvalidParameters,
        ),
    ];
    for (target, expected) in cases {
        let (status, text) = http(&server.addr, "POST", &target, body).await;
        assert_eq!(status, 200);
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reply["ActionStatus"], "FAIL", "{target}");
        assert_eq!(reply["ErrorCode"], expected.code(), "{target}: {reply}");
        assert!(!reply["ErrorInfo"].as_str().unwrap().is_empty());
    }
    let reply = server.admin(kick, "not json").await;
    assert_eq!(reply["ErrorCode"], ErrorCode::InvalidParameters.code());
    let reply = server.admin(kick, r#"{"UserID":""}"#).await;
    assert_eq!(reply["ErrorCode"], ErrorCode::NoIdentifier.code());
}

#[tokio::test]
async fn online_web_instances_changes_live_for_the_next_login() {
    let server = Server::start(&config(1, ""));
    let config_now = server.admin("/v4/tim_wasm_admin/get_app_config", "{}").await;
    assert_eq!(config_now["OnlineWebInstances"], 1);
    assert_eq!(config_now["SDKAppID"], APP);
    let (mut first, _) = server.login_ok("alice").await;

    let reply = server
        .admin("/v4/tim_wasm_admin/set_app_config", r#"{"OnlineWebInstances":2}"#)
        .await;
    assert_eq!(
        (reply["ActionStatus"].as_str(), reply["OnlineWebInstances"].as_u64()),
        (Some("OK"), Some(2))
    );
    let (mut second, _) = server.login_ok("alice").await;
    assert_not_kicked(&mut first, "N=2 now: no kick").await;

    server
        .admin("/v4/tim_wasm_admin/set_app_config", r#"{"OnlineWebInstances":1}"#)
        .await;
    let (_third, _) = server.login_ok("alice").await;
    // Back to N=1: the next login leaves one instance, kicking both earlier ones.
    for ws in [&mut first, &mut second] {
        let (frames, closed) = until_close(ws, Duration::from_secs(5)).await;
        assert_eq!((frames.len(), closed), (1, Some(close::KICKED)));
    }
    for bad in [r#"{"OnlineWebInstances":0}"#, r#"{"OnlineWebInstances":"2"}"#, "{}"] {
        let reply = server.admin("/v4/tim_wasm_admin/set_app_config", bad).await;
        assert_eq!(reply["ErrorCode"], ErrorCode::InvalidParameters.code(), "{bad}");
    }
}

#[tokio::test]
async fn the_server_records_each_instance_platform() {
    let server = Server::start(&config(3, ""));
    let mut sockets = Vec::new();
    for platform in [Platform::Wx, Platform::Web] {
        let mut ws = server.connect().await;
        let frame = ClientFrame::Login {
            id: 1,
            version: PROTOCOL_VERSION,
            sdk_app_id: APP,
            user_id: "alice".into(),
            user_sig: sig("alice"),
            platform,
            instance_id: None,
        };
        send(&mut ws, &frame).await;
        assert!(matches!(recv(&mut ws).await, ServerFrame::LoginAck { .. }));
        sockets.push(ws);
    }
    let reply = server
        .admin("/v4/tim_wasm_admin/query_online_instances", r#"{"UserID":"alice"}"#)
        .await;
    let instances = reply["Instances"].as_array().unwrap();
    let platforms: Vec<&str> = instances.iter().map(|i| i["Platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["wx", "web"]);
    assert!(instances.iter().all(|i| i["State"] == "Online"));
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tim_logins_by_platform_total{platform=\"wx\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_expose_connections_logins_kicks_and_rejected_frames() {
    let server = Server::start(&config(1, ""));
    let (mut a, _) = server.login_ok("alice").await;
    let (_b, _) = server.login_ok("alice").await;
    let _ = until_close(&mut a, Duration::from_secs(5)).await;
    let (_c, _) = server.login("carol", "bad").await;
    let mut raw = server.connect().await;
    send(&mut raw, &ClientFrame::Hello { id: 1 }).await;
    assert!(matches!(recv(&mut raw).await, ServerFrame::HelloAck { .. }));
    futures_util::SinkExt::send(&mut raw, tokio_tungstenite::tungstenite::Message::Text("{".into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&recv(&mut raw).await),
        Some(ErrorCode::MalformedFrame.code())
    );
    wait_for_metric(&server, "tim_connections 3\n").await;
    let (status, head, text) = http_full(&server.addr, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/plain"), "{head}");
    for line in [
        "# TYPE tim_connections gauge\n",
        "tim_instances 1\n",
        "tim_logins_total{result=\"ok\"} 2\n",
        "tim_logins_total{result=\"usersig_malformed\"} 1\n",
        "tim_kicks_total{type=\"multipleAccount\"} 1\n",
        "tim_frames_rejected_total{reason=\"malformed\"} 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
