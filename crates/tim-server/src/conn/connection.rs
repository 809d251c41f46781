//! One WebSocket connection: the upgrade handler and the socket loop (frames in, replies and pushes
//! out, timers for the login deadline, idle timeout and UserSig expiry, kicks from the hub).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::Extension;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tim_protocol::{close, ClientFrame, DecodeError, ErrorCode, KickType, ServerFrame};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::app_state::AppState;
use crate::conn::login::{error_frame, ConnLogin, LoggedIn, Reply};
use crate::conn::ws_socket::{AxumSocket, Socket, MAX_WRITE_BUFFER, READ_BUFFER};
use crate::effects::settle::{Pending, Settle};
use crate::effects::Gone;
use crate::hub::{ConnInbox, Control, Inbound};
use crate::limits::{ConnCtx, ConnSlot, Refusal};
use crate::registry::{ConnId, Evictor};

/// How long a closing handshake may take when the server is shutting down or making room.
const QUICK_CLOSE: Duration = Duration::from_millis(500);

/// `GET /ws`: upgrades, then runs the connection (or refuses it when a connection cap is reached).
/// The place in the caps was taken when the TCP connection was accepted (`accept`); without that
/// context (a router served some other way) it is taken here.
pub async fn ws_handler(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(state): State<Arc<AppState>>,
    ctx: Option<Extension<ConnCtx>>,
) -> Response {
    let limit = state.limits.max_socket_message_bytes;
    let slot = match ctx {
        // Behind a proxy: the place moves to the client's address (`peer` is the client's, see `accept`).
        Some(Extension(ctx)) => crate::edge::accept::ws_slot(&state, ctx.take_slot(), peer.ip()),
        None => state.caps.acquire(peer.ip()).map(Arc::new),
    };
    // The same settings as `ws_socket::config` (axum's builder does not take a tungstenite config).
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(AxumSocket(socket), state, peer.ip(), slot))
}

/// Runs an upgraded `/ws` connection with its place in the caps, or refuses it (80004, close 4003).
pub async fn serve<S: Socket>(socket: S, state: Arc<AppState>, ip: IpAddr, slot: Result<Arc<ConnSlot>, Refusal>) {
    match slot {
        Ok(slot) => run(socket, state, ip, slot).await,
        Err(refusal) => refuse_full(socket, state, refusal).await,
    }
}

async fn refuse_full<S: Socket>(socket: S, state: Arc<AppState>, refusal: Refusal) {
    state.metrics.connection_refused(refusal.as_str());
    let (mut sink, mut stream) = socket.split();
    let write_timeout = QUICK_CLOSE;
    let frame = error_frame(None, ErrorCode::TooManyConnections);
    if send_text(&mut sink, &frame, write_timeout).await {
        close_gracefully(
            &mut sink,
            &mut stream,
            close::SERVER_FULL,
            "too many connections",
            write_timeout,
        )
        .await;
    }
}

/// Why the socket loop ended; decides what happens to the instance the connection held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The client went away or the connection broke: keep the slot for the resume grace.
    Dropped,
    /// Idle timeout: free the slot now.
    Idle,
    /// Server shutdown: nothing to keep.
    Shutdown,
}

/// The connection's timed events (one timer waits for the first of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Idle,
    LoginDeadline,
    SigExpiry,
}

struct Conn<S: Socket> {
    state: Arc<AppState>,
    id: ConnId,
    ip: IpAddr,
    login: ConnLogin,
    /// The place in the connection caps: pending (evictable) until logged in.
    slot: Arc<ConnSlot>,
    sink: SplitSink<S, Message>,
    stream: SplitStream<S>,
    write_timeout: Duration,
    /// Last inbound traffic (for the idle timeout).
    last_inbound: Instant,
    /// While not logged in: when the login deadline falls.
    login_deadline: Option<Instant>,
    /// Set once the UserSig-expiry timer fired for the current instance (a kick may be on its way).
    expiry_fired: bool,
}

