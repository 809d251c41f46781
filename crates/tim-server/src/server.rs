//! Binding, routing, the announce line, background sweeps and graceful shutdown.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::api::{admin, dev};
use crate::app_state::{new_node_id, AppState};
use crate::auth;
use crate::clock::Clock;
use crate::config::Engine;
use crate::config::{Config, DEV_SDK_APP_ID};
use crate::conn::connection;
use crate::edge::accept;
use crate::effects::{Gone, Left};
use crate::hub::Hub;
use crate::registry::redis::RedisRegistry;

/// What `--dev` prints besides the URL.
#[derive(Debug, Clone)]
pub struct DevSetup {
    /// The dev app's secret key.
    pub key: String,
    /// True when the key was generated (then it is printed).
    pub key_generated: bool,
    /// Origins of the demo page allowed to call the server from a browser.
    pub origins: Vec<String>,
}

/// The router for `state`; `/metrics` is on it unless `metrics_listen` serves it apart.
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route(tim_protocol::WS_PATH, get(connection::ws_handler))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(admin::routes());
    if state.metrics_apart.is_none() {
        router = router.route("/metrics", get(metrics));
    }
    if state.dev {
        router = router
            .merge(dev::routes())
            .layer(axum::middleware::from_fn_with_state(Arc::clone(&state), dev::cors));
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            accept::body_deadline,
        ))
        .with_state(state)
}

/// `GET /healthz`: 200 while the process serves HTTP (a liveness probe).
async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 while this node should get new connections: the registry answers (Redis up, the
/// node not fenced) and the node is not shutting down; else 503 with the reason (a readiness probe, and
/// the load balancer's health check: a node that loses Redis leaves the rotation).
async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let (status, body) = if *state.shutdown.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n")
    } else if !state.registry.is_ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the session registry (Redis) does not answer\n",
        )
    } else {
        (StatusCode::OK, "ready\n")
    };
    (status, [(header::CACHE_CONTROL, "no-store")], body)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let mut body = state
        .metrics
        .render(state.hub.len(), state.registry.instance_count().await);
    body.push_str(&state.registry.render_metrics());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
}

/// The address clients should use: an unspecified bind address (0.0.0.0, ::) becomes loopback.
pub fn client_addr(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port()),
        _ => bound,
    }
}

