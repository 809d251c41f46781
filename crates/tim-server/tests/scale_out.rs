//! Scale-out: several real `tim-server` nodes on one real Redis (or a 3-master Redis Cluster), with the
//! multi-instance rule held across them: exactly N survive concurrent logins spread over the nodes, the
//! earliest are evicted, each evicted instance gets one kick; node death, Redis restart and outage, a cut
//! subscriber connection, messages across nodes.

mod common;

use std::time::Duration;

use common::redis::{Redis, RedisCluster};
use common::*;
use tim_protocol::{close, ClientFrame, ErrorCode, KickType, Platform, ServerFrame};
use tokio::time::{sleep, Instant};

/// A node's config: `n` instances per account, this `[registry]` target (`url = ...` or `cluster = [...]`).
fn node_config(n: u32, target: &str, node_id: &str, limits: &str) -> String {
    format!(
        "{}[registry]\nengine = \"redis\"\n{target}\nnode_id = \"{node_id}\"\nreconcile_interval_ms = 1000\nnode_ttl_ms = 1500\n",
        config(n, limits)
    )
}

fn start_nodes(count: usize, n: u32, target: &str, limits: &str) -> Vec<Server> {
    (0..count)
        .map(|i| Server::start(&node_config(n, target, &format!("node-{i}"), limits)))
        .collect()
}

async fn login_on(server_url: &str, user: &str, instance_id: Option<&str>) -> (Ws, ServerFrame) {
    let (mut ws, _) = tokio_tungstenite::connect_async(server_url).await.expect("connect");
    send(&mut ws, &login_frame(1, APP, user, &sig(user), instance_id)).await;
    let reply = recv(&mut ws).await;
    (ws, reply)
}

fn instance_of(reply: &ServerFrame) -> String {
    match reply {
        ServerFrame::LoginAck { instance_id, .. } => instance_id.clone(),
        other => panic!("login failed: {other:?}"),
    }
}

/// What one socket saw within `limit`: its frames and, if it closed, the close code.
async fn watch(mut ws: Ws, limit: Duration) -> (Ws, Vec<ServerFrame>, Option<Option<u16>>) {
    let mut frames = Vec::new();
    let deadline = Instant::now() + limit;
    loop {
        match next_event(&mut ws, deadline.saturating_duration_since(Instant::now())).await {
            Event::Frame(f) => frames.push(f),
            Event::Closed(code) => return (ws, frames, Some(code)),
            Event::Timeout => return (ws, frames, None),
        }
    }
}

