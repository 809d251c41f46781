//! Login: the happy path, repeats, concurrent calls, bad arguments, refusals, failures to connect.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, Reply, APP, TIMEOUT, URL};
use tim_core::{Command, Config, ErrorCode, Output, Response, SessionState};
use tim_protocol::{ClientFrame, Platform, PROTOCOL_VERSION};

#[test]
fn login_opens_sends_login_and_emits_ready_before_resolving() {
    let mut h = Harness::new();
    let login = h.login("alice");
    assert_eq!(h.session.state(), SessionState::LoggingIn);
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "0 open #1",
            "0 net connecting",
            "5 send #1 login",
            "15 net connected",
            "15 SdkReady",
            "15 done h1 ok Login { repeat_login: false }",
        ]
    );
    assert_eq!(h.result(login), Ok(Response::Login { repeat_login: false }));
    assert_eq!(h.session.state(), SessionState::Ready);
    assert!(h.session.is_ready());
    assert_eq!(h.session.login_user(), "alice");
}

#[test]
fn without_a_transport_a_good_login_fails_with_8004_and_opens_nothing() {
    let mut config = Config::new(APP, URL);
    config.transport_available = false;
    let mut h = Harness::with_config(config);
    let bad = h.command(Command::Login {
        user_id: String::new(),
        user_sig: "s".into(),
    });
    let good = h.login("alice");
    h.settle();
    // Bad arguments keep their own code; only a login that would open a socket reports the missing one.
    assert_eq!(h.error_code(bad), ErrorCode::NoIdentifier.code());
    assert_eq!(h.error_code(good), ErrorCode::NoWebSocket.code());
    assert_eq!(h.sockets_opened(), 0);
    assert_eq!(h.session.state(), SessionState::LoggedOut);
    assert_eq!(h.session.not_ready_reason(), ErrorCode::UserNotLoggedIn);
}

#[test]
fn login_frame_carries_version_app_platform_and_no_instance_id() {
    let mut config = Config::new(APP, URL);
    config.platform = Platform::Wx;
    let mut h = Harness::with_config(config);
    h.login("alice");
    h.settle();
    assert!(matches!(&h.log[0].1, Output::OpenSocket { url, .. } if url == URL));
    let (_, frame) = &h.server.received[0];
    match frame {
        ClientFrame::Login {
            version,
            sdk_app_id,
            user_id,
            user_sig,
            platform,
            instance_id,
            ..
        } => {
            assert_eq!(*version, PROTOCOL_VERSION);
            assert_eq!(*sdk_app_id, APP);
            assert_eq!(user_id, "alice");
            assert_eq!(user_sig, "sig-of-alice");
            assert_eq!(*platform, Platform::Wx);
            assert_eq!(*instance_id, None);
        }
        other => panic!("expected login, got {other:?}"),
    }
}

