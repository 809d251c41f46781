//! `destroy()`: close, fail everything pending with 8005, `SDK_NOT_READY` only if it was ready, then inert.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, Reply};
use tim_core::{ErrorCode, Input, NetworkHint, SessionState};

#[test]
fn destroy_while_ready_says_goodbye_and_fails_pending_requests() {
    let mut h = Harness::ready();
    h.server.answer_send = false;
    let send = h.send("bob", "hi");
    h.input(Input::Destroy);
    assert_eq!(
        h.trace(),
        [
            "1000 send #1 sendMessage bob hi",
            "1000 send #1 logout",
            "1000 SdkNotReady",
            "1000 done h2 err 8005",
            "1000 close #1 1000",
            "1000 net disconnected",
        ]
    );
    assert_eq!(h.error_code(send), ErrorCode::SdkDestroyed.code());
    assert_eq!(h.session.state(), SessionState::Destroyed);
    assert_eq!(h.session.poll_timeout(), None);
}

#[test]
fn destroy_during_login_fails_the_login_and_never_says_not_ready() {
    let mut h = Harness::new();
    h.server.login_reply = Reply::Silent;
    let login = h.login("alice");
    h.input(Input::Destroy);
    assert_eq!(h.error_code(login), 8005);
    assert_eq!(
        h.user_visible(),
        ["net connecting", "done h1 err 8005", "net disconnected"]
    );
}

#[test]
fn destroy_during_logout_fails_the_logout_with_8005() {
    let mut h = Harness::ready();
    let logout = h.logout();
    h.input(Input::Destroy);
    assert_eq!(h.error_code(logout), 8005);
    assert_eq!(h.times_of("SdkNotReady").len(), 1);
}

#[test]
fn a_destroyed_session_stays_inert() {
    let mut h = Harness::ready();
    h.server_close(1006); // a reconnect would be due
    h.run_for(500);
    assert_eq!(h.session.state(), SessionState::Reconnecting);
    h.input(Input::Destroy);
    h.network(NetworkHint::Online);
    h.run_for(3_600_000);
    let login = h.login("alice");
    assert_eq!(h.error_code(login), 8005);
    assert_eq!(h.sockets_opened(), 0, "no socket after destroy: {:?}", h.trace());
    assert_eq!(
        h.user_visible(),
        ["net connecting", "SdkNotReady", "net disconnected", "done h2 err 8005"]
    );
}

#[test]
fn destroy_while_logged_out_is_quiet() {
    let mut h = Harness::new();
    h.input(Input::Destroy);
    assert!(h.trace().is_empty());
    assert_eq!(h.session.not_ready_reason(), ErrorCode::SdkDestroyed);
}
