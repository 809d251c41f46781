//! Which server URL `TIM.create` uses: `serverUrl` (this SDK's name) or `proxyServer` (the official SDK's).

/// The URL chosen from what `TIM.create` was given, and a warning for the user when both names were set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrlChoice {
    /// The URL to put in [`crate::Config::server_url`] (`""` when neither was given: `Config::validate`
    /// then refuses it with 8003).
    pub url: String,
    /// Set when both options were given: which one is used and which ignored.
    pub warning: Option<String>,
}

/// `serverUrl` wins over `proxyServer`; an empty string counts as not given. A `proxyServer` alone is
/// the URL, so the official SDK's `TIM.create({SDKAppID, proxyServer})` works unchanged.
pub fn choose_server_url(server_url: Option<&str>, proxy_server: Option<&str>) -> ServerUrlChoice {
    let given = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_owned);
    match (given(server_url), given(proxy_server)) {
        (Some(url), Some(proxy)) => ServerUrlChoice {
            warning: Some(
                String::from("TIM.create: both serverUrl (")
                    + &url
                    + ") and proxyServer ("
                    + &proxy
                    + ") are given; using serverUrl",
            ),
            url,
        },
        (Some(url), None) | (None, Some(url)) => ServerUrlChoice { url, warning: None },
        (None, None) => ServerUrlChoice {
            url: String::new(),
            warning: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, ErrorCode};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn server_url_wins_with_a_warning_and_proxy_server_alone_is_used() {
        let a = "ws://127.0.0.1:1/ws";
        let b = "wss://im.example.com/ws";
        let both = choose_server_url(Some(a), Some(b));
        assert_eq!(both.url, a);
        let warning = both.warning.expect("a warning when both are given");
        assert!(warning.contains("serverUrl") && warning.contains("proxyServer") && warning.contains(b));
        assert_eq!(
            choose_server_url(None, Some(b)),
            ServerUrlChoice {
                url: b.into(),
                warning: None
            }
        );
        assert_eq!(
            choose_server_url(Some(a), None),
            ServerUrlChoice {
                url: a.into(),
                warning: None
            }
        );
        assert_eq!(
            choose_server_url(Some(""), Some(b)).url,
            b,
            "an empty serverUrl is not given"
        );
        assert_eq!(choose_server_url(Some(a), Some("")).warning, None);
    }

    #[test]
    fn neither_gives_an_empty_url_that_validate_refuses() {
        let none = choose_server_url(None, None);
        assert_eq!(none.url, "");
        assert_eq!(Config::new(1, none.url).validate(), Err(ErrorCode::InvalidServerUrl));
        let proxy = choose_server_url(None, Some("http://h/ws"));
        assert_eq!(Config::new(1, proxy.url).validate(), Err(ErrorCode::InvalidServerUrl));
    }
}
