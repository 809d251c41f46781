//! Scale-out rows: three tim-server nodes on one real `redis-server` (`[registry] engine = "redis"`) beside
//! one node with the memory engine, measured in the same run: logins/s spread over the nodes, kick latency
//! across nodes (login on node B to `kicked` on node A), idle instances held across the three nodes (up to
//! 50,000, by one holder process per node).

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tim_protocol::ServerFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::driver::{Plan, BENCH_APP, BENCH_KEY};
use crate::holder::Holder;
use crate::load::{self, App, Target, Workload};
use crate::proc_info;
use crate::report::{bytes, micros, per_second, ratio, thousands, Row};
use crate::servers::{self, ServerProcess};
use crate::stats::Samples;

/// A `redis-server` without persistence on a free loopback port, killed on drop.
struct RedisProcess {
    child: Child,
    url: String,
    port: u16,
}

impl RedisProcess {
    fn start(dir: &Path) -> Result<RedisProcess, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("no redis-server ({e}): apt-get install redis-server"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("redis-server did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(RedisProcess {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            port,
        })
    }

    /// One command over RESP; true on a non-error reply.
    fn cmd(&self, args: &[&str]) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut request = format!("*{}\r\n", args.len());
        for a in args {
            request += &format!("${}\r\n{a}\r\n", a.len());
        }
        let mut reply = [0u8; 64];
        stream.write_all(request.as_bytes()).is_ok() && stream.read(&mut reply).is_ok_and(|n| n > 0 && reply[0] != b'-')
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(plan: &Plan, redis: Option<&str>, name: &str) -> Result<ServerProcess, String> {
    let dir = plan.root.join(".cache").join("bench");
    let mut config = servers::server_config(BENCH_APP, BENCH_KEY);
    if let Some(url) = redis {
        config += &format!("[registry]\nengine = \"redis\"\nurl = \"{url}\"\nnode_id = \"bench-{name}\"\n");
    }
    let path = dir.join(format!("server-{name}.toml"));
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&plan.server_bin);
    cmd.arg("--config").arg(&path).args(["--listen", "127.0.0.1:0"]);
    cmd.env("RUST_LOG", "warn");
    ServerProcess::start(cmd, &dir.join(format!("tim-server-{name}.log")))
}

/// The scale-out rows; skipped with the reason when `redis-server` or a node cannot start.
pub fn rows(plan: &Plan, runtime: &tokio::runtime::Runtime) -> Vec<Row> {
    let dir = plan.root.join(".cache").join("bench").join("redis");
    let _ = std::fs::create_dir_all(&dir);
    let setup = RedisProcess::start(&dir).and_then(|redis| {
        let nodes = (0..3)
            .map(|i| start_node(plan, Some(&redis.url), &format!("node{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let memory = start_node(plan, None, "memory")?;
        Ok((redis, nodes, memory))
    });
    let (redis, nodes, memory) = match setup {
        Ok(s) => s,
        Err(why) => return vec![Row::skipped("Scale-out on Redis", why)],
    };
    let targets: Result<Vec<Target>, String> = nodes.iter().map(|n| Target::parse(&n.url).map_err(|e| e.0)).collect();
    let (targets, memory_target) = match (targets, Target::parse(&memory.url)) {
        (Ok(t), Ok(m)) => (t, m),
        (Err(why), _) => return vec![Row::skipped("Scale-out on Redis", why)],
        (_, Err(e)) => return vec![Row::skipped("Scale-out on Redis", e.0)],
    };
    let app = App {
        sdk_app_id: BENCH_APP,
        key: BENCH_KEY.into(),
    };
    let sources = load::loopback_sources(8);
    // The login cycles and the hold use the same user names (bench-c{i}, bench-h{i}) on each node: three
    // slots per account there, set where every node reads it (the admin API's OnlineWebInstances); the
    // kicks run with the config's one slot.
    let settings = format!("tim:app:{{{BENCH_APP}}}");
    if !redis.cmd(&["HSET", &settings, "owi", "3"]) {
        return vec![Row::skipped(
            "Scale-out on Redis",
            "cannot set OnlineWebInstances in Redis",
        )];
    }
    let mut rows = vec![logins_row(plan, runtime, &app, &targets, &memory_target, &sources)];
    redis.cmd(&["HDEL", &settings, "owi"]);
    rows.extend(kick_rows(plan, runtime, &app, &targets, &memory_target));
    redis.cmd(&["HSET", &settings, "owi", "3"]);
    rows.push(hold_row(plan, &nodes, &memory));
    rows
}

fn logins_row(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    app: &App,
    targets: &[Target],
    memory: &Target,
    sources: &[Ipv4Addr],
) -> Row {
    let clients = if plan.quick { 24 } else { 48 };
    let time = plan.capacity_time;
    let what = format!(
        "Logins/s on 3 nodes + Redis, {clients} concurrent clients spread over the nodes, each cycle connect + login + logout + close"
    );
    let workload = Workload::Login(app.clone());
    let spread = runtime.block_on(async {
        let runs = targets
            .iter()
            .map(|t| load::run_cycles(t, &workload, clients / targets.len(), time, sources));
        futures_util::future::join_all(runs).await
    });
    let one = runtime.block_on(load::run_cycles(memory, &workload, clients, time, sources));
    let merged = spread.into_iter().reduce(|a, b| a.merge(b));
    let Some(merged) = merged else {
        return Row::skipped(what, "no run");
    };
    if merged.errors > 0 && merged.per_second() == 0.0 {
        return Row::skipped(what, merged.first_error.unwrap_or_default());
    }
    // Three runs side by side over the same time: their cycles add up.
    let rate = merged.per_second() * targets.len() as f64;
    Row::new(
        what,
        format!(
            "{} (p50 {}, p99 {})",
            per_second(rate),
            micros(merged.latencies.quantile(0.5).unwrap_or(f64::NAN)),
            micros(merged.latencies.quantile(0.99).unwrap_or(f64::NAN))
        ),
        format!(
            "{} on 1 node, memory engine (p50 {})",
            per_second(one.per_second()),
            micros(one.latencies.quantile(0.5).unwrap_or(f64::NAN))
        ),
        ratio(rate, one.per_second()),
    )
}

/// One kick: instance 1 logged in on `first`, instance 2 logs in on `second`; time from sending the
/// second login to the `kicked` frame on the first socket.
async fn one_kick(app: &App, first: &Target, second: &Target, user: &str) -> Result<Duration, String> {
    let sig = app.usersig(user);
    let source = Ipv4Addr::LOCALHOST;
    let mut a = load::connect(first, source).await.map_err(|e| e.0)?;
    load::login(&mut a, app, 1, user, &sig).await.map_err(|e| e.0)?;
    let mut b = load::connect(second, source).await.map_err(|e| e.0)?;
    let start = Instant::now();
    let login = load::login(&mut b, app, 1, user, &sig);
    let kicked = async {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), a.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    if matches!(ServerFrame::decode(text.as_str()), Ok(ServerFrame::Kicked { .. })) {
                        return Ok(start.elapsed());
                    }
                }
                Ok(Some(Ok(_))) => continue,
                _ => return Err("no kick within 10 s".to_string()),
            }
        }
    };
    let (logged_in, took) = tokio::join!(login, kicked);
    logged_in.map_err(|e| e.0)?;
    load::close(b).await;
    took
}

