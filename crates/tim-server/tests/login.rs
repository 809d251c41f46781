//! Login, logout, repeat login and the multi-instance rule, against the real binary.

mod common;

use std::time::Duration;

use common::*;
use tim_protocol::{close, ClientFrame, ErrorCode, Platform, ServerFrame, PROTOCOL_VERSION};

fn code(e: ErrorCode) -> Option<u32> {
    Some(e.code())
}

#[tokio::test]
async fn login_ok_and_every_refusal_carries_its_code() {
    let server = Server::start(&config(1, ""));
    let (_ws, reply) = server.login("alice", &sig("alice")).await;
    let ServerFrame::LoginAck {
        id,
        instance_id,
        hello_interval_ms,
        server_time_ms,
        repeat_login,
        resumed,
        user_sig_expire_at,
    } = reply
    else {
        panic!("{reply:?}")
    };
    assert_eq!(id, 1);
    assert_eq!(instance_id.len(), 32);
    assert_eq!(hello_interval_ms, 30_000);
    assert!(server_time_ms / 1000 >= now_secs() - 5);
    assert!(!repeat_login && !resumed);
    assert!(user_sig_expire_at >= now_secs() + 86_000);

    let now = now_secs();
    let cases = [
        ("bob", "not-a-usersig".to_string(), APP, ErrorCode::UserSigMalformed),
        (
            "bob",
            tim_usersig::gen_usersig(APP, "wrong key", "bob", 86_400, now, None),
            APP,
            ErrorCode::UserSigBadSignature,
        ),
        (
            "bob",
            tim_usersig::gen_usersig(APP, KEY, "bob", 10, now - 100, None),
            APP,
            ErrorCode::UserSigExpired,
        ),
        (
            "bob",
            tim_usersig::gen_usersig(OTHER_APP, KEY, "bob", 86_400, now, None),
            APP,
            ErrorCode::UserSigSdkAppIdMismatch,
        ),
        ("bob", sig("carol"), APP, ErrorCode::UserSigIdentifierMismatch),
        ("bob", sig("bob"), 42, ErrorCode::SdkAppIdNotFound),
        ("bob", sig("bob"), OTHER_APP, ErrorCode::UserSigSdkAppIdMismatch),
        ("", sig("bob"), APP, ErrorCode::NoIdentifier),
        ("bob", String::new(), APP, ErrorCode::NoUserSig),
    ];
    for (user, user_sig, app, expected) in cases {
        let mut ws = server.connect().await;
        send(&mut ws, &login_frame(9, app, user, &user_sig, None)).await;
        let reply = recv(&mut ws).await;
        assert_eq!(error_code(&reply), code(expected), "{user} {app}: {reply:?}");
        let ServerFrame::Error { id, message, .. } = reply else {
            unreachable!()
        };
        assert_eq!(id, Some(9));
        assert_eq!(message, expected.message());
    }

    let mut ws = server.connect().await;
    let frame = ClientFrame::Login {
        id: 3,
        version: PROTOCOL_VERSION + 1,
        sdk_app_id: APP,
        user_id: "bob".into(),
        user_sig: sig("bob"),
        platform: Default::default(),
        instance_id: None,
    };
    send(&mut ws, &frame).await;
    assert_eq!(
        error_code(&recv(&mut ws).await),
        code(ErrorCode::UnsupportedProtocolVersion)
    );
}

#[tokio::test]
async fn repeat_login_same_user_acks_and_other_user_is_refused() {
    let server = Server::start(&config(1, ""));
    let (mut ws, first) = server.login_ok("alice").await;
    send(&mut ws, &login_frame(2, APP, "alice", &sig("alice"), None)).await;
    match recv(&mut ws).await {
        ServerFrame::LoginAck {
            id: 2,
            instance_id,
            repeat_login: true,
            ..
        } => assert_eq!(instance_id, first),
        other => panic!("{other:?}"),
    }
    send(&mut ws, &login_frame(3, APP, "bob", &sig("bob"), None)).await;
    assert_eq!(
        error_code(&recv(&mut ws).await),
        code(ErrorCode::AlreadyLoggedInAsOther)
    );
    // Still logged in as alice: hello and a message to self work.
    send(&mut ws, &ClientFrame::Hello { id: 4 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::HelloAck { id: 4, .. }));
}

