//! The `State.StateChange` callback against a real app backend (a small HTTP server this test runs):
//! the exact sequence of events for each transition, the vendor's query string and signature, retries,
//! a backend that hangs, one app's stalled backend beside another app's, kept-alive connections and
//! https with a CA the config names.

mod common;

use std::time::{Duration, Instant};

use common::backend::{Backend, Mode, Received};
use common::redis::Redis;
use common::*;
use tim_protocol::{ClientFrame, KickType, Platform, ServerFrame};
use tokio_tungstenite::MaybeTlsStream;

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

/// Connects to `server` from the loopback address `from` (127.0.0.0/8), so that the instance's address
/// differs from the test's other connections (the admin API's calls come from 127.0.0.1).
async fn connect_from(server: &Server, from: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(server.addr.parse().unwrap()).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(&server.url, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade");
    ws
}

/// Logs `user` in on `server` from the address `from`; returns the socket.
async fn login_from(server: &Server, user: &str, from: &str) -> Ws {
    let mut ws = connect_from(server, from).await;
    send(&mut ws, &login_frame(1, APP, user, &sig(user), None)).await;
    match recv(&mut ws).await {
        ServerFrame::LoginAck { .. } => ws,
        other => panic!("login of {user} from {from} failed: {other:?}"),
    }
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
    let ws = login_from(&server, "alice", "127.0.0.2").await;
    drop(ws); // the TCP connection goes away without a logout
    let events = exactly(&backend, 2, Duration::from_millis(300)).await;
    assert_eq!(
        actions(&events),
        [pair("Login", "Register"), pair("Disconnect", "LinkClose")]
    );
    assert_eq!(events[1].query["OptPlatform"], "node");
    assert_eq!(events[1].account(), "alice");
    // The sweep that freed the slot has no connection: ClientIP is where the instance last was.
    assert_eq!(events[0].query["ClientIP"], "127.0.0.2");
    assert_eq!(events[1].query["ClientIP"], "127.0.0.2");
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
    let mut ws = login_from(&server, "alice", "127.0.0.2").await;
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
    // Where the kicked instance was, not where the admin called from (127.0.0.1).
    assert_eq!(events[1].query["ClientIP"], "127.0.0.2");
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
        metrics.contains("tim_callbacks_total{app=\"1400000000\",result=\"retried\"} 2\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tim_callbacks_total{app=\"1400000000\",result=\"delivered\"} 1\n"),
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
        !metrics.contains("tim_callbacks_total{app=\"1400000000\",result=\"delivered\"}"),
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
    wait_for_metric(
        &server,
        "tim_callbacks_total{app=\"1400000000\",result=\"dropped\"} 2\n",
    )
    .await;
}

/// Three real nodes on one real Redis, one app whose callbacks go to this test's backend: a login, a
/// kick by a login on another node, a logout, a grace expiry and a REST kick, spread over the nodes.
/// Each transition is delivered exactly once (by the node whose registry operation caused it), never
/// once per node, and the ones no connection is left for (grace expiry, REST kick) carry the address
/// the instance was at, which only Redis holds when another node frees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_redis_deliver_each_transition_exactly_once() {
    let redis = Redis::start();
    let backend = Backend::start(Mode::Ok).await;
    let nodes: Vec<Server> = (0..3)
        .map(|i| {
            Server::start(&format!(
                "{}[registry]\nengine = \"redis\"\nurl = \"{}\"\nnode_id = \"node-{i}\"\n\
                 reconcile_interval_ms = 1000\nnode_ttl_ms = 1500\n",
                callback_config(&backend.url, 1, "resume_grace_ms = 300"),
                redis.url()
            ))
        })
        .collect();
    let step = |n: usize| backend.wait_delivered(n, Duration::from_secs(10));

    // A login on node 0.
    let mut first = login_from(&nodes[0], "alice", "127.0.0.2").await;
    assert_eq!(step(1).await.len(), 1);
    // A login on node 1 takes the slot (N = 1): node 0's instance is kicked, naming it.
    let before = now_ms();
    let mut second = login_from(&nodes[1], "alice", "127.0.0.3").await;
    let after = now_ms();
    let (frames, _) = until_close(&mut first, Duration::from_secs(5)).await;
    assert_evicted_by(&frames, Platform::Node, before..=after);
    assert_eq!(step(2).await.len(), 2);
    // A logout on node 1.
    send(&mut second, &ClientFrame::Logout { id: 2 }).await;
    assert!(matches!(recv(&mut second).await, ServerFrame::LogoutAck { .. }));
    assert_eq!(step(3).await.len(), 3);
    // A cut socket on node 2, past the grace: some node's sweep frees it.
    let third = login_from(&nodes[2], "alice", "127.0.0.4").await;
    assert_eq!(step(4).await.len(), 4);
    drop(third);
    assert_eq!(step(5).await.len(), 5);
    // A login on node 0, kicked through node 1's admin API.
    let mut fourth = login_from(&nodes[0], "alice", "127.0.0.5").await;
    assert_eq!(step(6).await.len(), 6);
    let reply = nodes[1]
        .admin("/v4/im_open_login_svc/kick", r#"{"UserID":"alice"}"#)
        .await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
    let (frames, _) = until_close(&mut fourth, Duration::from_secs(5)).await;
    assert_eq!(frames, [ServerFrame::kicked(KickType::RestApi)]);

    // Past several sweeps and reconciliations of every node: nothing more.
    let events = exactly(&backend, 7, Duration::from_millis(2500)).await;
    assert_eq!(
        actions(&events),
        [
            pair("Login", "Register"),
            pair("Login", "Register"),
            pair("Logout", "Unregister"),
            pair("Login", "Register"),
            pair("Disconnect", "LinkClose"),
            pair("Login", "Register"),
            pair("Logout", "Kicked"),
        ]
    );
    assert_eq!(events[1].kicked(), Some(vec!["node".to_string()]));
    let ips: Vec<&str> = events.iter().map(|e| e.query["ClientIP"].as_str()).collect();
    assert_eq!(
        ips,
        [
            "127.0.0.2",
            "127.0.0.3",
            "127.0.0.3",
            "127.0.0.4",
            "127.0.0.4",
            "127.0.0.5",
            "127.0.0.5"
        ]
    );
    assert!(events.iter().all(|e| e.account() == "alice"));
    assert_eq!(events[6].query["OptPlatform"], "RESTAPI");
    // Delivered once in all: the three nodes' counters add up to the seven events.
    let mut delivered = 0;
    for node in &nodes {
        let metrics = node.metrics().await;
        delivered += metrics
            .lines()
            .find_map(|l| l.strip_prefix("tim_callbacks_total{app=\"1400000000\",result=\"delivered\"} "))
            .map_or(0, |v| v.parse::<u64>().unwrap());
    }
    assert_eq!(delivered, 7);
}

/// A config of the two test apps: APP's callbacks go to `url_a`, OTHER_APP's to `url_b` (both signed).
fn two_apps_config(url_a: &str, url_b: &str, limits: &str) -> String {
    format!(
        "listen = \"127.0.0.1:9\"\n\
         [[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\n\
         callback_url = \"{url_a}\"\ncallback_token = \"{TOKEN}\"\n\
         [[app]]\nsdkappid = {OTHER_APP}\nsecret_key = \"{OTHER_KEY}\"\n\
         callback_url = \"{url_b}\"\ncallback_token = \"{TOKEN}\"\n\
         [limits]\n{limits}\n"
    )
}

/// Logs `user` of OTHER_APP in; returns the socket and when the login frame was sent.
async fn login_other_app(server: &Server, user: &str) -> (Ws, Instant) {
    let mut ws = server.connect().await;
    let sig = tim_usersig::gen_usersig(OTHER_APP, OTHER_KEY, user, 86_400, now_secs(), None);
    let sent = Instant::now();
    send(&mut ws, &login_frame(1, OTHER_APP, user, &sig, None)).await;
    match recv(&mut ws).await {
        ServerFrame::LoginAck { .. } => (ws, sent),
        other => panic!("login of {user} (OTHER_APP) failed: {other:?}"),
    }
}

/// `count` callbacks of `app` by outcome, read from the metrics text (0 when absent).
fn callback_count(metrics: &str, app: u64, result: &str) -> u64 {
    let prefix = format!("tim_callbacks_total{{app=\"{app}\",result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map_or(0, |v| v.parse().unwrap())
}

/// App A (APP) has a stalled backend at `url_a`; app B (OTHER_APP) a working one. Over several logins
/// of both apps, each of B's `Login` callbacks reaches B's backend within 100 ms of its login frame
/// being sent, while A's are still stuck. Returns B's delays.
async fn b_is_not_delayed_by_a(server: &Server, backend_b: &Backend, events: usize, a_is: &str) -> Vec<Duration> {
    let mut sockets = Vec::new();
    let mut delays = Vec::new();
    for i in 0..events {
        // One more event for A's stuck queue, then one for B's.
        let (ws, _) = server.login_ok(&format!("a{i}")).await;
        sockets.push(ws);
        let (ws, sent) = login_other_app(server, &format!("b{i}")).await;
        sockets.push(ws);
        let got = backend_b.wait_delivered(i + 1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), i + 1, "B's callback for b{i} never arrived");
        let arrived = &got[i];
        assert_eq!(arrived.account(), format!("b{i}"));
        assert_eq!(arrived.query["SdkAppid"], OTHER_APP.to_string());
        let delay = arrived.at.saturating_duration_since(sent);
        delays.push(delay);
    }
    println!("app B callback delays while app A's backend {a_is}: {delays:?}");
    for (i, delay) in delays.iter().enumerate() {
        assert!(
            *delay < Duration::from_millis(100),
            "B's callback {i} took {delay:?} (all: {delays:?})"
        );
    }
    delays
}

#[tokio::test]
async fn one_apps_hanging_backend_does_not_delay_another_apps_callbacks() {
    let backend_a = Backend::start(Mode::Hang).await;
    let backend_b = Backend::start(Mode::Ok).await;
    let server = Server::start(&two_apps_config(
        &backend_a.url,
        &backend_b.url,
        "callback_timeout_ms = 60000\ncallback_max_attempts = 1",
    ));
    // A's backend accepts A's first callback and never answers it (for up to a minute).
    let (_a, _) = server.login_ok("a-first").await;
    assert_eq!(backend_a.wait_received(1, Duration::from_secs(5)).await.len(), 1);
    b_is_not_delayed_by_a(&server, &backend_b, 6, "hangs").await;
    // A's worker is still waiting on its first request; its other six events wait behind it.
    assert_eq!(
        backend_a.received().len(),
        1,
        "A's backend holds only the first request"
    );
    let metrics = server.metrics().await;
    assert_eq!(callback_count(&metrics, OTHER_APP, "delivered"), 6, "{metrics}");
    assert_eq!(callback_count(&metrics, APP, "delivered"), 0, "{metrics}");
    assert_eq!(callback_count(&metrics, APP, "failed"), 0, "{metrics}");
}

#[tokio::test]
async fn one_apps_refusing_backend_does_not_delay_another_apps_callbacks() {
    // Nothing listens at A's URL: every attempt is refused at once, then retried after 100, 200, 400 ms.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url_a = format!("http://{}/callback", closed.local_addr().unwrap());
    drop(closed);
    let backend_b = Backend::start(Mode::Ok).await;
    let server = Server::start(&two_apps_config(
        &url_a,
        &backend_b.url,
        "callback_backoff_ms = 100\ncallback_max_attempts = 4",
    ));
    let (_a, _) = server.login_ok("a-first").await;
    wait_for_metric(
        &server,
        &format!("tim_callbacks_total{{app=\"{APP}\",result=\"retried\"}}"),
    )
    .await;
    b_is_not_delayed_by_a(&server, &backend_b, 6, "refuses").await;
    let metrics = server.metrics().await;
    assert_eq!(callback_count(&metrics, OTHER_APP, "delivered"), 6, "{metrics}");
    assert_eq!(callback_count(&metrics, OTHER_APP, "retried"), 0, "{metrics}");
    // A's events are given up one after the other (4 attempts, 0.7 s each) and counted as failed.
    wait_for_metric(
        &server,
        &format!("tim_callbacks_total{{app=\"{APP}\",result=\"failed\"}} 2\n"),
    )
    .await;
    assert_eq!(callback_count(&server.metrics().await, APP, "delivered"), 0);
}

#[tokio::test]
async fn callbacks_reuse_one_kept_alive_connection() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 4, ""));
    // Spaced events: a login, its callback, a logout, its callback, for four users.
    for i in 0..4 {
        let (mut ws, _) = server.login_ok(&format!("user{i}")).await;
        backend.wait_delivered(2 * i + 1, Duration::from_secs(5)).await;
        send(&mut ws, &ClientFrame::Logout { id: 2 }).await;
        assert!(matches!(recv(&mut ws).await, ServerFrame::LogoutAck { .. }));
        assert_eq!(
            backend.wait_delivered(2 * i + 2, Duration::from_secs(5)).await.len(),
            2 * i + 2
        );
    }
    // A burst: eight logins at once, queued and sent back to back.
    let mut sockets = Vec::new();
    for i in 0..8 {
        sockets.push(server.login_ok(&format!("burst{i}")).await.0);
    }
    let events = exactly(&backend, 16, Duration::from_millis(300)).await;
    assert!(events[8..]
        .iter()
        .all(|e| e.action_reason() == pair("Login", "Register")));
    assert_eq!(backend.connections(), 1, "16 callbacks over one TCP connection");
}

