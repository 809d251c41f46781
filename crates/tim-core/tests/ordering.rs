//! Ordering guarantees: KICKED_OUT before SDK_NOT_READY, a logout's SDK_NOT_READY before any later
//! SDK_READY, and exactly one completion per request (property-tested over random input sequences).
#![cfg(not(target_arch = "wasm32"))] // proptest is native-only; the scenarios run on wasm32 too

mod common;

use std::collections::HashMap;

use common::Harness;
use proptest::prelude::*;
use tim_core::{Command, Config, ErrorCode, Event, Handle, Input, KickType, NetworkHint, Output, Session};
use tim_protocol::{close, ClientFrame, ServerFrame};

#[test]
fn kicked_out_comes_before_sdk_not_ready() {
    for kick in KickType::ALL {
        let mut h = Harness::ready();
        h.kick(kick);
        h.settle();
        let events: Vec<Event> = h.events().into_iter().map(|(_, e)| e).collect();
        let kicked = events
            .iter()
            .position(|e| matches!(e, Event::KickedOut { .. }))
            .expect("KICKED_OUT");
        let not_ready = events
            .iter()
            .position(|e| *e == Event::SdkNotReady)
            .expect("SDK_NOT_READY");
        assert_eq!(not_ready, kicked + 1, "{events:?}");
    }
}

#[test]
fn a_logouts_not_ready_comes_before_the_next_ready() {
    let mut h = Harness::ready();
    h.logout();
    let early = h.login("alice"); // refused: the logout is still in flight
    h.settle();
    h.login("alice");
    h.settle();
    assert_eq!(h.error_code(early), ErrorCode::LogoutInProgress.code());
    let ready_events: Vec<String> = h
        .user_visible()
        .into_iter()
        .filter(|line| line == "SdkReady" || line == "SdkNotReady")
        .collect();
    assert_eq!(ready_events, ["SdkNotReady", "SdkReady"]);
}

#[test]
fn commands_after_destroy_fail_with_8005() {
    let mut h = Harness::ready();
    h.input(Input::Destroy);
    for command in [
        Command::Login {
            user_id: "alice".into(),
            user_sig: "s".into(),
        },
        Command::Logout,
        Command::SendMessage {
            to: "bob".into(),
            text: "hi".into(),
        },
    ] {
        let handle = h.command(command);
        assert_eq!(h.error_code(handle), ErrorCode::SdkDestroyed.code());
    }
}

// --- property tests -----------------------------------------------------------------------------------

/// One random thing that can happen to a session.
#[derive(Debug, Clone)]
enum Action {
    Login(u8),
    Logout,
    Send,
    /// Which socket: 0 = the newest, 1 = the one before (stale).
    Opened(u8),
    Closed(u8, u16),
    Frame(u8, ServerFrame),
    Undecodable(u8),
    Advance(u64),
    Network(bool),
    /// The server answers the newest frame the session sent, as a real server would.
    Answer,
    /// The server refuses the newest frame the session sent with this code.
    Refuse(std::num::NonZeroU32),
}

fn kick_type() -> impl Strategy<Value = KickType> {
    prop::sample::select(KickType::ALL.to_vec())
}

