//! The settings of a [`crate::Session`].

use tim_protocol::{ErrorCode, Platform};

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

impl Config {
    /// Checks what the user gave `TIM.create`: an SDKAppID from 1 to 2^53-1 (2000) and a `ws://` or
    /// `wss://` server URL with a host, the scheme in any case (8003). The only place these rules live.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        tim_protocol::limits::validate_sdk_app_id(self.sdk_app_id)?;
        // By hand rather than `split_once("://")`: a substring search costs the wasm ~2 KB.
        let url = self.server_url.as_str();
        let colon = url.find(':').ok_or(ErrorCode::InvalidServerUrl)?;
        let (scheme, rest) = (url.get(..colon).unwrap_or(""), url.get(colon..).unwrap_or(""));
        if !(scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss")) {
            return Err(ErrorCode::InvalidServerUrl);
        }
        let rest = rest.strip_prefix("://").ok_or(ErrorCode::InvalidServerUrl)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ErrorCode::InvalidServerUrl);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn validate_accepts_ws_urls_with_a_host_and_a_positive_app() {
        for url in [
            "ws://127.0.0.1:9000/ws",
            "wss://im.example.com/ws",
            "ws://h",
            "wss://[::1]:1/ws?x=1",
            "WSS://h/ws",
            "WS://h/ws",
            "Wss://h",
        ] {
            assert_eq!(Config::new(1, url).validate(), Ok(()), "{url}");
        }
        assert_eq!(Config::new(0, "ws://h/ws").validate(), Err(ErrorCode::NoSdkAppId));
        assert_eq!(
            Config::new(tim_protocol::MAX_WIRE_INTEGER + 1, "ws://h/ws").validate(),
            Err(ErrorCode::NoSdkAppId)
        );
        for url in [
            "",
            "http://h/ws",
            "ws://",
            "wss:///ws",
            "ws:// h/ws",
            "h:9000/ws",
            "wsx://h",
        ] {
            assert_eq!(
                Config::new(1, url).validate(),
                Err(ErrorCode::InvalidServerUrl),
                "{url:?}"
            );
        }
    }
}