async fn run<S: Socket>(socket: S, state: Arc<AppState>, ip: IpAddr, slot: Arc<ConnSlot>) {
    let (id, inbox) = state.hub.register(state.limits.outbound_queue_frames);
    let (sink, stream) = socket.split();
    let now = state.clock.now();
    let mut conn = Conn {
        login: ConnLogin::new(Arc::clone(&state), id, ip),
        state: Arc::clone(&state),
        id,
        slot,
        ip,
        sink,
        stream,
        write_timeout: Duration::from_millis(state.limits.write_timeout_ms),
        last_inbound: now,
        login_deadline: Some(now + Duration::from_millis(state.limits.login_deadline_ms)),
        expiry_fired: false,
    };
    tracing::debug!(conn = id, %ip, "connected");
    let ending = conn.serve(inbox).await;
    Box::pin(conn.finish(ending)).await;
    state.hub.unregister(id);
    drop(conn);
    tracing::debug!(conn = id, ?ending, "disconnected");
}

impl<S: Socket> Conn<S> {
    /// The socket loop. Every branch body that is more than a line is boxed: an idle connection's task
    /// then holds only the small futures it waits on, not room for the login path or a closing
    /// handshake (the bench measured memory per idle instance against the fair floor).
    async fn serve(&mut self, mut inbox: ConnInbox) -> Ending {
        let mut shutdown = self.state.shutdown.subscribe();
        let idle = Duration::from_millis(self.state.limits.idle_timeout_ms);
        loop {
            if *shutdown.borrow_and_update() {
                // Bounded whatever the client does: the process exits within `shutdown_grace_ms`.
                self.write_timeout = QUICK_CLOSE;
                Box::pin(self.close(close::SERVICE_RESTART, "server shutting down; resume elsewhere")).await;
                return Ending::Shutdown;
            }
            let timer = self.next_timer(self.last_inbound + idle);
            tokio::select! {
                biased;
                _ = shutdown.changed() => continue,
                inbound = inbox.recv() => {
                    let frame = match inbound {
                        Inbound::Control(cmd) => match Box::pin(self.on_control(cmd)).await {
                            Some(ending) => return ending,
                            None => continue,
                        },
                        Inbound::Push(frame) => frame,
                    };
                    let text = Message::Text(frame.encode().into());
                    match Box::pin(timeout(self.write_timeout, self.sink.send(text))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Ending::Dropped,
                        Err(_) => {
                            // The client stopped reading: drop it rather than queue without bound.
                            self.state.metrics.connection_closed_by_limit("write_timeout");
                            return Ending::Dropped;
                        }
                    }
                }
                msg = self.stream.next() => {
                    if let Some(ending) = Box::pin(self.on_message(msg)).await {
                        return ending;
                    }
                }
                // A newer connection needs the place, and this one has not logged in.
                _ = self.slot.evicted(), if self.login.current.is_none() => {
                    self.state.metrics.connection_closed_by_limit("evicted");
                    self.write_timeout = QUICK_CLOSE;
                    Box::pin(self.close(close::SERVER_FULL, "making room")).await;
                    return Ending::Dropped;
                }
                // One timer, for the first of the idle timeout, the login deadline and the UserSig expiry.
                _ = sleep_until(timer.0) => match timer.1 {
                    Timer::Idle => {
                        self.state.metrics.connection_closed_by_limit("idle_timeout");
                        // Free the slot before the closing handshake, which may take a while.
                        Box::pin(self.finish(Ending::Idle)).await;
                        Box::pin(self.close(close::IDLE_TIMEOUT, "idle timeout")).await;
                        return Ending::Idle;
                    }
                    Timer::LoginDeadline => {
                        self.state.metrics.connection_closed_by_limit("login_deadline");
                        let frame = error_frame(None, ErrorCode::LoginDeadlineExceeded);
                        if Box::pin(send_text(&mut self.sink, &frame, self.write_timeout)).await {
                            Box::pin(self.close(close::LOGIN_DEADLINE, "login deadline exceeded")).await;
                        }
                        return Ending::Dropped;
                    }
                    Timer::SigExpiry => {
                        if let Some(ending) = Box::pin(self.on_sig_expired()).await {
                            return ending;
                        }
                    }
                },
            }
        }
    }

    /// Which deadline falls first, and when: one already past wins in the order idle, login deadline,
    /// UserSig expiry (as three biased timers would), else the earliest.
    fn next_timer(&self, idle_at: Instant) -> (Instant, Timer) {
        let candidates = [
            Some((idle_at, Timer::Idle)),
            self.login_deadline.map(|at| (at, Timer::LoginDeadline)),
            self.expiry_instant().map(|at| (at, Timer::SigExpiry)),
        ];
        let now = self.state.clock.now();
        let mut first = (idle_at, Timer::Idle);
        for (at, timer) in candidates.into_iter().flatten() {
            if at <= now {
                return (at, timer);
            }
            if at < first.0 {
                first = (at, timer);
            }
        }
        first
    }