fn error_code() -> impl Strategy<Value = std::num::NonZeroU32> {
    prop_oneof![
        prop::sample::select(ErrorCode::ALL.iter().map(|e| e.wire_code()).collect::<Vec<_>>()),
        any::<std::num::NonZeroU32>(),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    let id = 0u32..12;
    prop_oneof![
        (
            id.clone(),
            prop::sample::select(vec!["inst-1", "inst-2"]),
            0u64..200_000,
            any::<bool>()
        )
            .prop_map(|(id, inst, hello, resumed)| ServerFrame::LoginAck {
                id,
                instance_id: inst.into(),
                hello_interval_ms: hello,
                server_time_ms: 0,
                repeat_login: false,
                resumed,
                user_sig_expire_at: 0,
            }),
        id.clone().prop_map(|id| ServerFrame::LogoutAck { id }),
        id.clone()
            .prop_map(|id| ServerFrame::HelloAck { id, server_time_ms: 0 }),
        (id.clone(), any::<u64>()).prop_map(|(id, seq)| ServerFrame::SendMessageAck { id, seq, time_ms: 0 }),
        ".{0,8}".prop_map(|text| ServerFrame::Message {
            from: "bob".into(),
            to: "alice".into(),
            text,
            seq: 1,
            time_ms: 2,
            msg_id: "m".into(),
        }),
        (prop::option::of(id), error_code(), ".{0,8}").prop_map(|(id, code, message)| ServerFrame::Error {
            id,
            code,
            message
        }),
        (kick_type(), any::<bool>()).prop_map(|(kick_type, named)| ServerFrame::Kicked {
            kick_type,
            platform: named.then_some(tim_protocol::Platform::Wx),
            time_ms: named.then_some(1_764_630_000_123),
        }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let which = 0u8..2;
    prop_oneof![
        3 => (0u8..3).prop_map(Action::Login),
        1 => Just(Action::Logout),
        2 => Just(Action::Send),
        3 => which.clone().prop_map(Action::Opened),
        2 => (which.clone(), prop::sample::select(vec![1000u16, 1001, 1006, close::PROTOCOL_ERROR, close::KICKED, close::IDLE_TIMEOUT, close::LOGGED_OUT]))
            .prop_map(|(w, code)| Action::Closed(w, code)),
        6 => (which.clone(), server_frame()).prop_map(|(w, f)| Action::Frame(w, f)),
        1 => which.prop_map(Action::Undecodable),
        3 => prop_oneof![0u64..50, 0u64..200_000].prop_map(Action::Advance),
        1 => any::<bool>().prop_map(Action::Network),
        6 => Just(Action::Answer),
        1 => error_code().prop_map(Action::Refuse),
    ]
}

/// Drives a bare session (no fake server) and checks the invariants on every output.
struct Driver {
    session: Session,
    now: u64,
    sockets: Vec<u64>,
    next_handle: Handle,
    completions: HashMap<Handle, usize>,
    issued: Vec<Handle>,
    /// Some(true) after SDK_READY, Some(false) after SDK_NOT_READY.
    last_readiness: Option<bool>,
    /// A KICKED_OUT arrived while ready: the next event must be SDK_NOT_READY.
    expect_not_ready: bool,
    /// How many SDK_READY were seen (to check the generator reaches the ready state).
    readies: usize,
    /// The newest frame the session sent, and on which socket.
    last_sent: Option<(u64, ClientFrame)>,
}

impl Driver {
    fn new(seed: u64) -> Driver {
        let mut config = Config::new(1, "ws://h/ws");
        config.rng_seed = seed;
        Driver {
            session: Session::new(config),
            now: 0,
            sockets: Vec::new(),
            next_handle: 1,
            completions: HashMap::new(),
            issued: Vec::new(),
            last_readiness: None,
            expect_not_ready: false,
            readies: 0,
            last_sent: None,
        }
    }

    fn feed(&mut self, input: Input) {
        self.session.handle_input(self.now, input);
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::OpenSocket { socket, .. } => self.sockets.push(socket),
                Output::Completed { handle, .. } => {
                    let count = self.completions.entry(handle).or_default();
                    *count += 1;
                    assert_eq!(*count, 1, "handle {handle} completed twice");
                }
                Output::Event(event) => {
                    if self.expect_not_ready {
                        assert_eq!(
                            event,
                            Event::SdkNotReady,
                            "KICKED_OUT must be followed by SDK_NOT_READY"
                        );
                        self.expect_not_ready = false;
                    }
                    match event {
                        Event::SdkReady => {
                            assert_ne!(self.last_readiness, Some(true), "two SDK_READY without SDK_NOT_READY");
                            self.last_readiness = Some(true);
                            self.readies += 1;
                        }
                        Event::SdkNotReady => {
                            assert_eq!(
                                self.last_readiness,
                                Some(true),
                                "SDK_NOT_READY without SDK_READY before"
                            );
                            self.last_readiness = Some(false);
                        }
                        Event::KickedOut { .. } => self.expect_not_ready = self.last_readiness == Some(true),
                        _ => {}
                    }
                }
                Output::Transmit { socket, frame } => self.last_sent = Some((socket, frame)),
                Output::CloseSocket { .. } => {}
            }
        }
        assert!(!self.expect_not_ready, "KICKED_OUT while ready without SDK_NOT_READY");
    }

    fn command(&mut self, command: Command) {
        let handle = self.next_handle;
        self.next_handle += 1;
        self.issued.push(handle);
        self.feed(Input::Command { handle, command });
    }

    fn socket(&self, which: u8) -> u64 {
        let n = self.sockets.len();
        match (which, n) {
            (_, 0) => 1,
            (0, _) | (_, 1) => self.sockets[n - 1],
            _ => self.sockets[n - 2],
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Login(user) => self.command(Command::Login {
                user_id: format!("user{user}"),
                user_sig: "sig".into(),
            }),
            Action::Logout => self.command(Command::Logout),
            Action::Send => self.command(Command::SendMessage {
                to: "bob".into(),
                text: "hi".into(),
            }),
            Action::Opened(w) => self.feed(Input::SocketOpened { socket: self.socket(w) }),
            Action::Closed(w, code) => self.feed(Input::SocketClosed {
                socket: self.socket(w),
                code,
                reason: String::new(),
            }),
            Action::Frame(w, frame) => self.feed(Input::FrameReceived {
                socket: self.socket(w),
                frame,
            }),
            Action::Undecodable(w) => self.feed(Input::FrameUndecodable {
                socket: self.socket(w),
                error: "junk".into(),
            }),
            Action::Advance(ms) => {
                self.now += ms;
                self.feed(Input::Timeout);
            }
            Action::Network(online) => self.feed(Input::Network(if online {
                NetworkHint::Online
            } else {
                NetworkHint::Offline
            })),
            Action::Answer => {
                if let Some((socket, sent)) = self.last_sent.take() {
                    let frame = match sent {
                        ClientFrame::Login { id, instance_id, .. } => ServerFrame::LoginAck {
                            id,
                            resumed: instance_id.is_some(),
                            instance_id: instance_id.unwrap_or_else(|| "inst-1".into()),
                            hello_interval_ms: 30_000,
                            server_time_ms: 0,
                            repeat_login: false,
                            user_sig_expire_at: 0,
                        },
                        ClientFrame::Logout { id } => ServerFrame::LogoutAck { id },
                        ClientFrame::Hello { id } => ServerFrame::HelloAck { id, server_time_ms: 0 },
                        ClientFrame::SendMessage { id, .. } => ServerFrame::SendMessageAck { id, seq: 1, time_ms: 0 },
                    };
                    self.feed(Input::FrameReceived { socket, frame });
                }
            }
            Action::Refuse(code) => {
                if let Some((socket, sent)) = self.last_sent.take() {
                    let frame = ServerFrame::Error {
                        id: Some(sent.id()),
                        code,
                        message: "refused".into(),
                    };
                    self.feed(Input::FrameReceived { socket, frame });
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_request_completes_at_most_once_and_exactly_once_after_destroy(
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 0..80),
    ) {
        let mut d = Driver::new(seed);
        for action in actions {
            d.apply(action);
        }
        d.feed(Input::Destroy);
        for handle in d.issued.clone() {
            prop_assert_eq!(d.completions.get(&handle).copied(), Some(1), "handle {} after destroy", handle);
        }
        prop_assert_eq!(d.session.poll_timeout(), None);
        // Nothing moves any more.
        d.now += 3_600_000;
        let opened = d.sockets.len();
        d.feed(Input::Timeout);
        d.feed(Input::Network(NetworkHint::Online));
        prop_assert_eq!(d.sockets.len(), opened);
    }

    #[test]
    fn any_server_frame_sequence_in_any_state_never_panics(
        setup in prop::collection::vec(action(), 0..10),
        frames in prop::collection::vec(server_frame(), 0..40),
    ) {
        let mut d = Driver::new(0);
        d.apply(Action::Login(0));
        d.apply(Action::Opened(0));
        for action in setup {
            d.apply(action);
        }
        for frame in frames {
            d.apply(Action::Frame(0, frame));
        }
    }
}

/// Guards the generator of the property above: random sequences must actually reach the ready state
/// (and be kicked, and reconnect) often enough for the property to mean something.
#[test]
fn random_sequences_reach_ready_and_kicked_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut reached_ready, mut reached_kicked, mut reached_reconnecting) = (0, 0, 0);
    for _ in 0..300 {
        let actions = prop::collection::vec(action(), 0..80)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let mut d = Driver::new(0);
        let (mut kicked, mut reconnecting) = (false, false);
        for action in actions {
            d.apply(action);
            kicked |= matches!(d.session.state(), tim_core::SessionState::Kicked(_));
            reconnecting |= d.session.state() == tim_core::SessionState::Reconnecting;
        }
        reached_reconnecting += usize::from(reconnecting);
        reached_ready += usize::from(d.readies > 0);
        reached_kicked += usize::from(kicked);
    }
    assert!(reached_ready >= 30, "only {reached_ready} of 300 sequences got ready");
    assert!(
        reached_kicked >= 10,
        "only {reached_kicked} of 300 sequences got kicked"
    );
    assert!(
        reached_reconnecting >= 10,
        "only {reached_reconnecting} of 300 sequences reconnected"
    );
}
