//! The client's address behind a proxy, against the real binary: a client on 127.0.0.1 speaking the
//! PROXY protocol (v1 and v2) for several claimed addresses, and `X-Forwarded-For` / `Forwarded` from
//! trusted and untrusted peers. Each claimed (or forwarded) address gets its own connection cap and
//! failed-login bucket, and is the `ClientIP` of the callbacks and of `query_online_instances`.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::backend::{Backend, Mode};
use common::*;
use tim_protocol::{ErrorCode, ServerFrame};

const TOKEN: &str = "cb-token";

/// A config with `top` (top-level keys), callbacks to `callback`, 100 instances per account, `limits`.
fn cfg(top: &str, callback: &str, limits: &str) -> String {
    format!(
        "{top}\nlisten = \"127.0.0.1:9\"\n\
         [[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = 100\n\
         callback_url = \"{callback}\"\ncallback_token = \"{TOKEN}\"\n\
         [limits]\n{limits}\n"
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The PROXY header claiming `client`: v1 for even `n`, v2 for odd.
fn header(n: usize, client: IpAddr, server: &Server) -> Vec<u8> {
    let dst: SocketAddr = server.addr.parse().unwrap();
    let dst = if client.is_ipv4() {
        dst
    } else {
        "[::1]:9000".parse().unwrap()
    };
    let src = SocketAddr::new(client, 40_000 + n as u16);
    if n % 2 == 0 {
        proxy_v1(src, dst)
    } else {
        proxy_v2(src, dst)
    }
}

async fn proxied_ws(server: &Server, n: usize, client: IpAddr) -> Ws {
    let tcp = tcp_from_to(ip("127.0.0.1"), &server.addr).await.unwrap();
    ws_over(tcp, &server.addr, &header(n, client, server), &[]).await
}

async fn proxied_http(server: &Server, client: IpAddr, method: &str, target: &str, body: &str) -> (u16, String) {
    let tcp = tcp_from_to(ip("127.0.0.1"), &server.addr).await.unwrap();
    http_over(tcp, &header(0, client, server), method, target, "", body).await
}

/// `Login` callbacks by account: the `ClientIP` of each.
async fn login_client_ips(backend: &Backend, n: usize) -> std::collections::HashMap<String, String> {
    let got = backend.wait_delivered(n, Duration::from_secs(10)).await;
    got.iter()
        .filter(|r| r.action_reason().0 == "Login")
        .map(|r| (r.account(), r.query["ClientIP"].clone()))
        .collect()
}

#[tokio::test]
async fn proxy_protocol_v1_and_v2_give_each_claimed_address_its_caps_limiter_buckets_and_client_ip() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&cfg(
        "proxy_protocol = true",
        &backend.url,
        "max_connections_per_ip = 2\nlogin_failures_per_ip = 3\nlogin_failure_window_ms = 60000",
    ));
    let claimed = ["198.51.100.1", "198.51.100.2", "203.0.113.3", "2001:db8:1:2::a"].map(ip);
    // Two logged-in connections per claimed address, all from 127.0.0.1; v1 and v2 alternate.
    let mut held = Vec::new();
    for (i, client) in claimed.iter().enumerate() {
        for k in 0..2 {
            let user = format!("u{i}k{k}");
            let mut ws = proxied_ws(&server, i + k, *client).await;
            let reply = login_on(&mut ws, &user, &sig(&user)).await;
            assert!(matches!(reply, Some(ServerFrame::LoginAck { .. })), "{user}: {reply:?}");
            held.push(ws);
        }
    }
    // A third from any claimed address is over that address's cap (80004); IPv6 by its /64.
    for (i, client) in claimed.iter().copied().chain([ip("2001:db8:1:2:ffff::9")]).enumerate() {
        let mut ws = proxied_ws(&server, i, client).await;
        let reply = login_on(&mut ws, "third", &sig("third")).await;
        assert_eq!(
            reply.as_ref().and_then(error_code),
            Some(ErrorCode::TooManyConnections.code()),
            "third from {client}: {reply:?}"
        );
    }
    // Another /64 is another address.
    let mut ws = proxied_ws(&server, 1, ip("2001:db8:1:3::a")).await;
    assert!(matches!(
        login_on(&mut ws, "v6", &sig("v6")).await,
        Some(ServerFrame::LoginAck { .. })
    ));
    drop(ws);

    // ClientIP of each Login callback is the claimed address.
    let ips = login_client_ips(&backend, 9).await;
    for (i, client) in claimed.iter().enumerate() {
        for k in 0..2 {
            assert_eq!(ips[&format!("u{i}k{k}")], client.to_string(), "ClientIP of u{i}k{k}");
        }
    }
    // The admin API (through a PROXY header too) shows the instance's client address.
    let target = format!("/v4/tim_wasm_admin/query_online_instances?{}", admin_query());
    let (status, body) = proxied_http(&server, ip("192.0.2.50"), "POST", &target, r#"{"UserID":"u2k0"}"#).await;
    assert_eq!(status, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["Instances"][0]["ClientIP"], "203.0.113.3", "{reply}");

    // Failed logins: each claimed address has its own bucket (3 failures, then 70050).
    let failing = ip("198.51.100.66");
    for n in 0..3 {
        let mut ws = proxied_ws(&server, n, failing).await;
        let reply = login_on(&mut ws, "mallory", "bad-sig").await;
        let code = reply.as_ref().and_then(error_code);
        assert!(
            code.is_some() && code != Some(ErrorCode::LoginRateLimited.code()),
            "{reply:?}"
        );
    }
    let mut ws = proxied_ws(&server, 3, failing).await;
    let reply = login_on(&mut ws, "mallory", "bad-sig").await;
    assert_eq!(
        reply.as_ref().and_then(error_code),
        Some(ErrorCode::LoginRateLimited.code())
    );
    for (n, other) in ["198.51.100.67", "2001:db8:9::1"].into_iter().enumerate() {
        let mut ws = proxied_ws(&server, n, ip(other)).await;
        let reply = login_on(&mut ws, "mallory", "bad-sig").await;
        let code = reply.as_ref().and_then(error_code);
        assert!(
            code.is_some() && code != Some(ErrorCode::LoginRateLimited.code()),
            "{other} has its own bucket: {reply:?}"
        );
    }

    // A connection without a PROXY header is closed unanswered and counted.
    let tcp = tcp_from_to(ip("127.0.0.1"), &server.addr).await.unwrap();
    let (status, _) = http_over(tcp, b"", "GET", "/metrics", "", "").await;
    assert_eq!(status, 0, "served without a PROXY header");
    let (status, metrics) = proxied_http(&server, ip("192.0.2.50"), "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tim_proxy_protocol_refused_total{reason=\"invalid\"} 1\n"),
        "{metrics}"
    );
    drop(held);
}

