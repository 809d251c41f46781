//! The server in this process, in simulated time: the real router, connection loop, registry and limits
//! over in-memory byte pipes, reading a [`Clock::simulated`] under `#[tokio::test(start_paused = true)]`.
//!
//! The pipes wake their reader directly (no kernel in between), so the runtime is idle only when every
//! task waits on a timer: tokio's auto-advance then jumps to the next deadline, and a test observes each
//! timer firing at its exact simulated instant. (Over real loopback sockets the runtime also looks idle
//! while bytes are in the kernel, and auto-advance would race them.)
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::MockConnectInfo;
use futures_util::{SinkExt, StreamExt};
use tim_protocol::{ClientFrame, Platform, ServerFrame, PROTOCOL_VERSION};
use tim_server::app_state::AppState;
use tim_server::clock::Clock;
use tim_server::config::Config;
use tim_server::registry::{AccountKey, InstanceInfo};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub const APP: u64 = 1_400_000_000;
pub const KEY: &str = "sim-secret-key-0123456789abcdef";
/// Simulated wall time at the start of every test: a whole second, so UserSig seconds line up.
pub const START_UNIX_MS: u64 = 1_800_000_000_000;
/// Where every simulated connection comes from.
pub const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);

pub type Ws = WebSocketStream<DuplexStream>;

/// Accepts the server halves of in-memory pipes.
struct PipeListener {
    incoming: mpsc::UnboundedReceiver<DuplexStream>,
}

impl axum::serve::Listener for PipeListener {
    type Io = DuplexStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (DuplexStream, SocketAddr) {
        match self.incoming.recv().await {
            Some(io) => (io, SocketAddr::from(PEER)),
            // The test dropped its server handle: accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(SocketAddr::from(([127, 0, 0, 1], 9)))
    }
}

/// A server in this process; its tasks run on the test's (paused) runtime.
pub struct SimServer {
    pub state: Arc<AppState>,
    connect: mpsc::UnboundedSender<DuplexStream>,
}

impl SimServer {
    /// A server for this config (`[[app]]` APP with `n` instances; `limits` goes inside `[limits]`).
    pub fn start(n: u32, limits: &str) -> SimServer {
        let text = format!(
            "[[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = {n}\n[limits]\n{limits}\n"
        );
        let config = Config::parse(&text).expect("config");
        let state = AppState::with_clock(&config, false, Clock::simulated(START_UNIX_MS));
        let (connect, incoming) = mpsc::unbounded_channel();
        let app = tim_server::server::router(Arc::clone(&state)).layer(MockConnectInfo(SocketAddr::from(PEER)));
        tokio::spawn(async move {
            let _ = axum::serve(PipeListener { incoming }, app).await;
        });
        tokio::spawn(tim_server::server::sweep(Arc::clone(&state)));
        SimServer { state, connect }
    }

    /// The server's clock.
    pub fn clock(&self) -> Clock {
        self.state.clock
    }

    /// A WebSocket connection to `/ws` over a fresh pipe.
    pub async fn connect(&self) -> Ws {
        let (client, server) = tokio::io::duplex(256 * 1024);
        self.connect.send(server).expect("server running");
        let (ws, _) = tokio_tungstenite::client_async("ws://sim/ws", client)
            .await
            .expect("handshake");
        ws
    }

    /// A UserSig for APP issued at the server's current wall time.
    pub fn sig(&self, user: &str, expire_secs: u64) -> String {
        tim_usersig::gen_usersig(APP, KEY, user, expire_secs, self.clock().unix_secs(), None)
    }

    /// Connects and logs in with a one-day UserSig; panics unless it succeeds. Returns the instance id.
    pub async fn login_ok(&self, user: &str) -> (Ws, String) {
        let sig = self.sig(user, 86_400);
        self.login_with(user, &sig, None).await
    }