#[test]
fn login_again_as_the_same_user_while_ready_is_a_repeat_login_without_a_second_ready() {
    let mut h = Harness::ready();
    let frames_before = h.server.received.len();
    let again = h.login("alice");
    h.settle();
    assert_eq!(h.trace(), ["1000 done h2 ok Login { repeat_login: true }"]);
    assert_eq!(h.result(again), Ok(Response::Login { repeat_login: true }));
    assert_eq!(h.server.received.len(), frames_before, "no frame for a repeat login");
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn login_while_a_login_is_in_flight_fails_with_2025_and_the_first_still_succeeds() {
    let mut h = Harness::new();
    let first = h.login("alice");
    let second = h.login("alice");
    assert_eq!(h.error_code(second), ErrorCode::RepeatLogin.code());
    h.settle();
    assert_eq!(h.result(first), Ok(Response::Login { repeat_login: false }));
    assert_eq!(h.sockets_opened(), 1);
}

#[test]
fn login_as_another_user_while_ready_fails_with_8001() {
    let mut h = Harness::ready();
    let bob = h.login("bob");
    assert_eq!(h.error_code(bob), ErrorCode::AnotherUserLoggedIn.code());
    assert_eq!(h.error_code(bob), 8001);
    assert_eq!(h.session.login_user(), "alice");
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn bad_arguments_fail_without_opening_a_socket() {
    let cases = [
        ("", "sig", ErrorCode::NoIdentifier),
        ("alice", "", ErrorCode::NoUserSig),
        (
            "a very long user id that exceeds 32 bytes",
            "sig",
            ErrorCode::InvalidUserId,
        ),
        ("tab\there", "sig", ErrorCode::InvalidUserId),
    ];
    for (user_id, user_sig, code) in cases {
        let mut h = Harness::new();
        let handle = h.command(Command::Login {
            user_id: user_id.into(),
            user_sig: user_sig.into(),
        });
        assert_eq!(h.error_code(handle), code.code(), "{user_id:?}/{user_sig:?}");
        assert_eq!(h.sockets_opened(), 0);
        assert_eq!(h.session.state(), SessionState::LoggedOut);
        assert_eq!(h.session.not_ready_reason(), ErrorCode::UserNotLoggedIn);
    }
}

#[test]
fn missing_app_id_or_bad_url_fails_without_opening_a_socket() {
    let mut h = Harness::with_config(Config::new(0, URL));
    let handle = h.login("alice");
    assert_eq!(h.error_code(handle), 2000);
    let mut h = Harness::with_config(Config::new(APP, "http://example.com/ws"));
    let handle = h.login("alice");
    assert_eq!(h.error_code(handle), ErrorCode::InvalidServerUrl.code());
    assert_eq!(h.sockets_opened(), 0);
}

#[test]
fn server_refusal_rejects_with_the_servers_code_closes_and_never_says_not_ready() {
    let mut h = Harness::new();
    h.server.login_reply = Reply::Refuse(ErrorCode::UserSigBadSignature);
    let login = h.login("alice");
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "0 open #1",
            "0 net connecting",
            "5 send #1 login",
            "15 done h1 err 70009",
            "15 close #1 1000",
            "15 net disconnected"
        ]
    );
    let error = h.result(login).unwrap_err();
    assert_eq!(error.message, ErrorCode::UserSigBadSignature.message());
    assert_eq!(h.session.state(), SessionState::LoggedOut);
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoginFailed);
    assert_eq!(h.session.login_user(), "");
    // A later login works.
    h.server.login_reply = Reply::Ack;
    let retry = h.login("alice");
    h.settle();
    assert_eq!(h.result(retry), Ok(Response::Login { repeat_login: false }));
}

#[test]
fn a_fresh_login_refused_while_the_servers_registry_is_down_rejects_with_80012() {
    let mut h = Harness::new();
    h.server.login_reply = Reply::Refuse(ErrorCode::RegistryUnavailable);
    let login = h.login("alice");
    h.settle();
    let error = h.result(login).unwrap_err();
    assert_eq!(error.code, ErrorCode::RegistryUnavailable.code());
    assert_eq!(h.session.state(), SessionState::LoggedOut);
    h.server.login_reply = Reply::Ack;
    let retry = h.login("alice");
    h.settle();
    assert_eq!(h.result(retry), Ok(Response::Login { repeat_login: false }));
}

#[test]
fn socket_failing_to_open_rejects_the_login_with_2800() {
    let mut h = Harness::new();
    h.server.accept_sockets = false;
    let login = h.login("alice");
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "0 open #1",
            "0 net connecting",
            "5 done h1 err 2800",
            "5 net disconnected"
        ]
    );
    assert_eq!(h.error_code(login), ErrorCode::NetworkError.code());
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoginFailed);
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1, "a failed login is not retried");
}

#[test]
fn unanswered_login_times_out_with_2801() {
    let mut h = Harness::new();
    h.server.login_reply = Reply::Silent;
    let login = h.login("alice");
    h.run_for(TIMEOUT + 1_000);
    assert_eq!(h.error_code(login), ErrorCode::NetworkTimeout.code());
    assert_eq!(h.times_of("done h1 err 2801"), [TIMEOUT]);
    assert_eq!(h.times_of("close #1 1000"), [TIMEOUT]);
    assert_eq!(h.session.state(), SessionState::LoggedOut);
}

#[test]
fn connection_level_error_during_login_rejects_with_it() {
    let mut h = Harness::new();
    h.server.login_reply = Reply::Silent;
    let login = h.login("alice");
    h.run_for(5);
    h.push(tim_protocol::ServerFrame::Error {
        id: None,
        code: std::num::NonZeroU32::new(80001).unwrap(),
        message: "version".into(),
    });
    h.settle();
    assert_eq!(h.error_code(login), ErrorCode::UnsupportedProtocolVersion.code());
    assert_eq!(h.session.state(), SessionState::LoggedOut);
}
