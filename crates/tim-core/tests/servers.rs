//! Several server URLs (`serverUrl: [...]`): the random start, moving on past a URL whose connect
//! fails, wrapping around, the backoff between rounds, staying on a URL that works, and one URL as before.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, Reply, APP, TIMEOUT};
use tim_core::{Config, ErrorCode, Event, ReconnectPolicy, SessionState, MAX_SERVER_URLS};

const A: &str = "ws://127.0.0.1:9001/ws";
const B: &str = "ws://127.0.0.1:9002/ws";
const C: &str = "ws://127.0.0.1:9003/ws";

fn harness(urls: &[&str], start: u32) -> Harness {
    let mut config = Config::with_servers(APP, urls.iter().map(|u| u.to_string()).collect());
    config.server_start = start;
    config.rng_seed = 1;
    Harness::with_config(config)
}

fn urls(h: &Harness) -> Vec<String> {
    h.opened_urls().into_iter().map(|(_, url)| url).collect()
}

fn set(list: &[&str]) -> Vec<String> {
    list.iter().map(|u| u.to_string()).collect()
}

#[test]
fn the_first_connect_goes_to_the_url_the_start_picks() {
    for (start, expected) in [(0, A), (1, B), (2, C), (3, A), (7, B), (u32::MAX, A)] {
        let mut h = harness(&[A, B, C], start);
        h.login("alice");
        h.settle();
        assert_eq!(urls(&h), [expected], "start {start}");
        assert_eq!(h.session.state(), SessionState::Ready);
    }
}

#[test]
fn a_login_moves_on_past_a_url_nothing_listens_on_at_once() {
    let mut h = harness(&[A, B], 0);
    h.server.down = set(&[A]);
    let login = h.login("alice");
    h.settle();
    assert!(h.result(login).is_ok());
    assert_eq!(h.opened_urls(), [(0, A.to_string()), (5, B.to_string())]);
    assert_eq!(
        h.trace(),
        [
            "0 open #1",
            "0 net connecting",
            "5 open #2",
            "10 send #2 login",
            "20 net connected",
            "20 SdkReady",
            "20 done h1 ok Login { repeat_login: false }",
        ]
    );
}

#[test]
fn a_login_moves_on_when_a_connect_times_out() {
    let mut h = harness(&[A, B], 0);
    h.server.unreachable = set(&[A]);
    let login = h.login("alice");
    h.run_for(TIMEOUT + 1_000);
    assert!(h.result(login).is_ok());
    assert_eq!(h.opened_urls(), [(0, A.to_string()), (TIMEOUT, B.to_string())]);
    assert_eq!(h.times_of("close #1 1000"), [TIMEOUT], "the hanging socket is closed");
    assert_eq!(h.times_of("SdkReady"), [TIMEOUT + 15]);
}

#[test]
fn a_login_fails_once_every_url_failed_once() {
    let mut h = harness(&[A, B, C], 1);
    h.server.down = set(&[A, B, C]);
    let login = h.login("alice");
    h.run_for(60_000);
    assert_eq!(h.error_code(login), ErrorCode::NetworkError.code());
    assert_eq!(urls(&h), [B, C, A], "each URL once, from the start, wrapping");
    assert_eq!(h.times_of("done h1 err 2800"), [15]);
    assert_eq!(h.session.state(), SessionState::LoggedOut);
}

#[test]
fn a_login_the_server_refuses_does_not_try_another_url() {
    let mut h = harness(&[A, B], 0);
    h.server.login_reply = Reply::Refuse(ErrorCode::UserSigExpired);
    let login = h.login("alice");
    h.settle();
    assert_eq!(h.error_code(login), ErrorCode::UserSigExpired.code());
    assert_eq!(urls(&h), [A]);
}

