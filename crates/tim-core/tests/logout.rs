//! Logout: the normal path, when not logged in, during a login, when the socket dies, repeated calls.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, TIMEOUT};
use tim_core::{ErrorCode, Response, SessionState};

#[test]
fn logout_sends_the_frame_then_not_ready_then_resolves_then_closes() {
    let mut h = Harness::ready();
    let logout = h.logout();
    assert_eq!(h.session.state(), SessionState::LoggingOut);
    assert!(!h.session.is_ready(), "APIs are refused as soon as logout() is called");
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "1000 send #1 logout",
            "1010 SdkNotReady",
            "1010 done h2 ok Logout",
            "1010 close #1 1000",
            "1010 net disconnected",
        ]
    );
    assert_eq!(h.result(logout), Ok(Response::Logout));
    assert_eq!(h.session.state(), SessionState::LoggedOut);
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoggedOut);
    assert_eq!(h.session.login_user(), "");
}

#[test]
fn logout_while_logged_out_fails_with_2024() {
    let mut h = Harness::new();
    let logout = h.logout();
    assert_eq!(h.error_code(logout), 2024);
    assert!(h.events().is_empty());
    // Also after a completed logout.
    let mut h = Harness::ready();
    h.logout();
    h.settle();
    let again = h.logout();
    assert_eq!(h.error_code(again), ErrorCode::UserNotLoggedIn.code());
}

#[test]
fn logout_during_login_cancels_the_login_then_resolves() {
    let mut h = Harness::new();
    let login = h.login("alice");
    h.run_for(5); // socket open, login frame sent
    let logout = h.logout();
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "0 open #1",
            "0 net connecting",
            "5 send #1 login",
            "5 send #1 logout",
            "5 done h1 err 3005",
            "5 done h2 ok Logout",
            "5 close #1 1000",
            "5 net disconnected",
        ]
    );
    assert_eq!(h.error_code(login), ErrorCode::LoggedOut.code());
    assert_eq!(h.result(logout), Ok(Response::Logout));
    assert!(!h
        .events()
        .iter()
        .any(|(_, e)| matches!(e, tim_core::Event::SdkReady | tim_core::Event::SdkNotReady)));
    assert_eq!(h.session.state(), SessionState::LoggedOut);
}

#[test]
fn logout_before_the_socket_opens_sends_nothing() {
    let mut h = Harness::new();
    let login = h.login("alice");
    let logout = h.logout();
    h.settle();
    assert_eq!(h.error_code(login), 3005);
    assert_eq!(h.result(logout), Ok(Response::Logout));
    assert!(h.server.received.is_empty());
}

#[test]
fn socket_dying_during_logout_still_logs_out_locally() {
    let mut h = Harness::ready();
    h.server.answer_logout = false;
    let logout = h.logout();
    h.run_for(3);
    h.server_close(1006);
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "1000 send #1 logout",
            "1008 SdkNotReady",
            "1008 done h2 ok Logout",
            "1008 net disconnected"
        ]
    );
    assert_eq!(h.result(logout), Ok(Response::Logout));
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 0, "no reconnect after logout");
}

#[test]
fn unanswered_logout_completes_locally_at_the_timeout() {
    let mut h = Harness::ready();
    h.server.answer_logout = false;
    let logout = h.logout();
    h.run_for(TIMEOUT + 1);
    assert_eq!(h.result(logout), Ok(Response::Logout));
    assert_eq!(h.times_of("SdkNotReady"), [1000 + TIMEOUT]);
}

#[test]
fn second_logout_joins_the_first() {
    let mut h = Harness::ready();
    let first = h.logout();
    let second = h.logout();
    h.settle();
    assert_eq!(h.result(first), Ok(Response::Logout));
    assert_eq!(h.result(second), Ok(Response::Logout));
    assert_eq!(h.server.received_names().iter().filter(|n| *n == "logout").count(), 1);
    assert_eq!(h.times_of("SdkNotReady").len(), 1);
}

#[test]
fn login_during_logout_fails_with_8008_not_2025() {
    let mut h = Harness::ready();
    h.logout();
    let login = h.login("alice");
    assert_eq!(h.error_code(login), ErrorCode::LogoutInProgress.code());
    assert_eq!(h.error_code(login), 8008);
    h.settle();
    let later = h.login("alice");
    h.settle();
    assert_eq!(h.result(later), Ok(Response::Login { repeat_login: false }));
}

#[test]
fn server_error_reply_to_logout_still_logs_out() {
    let mut h = Harness::ready();
    h.server.answer_logout = false;
    let logout = h.logout();
    h.run_for(5);
    let id = match h.server.received.last() {
        Some((_, tim_protocol::ClientFrame::Logout { id })) => *id,
        other => panic!("expected logout frame, got {other:?}"),
    };
    h.push(tim_protocol::ServerFrame::Error {
        id: Some(id),
        code: std::num::NonZeroU32::new(80006).unwrap(),
        message: "not logged in".into(),
    });
    h.settle();
    assert_eq!(h.result(logout), Ok(Response::Logout));
    assert_eq!(h.session.state(), SessionState::LoggedOut);
}
