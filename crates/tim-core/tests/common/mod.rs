//! Simulated-time harness: a [`Session`], a clock, a tiny fake server and a recorder of `(time, Output)`.
//!
//! The network delivers each message `latency` ms after it was sent, in order. [`Harness::step`] jumps
//! to the earliest of the next delivery and the session's deadline, as quinn's `Pair` does.

#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::HashSet;

use tim_core::{
    Command, Config, ErrorCode, Event, Handle, Input, KickType, Millis, NetworkHint, Output, Response, Session,
    SessionState, SocketId, TimError,
};
use tim_protocol::{ClientFrame, ServerFrame};

pub const APP: u64 = 1_400_000_000;
pub const URL: &str = "ws://127.0.0.1:9000/ws";
pub const TIMEOUT: Millis = 10_000;
pub const HELLO: Millis = 30_000;

/// How the fake server answers a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `loginAck`.
    Ack,
    /// An `error` reply with this code.
    Refuse(ErrorCode),
    /// Nothing at all.
    Silent,
}

/// A server that answers frames the way `tim-server` does, with switches to misbehave.
#[derive(Debug)]
pub struct FakeServer {
    /// Sockets open (false: every `OpenSocket` fails with close 1006).
    pub accept_sockets: bool,
    /// URLs nothing listens on: a socket to one fails with close 1006.
    pub down: Vec<String>,
    /// URLs that never answer: a socket to one neither opens nor closes.
    pub unreachable: Vec<String>,
    /// Answer to a fresh login.
    pub login_reply: Reply,
    /// Answer to a resume (login with an instance id).
    pub resume_reply: Reply,
    pub answer_logout: bool,
    pub answer_hello: bool,
    pub answer_send: bool,
    pub hello_interval_ms: u64,
    /// Every frame the client sent, with its arrival time.
    pub received: Vec<(Millis, ClientFrame)>,
    /// The server's end of the current connection.
    pub socket: Option<SocketId>,
    /// Connections cut without a close: frames sent on them vanish.
    dead: HashSet<SocketId>,
    instances: u32,
    seq: u64,
}

impl FakeServer {
    fn new() -> FakeServer {
        FakeServer {
            accept_sockets: true,
            down: Vec::new(),
            unreachable: Vec::new(),
            login_reply: Reply::Ack,
            resume_reply: Reply::Ack,
            answer_logout: true,
            answer_hello: true,
            answer_send: true,
            hello_interval_ms: HELLO,
            received: Vec::new(),
            socket: None,
            dead: HashSet::new(),
            instances: 0,
            seq: 0,
        }
    }

    /// The frames the client sent, as short names (`login`, `resume inst-1`, `hello`...).
    pub fn received_names(&self) -> Vec<String> {
        self.received.iter().map(|(_, f)| frame_name(f)).collect()
    }

    fn answer(&mut self, now: Millis, frame: &ClientFrame) -> Option<ServerFrame> {
        match frame {
            ClientFrame::Login { id, instance_id, .. } => {
                let reply = if instance_id.is_some() {
                    &self.resume_reply
                } else {
                    &self.login_reply
                };
                match reply {
                    Reply::Ack => {
                        let (instance_id, resumed) = match instance_id {
                            Some(existing) => (existing.clone(), true),
                            None => {
                                self.instances += 1;
                                (format!("inst-{}", self.instances), false)
                            }
                        };
                        Some(ServerFrame::LoginAck {
                            id: *id,
                            instance_id,
                            hello_interval_ms: self.hello_interval_ms,
                            server_time_ms: now,
                            repeat_login: false,
                            resumed,
                            user_sig_expire_at: 0,
                        })
                    }
                    Reply::Refuse(code) => Some(ServerFrame::error(Some(*id), *code)),
                    Reply::Silent => None,
                }
            }
            ClientFrame::Logout { id } => self.answer_logout.then_some(ServerFrame::LogoutAck { id: *id }),
            ClientFrame::Hello { id } => self.answer_hello.then_some(ServerFrame::HelloAck {
                id: *id,
                server_time_ms: now,
            }),
            ClientFrame::SendMessage { id, .. } => {
                self.seq += 1;
                self.answer_send.then_some(ServerFrame::SendMessageAck {
                    id: *id,
                    seq: self.seq,
                    time_ms: now,
                })
            }
        }
    }
}

