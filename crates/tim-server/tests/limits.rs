//! Bad frames, the login deadline's order of events, caps and the failed-login limit, against the real
//! binary. The durations (login deadline, idle timeout, resume grace, UserSig expiry, failure window) are
//! proven in simulated time in `timing.rs`.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tim_protocol::{close, ClientFrame, ErrorCode, ServerFrame};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const SHORT: &str = "login_deadline_ms = 600";

/// A logged-in bystander that must keep working while others misbehave.
async fn assert_still_serving(server: &Server, bystander: &mut Ws) {
    send(bystander, &ClientFrame::Hello { id: 77 }).await;
    assert!(matches!(recv(bystander).await, ServerFrame::HelloAck { id: 77, .. }));
    let (_fresh, _) = server.login_ok("fresh-user").await;
}

#[tokio::test]
async fn bad_frames_get_an_error_or_a_close_and_the_server_keeps_serving() {
    let server = Server::start(&config(1, ""));
    let (mut bystander, _) = server.login_ok("bystander").await;

    // Malformed JSON and unknown frame types: an error frame, the connection stays.
    let mut ws = server.connect().await;
    for text in ["{", "[]", r#"{"type":"nope","id":5}"#, r#"{"type":"login","id":6}"#] {
        ws.send(Message::Text(text.into())).await.unwrap();
        let reply = recv(&mut ws).await;
        assert_eq!(error_code(&reply), Some(ErrorCode::MalformedFrame.code()), "{text}");
        if text.contains("\"id\"") {
            let ServerFrame::Error { id, .. } = reply else {
                unreachable!()
            };
            assert!(id.is_some(), "the request id is echoed when readable: {text}");
        }
    }
    send(&mut ws, &ClientFrame::Hello { id: 1 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::HelloAck { id: 1, .. }));

    // Oversized (over max_frame_bytes): error 80003 then close 1009.
    let mut ws = server.connect().await;
    let big = format!(r#"{{"type":"hello","id":1,"pad":"{}"}}"#, "x".repeat(20 * 1024));
    ws.send(Message::Text(big.into())).await.unwrap();
    let (frames, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::FrameTooLarge.code())]
    );
    assert_eq!(closed, Some(close::TOO_BIG));

    // Far beyond the limit: the WebSocket layer refuses it; the connection is closed.
    let mut ws = server.connect().await;
    let huge = "y".repeat(512 * 1024);
    let _ = ws.send(Message::Text(huge.into())).await;
    let (_, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(closed, Some(close::TOO_BIG));

    // Binary frames: error 80002 then close 4000.
    let mut ws = server.connect().await;
    ws.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    let (frames, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::MalformedFrame.code())]
    );
    assert_eq!(closed, Some(close::PROTOCOL_ERROR));

    // A text frame that is not UTF-8: closed.
    let mut ws = server.connect().await;
    let frame = Frame::message(vec![0xff, 0xfe, 0x7b], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).await.unwrap();
    let (frames, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert!(frames.is_empty(), "{frames:?}");
    assert!(
        matches!(closed, Some(close::PROTOCOL_ERROR) | Some(1007) | None),
        "{closed:?}"
    );

    assert_still_serving(&server, &mut bystander).await;
    let metrics = server.metrics().await;
    for reason in ["malformed", "too_large", "binary", "not_utf8"] {
        assert!(
            metrics.contains(&format!("tim_frames_rejected_total{{reason=\"{reason}\"}}")),
            "{reason}: {metrics}"
        );
    }
}

