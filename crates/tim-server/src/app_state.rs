//! State shared by every request and connection of one server process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use tim_protocol::Platform;

use crate::clock::Clock;
use crate::config::{AppConfig, Config, Limits};
use crate::effects::callback::{AppCallbacks, CallbackTarget, DeliveryPolicy, StateChange, Transition};
use crate::hub::Hub;
use crate::limits::{ConnectionCaps, LoginFailureLimiter, SendRateLimiter};
use crate::metrics::Metrics;
use crate::registry::kicks::KickRecord;
use crate::registry::memory::MemoryRegistry;
use crate::registry::{AccountKey, Registry, Unavailable};

/// A node id unique per process start: `node-` and 12 hex digits.
pub fn new_node_id() -> String {
    format!("node-{}", tim_protocol::hex::lower(&rand::random::<[u8; 6]>()))
}

/// One hosted app; `online_web_instances` can change at run time (admin API).
#[derive(Debug)]
pub struct AppRuntime {
    /// SDKAppID.
    pub sdk_app_id: u64,
    /// Secret key for UserSigs.
    pub secret_key: String,
    /// The admin identifier.
    pub admin: String,
    /// Where its state-change callbacks go, if anywhere.
    pub callback: Option<Arc<CallbackTarget>>,
    /// Its own callback queue, worker and connection pool (with `callback`).
    pub callbacks: Option<Arc<AppCallbacks>>,
    online_web_instances: AtomicU32,
}

impl AppRuntime {
    fn new(config: &AppConfig, policy: DeliveryPolicy) -> AppRuntime {
        let callback = config.callback_url.as_ref().map(|url| {
            Arc::new(CallbackTarget {
                url: url.clone(),
                token: config.callback_token.clone(),
            })
        });
        let callbacks = callback.as_ref().map(|_| {
            // Checked when the config was read; a file that changed since only loses its extra roots.
            let roots = match config
                .callback_ca_file
                .as_deref()
                .map(crate::effects::callback::load_roots)
            {
                Some(Ok(roots)) => roots,
                Some(Err(e)) => {
                    tracing::error!(app = config.sdkappid, error = %e, "callback_ca_file not loaded");
                    Vec::new()
                }
                None => Vec::new(),
            };
            Arc::new(AppCallbacks::new(config.sdkappid, policy, &roots))
        });
        AppRuntime {
            sdk_app_id: config.sdkappid,
            secret_key: config.secret_key.clone(),
            admin: config.admin.clone(),
            callback,
            callbacks,
            online_web_instances: AtomicU32::new(config.online_web_instances),
        }
    }

    /// Live instances allowed per account, as of now.
    pub fn online_web_instances(&self) -> u32 {
        self.online_web_instances.load(Ordering::SeqCst)
    }

    /// Changes the limit; the next login applies it.
    pub fn set_online_web_instances(&self, n: u32) {
        self.online_web_instances.store(n, Ordering::SeqCst);
    }
}

/// Everything a handler needs.
pub struct AppState {
    /// Apps by SDKAppID.
    pub apps: HashMap<u64, AppRuntime>,
    /// The session registry.
    pub registry: Arc<dyn Registry>,
    /// Connections of this process.
    pub hub: Arc<Hub>,
    /// This node's id (shown by the admin instance list; the Redis registry's name for this process).
    pub node_id: String,
    /// Connection caps.
    pub caps: Arc<ConnectionCaps>,
    /// Failed-login limiter (WebSocket logins).
    pub login_failures: LoginFailureLimiter,
    /// Failed admin API authentications, counted apart so that bad logins do not lock the admin out.
    pub admin_failures: LoginFailureLimiter,
    /// sendMessage rate per sender account (per node).
    pub send_rate: SendRateLimiter<AccountKey>,
    /// Counters.
    pub metrics: Metrics,
    /// Limits and timings.
    pub limits: Limits,
    /// True in `--dev` mode (enables `/dev/usersig` and CORS for `dev_origins`).
    pub dev: bool,
    /// The one clock every part of the server reads.
    pub clock: Clock,
    /// `--dev`: the demo page origins allowed to call from a browser.
    pub dev_origins: Vec<String>,
    /// Where `/metrics` is served when `metrics_listen` moves it off the main address.
    pub metrics_apart: Option<std::net::SocketAddr>,
    /// `proxy_protocol` of the config: every connection starts with a PROXY header.
    pub proxy_protocol: bool,
    /// `trusted_proxies` of the config: peers whose forwarding headers name the client.
    pub trusted_proxies: crate::edge::client_addr::TrustedProxies,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Sender<bool>,
    /// Registry operations waiting to be confirmed (see `settle`).
    pub pending: AtomicUsize,
}

impl AppState {
    /// State for `config` with the in-memory registry and the system clock (`dev`: with the default
    /// dev origins).
    pub fn new(config: &Config, dev: bool) -> Arc<AppState> {
        AppState::with_clock(config, dev, Clock::system())
    }