/// The session, its clock, the network between it and the fake server, and the record of outputs.
pub struct Harness {
    pub session: Session,
    pub now: Millis,
    pub latency: Millis,
    pub log: Vec<(Millis, Output)>,
    pub server: FakeServer,
    /// Messages on their way to the client: (delivery time, input), in delivery order.
    in_flight: Vec<(Millis, Input)>,
    next_handle: Handle,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A harness with the default config (seed 1) and 5 ms latency.
    pub fn new() -> Harness {
        let mut config = Config::new(APP, URL);
        config.rng_seed = 1;
        Harness::with_config(config)
    }

    pub fn with_config(config: Config) -> Harness {
        Harness {
            session: Session::new(config),
            now: 0,
            latency: 5,
            log: Vec::new(),
            server: FakeServer::new(),
            in_flight: Vec::new(),
            next_handle: 1,
        }
    }

    /// A harness already logged in as `alice` (after the ack), with the log cleared.
    pub fn ready() -> Harness {
        let mut h = Harness::new();
        h.login("alice");
        h.settle();
        assert_eq!(h.session.state(), SessionState::Ready);
        h.log.clear();
        h
    }

    // --- driving -------------------------------------------------------------------------------------

    /// Feeds an input at `now` and records what comes out.
    pub fn input(&mut self, input: Input) {
        self.session.handle_input(self.now, input);
        self.pump();
    }

    /// Calls an API; returns its handle.
    pub fn command(&mut self, command: Command) -> Handle {
        let handle = self.next_handle;
        self.next_handle += 1;
        self.input(Input::Command { handle, command });
        handle
    }

    pub fn login(&mut self, user: &str) -> Handle {
        self.command(Command::Login {
            user_id: user.into(),
            user_sig: format!("sig-of-{user}"),
        })
    }

    pub fn logout(&mut self) -> Handle {
        self.command(Command::Logout)
    }

    pub fn send(&mut self, to: &str, text: &str) -> Handle {
        self.command(Command::SendMessage {
            to: to.into(),
            text: text.into(),
        })
    }

    pub fn network(&mut self, hint: NetworkHint) {
        self.input(Input::Network(hint));
    }

    /// The server pushes a frame on its current connection.
    pub fn push(&mut self, frame: ServerFrame) {
        let socket = self.server.socket.expect("server has a connection");
        self.deliver(Input::FrameReceived { socket, frame });
    }

    /// The server closes its current connection with `code`.
    pub fn server_close(&mut self, code: u16) {
        let socket = self.server.socket.take().expect("server has a connection");
        self.deliver(Input::SocketClosed {
            socket,
            code,
            reason: String::new(),
        });
    }

    /// The kick sequence of the real server: a `kicked` frame, then close 4001.
    pub fn kick(&mut self, kick_type: KickType) {
        self.push(ServerFrame::kicked(kick_type));
        self.server_close(tim_protocol::close::KICKED);
    }

    /// The server evicts this instance for a login on `platform` at `time_ms`, and says so.
    pub fn kick_by(&mut self, platform: tim_protocol::Platform, time_ms: u64) {
        self.push(ServerFrame::Kicked {
            kick_type: KickType::MultipleAccount,
            platform: Some(platform),
            time_ms: Some(time_ms),
        });
        self.server_close(tim_protocol::close::KICKED);
    }

    /// The connection dies without a close (half-open): nothing sent on it arrives anywhere.
    pub fn cut(&mut self) {
        if let Some(socket) = self.server.socket.take() {
            self.server.dead.insert(socket);
            self.in_flight.retain(|(_, input)| socket_of(input) != Some(socket));
        }
    }

