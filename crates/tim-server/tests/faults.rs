//! Faults with real parts: nodes on a real `redis-server`, a TCP proxy between one node and Redis that
//! blackholes the link, Redis frozen with SIGSTOP. Each test asserts what the server promises under the
//! fault: no more than N live instances beyond the fencing bound, no `OK` for work not done, a session
//! ended at its UserSig's expiry whatever Redis does.

mod common;

use std::time::Duration;

use common::backend::{Backend, Mode};
use common::proxy::{Link, Proxy};
use common::redis::{Redis, RedisCluster};
use common::*;
use tim_protocol::{close, ClientFrame, ErrorCode, KickType, ServerFrame};
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

/// One test client: an instance of `user` while `ws` is open and it has not been kicked.
struct Client {
    user: String,
    id: String,
    ws: Option<Ws>,
    /// Its socket closed without a kick or a logout: like the SDK, it resumes its instance.
    resuming: bool,
}

/// Reads what each open client was sent: a kick ends it; a close (not 4001) makes it resume, as the SDK.
async fn drain(clients: &mut [Client]) {
    for c in clients.iter_mut() {
        while let Some(ws) = c.ws.as_mut() {
            match next_event(ws, Duration::from_millis(5)).await {
                Event::Timeout => break,
                Event::Frame(ServerFrame::Kicked { .. }) | Event::Closed(Some(close::KICKED)) => c.ws = None,
                Event::Closed(_) => {
                    c.ws = None;
                    c.resuming = true;
                }
                Event::Frame(_) => {}
            }
        }
    }
}

/// Resumes the clients that want to, on any node that admits them: a resume that the registry refuses
/// (80007: the slot is gone) ends the client; one it cannot answer yet (80012) is tried again later.
async fn resume(clients: &mut [Client], nodes: &[Server]) {
    for (i, c) in clients.iter_mut().enumerate().filter(|(_, c)| c.resuming) {
        let node = &nodes[i % nodes.len()];
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&node.url).await else {
            continue;
        };
        send(&mut ws, &login_frame(1, APP, &c.user, &sig(&c.user), Some(&c.id))).await;
        match tokio::time::timeout(Duration::from_secs(2), recv(&mut ws)).await {
            Ok(ServerFrame::LoginAck { instance_id, .. }) => {
                assert_eq!(instance_id, c.id);
                c.ws = Some(ws);
                c.resuming = false;
            }
            Ok(reply) if error_code(&reply) == Some(ErrorCode::InstanceNotFound.code()) => c.resuming = false,
            _ => {}
        }
    }
}

