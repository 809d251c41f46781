//! The `State.StateChange` callback against a real app backend (a small HTTP server this test runs):
//! the exact sequence of events for each transition, the vendor's query string and signature, retries,
//! and a backend that hangs.

mod common;

use std::time::Duration;

use common::backend::{Backend, Mode, Received};
use common::*;
use tim_protocol::{ClientFrame, ServerFrame};

const TOKEN: &str = "callback-token-1";

/// A config whose APP sends its callbacks to `url` (with a token); `limits` goes inside `[limits]`.
fn callback_config(url: &str, n: u32, limits: &str) -> String {
    format!(
        "listen = \"127.0.0.1:9\"\n\
         [[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = {n}\n\
         callback_url = \"{url}\"\ncallback_token = \"{TOKEN}\"\n\
         [limits]\ncallback_backoff_ms = 50\n{limits}\n"
    )
}

/// `(Action, Reason)` of each event, in order.
fn actions(events: &[Received]) -> Vec<(String, String)> {
    events.iter().map(Received::action_reason).collect()
}

fn pair(a: &str, r: &str) -> (String, String) {
    (a.to_string(), r.to_string())
}

/// Waits for `n` deliveries, then a quiet `settle` in which nothing more may arrive.
async fn exactly(backend: &Backend, n: usize, settle: Duration) -> Vec<Received> {
    let got = backend.wait_delivered(n, Duration::from_secs(10)).await;
    assert!(got.len() >= n, "expected {n} callbacks, got {:?}", actions(&got));
    tokio::time::sleep(settle).await;
    let got = backend.received();
    assert_eq!(got.len(), n, "expected exactly {n} callbacks, got {:?}", actions(&got));
    got
}

#[tokio::test]
async fn login_sends_login_register_with_the_vendor_query_and_signature() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, ""));
    let (_ws, _) = server.login_ok("alice").await;
    let events = exactly(&backend, 1, Duration::from_millis(300)).await;
    let e = &events[0];
    assert_eq!(e.path, "/callback");
    assert_eq!(e.action_reason(), pair("Login", "Register"));
    assert_eq!(e.account(), "alice");
    assert_eq!(
        e.kicked(),
        Some(vec![]),
        "a login that evicted nobody lists no KickedDevice"
    );
    assert_eq!(e.body["CallbackCommand"], "State.StateChange");
    let event_time = e.body["EventTime"].as_u64().expect("EventTime in ms");
    assert!(event_time.abs_diff(now_secs() * 1000) < 60_000, "{event_time}");
    let q = &e.query;
    assert_eq!(q["SdkAppid"], APP.to_string());
    assert_eq!(q["CallbackCommand"], "State.StateChange");
    assert_eq!(q["contenttype"], "json");
    assert_eq!(q["ClientIP"], "127.0.0.1");
    assert_eq!(q["OptPlatform"], "node");
    let request_time: u64 = q["RequestTime"].parse().unwrap();
    assert_eq!(q["Sign"], sha256_hex(&format!("{TOKEN}{request_time}")));
}

#[tokio::test]
async fn logout_sends_logout_unregister() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, ""));
    let (mut ws, _) = server.login_ok("alice").await;
    send(&mut ws, &ClientFrame::Logout { id: 2 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::LogoutAck { .. }));
    let events = exactly(&backend, 2, Duration::from_millis(300)).await;
    assert_eq!(
        actions(&events),
        [pair("Login", "Register"), pair("Logout", "Unregister")]
    );
    assert_eq!(events[1].kicked(), None);
}

#[tokio::test]
async fn a_kick_by_a_second_login_is_one_login_listing_the_kicked_device() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, "resume_grace_ms = 200"));
    let (mut first, _) = server.login_ok("alice").await;
    backend.wait_delivered(1, Duration::from_secs(5)).await;
    let (_second, _) = server.login_ok("alice").await;
    let (frames, _) = until_close(&mut first, Duration::from_secs(5)).await;
    assert!(matches!(frames[..], [ServerFrame::Kicked { .. }]), "{frames:?}");
    // Past the kicked connection's close and the grace: still nothing for the kicked instance.
    let events = exactly(&backend, 2, Duration::from_millis(800)).await;
    assert_eq!(actions(&events), [pair("Login", "Register"), pair("Login", "Register")]);
    assert_eq!(events[1].kicked(), Some(vec!["node".to_string()]));
}

#[tokio::test]
async fn a_cut_socket_past_the_grace_is_disconnect_linkclose() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, "resume_grace_ms = 300"));
    let (ws, _) = server.login_ok("alice").await;
    drop(ws); // the TCP connection goes away without a logout
    let events = exactly(&backend, 2, Duration::from_millis(300)).await;
    assert_eq!(
        actions(&events),
        [pair("Login", "Register"), pair("Disconnect", "LinkClose")]
    );
    assert_eq!(events[1].query["OptPlatform"], "node");
    assert_eq!(events[1].account(), "alice");
}