    fn deliver(&mut self, input: Input) {
        self.in_flight.push((self.now + self.latency, input));
    }

    /// Drains the session's outputs into the log and lets the server react.
    fn pump(&mut self) {
        while let Some(output) = self.session.poll_output() {
            self.log.push((self.now, output.clone()));
            match output {
                Output::OpenSocket { socket, url } => {
                    if self.server.unreachable.contains(&url) {
                        continue;
                    }
                    if self.server.accept_sockets && !self.server.down.contains(&url) {
                        self.server.socket = Some(socket);
                        self.deliver(Input::SocketOpened { socket });
                    } else {
                        self.deliver(Input::SocketClosed {
                            socket,
                            code: 1006,
                            reason: "refused".into(),
                        });
                    }
                }
                Output::CloseSocket { socket, .. } => {
                    if self.server.socket == Some(socket) {
                        self.server.socket = None;
                    }
                }
                Output::Transmit { socket, frame } => {
                    if self.server.dead.contains(&socket) || self.server.socket != Some(socket) {
                        continue;
                    }
                    self.server.received.push((self.now + self.latency, frame.clone()));
                    if let Some(reply) = self.server.answer(self.now + self.latency, &frame) {
                        // Request and reply each take `latency`.
                        self.in_flight.push((
                            self.now + 2 * self.latency,
                            Input::FrameReceived { socket, frame: reply },
                        ));
                    }
                }
                Output::Event(_) | Output::Completed { .. } => {}
            }
        }
        self.in_flight.sort_by_key(|(t, _)| *t); // stable: same-time messages keep their order
    }

    fn next_time(&self) -> Option<Millis> {
        let next_delivery = self.in_flight.first().map(|(t, _)| *t);
        [next_delivery, self.session.poll_timeout()].into_iter().flatten().min()
    }

