//! The TOML configuration file: apps, listen address and limits, validated at start.
//!
//! Unknown keys are refused (a typo must not silently fall back to a default), and every problem is
//! reported with the key it concerns, e.g. `app[1].secret_key: must not be empty`.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The SDKAppID of the single app of `--dev` mode.
pub const DEV_SDK_APP_ID: u64 = 1_400_000_000;
/// The default admin identifier of an app.
pub const DEFAULT_ADMIN: &str = "administrator";
/// The default listen address (config file without `listen`, and `--dev`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `HOST:PORT` to bind; port 0 picks a free port.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The apps this server hosts (`[[app]]` tables).
    #[serde(default)]
    pub app: Vec<AppConfig>,
    /// Resource limits and timings (`[limits]`).
    #[serde(default)]
    pub limits: Limits,
    /// `HOST:PORT` to serve `/metrics` on instead of `listen` (then `listen` does not serve it).
    #[serde(default)]
    pub metrics_listen: Option<String>,
    /// Where sessions live (`[registry]`): this process's memory (default) or Redis shared by N nodes.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// Every accepted connection starts with a PROXY protocol header (v1 or v2) naming the client; a
    /// connection without a valid one is refused (`tim_proxy_protocol_refused_total`).
    #[serde(default)]
    pub proxy_protocol: bool,
    /// CIDR blocks of reverse proxies whose `X-Forwarded-For` / `Forwarded: for=` headers are believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// The session registry engine (`[registry] engine`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// This process's memory: one node (the default, `--dev`, the demo).
    #[default]
    Memory,
    /// Redis 7 (one server or a Redis Cluster), shared by every node.
    Redis,
}

/// `[registry]`: see `docs/scale-out.md`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `memory` or `redis`.
    pub engine: Engine,
    /// One Redis: `redis://HOST:PORT/DB` (or `rediss://`).
    pub url: Option<String>,
    /// A Redis Cluster: seed node URLs (instead of `url`).
    pub cluster: Vec<String>,
    /// This node's name in Redis; default: unique per process start.
    pub node_id: Option<String>,
    /// How often each node checks its instances against Redis (kicks lost on pub/sub), milliseconds.
    pub reconcile_interval_ms: u64,
    /// A node whose liveness key is this old is dead; its instances then get the resume grace.
    pub node_ttl_ms: u64,
    /// A Redis call that takes longer fails (logins then get 80012), milliseconds.
    pub timeout_ms: u64,
    /// Replicas a REST kick's revocation must reach (Redis `WAIT`) before the kick answers `OK`; 0 to
    /// answer once the master has it (a failover may then lose the revocation).
    pub wait_replicas: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            engine: Engine::Memory,
            url: None,
            cluster: Vec::new(),
            node_id: None,
            reconcile_interval_ms: 3_000,
            node_ttl_ms: 10_000,
            timeout_ms: 2_000,
            wait_replicas: 0,
        }
    }
}

/// Node ids appear in Redis keys and records: a bounded, separator-free alphabet.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

impl RegistryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let redis_url = |key: String, url: &str| {
            if url.starts_with("redis://") || url.starts_with("rediss://") {
                Ok(())
            } else {
                Err(err(key, format!("{url:?} is not a redis:// or rediss:// URL")))
            }
        };
        match self.engine {
            Engine::Memory => {
                if self.url.is_some() || !self.cluster.is_empty() {
                    return Err(err("registry.engine", "url and cluster need engine = \"redis\""));
                }
            }
            Engine::Redis => match (&self.url, self.cluster.is_empty()) {
                (Some(url), true) => redis_url("registry.url".into(), url)?,
                (None, false) => {
                    for (i, url) in self.cluster.iter().enumerate() {
                        redis_url(format!("registry.cluster[{i}]"), url)?;
                    }
                }
                (Some(_), false) => return Err(err("registry.cluster", "give either url or cluster, not both")),
                (None, true) => return Err(err("registry.url", "engine = \"redis\" needs url or cluster")),
            },
        }
        if let Some(id) = &self.node_id {
            if !valid_node_id(id) {
                return Err(err("registry.node_id", "1-64 characters of A-Z a-z 0-9 - _ ."));
            }
        }
        let positive = [
            ("reconcile_interval_ms", self.reconcile_interval_ms),
            ("node_ttl_ms", self.node_ttl_ms),
            ("timeout_ms", self.timeout_ms),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(err(format!("registry.{name}"), "must be greater than 0"));
            }
        }
        if self.node_ttl_ms < 1_000 {
            return Err(err("registry.node_ttl_ms", "must be at least 1000"));
        }
        Ok(())
    }
}

