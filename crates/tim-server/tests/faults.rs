//! Faults with real parts: nodes on a real `redis-server`, a TCP proxy between one node and Redis that
//! blackholes the link, Redis frozen with SIGSTOP. Each test asserts what the server promises under the
//! fault: no more than N live instances beyond the fencing bound, no `OK` for work not done, a session
//! ended at its UserSig's expiry whatever Redis does.

mod common;

use std::time::Duration;

use common::proxy::{Link, Proxy};
use common::redis::Redis;
use common::*;
use tim_protocol::{close, ErrorCode, KickType, ServerFrame};
use tokio::time::{sleep, Instant};

/// A node of N = 1 on this Redis URL, with a liveness TTL of `ttl_ms` (it fences itself after half).
fn node(url: &str, id: &str, ttl_ms: u64) -> Server {
    Server::start(&format!(
        "{}[registry]\nengine = \"redis\"\nurl = \"{url}\"\nnode_id = \"{id}\"\nreconcile_interval_ms = 1000\nnode_ttl_ms = {ttl_ms}\ntimeout_ms = 500\n",
        config(1, "")
    ))
}

async fn login(server: &Server, user: &str, sig: &str) -> (Ws, ServerFrame) {
    let (mut ws, _) = tokio_tungstenite::connect_async(&server.url).await.expect("connect");
    send(&mut ws, &login_frame(1, APP, user, sig, None)).await;
    let reply = recv(&mut ws).await;
    (ws, reply)
}

