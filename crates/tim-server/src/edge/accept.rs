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
//!
//! Behind a proxy ([`crate::edge::client_addr`], [`crate::edge::proxy_protocol`]): with `proxy_protocol`,
//! every connection's PROXY header is read first, within the same header deadline, and a connection
//! without a valid one is closed (`tim_proxy_protocol_refused_total`); the header's source is the client.
//! A connection from a proxy (every connection with `proxy_protocol`, one from a `trusted_proxies` peer)
//! takes a place at accept that counts in the total cap but not against the proxy's own address; it moves
//! to its client's address, with that address's cap, as soon as the client is known: after the PROXY
//! header, and for a WebSocket upgrade after its request head (`X-Forwarded-For` / `Forwarded`). Plain
//! HTTP requests through a trusted proxy (the admin API) stay on the proxy's place; their client address
//! (admin failure limiter) is taken per request.

use std::net::{IpAddr, SocketAddr};
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
use crate::edge::client_addr::Forwarding;
use crate::edge::proxy_protocol;
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
    // The `rlimit` crate wraps getrlimit/setrlimit (and the macOS cap on the hard limit).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => soft,
        Err(_) => rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft),
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
        // A proxy's connection counts against its client's address once that is known (`attribute`).
        let slot = if state.proxy_protocol || state.trusted_proxies.contains(peer.ip()) {
            state.caps.acquire_unattributed(peer.ip())
        } else {
            state.caps.acquire(peer.ip())
        }
        .map(Arc::new);
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
            (refusal, Arc::clone(&refusing)),
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

#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    mut ctx: ConnCtx,
    app: Router,
    state: Arc<AppState>,
    header_timeout: Duration,
    (mut refusal, refusing): (Option<RefusalTicket>, Arc<AtomicUsize>),
) {
    let started = tokio::time::Instant::now();
    let mut header_timeout = header_timeout;
    // `Err` is the refusal this connection gets (answered through `refusal`), not a failure: no place,
    // so no eviction to watch.
    let mut slot = ctx.take_slot().ok();
    let mut shutdown = state.shutdown.subscribe();
    let mut peer = peer;
    let mut read = Vec::new();
    if state.proxy_protocol {
        let header = tokio::select! {
            header = tokio::time::timeout(header_timeout, read_proxy_header(&tcp)) => header,
            _ = until_evicted(slot.as_ref()) => {
                state.metrics.connection_closed_by_limit("evicted");
                return;
            }
            _ = shutdown.wait_for(|down| *down) => return,
        };
        match header {
            Ok(Ok((header, rest))) => {
                if let Some(source) = header.source {
                    tracing::trace!(proxy = %peer, client = %source, "PROXY header");
                    peer = source;
                }
                read = rest;
                // The client is known: its address's cap applies from here. Refused, it is served its
                // refusal as one refused at accept: from the refusal pool, or closed at once.
                if let Some(Err(refused)) = slot.as_ref().map(|s| attribute(&state, s, peer.ip())) {
                    slot = None;
                    ctx = ConnCtx::new(Err(refused));
                    match RefusalTicket::take(&refusing) {
                        Some(ticket) => {
                            refusal = Some(ticket);
                            header_timeout = header_timeout.min(started.elapsed() + REFUSAL_HEADER_TIMEOUT);
                        }
                        None => {
                            state.metrics.connection_refused(refused.as_str());
                            return;
                        }
                    }
                }
            }
            Ok(Err(reason)) => {
                state.metrics.proxy_protocol_refused(reason);
                return;
            }
            Err(_) => {
                state.metrics.proxy_protocol_refused("timeout");
                return;
            }
        }
    }
    // The first request head, read here: a plain `/ws` upgrade is served without hyper (`ws_direct`).
    if !state.dev {
        let remaining = header_timeout.saturating_sub(started.elapsed());
        let head = tokio::select! {
            head = tokio::time::timeout(remaining, ws_direct::read_head(&tcp, std::mem::take(&mut read))) => head,
            _ = until_evicted(slot.as_ref()) => {
                state.metrics.connection_closed_by_limit("evicted");
                return;
            }
            _ = shutdown.wait_for(|down| *down) => return,
        };
        match head {
            Ok(Ok(Head::Upgrade {
                accept,
                rest,
                forwarding,
            })) => {
                drop((app, refusal, slot));
                let headers = forwarding.iter().map(|(name, value)| (*name, value.as_slice()));
                let client = client_of(&state, peer.ip(), headers, "ws");
                let slot = ws_slot(&state, ctx.take_slot(), client);
                return serve_direct(tcp, accept, rest, client, slot, state, header_timeout).await;
            }
            Ok(Ok(Head::Other(head))) => read = head,
            // Broken, or no complete head within the deadline: closed without an answer, as hyper does.
            Ok(Err(_)) | Err(_) => return,
        }
    }
    drop(slot);
    // What is left of the header deadline (at least a moment, so that hyper's own deadline fires).
    let header_timeout = header_timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    // Boxed: the HTTP connection's state is large, and an idle WebSocket of the direct way should not
    // carry room for it.
    Box::pin(serve_http(tcp, read, peer, ctx, app, state, header_timeout, refusal)).await
}