/// Runs the server until SIGTERM or Ctrl-C, then closes every connection (1012 on WebSockets: resume at once, elsewhere) and returns
/// within `limits.shutdown_grace_ms` whatever the clients do. `listen` overrides the config's address.
pub async fn run(config: Config, listen: Option<String>, dev: Option<DevSetup>) -> std::io::Result<()> {
    let listen = listen.unwrap_or_else(|| config.listen.clone());
    let listener = accept::bind(&listen)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
    accept::defer_until_first_bytes(&listener, config.limits.header_read_timeout_ms);
    let addr = client_addr(listener.local_addr()?);
    // Every accepted connection needs a descriptor: use all the process may have, and cap connections
    // below it so that accepting (and refusing or evicting) never runs out.
    let nofile = accept::raise_nofile_limit();
    let mut config = config;
    let cap = accept::connection_cap(config.limits.max_connections, nofile);
    if cap < config.limits.max_connections {
        tracing::info!(
            open_file_limit = nofile,
            max_connections = cap,
            configured = config.limits.max_connections,
            "max_connections lowered to fit the open-file limit"
        );
        config.limits.max_connections = cap;
    }
    let metrics_listener = match &config.metrics_listen {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {at} (metrics_listen): {e}")))?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(client_addr(l.local_addr()?)),
        None => None,
    };
    let origins = dev.as_ref().map(|d| d.origins.clone());
    let state = build_state(&config, origins, metrics_addr).await?;
    if let Some(listener) = metrics_listener {
        let metrics_router = Router::new()
            .route("/metrics", get(metrics))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, metrics_router).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    announce(addr, dev.as_ref(), state.clock.unix_secs(), metrics_addr);
    tokio::spawn(sweep(Arc::clone(&state)));
    // One callback worker per app: a backend that hangs holds up only its own app's queue.
    for callbacks in state.apps.values().filter_map(|app| app.callbacks.clone()) {
        let callback_state = Arc::clone(&state);
        tokio::spawn(async move {
            let clock = callback_state.clock;
            callbacks.run(&callback_state.metrics, clock).await
        });
    }
    let app = router(Arc::clone(&state));
    let accepting = tokio::spawn(accept::serve(listener, app, Arc::clone(&state)));
    shutdown_signal().await;
    tracing::info!("shutting down");
    state.shutdown.send_replace(true);
    let grace = Duration::from_millis(state.limits.shutdown_grace_ms);
    let _ = tokio::time::timeout(grace, async {
        let _ = accepting.await;
        while state.caps.open() > 0 || !state.hub.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    Ok(())
}

/// The state with the configured registry: memory, or Redis shared by every node.
async fn build_state(
    config: &Config,
    dev_origins: Option<Vec<String>>,
    metrics_addr: Option<SocketAddr>,
) -> std::io::Result<Arc<AppState>> {
    if config.registry.engine == Engine::Memory {
        return Ok(AppState::new_with(config, dev_origins, metrics_addr, Clock::system()));
    }
    let node_id = config.registry.node_id.clone().unwrap_or_else(new_node_id);
    let hub = Arc::new(Hub::default());
    let clock = Clock::system();
    // Redis not reachable yet (it starts after us, or is down): wait for it, as a node whose Redis goes
    // away later does, rather than exit into a restart loop. SIGTERM or Ctrl-C still stops the wait.
    let mut delay = Duration::from_millis(250);
    let registry = loop {
        let started = RedisRegistry::start(
            &config.registry,
            node_id.clone(),
            Arc::clone(&hub),
            config.limits.resume_grace_ms,
            config.limits.ledger_policy(),
            clock,
        )
        .await;
        match started {
            Ok(registry) => break registry,
            Err(why) => {
                tracing::warn!(error = %why, retry_in_ms = delay.as_millis() as u64, "registry: waiting for Redis");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown_signal() => return Err(std::io::Error::other(why)),
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    };
    Ok(AppState::with_registry(
        config,
        dev_origins,
        metrics_addr,
        Arc::new(registry),
        hub,
        node_id,
        clock,
    ))
}

fn announce(addr: SocketAddr, dev: Option<&DevSetup>, now_secs: u64, metrics_addr: Option<SocketAddr>) {
    let mut out = std::io::stdout().lock();
    if let Some(at) = metrics_addr {
        let _ = writeln!(out, "tim-server metrics on http://{at}/metrics");
    }
    if let Some(dev) = dev {
        let example = auth::generate(
            DEV_SDK_APP_ID,
            &dev.key,
            "user1",
            crate::cli::DEFAULT_USERSIG_EXPIRE_SECS,
            now_secs,
        );
        let _ = writeln!(
            out,
            "tim-server dev mode: SDKAppID {DEV_SDK_APP_ID}, online_web_instances 1, admin administrator"
        );
        if dev.key_generated {
            let _ = writeln!(
                out,
                "tim-server dev mode: generated secret key (pass --dev-key to keep it): {}",
                dev.key
            );
        }
        let _ = writeln!(out, "tim-server dev mode: example UserSig for userID user1: {example}");
        let _ = writeln!(
            out,
            "tim-server dev mode: more UserSigs at http://{addr}/dev/usersig?userID=ID"
        );
    }
    let _ = writeln!(out, "tim-server listening on ws://{addr}{}", tim_protocol::WS_PATH);
    let _ = out.flush();
}

/// Frees detached instances past their grace and forgets old failure windows, every 250 ms of the
/// server's clock (run it beside a server made from [`router`]).
pub async fn sweep(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        // Redis down: nothing is freed now; the next tick tries again (the grace is on Redis's clock).
        let freed = state
            .registry
            .expire_detached(state.clock.unix_ms())
            .await
            .unwrap_or_default();
        if !freed.is_empty() {
            tracing::info!(freed = freed.len(), "detached instances freed after the resume grace");
        }
        // This node's sweep freed them, so this node reports them (once, whatever the engine); and the
        // instances of this node the registry lost, whose end nobody else can report.
        for expired in freed.into_iter().chain(state.registry.take_lost()) {
            let gone = Gone {
                instance_id: expired.instance_id,
                platform: expired.platform,
                ip: expired.ip,
                conn: None,
            };
            state.instance_left(&expired.account, &gone, Left::GraceOver);
        }
        let now = state.clock.now();
        state.login_failures.sweep(now);
        state.admin_failures.sweep(now);
        state.send_rate.sweep(now);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