async fn wait_until_login_works(server: &Server, user: &str) -> Ws {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ws, reply) = login(server, user, &sig(user)).await;
        match reply {
            ServerFrame::LoginAck { .. } => return ws,
            other => assert_eq!(
                error_code(&other),
                Some(ErrorCode::RegistryUnavailable.code()),
                "{other:?}"
            ),
        }
        assert!(Instant::now() < deadline, "logins never worked again");
        sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_redis_closes_its_sessions_within_the_fencing_bound() {
    let redis = Redis::start();
    let proxy = Proxy::start(redis.port).await;
    let ttl = 2_000;
    let a = node(&proxy.url(), "cut-a", ttl);
    let b = node(&redis.url(), "cut-b", ttl);
    let (mut on_a, reply) = login(&a, "uma", &sig("uma")).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
    // Node A's link to Redis goes dark (its kicks from other nodes with it); node B admits the user,
    // evicting A's instance, whose kick cannot reach A.
    proxy.set(Link::Blackhole);
    let cut = Instant::now();
    let (_on_b, reply) = login(&b, "uma", &sig("uma")).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
    // A closes its session by itself (1012: resume elsewhere) before B's node could purge it: two live
    // instances of an N = 1 account existed for at most node_ttl_ms.
    let (frames, code) = until_close(&mut on_a, Duration::from_millis(ttl + 1_000)).await;
    let both_live = cut.elapsed();
    assert_eq!((frames, code), (vec![], Some(close::SERVICE_RESTART)));
    assert!(both_live <= Duration::from_millis(ttl), "{both_live:?}");
    // While fenced, A refuses logins (retryable) rather than admitting blind.
    let (_ws, reply) = login(&a, "vic", &sig("vic")).await;
    assert_eq!(
        error_code(&reply),
        Some(ErrorCode::RegistryUnavailable.code()),
        "{reply:?}"
    );
    wait_for_metric(&a, "tim_registry_fenced 1\n").await;
    // The link heals: A admits again, and the account still has exactly B's instance.
    proxy.set(Link::Pass);
    let _vic = wait_until_login_works(&a, "vic").await;
    wait_for_metric(&a, "tim_registry_fenced 0\n").await;
    let instances = b
        .admin("/v4/tim_wasm_admin/query_online_instances", "{\"UserID\":\"uma\"}")
        .await;
    let list = instances["Instances"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{instances}");
    assert_eq!(list[0]["Node"], "cut-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_answers_an_error_not_ok_while_redis_does_not_answer() {
    let redis = Redis::start();
    let server = node(&redis.url(), "admin-a", 10_000);
    let (_ws, reply) = login(&server, "kim", &sig("kim")).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }));
    let old_sig = sig("kim");
    assert_eq!(
        http(&server.addr, "GET", "/healthz", "").await,
        (200, "ok\n".to_string())
    );
    assert_eq!(
        http(&server.addr, "GET", "/readyz", "").await,
        (200, "ready\n".to_string())
    );
    redis.pause();
    for (path, body) in [
        ("/v4/im_open_login_svc/kick", "{\"UserID\":\"kim\"}"),
        ("/v4/openim/query_online_status", "{\"To_Account\":[\"kim\"]}"),
        ("/v4/tim_wasm_admin/query_online_instances", "{\"UserID\":\"kim\"}"),
        ("/v4/tim_wasm_admin/query_recent_kicks", "{\"UserID\":\"kim\"}"),
        ("/v4/tim_wasm_admin/get_app_config", "{}"),
        ("/v4/tim_wasm_admin/set_app_config", "{\"OnlineWebInstances\":2}"),
    ] {
        let (status, reply) = server.admin_with_status(path, body).await;
        assert_eq!(status, 503, "{path}: {reply}");
        assert_eq!(reply["ActionStatus"], "FAIL", "{path}: {reply}");
        assert_eq!(
            reply["ErrorCode"],
            ErrorCode::RegistryUnavailable.code(),
            "{path}: {reply}"
        );
        assert!(
            reply["ErrorInfo"].as_str().unwrap().contains("Redis"),
            "{path}: {reply}"
        );
    }
    // The node leaves the load balancer's rotation while Redis does not answer; it still lives.
    let (status, body) = http(&server.addr, "GET", "/readyz", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Redis"), "{body}");
    assert_eq!(http(&server.addr, "GET", "/healthz", "").await.0, 200);
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(&server.addr, "GET", "/readyz", "").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        sleep(Duration::from_millis(100)).await;
    }
    // The kick that was refused did nothing, even though Redis ran what it had received: the old
    // UserSig still logs in, and the app's limit is unchanged.
    sleep(Duration::from_millis(300)).await;
    let _kim = wait_until_login_works(&server, "kim").await;
    let (_ws, reply) = login(&server, "kim", &old_sig).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
    let config = server.admin("/v4/tim_wasm_admin/get_app_config", "{}").await;
    assert_eq!(config["OnlineWebInstances"], 1, "{config}");
    let status = server
        .admin("/v4/openim/query_online_status", "{\"To_Account\":[\"kim\"]}")
        .await;
    assert_eq!(status["QueryResult"][0]["Status"], "Online", "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_usersig_expiring_while_redis_is_frozen_ends_the_session_at_expiry() {
    let redis = Redis::start();
    // A long liveness TTL: the node does not fence itself within this test's pause.
    let server = node(&redis.url(), "expiry-a", 20_000);
    let short = tim_usersig::gen_usersig(APP, KEY, "lea", 2, now_secs(), None);
    let (mut ws, reply) = login(&server, "lea", &short).await;
    let expires_at_ms = match reply {
        ServerFrame::LoginAck { user_sig_expire_at, .. } => (user_sig_expire_at + 1) * 1000,
        other => panic!("{other:?}"),
    };
    redis.pause();
    let (frames, code) = until_close(&mut ws, Duration::from_secs(5)).await;
    let closed_ms = now_ms();
    assert_eq!(frames, vec![ServerFrame::kicked(KickType::UserSigExpired)]);
    assert_eq!(code, Some(close::KICKED));
    assert!(
        closed_ms <= expires_at_ms + 500,
        "closed {} ms after expiry",
        closed_ms - expires_at_ms
    );
    redis.resume();
    // The removal Redis could not confirm is retried until it is: the account holds nothing.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = server
            .admin("/v4/tim_wasm_admin/query_online_instances", "{\"UserID\":\"lea\"}")
            .await;
        if reply["Instances"].as_array().is_some_and(|l| l.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the expired instance was never removed: {reply}"
        );
        sleep(Duration::from_millis(200)).await;
    }
    wait_for_metric(&server, "tim_registry_pending_total{result=\"confirmed\"} 1\n").await;
    // Its kick record follows the confirmation (once).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let kicks = server
            .admin("/v4/tim_wasm_admin/query_recent_kicks", "{\"UserID\":\"lea\"}")
            .await;
        let list = kicks["Kicks"].as_array().unwrap();
        if !list.is_empty() {
            assert_eq!(list.len(), 1, "{kicks}");
            assert_eq!(list[0]["Type"], KickType::UserSigExpired.as_str(), "{kicks}");
            break;
        }
        assert!(Instant::now() < deadline, "no kick record: {kicks}");
        sleep(Duration::from_millis(100)).await;
    }
}
