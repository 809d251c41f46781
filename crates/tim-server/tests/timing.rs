//! Every duration the server enforces, proven at exact instants of simulated time: the login deadline,
//! the idle timeout, the resume grace, UserSig expiry and the failed-login window. The server runs in
//! this process over in-memory pipes (see `sim`), reading a simulated clock; no test sleeps in real time.

mod sim;

use sim::*;
use tim_protocol::{close, ClientFrame, ErrorCode, KickType, ServerFrame};
use tokio::time::{sleep_until, Instant};

const DEADLINE: &str = "login_deadline_ms = 600";

#[tokio::test(start_paused = true)]
async fn the_login_deadline_closes_a_connection_exactly_600_ms_after_it_opened() {
    let server = SimServer::start(1, DEADLINE);
    let mut ws = server.connect().await;
    let opened = Instant::now();
    quiet_until(&mut ws, opened + ms(599)).await;
    let (frames, closed, at) = until_close(&mut ws).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::LoginDeadlineExceeded.code())]
    );
    assert_eq!(closed, Some(close::LOGIN_DEADLINE));
    assert_eq!(at - opened, ms(600));
    assert!(server
        .metrics()
        .await
        .contains("tim_connections_closed_by_limit_total{reason=\"login_deadline\"} 1\n"));
}

#[tokio::test(start_paused = true)]
async fn a_hello_does_not_move_the_login_deadline() {
    let server = SimServer::start(1, DEADLINE);
    let mut ws = server.connect().await;
    let opened = Instant::now();
    sleep_until(opened + ms(400)).await;
    hello(&mut ws, 1).await;
    let (_, closed, at) = until_close(&mut ws).await;
    assert_eq!(closed, Some(close::LOGIN_DEADLINE));
    assert_eq!(at - opened, ms(600));
}