/// Reads a PROXY header (v1 or v2) and no byte more than it and what came with it; returns the header and
/// the bytes after it. `Err` names why the connection is refused.
async fn read_proxy_header(tcp: &TcpStream) -> Result<(proxy_protocol::Header, Vec<u8>), &'static str> {
    let mut buf = Vec::with_capacity(256);
    loop {
        if tcp.readable().await.is_err() {
            return Err("closed");
        }
        match tcp.try_read_buf(&mut buf) {
            Ok(0) => return Err("closed"),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err("closed"),
        }
        match proxy_protocol::parse(&buf) {
            Some(Ok(header)) => {
                let rest = buf.split_off(header.len);
                return Ok((header, rest));
            }
            Some(Err(_)) => return Err("invalid"),
            None => buf.reserve(256.min(proxy_protocol::V2_MAX)),
        }
    }
}

/// The client's address of a request from `peer` (the connection's peer, or the PROXY header's source)
/// with these headers: from `X-Forwarded-For` / `Forwarded` when `peer` is a trusted proxy; an untrusted
/// peer's such headers are ignored and counted (`via`: `ws` or `http`).
pub fn client_of<'a>(
    state: &AppState,
    peer: IpAddr,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    via: &str,
) -> IpAddr {
    let (client, forwarding) = state.trusted_proxies.client(peer, headers);
    if forwarding == Forwarding::Ignored {
        state.metrics.forwarded_ignored(via);
    }
    client.to_canonical()
}

/// Moves a connection's place to `client` (the client behind a proxy, or the peer itself), applying that
/// address's cap; a `trusted_proxies` address keeps a place outside the per-address cap.
fn attribute(state: &AppState, slot: &ConnSlot, client: IpAddr) -> Result<(), crate::limits::Refusal> {
    slot.attribute(client, !state.trusted_proxies.contains(client))
}

/// The place of a WebSocket whose client is `client`: behind a proxy, moved to the client's address (or
/// refused when that address is full); else as taken at accept.
pub fn ws_slot(
    state: &AppState,
    slot: Result<Arc<ConnSlot>, crate::limits::Refusal>,
    client: IpAddr,
) -> Result<Arc<ConnSlot>, crate::limits::Refusal> {
    let slot = slot?;
    if state.proxy_protocol || !state.trusted_proxies.is_empty() {
        attribute(state, &slot, client)?;
    }
    Ok(slot)
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
    client: IpAddr,
    slot: Result<Arc<ConnSlot>, crate::limits::Refusal>,
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
    connection::serve(socket, state, client, slot).await;
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
    // As in `serve_connection`: `Err` is this connection's refusal, answered through `refusal`.
    let slot = ctx.take_slot().ok();
    let trusting = Arc::clone(&state);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        // The client of this request (behind a trusted proxy: from its forwarding headers).
        let headers = req.headers().iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        let client = client_of(&trusting, peer.ip(), headers, "http");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(client, peer.port())));
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
