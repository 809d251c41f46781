//! The accept loop: every TCP connection takes its place in the connection caps as it is accepted,
//! gets `TCP_NODELAY`, and is served as HTTP/1.1 (upgrades included) under deadlines:
//!
//! - its request headers (so a WebSocket upgrade) must arrive within `header_read_timeout_ms`, counted in
//!   total from when the server starts waiting for them (not per byte: a slowloris is cut off too);
//! - a request body must arrive within `body_read_timeout_ms` ([`body_deadline`]);
//! - after the upgrade the WebSocket's own deadlines apply (login deadline, idle timeout).
//!
//! The first request head is read here: a plain `GET /ws` upgrade is answered and run in this task
//! without hyper ([`crate::edge::ws_direct`], the bench's login path); anything else is served by hyper with the
//! bytes read put back in front.
//!
//! On Linux a connection reaches `accept` only once it has sent bytes ([`defer_until_first_bytes`]):
//! silent ones wait in the kernel. When the caps are full, a new connection evicts a pending one
//! (`limits`); a connection that cannot be placed is served a refusal (80004 + close 4003 on `/ws`) by a
//! small pool with a short deadline, or closed at once when that pool is busy. Accept errors (out of
//! descriptors) are logged and retried after a short pause: they never stop the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tower_service::Service;

use crate::app_state::AppState;
use crate::conn::{connection, ws_socket};
use crate::edge::ws_direct::{self, Head, Prefixed};
use crate::limits::{ConnCtx, ConnSlot};

/// File descriptors kept out of the connection cap: refusals in flight, evicted connections still
/// closing, the listener, logs and the rest of the process.
pub const FD_RESERVE: u64 = 64;

/// Connections served a refusal at the same time; beyond it a refused connection is closed at once.
pub const REFUSAL_POOL: usize = 16;

/// Header deadline of a connection that is only being refused.
const REFUSAL_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// Pause after a failed accept (EMFILE and the like) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// How long an in-flight HTTP request may still take once the server is shutting down.
const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Largest request body read (the admin API's bodies are small JSON objects).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 1024;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        lim.rlim_cur
    }
    #[cfg(not(unix))]
    {
        u64::MAX
    }
}

/// The listen backlog: room for connections the kernel holds until their first bytes
/// ([`defer_until_first_bytes`]) and for bursts (Linux caps it at `net.core.somaxconn`, 4,096 by
/// default; past it, new connections fall back to SYN cookies, which are not deferred).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `listen` (`host:port`) with [`LISTEN_BACKLOG`] (tokio's `bind` uses 1,024).
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(listen).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As `TcpListener::bind` does: a restarted server can listen while old connections linger.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(LISTEN_BACKLOG),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing")))
}

/// Linux: the kernel hands a connection to `accept` only once its first bytes have come (or, for one
/// that stays silent, once `wait_ms` has passed: the SYN-ACK retransmit after that lets it in, and the
/// header deadline then closes it). A silent connection meanwhile holds no descriptor and no place in
/// the caps, and its client does not reconnect: a flood of them neither locks valid users out nor
/// turns into a storm of evictions and reconnects. Clients of this server always speak first.
pub fn defer_until_first_bytes(listener: &TcpListener, wait_ms: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let secs = libc::c_int::try_from(wait_ms.div_ceil(1000).max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `&secs`, which lives across the call.
        let done = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                (&secs as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "TCP_DEFER_ACCEPT not set");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (listener, wait_ms);
}

/// The connection cap that leaves [`FD_RESERVE`] descriptors free under `nofile`.
pub fn connection_cap(configured: usize, nofile: u64) -> usize {
    let room = nofile.saturating_sub(FD_RESERVE).max(nofile / 2).max(1);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Accepts connections until the server shuts down.
pub async fn serve(listener: TcpListener, app: Router, state: Arc<AppState>) {
    let mut shutdown = state.shutdown.subscribe();
    let refusing = Arc::new(AtomicUsize::new(0));
    let mut accept_errors: u64 = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|down| *down) => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_errors += 1;
                if accept_errors.is_power_of_two() {
                    tracing::warn!(error = %e, count = accept_errors, "accept failed; retrying");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Without TCP_NODELAY, Nagle plus delayed ACKs hold small frames (a kick, an ack) back by tens of
        // milliseconds: the bench measured kick latency p50 23.6 ms with it off, 0.9 ms with it on.
        let _ = tcp.set_nodelay(true);
        // Never a pause here: attackers reconnect as fast as they are closed, and while this loop waits
        // the kernel's backlog fills with their connections and drops a valid user's (a 1 s SYN retry).
        // A valid user among attackers whose evictions are still closing has its own band (`limits`).
        let slot = state.caps.acquire(peer.ip()).map(Arc::new);
        let (header_timeout, refusal) = match &slot {
            Ok(_) => (Duration::from_millis(state.limits.header_read_timeout_ms), None),
            Err(why) => match RefusalTicket::take(&refusing) {
                Some(ticket) => (REFUSAL_HEADER_TIMEOUT, Some(ticket)),
                None => {
                    // Refuse the excess fast: closing now costs nothing and frees the descriptor.
                    state.metrics.connection_refused(why.as_str());
                    drop(tcp);
                    continue;
                }
            },
        };
        let ctx = ConnCtx::new(slot);
        tokio::spawn(serve_connection(
            tcp,
            peer,
            ctx,
            app.clone(),
            Arc::clone(&state),
            header_timeout,
            refusal,
        ));
    }
}

/// One place in the refusal pool.
struct RefusalTicket(Arc<AtomicUsize>);

impl RefusalTicket {
    fn take(pool: &Arc<AtomicUsize>) -> Option<RefusalTicket> {
        pool.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < REFUSAL_POOL).then_some(n + 1)
        })
        .ok()
        .map(|_| RefusalTicket(Arc::clone(pool)))
    }
}