#[test]
fn a_reconnect_tries_the_working_url_first_then_the_next_ones_and_resumes_there() {
    let mut h = harness(&[A, B, C], 1);
    h.login("alice");
    h.settle();
    h.log.clear();
    // The node on B dies, and C is down too: the resume lands on A.
    h.server.down = set(&[B, C]);
    h.server_close(1006);
    h.run_for(5_000);
    let opened = h.opened_urls();
    let first = opened[0].0;
    let (lo, hi) = ReconnectPolicy::default().delay_bounds(0);
    assert!((1005 + lo..=1005 + hi).contains(&first), "first retry at {first}");
    assert_eq!(
        opened,
        [
            (first, B.to_string()),
            (first + 5, C.to_string()),
            (first + 10, A.to_string())
        ],
        "one backoff wait, then the URLs of the round at once"
    );
    assert_eq!(h.server.received_names(), ["login", "resume inst-1"]);
    assert_eq!(h.session.state(), SessionState::Ready);
    assert!(h.events().iter().all(|(_, e)| *e != Event::SdkNotReady));
    // A later drop goes back to A, the URL that worked, not to the start.
    h.log.clear();
    h.server.down.clear();
    h.server_close(1006);
    h.run_for(5_000);
    assert_eq!(urls(&h), [A]);
    assert_eq!(h.server.received_names(), ["login", "resume inst-1", "resume inst-1"]);
}

#[test]
fn a_reconnect_moves_on_when_a_connect_times_out() {
    let mut h = harness(&[A, B], 0);
    h.login("alice");
    h.settle();
    h.log.clear();
    h.server.unreachable = set(&[A]);
    h.server_close(1006);
    h.run_for(TIMEOUT + 5_000);
    let opened = h.opened_urls();
    assert_eq!(urls(&h), [A, B]);
    assert_eq!(
        opened[1].0,
        opened[0].0 + TIMEOUT,
        "B right after A's connect timed out"
    );
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn rounds_wrap_around_and_wait_the_backoff_between_them() {
    let mut h = harness(&[A, B, C], 2);
    h.login("alice");
    h.settle();
    h.log.clear();
    h.server.down = set(&[A, B, C]);
    h.server_close(1006);
    h.run_for(5 * 60_000);
    let opened = h.opened_urls();
    assert!(opened.len() >= 18, "{opened:?}");
    let rounds: Vec<_> = opened.chunks(3).filter(|r| r.len() == 3).collect();
    let policy = ReconnectPolicy::default();
    let mut previous_end = 1005; // the drop
    for (attempt, round) in rounds.iter().enumerate() {
        let names: Vec<&str> = round.iter().map(|(_, u)| u.as_str()).collect();
        assert_eq!(names, [C, A, B], "round {attempt}: from the URL that worked, wrapping");
        assert_eq!(round[1].0, round[0].0 + 5, "round {attempt}: the next URL at once");
        assert_eq!(round[2].0, round[1].0 + 5);
        let gap = round[0].0 - previous_end;
        let (lo, hi) = policy.delay_bounds(attempt as u32);
        assert!(
            (lo..=hi).contains(&gap),
            "round {attempt}: waited {gap}, not in {lo}..={hi}"
        );
        previous_end = round[2].0 + 5;
    }
    assert!(
        h.events().iter().all(|(_, e)| *e != Event::SdkNotReady),
        "still reconnecting"
    );
    // The nodes come back: the next round resumes on its first URL.
    h.server.down.clear();
    h.run_for(60_000);
    assert_eq!(h.session.state(), SessionState::Ready);
    assert_eq!(h.opened_urls().last().map(|(_, u)| u.as_str()), Some(C));
}

#[test]
fn a_refused_resume_moves_on_and_a_round_of_refusals_waits() {
    let mut h = harness(&[A, B], 0);
    h.login("alice");
    h.settle();
    h.log.clear();
    h.server.resume_reply = Reply::Refuse(ErrorCode::RegistryUnavailable);
    h.server_close(1006);
    h.run_for(6_000);
    let opened = h.opened_urls();
    assert_eq!(urls(&h)[..3], [A, B, A]);
    // A refused at +15 (open, send, reply), B tried at once, then the backoff of the second round.
    assert_eq!(opened[1].0, opened[0].0 + 15);
    let (lo, hi) = ReconnectPolicy::default().delay_bounds(1);
    let gap = opened[2].0 - (opened[1].0 + 15);
    assert!((lo..=hi).contains(&gap), "the second round waited {gap}: {opened:?}");
    assert_eq!(h.session.state(), SessionState::Reconnecting);
}

#[test]
fn one_url_waits_the_backoff_before_every_attempt_as_before() {
    let mut h = harness(&[A], 5);
    h.login("alice");
    h.settle();
    h.log.clear();
    h.server.down = set(&[A]);
    h.server_close(1006);
    h.run_for(2 * 60_000);
    let opens: Vec<u64> = h.opened_urls().into_iter().map(|(t, _)| t).collect();
    assert!(opens.len() > 5, "{opens:?}");
    assert!(urls(&h).iter().all(|u| u == A));
    let policy = ReconnectPolicy::default();
    let mut previous_end = 1005;
    for (attempt, open) in opens.iter().enumerate() {
        let (lo, hi) = policy.delay_bounds(attempt as u32);
        let gap = open - previous_end;
        assert!((lo..=hi).contains(&gap), "attempt {attempt}: waited {gap}");
        previous_end = open + 5;
    }
}

#[test]
fn a_bad_entry_refuses_the_login_with_8003_naming_it_and_opens_nothing() {
    let mut h = harness(&[A, "http://127.0.0.1:9002/ws"], 0);
    let login = h.login("alice");
    let error = h.result(login).unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidServerUrl.code());
    assert!(error.message.contains("serverUrl[1]"), "{}", error.message);
    let too_many = vec![A; MAX_SERVER_URLS + 1];
    let mut h2 = harness(&too_many, 0);
    let login = h2.login("alice");
    assert_eq!(h2.error_code(login), ErrorCode::InvalidServerUrl.code());
    assert_eq!(h.sockets_opened() + h2.sockets_opened(), 0);
}

