//! Reconnect while logged in: backoff bounds, silent resume with the same instance id, slot gone, hints,
//! failures in flight, and never after kick/logout/destroy/terminal close.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, Reply, TIMEOUT};
use tim_core::{Config, ErrorCode, Event, Input, KickType, NetworkHint, ReconnectPolicy, Response, SessionState};
use tim_protocol::{close, ServerFrame};

#[test]
fn a_dropped_socket_reconnects_and_resumes_silently_with_the_same_instance_id() {
    let mut h = Harness::ready();
    h.server_close(1006);
    h.run_for(3_000);
    let delay = ReconnectPolicy::default().delay_bounds(0);
    let open_at = h.times_of("open #2")[0];
    assert!(
        (1005 + delay.0..=1005 + delay.1).contains(&open_at),
        "reopened at {open_at}"
    );
    assert_eq!(
        h.trace(),
        [
            "1005 net connecting".to_string(),
            format!("{open_at} open #2"),
            format!("{} send #2 resume inst-1", open_at + 5),
            format!("{} net connected", open_at + 15),
        ]
    );
    assert_eq!(h.server.received_names(), ["login", "resume inst-1"]);
    assert_eq!(h.session.state(), SessionState::Ready);
    assert_eq!(h.session.login_user(), "alice");
    // The resumed connection works.
    let send = h.send("bob", "back");
    h.settle();
    assert!(h.result(send).is_ok());
}

#[test]
fn reconnecting_is_still_ready_but_sends_fail_fast_with_2800() {
    let mut h = Harness::ready();
    h.server.accept_sockets = false;
    h.server_close(1006);
    h.settle();
    assert_eq!(h.session.state(), SessionState::Reconnecting);
    assert!(h.session.is_ready());
    let send = h.send("bob", "hi");
    assert_eq!(h.error_code(send), ErrorCode::NetworkError.code());
}

#[test]
fn requests_in_flight_when_the_socket_drops_fail_with_2800() {
    let mut h = Harness::ready();
    h.server.answer_send = false;
    let send = h.send("bob", "hi");
    h.server_close(1006);
    h.settle();
    assert_eq!(h.error_code(send), 2800);
    assert_eq!(h.times_of("done h2 err 2800"), [1005]);
}

#[test]
fn backoff_grows_exponentially_with_jitter_within_documented_bounds() {
    let policy = ReconnectPolicy::default();
    let gaps = |seed: u64| {
        let mut config = Config::new(common::APP, common::URL);
        config.rng_seed = seed;
        let mut h = Harness::with_config(config);
        h.login("alice");
        h.settle();
        h.server.accept_sockets = false; // every attempt fails 5 ms after it opens
        h.server_close(1006);
        h.run_for(10 * 60_000);
        let opens: Vec<u64> = h
            .log
            .iter()
            .filter(|(_, o)| matches!(o, tim_core::Output::OpenSocket { .. }))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(h.events().iter().filter(|(_, e)| *e == Event::SdkNotReady).count(), 0);
        // opens[0] is the login; the first retry waits from the drop at 1005.
        let mut gaps = vec![opens[1] - 1005];
        gaps.extend(opens.windows(2).skip(1).map(|w| w[1] - w[0] - 5));
        gaps
    };
    let seed_a = gaps(1);
    assert!(seed_a.len() > 15, "{seed_a:?}");
    for (attempt, gap) in seed_a.iter().enumerate() {
        let (lo, hi) = policy.delay_bounds(attempt as u32);
        assert!((lo..=hi).contains(gap), "attempt {attempt}: {gap} not in {lo}..={hi}");
    }
    assert!(seed_a.iter().all(|g| *g <= 36_000));
    assert_eq!(gaps(1), seed_a, "same seed, same delays");
    assert_ne!(gaps(2), seed_a, "another seed, other delays");
}