#[tokio::test]
async fn n1_second_login_kicks_the_first_exactly_once() {
    let server = Server::start(&config(1, ""));
    let (mut first, _) = server.login_ok("alice").await;
    let before = now_ms();
    let (mut second, _) = server.login_ok("alice").await;
    let after = now_ms();
    let (frames, closed) = until_close(&mut first, Duration::from_secs(5)).await;
    // The kick names the login that took the slot: its platform and time.
    assert_evicted_by(&frames, Platform::Node, before..=after);
    assert_eq!(closed, Some(close::KICKED));
    send(&mut second, &ClientFrame::Hello { id: 5 }).await;
    assert!(matches!(recv(&mut second).await, ServerFrame::HelloAck { id: 5, .. }));
    // Other accounts are untouched.
    let (_bob, _) = server.login_ok("bob").await;
    assert_not_kicked(&mut second, "alice after bob's login").await;
}

/// A genuine UserSig may claim `TLS.expire` = 2^62 s. The server admits it (kicking the older
/// instance, as any login does), so its ack must be one the SDK can read: every number on the wire is at
/// most 2^53-1, and this one is sent saturated. The connection stays served (no expiry timer overflow).
#[tokio::test]
async fn a_usersig_that_lives_2_pow_62_seconds_gets_an_ack_the_sdk_reads() {
    let server = Server::start(&config(1, ""));
    let (mut first, _) = server.login_ok("alice").await;
    let forever = tim_usersig::gen_usersig(APP, KEY, "alice", 1 << 62, now_secs(), None);
    let mut second = server.connect().await;
    send(&mut second, &login_frame(1, APP, "alice", &forever, None)).await;
    // `recv` decodes with the protocol's codec, the SDK's own decoder.
    match recv(&mut second).await {
        ServerFrame::LoginAck { user_sig_expire_at, .. } => {
            assert_eq!(user_sig_expire_at, tim_protocol::MAX_WIRE_INTEGER)
        }
        other => panic!("{other:?}"),
    }
    let (frames, closed) = until_close(&mut first, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(closed, Some(close::KICKED));
    send(&mut second, &ClientFrame::Hello { id: 5 }).await;
    assert!(matches!(recv(&mut second).await, ServerFrame::HelloAck { id: 5, .. }));
}

#[tokio::test]
async fn n3_fourth_and_fifth_logins_kick_the_earliest_in_order() {
    let server = Server::start(&config(3, ""));
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(server.login_ok("alice").await.0);
    }
    let (_fourth, _) = server.login_ok("alice").await;
    let (frames, closed) = until_close(&mut sockets[0], Duration::from_secs(5)).await;
    assert_eq!((frames.len(), closed), (1, Some(close::KICKED)));
    for ws in &mut sockets[1..] {
        assert_not_kicked(ws, "the second and third after the fourth login").await;
    }
    let (_fifth, _) = server.login_ok("alice").await;
    let (_, closed) = until_close(&mut sockets[1], Duration::from_secs(5)).await;
    assert_eq!(closed, Some(close::KICKED));
    assert_not_kicked(&mut sockets[2], "the third after the fifth login").await;
}

