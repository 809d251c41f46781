//! State shared by every request and connection of one server process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{AppConfig, Config, Limits};
use crate::hub::Hub;
use crate::limits::{ConnectionCaps, LoginFailureLimiter};
use crate::metrics::Metrics;
use crate::registry::memory::MemoryRegistry;
use crate::registry::Registry;

/// A node id unique per process start: `node-` and 12 hex digits.
pub fn new_node_id() -> String {
    let bytes: [u8; 6] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("node-{hex}")
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
    online_web_instances: AtomicU32,
}

impl AppRuntime {
    fn new(config: &AppConfig) -> AppRuntime {
        AppRuntime {
            sdk_app_id: config.sdkappid,
            secret_key: config.secret_key.clone(),
            admin: config.admin.clone(),
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
    /// Failed-login limiter.
    pub login_failures: LoginFailureLimiter,
    /// Counters.
    pub metrics: Metrics,
    /// Limits and timings.
    pub limits: Limits,
    /// True in `--dev` mode (enables `/dev/usersig` and CORS).
    pub dev: bool,
    /// The one clock every part of the server reads.
    pub clock: Clock,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Sender<bool>,
    next_seq: AtomicU64,
}

impl AppState {
    /// State for `config` with the in-memory registry and the system clock.
    pub fn new(config: &Config, dev: bool) -> Arc<AppState> {
        AppState::with_clock(config, dev, Clock::system())
    }

    /// State for `config` with the in-memory registry, reading time from `clock`.
    pub fn with_clock(config: &Config, dev: bool, clock: Clock) -> Arc<AppState> {
        let registry = Arc::new(MemoryRegistry::new(config.limits.recent_kicked_capacity));
        AppState::with_registry(config, dev, registry, Arc::new(Hub::default()), new_node_id(), clock)
    }

    /// State for `config` with this registry (which delivers to `hub`'s connections), node id and clock.
    pub fn with_registry(
        config: &Config,
        dev: bool,
        registry: Arc<dyn Registry>,
        hub: Arc<Hub>,
        node_id: String,
        clock: Clock,
    ) -> Arc<AppState> {
        let limits = config.limits.clone();
        Arc::new(AppState {
            apps: config.app.iter().map(|a| (a.sdkappid, AppRuntime::new(a))).collect(),
            registry,
            hub,
            node_id,
            caps: ConnectionCaps::new(
                limits.max_connections,
                limits.max_connections_per_ip,
                crate::limits::EVICTION_OVERCOMMIT,
            ),
            login_failures: LoginFailureLimiter::new(
                limits.login_failures_per_ip,
                Duration::from_millis(limits.login_failure_window_ms),
            ),
            metrics: Metrics::default(),
            limits,
            dev,
            clock,
            shutdown: watch::channel(false).0,
            next_seq: AtomicU64::new(0),
        })
    }

    /// The app's `OnlineWebInstances` now: the registry's shared setting, else this process's value.
    pub async fn online_web_instances(&self, app: &AppRuntime) -> u32 {
        match self.registry.app_limit(app.sdk_app_id).await {
            Ok(Some(n)) => n,
            _ => app.online_web_instances(),
        }
    }

    /// The next message sequence number (process-wide, starts at 1).
    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}
