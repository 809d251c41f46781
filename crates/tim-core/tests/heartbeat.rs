//! Heartbeat: hello at the interval of the login reply, dead-connection detection, network-hint probes.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, HELLO, TIMEOUT};
use tim_core::{NetworkHint, SessionState, MAX_HELLO_INTERVAL_MS, MIN_HELLO_INTERVAL_MS};
use tim_protocol::ServerFrame;

fn hello_times(h: &Harness) -> Vec<u64> {
    h.log
        .iter()
        .filter(|(_, o)| common::describe(o).ends_with(" hello"))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn hello_goes_out_every_interval_from_the_login_reply() {
    let mut h = Harness::ready(); // ack at 15
    h.run_until(4 * HELLO + 100);
    assert_eq!(
        hello_times(&h),
        [15 + HELLO, 15 + 2 * HELLO, 15 + 3 * HELLO, 15 + 4 * HELLO]
    );
    assert_eq!(h.session.state(), SessionState::Ready);
    assert!(h.events().is_empty(), "a healthy heartbeat is silent: {:?}", h.events());
}

#[test]
fn the_interval_comes_from_the_ack_and_is_clamped() {
    for (given, used) in [
        (5_000, 5_000),
        (0, MIN_HELLO_INTERVAL_MS),
        (u64::MAX, MAX_HELLO_INTERVAL_MS),
    ] {
        let mut h = Harness::new();
        h.server.hello_interval_ms = given;
        h.login("alice");
        h.run_until(15 + used + 1);
        assert_eq!(hello_times(&h), [15 + used], "server said {given}");
    }
}

#[test]
fn silence_past_interval_plus_timeout_is_a_dead_connection_and_reconnects_silently() {
    let mut h = Harness::ready();
    h.server.answer_hello = false; // half-open: the socket stays, nothing comes back
    h.run_until(15 + HELLO + TIMEOUT + 2_000);
    let dead_at = 15 + HELLO + TIMEOUT;
    assert_eq!(h.times_of("close #1 1000"), [dead_at]);
    assert_eq!(h.times_of("net connecting"), [dead_at]);
    assert!(
        !h.user_visible().iter().any(|l| l == "SdkNotReady" || l == "SdkReady"),
        "{:?}",
        h.user_visible()
    );
    assert!(
        h.trace().iter().any(|l| l.ends_with("send #2 resume inst-1")),
        "{:?}",
        h.trace()
    );
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn any_inbound_frame_keeps_the_connection_alive() {
    let mut h = Harness::ready();
    h.server.answer_hello = false;
    for _ in 0..10 {
        h.run_for(20_000);
        h.push(ServerFrame::Message {
            from: "bob".into(),
            to: "alice".into(),
            text: "ping".into(),
            seq: 1,
            time_ms: 0,
            msg_id: "m".into(),
        });
    }
    h.settle();
    assert_eq!(h.sockets_opened(), 0, "{:?}", h.trace());
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn a_network_hint_probes_a_live_connection_and_it_survives() {
    let mut h = Harness::ready();
    h.run_until(5_000);
    h.network(NetworkHint::Online);
    h.run_for(TIMEOUT + 1_000);
    assert_eq!(hello_times(&h), [5_000]);
    assert_eq!(h.sockets_opened(), 0);
}

#[test]
fn a_network_hint_on_a_dead_connection_detects_it_within_the_timeout() {
    let mut h = Harness::ready();
    h.run_until(5_000);
    h.cut(); // half-open: no close will ever come
    h.network(NetworkHint::Offline);
    h.run_for(TIMEOUT + 1);
    assert_eq!(h.times_of("close #1 1000"), [5_000 + TIMEOUT], "{:?}", h.trace());
    assert_eq!(
        h.times_of("net disconnected"),
        [5_000 + TIMEOUT],
        "offline: disconnected, not connecting"
    );
    assert_eq!(h.session.state(), SessionState::Reconnecting);
}
