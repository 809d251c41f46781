//! Real load balancers in front of three real nodes: Debian's HAProxy (`send-proxy-v2`, nodes with
//! `proxy_protocol = true`) and nginx (`X-Forwarded-For`, nodes with `trusted_proxies`), run with the very
//! config blocks of `docs/scale-out.md` (TLS lines dropped, the hosts replaced by the local nodes). Clients
//! connect from 127.0.0.2..127.0.0.9 (Linux routes all of 127.0.0.0/8 to loopback) and each must get its
//! own connection cap, its own failed-login bucket and its own `ClientIP`; a flood of failed logins from one
//! client must leave the other clients' logins working. Every loop is bounded in count and time.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::backend::{Backend, Mode};
use common::*;
use tim_protocol::{ErrorCode, ServerFrame};
use tokio::time::timeout;

/// The fenced block of `lang` in `docs/scale-out.md` (there must be exactly one).
fn doc_block(lang: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/scale-out.md");
    let text = std::fs::read_to_string(path).unwrap();
    let open = format!("```{lang}\n");
    let blocks: Vec<&str> = text
        .split(&open)
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 1, "docs/scale-out.md must have one ```{lang} block");
    blocks[0].to_string()
}

/// `text` with `from` replaced by `to`; `from` must be there (a changed doc block fails loudly here).
fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "the doc block no longer contains {from:?}:\n{text}"
    );
    text.replace(from, to)
}

/// The doc block with its three hosts replaced by `nodes` and its TLS lines dropped.
fn with_nodes(mut block: String, nodes: &[&str]) -> String {
    for (i, node) in nodes.iter().enumerate() {
        block = replace(&block, &format!("10.0.0.1{}:9000", i + 1), node);
    }
    block
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require_binary(name: &str, version_flag: &str) {
    let found = Command::new(name)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{name} is missing: `cargo xtask test` installs it (apt-get install -y nginx haproxy)"
    );
}

/// A load-balancer process, killed on drop.
struct Balancer {
    child: Child,
    addr: String,
    _dir: TempDir,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Balancer {
    /// nginx on a free port with the doc's block inside a minimal main config (own prefix, pid, logs and
    /// temp paths; in the foreground, one process: killing it leaves no orphaned worker behind).
    fn nginx(nodes: &[&str]) -> Balancer {
        require_binary("nginx", "-v");
        let dir = TempDir::new("nginx");
        let port = free_port();
        let block = with_nodes(doc_block("nginx"), nodes);
        let block = replace(&block, "listen 443 ssl;", &format!("listen 127.0.0.1:{port};"));
        let block = replace(&block, "    # ssl_certificate ...;\n", "");
        let d = dir.0.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             {user}events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{block}}}\n",
            // As root, workers would run as `nobody` and could not use the temp paths here.
            user = if unsafe { libc::geteuid() } == 0 { "user root;\n" } else { "" },
        );
        let path = dir.0.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &d.to_string(), "-c", &path.display().to_string(), "-e"])
            .arg(dir.0.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx");
        Balancer::ready(child, port, dir)
    }

    /// HAProxy on a free port with the doc's block (and a `global` section), in the foreground (`-db`).
    fn haproxy(nodes: &[&str]) -> Balancer {
        require_binary("haproxy", "-v");
        let dir = TempDir::new("haproxy");
        let port = free_port();
        let block = with_nodes(doc_block("haproxy"), nodes);
        let block = replace(
            &block,
            "bind :443 ssl crt /etc/haproxy/im.pem",
            &format!("bind 127.0.0.1:{port}"),
        );
        let conf = format!("global\n    maxconn 4096\n\n{block}");
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("haproxy")
            .args(["-db", "-f", &path.display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn haproxy");
        Balancer::ready(child, port, dir)
    }

    fn ready(mut child: Child, port: u16, dir: TempDir) -> Balancer {
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the balancer exited at start: {status}");
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Balancer { child, addr, _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        panic!("the balancer never listened on {addr}");
    }
}

/// Three nodes (memory engine: addresses are each node's own business) with `top` keys, callbacks to
/// `backend`, and small per-address limits.
fn nodes(top: &str, backend: &Backend) -> Vec<Server> {
    let text = format!(
        "{top}\nlisten = \"127.0.0.1:9\"\n\
         [[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = 1000\n\
         callback_url = \"{}\"\n\
         [limits]\nmax_connections_per_ip = 2\nlogin_failures_per_ip = 5\nlogin_failure_window_ms = 60000\n\
         admin_failures_per_ip = 2\n",
        backend.url
    );
    (0..3).map(|_| Server::start(&text)).collect()
}

fn client(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))
}