/// The instance ids the registry lists for `user` on `node`, or `None` when it cannot answer.
async fn listed(node: &Server, user: &str) -> Option<Vec<String>> {
    let (status, reply) = node
        .admin_with_status(
            "/v4/tim_wasm_admin/query_online_instances",
            &format!("{{\"UserID\":\"{user}\"}}"),
        )
        .await;
    (status == 200).then(|| {
        let mut ids: Vec<String> = reply["Instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["InstanceID"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    })
}

/// Logins minus logouts, disconnects and kicked devices per user, from the callbacks delivered so far.
fn callback_balance(backend: &Backend, user: &str) -> i64 {
    let mut balance = 0i64;
    for event in backend.delivered().iter().filter(|e| e.account() == user) {
        match event.action_reason().0.as_str() {
            "Login" => balance += 1 - event.kicked().map_or(0, |k| k.len() as i64),
            "Logout" | "Disconnect" => balance -= 1,
            _ => {}
        }
    }
    balance
}

/// Fault rounds on two nodes whose links to one persistent Redis go through TCP proxies: Redis frozen,
/// Redis killed and restarted from its AOF, a node's link blackholed, a node's link cut, a node killed
/// with `kill -9` and restarted. Before each fault clients log in, out and drop; after it, within the
/// reconcile interval plus the grace, every node lists exactly the instances whose client sockets are
/// open (no ghost, none lost, at most N), and each user's callbacks balance: one `Login` for every live
/// instance beyond the `Logout`/`Disconnect` callbacks and kicked devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_every_fault_the_registry_lists_exactly_the_live_connections_and_callbacks_balance() {
    let faults = [
        Fault::Freeze,
        Fault::Restart,
        Fault::Blackhole,
        Fault::Cut,
        Fault::KillNode,
    ];
    fault_rounds(Redis::start_persistent(), &faults, 10).await;
}

/// The same rounds on a Redis without persistence, restarted (it forgets every session): the sessions
/// resume (as fresh logins while slots are free), and each lost instance's end is reported once, so the
/// callbacks still balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_forgets_everything_loses_no_session_and_no_callback_balance() {
    let faults = [Fault::Restart, Fault::Blackhole, Fault::Restart, Fault::KillNode];
    fault_rounds(Redis::start(), &faults, 4).await;
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Redis frozen (SIGSTOP) for 1.2 s.
    Freeze,
    /// Redis killed and restarted (from its AOF when it has one).
    Restart,
    /// Node 0's link to Redis blackholed for 1.2 s.
    Blackhole,
    /// Node 1's link to Redis cut for 1 s.
    Cut,
    /// Node 0 killed with `kill -9` and restarted with the same node id.
    KillNode,
}

async fn fault_rounds(mut redis: Redis, faults: &[Fault], rounds: usize) {
    let backend = Backend::start(Mode::Ok).await;
    let proxies = [Proxy::start(redis.port).await, Proxy::start(redis.port).await];
    let config = |i: usize| {
        format!(
            "listen = \"127.0.0.1:9\"\n[[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = 1\n\
             callback_url = \"{}\"\ncallback_token = \"t\"\n[limits]\nresume_grace_ms = 1500\ncallback_backoff_ms = 50\n\
             [registry]\nengine = \"redis\"\nurl = \"{}\"\nnode_id = \"chaos-{i}\"\nreconcile_interval_ms = 500\n\
             node_ttl_ms = 1500\ntimeout_ms = 400\n",
            backend.url,
            proxies[i].url()
        )
    };
    let mut nodes = vec![Server::start(&config(0)), Server::start(&config(1))];
    let users = ["ann", "bob", "cid"];
    let mut clients: Vec<Client> = Vec::new();
    for round in 0..rounds {
        // Clients act: logins (evicting that user's earlier instance, N = 1), a logout, a dropped socket.
        for (k, user) in [users[round % 3], users[(round + 1) % 3]].into_iter().enumerate() {
            let node = &nodes[(round + k) % 2];
            let attempt = tokio::time::timeout(Duration::from_secs(3), login(node, user, &sig(user))).await;
            if let Ok((ws, ServerFrame::LoginAck { instance_id, .. })) = attempt {
                clients.push(Client {
                    user: user.into(),
                    id: instance_id,
                    ws: Some(ws),
                    resuming: false,
                });
            }
        }
        drain(&mut clients).await;
        if let Some(c) = clients
            .iter_mut()
            .find(|c| c.ws.is_some() && c.user == users[(round + 2) % 3])
        {
            let ws = c.ws.as_mut().unwrap();
            send(ws, &ClientFrame::Logout { id: 7 }).await;
            let _ = next_event(ws, Duration::from_secs(2)).await;
            c.ws = None;
            c.resuming = false;
        }
        if round % 3 == 2 {
            if let Some(c) = clients
                .iter_mut()
                .find(|c| c.ws.is_some() && c.user == users[(round + 2) % 3])
            {
                c.ws = None; // dropped: the socket closes, the instance is detached, then freed
            }
        }
        // The fault.
        match faults[round % faults.len()] {
            Fault::Freeze => {
                redis.pause();
                sleep(Duration::from_millis(1_200)).await;
                redis.resume();
            }
            Fault::Restart => redis.restart(),
            Fault::Blackhole => {
                proxies[0].set(Link::Blackhole);
                sleep(Duration::from_millis(1_200)).await;
                proxies[0].set(Link::Pass);
            }
            Fault::Cut => {
                proxies[1].set(Link::Cut);
                sleep(Duration::from_millis(1_000)).await;
                proxies[1].set(Link::Pass);
            }
            Fault::KillNode => {
                // Callbacks wait in the node's memory: a node killed with callbacks queued loses them (a
                // documented limit). Let the queue empty first; this round tests the registry.
                let mut before = backend.delivered().len();
                loop {
                    sleep(Duration::from_millis(300)).await;
                    let now = backend.delivered().len();
                    if now == before {
                        break;
                    }
                    before = now;
                }
                let _ = nodes[0].child.kill();
                let _ = nodes[0].child.wait();
                nodes[0] = Server::start(&config(0));
            }
        }
        // Within the reconcile interval plus the grace (and the fence's recovery), the invariants hold.
        let deadline = Instant::now() + Duration::from_secs(12);
        loop {
            drain(&mut clients).await;
            resume(&mut clients, &nodes).await;
            drain(&mut clients).await;
            let mut live: Vec<(String, String)> = clients
                .iter()
                .filter(|c| c.ws.is_some())
                .map(|c| (c.user.clone(), c.id.clone()))
                .collect();
            live.sort();
            let mut problems = Vec::new();
            for user in users {
                let want: Vec<String> = live
                    .iter()
                    .filter(|(u, _)| u == user)
                    .map(|(_, id)| id.clone())
                    .collect();
                if want.len() > 1 {
                    problems.push(format!("{user}: {} live instances at N = 1", want.len()));
                }
                for node in &nodes {
                    match listed(node, user).await {
                        Some(got) if got == want => {}
                        got => problems.push(format!("{user}: listed {got:?}, live {want:?}")),
                    }
                }
                let balance = callback_balance(&backend, user);
                if balance != want.len() as i64 {
                    problems.push(format!("{user}: callbacks balance {balance}, live {}", want.len()));
                }
            }
            if clients.iter().any(|c| c.resuming) {
                problems.push("a client is still resuming".into());
            }
            if problems.is_empty() {
                eprintln!(
                    "round {round}: live {live:?}, {} callbacks delivered",
                    backend.delivered().len()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round} ({:?}): {problems:?}",
                faults[round % faults.len()]
            );
            sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Waits until every node lists exactly the live clients of each user and the callbacks balance.
async fn until_invariants_hold(
    what: &str,
    clients: &mut [Client],
    nodes: &[Server],
    users: &[&str],
    backend: &Backend,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        drain(clients).await;
        resume(clients, nodes).await;
        drain(clients).await;
        let mut problems = Vec::new();
        for user in users {
            let mut want: Vec<String> = clients
                .iter()
                .filter(|c| c.ws.is_some() && c.user == *user)
                .map(|c| c.id.clone())
                .collect();
            want.sort();
            if want.len() > 1 {
                problems.push(format!("{user}: {} live instances at N = 1", want.len()));
            }
            for node in nodes {
                match listed(node, user).await {
                    Some(got) if got == want => {}
                    got => problems.push(format!("{user}: listed {got:?}, live {want:?}")),
                }
            }
            let balance = callback_balance(backend, user);
            if balance != want.len() as i64 {
                problems.push(format!("{user}: callbacks balance {balance}, live {}", want.len()));
            }
        }
        if clients.iter().any(|c| c.resuming) {
            problems.push("a client is still resuming".into());
        }
        if problems.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {problems:?}");
        sleep(Duration::from_millis(250)).await;
    }
}

/// A 3-master Redis Cluster with a replica each: a master is killed and its replica promoted. Calls to
/// its slots fail meanwhile (80012, sessions fenced where a node's liveness key lived there); then every
/// node lists exactly the live connections again, callbacks balance, and new logins keep the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_master_killed_and_replaced_by_its_replica_keeps_the_invariants() {
    let mut cluster = RedisCluster::start_with(1);
    let backend = Backend::start(Mode::Ok).await;
    let config = |i: usize| {
        format!(
            "listen = \"127.0.0.1:9\"\n[[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = 1\n\
             callback_url = \"{}\"\ncallback_token = \"t\"\n[limits]\nresume_grace_ms = 1500\ncallback_backoff_ms = 50\n\
             [registry]\nengine = \"redis\"\ncluster = {}\nnode_id = \"failover-{i}\"\nreconcile_interval_ms = 500\n\
             node_ttl_ms = 3000\ntimeout_ms = 400\n",
            backend.url,
            cluster.toml_urls()
        )
    };
    let nodes = vec![Server::start(&config(0)), Server::start(&config(1))];
    let users = ["ann", "bob", "cid", "dan", "eve", "fay"];
    let mut clients = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let (ws, reply) = login(&nodes[i % 2], user, &sig(user)).await;
        let ServerFrame::LoginAck { instance_id, .. } = reply else {
            panic!("{reply:?}")
        };
        clients.push(Client {
            user: user.to_string(),
            id: instance_id,
            ws: Some(ws),
            resuming: false,
        });
    }
    until_invariants_hold("before the failover", &mut clients, &nodes, &users, &backend).await;
    let master = cluster
        .nodes
        .iter()
        .position(|n| n.cmd(&["ROLE"]).contains("master"))
        .expect("a master");
    cluster.nodes[master].stop();
    // Its replica takes over after the cluster's node timeout (2 s); until then its slots do not answer.
    until_invariants_hold("after the failover", &mut clients, &nodes, &users, &backend).await;
    // New logins on the other node evict each user's instance: exactly one live per user again.
    for (i, user) in users.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ws, reply) = login(&nodes[(i + 1) % 2], user, &sig(user)).await;
            if let ServerFrame::LoginAck { instance_id, .. } = reply {
                clients.push(Client {
                    user: user.to_string(),
                    id: instance_id,
                    ws: Some(ws),
                    resuming: false,
                });
                break;
            }
            assert!(Instant::now() < deadline, "{user}: {reply:?}");
            sleep(Duration::from_millis(200)).await;
        }
    }
    until_invariants_hold("after new logins", &mut clients, &nodes, &users, &backend).await;
}