    /// When the current instance's UserSig expires, unless that timer already fired.
    fn expiry_instant(&self) -> Option<Instant> {
        let current = self.login.current.as_ref().filter(|_| !self.expiry_fired)?;
        // A UserSig may claim to live for 2^62 s: beyond what an `Instant` holds, it never expires here.
        self.state
            .clock
            .instant_at_unix_ms(current.sig_expires_at.saturating_mul(1000))
    }

    async fn on_sig_expired(&mut self) -> Option<Ending> {
        self.expiry_fired = true;
        let current = self.login.current.clone()?;
        let removal = self.pending(
            &current,
            Settle::Remove {
                kick: Some(KickType::UserSigExpired),
            },
        );
        // The session ends at expiry whatever the registry answers (a removal it cannot confirm now is
        // retried, and its kick record and callback follow it), unless someone else removed the
        // instance first: their kick is on its way.
        match self.state.settle(removal).await {
            Some(false) => None,
            Some(true) | None => Some(self.kick(KickType::UserSigExpired, None).await),
        }
    }

    /// A registry operation on the instance this connection holds.
    fn pending(&self, current: &LoggedIn, what: Settle) -> Pending {
        Pending {
            account: current.account.clone(),
            gone: Gone {
                instance_id: current.instance_id.clone(),
                platform: current.platform,
                ip: Some(self.ip),
                conn: None,
            },
            conn: self.id,
            what,
        }
    }

    async fn kick(&mut self, kick_type: KickType, by: Option<Evictor>) -> Ending {
        self.login.current = None;
        let frame = ServerFrame::Kicked {
            kick_type,
            platform: by.map(|b| b.platform),
            time_ms: by.map(|b| b.login_ms),
        };
        if send_text(&mut self.sink, &frame, self.write_timeout).await {
            self.close(close::KICKED, kick_type.as_str()).await;
        }
        Ending::Dropped
    }

    async fn on_control(&mut self, cmd: Control) -> Option<Ending> {
        let holds = |id: &str| self.login.current.as_ref().is_some_and(|c| c.instance_id == id);
        match cmd {
            Control::Kick {
                instance_id,
                kick_type,
                by,
            } if holds(&instance_id) => Some(self.kick(kick_type, by).await),
            Control::Replaced { instance_id } if holds(&instance_id) => {
                self.login.current = None;
                self.close(1000, "instance resumed on another connection").await;
                Some(Ending::Dropped)
            }
            Control::Move { instance_id } if holds(&instance_id) => {
                self.login.current = None;
                self.write_timeout = QUICK_CLOSE;
                self.close(close::SERVICE_RESTART, "this node cannot serve now; resume elsewhere")
                    .await;
                Some(Ending::Shutdown)
            }
            Control::Kick { .. } | Control::Replaced { .. } | Control::Move { .. } => None,
            Control::Close { code, reason } => {
                self.state.metrics.connection_closed_by_limit("slow_consumer");
                self.close(code, reason).await;
                Some(Ending::Dropped)
            }
        }
    }