/// A WebSocket through the balancer from `src`, and the reply to a login as `user` with `sig`.
async fn login_via(lb: &Balancer, src: IpAddr, user: &str, sig: &str) -> Option<(Ws, ServerFrame)> {
    let attempt = async {
        let tcp = tcp_from_to(src, &lb.addr).await.ok()?;
        let mut ws = try_ws_over(tcp, &lb.addr, b"", &[]).await?;
        let reply = login_on(&mut ws, user, sig).await?;
        Some((ws, reply))
    };
    timeout(Duration::from_secs(5), attempt).await.ok().flatten()
}

fn is_ack(reply: &Option<(Ws, ServerFrame)>) -> bool {
    matches!(reply, Some((_, ServerFrame::LoginAck { .. })))
}

fn code_of(reply: &Option<(Ws, ServerFrame)>) -> Option<u32> {
    reply.as_ref().and_then(|(_, f)| error_code(f))
}

/// Paced valid logins from 127.0.0.3..=127.0.0.8 (each address one at a time, `per_address` each, one
/// every 40 ms at most): how many got in, and the phase's wall time.
async fn paced_logins(lb: &Balancer, tag: &str, per_address: usize) -> (usize, Duration) {
    let started = Instant::now();
    let one = |i: u8| async move {
        let mut ok = 0;
        for k in 0..per_address {
            let next = tokio::time::Instant::now() + Duration::from_millis(40);
            let user = format!("{tag}{i}-{k}");
            if let Some((mut ws, ServerFrame::LoginAck { .. })) = login_via(lb, client(i), &user, &sig(&user)).await {
                ok += 1;
                let _ = ws.close(None).await;
                // The close handshake completes, so the place is free again before the next login.
                let _ = next_event(&mut ws, Duration::from_secs(1)).await;
            }
            tokio::time::sleep_until(next).await;
        }
        ok
    };
    let counts = futures_util::future::join_all((3..=8).map(one)).await;
    (counts.into_iter().sum(), started.elapsed())
}

