//! A rolling restart under load: three real nodes on one real Redis, 1,000 raw protocol clients (100
//! users, 10 instances each, `online_web_instances = 10`) that behave like the SDK on a 1012 close:
//! resume at once with their instance id, on the next node that admits them. Each node in turn gets
//! SIGTERM, is started again with the same `node_id` on the same address, and the next one follows once
//! its `/readyz` answers 200. After every restart every instance is back with its id, none was kicked or
//! refused, the registry lists exactly the 1,000 ids, and the app backend received no `Logout` and no
//! `Disconnect` (only the 1,000 first `Login`s). The time from each 1012 to the resumed `loginAck` is
//! printed per restart (p50/p99; run with `--nocapture` to see it). The SDK's side of the same restart
//! (its events) is `tests/node/rolling.test.mjs`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::backend::{Backend, Mode};
use common::redis::Redis;
use common::*;
use tim_protocol::{close, ServerFrame};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

const NODES: usize = 3;
const USERS: usize = 100;
const PER_USER: usize = 10;
const CLIENTS: usize = USERS * PER_USER;

fn node_config(redis: &str, backend: &str, id: &str) -> String {
    format!(
        "[[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = {PER_USER}\n\
         callback_url = \"{backend}\"\n\
         [limits]\nidle_timeout_ms = 600000\nhello_interval_ms = 300000\n\
         [registry]\nengine = \"redis\"\nurl = \"{redis}\"\nnode_id = \"{id}\"\n\
         reconcile_interval_ms = 1000\nnode_ttl_ms = 3000\n"
    )
}

/// Starts a node listening on `listen` (`127.0.0.1:0` the first time, its old address on a restart).
fn start_node(config: &str, listen: &str) -> Server {
    let dir = TempDir::new("rolling");
    let path = dir.0.join("server.toml");
    std::fs::write(&path, config).unwrap();
    let args = vec![
        "--config".to_string(),
        path.display().to_string(),
        "--listen".into(),
        listen.into(),
    ];
    Server::spawn(&args, dir)
}

/// What a client task tells the test.
enum Report {
    /// Resumed with its id on another node, `took` after its socket was closed with 1012.
    Resumed { took: Duration },
    /// Closed otherwise, kicked or refused: the test fails.
    Ended { client: usize, why: String },
}

/// What the client tasks share with the test: the nodes' URLs, how many clients each node holds, and
/// where to report.
struct Shared {
    urls: RwLock<Vec<String>>,
    on_node: Vec<AtomicUsize>,
    reports: mpsc::UnboundedSender<Report>,
}