/// A WebSocket from `src` with these forwarding headers, logged in as `user`; returns the socket and the
/// reply.
async fn forwarded_login(
    server: &Server,
    src: &str,
    headers: &[(&str, &str)],
    user: &str,
) -> (Ws, Option<ServerFrame>) {
    let tcp = tcp_from_to(ip(src), &server.addr).await.unwrap();
    let mut ws = ws_over(tcp, &server.addr, b"", headers).await;
    let reply = login_on(&mut ws, user, &sig(user)).await;
    (ws, reply)
}

#[tokio::test]
async fn forwarding_headers_are_believed_from_a_trusted_proxy_only() {
    let backend = Backend::start(Mode::Ok).await;
    let server = Server::start(&cfg(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &backend.url,
        "max_connections_per_ip = 2",
    ));
    let xff = |v: &'static str| [("X-Forwarded-For", v)];
    // Trusted peer: the right-most untrusted hop (the client's forged left part is skipped).
    let (_a, r) = forwarded_login(&server, "127.0.0.1", &xff("6.6.6.6, 203.0.113.7"), "alice").await;
    assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "{r:?}");
    let fwd = [("Forwarded", "for=\"[2001:db8::1]:4711\";proto=http")];
    let (_c, r) = forwarded_login(&server, "127.0.0.1", &fwd, "carol").await;
    assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "{r:?}");
    // Untrusted peer: its header is ignored (and counted); the client is the peer.
    let (_b, r) = forwarded_login(&server, "127.0.0.2", &xff("203.0.113.8"), "bob").await;
    assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "{r:?}");
    let ips = login_client_ips(&backend, 3).await;
    assert_eq!(ips["alice"], "203.0.113.7");
    assert_eq!(ips["carol"], "2001:db8::1");
    assert_eq!(ips["bob"], "127.0.0.2");
    wait_for_metric(&server, "tim_forwarded_headers_ignored_total{via=\"ws\"} 1\n").await;
    // The admin API through the trusted peer: no header needed; ClientIP is the instance's client.
    let reply = server
        .admin("/v4/tim_wasm_admin/query_online_instances", r#"{"UserID":"alice"}"#)
        .await;
    assert_eq!(reply["Instances"][0]["ClientIP"], "203.0.113.7", "{reply}");

    // Caps: per forwarded client, not per proxy (127.0.0.1 already holds 2 of the trusted path).
    let mut held = Vec::new();
    for k in 0..2 {
        let (ws, r) = forwarded_login(&server, "127.0.0.1", &xff("203.0.113.9"), &format!("d{k}")).await;
        assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "{r:?}");
        held.push(ws);
    }
    let (_x, r) = forwarded_login(&server, "127.0.0.1", &xff("203.0.113.9"), "d3").await;
    assert_eq!(
        r.as_ref().and_then(error_code),
        Some(ErrorCode::TooManyConnections.code()),
        "{r:?}"
    );
    let (_y, r) = forwarded_login(&server, "127.0.0.1", &xff("203.0.113.10"), "e0").await;
    assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "another client: {r:?}");
    // An untrusted peer cannot escape its own cap by naming others.
    let mut untrusted = Vec::new();
    for k in 0..2 {
        let (ws, r) = forwarded_login(&server, "127.0.0.3", &xff(["1.0.0.1", "1.0.0.2"][k]), &format!("f{k}")).await;
        assert!(matches!(r, Some(ServerFrame::LoginAck { .. })), "{r:?}");
        untrusted.push(ws);
    }
    let (_z, r) = forwarded_login(&server, "127.0.0.3", &xff("1.0.0.3"), "f2").await;
    assert_eq!(
        r.as_ref().and_then(error_code),
        Some(ErrorCode::TooManyConnections.code()),
        "{r:?}"
    );
}