    /// Connects and logs in with this UserSig (and instance id, for a resume); panics unless it succeeds.
    pub async fn login_with(&self, user: &str, sig: &str, instance_id: Option<&str>) -> (Ws, String) {
        let mut ws = self.connect().await;
        send(&mut ws, &login_frame(1, user, sig, instance_id)).await;
        match recv(&mut ws).await {
            ServerFrame::LoginAck { instance_id, .. } => (ws, instance_id),
            other => panic!("login of {user} failed: {other:?}"),
        }
    }

    /// The account's live instances, straight from the registry.
    pub async fn instances(&self, user: &str) -> Vec<InstanceInfo> {
        let account = AccountKey {
            sdk_app_id: APP,
            user_id: user.into(),
        };
        self.state
            .registry
            .instances(&account)
            .await
            .expect("the memory engine answers")
    }

    /// The Prometheus text the server would serve.
    pub async fn metrics(&self) -> String {
        self.state
            .metrics
            .render(self.state.caps.open(), self.state.registry.instance_count().await)
    }
}

pub fn login_frame(id: u32, user: &str, sig: &str, instance_id: Option<&str>) -> ClientFrame {
    ClientFrame::Login {
        id,
        version: PROTOCOL_VERSION,
        sdk_app_id: APP,
        user_id: user.into(),
        user_sig: sig.into(),
        platform: Platform::Web,
        instance_id: instance_id.map(String::from),
    }
}

pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    ws.send(Message::Text(frame.encode().into())).await.expect("send");
}

/// What a client sees next, and when (simulated time).
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Frame(ServerFrame),
    Closed(Option<u16>),
}

/// The next frame or close, with the simulated instant it arrived; `None` if nothing came before `until`.
pub async fn next_before(ws: &mut Ws, until: Instant) -> Option<(Event, Instant)> {
    loop {
        let msg = match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => return None,
            Ok(None) | Ok(Some(Err(_))) => return Some((Event::Closed(None), Instant::now())),
            Ok(Some(Ok(msg))) => msg,
        };
        let event = match msg {
            Message::Text(text) => Event::Frame(ServerFrame::decode(text.as_str()).expect("server frame decodes")),
            Message::Close(frame) => Event::Closed(frame.map(|f| u16::from(f.code))),
            _ => continue,
        };
        return Some((event, Instant::now()));
    }
}

/// The next event, whenever it comes (a day of simulated time at most).
pub async fn next(ws: &mut Ws) -> (Event, Instant) {
    next_before(ws, Instant::now() + Duration::from_secs(86_400))
        .await
        .expect("something within a simulated day")
}

/// The next frame; panics on a close.
pub async fn recv(ws: &mut Ws) -> ServerFrame {
    match next(ws).await.0 {
        Event::Frame(f) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

/// Asserts that nothing at all arrives before `until` (simulated).
pub async fn quiet_until(ws: &mut Ws, until: Instant) {
    if let Some(event) = next_before(ws, until).await {
        panic!("expected nothing before {until:?}, got {event:?}");
    }
}

/// Frames up to the close, the close code, and the simulated instant of the close.
pub async fn until_close(ws: &mut Ws) -> (Vec<ServerFrame>, Option<u16>, Instant) {
    let mut frames = Vec::new();
    loop {
        match next(ws).await {
            (Event::Frame(f), _) => frames.push(f),
            (Event::Closed(code), at) => {
                // Poll once more so that our close reply goes out and the server's handshake completes
                // (it ends at once over a pipe; the bound only guards against a hang).
                let _ = tokio::time::timeout(ms(1), ws.next()).await;
                return (frames, code, at);
            }
        }
    }
}

/// A hello round trip: the next frame must be its ack (proves no kick or push was queued before it).
pub async fn hello(ws: &mut Ws, id: u32) {
    send(ws, &ClientFrame::Hello { id }).await;
    match recv(ws).await {
        ServerFrame::HelloAck { id: got, .. } if got == id => {}
        other => panic!("expected helloAck {id}, got {other:?}"),
    }
}

pub fn error_code(frame: &ServerFrame) -> Option<u32> {
    match frame {
        ServerFrame::Error { code, .. } => Some(code.get()),
        _ => None,
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