impl Drop for RefusalTicket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: ConnCtx,
    app: Router,
    state: Arc<AppState>,
    header_timeout: Duration,
    refusal: Option<RefusalTicket>,
) {
    // The first request head, read here: a plain `/ws` upgrade is served without hyper (`ws_direct`).
    let started = tokio::time::Instant::now();
    let read = if state.dev {
        Vec::new()
    } else {
        let slot = ctx.take_slot().ok();
        let evicted = until_evicted(slot.as_ref());
        let mut shutdown = state.shutdown.subscribe();
        let head = tokio::select! {
            head = tokio::time::timeout(header_timeout, ws_direct::read_head(&tcp)) => head,
            _ = evicted => {
                state.metrics.connection_closed_by_limit("evicted");
                return;
            }
            _ = shutdown.wait_for(|down| *down) => return,
        };
        match head {
            Ok(Ok(Head::Upgrade { accept, rest })) => {
                drop((app, refusal));
                return serve_direct(tcp, accept, rest, peer, ctx, state, header_timeout).await;
            }
            Ok(Ok(Head::Other(read))) => read,
            // Broken, or no complete head within the deadline: closed without an answer, as hyper does.
            Ok(Err(_)) | Err(_) => return,
        }
    };
    // What is left of the header deadline (at least a moment, so that hyper's own deadline fires).
    let header_timeout = header_timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    // Boxed: the HTTP connection's state is large, and an idle WebSocket of the direct way should not
    // carry room for it.
    Box::pin(serve_http(tcp, read, peer, ctx, app, state, header_timeout, refusal)).await
}

/// Resolves when the cap evicts the connection holding `slot`; never for a connection without one (a
/// refusal being answered).
async fn until_evicted(slot: Option<&Arc<ConnSlot>>) {
    match slot {
        Some(slot) => slot.evicted().await,
        None => std::future::pending().await,
    }
}

/// A direct `/ws` upgrade: the 101, then the connection loop in this task.
async fn serve_direct(
    mut tcp: TcpStream,
    accept: String,
    rest: Vec<u8>,
    peer: SocketAddr,
    ctx: ConnCtx,
    state: Arc<AppState>,
    write_timeout: Duration,
) {
    let answer = ws_direct::switching_protocols(&accept);
    let written = tokio::time::timeout(
        write_timeout,
        tokio::io::AsyncWriteExt::write_all(&mut tcp, answer.as_bytes()),
    )
    .await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let config = ws_socket::config(state.limits.max_socket_message_bytes);
    let socket = WebSocketStream::from_partially_read(tcp, rest, Role::Server, Some(config)).await;
    connection::serve(socket, state, peer.ip(), ctx.take_slot()).await;
}

/// Serves HTTP/1.1 on the connection (`read`: bytes of it already read), WebSocket upgrades included.
#[allow(clippy::too_many_arguments)]
async fn serve_http(
    tcp: TcpStream,
    read: Vec<u8>,
    peer: SocketAddr,
    ctx: ConnCtx,
    app: Router,
    state: Arc<AppState>,
    header_timeout: Duration,
    refusal: Option<RefusalTicket>,
) {
    let slot = ctx.take_slot().ok();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(ctx.clone());
        let mut app = app.clone();
        async move { app.call(req.map(Body::new)).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // Not turned off for refusals: hyper would then answer an upgrade with `Connection: close`.
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(Prefixed::new(read, tcp)), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = state.shutdown.subscribe();
    let evicted = until_evicted(slot.as_ref());
    tokio::select! {
        // Served to the end, or upgraded (the WebSocket task now owns the socket and a share of the slot).
        _ = conn.as_mut() => return,
        _ = evicted => {
            state.metrics.connection_closed_by_limit("evicted");
            return;
        }
        _ = shutdown.wait_for(|down| *down) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(HTTP_SHUTDOWN_GRACE, conn).await;
    drop(refusal);
}

/// Middleware: reads a request's body in full within `body_read_timeout_ms` (408 otherwise) and at most
/// [`MAX_BODY_BYTES`] (413), so that no handler waits on a body that never comes.
pub async fn body_deadline(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD {
        return next.run(req).await;
    }
    let limit = Duration::from_millis(state.limits.body_read_timeout_ms);
    let (parts, body) = req.into_parts();
    // A declared length over the cap is answered at once, without waiting for any of it.
    if http_body::Body::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return refuse_body(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    match tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(_)) => refuse_body(StatusCode::PAYLOAD_TOO_LARGE, "request body too large or broken"),
        Err(_) => {
            state.metrics.connection_closed_by_limit("body_timeout");
            refuse_body(StatusCode::REQUEST_TIMEOUT, "request body not received in time")
        }
    }
}

fn refuse_body(status: StatusCode, info: &str) -> Response {
    let body = serde_json::json!({
        "ActionStatus": "FAIL",
        "ErrorCode": tim_protocol::ErrorCode::InvalidParameters.code(),
        "ErrorInfo": info,
    });
    (status, [(header::CONNECTION, "close")], axum::Json(body)).into_response()
}
