//! The not-ready guard, messages, and request timeouts.

mod common;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use common::{Harness, TIMEOUT};
use tim_core::{Command, ErrorCode, Event, Flow, Message, MessageStatus, Response, SessionState, CONV_C2C};
use tim_protocol::{ClientFrame, ServerFrame};

fn send_error(h: &mut Harness) -> tim_core::TimError {
    let handle = h.send("bob", "hi");
    h.result(handle).unwrap_err()
}

#[test]
fn send_before_login_fails_with_2024_and_the_not_ready_text() {
    let mut h = Harness::new();
    let error = send_error(&mut h);
    assert_eq!(error.code, 2024);
    assert!(
        error.message.contains(ErrorCode::SdkIsNotReady.message()),
        "{}",
        error.message
    );
    assert!(
        error.message.contains(ErrorCode::UserNotLoggedIn.message()),
        "{}",
        error.message
    );
    assert!(h.server.received.is_empty());
}

#[test]
fn send_while_logging_in_fails_with_3000() {
    let mut h = Harness::new();
    h.login("alice");
    assert_eq!(h.session.not_ready_reason(), ErrorCode::LoggingIn);
    assert_eq!(send_error(&mut h).code, 3000);
}

#[test]
fn send_after_a_failed_login_fails_with_3001() {
    let mut h = Harness::new();
    h.server.login_reply = common::Reply::Refuse(ErrorCode::UserSigExpired);
    h.login("alice");
    h.settle();
    assert_eq!(send_error(&mut h).code, 3001);
}

#[test]
fn send_during_and_after_logout_fails_with_3005() {
    let mut h = Harness::ready();
    h.logout();
    assert_eq!(send_error(&mut h).code, 3005);
    h.settle();
    assert_eq!(send_error(&mut h).code, 3005);
}

#[test]
fn send_when_ready_transmits_and_resolves_with_the_ack() {
    let mut h = Harness::ready();
    let send = h.send("bob", "hello bob");
    h.settle();
    assert_eq!(
        h.trace(),
        [
            "1000 send #1 sendMessage bob hello bob",
            "1010 done h2 ok SendMessage { seq: 1, time_ms: 1005 }"
        ]
    );
    let Ok(Response::SendMessage { message }) = h.result(send) else {
        panic!("not a send result: {:?}", h.result(send));
    };
    assert_eq!((message.seq, message.time_ms), (1, 1005));
    assert_eq!(
        (message.from.as_str(), message.to.as_str(), message.text.as_str()),
        ("alice", "bob", "hello bob")
    );
    assert_eq!((message.flow, message.status), (Flow::Out, MessageStatus::Success));
    assert_eq!(message.id.len(), 32, "an id from the seeded generator: {}", message.id);
    let sent_id = h.server.received.iter().find_map(|(_, f)| match f {
        ClientFrame::SendMessage { msg_id, .. } => msg_id.clone(),
        _ => None,
    });
    assert_eq!(
        sent_id.as_deref(),
        Some(message.id.as_str()),
        "the ID travels in the frame"
    );
    assert_eq!(message.conversation_id(), "C2Cbob");
}

#[test]
fn create_text_message_makes_an_unsent_c2c_message_with_a_fresh_id() {
    let mut h = Harness::new();
    let before = h
        .session
        .create_text_message(500, CONV_C2C, "bob".into(), "hi".into())
        .unwrap();
    assert_eq!(
        (before.from.as_str(), before.status, before.flow),
        ("", MessageStatus::UnSend, Flow::Out)
    );
    assert_eq!((before.seq, before.time_ms), (0, 500));
    let other = h
        .session
        .create_text_message(501, CONV_C2C, "bob".into(), "hi".into())
        .unwrap();
    assert_ne!(before.id, other.id);
    let group = h.session.create_text_message(502, "GROUP", "bob".into(), "hi".into());
    assert_eq!(group.unwrap_err().code, ErrorCode::InvalidArgument.code());
    // The same seed makes the same ids: they come from the session's generator, not the platform.
    let mut again = Harness::new();
    let replay = again
        .session
        .create_text_message(500, CONV_C2C, "bob".into(), "hi".into())
        .unwrap();
    assert_eq!(replay.id, before.id);
}