/// What both balancers must show (`name` for messages).
async fn each_client_is_itself(name: &str, lb: &Balancer, backend: &Backend) {
    // Wait until the balancer routes (its health checks see the nodes up).
    let mut up = false;
    for _ in 0..100 {
        if is_ack(&login_via(lb, client(9), "probe", &sig("probe")).await) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "{name}: no login through the balancer");

    // 1. Two logged-in connections from each of 127.0.0.2..=127.0.0.8: 14 through one balancer address,
    //    which would be far over a per-address cap of 2 per node if the nodes saw the balancer.
    let mut held = Vec::new();
    for i in 2..=8u8 {
        for k in 0..2 {
            let user = format!("c{i}-{k}");
            let reply = login_via(lb, client(i), &user, &sig(&user)).await;
            assert!(
                is_ack(&reply),
                "{name}: {user} from {}: {:?}",
                client(i),
                reply.map(|r| r.1)
            );
            held.push(reply.unwrap().0);
        }
    }
    // ClientIP of every Login callback is its client's address.
    let got = backend.wait_delivered(15, Duration::from_secs(10)).await;
    for i in 2..=8u8 {
        for k in 0..2 {
            let user = format!("c{i}-{k}");
            let event = got
                .iter()
                .find(|r| r.account() == user && r.action_reason().0 == "Login")
                .unwrap_or_else(|| panic!("{name}: no Login callback for {user}"));
            assert_eq!(
                event.query["ClientIP"],
                client(i).to_string(),
                "{name}: ClientIP of {user}"
            );
        }
    }
    // 2. The cap is per client: 127.0.0.2 can hold at most 2 per node (6 in all); 10 more attempts from it
    //    are refused with 80004 at least 6 times, while 127.0.0.9 still gets in.
    let mut extra = Vec::new();
    let mut refused = 0;
    for k in 0..10 {
        let user = format!("x{k}");
        let reply = login_via(lb, client(2), &user, &sig(&user)).await;
        if code_of(&reply) == Some(ErrorCode::TooManyConnections.code()) {
            refused += 1;
        } else {
            assert!(is_ack(&reply), "{name}: {user}: {:?}", reply.map(|r| r.1));
            extra.push(reply.unwrap().0);
        }
    }
    assert!(
        extra.len() <= 4 && refused >= 6,
        "{name}: 127.0.0.2 got {} more, {refused} refused",
        extra.len()
    );
    let reply = login_via(lb, client(9), "late", &sig("late")).await;
    assert!(is_ack(&reply), "{name}: another client is not capped");
    drop((held, extra, reply));

    // 3. Failed logins have one bucket per client: 127.0.0.2 fails until every node limits it (70050),
    //    while one failure from each other client is a plain refusal.
    let mut limited = 0;
    for _ in 0..60 {
        let reply = login_via(lb, client(2), "mallory", "bad-sig").await;
        if code_of(&reply) == Some(ErrorCode::LoginRateLimited.code()) {
            limited += 1;
            if limited >= 6 {
                break;
            }
        }
    }
    assert!(limited >= 6, "{name}: 127.0.0.2 was never rate limited");
    for i in 3..=8u8 {
        let reply = login_via(lb, client(i), "mallory", "bad-sig").await;
        let code = code_of(&reply);
        assert!(
            code.is_some() && code != Some(ErrorCode::LoginRateLimited.code()),
            "{name}: {} has its own bucket: {code:?}",
            client(i)
        );
    }

    // 4. Valid logins of the others, calm and during a flood of failed logins from 127.0.0.2.
    let (calm, calm_time) = paced_logins(lb, "calm", 40).await;
    let stop = Instant::now() + Duration::from_secs(30);
    let flooding = std::sync::atomic::AtomicBool::new(true);
    let flood = async {
        let one = |_: u32| async {
            let mut attempts = 0u32;
            while flooding.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < stop && attempts < 5_000 {
                attempts += 1;
                let _ = login_via(lb, client(2), "mallory", "bad-sig").await;
            }
            attempts
        };
        futures_util::future::join_all((0..4).map(one))
            .await
            .into_iter()
            .sum::<u32>()
    };
    let during = async {
        let counted = paced_logins(lb, "flood", 40).await;
        flooding.store(false, std::sync::atomic::Ordering::SeqCst);
        counted
    };
    let (flood_attempts, (flooded, flood_time)) = tokio::join!(flood, during);
    println!(
        "{name}: valid logins of 6 other clients: calm {calm}/240 in {calm_time:?}, during a flood of \
         {flood_attempts} failed logins from 127.0.0.2: {flooded}/240 in {flood_time:?} ({:.1} % of calm)",
        100.0 * flooded as f64 / calm.max(1) as f64
    );
    assert!(calm >= 200, "{name}: only {calm}/240 calm logins");
    assert!(
        flood_attempts >= 100,
        "{name}: the flood made only {flood_attempts} attempts"
    );
    assert!(
        flooded * 10 >= calm * 9,
        "{name}: {flooded} logins during the flood < 90 % of {calm} calm"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_with_send_proxy_v2_gives_each_client_its_own_address() {
    raise_own_nofile();
    let backend = Backend::start(Mode::Ok).await;
    let nodes = nodes("proxy_protocol = true", &backend);
    let addrs: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    let lb = Balancer::haproxy(&addrs);
    each_client_is_itself("haproxy", &lb, &backend).await;
    // Nothing reached the nodes without a PROXY header (health checks send one too).
    for node in &nodes {
        let tcp = tcp_from_to(client(1), &node.addr).await.unwrap();
        let (status, text) = http_over(
            tcp,
            &proxy_v1("127.0.0.1:1".parse().unwrap(), node.addr.parse().unwrap()),
            "GET",
            "/metrics",
            "",
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert!(!text.contains("tim_proxy_protocol_refused_total{"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_with_x_forwarded_for_gives_each_client_its_own_address() {
    raise_own_nofile();
    let backend = Backend::start(Mode::Ok).await;
    let nodes = nodes("trusted_proxies = [\"127.0.0.1/32\"]", &backend);
    let addrs: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    let lb = Balancer::nginx(&addrs);
    each_client_is_itself("nginx", &lb, &backend).await;
    // The instance's ClientIP in query_online_instances (on whichever node holds it) is its client's.
    let (_ws, reply) = login_via(&lb, client(7), "zoe", &sig("zoe")).await.expect("login");
    assert!(matches!(reply, ServerFrame::LoginAck { .. }));
    let mut shown = Vec::new();
    for node in &nodes {
        let reply = node
            .admin("/v4/tim_wasm_admin/query_online_instances", r#"{"UserID":"zoe"}"#)
            .await;
        shown.extend(
            reply["Instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["ClientIP"].clone()),
        );
    }
    assert_eq!(shown, [serde_json::json!("127.0.0.7")]);
    // Admin API failures through nginx count against each request's client (2 per node): 127.0.0.5 is
    // limited (70050), 127.0.0.6 is not.
    let bad = format!("/v4/tim_wasm_admin/query_online_instances?sdkappid={APP}&identifier=administrator&usersig=bad");
    let admin_code = |src: IpAddr| {
        let (lb, bad) = (&lb, &bad);
        async move {
            let tcp = tcp_from_to(src, &lb.addr).await.unwrap();
            let (_, body) = http_over(tcp, b"", "POST", bad, "", "{}").await;
            let reply: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            reply["ErrorCode"].as_u64()
        }
    };
    let limited = u64::from(ErrorCode::LoginRateLimited.code());
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(admin_code(client(5)).await);
    }
    assert!(codes.contains(&Some(limited)), "127.0.0.5 never limited: {codes:?}");
    let other = admin_code(client(6)).await;
    assert!(other.is_some() && other != Some(limited), "127.0.0.6: {other:?}");
}