#[tokio::test]
async fn a_silent_peer_is_disconnect_timeout() {
    let backend = Backend::start(Mode::Ok).await;
    let limits = "idle_timeout_ms = 500\nhello_interval_ms = 100\nresume_grace_ms = 60000";
    let server = Server::start(&callback_config(&backend.url, 1, limits));
    let (mut ws, _) = server.login_ok("alice").await;
    // Say nothing: the server closes the connection on its idle timeout.
    let (_, code) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, Some(tim_protocol::close::IDLE_TIMEOUT));
    let events = exactly(&backend, 2, Duration::from_millis(300)).await;
    assert_eq!(
        actions(&events),
        [pair("Login", "Register"), pair("Disconnect", "TimeOut")]
    );
}

#[tokio::test]
async fn a_resume_within_the_grace_sends_nothing() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, "resume_grace_ms = 1500"));
    let (ws, instance) = server.login_ok("alice").await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ws = server.connect().await;
    send(&mut ws, &login_frame(1, APP, "alice", &sig("alice"), Some(&instance))).await;
    match recv(&mut ws).await {
        ServerFrame::LoginAck { resumed, .. } => assert!(resumed),
        other => panic!("{other:?}"),
    }
    // Past the original grace: no Disconnect, no second Login.
    let events = exactly(&backend, 1, Duration::from_millis(2000)).await;
    assert_eq!(actions(&events), [pair("Login", "Register")]);
    send(&mut ws, &ClientFrame::Logout { id: 2 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::LogoutAck { .. }));
    let events = exactly(&backend, 2, Duration::from_millis(200)).await;
    assert_eq!(events[1].action_reason(), pair("Logout", "Unregister"));
}

#[tokio::test]
async fn a_rest_kick_sends_logout_kicked_from_restapi() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, "resume_grace_ms = 200"));
    let (mut ws, _) = server.login_ok("alice").await;
    backend.wait_delivered(1, Duration::from_secs(5)).await;
    let reply = server
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"alice"}"#)
        .await;
    assert_eq!(reply["ActionStatus"], "OK");
    until_close(&mut ws, Duration::from_secs(5)).await;
    // The admin's own authentication is no login: only alice's transitions are reported.
    let events = exactly(&backend, 2, Duration::from_millis(600)).await;
    assert_eq!(actions(&events), [pair("Login", "Register"), pair("Logout", "Kicked")]);
    assert_eq!(events[1].query["OptPlatform"], "RESTAPI");
    assert_eq!(events[1].account(), "alice");
}

#[tokio::test]
async fn a_backend_answering_500_is_retried_and_the_event_delivered_once() {
    let backend = Backend::start(Mode::FailFirst(2)).await;
    let server = Server::start(&callback_config(&backend.url, 1, "callback_max_attempts = 5"));
    let (_ws, _) = server.login_ok("alice").await;
    let delivered = backend.wait_delivered(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all = backend.received();
    let statuses: Vec<Option<u16>> = all.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Some(500), Some(500), Some(200)],
        "retried until 200, then stopped"
    );
    assert!(
        all.iter().all(|r| r.body == delivered[0].body),
        "the same event each time"
    );
    assert_eq!(backend.delivered().len(), 1);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tim_callbacks_total{result=\"retried\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tim_callbacks_total{result=\"delivered\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_backend_that_hangs_does_not_hold_up_logins() {
    let backend = Backend::start(Mode::Hang).await;
    let server = Server::start(&callback_config(
        &backend.url,
        1,
        "callback_timeout_ms = 60000\ncallback_max_attempts = 1",
    ));
    let (_first, _) = server.login_ok("user0").await;
    // The backend now holds the first callback unanswered, for up to a minute.
    let got = backend.wait_received(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let mut sockets = Vec::new();
    for i in 1..20 {
        let (ws, reply) = server.login(&format!("user{i}"), &sig(&format!("user{i}"))).await;
        assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
        sockets.push(ws);
    }
    // Every login completed while the first callback was still hanging (delivery is sequential, so the
    // others are still queued behind it).
    assert_eq!(
        backend.received().len(),
        1,
        "the backend still holds only the first request"
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains("tim_logins_total{result=\"ok\"} 20\n"), "{metrics}");
    assert!(
        !metrics.contains("tim_callbacks_total{result=\"delivered\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_and_counts_it() {
    let backend = Backend::start(Mode::Hang).await;
    let server = Server::start(&callback_config(
        &backend.url,
        1,
        "callback_timeout_ms = 60000\ncallback_max_attempts = 1\ncallback_queue = 3",
    ));
    let (_first, _) = server.login_ok("user0").await;
    backend.wait_received(1, Duration::from_secs(5)).await;
    let mut sockets = Vec::new();
    for i in 1..=5 {
        let (ws, _) = server.login_ok(&format!("user{i}")).await;
        sockets.push(ws);
    }
    // user0's event is in flight; user1..5 queued into 3 places: the two oldest were dropped.
    wait_for_metric(&server, "tim_callbacks_total{result=\"dropped\"} 2\n").await;
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