    /// Advances to the next delivery or deadline and handles it. False when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some(next) = self.next_time() else { return false };
        self.now = self.now.max(next);
        if self.in_flight.first().is_some_and(|(t, _)| *t <= self.now) {
            let (_, input) = self.in_flight.remove(0);
            self.input(input);
        } else {
            self.input(Input::Timeout);
        }
        true
    }

    /// Handles everything scheduled up to `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Millis) {
        let mut steps = 0;
        while self.next_time().is_some_and(|next| next <= t) {
            self.step();
            steps += 1;
            assert!(
                steps < 1_000_000,
                "no progress at {} ms: a deadline that does not move",
                self.now
            );
        }
        self.now = self.now.max(t);
    }

    pub fn run_for(&mut self, d: Millis) {
        self.run_until(self.now + d);
    }

    /// Lets in-flight messages arrive (one second of simulated time).
    pub fn settle(&mut self) {
        self.run_for(1_000);
    }

    // --- reading the record ----------------------------------------------------------------------------

    pub fn mark(&self) -> usize {
        self.log.len()
    }

    /// The record since `mark` as `"<time> <output>"` lines.
    pub fn trace_from(&self, mark: usize) -> Vec<String> {
        self.log[mark..]
            .iter()
            .map(|(t, o)| format!("{t} {}", describe(o)))
            .collect()
    }

    pub fn trace(&self) -> Vec<String> {
        self.trace_from(0)
    }

    /// Only events and completions (no socket plumbing), without times.
    pub fn user_visible(&self) -> Vec<String> {
        self.log
            .iter()
            .filter(|(_, o)| matches!(o, Output::Event(_) | Output::Completed { .. }))
            .map(|(_, o)| describe(o))
            .collect()
    }

    pub fn events(&self) -> Vec<(Millis, Event)> {
        self.log
            .iter()
            .filter_map(|(t, o)| match o {
                Output::Event(e) => Some((*t, e.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn completions(&self, handle: Handle) -> Vec<Result<Response, TimError>> {
        self.log
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Completed { handle: h, result } if *h == handle => Some(result.clone()),
                _ => None,
            })
            .collect()
    }

    /// The single completion of `handle` (fails the test if there is none or more than one).
    pub fn result(&self, handle: Handle) -> Result<Response, TimError> {
        let all = self.completions(handle);
        assert_eq!(all.len(), 1, "handle {handle} completed {} times: {all:?}", all.len());
        all.into_iter().next().expect("one completion")
    }

    pub fn error_code(&self, handle: Handle) -> u32 {
        match self.result(handle) {
            Err(e) => e.code,
            Ok(r) => panic!("handle {handle} succeeded: {r:?}"),
        }
    }

    pub fn sockets_opened(&self) -> usize {
        self.log
            .iter()
            .filter(|(_, o)| matches!(o, Output::OpenSocket { .. }))
            .count()
    }

    /// The URL of every socket the session opened, in order, with the time.
    pub fn opened_urls(&self) -> Vec<(Millis, String)> {
        self.log
            .iter()
            .filter_map(|(t, o)| match o {
                Output::OpenSocket { url, .. } => Some((*t, url.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn times_of(&self, what: &str) -> Vec<Millis> {
        self.log
            .iter()
            .filter(|(_, o)| describe(o) == what)
            .map(|(t, _)| *t)
            .collect()
    }
}

fn socket_of(input: &Input) -> Option<SocketId> {
    match input {
        Input::SocketOpened { socket }
        | Input::SocketClosed { socket, .. }
        | Input::FrameReceived { socket, .. }
        | Input::FrameUndecodable { socket, .. } => Some(*socket),
        _ => None,
    }
}

pub fn frame_name(frame: &ClientFrame) -> String {
    match frame {
        ClientFrame::Login { instance_id: None, .. } => "login".into(),
        ClientFrame::Login {
            instance_id: Some(id), ..
        } => format!("resume {id}"),
        ClientFrame::Logout { .. } => "logout".into(),
        ClientFrame::Hello { .. } => "hello".into(),
        ClientFrame::SendMessage { to, text, .. } => format!("sendMessage {to} {text}"),
    }
}

/// One output as a short line: `open #1`, `send login`, `SdkReady`, `done h1 ok Login { .. }`, ...
pub fn describe(output: &Output) -> String {
    match output {
        Output::OpenSocket { socket, .. } => format!("open #{socket}"),
        Output::CloseSocket { socket, code } => format!("close #{socket} {code}"),
        Output::Transmit { socket, frame } => format!("send #{socket} {}", frame_name(frame)),
        Output::Event(event) => match event {
            Event::SdkReady => "SdkReady".into(),
            Event::SdkNotReady => "SdkNotReady".into(),
            Event::KickedOut {
                kick_type,
                platform,
                time_ms,
            } => {
                let mut line = format!("KickedOut {}", kick_type.as_str());
                if let Some(platform) = platform {
                    line += &format!(" by {}", platform.as_str());
                }
                if let Some(time_ms) = time_ms {
                    line += &format!(" at {time_ms}");
                }
                line
            }
            Event::NetStateChange { state } => format!("net {}", state.as_str()),
            Event::Error { code, .. } => format!("Error {code}"),
            Event::MessageReceived { messages } => {
                let texts: Vec<String> = messages
                    .iter()
                    .map(|m| format!("{}>{}: {}", m.from, m.to, m.text))
                    .collect();
                format!("MessageReceived [{}]", texts.join(", "))
            }
        },
        Output::Completed {
            handle,
            result: Ok(Response::SendMessage { message }),
        } => format!(
            "done h{handle} ok SendMessage {{ seq: {}, time_ms: {} }}",
            message.seq, message.time_ms
        ),
        Output::Completed {
            handle,
            result: Ok(response),
        } => format!("done h{handle} ok {response:?}"),
        Output::Completed {
            handle,
            result: Err(error),
        } => format!("done h{handle} err {}", error.code),
    }
}