/// One app (`[[app]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// The app's SDKAppID.
    pub sdkappid: u64,
    /// The key UserSigs of this app are signed with.
    pub secret_key: String,
    /// Live web + mini-program instances allowed per account ("Online Web Instances").
    #[serde(default = "default_online_web_instances")]
    pub online_web_instances: u32,
    /// The identifier whose UserSig may call the admin API.
    #[serde(default = "default_admin")]
    pub admin: String,
    /// `http://...` or `https://...` of the app backend's `State.StateChange` callback; none: no callbacks.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// When set, callbacks carry `RequestTime` and `Sign = hex(sha256(token + RequestTime))`.
    #[serde(default)]
    pub callback_token: Option<String>,
    /// A PEM file of certificates trusted for an `https://` `callback_url`, besides the webpki roots
    /// (a private CA, or the backend's self-signed certificate).
    #[serde(default)]
    pub callback_ca_file: Option<String>,
}

/// Limits and timings (`[limits]`); every key has a default.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest inbound text frame, bytes. Bigger: error 80003 and close 1009.
    pub max_frame_bytes: usize,
    /// A connection that has not logged in this long after connecting gets error 80005 and close 4002.
    pub login_deadline_ms: u64,
    /// Open WebSocket connections allowed in total (error 80004, close 4003 beyond).
    pub max_connections: usize,
    /// Open WebSocket connections allowed from one IP address (error 80004, close 4003 beyond).
    pub max_connections_per_ip: usize,
    /// Failed logins allowed from one IP address within `login_failure_window_ms` (error 70050, close 4004 beyond).
    pub login_failures_per_ip: u32,
    /// The window of `login_failures_per_ip`, milliseconds.
    pub login_failure_window_ms: u64,
    /// A connection with no inbound traffic this long is closed (4005) and its instance's slot freed.
    pub idle_timeout_ms: u64,
    /// The hello interval given to clients in the login reply.
    pub hello_interval_ms: u64,
    /// A logged-in connection that drops without logout keeps its slot this long for a resume.
    pub resume_grace_ms: u64,
    /// Frames queued towards one connection; a client that falls further behind is closed (1008).
    pub outbound_queue_frames: usize,
    /// A write to a client that does not complete in this time closes the connection.
    pub write_timeout_ms: u64,
    /// Kicked instance ids remembered per account (the newest, each for 24 h) so that their resume is
    /// refused (80007).
    pub recent_kicked_capacity: usize,
    /// How long a REST kick's revocation is kept, seconds: UserSigs issued before the kick are refused
    /// for this long (the vendor's default UserSig lifetime, 180 days).
    pub revocation_retention_secs: u64,
    /// An HTTP request's headers (so also a WebSocket upgrade) must have arrived this long after the
    /// connection was accepted or its previous request answered; else the connection is closed.
    pub header_read_timeout_ms: u64,
    /// An HTTP request body (admin API) must have arrived in full this long after its headers (else 408).
    pub body_read_timeout_ms: u64,
    /// Largest WebSocket message read at all: frames up to it over `max_frame_bytes` get 80003 and close
    /// 1009; bigger ones are cut off by the WebSocket layer.
    pub max_socket_message_bytes: usize,
    /// After SIGTERM / Ctrl-C the process exits within this, whatever the clients do.
    pub shutdown_grace_ms: u64,
    /// Kicks a node remembers for the admin API's `query_recent_kicks` (oldest forgotten first).
    pub kick_log_capacity: usize,
    /// State-change callback events a node holds waiting for delivery, per app (each app has its own
    /// queue and worker); a full queue drops its oldest.
    pub callback_queue: usize,
    /// Attempts per callback event (the first included) before it is given up.
    pub callback_max_attempts: u32,
    /// Wait before the first callback retry, milliseconds; doubles after each retry (at most 30 s).
    pub callback_backoff_ms: u64,
    /// One callback attempt (connect, TLS handshake, send, answer) fails after this long, milliseconds.
    pub callback_timeout_ms: u64,
    /// A UserSig whose `TLS.time` lies more than this many seconds ahead of the server's clock is refused
    /// (80010), so that a clock running ahead cannot outrun a REST kick's revocation.
    pub usersig_max_future_secs: u64,
    /// Failed admin API authentications allowed from one IP address within `login_failure_window_ms`
    /// (beyond: 70050); counted apart from WebSocket logins.
    pub admin_failures_per_ip: u32,
    /// sendMessage requests one account may make per minute, sustained (beyond the burst: 80011).
    pub messages_per_sender_per_min: u32,
    /// sendMessage requests one account may make at once before the per-second rate applies.
    pub message_burst_per_sender: u32,
    /// IPv6 addresses are grouped by this many leading bits in every per-address limit (connection caps,
    /// failed-login and admin-failure limits), so that one customer's /64 counts as one address.
    pub ipv6_prefix_len: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: tim_protocol::limits::MAX_FRAME_BYTES,
            login_deadline_ms: 10_000,
            max_connections: 100_000,
            max_connections_per_ip: 10_000,
            login_failures_per_ip: 20,
            login_failure_window_ms: 10_000,
            idle_timeout_ms: 120_000,
            hello_interval_ms: 30_000,
            resume_grace_ms: 60_000,
            outbound_queue_frames: 256,
            write_timeout_ms: 10_000,
            recent_kicked_capacity: 16,
            revocation_retention_secs: 180 * 86_400,
            header_read_timeout_ms: 5_000,
            body_read_timeout_ms: 10_000,
            max_socket_message_bytes: 1024 * 1024,
            shutdown_grace_ms: 3_000,
            kick_log_capacity: 10_000,
            callback_queue: 10_000,
            callback_max_attempts: 5,
            callback_backoff_ms: 500,
            callback_timeout_ms: 3_000,
            usersig_max_future_secs: 300,
            admin_failures_per_ip: 20,
            messages_per_sender_per_min: 1_200,
            message_burst_per_sender: 50,
            ipv6_prefix_len: 64,
        }
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn default_online_web_instances() -> u32 {
    1
}
fn default_admin() -> String {
    DEFAULT_ADMIN.to_string()
}