#[tokio::test]
async fn an_https_callback_url_is_delivered_trusting_callback_ca_file() {
    let backend = Backend::start_tls(Mode::Ok).await;
    assert!(backend.url.starts_with("https://127.0.0.1:"), "{}", backend.url);
    let dir = TempDir::new("ca");
    let ca_file = dir.0.join("backend-ca.pem");
    std::fs::write(&ca_file, backend.ca_pem.as_ref().unwrap()).unwrap();
    let config = callback_config(&backend.url, 1, "").replace(
        "[limits]",
        &format!("callback_ca_file = \"{}\"\n[limits]", ca_file.display()),
    );
    let server = Server::start(&config);
    let (mut ws, _) = server.login_ok("alice").await;
    send(&mut ws, &ClientFrame::Logout { id: 2 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::LogoutAck { .. }));
    let events = exactly(&backend, 2, Duration::from_millis(300)).await;
    assert_eq!(
        actions(&events),
        [pair("Login", "Register"), pair("Logout", "Unregister")]
    );
    let q = &events[0].query;
    assert_eq!(q["SdkAppid"], APP.to_string());
    let request_time: u64 = q["RequestTime"].parse().unwrap();
    assert_eq!(q["Sign"], sha256_hex(&format!("{TOKEN}{request_time}")));
    assert_eq!(backend.connections(), 1, "both over one TLS connection");
}

#[tokio::test]
async fn an_https_backend_whose_ca_is_not_trusted_gets_nothing_and_the_event_fails() {
    let backend = Backend::start_tls(Mode::Ok).await;
    let server = Server::start(&callback_config(&backend.url, 1, "callback_max_attempts = 2"));
    let (_ws, _) = server.login_ok("alice").await;
    wait_for_metric(
        &server,
        &format!("tim_callbacks_total{{app=\"{APP}\",result=\"failed\"}} 1\n"),
    )
    .await;
    assert!(
        backend.received().is_empty(),
        "no request passes an untrusted certificate"
    );
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