#[test]
fn a_resume_that_finds_the_slot_gone_ends_in_kicked_out_then_not_ready() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Refuse(ErrorCode::InstanceNotFound);
    h.server_close(close::IDLE_TIMEOUT);
    h.run_for(3_000);
    assert_eq!(
        h.user_visible(),
        [
            "net connecting",
            "KickedOut multipleAccount",
            "SdkNotReady",
            "net disconnected"
        ]
    );
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::MultipleAccount));
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1, "no reconnect after the slot is gone");
}

#[test]
fn a_resume_with_an_expired_usersig_ends_in_kicked_out_usersig_expired() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Refuse(ErrorCode::UserSigExpired);
    h.server_close(close::GOING_AWAY);
    h.run_for(3_000);
    assert_eq!(
        h.user_visible(),
        [
            "net connecting",
            "KickedOut userSigExpired",
            "SdkNotReady",
            "net disconnected"
        ]
    );
    assert_eq!(h.session.not_ready_reason(), ErrorCode::KickedOutUserSigExpired);
}

#[test]
fn a_temporary_refusal_of_the_resume_is_retried() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Refuse(ErrorCode::ServerInternal);
    h.server_close(1006);
    h.run_for(2_000);
    h.server.resume_reply = Reply::Ack;
    h.run_for(5_000);
    assert_eq!(h.server.received_names(), ["login", "resume inst-1", "resume inst-1"]);
    assert_eq!(h.user_visible(), ["net connecting", "net connected"]);
}

#[test]
fn a_resume_refused_while_the_servers_registry_is_down_is_retried() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Refuse(ErrorCode::RegistryUnavailable);
    h.server_close(1006);
    h.run_for(2_000);
    h.server.resume_reply = Reply::Ack;
    h.run_for(5_000);
    assert_eq!(h.server.received_names(), ["login", "resume inst-1", "resume inst-1"]);
    assert_eq!(h.user_visible(), ["net connecting", "net connected"]);
}

#[test]
fn a_resume_refused_for_good_reports_the_error_and_goes_not_ready() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Refuse(ErrorCode::UserSigBadSignature);
    h.server_close(1006);
    h.run_for(3_000);
    assert_eq!(
        h.user_visible(),
        ["net connecting", "Error 70009", "SdkNotReady", "net disconnected"]
    );
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoginFailed);
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1);
}

#[test]
fn an_unanswered_resume_times_out_and_the_next_attempt_waits_longer() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Silent;
    h.server_close(1006);
    h.run_for(1_200 + TIMEOUT + 3_000);
    let opens: Vec<u64> = [2, 3].iter().map(|n| h.times_of(&format!("open #{n}"))[0]).collect();
    assert_eq!(h.times_of("close #2 1000"), [opens[0] + TIMEOUT]);
    let gap = opens[1] - (opens[0] + TIMEOUT);
    let (lo, hi) = ReconnectPolicy::default().delay_bounds(1);
    assert!((lo..=hi).contains(&gap), "second attempt after {gap}");
}