#[test]
fn a_login_no_server_answers_tries_each_url_for_a_request_timeout_then_fails_with_2801() {
    let mut h = harness(&[A, B], 0);
    h.server.login_reply = Reply::Silent;
    let login = h.login("alice");
    h.run_for(3 * TIMEOUT);
    assert_eq!(h.error_code(login), ErrorCode::NetworkTimeout.code());
    assert_eq!(h.opened_urls(), [(0, A.to_string()), (TIMEOUT, B.to_string())]);
    assert_eq!(h.times_of("done h1 err 2801"), [2 * TIMEOUT]);
    assert_eq!(h.server.received_names(), ["login", "login"]);
}

#[test]
fn a_service_restart_close_resumes_on_the_next_url_at_once_with_only_a_net_state_change() {
    for seed in 1..4 {
        let mut config = Config::with_servers(APP, vec![A.to_string(), B.to_string()]);
        config.server_start = 0;
        config.rng_seed = seed;
        let mut h = Harness::with_config(config);
        h.login("alice");
        h.settle();
        h.run_for(1_000);
        h.log.clear();
        let closed_at = h.now;
        // The closing node refuses at once; the next URL follows without a backoff step.
        h.server.down = set(&[A]);
        h.server_close(tim_protocol::close::SERVICE_RESTART);
        h.settle();
        let opened = h.opened_urls();
        assert_eq!(opened.len(), 2, "seed {seed}: {opened:?}");
        assert_eq!(
            opened[0].1, A,
            "the same URL first (behind a load balancer: another node)"
        );
        let (at, url) = &opened[1];
        assert_eq!(url, B);
        assert!(
            *at - closed_at <= 10,
            "seed {seed}: reconnected {} ms after the close",
            at - closed_at
        );
        assert_eq!(h.user_visible(), ["net connecting", "net connected"], "seed {seed}");
        assert_eq!(h.session.state(), SessionState::Ready);
    }
}

#[test]
fn other_closes_still_wait_the_first_backoff_step() {
    let mut h = harness(&[A, B], 0);
    h.login("alice");
    h.settle();
    h.log.clear();
    let closed_at = h.now;
    h.server_close(tim_protocol::close::GOING_AWAY);
    h.run_for(2_000);
    let (at, url) = &h.opened_urls()[0];
    assert_eq!(url, A, "the URL that worked first");
    assert!(*at - closed_at >= 800, "{}", at - closed_at);
}