/// A configuration that cannot be used, with the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`app[0].secret_key`, `limits.idle_timeout_ms`), or `file` / `toml`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn err(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| err("file", format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| err("toml", e.to_string().trim_end().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The one-app configuration of `--dev` mode.
    pub fn dev(secret_key: String) -> Config {
        Config {
            listen: DEFAULT_LISTEN.to_string(),
            app: vec![AppConfig {
                sdkappid: DEV_SDK_APP_ID,
                secret_key,
                online_web_instances: 1,
                admin: DEFAULT_ADMIN.to_string(),
                callback_url: None,
                callback_token: None,
                callback_ca_file: None,
            }],
            limits: Limits::default(),
            registry: RegistryConfig::default(),
            metrics_listen: None,
            proxy_protocol: false,
            trusted_proxies: Vec::new(),
        }
    }

    /// Checks every rule that TOML types alone do not express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() && !self.listen.contains(':') {
            return Err(err("listen", format!("{:?} is not HOST:PORT", self.listen)));
        }
        if self.app.is_empty() {
            return Err(err("app", "at least one [[app]] table is required"));
        }
        let mut seen = HashSet::new();
        for (i, app) in self.app.iter().enumerate() {
            let key = |k: &str| format!("app[{i}].{k}");
            if tim_protocol::limits::validate_sdk_app_id(app.sdkappid).is_err() {
                return Err(err(key("sdkappid"), "must be an integer from 1 to 2^53-1"));
            }
            if !seen.insert(app.sdkappid) {
                return Err(err(key("sdkappid"), format!("duplicate sdkappid {}", app.sdkappid)));
            }
            if app.secret_key.trim().is_empty() {
                return Err(err(key("secret_key"), "must not be empty"));
            }
            if app.online_web_instances == 0 {
                return Err(err(key("online_web_instances"), "must be at least 1"));
            }
            if let Err(code) = tim_protocol::limits::validate_user_id(&app.admin) {
                return Err(err(key("admin"), format!("not a valid UserID: {}", code.message())));
            }
            if let Some(url) = &app.callback_url {
                crate::effects::callback::validate_url(url).map_err(|problem| err(key("callback_url"), problem))?;
            }
            if app.callback_token.is_some() && app.callback_url.is_none() {
                return Err(err(key("callback_token"), "needs callback_url"));
            }
            if let Some(path) = &app.callback_ca_file {
                if app.callback_url.is_none() {
                    return Err(err(key("callback_ca_file"), "needs callback_url"));
                }
                crate::effects::callback::load_roots(path).map_err(|problem| err(key("callback_ca_file"), problem))?;
            }
        }
        if let Some(addr) = &self.metrics_listen {
            if addr.parse::<std::net::SocketAddr>().is_err() && !addr.contains(':') {
                return Err(err("metrics_listen", format!("{addr:?} is not HOST:PORT")));
            }
        }
        for (i, block) in self.trusted_proxies.iter().enumerate() {
            block
                .parse::<crate::edge::client_addr::Cidr>()
                .map_err(|problem| err(format!("trusted_proxies[{i}]"), problem))?;
        }
        self.limits.validate()?;
        self.registry.validate()
    }
}