#[tokio::test]
async fn the_configured_max_frame_bytes_is_the_one_size_rule_above_or_below_the_default() {
    let hello = |pad: usize| format!(r#"{{"type":"hello","id":1,"pad":"{}"}}"#, "x".repeat(pad));
    // Raised to 64 KiB: a 20 KiB frame (over the protocol's 16 KiB default) is served.
    let roomy = Server::start(&config(1, "max_frame_bytes = 65536"));
    let mut ws = roomy.connect().await;
    ws.send(Message::Text(hello(20 * 1024).into())).await.unwrap();
    assert!(matches!(recv(&mut ws).await, ServerFrame::HelloAck { id: 1, .. }));
    // Lowered to 1 KiB: a 2 KiB frame gets 80003 then close 1009.
    let tight = Server::start(&config(1, "max_frame_bytes = 1024"));
    let mut ws = tight.connect().await;
    ws.send(Message::Text(hello(2 * 1024).into())).await.unwrap();
    let (frames, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::FrameTooLarge.code())]
    );
    assert_eq!(closed, Some(close::TOO_BIG));
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed_with_80005_then_4002() {
    // The order of what the client sees, against the real binary. When (600 ms after connecting, not moved
    // by a hello, again from a logout, never while logged in) is proven in simulated time in timing.rs.
    let server = Server::start(&config(1, SHORT));
    let never = async {
        let mut ws = server.connect().await;
        until_close(&mut ws, Duration::from_secs(5)).await
    };
    let after_logout = async {
        let (mut out, _) = server.login_ok("carol").await;
        send(&mut out, &ClientFrame::Logout { id: 3 }).await;
        assert_eq!(recv(&mut out).await, ServerFrame::LogoutAck { id: 3 });
        until_close(&mut out, Duration::from_secs(5)).await
    };
    let (never, after_logout) = tokio::join!(never, after_logout);
    for (frames, closed) in [never, after_logout] {
        assert_eq!(
            frames.iter().map(error_code).collect::<Vec<_>>(),
            vec![Some(ErrorCode::LoginDeadlineExceeded.code())]
        );
        assert_eq!(closed, Some(close::LOGIN_DEADLINE));
    }
    wait_for_metric(
        &server,
        "tim_connections_closed_by_limit_total{reason=\"login_deadline\"} 2\n",
    )
    .await;
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_ip_but_valid_logins_never_are() {
    let server = Server::start(&config(1, "login_failures_per_ip = 3\nlogin_failure_window_ms = 60000"));
    let mut sockets = Vec::new();
    for i in 0..10 {
        sockets.push(server.login_ok(&format!("valid{i}")).await.0);
    }
    for _ in 0..3 {
        let (_, reply) = server.login("mallory", "bad-sig").await;
        assert_eq!(error_code(&reply), Some(ErrorCode::UserSigMalformed.code()));
    }
    let mut ws = server.connect().await;
    send(&mut ws, &login_frame(4, APP, "mallory", "bad-sig", None)).await;
    let (frames, closed) = until_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::LoginRateLimited.code())]
    );
    assert_eq!(closed, Some(close::RATE_LIMITED));
    // Connections already logged in are unaffected.
    send(&mut sockets[0], &ClientFrame::Hello { id: 1 }).await;
    assert!(matches!(recv(&mut sockets[0]).await, ServerFrame::HelloAck { .. }));
}

#[tokio::test]
async fn connection_caps_refuse_with_80004_and_close_4003() {
    // Only logged-in connections make the server refuse (pending ones are evicted to make room).
    let server = Server::start(&config(1, "max_connections = 3"));
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(server.login_ok(&format!("holder{i}")).await.0);
    }
    let mut extra = server.connect().await;
    let (frames, closed) = until_close(&mut extra, Duration::from_secs(5)).await;
    assert_eq!(
        frames.iter().map(error_code).collect::<Vec<_>>(),
        vec![Some(ErrorCode::TooManyConnections.code())]
    );
    assert_eq!(closed, Some(close::SERVER_FULL));
    // Closing one frees a place.
    held.pop().unwrap().close(None).await.unwrap();
    wait_for_metric(&server, "tim_connections 2\n").await;
    let (_ws, _) = server.login_ok("alice").await;

    let per_ip = Server::start(&config(1, "max_connections_per_ip = 1"));
    let (_first, _) = per_ip.login_ok("alice").await;
    let mut second = per_ip.connect().await;
    let (_, closed) = until_close(&mut second, Duration::from_secs(5)).await;
    assert_eq!(closed, Some(close::SERVER_FULL));
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_not_buffered_without_bound() {
    // One sender floods here on purpose (the per-sender send rate would stop it first): lift that limit.
    let limits = "outbound_queue_frames = 4\nwrite_timeout_ms = 500\nmessages_per_sender_per_min = 1000000000\nmessage_burst_per_sender = 1000000";
    let server = Server::start(&config(1, limits));
    let (_slowpoke, _) = server.login_ok("slowpoke").await; // never reads again
    let (mut sender, _) = server.login_ok("sender").await;
    let text = "z".repeat(tim_protocol::limits::MAX_MESSAGE_TEXT_BYTES);
    let mut dropped = false;
    // Bounded by time rather than a count: how much loopback buffers absorb varies with load.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    for i in 0..u32::MAX {
        if std::time::Instant::now() > give_up {
            break;
        }
        send(
            &mut sender,
            &ClientFrame::SendMessage {
                id: i,
                to: "slowpoke".into(),
                text: text.clone(),
                msg_id: None,
            },
        )
        .await;
        assert!(matches!(recv(&mut sender).await, ServerFrame::SendMessageAck { .. }));
        if i % 250 == 249 && server.metrics().await.contains("tim_connections 1\n") {
            dropped = true;
            break;
        }
    }
    assert!(
        dropped,
        "the slow consumer was never dropped:\n{}",
        server.metrics().await
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("reason=\"slow_consumer\"") || metrics.contains("reason=\"write_timeout\""),
        "{metrics}"
    );
    // The sender is unaffected.
    send(&mut sender, &ClientFrame::Hello { id: 1 }).await;
    assert!(matches!(recv(&mut sender).await, ServerFrame::HelloAck { id: 1, .. }));
}