#[tokio::test]
async fn logout_frees_the_slot_and_leaves_others_alone() {
    let server = Server::start(&config(2, ""));
    let (mut a, _) = server.login_ok("alice").await;
    let (mut b, _) = server.login_ok("alice").await;
    send(&mut a, &ClientFrame::Logout { id: 7 }).await;
    assert_eq!(recv(&mut a).await, ServerFrame::LogoutAck { id: 7 });
    // A new login fits in the freed slot: b is not kicked.
    let (_c, _) = server.login_ok("alice").await;
    assert_not_kicked(&mut b, "b after a login into the freed slot").await;
    // Logout without login, and requests that need login.
    send(&mut a, &ClientFrame::Logout { id: 8 }).await;
    assert_eq!(error_code(&recv(&mut a).await), code(ErrorCode::NotLoggedIn));
    send(
        &mut a,
        &ClientFrame::SendMessage {
            id: 9,
            to: "bob".into(),
            text: "hi".into(),
            msg_id: None,
        },
    )
    .await;
    assert_eq!(error_code(&recv(&mut a).await), code(ErrorCode::NotLoggedIn));
    // The same connection can log in again after logout.
    send(&mut a, &login_frame(10, APP, "alice", &sig("alice"), None)).await;
    assert!(matches!(
        recv(&mut a).await,
        ServerFrame::LoginAck {
            id: 10,
            repeat_login: false,
            ..
        }
    ));
    let (_, closed) = until_close(&mut b, Duration::from_secs(5)).await;
    assert_eq!(
        closed,
        Some(close::KICKED),
        "third live login with N=2 kicks the earliest remaining"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_leave_exactly_n_and_kick_each_evicted_once() {
    const N: usize = 2;
    const ROUNDS: usize = 200;
    let server = std::sync::Arc::new(Server::start(&config(N as u32, "")));
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let server = std::sync::Arc::clone(&server);
        rounds.push(tokio::spawn(async move {
            let started = now_ms();
            let user = format!("storm{round}");
            let mut tasks = Vec::new();
            for _ in 0..N + 5 {
                let server = std::sync::Arc::clone(&server);
                let user = user.clone();
                tasks.push(tokio::spawn(async move { server.login_ok(&user).await }));
            }
            let mut sockets = Vec::new();
            for t in tasks {
                sockets.push(t.await.unwrap());
            }
            // The registry's survivors must be exactly N; every other socket must get exactly one kick,
            // and the survivors none.
            let body = format!(r#"{{"UserID":"{user}"}}"#);
            let live = server.admin("/v4/tim_wasm_admin/query_online_instances", &body).await;
            let live: Vec<String> = live["Instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["InstanceID"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(live.len(), N, "round {round}");
            let outcomes = futures_util::future::join_all(sockets.iter_mut().map(|(ws, id)| {
                let survivor = live.contains(id);
                async move {
                    if survivor {
                        assert_not_kicked(ws, "a survivor").await;
                        return false;
                    }
                    let (frames, closed) = until_close(ws, Duration::from_secs(10)).await;
                    assert_evicted_by(&frames, Platform::Node, started..=now_ms());
                    assert_eq!(closed, Some(close::KICKED));
                    true
                }
            }))
            .await;
            let kicked = outcomes.iter().filter(|&&k| k).count();
            let alive = outcomes.len() - kicked;
            assert_eq!((alive, kicked), (N, 5), "round {round}");
        }));
        if rounds.len() >= 50 {
            for r in rounds.drain(..) {
                r.await.unwrap();
            }
        }
    }
    for r in rounds {
        r.await.unwrap();
    }
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(&format!("tim_kicks_total{{type=\"multipleAccount\"}} {}\n", ROUNDS * 5)),
        "{metrics}"
    );
}

#[tokio::test]
async fn resume_keeps_the_slot_and_evicts_nobody() {
    let server = Server::start(&config(1, ""));
    let (mut first, instance) = server.login_ok("alice").await;
    // Drop the connection without logout, then come back with the instance id.
    first.close(None).await.unwrap();
    drop(first);
    let mut again = server.connect().await;
    send(
        &mut again,
        &login_frame(1, APP, "alice", &sig("alice"), Some(&instance)),
    )
    .await;
    match recv(&mut again).await {
        ServerFrame::LoginAck {
            instance_id,
            resumed: true,
            ..
        } => assert_eq!(instance_id, instance),
        other => panic!("{other:?}"),
    }
    // Resume on top of a still-attached connection: the old socket is closed without a kick.
    let mut third = server.connect().await;
    send(
        &mut third,
        &login_frame(1, APP, "alice", &sig("alice"), Some(&instance)),
    )
    .await;
    assert!(matches!(
        recv(&mut third).await,
        ServerFrame::LoginAck { resumed: true, .. }
    ));
    let (frames, closed) = until_close(&mut again, Duration::from_secs(5)).await;
    assert!(frames.is_empty(), "{frames:?}");
    assert_ne!(closed, Some(close::KICKED));
    // Nobody else was evicted: the account still holds one instance, and it is ours.
    send(&mut third, &ClientFrame::Hello { id: 2 }).await;
    assert!(matches!(recv(&mut third).await, ServerFrame::HelloAck { id: 2, .. }));
}

#[tokio::test]
async fn resume_of_a_kicked_instance_is_refused_and_unknown_ids_log_in_fresh_only_into_a_free_slot() {
    let server = Server::start(&config(1, ""));
    let (mut first, kicked_id) = server.login_ok("alice").await;
    let (_second, _) = server.login_ok("alice").await;
    let (_, closed) = until_close(&mut first, Duration::from_secs(5)).await;
    assert_eq!(closed, Some(close::KICKED));
    let mut retry = server.connect().await;
    send(
        &mut retry,
        &login_frame(1, APP, "alice", &sig("alice"), Some(&kicked_id)),
    )
    .await;
    assert_eq!(error_code(&recv(&mut retry).await), code(ErrorCode::InstanceNotFound));

    // An id this process never issued (a client coming back after a server restart) logs in fresh.
    let mut after_restart = server.connect().await;
    send(
        &mut after_restart,
        &login_frame(1, APP, "bob", &sig("bob"), Some("0123456789abcdef0123456789abcdef")),
    )
    .await;
    match recv(&mut after_restart).await {
        ServerFrame::LoginAck {
            instance_id,
            resumed: false,
            ..
        } => assert_eq!(instance_id, "0123456789abcdef0123456789abcdef"),
        other => panic!("{other:?}"),
    }
    send(&mut after_restart, &login_frame(2, APP, "bob", &sig("bob"), None)).await;
    assert!(matches!(
        recv(&mut after_restart).await,
        ServerFrame::LoginAck { repeat_login: true, .. }
    ));
    // bob's one slot is held now: another unknown id (a phone back from a long tunnel) is refused and
    // the login holding the slot stays.
    let mut late = server.connect().await;
    send(
        &mut late,
        &login_frame(1, APP, "bob", &sig("bob"), Some("fedcba9876543210fedcba9876543210")),
    )
    .await;
    assert_eq!(error_code(&recv(&mut late).await), code(ErrorCode::InstanceNotFound));
    send(&mut after_restart, &ClientFrame::Hello { id: 3 }).await;
    assert!(matches!(
        recv(&mut after_restart).await,
        ServerFrame::HelloAck { id: 3, .. }
    ));
    let mut bad = server.connect().await;
    send(&mut bad, &login_frame(1, APP, "carol", &sig("carol"), Some("../etc"))).await;
    assert_eq!(error_code(&recv(&mut bad).await), code(ErrorCode::InvalidParameters));
}

#[tokio::test]
async fn messages_fan_out_to_every_live_instance_of_the_recipient() {
    let server = Server::start(&config(2, ""));
    let (mut bob1, _) = server.login_ok("bob").await;
    let (mut bob2, _) = server.login_ok("bob").await;
    let (mut alice, _) = server.login_ok("alice").await;
    send(
        &mut alice,
        &ClientFrame::SendMessage {
            id: 4,
            to: "bob".into(),
            text: "hello".into(),
            msg_id: None,
        },
    )
    .await;
    let ServerFrame::SendMessageAck { id: 4, seq, .. } = recv(&mut alice).await else {
        panic!("no ack")
    };
    for ws in [&mut bob1, &mut bob2] {
        match recv(ws).await {
            ServerFrame::Message {
                from, to, text, seq: s, ..
            } => {
                assert_eq!(
                    (from.as_str(), to.as_str(), text.as_str(), s),
                    ("alice", "bob", "hello", seq)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_senders_other_instances_get_its_message_and_the_sending_one_only_the_ack() {
    let server = Server::start(&config(2, ""));
    let (mut bob, _) = server.login_ok("bob").await;
    let (mut alice_other, _) = server.login_ok("alice").await;
    let (mut alice, _) = server.login_ok("alice").await;
    let frame = |id, to: &str| ClientFrame::SendMessage {
        id,
        to: to.into(),
        text: "hi".into(),
        msg_id: Some(format!("msg-{id}")),
    };
    send(&mut alice, &frame(5, "bob")).await;
    let ServerFrame::SendMessageAck { id: 5, seq, .. } = recv(&mut alice).await else {
        panic!("no ack")
    };
    for ws in [&mut bob, &mut alice_other] {
        match recv(ws).await {
            ServerFrame::Message {
                from,
                to,
                seq: s,
                msg_id,
                ..
            } => {
                assert_eq!((from.as_str(), to.as_str(), s), ("alice", "bob", seq));
                assert_eq!(msg_id, "msg-5", "the sender's ID on every side");
            }
            other => panic!("{other:?}"),
        }
    }
    // To oneself: the other instance gets it once; the sender again only the ack (the next frame it
    // reads is the reply to its hello, not a copy of the message).
    send(&mut alice, &frame(6, "alice")).await;
    assert!(matches!(
        recv(&mut alice).await,
        ServerFrame::SendMessageAck { id: 6, .. }
    ));
    send(&mut alice, &ClientFrame::Hello { id: 7 }).await;
    assert!(matches!(recv(&mut alice).await, ServerFrame::HelloAck { id: 7, .. }));
    assert!(matches!(recv(&mut alice_other).await, ServerFrame::Message { .. }));
    send(&mut alice_other, &ClientFrame::Hello { id: 8 }).await;
    assert!(matches!(
        recv(&mut alice_other).await,
        ServerFrame::HelloAck { id: 8, .. }
    ));
    // A bad ID is refused; none at all (an older client) gets one made by the server.
    let bad = ClientFrame::SendMessage {
        id: 9,
        to: "bob".into(),
        text: "x".into(),
        msg_id: Some("no spaces allowed".into()),
    };
    send(&mut alice, &bad).await;
    assert_eq!(error_code(&recv(&mut alice).await), code(ErrorCode::InvalidParameters));
    let anonymous = ClientFrame::SendMessage {
        id: 10,
        to: "bob".into(),
        text: "x".into(),
        msg_id: None,
    };
    send(&mut alice, &anonymous).await;
    assert!(matches!(
        recv(&mut alice).await,
        ServerFrame::SendMessageAck { id: 10, .. }
    ));
    match recv(&mut bob).await {
        ServerFrame::Message { msg_id, .. } => assert_eq!(msg_id.len(), 32, "{msg_id}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_loopback_clients_are_not_capped() {
    let server = std::sync::Arc::new(Server::start(&config(1, "")));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let server = std::sync::Arc::clone(&server);
        tasks.push(tokio::spawn(
            async move { server.login_ok(&format!("user{i}")).await.0 },
        ));
    }
    let mut sockets = Vec::new();
    for t in tasks {
        sockets.push(t.await.unwrap());
    }
    let metrics = server.metrics().await;
    assert!(metrics.contains("tim_connections 200\n"), "{metrics}");
    assert!(metrics.contains("tim_instances 200\n"), "{metrics}");
}