#[tokio::test(start_paused = true)]
async fn after_a_logout_the_deadline_runs_again_from_the_logout() {
    let server = SimServer::start(1, DEADLINE);
    let (mut ws, _) = server.login_ok("carol").await;
    // Logged in: the deadline no longer applies.
    sleep_until(Instant::now() + ms(5_000)).await;
    hello(&mut ws, 2).await;
    send(&mut ws, &ClientFrame::Logout { id: 3 }).await;
    assert_eq!(recv(&mut ws).await, ServerFrame::LogoutAck { id: 3 });
    let logged_out = Instant::now();
    quiet_until(&mut ws, logged_out + ms(599)).await;
    let (frames, closed, at) = until_close(&mut ws).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::LoginDeadlineExceeded.code())]
    );
    assert_eq!(closed, Some(close::LOGIN_DEADLINE));
    assert_eq!(at - logged_out, ms(600));
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_1500_ms_after_the_last_inbound_frame_and_frees_the_slot_at_once() {
    let server = SimServer::start(
        1,
        "idle_timeout_ms = 1500\nhello_interval_ms = 400\nresume_grace_ms = 60000",
    );
    let (mut silent, _) = server.login_ok("alice").await;
    let logged_in = Instant::now();
    let (mut chatty, _) = server.login_ok("bob").await;
    // Hellos every 400 ms keep bob alive well past alice's timeout.
    let chatter = async {
        for i in 0..6 {
            sleep_until(logged_in + ms(400 * i)).await;
            hello(&mut chatty, i as u32).await;
        }
    };
    let silent_end = async {
        quiet_until(&mut silent, logged_in + ms(1_499)).await;
        until_close(&mut silent).await
    };
    let ((frames, closed, at), ()) = tokio::join!(silent_end, chatter);
    assert_eq!((frames, closed), (vec![], Some(close::IDLE_TIMEOUT)));
    assert_eq!(at - logged_in, ms(1_500));
    // Freed at once: no resume grace for an idle instance.
    assert!(server.instances("alice").await.is_empty());
    assert_eq!(server.instances("bob").await.len(), 1);
    // Bob's last inbound frame was at 2000 ms: he is closed at exactly 3500 ms.
    let (_, closed, at) = until_close(&mut chatty).await;
    assert_eq!(closed, Some(close::IDLE_TIMEOUT));
    assert_eq!(at - logged_in, ms(2_000 + 1_500));
    assert!(server
        .metrics()
        .await
        .contains("tim_connections_closed_by_limit_total{reason=\"idle_timeout\"} 2\n"));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_instance_keeps_its_slot_for_the_resume_grace_then_is_freed() {
    let server = SimServer::start(1, "resume_grace_ms = 1000");
    let (ws, id) = server.login_ok("alice").await;
    drop(ws);
    let dropped = Instant::now();
    // The server notices the drop at once and detaches the instance.
    tokio::task::yield_now().await;
    sleep_until(dropped + ms(999)).await;
    let live = server.instances("alice").await;
    assert_eq!((live.len(), live[0].conn), (1, None), "detached, slot kept");
    // Freed by the first sweep (every 250 ms) at or after the end of the grace.
    sleep_until(dropped + ms(1_000 + 250)).await;
    assert!(server.instances("alice").await.is_empty());
    // Its id now logs in fresh (not resumed).
    let mut again = server.connect().await;
    send(
        &mut again,
        &login_frame(1, "alice", &server.sig("alice", 86_400), Some(&id)),
    )
    .await;
    assert!(matches!(
        recv(&mut again).await,
        ServerFrame::LoginAck { resumed: false, .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_resume_within_the_grace_keeps_the_slot_and_evicts_nobody() {
    let server = SimServer::start(1, "resume_grace_ms = 1000");
    let (ws, id) = server.login_ok("alice").await;
    drop(ws);
    let dropped = Instant::now();
    sleep_until(dropped + ms(990)).await;
    let mut again = server.connect().await;
    send(
        &mut again,
        &login_frame(1, "alice", &server.sig("alice", 86_400), Some(&id)),
    )
    .await;
    match recv(&mut again).await {
        ServerFrame::LoginAck {
            instance_id, resumed, ..
        } => assert_eq!((instance_id, resumed), (id, true)),
        other => panic!("{other:?}"),
    }
    // Attached again: the end of the old grace frees nothing.
    sleep_until(dropped + ms(2_000)).await;
    assert_eq!(server.instances("alice").await.len(), 1);
    hello(&mut again, 2).await;
}

#[tokio::test(start_paused = true)]
async fn an_expiring_usersig_kicks_at_its_last_second() {
    let server = SimServer::start(1, "");
    let sig = server.sig("alice", 3);
    let mut ws = server.connect().await;
    send(&mut ws, &login_frame(1, "alice", &sig, None)).await;
    let ServerFrame::LoginAck { user_sig_expire_at, .. } = recv(&mut ws).await else {
        panic!("login refused")
    };
    let logged_in = Instant::now();
    assert_eq!(
        user_sig_expire_at,
        START_UNIX_MS / 1000 + 3,
        "the ack tells the client when"
    );
    // Issued at a whole second (START_UNIX_MS) with expire 3: the kick comes 3 s later, not before.
    quiet_until(&mut ws, logged_in + ms(2_999)).await;
    let (frames, closed, at) = until_close(&mut ws).await;
    assert_eq!(frames, vec![ServerFrame::kicked(KickType::UserSigExpired)]);
    assert_eq!(closed, Some(close::KICKED));
    assert_eq!(at - logged_in, ms(3_000));
    assert!(server.instances("alice").await.is_empty());
    assert!(server
        .metrics()
        .await
        .contains("tim_kicks_total{type=\"userSigExpired\"} 1\n"));
}

#[tokio::test(start_paused = true)]
async fn a_resume_after_the_usersig_expired_is_refused_with_70001() {
    let server = SimServer::start(1, "resume_grace_ms = 60000");
    let sig = server.sig("alice", 3);
    let (ws, id) = server.login_with("alice", &sig, None).await;
    let logged_in = Instant::now();
    drop(ws);
    // TLS.time + expire (3 s) is the last valid second: from the next one on the UserSig is refused.
    sleep_until(logged_in + ms(4_000)).await;
    let mut again = server.connect().await;
    send(&mut again, &login_frame(1, "alice", &sig, Some(&id))).await;
    assert_eq!(
        error_code(&recv(&mut again).await),
        Some(ErrorCode::UserSigExpired.code())
    );
    // The refused resume does not free the detached slot (a renewed UserSig may still resume it).
    assert_eq!(server.instances("alice").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn failed_logins_are_limited_for_exactly_one_window_and_valid_sessions_are_untouched() {
    let server = SimServer::start(1, "login_failures_per_ip = 3\nlogin_failure_window_ms = 60000");
    let (mut valid, _) = server.login_ok("valid").await;
    let first_failure = Instant::now();
    for _ in 0..3 {
        let mut ws = server.connect().await;
        send(&mut ws, &login_frame(4, "mallory", "bad-sig", None)).await;
        assert_eq!(
            error_code(&recv(&mut ws).await),
            Some(ErrorCode::UserSigMalformed.code())
        );
    }
    let limited = |at: Instant| {
        let server = &server;
        async move {
            sleep_until(at).await;
            let mut ws = server.connect().await;
            send(&mut ws, &login_frame(5, "mallory", "bad-sig", None)).await;
            let (frames, closed, _) = until_close_or_frame(&mut ws).await;
            (frames.iter().map(error_code).collect::<Vec<_>>(), closed)
        }
    };
    let refused = (
        vec![Some(ErrorCode::LoginRateLimited.code())],
        Some(close::RATE_LIMITED),
    );
    assert_eq!(limited(first_failure).await, refused);
    assert_eq!(limited(first_failure + ms(59_999)).await, refused);
    // The window opened at the first failure: at 60 s the address may fail again (a new window).
    let open = (vec![Some(ErrorCode::UserSigMalformed.code())], None);
    assert_eq!(limited(first_failure + ms(60_000)).await, open);
    // A connection that was already logged in never noticed (its idle timeout is the default 120 s).
    hello(&mut valid, 1).await;
    assert!(server
        .metrics()
        .await
        .contains("tim_connections_refused_total{reason=\"rate_limited\"} 2\n"));
}

/// The frames up to a close, or the first frame when the connection stays open.
async fn until_close_or_frame(ws: &mut Ws) -> (Vec<ServerFrame>, Option<u16>, Instant) {
    let first = recv(ws).await;
    match next_before(ws, Instant::now() + ms(1)).await {
        Some((Event::Closed(code), at)) => (vec![first], code, at),
        Some(other) => panic!("unexpected {other:?}"),
        None => (vec![first], None, Instant::now()),
    }
}
