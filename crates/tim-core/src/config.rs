//! The settings of a [`crate::Session`].

use tim_protocol::{ErrorCode, Platform};

use crate::backoff::ReconnectPolicy;
use crate::rng::Rng;
use crate::{Millis, TimError};

/// Mixed into the seed for the start URL (any constant other than the message ids': a distinct
/// SplitMix64 stream from the jitter's).
const SERVER_START_STREAM: u64 = 0x7365_7276_6572_7321;

/// Most server URLs `serverUrl` (or `proxyServer`) may list; a longer array is refused with 8003.
pub const MAX_SERVER_URLS: usize = 16;

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
    /// The WebSocket URLs to open, each used exactly as given (the server prints it, `/ws` included):
    /// one, or up to [`MAX_SERVER_URLS`] nodes of one deployment. See [`crate::Session`] for the order in
    /// which they are tried.
    pub server_urls: Vec<String>,
    /// Which of `server_urls` the first connect tries (taken modulo their number). [`Config::seed`]
    /// sets it from the seed's bits, well mixed, so that clients spread evenly over the nodes; tests
    /// fix it.
    pub server_start: u32,
    /// The runtime this instance runs in, reported to the server at login.
    pub platform: Platform,
    /// Seed of the jitter and message-id generators. Give each instance a different one, through
    /// [`Config::seed`] (the bindings draw 64 bits at create: `crypto.getRandomValues`, else
    /// `Math.random()`).
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
    /// A configuration with one server URL and the defaults of [`Config::with_servers`].
    pub fn new(sdk_app_id: u64, server_url: impl Into<String>) -> Config {
        Config::with_servers(sdk_app_id, vec![server_url.into()])
    }

    /// A configuration with these server URLs and the defaults: platform web, seed 0, start 0, 10 s
    /// request timeout, default backoff, a transport available.
    pub fn with_servers(sdk_app_id: u64, server_urls: Vec<String>) -> Config {
        Config {
            sdk_app_id,
            server_urls,
            server_start: 0,
            platform: Platform::Web,
            rng_seed: 0,
            request_timeout_ms: 10_000,
            reconnect: ReconnectPolicy::default(),
            transport_available: true,
        }
    }
}

impl Config {
    /// Sets [`Config::rng_seed`] and, from the same bits through their own SplitMix64 stream (every
    /// bit of the seed moves every bit of the result), [`Config::server_start`]: random seeds spread
    /// the instances evenly over the server URLs, even seeds that differ only in a few bits.
    pub fn seed(&mut self, seed: u64) {
        self.rng_seed = seed;
        self.server_start = (Rng::new(seed ^ SERVER_START_STREAM).next_u64() >> 32) as u32;
    }

    /// Checks what the user gave `TIM.create`: an SDKAppID from 1 to 2^53-1 (2000) and 1 to
    /// [`MAX_SERVER_URLS`] server URLs, each `ws://` or `wss://` with a host, the scheme in any case (8003;
    /// in a list of several the message names the bad entry, and an `http://` or `https://` URL the
    /// `ws://` or `wss://` one to use). The only place these rules live.
    pub fn validate(&self) -> Result<(), TimError> {
        tim_protocol::limits::validate_sdk_app_id(self.sdk_app_id)?;
        let urls = &self.server_urls;
        let mut message = String::from(ErrorCode::InvalidServerUrl.message());
        if urls.is_empty() || urls.len() > MAX_SERVER_URLS {
            message = message + " An array of them holds 1 to " + &tim_protocol::decimal(MAX_SERVER_URLS as u64) + ".";
        } else {
            // (`find`, not indexing: no bounds-check panic, which would bring `core::fmt` into the wasm.)
            let Some((i, url)) = urls.iter().enumerate().find(|(_, url)| !is_ws_url(url)) else {
                return Ok(());
            };
            if urls.len() > 1 {
                message = message + " serverUrl[" + &tim_protocol::decimal(i as u64) + "] is not.";
            }
            // A page's own http(s):// address is the common slip: name the socket URL to use.
            if let Some((ws, rest)) = http_url(url) {
                message = message + " Use " + ws + rest + ".";
            }
        }
        Err(TimError {
            code: ErrorCode::InvalidServerUrl.code(),
            message,
        })
    }
}

/// For an `http://` or `https://` URL (any case): the WebSocket scheme to use instead (`ws`, `wss`) and
/// the rest of the URL (from its `:`).
fn http_url(url: &str) -> Option<(&'static str, &str)> {
    let (scheme, rest) = scheme(url);
    let ws = if scheme.eq_ignore_ascii_case("http") {
        "ws"
    } else if scheme.eq_ignore_ascii_case("https") {
        "wss"
    } else {
        return None;
    };
    Some((ws, rest))
}

/// A URL split at its first `:`: the scheme and the rest (`("", url)` without one).
fn scheme(url: &str) -> (&str, &str) {
    // By hand rather than `split_once("://")` (a substring search costs the wasm ~2 KB) or `find(':')`
    // (its char searcher, ~150 B): `:` is ASCII, so its byte index is a char boundary.
    let colon = url.bytes().position(|b| b == b':').unwrap_or(0);
    (url.get(..colon).unwrap_or(""), url.get(colon..).unwrap_or(""))
}