/// One raw client: waits for its socket to close; on 1012 it resumes its instance at once on the next
/// node of the list (wrapping around, like the SDK's `serverUrl` array), else it reports its end.
async fn run_client(client: usize, user: String, id: String, mut ws: Ws, mut node: usize, shared: Arc<Shared>) {
    let Shared { urls, on_node, reports } = &*shared;
    loop {
        let code = loop {
            match next_event(&mut ws, Duration::from_secs(3600)).await {
                Event::Frame(ServerFrame::Kicked { kick_type, .. }) => {
                    let _ = reports.send(Report::Ended {
                        client,
                        why: format!("kicked: {kick_type:?}"),
                    });
                    return;
                }
                Event::Frame(_) | Event::Timeout => continue,
                Event::Closed(code) => break code,
            }
        };
        let closed_at = Instant::now();
        if code != Some(close::SERVICE_RESTART) {
            let _ = reports.send(Report::Ended {
                client,
                why: format!("closed with {code:?}"),
            });
            return;
        }
        on_node[node].fetch_sub(1, Ordering::SeqCst);
        let mut attempt = 1;
        ws = loop {
            let next = (node + attempt) % NODES;
            attempt += 1;
            if attempt > 1 + 10 * NODES {
                let _ = reports.send(Report::Ended {
                    client,
                    why: "no node admitted the resume".into(),
                });
                return;
            }
            let url = urls.read().unwrap()[next].clone();
            let Ok(Ok((mut fresh, _))) = timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(&url)).await
            else {
                continue;
            };
            send(&mut fresh, &login_frame(1, APP, &user, &sig(&user), Some(&id))).await;
            match next_event(&mut fresh, Duration::from_secs(10)).await {
                Event::Frame(ServerFrame::LoginAck { instance_id, .. }) if instance_id == id => {
                    node = next;
                    break fresh;
                }
                Event::Frame(ServerFrame::LoginAck { instance_id, .. }) => {
                    let _ = reports.send(Report::Ended {
                        client,
                        why: format!("resumed as {instance_id}, not {id}"),
                    });
                    return;
                }
                // The closing node refusing (its listener is gone or it answers 1012): the next one.
                Event::Frame(ServerFrame::Error { code, .. }) if code.get() == 80012 => continue,
                Event::Closed(_) | Event::Timeout => continue,
                Event::Frame(other) => {
                    let _ = reports.send(Report::Ended {
                        client,
                        why: format!("resume refused: {other:?}"),
                    });
                    return;
                }
            }
        };
        on_node[node].fetch_add(1, Ordering::SeqCst);
        let _ = reports.send(Report::Resumed {
            took: closed_at.elapsed(),
        });
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The instance ids the registry lists for `user`, sorted, with the node of each.
async fn listed(node: &Server, user: &str) -> Vec<(String, String)> {
    let reply = node
        .admin(
            "/v4/tim_wasm_admin/query_online_instances",
            &format!("{{\"UserID\":\"{user}\"}}"),
        )
        .await;
    let mut ids: Vec<(String, String)> = reply["Instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["InstanceID"].as_str().unwrap().to_string(),
                i["Node"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_three_nodes_under_1000_instances_loses_and_evicts_nobody() {
    raise_own_nofile();
    let redis = Redis::start();
    let backend = Backend::start(Mode::Ok).await;
    let ids: Vec<String> = (0..NODES)
        .map(|n| format!("node-{}", (b'a' + n as u8) as char))
        .collect();
    let configs: Vec<String> = ids
        .iter()
        .map(|id| node_config(&redis.url(), &backend.url, id))
        .collect();
    let mut nodes: Vec<Option<Server>> = configs.iter().map(|c| Some(start_node(c, "127.0.0.1:0"))).collect();
    let addrs: Vec<String> = nodes.iter().map(|n| n.as_ref().unwrap().addr.clone()).collect();

    // 1,000 instances, spread evenly over the nodes, 50 logins at a time.
    let (tx, mut reports) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        urls: RwLock::new(nodes.iter().map(|n| n.as_ref().unwrap().url.clone()).collect()),
        on_node: (0..NODES).map(|_| AtomicUsize::new(0)).collect(),
        reports: tx,
    });
    let on_node = &shared.on_node;
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); USERS];
    for chunk in (0..CLIENTS).collect::<Vec<_>>().chunks(50) {
        let logins = chunk.iter().map(|&c| {
            let node = nodes[c % NODES].as_ref().unwrap();
            let user = format!("user{}", c % USERS);
            async move {
                let (ws, id) = node.login_ok(&user).await;
                (c, user, ws, id)
            }
        });
        for (c, user, ws, id) in futures_util::future::join_all(logins).await {
            expected[c % USERS].push(id.clone());
            on_node[c % NODES].fetch_add(1, Ordering::SeqCst);
            tokio::spawn(run_client(c, user, id, ws, c % NODES, shared.clone()));
        }
    }
    for ids in &mut expected {
        ids.sort();
    }
    let first_logins = backend.wait_delivered(CLIENTS, Duration::from_secs(60)).await.len();
    assert_eq!(first_logins, CLIENTS, "one Login callback per instance");

    let mut all = Vec::new();
    for restarted in 0..NODES {
        let moving = on_node[restarted].load(Ordering::SeqCst);
        assert!(moving > 0, "node {restarted} holds instances before its restart");
        let mut server = nodes[restarted].take().unwrap();
        let term_at = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
        let status = tokio::task::spawn_blocking(move || {
            let status = server.child.wait();
            drop(server);
            status
        })
        .await
        .unwrap()
        .unwrap();
        assert!(status.success(), "a graceful exit: {status:?}");
        let exited = term_at.elapsed();

        // Every instance of the node resumes elsewhere, each reporting the time its resume took.
        let mut took = Vec::with_capacity(moving);
        while took.len() < moving {
            match timeout(Duration::from_secs(30), reports.recv()).await {
                Ok(Some(Report::Resumed { took: t })) => took.push(t),
                Ok(Some(Report::Ended { client, why })) => panic!("client {client} ended: {why}"),
                Ok(None) | Err(_) => panic!("{} of {moving} resumed within 30 s", took.len()),
            }
        }
        let all_back = term_at.elapsed();

        // Its replacement: the same node id on the same address, in the rotation once /readyz says 200.
        let start_at = Instant::now();
        let fresh = start_node(&configs[restarted], &addrs[restarted]);
        while http(&fresh.addr, "GET", "/readyz", "").await.0 != 200 {
            assert!(
                start_at.elapsed() < Duration::from_secs(20),
                "/readyz never answered 200"
            );
            sleep(Duration::from_millis(50)).await;
        }
        let ready = start_at.elapsed();
        nodes[restarted] = Some(fresh);

        // The registry lists exactly the 1,000 ids, none on the restarted node's old process.
        let lister = nodes[(restarted + 1) % NODES].as_ref().unwrap();
        for (u, want) in expected.iter().enumerate() {
            let got = listed(lister, &format!("user{u}")).await;
            let got_ids: Vec<String> = got.iter().map(|(id, _)| id.clone()).collect();
            assert_eq!(&got_ids, want, "user{u} after restarting {}", ids[restarted]);
            assert!(
                got.iter().all(|(_, node)| node != &ids[restarted]),
                "user{u}: an instance still listed on {}: {got:?}",
                ids[restarted]
            );
        }
        assert_eq!(on_node.iter().map(|n| n.load(Ordering::SeqCst)).sum::<usize>(), CLIENTS);

        took.sort();
        eprintln!(
            "rolling restart of {}: {moving} instances moved; close-to-resumed p50 {:?}, p99 {:?}, max {:?}; \
             process exited {exited:?} after SIGTERM, all back {all_back:?} after it; replacement ready in {ready:?}",
            ids[restarted],
            percentile(&took, 0.50),
            percentile(&took, 0.99),
            took[took.len() - 1],
        );
        all.extend(took);
    }
    all.sort();
    eprintln!(
        "rolling restart, all {} moves: p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all[all.len() - 1]
    );

    // Nothing else happened: no client ended, and the backend heard only the first logins.
    sleep(Duration::from_millis(500)).await;
    if let Ok(Report::Ended { client, why }) = reports.try_recv() {
        panic!("client {client} ended: {why}");
    }
    let delivered = backend.delivered();
    let actions: Vec<(String, String)> = delivered.iter().map(|e| e.action_reason()).collect();
    assert_eq!(
        delivered.len(),
        CLIENTS,
        "no callback beyond the first logins: {:?}",
        &actions[CLIENTS.min(actions.len())..]
    );
    assert!(actions.iter().all(|(a, _)| a == "Login"), "only Login callbacks");
    for node in nodes.iter().flatten() {
        let metrics = node.metrics().await;
        assert!(
            !metrics
                .lines()
                .any(|l| l.starts_with("tim_kicks_total{") && !l.ends_with(" 0")),
            "no kicks on {}",
            node.addr
        );
    }
}