async fn admin_instances(server: &Server, user: &str) -> Vec<(String, String)> {
    let reply = server
        .admin(
            "/v4/tim_wasm_admin/query_online_instances",
            &format!("{{\"UserID\":\"{user}\"}}"),
        )
        .await;
    assert_eq!(reply["ActionStatus"], "OK", "{reply}");
    reply["Instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["InstanceID"].as_str().unwrap().to_string(),
                i["Node"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn hello_ok(ws: &mut Ws, id: u32) {
    send(ws, &ClientFrame::Hello { id }).await;
    match recv(ws).await {
        ServerFrame::HelloAck { id: got, .. } => assert_eq!(got, id),
        other => panic!("expected a hello ack, got {other:?}"),
    }
}

/// `rounds` rounds of `per_round` concurrent logins of one account spread over `nodes`: exactly `n`
/// survive, every other login gets exactly one `kicked` frame (multipleAccount) and close 4001.
async fn exact_n_rounds(nodes: &[Server], rounds: usize, per_round: usize, n: usize) {
    for round in 0..rounds {
        let started = now_ms();
        let user = format!("round{round}");
        let logins: Vec<_> = (0..per_round)
            .map(|i| {
                let url = nodes[(i + round) % nodes.len()].url.clone();
                let user = user.clone();
                tokio::spawn(async move {
                    let (ws, reply) = login_on(&url, &user, None).await;
                    (ws, instance_of(&reply))
                })
            })
            .collect();
        let mut sockets = Vec::new();
        for login in logins {
            sockets.push(login.await.unwrap());
        }
        let finished = now_ms();
        // Every kick was decided (and published) before its login's reply: watching briefly is enough.
        let watchers: Vec<_> = sockets
            .into_iter()
            .map(|(ws, id)| {
                tokio::spawn(async move {
                    let (ws, frames, closed) = watch(ws, Duration::from_millis(1500)).await;
                    (ws, id, frames, closed)
                })
            })
            .collect();
        let mut survivors = Vec::new();
        let mut kicked = 0;
        for w in watchers {
            let (ws, id, frames, closed) = w.await.unwrap();
            match closed {
                Some(code) => {
                    kicked += 1;
                    // Exactly one kick, naming the login that took the slot (on whichever node).
                    assert_evicted_by(&frames, Platform::Node, started..=finished);
                    assert_eq!(code, Some(close::KICKED), "round {round}");
                }
                None => {
                    assert!(frames.is_empty(), "round {round}: a survivor got {frames:?}");
                    survivors.push((ws, id));
                }
            }
        }
        assert_eq!(survivors.len(), n, "round {round}: exactly {n} survive");
        assert_eq!(kicked, per_round - n, "round {round}");
        let mut listed: Vec<String> = admin_instances(&nodes[round % nodes.len()], &user)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut alive: Vec<String> = survivors.iter().map(|(_, id)| id.clone()).collect();
        listed.sort();
        alive.sort();
        assert_eq!(listed, alive, "round {round}: Redis holds exactly the survivors");
        for (i, (ws, _)) in survivors.iter_mut().enumerate() {
            hello_ok(ws, 10 + i as u32).await;
        }
    }
}

/// Logins one after another over the nodes: each login beyond `n` evicts exactly the earliest.
async fn earliest_evicted(nodes: &[Server], n: usize, logins: usize) {
    let mut sockets: Vec<Ws> = Vec::new();
    for k in 0..logins {
        let before = now_ms();
        let (ws, reply) = login_on(&nodes[k % nodes.len()].url, "sequential", None).await;
        let after = now_ms();
        instance_of(&reply);
        sockets.push(ws);
        if k >= n {
            let victim = &mut sockets[k - n];
            let (frames, code) = until_close(victim, Duration::from_secs(5)).await;
            assert_evicted_by(&frames, Platform::Node, before..=after);
            assert_eq!(code, Some(close::KICKED));
        }
    }
    let keep = sockets.len() - n;
    for (i, ws) in sockets.iter_mut().skip(keep).enumerate() {
        hello_ok(ws, 100 + i as u32).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_redis_keep_exactly_n_and_evict_the_earliest() {
    let redis = Redis::start();
    let nodes = start_nodes(3, 2, &format!("url = \"{}\"", redis.url()), "");
    exact_n_rounds(&nodes, 12, 7, 2).await;
    earliest_evicted(&nodes, 2, 6).await;

    // Messages reach the recipient's instances on every node.
    let (mut bob0, _) = login_on(&nodes[0].url, "bob", None).await;
    let (mut bob1, _) = login_on(&nodes[1].url, "bob", None).await;
    let (mut alice, _) = login_on(&nodes[2].url, "alice", None).await;
    send(
        &mut alice,
        &ClientFrame::SendMessage {
            id: 2,
            to: "bob".into(),
            text: "across nodes".into(),
            msg_id: None,
        },
    )
    .await;
    let ServerFrame::SendMessageAck {
        id: 2, seq: first_seq, ..
    } = recv(&mut alice).await
    else {
        panic!("no ack")
    };
    for bob in [&mut bob0, &mut bob1] {
        match recv(bob).await {
            ServerFrame::Message { from, text, seq, .. } => {
                assert_eq!(
                    (from.as_str(), text.as_str(), seq),
                    ("alice", "across nodes", first_seq)
                )
            }
            other => panic!("{other:?}"),
        }
    }
    // The conversation's sequence is shared by the nodes: a reply sent through another node comes next.
    send(
        &mut bob0,
        &ClientFrame::SendMessage {
            id: 3,
            to: "alice".into(),
            text: "back".into(),
            msg_id: None,
        },
    )
    .await;
    let ServerFrame::SendMessageAck {
        id: 3, seq: reply_seq, ..
    } = recv(&mut bob0).await
    else {
        panic!("no ack")
    };
    assert_eq!(reply_seq, first_seq + 1);
    for ws in [&mut alice, &mut bob1] {
        match recv(ws).await {
            ServerFrame::Message { from, seq, .. } => assert_eq!((from.as_str(), seq), ("bob", reply_seq)),
            other => panic!("{other:?}"),
        }
    }

    // OnlineWebInstances set through one node applies on every node.
    let set = nodes[0]
        .admin("/v4/tim_wasm_admin/set_app_config", "{\"OnlineWebInstances\":1}")
        .await;
    assert_eq!(set["OnlineWebInstances"], 1, "{set}");
    let got = nodes[2].admin("/v4/tim_wasm_admin/get_app_config", "{}").await;
    assert_eq!(got["OnlineWebInstances"], 1, "{got}");
    let (mut first, _) = login_on(&nodes[1].url, "carol", None).await;
    let (_second, _) = login_on(&nodes[2].url, "carol", None).await;
    let (frames, code) = until_close(&mut first, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    assert_eq!(code, Some(close::KICKED));
    // Every node lists that kick, the one that performed it (node 2) or not.
    for node in &nodes {
        let kicks = node
            .admin("/v4/tim_wasm_admin/query_recent_kicks", "{\"UserID\":\"carol\"}")
            .await;
        let list = kicks["Kicks"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1, "{kicks}");
        assert_eq!(list[0]["Type"], "multipleAccount", "{kicks}");
        assert!(list[0]["ByInstanceID"].is_string(), "{kicks}");
    }

    // A REST kick through one node reaches instances on the others and revokes old UserSigs everywhere.
    let kick = nodes[0]
        .admin("/v4/im_open_login_svc/kick", "{\"UserID\":\"bob\"}")
        .await;
    assert_eq!(kick["ActionStatus"], "OK", "{kick}");
    for bob in [&mut bob0, &mut bob1] {
        let (frames, code) = until_close(bob, Duration::from_secs(5)).await;
        assert_eq!(frames, vec![ServerFrame::kicked(KickType::RestApi)]);
        assert_eq!(code, Some(close::KICKED));
    }
    let revoked = tim_usersig::gen_usersig(APP, KEY, "bob", 86_400, now_secs() - 10, None);
    let mut again = nodes[2].connect().await;
    send(&mut again, &login_frame(1, APP, "bob", &revoked, None)).await;
    assert_eq!(
        error_code(&recv(&mut again).await),
        Some(ErrorCode::UserSigRevoked.code())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_clients_resume_on_another_node_and_keep_their_slots() {
    let redis = Redis::start();
    let mut nodes = start_nodes(3, 3, &format!("url = \"{}\"", redis.url()), "resume_grace_ms = 30000");
    let (_a1, r1) = login_on(&nodes[0].url, "dave", None).await;
    let (mut a2, r2) = login_on(&nodes[1].url, "dave", None).await;
    let (_a3, r3) = login_on(&nodes[0].url, "dave", None).await;
    let (id1, id2, id3) = (instance_of(&r1), instance_of(&r2), instance_of(&r3));
    nodes[0].child.kill().unwrap();
    nodes[0].child.wait().unwrap();

    // At once (the dead node still looks alive) and after its liveness key expired and it was purged.
    let (mut b1, reply) = login_on(&nodes[1].url, "dave", Some(&id1)).await;
    assert!(
        matches!(reply, ServerFrame::LoginAck { resumed: true, .. }),
        "{reply:?}"
    );
    sleep(Duration::from_millis(3500)).await;
    let listed = admin_instances(&nodes[1], "dave").await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let (mut b3, reply) = login_on(&nodes[2].url, "dave", Some(&id3)).await;
    assert!(
        matches!(reply, ServerFrame::LoginAck { resumed: true, .. }),
        "{reply:?}"
    );

    // Nobody was kicked: the instance on a live node is untouched and every slot is ours.
    let (ws, frames, closed) = watch(a2, Duration::from_millis(500)).await;
    assert!(frames.is_empty() && closed.is_none(), "{frames:?} {closed:?}");
    a2 = ws;
    let mut listed = admin_instances(&nodes[2], "dave").await;
    listed.sort();
    let mut expected = vec![
        (id1.clone(), "node-1".to_string()),
        (id2.clone(), "node-1".to_string()),
        (id3.clone(), "node-2".to_string()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    hello_ok(&mut b1, 5).await;
    hello_ok(&mut b3, 6).await;
    hello_ok(&mut a2, 7).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_with_its_aof_keeps_the_rule() {
    let mut redis = Redis::start_persistent();
    let nodes = start_nodes(2, 2, &format!("url = \"{}\"", redis.url()), "");
    let (mut e1, _) = login_on(&nodes[0].url, "erin", None).await;
    let (mut e2, _) = login_on(&nodes[1].url, "erin", None).await;
    redis.restart();
    // The nodes reconnect on their own; the first login after may still meet the old connection.
    let deadline = Instant::now() + Duration::from_secs(15);
    let restarted = now_ms();
    let mut e3 = loop {
        let (ws, reply) = login_on(&nodes[1].url, "erin", None).await;
        match reply {
            ServerFrame::LoginAck { .. } => break ws,
            other => {
                assert_eq!(error_code(&other), Some(ErrorCode::RegistryUnavailable.code()));
                assert!(Instant::now() < deadline, "logins never worked again");
                sleep(Duration::from_millis(200)).await;
            }
        }
    };
    // Exactly the earliest (from before the restart) was evicted, across nodes.
    let (frames, code) = until_close(&mut e1, Duration::from_secs(5)).await;
    assert_evicted_by(&frames, Platform::Node, restarted..=now_ms());
    assert_eq!(code, Some(close::KICKED));
    hello_ok(&mut e2, 2).await;
    hello_ok(&mut e3, 3).await;
    assert_eq!(admin_instances(&nodes[0], "erin").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_refuses_new_logins_and_fences_the_node_whose_sessions_then_resume() {
    let mut redis = Redis::start_persistent();
    let nodes = start_nodes(1, 1, &format!("url = \"{}\"", redis.url()), "");
    let (mut frank, reply) = login_on(&nodes[0].url, "frank", None).await;
    let frank_id = instance_of(&reply);
    redis.stop();
    let started = Instant::now();
    let (_ws, reply) = login_on(&nodes[0].url, "grace", None).await;
    assert_eq!(
        error_code(&reply),
        Some(ErrorCode::RegistryUnavailable.code()),
        "{reply:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused within the login deadline"
    );
    wait_for_metric(&nodes[0], "tim_registry_up 0\n").await;
    // The node cannot renew its liveness: within node_ttl_ms (1500 here) it closes its sessions with
    // 1012 (resume at once, elsewhere), before any other node may purge it.
    let (frames, code) = until_close(&mut frank, Duration::from_millis(1500)).await;
    assert_eq!((frames, code), (vec![], Some(close::SERVICE_RESTART)));
    assert!(
        started.elapsed() <= Duration::from_millis(1500 + 500),
        "{:?}",
        started.elapsed()
    );
    wait_for_metric(&nodes[0], "tim_registry_fenced 1\n").await;
    redis.restart();
    // Once Redis answers, the client's resume finds its instance (kept for the grace): same slot.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_ws, reply) = login_on(&nodes[0].url, "frank", Some(&frank_id)).await;
        match reply {
            ServerFrame::LoginAck {
                resumed, instance_id, ..
            } => {
                assert!(resumed);
                assert_eq!(instance_id, frank_id);
                break;
            }
            other => assert_eq!(error_code(&other), Some(ErrorCode::RegistryUnavailable.code())),
        }
        assert!(Instant::now() < deadline, "logins never worked again");
        sleep(Duration::from_millis(200)).await;
    }
    wait_for_metric(&nodes[0], "tim_registry_up 1\n").await;
    wait_for_metric(&nodes[0], "tim_registry_fenced 0\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_subscriber_connection_is_covered_by_reconciliation() {
    let redis = Redis::start();
    let nodes = start_nodes(2, 1, &format!("url = \"{}\"", redis.url()), "");
    let (mut h1, _) = login_on(&nodes[0].url, "heidi", None).await;
    // No channel may be used for a while: the subscriber is cut (CLIENT KILL) and cannot resubscribe,
    // and the kick below cannot be published.
    assert!(redis
        .cmd(&["ACL", "SETUSER", "default", "resetchannels"])
        .starts_with("+OK"));
    // (Redis 7 may already have cut it for the ACL change; then this kills nothing.)
    redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    wait_for_metric(&nodes[0], "tim_registry_subscribed 0\n").await;
    let before = now_ms();
    let (_h2, reply) = login_on(&nodes[1].url, "heidi", None).await;
    let after = now_ms();
    instance_of(&reply);
    let (frames, code) = until_close(&mut h1, Duration::from_secs(10)).await;
    // Reconciliation found the kick in Redis, with the evicting login stored beside its type.
    assert_evicted_by(&frames, Platform::Node, before..=after);
    assert_eq!(code, Some(close::KICKED));
    wait_for_metric(
        &nodes[0],
        "tim_registry_kicks_delivered_total{via=\"reconciliation\"} 1\n",
    )
    .await;
    // Channels again: the subscriber comes back by itself and kicks travel by message again.
    assert!(redis
        .cmd(&["ACL", "SETUSER", "default", "allchannels"])
        .starts_with("+OK"));
    wait_for_metric(&nodes[0], "tim_registry_subscribed 1\n").await;
    let (mut h3, _) = login_on(&nodes[0].url, "heidi", None).await;
    let (_h4, _) = login_on(&nodes[1].url, "heidi", None).await;
    let (frames, _) = until_close(&mut h3, Duration::from_secs(5)).await;
    assert_eq!(frames.len(), 1);
    wait_for_metric(&nodes[0], "tim_registry_kicks_delivered_total{via=\"message\"} 1\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_a_three_master_redis_cluster_keep_exactly_n() {
    let cluster = RedisCluster::start();
    let nodes = start_nodes(3, 2, &format!("cluster = {}", cluster.toml_urls()), "");
    exact_n_rounds(&nodes, 6, 6, 2).await;
    earliest_evicted(&nodes, 2, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_before_redis_waits_for_it_then_serves() {
    let mut redis = Redis::start();
    redis.stop();
    let config = node_config(1, &format!("url = \"{}\"", redis.url()), "node-early", "");
    // Server::start returns once the node announces its URL; it panics if the node exits first.
    let starting = std::thread::spawn(move || Server::start(&config));
    sleep(Duration::from_millis(1500)).await;
    assert!(!starting.is_finished(), "the node announced or exited without Redis");
    redis.restart();
    let node = tokio::task::spawn_blocking(move || starting.join().expect("the node exited"))
        .await
        .unwrap();
    let (_ws, reply) = login_on(&node.url, "early", None).await;
    instance_of(&reply);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_holds_nothing_unbounded_after_accounts_leave() {
    let redis = Redis::start();
    let nodes = start_nodes(2, 1, &format!("url = \"{}\"", redis.url()), "");
    // Twenty kicks across nodes: each login on node 1 evicts the instance node 0 held.
    let mut held = Vec::new();
    for i in 0..20 {
        let user = format!("kicked{i}");
        let (ws0, _) = login_on(&nodes[0].url, &user, None).await;
        let (ws1, reply) = login_on(&nodes[1].url, &user, None).await;
        instance_of(&reply);
        held.push(ws1);
        let (_, frames, _) = watch(ws0, Duration::from_secs(5)).await;
        assert!(
            frames.iter().any(|f| matches!(f, ServerFrame::Kicked { .. })),
            "{frames:?}"
        );
    }
    // A logged-out account leaves no key at all.
    let (mut ws, _) = login_on(&nodes[0].url, "leaver", None).await;
    send(&mut ws, &ClientFrame::Logout { id: 9 }).await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::LogoutAck { .. }));
    let ledger = format!("tim:{{{APP}:leaver}}:ledger");
    assert_eq!(int(&redis, &["EXISTS", &ledger]), 0);
    // An evicted instance's account keeps its ledger (the kicked id) with a TTL of at most a day.
    let kicked = format!("tim:{{{APP}:kicked0}}:ledger");
    let ttl = int(&redis, &["PTTL", &kicked]);
    assert_eq!(ttl, -1, "kicked0 still has a live instance on node 1: no TTL");
    // Node 0's index lists only what node 0 holds, once a reconciliation ran (1 s in these configs).
    sleep(Duration::from_millis(2_500)).await;
    assert_eq!(int(&redis, &["SCARD", "tim:node:{node-0}:inst"]), 0);
    assert_eq!(int(&redis, &["SCARD", "tim:node:{node-1}:inst"]), 20);
    // A message's conversation counter expires.
    send(&mut ws, &login_frame(10, APP, "leaver", &sig("leaver"), None)).await;
    instance_of(&recv(&mut ws).await);
    send(
        &mut ws,
        &ClientFrame::SendMessage {
            id: 11,
            to: "kicked1".into(),
            text: "hi".into(),
            msg_id: None,
        },
    )
    .await;
    assert!(matches!(recv(&mut ws).await, ServerFrame::SendMessageAck { .. }));
    let mseq = format!("tim:{{{APP}:c2c:7:kicked1:leaver}}:mseq");
    let ttl = int(&redis, &["PTTL", &mseq]);
    assert!(ttl > 0 && ttl <= 7 * 86_400_000, "{ttl}");
    // The account whose instance was evicted logs out: what Redis keeps for it is its ledger with the
    // kicked id (24 h TTL), and nothing else of it. Measured (MEMORY USAGE) for docs/scale-out.md.
    let mut on_b = held.remove(0);
    send(&mut on_b, &ClientFrame::Logout { id: 12 }).await;
    assert!(matches!(recv(&mut on_b).await, ServerFrame::LogoutAck { .. }));
    let ttl = int(&redis, &["PTTL", &kicked]);
    assert!(ttl > 0 && ttl <= 86_400_000, "{ttl}");
    let bytes = int(&redis, &["MEMORY", "USAGE", &kicked]);
    let list = format!("tim:{{{APP}:kicked0}}:kicks");
    let list_bytes = int(&redis, &["MEMORY", "USAGE", &list]);
    let list_ttl = int(&redis, &["PTTL", &list]);
    assert!(list_ttl > 0 && list_ttl <= 86_400_000, "{list_ttl}");
    eprintln!("Redis bytes kept for 24 h for an account that left after one of its instances was evicted: ledger {bytes}, kick list {list_bytes}");
    assert!(bytes < 1024 && list_bytes < 1024, "{bytes} {list_bytes}");
    let keys = redis.cmd(&["KEYS", "tim:{*:kicked0}*"]);
    assert_eq!(keys.matches("tim:").count(), 2, "the ledger and the kick list: {keys}");
}

/// A command's integer reply (RESP `:N`).
fn int(redis: &Redis, args: &[&str]) -> i64 {
    let reply = redis.cmd(args);
    reply
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("{args:?}: {reply:?}"))
}

/// A node writes from the ledger it last read or wrote; a limit changed through another node in between
/// is still the one applied (the write checks it and reads again when it changed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_changed_on_another_node_applies_to_the_next_login_everywhere() {
    let redis = Redis::start();
    let nodes = start_nodes(2, 1, &format!("url = \"{}\"", redis.url()), "");
    let (mut first, reply) = login_on(&nodes[0].url, "lena", None).await;
    instance_of(&reply);
    let reply = nodes[1]
        .admin("/v4/tim_wasm_admin/set_app_config", "{\"OnlineWebInstances\":2}")
        .await;
    assert_eq!(reply["OnlineWebInstances"], 2, "{reply}");
    // The second login of the account, on the node that wrote the ledger, keeps the first (N = 2 now).
    let (_second, reply) = login_on(&nodes[0].url, "lena", None).await;
    instance_of(&reply);
    hello_ok(&mut first, 5).await;
    assert_eq!(admin_instances(&nodes[1], "lena").await.len(), 2);
    // And back to 1 from the other node: the third login evicts the earliest.
    nodes[1]
        .admin("/v4/tim_wasm_admin/set_app_config", "{\"OnlineWebInstances\":1}")
        .await;
    let (_third, reply) = login_on(&nodes[0].url, "lena", None).await;
    instance_of(&reply);
    let (frames, code) = until_close(&mut first, Duration::from_secs(3)).await;
    assert_eq!(code, Some(close::KICKED), "{frames:?}");
}