/// `ws://` or `wss://` (any case) followed by a host.
fn is_ws_url(url: &str) -> bool {
    let (scheme, rest) = scheme(url);
    if !(scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss")) {
        return false;
    }
    let Some(rest) = rest.strip_prefix("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !(host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()))
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
        assert_eq!(
            Config::new(0, "ws://h/ws").validate(),
            Err(ErrorCode::NoSdkAppId.into())
        );
        assert_eq!(
            Config::new(tim_protocol::MAX_WIRE_INTEGER + 1, "ws://h/ws").validate(),
            Err(ErrorCode::NoSdkAppId.into())
        );
        for url in [
            "",
            "ftp://h/ws",
            "ws://",
            "wss:///ws",
            "ws:// h/ws",
            "h:9000/ws",
            "wsx://h",
        ] {
            assert_eq!(
                Config::new(1, url).validate(),
                Err(ErrorCode::InvalidServerUrl.into()),
                "{url:?}"
            );
        }
    }

    fn with_urls(urls: &[&str]) -> Config {
        Config::with_servers(1, urls.iter().map(|u| u.to_string()).collect())
    }

    #[test]
    fn validate_checks_every_url_of_a_list_and_names_the_bad_one() {
        let ok = ["ws://a/ws", "wss://b/ws", "WS://[::1]:9/ws"];
        assert_eq!(with_urls(&ok).validate(), Ok(()));
        let sixteen = vec!["ws://h/ws"; MAX_SERVER_URLS];
        assert_eq!(with_urls(&sixteen).validate(), Ok(()));
        for (urls, bad) in [
            (&["ws://a/ws", "ftp://b/ws"][..], 1),
            (&["", "ws://b/ws"][..], 0),
            (&["ws://a/ws", "wss://b/ws", "ws://"][..], 2),
        ] {
            let error = with_urls(urls).validate().unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidServerUrl.code(), "{urls:?}");
            assert!(
                error.message.ends_with(&format!(" serverUrl[{bad}] is not.")),
                "{urls:?}: {}",
                error.message
            );
        }
        let error = with_urls(&["ws://a/ws", "http://b/ws"]).validate().unwrap_err();
        assert!(
            error.message.ends_with(" serverUrl[1] is not. Use ws://b/ws."),
            "{}",
            error.message
        );
        // An http(s):// URL (the page's own address, say) gets the ws(s):// URL to use.
        for (url, use_) in [
            ("http://127.0.0.1:9000/ws", "ws://127.0.0.1:9000/ws"),
            ("HTTPS://im.example.com/ws", "wss://im.example.com/ws"),
        ] {
            let error = Config::new(1, url).validate().unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidServerUrl.code());
            assert_eq!(
                error.message,
                format!("{} Use {use_}.", ErrorCode::InvalidServerUrl.message())
            );
        }
        // One bad URL keeps the table's message as it was before lists.
        assert_eq!(
            with_urls(&["ftp://h"]).validate(),
            Err(ErrorCode::InvalidServerUrl.into())
        );
        let seventeen = vec!["ws://h/ws"; MAX_SERVER_URLS + 1];
        for urls in [&[][..], &seventeen[..]] {
            let error = with_urls(urls).validate().unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidServerUrl.code());
            assert!(error.message.contains("1 to 16"), "{}", error.message);
        }
    }

    #[test]
    fn seed_spreads_the_start_url_evenly_even_over_seeds_alike_in_their_low_bits() {
        // Every seed odd (what `Math.random() * (2 ** 53 - 1)` gave), or all counting up: the start
        // index must still spread evenly over 2, 3 and 4 URLs.
        for (name, seed_of) in [
            ("odd", (|i: u64| i * 2 + 1) as fn(u64) -> u64),
            ("counting", |i| i),
            ("high bits only", |i| i << 40),
        ] {
            for n in 2..=4usize {
                let mut counts = [0u32; 4];
                for i in 0..4_000 {
                    let mut config = with_urls(&vec!["ws://h/ws"; n]);
                    config.seed(seed_of(i));
                    assert_eq!(config.rng_seed, seed_of(i));
                    counts[config.server_start as usize % n] += 1;
                }
                let share = 4_000 / n as u32;
                for count in &counts[..n] {
                    // Within 15% of the fair share (more than 4 standard deviations at these counts).
                    assert!(
                        count.abs_diff(share) * 100 <= share * 15,
                        "{name} seeds over {n} URLs: {counts:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn seeds_the_node_tests_fix_start_where_they_say() {
        // tests/node/servers.test.mjs (START_AT) fixes every 32-bit draw of the bindings to 0 or 4: a
        // seed of `r << 32 | r`, which must start at index 0 and 1 of two URLs.
        for (r, start) in [(0u64, 0), (4, 1)] {
            let mut config = with_urls(&["ws://a/ws", "ws://b/ws"]);
            config.seed(r << 32 | r);
            assert_eq!(config.server_start % 2, start, "draws of {r}");
        }
    }
}
