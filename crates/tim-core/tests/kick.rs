//! Kicks pushed by the server: event order, no reconnect ever, kicks racing a login.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::Harness;
use tim_core::{ErrorCode, Event, KickType, NetworkHint, Platform, Response, SessionState};
use tim_protocol::{close, ServerFrame};

#[test]
fn kick_emits_kicked_out_then_not_ready_and_closes() {
    let mut h = Harness::ready();
    h.kick(KickType::MultipleAccount);
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "1005 KickedOut multipleAccount",
            "1005 SdkNotReady",
            "1005 close #1 1000",
            "1005 net disconnected",
        ]
    );
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleAccount));
    assert_eq!(h.session.login_user(), "");
}

#[test]
fn a_multi_instance_kick_names_the_login_that_took_the_slot() {
    let mut h = Harness::ready();
    h.kick_by(Platform::Wx, 1_764_630_000_123);
    h.settle();
    assert_eq!(
        h.events(),
        [
            (
                1005,
                Event::KickedOut {
                    kick_type: KickType::MultipleAccount,
                    platform: Some(Platform::Wx),
                    time_ms: Some(1_764_630_000_123),
                }
            ),
            (1005, Event::SdkNotReady),
            (
                1005,
                Event::NetStateChange {
                    state: tim_core::NetState::Disconnected
                }
            ),
        ]
    );
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleAccount));
    assert_eq!(h.session.not_ready_reason(), ErrorCode::KickedOutMultAccount);
}

#[test]
fn a_kick_without_the_evicting_login_reports_neither_platform_nor_time() {
    for kick in KickType::ALL {
        let mut h = Harness::ready();
        h.kick(kick);
        h.settle();
        let kicked: Vec<Event> = h
            .events()
            .into_iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e, Event::KickedOut { .. }))
            .collect();
        assert_eq!(
            kicked,
            [Event::KickedOut {
                kick_type: kick,
                platform: None,
                time_ms: None
            }]
        );
    }
}

#[test]
fn a_kick_found_on_resume_names_nobody() {
    // The instance was evicted while the link was down: the resume is refused with 80007, which says
    // nothing about who took the slot.
    let mut h = Harness::ready();
    h.server.resume_reply = common::Reply::Refuse(ErrorCode::InstanceNotFound);
    h.server_close(1006);
    h.run_for(10_000);
    let kicked: Vec<Event> = h
        .events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| matches!(e, Event::KickedOut { .. }))
        .collect();
    assert_eq!(
        kicked,
        [Event::KickedOut {
            kick_type: KickType::MultipleAccount,
            platform: None,
            time_ms: None
        }]
    );
}

#[test]
fn each_kick_type_gives_its_not_ready_reason() {
    for (kick, code) in [
        (KickType::MultipleDevice, 3002),
        (KickType::MultipleAccount, 3003),
        (KickType::UserSigExpired, 3004),
        (KickType::RestApi, 3006),
    ] {
        let mut h = Harness::ready();
        h.kick(kick);
        h.settle();
        assert_eq!(h.session.not_ready_reason().code(), code);
        let send = h.send("bob", "hi");
        assert_eq!(h.error_code(send), code);
        let logout = h.logout();
        assert_eq!(
            h.error_code(logout),
            ErrorCode::UserNotLoggedIn.code(),
            "logout after a kick: 2024"
        );
    }
}

#[test]
fn a_kicked_instance_never_reconnects_in_an_hour_of_trouble() {
    let mut h = Harness::ready();
    h.kick(KickType::MultipleDevice);
    h.settle();
    let opened = h.sockets_opened();
    for minute in 0..60 {
        h.network(if minute % 2 == 0 {
            NetworkHint::Offline
        } else {
            NetworkHint::Online
        });
        h.input(tim_core::Input::Timeout);
        // Late events of the old socket.
        h.input(tim_core::Input::SocketClosed {
            socket: 1,
            code: 1006,
            reason: String::new(),
        });
        h.input(tim_core::Input::FrameReceived {
            socket: 1,
            frame: ServerFrame::kicked(KickType::MultipleAccount),
        });
        h.run_for(60_000);
    }
    assert_eq!(h.sockets_opened(), opened);
    assert_eq!(h.session.poll_timeout(), None);
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleDevice));
    assert_eq!(
        h.events()
            .iter()
            .filter(|(_, e)| matches!(e, Event::KickedOut { .. }))
            .count(),
        1
    );
}

#[test]
fn kicked_is_left_only_by_an_explicit_login() {
    let mut h = Harness::ready();
    h.kick(KickType::MultipleAccount);
    h.settle();
    let login = h.login("alice");
    h.settle();
    assert_eq!(h.result(login), Ok(Response::Login { repeat_login: false }));
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn kick_right_behind_the_login_ack_in_the_same_tick_is_accepted() {
    let mut h = Harness::new();
    let login = h.login("alice");
    h.run_for(5); // login frame sent; the ack arrives at 15
    h.run_for(5); // now 10: the kick lands at 15 too, right behind the ack
    h.kick(KickType::MultipleAccount);
    h.settle();
    assert_eq!(
        h.user_visible(),
        [
            "net connecting",
            "net connected",
            "SdkReady",
            "done h1 ok Login { repeat_login: false }",
            "KickedOut multipleAccount",
            "SdkNotReady",
            "net disconnected",
        ]
    );
    assert_eq!(h.result(login), Ok(Response::Login { repeat_login: false }));
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleAccount));
}

#[test]
fn kick_before_the_login_ack_fails_the_login_with_the_kick_reason() {
    let mut h = Harness::new();
    h.server.login_reply = common::Reply::Silent;
    let login = h.login("alice");
    h.run_for(5);
    h.kick(KickType::MultipleDevice);
    h.settle();
    assert_eq!(
        h.user_visible(),
        [
            "net connecting",
            "KickedOut multipleDevice",
            "done h1 err 3002",
            "net disconnected"
        ]
    );
    assert_eq!(h.error_code(login), 3002);
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleDevice));
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1);
}

#[test]
fn close_4001_without_a_kick_frame_counts_as_a_multiple_account_kick() {
    let mut h = Harness::ready();
    h.server_close(close::KICKED);
    h.settle();
    assert_eq!(
        h.user_visible(),
        ["KickedOut multipleAccount", "SdkNotReady", "net disconnected"]
    );
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 0);
}

#[test]
fn close_4006_logged_out_by_the_server_is_terminal_too() {
    let mut h = Harness::ready();
    h.server_close(close::LOGGED_OUT);
    h.settle();
    assert_eq!(h.user_visible(), ["SdkNotReady", "net disconnected"]);
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoggedOut);
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 0);
}

#[test]
fn kick_during_logout_reports_the_kick_and_resolves_the_logout() {
    let mut h = Harness::ready();
    h.server.answer_logout = false;
    let logout = h.logout();
    h.kick(KickType::RestApi);
    h.settle();
    assert_eq!(
        h.user_visible(),
        [
            "KickedOut REST_API_Kick",
            "SdkNotReady",
            "done h2 ok Logout",
            "net disconnected"
        ]
    );
    assert_eq!(h.result(logout), Ok(Response::Logout));
}

#[test]
fn pending_requests_fail_with_the_kick_reason() {
    let mut h = Harness::ready();
    h.server.answer_send = false;
    let send = h.send("bob", "hi");
    h.kick(KickType::MultipleAccount);
    h.settle();
    assert_eq!(h.error_code(send), 3003);
    assert_eq!(
        h.user_visible(),
        [
            "KickedOut multipleAccount",
            "SdkNotReady",
            "done h2 err 3003",
            "net disconnected"
        ]
    );
}
