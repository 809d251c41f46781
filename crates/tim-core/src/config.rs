//! The settings of a [`crate::Session`].

use tim_protocol::Platform;

use crate::backoff::ReconnectPolicy;
use crate::Millis;

/// Shortest hello interval the session accepts from a login reply; smaller values are raised to it.
pub const MIN_HELLO_INTERVAL_MS: Millis = 1_000;
/// Longest hello interval the session accepts from a login reply; larger values are lowered to it.
pub const MAX_HELLO_INTERVAL_MS: Millis = 600_000;

/// Everything a [`crate::Session`] needs to know up front.
///
/// Build it with [`Config::new`] and change the fields you need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The app's SDKAppID (`TIM.create({SDKAppID})`). Zero makes every login fail with 2000.
    pub sdk_app_id: u64,
    /// The WebSocket URL to open, used exactly as given (the server prints it, `/ws` included).
    pub server_url: String,
    /// The runtime this instance runs in, reported to the server at login.
    pub platform: Platform,
    /// Seed of the jitter generator. Give each instance a different one (JS: `Math.random()` bits at create).
    pub rng_seed: u64,
    /// How long a request (login, logout, sendMessage, a reconnect attempt) may wait for its reply
    /// before it fails with 2801 (default 10 000 ms). It is also the grace a heartbeat reply gets: see
    /// [`crate::Session`] for the dead-connection rule.
    pub request_timeout_ms: Millis,
    /// Delays between reconnect attempts.
    pub reconnect: ReconnectPolicy,
    /// False when the platform has no way to open a socket (no `WebSocket`, no `ws`, no `connectSocket`):
    /// a login with good arguments then fails with 8004 instead of opening one.
    pub transport_available: bool,
}

impl Config {
    /// A configuration with the defaults: platform web, seed 0, 10 s request timeout, default backoff, a
    /// transport available.
    pub fn new(sdk_app_id: u64, server_url: impl Into<String>) -> Config {
        Config {
            sdk_app_id,
            server_url: server_url.into(),
            platform: Platform::Web,
            rng_seed: 0,
            request_timeout_ms: 10_000,
            reconnect: ReconnectPolicy::default(),
            transport_available: true,
        }
    }
}