fn kick_rows(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    app: &App,
    targets: &[Target],
    memory: &Target,
) -> Vec<Row> {
    let count = if plan.quick { 100 } else { 500 };
    let what = "Kick latency across nodes on Redis (login on node B to kicked on node A, Rust client)";
    let measure = |pairs: &dyn Fn(usize) -> (Target, Target), tag: &str| -> Result<Samples, String> {
        runtime.block_on(async {
            let mut samples = Samples::default();
            for i in 0..count {
                let (a, b) = pairs(i);
                samples.push(one_kick(app, &a, &b, &format!("bench-kick-{tag}-{i}")).await?);
            }
            Ok(samples)
        })
    };
    let across = measure(&|i| (targets[i % 3].clone(), targets[(i + 1) % 3].clone()), "redis");
    let local = measure(&|_| (memory.clone(), memory.clone()), "memory");
    match (across, local) {
        (Ok(across), Ok(local)) => [("p50", 0.5), ("p99", 0.99)]
            .into_iter()
            .map(|(label, q)| {
                let (o, r) = (
                    across.quantile(q).unwrap_or(f64::NAN),
                    local.quantile(q).unwrap_or(f64::NAN),
                );
                Row::new(
                    format!("{what}, {label} of {count}"),
                    micros(o),
                    format!("{} on 1 node, memory engine", micros(r)),
                    ratio(o, r),
                )
            })
            .collect(),
        (Err(why), _) | (_, Err(why)) => vec![Row::skipped(what, why)],
    }
}

fn hold_row(plan: &Plan, nodes: &[ServerProcess], memory: &ServerProcess) -> Row {
    // One holder process per node holds that node's client sockets: no process passes 20,000 open files.
    let per_node = if plan.quick { 1_000 } else { 16_700 };
    let total = per_node * nodes.len();
    let what = format!(
        "Idle instances held across 3 nodes on Redis ({} in all), resident memory per instance",
        thousands(total as u64)
    );
    let rss = |p: &ServerProcess| proc_info::rss_bytes(p.pid()).unwrap_or(0);
    let hold = |servers: &[&ServerProcess]| -> Result<(u64, u64), String> {
        let before: u64 = servers.iter().map(|p| rss(p)).sum();
        let mut holders = servers
            .iter()
            .map(|p| Holder::spawn(&p.url, per_node))
            .collect::<Result<Vec<_>, _>>()?;
        let mut count = 0;
        for h in &mut holders {
            count += h.wait_held()?;
        }
        std::thread::sleep(Duration::from_millis(500));
        let after: u64 = servers.iter().map(|p| rss(p)).sum();
        drop(holders);
        Ok((count as u64, after.saturating_sub(before) / count.max(1) as u64))
    };
    let nodes: Vec<&ServerProcess> = nodes.iter().collect();
    match (hold(&nodes), hold(&[memory])) {
        (Ok((count, per)), Ok((one_count, reference))) => Row::new(
            what,
            format!("{} held, {} / instance", thousands(count), bytes(per)),
            format!(
                "{} / instance on 1 node, memory engine ({} held)",
                bytes(reference),
                thousands(one_count)
            ),
            ratio(per as f64, reference as f64),
        ),
        (Err(why), _) => Row::skipped(what, why),
        (_, Err(why)) => Row::skipped(what, format!("memory engine: {why}")),
    }
}