#[test]
fn a_message_created_before_login_is_sent_as_the_login_user() {
    let mut h = Harness::new();
    let message = h
        .session
        .create_text_message(0, CONV_C2C, "bob".into(), "early".into())
        .unwrap();
    let id = message.id.clone();
    h.login("alice");
    h.settle();
    let send = h.command(Command::SendTextMessage { message });
    h.settle();
    let Ok(Response::SendMessage { message }) = h.result(send) else {
        panic!("not a send result");
    };
    assert_eq!(
        (message.id, message.from.as_str(), message.status),
        (id, "alice", MessageStatus::Success)
    );
}

#[test]
fn a_message_with_an_id_the_protocol_refuses_fails_with_8002_without_a_frame() {
    let mut h = Harness::ready();
    let mut message = h
        .session
        .create_text_message(0, CONV_C2C, "bob".into(), "x".into())
        .unwrap();
    message.id = "not an id!".into();
    let send = h.command(Command::SendTextMessage { message });
    assert_eq!(h.error_code(send), ErrorCode::InvalidArgument.code());
    h.settle();
    assert!(!h
        .server
        .received
        .iter()
        .any(|(_, f)| matches!(f, ClientFrame::SendMessage { .. })));
}

#[test]
fn send_with_a_bad_receiver_or_huge_text_fails_without_a_frame() {
    let mut h = Harness::ready();
    let bad_to = h.send("", "hi");
    assert_eq!(h.error_code(bad_to), ErrorCode::NoIdentifier.code());
    let huge = h.send("bob", &"x".repeat(tim_protocol::limits::MAX_MESSAGE_TEXT_BYTES + 1));
    assert_eq!(h.error_code(huge), ErrorCode::InvalidArgument.code());
    assert_eq!(h.server.received_names(), ["login"]);
}

#[test]
fn server_error_reply_rejects_the_send() {
    let mut h = Harness::ready();
    h.server.answer_send = false;
    let send = h.send("bob", "hi");
    h.run_for(5);
    let id = h.server.received.last().map(|(_, f)| f.id()).expect("frame");
    h.push(ServerFrame::Error {
        id: Some(id),
        code: std::num::NonZeroU32::new(70402).unwrap(),
        message: "bad".into(),
    });
    h.settle();
    assert_eq!(h.error_code(send), 70402);
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn unanswered_send_times_out_with_2801_once() {
    let mut h = Harness::ready();
    h.server.answer_send = false;
    let send = h.send("bob", "hi");
    h.run_for(TIMEOUT + 1);
    assert_eq!(h.error_code(send), ErrorCode::NetworkTimeout.code());
    assert_eq!(h.times_of("done h2 err 2801"), [1000 + TIMEOUT]);
    // A late ack does not complete it again.
    h.push(ServerFrame::SendMessageAck {
        id: 2,
        seq: 9,
        time_ms: 0,
    });
    h.settle();
    assert_eq!(h.completions(send).len(), 1);
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn pushed_messages_become_message_received_events() {
    let mut h = Harness::ready();
    h.push(ServerFrame::Message {
        from: "bob".into(),
        to: "alice".into(),
        text: "hey".into(),
        seq: 7,
        time_ms: 99,
        msg_id: "m7".into(),
    });
    h.settle();
    assert_eq!(
        h.events(),
        [(
            1005,
            Event::MessageReceived {
                messages: vec![Message::received(
                    "m7".into(),
                    "bob".into(),
                    "alice".into(),
                    "hey".into(),
                    7,
                    99,
                    "alice"
                )]
            }
        )]
    );
}

#[test]
fn connection_error_without_id_is_an_error_event() {
    let mut h = Harness::ready();
    h.push(ServerFrame::Error {
        id: None,
        code: std::num::NonZeroU32::new(80002).unwrap(),
        message: "malformed".into(),
    });
    h.settle();
    assert_eq!(h.user_visible(), ["Error 80002"]);
    assert_eq!(h.session.state(), SessionState::Ready);
}

#[test]
fn frames_from_an_old_socket_are_ignored() {
    let mut h = Harness::ready();
    h.logout();
    h.settle();
    h.login("alice");
    h.settle();
    let mark = h.mark();
    h.input(tim_core::Input::FrameReceived {
        socket: 1,
        frame: ServerFrame::kicked(tim_core::KickType::MultipleAccount),
    });
    h.input(tim_core::Input::SocketClosed {
        socket: 1,
        code: 1006,
        reason: String::new(),
    });
    h.input(tim_core::Input::FrameUndecodable {
        socket: 1,
        error: "junk".into(),
    });
    assert!(h.trace_from(mark).is_empty());
    assert_eq!(h.session.state(), SessionState::Ready);
}