#[test]
fn online_hint_retries_at_once_and_offline_reports_disconnected() {
    let mut h = Harness::ready();
    h.server.accept_sockets = false;
    h.server_close(1006);
    h.run_for(20_000); // several failed attempts: now waiting several seconds
    let opened = h.sockets_opened();
    h.network(NetworkHint::Offline);
    h.server.accept_sockets = true;
    h.network(NetworkHint::Online);
    let now = h.now;
    h.settle();
    assert_eq!(h.sockets_opened(), opened + 1);
    let last_open = h
        .log
        .iter()
        .rev()
        .find(|(_, o)| matches!(o, tim_core::Output::OpenSocket { .. }));
    assert_eq!(last_open.map(|(t, _)| *t), Some(now), "the online hint retries at once");
    assert_eq!(
        h.user_visible(),
        ["net connecting", "net disconnected", "net connecting", "net connected"]
    );
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn server_restart_brings_the_client_back_to_ready_without_not_ready() {
    let mut h = Harness::ready();
    h.server.accept_sockets = false; // the server is down for 20 s
    h.server_close(close::GOING_AWAY);
    h.run_for(20_000);
    h.server.accept_sockets = true;
    h.run_for(60_000);
    assert_eq!(h.session.state(), SessionState::Ready);
    assert_eq!(h.user_visible(), ["net connecting", "net connected"]);
    let logins: Vec<String> = h
        .server
        .received_names()
        .into_iter()
        .filter(|n| n.starts_with("login") || n.starts_with("resume"))
        .collect();
    assert_eq!(logins, ["login", "resume inst-1"]);
}

#[test]
fn an_undecodable_frame_reports_8007_and_reconnects() {
    let mut h = Harness::ready();
    let socket = h.server.socket.expect("connected");
    h.input(Input::FrameUndecodable {
        socket,
        error: "binary frame".into(),
    });
    h.run_for(3_000);
    let trace = h.trace();
    assert_eq!(
        trace[..3],
        ["1000 Error 8007", "1000 close #1 4000", "1000 net connecting"]
    );
    assert!(h
        .events()
        .iter()
        .any(|(_, e)| matches!(e, Event::Error { message, .. } if message.contains("binary frame"))));
    assert_eq!(h.session.state(), SessionState::Ready);
    assert_eq!(h.sockets_opened(), 1);
}

#[test]
fn login_as_the_same_user_while_reconnecting_is_a_repeat_and_refreshes_the_usersig() {
    let mut h = Harness::ready();
    h.server.accept_sockets = false;
    h.server_close(1006);
    h.settle();
    let again = h.command(tim_core::Command::Login {
        user_id: "alice".into(),
        user_sig: "fresh".into(),
    });
    assert_eq!(h.result(again), Ok(Response::Login { repeat_login: true }));
    h.server.accept_sockets = true;
    h.run_for(5_000);
    match h.server.received.last() {
        Some((
            _,
            tim_protocol::ClientFrame::Login {
                user_sig, instance_id, ..
            },
        )) => {
            assert_eq!(user_sig, "fresh");
            assert_eq!(instance_id.as_deref(), Some("inst-1"));
        }
        other => panic!("expected a resume, got {other:?}"),
    }
}

#[test]
fn logout_while_reconnecting_logs_out_locally_and_stops_reconnecting() {
    let mut h = Harness::ready();
    h.server.accept_sockets = false;
    h.server_close(1006);
    h.settle();
    let logout = h.logout();
    assert_eq!(h.result(logout), Ok(Response::Logout));
    let opened = h.sockets_opened();
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), opened);
    assert_eq!(
        h.user_visible(),
        ["net connecting", "SdkNotReady", "done h2 ok Logout", "net disconnected"]
    );
}

#[test]
fn a_kick_on_the_resumed_connection_is_final() {
    let mut h = Harness::ready();
    h.server_close(1006);
    h.run_for(3_000);
    h.kick(KickType::MultipleDevice);
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1);
    assert_eq!(
        h.user_visible(),
        [
            "net connecting",
            "net connected",
            "KickedOut multipleDevice",
            "SdkNotReady",
            "net disconnected"
        ]
    );
}

#[test]
fn a_kick_frame_on_the_resume_socket_before_its_ack_is_final() {
    let mut h = Harness::ready();
    h.server.resume_reply = Reply::Silent;
    h.server_close(1006);
    h.run_for(1_300); // the resume socket is open, the resume sent
    h.push(ServerFrame::kicked(KickType::RestApi));
    h.run_for(3_600_000);
    assert_eq!(h.sockets_opened(), 1);
    assert_eq!(h.session.state(), SessionState::Kicked(KickType::RestApi));
}

#[test]
fn terminal_close_codes_are_never_reconnected() {
    for code in [close::KICKED, close::LOGGED_OUT] {
        assert!(close::is_terminal(code));
        let mut h = Harness::ready();
        h.server_close(code);
        h.run_for(3_600_000);
        assert_eq!(h.sockets_opened(), 0, "close {code}");
    }
}