    /// State for `config` with the in-memory registry, reading time from `clock`.
    pub fn with_clock(config: &Config, dev: bool, clock: Clock) -> Arc<AppState> {
        let origins = dev.then(|| crate::cli::DEFAULT_DEV_ORIGINS.iter().map(|o| o.to_string()).collect());
        AppState::new_with(config, origins, None, clock)
    }

    /// State for `config` with the in-memory registry; `dev_origins` is `Some` in `--dev` mode;
    /// `metrics_apart` when `/metrics` is served on its own address.
    pub fn new_with(
        config: &Config,
        dev_origins: Option<Vec<String>>,
        metrics_apart: Option<std::net::SocketAddr>,
        clock: Clock,
    ) -> Arc<AppState> {
        let registry = Arc::new(MemoryRegistry::new(
            config.limits.ledger_policy(),
            config.limits.kick_log_capacity,
        ));
        let hub = Arc::new(Hub::default());
        AppState::with_registry(config, dev_origins, metrics_apart, registry, hub, new_node_id(), clock)
    }

    /// State for `config` with this registry (which delivers to `hub`'s connections) and node id.
    pub fn with_registry(
        config: &Config,
        dev_origins: Option<Vec<String>>,
        metrics_apart: Option<std::net::SocketAddr>,
        registry: Arc<dyn Registry>,
        hub: Arc<Hub>,
        node_id: String,
        clock: Clock,
    ) -> Arc<AppState> {
        let limits = config.limits.clone();
        let policy = DeliveryPolicy {
            queue: limits.callback_queue,
            max_attempts: limits.callback_max_attempts,
            backoff: Duration::from_millis(limits.callback_backoff_ms),
            timeout: Duration::from_millis(limits.callback_timeout_ms),
        };
        Arc::new(AppState {
            apps: config
                .app
                .iter()
                .map(|a| (a.sdkappid, AppRuntime::new(a, policy)))
                .collect(),
            registry,
            hub,
            node_id,
            caps: ConnectionCaps::with_ipv6_prefix(
                limits.max_connections,
                limits.max_connections_per_ip,
                crate::limits::EVICTION_OVERCOMMIT,
                limits.ipv6_prefix_len,
            ),
            login_failures: LoginFailureLimiter::with_ipv6_prefix(
                limits.login_failures_per_ip,
                Duration::from_millis(limits.login_failure_window_ms),
                limits.ipv6_prefix_len,
            ),
            admin_failures: LoginFailureLimiter::with_ipv6_prefix(
                limits.admin_failures_per_ip,
                Duration::from_millis(limits.login_failure_window_ms),
                limits.ipv6_prefix_len,
            ),
            proxy_protocol: config.proxy_protocol,
            trusted_proxies: crate::edge::client_addr::TrustedProxies::new(&config.trusted_proxies),
            send_rate: SendRateLimiter::new(limits.messages_per_sender_per_min, limits.message_burst_per_sender),
            metrics: Metrics::default(),
            limits,
            dev: dev_origins.is_some(),
            clock,
            dev_origins: dev_origins.unwrap_or_default(),
            metrics_apart,
            shutdown: watch::channel(false).0,
            pending: AtomicUsize::new(0),
        })
    }

    /// The app's `OnlineWebInstances` now: the setting made through the admin API (shared by every
    /// node), else the config's.
    pub async fn online_web_instances(&self, app: &AppRuntime) -> Result<u32, Unavailable> {
        Ok(self
            .registry
            .app_limit(app.sdk_app_id)
            .await?
            .unwrap_or_else(|| app.online_web_instances()))
    }

    /// Queues a state-change callback for the app's backend on the app's own queue (nothing when the
    /// app has no `callback_url`). Never waits. `opt_platform` is the instance's platform name or `RESTAPI`.
    pub fn state_change(
        &self,
        account: &AccountKey,
        transition: Transition,
        opt_platform: &'static str,
        client_ip: Option<IpAddr>,
        kicked: Vec<Platform>,
    ) {
        let Some(app) = self.apps.get(&account.sdk_app_id) else {
            return;
        };
        let (Some(target), Some(callbacks)) = (app.callback.clone(), app.callbacks.as_ref()) else {
            return;
        };
        let event = StateChange {
            target,
            sdk_app_id: account.sdk_app_id,
            user_id: account.user_id.clone(),
            transition,
            opt_platform,
            client_ip,
            event_time_ms: self.clock.unix_ms(),
            kicked,
        };
        callbacks.emit(event, &self.metrics);
    }

    /// Remembers a kick for the admin API where every node reads it, without waiting (never on the
    /// login path). A kick record that the registry cannot take is logged: the kick itself happened.
    pub fn record_kick(&self, record: KickRecord) {
        let registry = Arc::clone(&self.registry);
        tokio::spawn(async move {
            if registry.record_kick(record.clone()).await.is_err() {
                tracing::warn!(user = %record.account.user_id, instance = %record.instance_id, "kick not recorded for query_recent_kicks: the registry did not answer");
            }
        });
    }
}