/// With `wait_replicas = 1` a REST kick answers `OK` only once a replica has its revocation; with the
/// replica gone it still kicks, but answers 503 saying the revocation is not confirmed on a replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_kick_waits_for_a_replica_when_told_to() {
    let redis = Redis::start();
    let mut replica = Redis::start_replica_of(&redis);
    let server = Server::start(&format!(
        "{}[registry]\nengine = \"redis\"\nurl = \"{}\"\nnode_id = \"wait-a\"\ntimeout_ms = 2000\nwait_replicas = 1\n",
        config(1, ""),
        redis.url()
    ));
    let (mut ws, reply) = login(&server, "ida", &sig("ida")).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }));
    let reply = server.admin("/v4/im_open_login_svc/kick", "{\"UserID\":\"ida\"}").await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
    let (frames, _) = until_close(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(frames, vec![ServerFrame::kicked(KickType::RestApi)]);
    // The revocation is on the replica.
    let ledger = format!("tim:{{{APP}:ida}}:ledger");
    assert!(
        replica.cmd(&["HGET", &ledger, "d"]).contains("\"r\":"),
        "no revocation on the replica"
    );
    replica.stop();
    let (mut ws, reply) = login(&server, "ida", &sig_later("ida")).await;
    assert!(matches!(reply, ServerFrame::LoginAck { .. }), "{reply:?}");
    let (status, reply) = server
        .admin_with_status("/v4/im_open_login_svc/kick", "{\"UserID\":\"ida\"}")
        .await;
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["ErrorCode"], ErrorCode::RegistryUnavailable.code(), "{reply}");
    assert!(reply["ErrorInfo"].as_str().unwrap().contains("took effect"), "{reply}");
    let (frames, _) = until_close(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(
        frames,
        vec![ServerFrame::kicked(KickType::RestApi)],
        "the kick itself was applied"
    );
}

/// A UserSig issued one second after now (a kick revokes those issued at or before it).
fn sig_later(user: &str) -> String {
    tim_usersig::gen_usersig(APP, KEY, user, 86_400, now_secs() + 1, None)
}
