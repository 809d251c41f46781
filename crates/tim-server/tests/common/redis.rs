//! Real `redis-server` processes for the scale-out tests: one Redis or a 3-master Redis Cluster on
//! loopback ports, each in its own temporary folder, killed on drop. `cargo xtask test` installs Debian's
//! `redis-server` when it is missing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;

fn require_binary(name: &str) {
    let found = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{name} is missing: `cargo xtask test` installs it (apt-get install -y redis-server)"
    );
}

/// A loopback port that is free now, with `port + 10000` free too (the cluster bus) when `bus`.
fn free_port(bus: bool) -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !bus {
            return port;
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// One `redis-server` process.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
    dir: PathBuf,
    _dir: TempDir,
}

impl Redis {
    /// Starts a Redis without persistence.
    pub fn start() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "no"], false)
    }

    /// Starts a replica of `master` (no persistence), once it is in sync.
    pub fn start_replica_of(master: &Redis) -> Redis {
        let port = master.port.to_string();
        let replica = Redis::start_with(
            &["--save", "", "--appendonly", "no", "--replicaof", "127.0.0.1", &port],
            false,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !replica.cmd(&["INFO", "replication"]).contains("master_link_status:up") {
            assert!(Instant::now() < deadline, "the replica never synced");
            std::thread::sleep(Duration::from_millis(50));
        }
        replica
    }

    /// Starts a Redis that writes every change to its append-only file before replying.
    pub fn start_persistent() -> Redis {
        Redis::start_with(&["--save", "", "--appendonly", "yes", "--appendfsync", "always"], false)
    }

    fn start_with(extra: &[&str], cluster: bool) -> Redis {
        require_binary("redis-server");
        let dir = TempDir::new("redis");
        let port = free_port(cluster);
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir.0.display().to_string(),
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--loglevel",
            "warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut redis = Redis {
            child: None,
            port,
            args,
            dir: dir.0.clone(),
            _dir: dir,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new("redis-server")
            .args(&self.args)
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.try_cmd(&["PING"]).is_some_and(|r| r.contains("PONG")) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the process (SIGKILL: what it wrote to its AOF is what it has).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws it (SIGCONT): it runs what it received meanwhile.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([which, &pid]).status().expect("kill");
        assert!(status.success());
    }

    /// Starts it again on the same port and folder (with its data when persistent).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// One command over RESP; the raw reply text, or None when Redis cannot be reached.
    pub fn try_cmd(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for a in args {
            request += &format!("${}\r\n{a}\r\n", a.len());
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut buf = vec![0u8; 1 << 16];
        let mut out = Vec::new();
        // Replies of these tests are small; read until the first chunk ends with CRLF.
        loop {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.ends_with(b"\r\n") {
                break;
            }
        }
        Some(String::from_utf8_lossy(&out).to_string())
    }

    /// Like [`Redis::try_cmd`], panicking when Redis cannot be reached.
    pub fn cmd(&self, args: &[&str]) -> String {
        self.try_cmd(args)
            .unwrap_or_else(|| panic!("redis on port {} unreachable", self.port))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three masters (no replicas) on loopback.
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with(0)
    }

    /// Three masters with `replicas` replicas each (a master killed is replaced by its replica).
    pub fn start_with(replicas: usize) -> RedisCluster {
        require_binary("redis-cli");
        let nodes: Vec<Redis> = (0..3 * (1 + replicas))
            .map(|_| {
                Redis::start_with(
                    &[
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "2000",
                        // A replica may take over however long it was apart from its master.
                        "--cluster-replica-validity-factor",
                        "0",
                    ],
                    true,
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)));
        args.extend([
            "--cluster-replicas".into(),
            replicas.to_string(),
            "--cluster-yes".into(),
        ]);
        let out = Command::new("redis-cli").args(&args).output().expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = nodes
                .iter()
                .all(|n| n.cmd(&["CLUSTER", "INFO"]).contains("cluster_state:ok"));
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "cluster never reached cluster_state:ok");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Replicas in sync with their masters (a replica that never synced cannot take over).
        loop {
            let synced = nodes.iter().all(|n| {
                let info = n.cmd(&["INFO", "replication"]);
                info.contains("role:master") || info.contains("master_link_status:up")
            });
            if synced {
                break;
            }
            assert!(Instant::now() < deadline, "replicas never synced");
            std::thread::sleep(Duration::from_millis(100));
        }
        RedisCluster { nodes }
    }

    /// The seed URLs, as a TOML array.
    pub fn toml_urls(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(|n| format!("\"{}\"", n.url())).collect();
        format!("[{}]", urls.join(", "))
    }
}
