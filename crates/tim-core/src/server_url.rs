//! Which server URLs `TIM.create` uses: `serverUrl` (this SDK's name) or `proxyServer` (the official SDK's),
//! each one URL or an array of them.

/// The URLs chosen from what `TIM.create` was given, and a warning for the user when both names were set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrlChoice {
    /// The URLs to put in [`crate::Config::server_urls`] (none when neither was given:
    /// `Config::validate` then refuses them with 8003).
    pub urls: Vec<String>,
    /// Set when both options were given: which one is used and which ignored.
    pub warning: Option<String>,
}

/// `serverUrl` wins over `proxyServer`. Each is what the bindings read: a string as one URL, an array as
/// its entries (`None`: neither). A value without a non-empty URL (`""`, `[]`) counts as not given. A
/// `proxyServer` alone is used, so the official SDK's `TIM.create({SDKAppID, proxyServer})` works unchanged.
pub fn choose_server_url(server_url: Option<Vec<String>>, proxy_server: Option<Vec<String>>) -> ServerUrlChoice {
    let given = |v: Option<Vec<String>>| {
        v.filter(|urls| match urls.as_slice() {
            [] => false,
            [only] => !only.is_empty(),
            _ => true,
        })
    };
    match (given(server_url), given(proxy_server)) {
        (Some(urls), Some(_)) => ServerUrlChoice {
            warning: Some("TIM.create: both serverUrl and proxyServer are given; using serverUrl".to_owned()),
            urls,
        },
        (Some(urls), None) | (None, Some(urls)) => ServerUrlChoice { urls, warning: None },
        (None, None) => ServerUrlChoice {
            urls: Vec::new(),
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

    fn one(url: &str) -> Option<Vec<String>> {
        Some(vec![url.to_owned()])
    }

    fn validate(urls: Vec<String>) -> Result<(), u32> {
        Config::with_servers(1, urls).validate().map_err(|e| e.code)
    }

    #[test]
    fn server_url_wins_with_a_warning_and_proxy_server_alone_is_used() {
        let a = "ws://127.0.0.1:1/ws";
        let b = "wss://im.example.com/ws";
        let both = choose_server_url(one(a), one(b));
        assert_eq!(both.urls, [a]);
        let warning = both.warning.expect("a warning when both are given");
        assert!(
            warning.contains("serverUrl") && warning.contains("proxyServer") && warning.ends_with("using serverUrl")
        );
        assert_eq!(
            choose_server_url(None, one(b)),
            ServerUrlChoice {
                urls: vec![b.into()],
                warning: None
            }
        );
        assert_eq!(
            choose_server_url(one(a), None),
            ServerUrlChoice {
                urls: vec![a.into()],
                warning: None
            }
        );
        assert_eq!(
            choose_server_url(one(""), one(b)).urls,
            [b],
            "an empty serverUrl is not given"
        );
        assert_eq!(
            choose_server_url(Some(vec![]), one(b)).urls,
            [b],
            "nor is an empty array"
        );
        assert_eq!(choose_server_url(one(a), one("")).warning, None);
    }

    #[test]
    fn arrays_are_kept_whole_in_order() {
        let list = vec!["ws://a/ws".to_owned(), "ws://b/ws".to_owned()];
        let chosen = choose_server_url(Some(list.clone()), None);
        assert_eq!(chosen.urls, list);
        let both = choose_server_url(one("ws://c/ws"), Some(list.clone()));
        assert_eq!(both.urls, ["ws://c/ws"]);
        assert!(both.warning.is_some());
        // An array with an empty entry is given, and refused by the one URL rule.
        let with_hole = vec![String::new(), "ws://b/ws".to_owned()];
        let chosen = choose_server_url(Some(with_hole), one("ws://c/ws"));
        assert_eq!(validate(chosen.urls), Err(ErrorCode::InvalidServerUrl.code()));
    }

    #[test]
    fn neither_gives_no_url_that_validate_refuses() {
        let none = choose_server_url(None, None);
        assert!(none.urls.is_empty());
        assert_eq!(validate(none.urls), Err(ErrorCode::InvalidServerUrl.code()));
        let proxy = choose_server_url(None, one("http://h/ws"));
        assert_eq!(validate(proxy.urls), Err(ErrorCode::InvalidServerUrl.code()));
        assert_eq!(validate(choose_server_url(Some(vec![]), None).urls), Err(8003));
    }
}