impl Limits {
    /// What the account ledger remembers, and for how long.
    pub fn ledger_policy(&self) -> crate::registry::ledger::Policy {
        crate::registry::ledger::Policy {
            kicked_capacity: self.recent_kicked_capacity,
            kicked_ttl_ms: 86_400_000,
            revocation_retention_ms: self.revocation_retention_secs.saturating_mul(1000),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&str, u64); 21] = [
            ("login_deadline_ms", self.login_deadline_ms),
            ("max_connections", self.max_connections as u64),
            ("max_connections_per_ip", self.max_connections_per_ip as u64),
            ("login_failures_per_ip", u64::from(self.login_failures_per_ip)),
            ("login_failure_window_ms", self.login_failure_window_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("hello_interval_ms", self.hello_interval_ms),
            ("outbound_queue_frames", self.outbound_queue_frames as u64),
            ("write_timeout_ms", self.write_timeout_ms),
            ("recent_kicked_capacity", self.recent_kicked_capacity as u64),
            ("revocation_retention_secs", self.revocation_retention_secs),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
            ("kick_log_capacity", self.kick_log_capacity as u64),
            ("callback_queue", self.callback_queue as u64),
            ("callback_max_attempts", u64::from(self.callback_max_attempts)),
            ("callback_timeout_ms", self.callback_timeout_ms),
            ("admin_failures_per_ip", u64::from(self.admin_failures_per_ip)),
            (
                "messages_per_sender_per_min",
                u64::from(self.messages_per_sender_per_min),
            ),
            ("message_burst_per_sender", u64::from(self.message_burst_per_sender)),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(err(format!("limits.{name}"), "must be greater than 0"));
            }
        }
        if !(256..=1024 * 1024).contains(&self.max_frame_bytes) {
            return Err(err("limits.max_frame_bytes", "must be between 256 and 1048576"));
        }
        if !(self.max_frame_bytes..=16 * 1024 * 1024).contains(&self.max_socket_message_bytes) {
            return Err(err(
                "limits.max_socket_message_bytes",
                format!(
                    "must be between max_frame_bytes ({}) and 16777216",
                    self.max_frame_bytes
                ),
            ));
        }
        if !(16..=128).contains(&self.ipv6_prefix_len) {
            return Err(err("limits.ipv6_prefix_len", "must be between 16 and 128"));
        }
        if self.hello_interval_ms >= self.idle_timeout_ms {
            return Err(err(
                "limits.hello_interval_ms",
                format!("must be less than limits.idle_timeout_ms ({})", self.idle_timeout_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "listen = \"127.0.0.1:0\"\n[[app]]\nsdkappid = 1400000000\nsecret_key = \"k\"\n";

    #[test]
    fn defaults_fill_missing_keys() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.app[0].online_web_instances, 1);
        assert_eq!(c.app[0].admin, "administrator");
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.registry.engine, Engine::Memory);
        assert!(!c.proxy_protocol && c.trusted_proxies.is_empty());
        assert_eq!(c.limits.ipv6_prefix_len, 64);
        let c = Config::parse(&format!(
            "proxy_protocol = true\ntrusted_proxies = [\"127.0.0.1/32\", \"2001:db8::/32\", \"10.0.0.5\"]\n{GOOD}"
        ))
        .unwrap();
        assert!(c.proxy_protocol && c.trusted_proxies.len() == 3);
        let text =
            format!("{GOOD}[registry]\nengine = \"redis\"\nurl = \"redis://127.0.0.1:6379/0\"\nnode_id = \"node-a\"\n");
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.registry.engine, Engine::Redis);
        assert_eq!(c.registry.node_id.as_deref(), Some("node-a"));
    }