    async fn on_message(&mut self, msg: Option<Result<Message, tungstenite::Error>>) -> Option<Ending> {
        let msg = match msg {
            None => return Some(Ending::Dropped),
            Some(Err(e)) => {
                // Oversized beyond the hard limit, invalid UTF-8 in a text frame, or a broken stream.
                let (reason, code) = match e {
                    tungstenite::Error::Capacity(_) => ("too_large", close::TOO_BIG),
                    tungstenite::Error::Utf8(_) => ("not_utf8", close::PROTOCOL_ERROR),
                    _ => return Some(Ending::Dropped),
                };
                self.state.metrics.frame_rejected(reason);
                tracing::debug!(conn = self.id, reason, "inbound frame refused");
                self.close(code, "frame refused").await;
                return Some(Ending::Dropped);
            }
            Some(Ok(msg)) => msg,
        };
        self.last_inbound = self.state.clock.now();
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(_) => {
                self.state.metrics.frame_rejected("binary");
                return self
                    .reply_and_close(
                        error_frame(None, ErrorCode::MalformedFrame),
                        close::PROTOCOL_ERROR,
                        "binary frames are not spoken here",
                    )
                    .await;
            }
            // tungstenite queued the pong; flushing it here means a client that pings without reading
            // stops being read and is dropped after the write timeout, instead of piling up pongs.
            Message::Ping(_) => {
                return match timeout(self.write_timeout, self.sink.flush()).await {
                    Ok(Ok(())) => None,
                    Ok(Err(_)) => Some(Ending::Dropped),
                    Err(_) => {
                        self.state.metrics.connection_closed_by_limit("write_timeout");
                        Some(Ending::Dropped)
                    }
                };
            }
            Message::Pong(_) | Message::Frame(_) => return None,
            Message::Close(_) => return Some(Ending::Dropped),
        };
        // One size rule: the configured limit (which may be above or below the protocol's default).
        let frame = match ClientFrame::decode_limited(text.as_str(), self.state.limits.max_frame_bytes) {
            Ok(frame) => frame,
            Err(DecodeError::TooLarge { .. }) => {
                self.state.metrics.frame_rejected("too_large");
                return self
                    .reply_and_close(
                        error_frame(None, ErrorCode::FrameTooLarge),
                        close::TOO_BIG,
                        "frame too large",
                    )
                    .await;
            }
            Err(e) => {
                self.state.metrics.frame_rejected("malformed");
                tracing::debug!(conn = self.id, error = %e, "malformed frame");
                let frame = error_frame(tim_protocol::request_id_of(text.as_str()), ErrorCode::MalformedFrame);
                return (!send_text(&mut self.sink, &frame, self.write_timeout).await).then_some(Ending::Dropped);
            }
        };
        let was_logged_in = self.login.current.is_some();
        let Reply { frame, close } = self.login.handle(frame).await;
        match (was_logged_in, self.login.current.is_some()) {
            (false, true) => {
                self.login_deadline = None;
                self.expiry_fired = false;
                self.slot.set_logged_in(true);
            }
            // After a logout the connection must log in again within the deadline (or be closed).
            (true, false) => {
                self.login_deadline =
                    Some(self.state.clock.now() + Duration::from_millis(self.state.limits.login_deadline_ms));
                self.slot.set_logged_in(false);
            }
            _ => {}
        }
        match close {
            Some((code, reason)) => self.reply_and_close(frame, code, reason).await,
            None => (!send_text(&mut self.sink, &frame, self.write_timeout).await).then_some(Ending::Dropped),
        }
    }

    async fn reply_and_close(&mut self, frame: ServerFrame, code: u16, reason: &'static str) -> Option<Ending> {
        if send_text(&mut self.sink, &frame, self.write_timeout).await {
            self.close(code, reason).await;
        }
        Some(Ending::Dropped)
    }

    /// Closes this connection (see [`close_gracefully`]).
    async fn close(&mut self, code: u16, reason: &'static str) {
        close_gracefully(&mut self.sink, &mut self.stream, code, reason, self.write_timeout).await;
    }

    /// What happens to the held instance when the loop ends (a no-op once it has been done).
    async fn finish(&mut self, ending: Ending) {
        let Some(current) = self.login.current.take() else {
            return;
        };
        let what = match ending {
            Ending::Dropped => Settle::Detach {
                grace_ms: self.state.limits.resume_grace_ms,
            },
            Ending::Idle => Settle::Remove { kick: None },
            Ending::Shutdown => return,
        };
        let op = self.pending(&current, what);
        self.state.settle(op).await;
    }
}

/// Sends one frame with the write timeout; false when the connection is unusable.
async fn send_text<S: Socket>(sink: &mut SplitSink<S, Message>, frame: &ServerFrame, limit: Duration) -> bool {
    matches!(
        timeout(limit, sink.send(Message::Text(frame.encode().into()))).await,
        Ok(Ok(()))
    )
}

/// Sends a close frame and waits briefly for the client's, so that the close code arrives intact.
async fn close_gracefully<S: Socket>(
    sink: &mut SplitSink<S, Message>,
    stream: &mut SplitStream<S>,
    code: u16,
    reason: &'static str,
    limit: Duration,
) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    };
    if matches!(timeout(limit, sink.send(Message::Close(Some(frame)))).await, Ok(Ok(()))) {
        drain(stream, limit.min(Duration::from_secs(2))).await;
    }
}

/// Reads and drops inbound frames until the client's close arrives (at most `limit`).
async fn drain<S: Socket>(stream: &mut SplitStream<S>, limit: Duration) {
    let _ = timeout(limit, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