    #[test]
    fn problems_name_their_key() {
        let cases = [
            (format!("{GOOD}bogus = 1\n"), "toml"),
            (
                format!("{GOOD}[[app]]\nsdkappid = 1400000000\nsecret_key = \"x\"\n"),
                "app[1].sdkappid",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"  \"\n".to_string(),
                "app[0].secret_key",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\nonline_web_instances = 0\n".to_string(),
                "app[0].online_web_instances",
            ),
            (
                format!("{GOOD}[limits]\nidle_timeout_ms = 0\n"),
                "limits.idle_timeout_ms",
            ),
            (
                format!("{GOOD}[limits]\nhello_interval_ms = 500000\n"),
                "limits.hello_interval_ms",
            ),
            ("listen = \"x\"\n".to_string(), "listen"),
            (format!("{GOOD}[registry]\nengine = \"redis\"\n"), "registry.url"),
            (
                format!("{GOOD}[registry]\nengine = \"redis\"\nurl = \"http://x\"\n"),
                "registry.url",
            ),
            (
                format!("{GOOD}[registry]\nengine = \"redis\"\ncluster = [\"redis://a:1\", \"b:2\"]\n"),
                "registry.cluster[1]",
            ),
            (
                format!("{GOOD}[registry]\nurl = \"redis://127.0.0.1:6379\"\n"),
                "registry.engine",
            ),
            (
                format!("{GOOD}[registry]\nengine = \"redis\"\nurl = \"redis://h:1\"\nnode_id = \"a b\"\n"),
                "registry.node_id",
            ),
            (
                format!("{GOOD}[registry]\nengine = \"redis\"\nurl = \"redis://h:1\"\nreconcile_interval_ms = 0\n"),
                "registry.reconcile_interval_ms",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\ncallback_url = \"ftp://x/cb\"\n".to_string(),
                "app[0].callback_url",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\ncallback_ca_file = \"ca.pem\"\n".to_string(),
                "app[0].callback_ca_file",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\ncallback_url = \"https://x/cb\"\n\
                 callback_ca_file = \"/nonexistent/ca.pem\"\n"
                    .to_string(),
                "app[0].callback_ca_file",
            ),
            (
                "[[app]]\nsdkappid = 1\nsecret_key = \"k\"\ncallback_token = \"t\"\n".to_string(),
                "app[0].callback_token",
            ),
            (String::new(), "app"),
            (
                format!("trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n{GOOD}"),
                "trusted_proxies[1]",
            ),
            (format!("trusted_proxies = [\"nginx\"]\n{GOOD}"), "trusted_proxies[0]"),
            (
                format!("{GOOD}[limits]\nipv6_prefix_len = 8\n"),
                "limits.ipv6_prefix_len",
            ),
            (
                format!("{GOOD}[limits]\nipv6_prefix_len = 129\n"),
                "limits.ipv6_prefix_len",
            ),
        ];
        for (text, key) in cases {
            let e = Config::parse(&text).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
        }
        let e = Config::parse(&format!("{GOOD}[registry]\nengine = \"etcd\"\n")).unwrap_err();
        assert!(e.problem.contains("etcd"), "{e}");
        let e = Config::parse(&format!("{GOOD}[limits]\nmax_frame_byte = 3\n")).unwrap_err();
        assert!(e.problem.contains("max_frame_byte"), "{e}");
    }
}
