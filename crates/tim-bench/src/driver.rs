//! The bench run: every row of `docs/benchmarks.md`, each measured beside its reference in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::load::{self, App, Target, Workload};
use crate::report::{self, bytes, micros, per_second, ratio, thousands, Row};
use crate::servers::{self, ServerProcess};
use crate::stats::Samples;
use crate::{attack, browser_files, node, proc_info, sizes, usersig_rate, vendor};

/// The app every bench server hosts.
pub const BENCH_APP: u64 = 1_400_000_000;
/// Its secret key (loopback only, never a real key).
pub const BENCH_KEY: &str = "bench-secret-key-0123456789abcdef";

/// How much to measure, and where things are.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `--quick`: fewer samples, under two minutes.
    pub quick: bool,
    /// The repository root.
    pub root: PathBuf,
    /// `tim-server` binary.
    pub server_bin: PathBuf,
    /// `tim-bench-echo` binary.
    pub echo_bin: PathBuf,
    /// Logins timed in Node (per mode).
    pub logins: usize,
    /// Kicks timed in Node (per mode).
    pub kicks: usize,
    /// Fresh Node processes for the start-up time.
    pub startups: usize,
    /// Concurrent clients of the capacity runs.
    pub clients: Vec<usize>,
    /// Duration of each capacity run.
    pub capacity_time: Duration,
    /// Idle instance counts to hold.
    pub hold_levels: Vec<usize>,
    /// Duration of each UserSig measurement.
    pub verify_time: Duration,
    /// Duration of each half (without, during) of an attack row.
    pub attack_time: Duration,
    /// Rows to run (`size`, `login`, `kick`, `capacity`, `attack`, `usersig`, `startup`); empty: all.
    pub only: Vec<String>,
}

impl Plan {
    /// The full or quick plan for the repository at `root`, binaries in `bin_dir`.
    pub fn new(quick: bool, root: PathBuf, bin_dir: &Path) -> Plan {
        Plan {
            quick,
            server_bin: bin_dir.join("tim-server"),
            echo_bin: bin_dir.join("tim-bench-echo"),
            root,
            logins: if quick { 200 } else { 1000 },
            kicks: if quick { 100 } else { 1000 },
            startups: if quick { 5 } else { 20 },
            clients: if quick { vec![32] } else { vec![8, 64, 256] },
            capacity_time: Duration::from_secs(if quick { 3 } else { 10 }),
            hold_levels: if quick {
                vec![1_000, 5_000]
            } else {
                vec![10_000, 50_000]
            },
            verify_time: Duration::from_millis(if quick { 500 } else { 3000 }),
            attack_time: Duration::from_secs(if quick { 2 } else { 5 }),
            only: Vec::new(),
        }
    }

    /// Whether row group `name` is to run.
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }

    fn cache(&self) -> PathBuf {
        self.root.join(".cache").join("bench")
    }

    fn app(&self) -> App {
        App {
            sdk_app_id: BENCH_APP,
            key: BENCH_KEY.into(),
        }
    }
}

/// Runs every row, printing progress to stderr; returns the rows and notes for the results file.
pub fn run(plan: &Plan) -> (Vec<Row>, Vec<String>) {
    let mut notes = Vec::new();
    let nofile = proc_info::raise_nofile_limit(1 << 20);
    notes.push(format!(
        "open-file limit of the bench and its servers: {}",
        thousands(nofile)
    ));
    let _ = std::fs::create_dir_all(plan.cache());
    let mut rows = Vec::new();
    if plan.runs("size") {
        progress("1/6 SDK size");
        rows.extend(size_rows(plan));
    }
    if plan.runs("login") || plan.runs("kick") {
        let server = start_tim_server(plan, "latency");
        if plan.runs("login") {
            progress("2/6 login latency (Node)");
            rows.extend(node_latency_rows(plan, server.as_ref(), "login"));
        }
        if plan.runs("kick") {
            progress("3/6 kick latency (Node)");
            rows.extend(node_latency_rows(plan, server.as_ref(), "kick"));
        }
    }
    if plan.runs("capacity") {
        progress("4/6 server capacity (Rust load generator)");
        rows.extend(capacity_rows(plan, nofile, &mut notes));
    }
    if plan.runs("attack") {
        progress("4b/6 valid logins under attack");
        rows.extend(attack_rows(plan));
    }
    if plan.runs("usersig") {
        progress("5/6 UserSig verifications");
        rows.extend(usersig_rows(plan));
    }
    if plan.runs("startup") {
        progress("6/6 wasm start-up (Node)");
        rows.extend(startup_rows(plan));
    }
    if plan.runs("scaleout") {
        progress("scale-out: 3 nodes on Redis beside the memory engine");
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rows.extend(crate::scale_out::rows(plan, &rt)),
            Err(e) => rows.push(Row::skipped("Scale-out on Redis", format!("no tokio runtime: {e}"))),
        }
    }
    (rows, notes)
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

fn start_tim_server(plan: &Plan, name: &str) -> Result<ServerProcess, String> {
    if !plan.server_bin.is_file() {
        return Err(format!("no tim-server binary at {}", plan.server_bin.display()));
    }
    let config = plan.cache().join("server.toml");
    std::fs::write(&config, servers::server_config(BENCH_APP, BENCH_KEY)).map_err(|e| format!("{e}"))?;
    let mut cmd = Command::new(&plan.server_bin);
    cmd.arg("--config").arg(&config).args(["--listen", "127.0.0.1:0"]);
    cmd.env("RUST_LOG", "warn");
    ServerProcess::start(cmd, &plan.cache().join(format!("tim-server-{name}.log")))
}

/// The read buffer of the fair echo floor (`tim-server`'s), which shows what the buffer size costs.
pub const TUNED_READ_BUFFER: usize = 4096;

/// Starts the echo floor: `fair` with `tim-server`'s WebSocket settings (the reference of the server
/// rows), else with tungstenite's defaults (to show what the settings are worth).
fn start_echo(plan: &Plan, name: &str, fair: bool) -> Result<ServerProcess, String> {
    if !plan.echo_bin.is_file() {
        return Err(format!("no tim-bench-echo binary at {}", plan.echo_bin.display()));
    }
    let mut cmd = Command::new(&plan.echo_bin);
    cmd.args(["--listen", "127.0.0.1:0"]);
    if fair {
        cmd.arg("--fair");
    }
    ServerProcess::start(cmd, &plan.cache().join(format!("echo-{name}.log")))
}

// ---- 1. SDK size -------------------------------------------------------------------------------------

fn size_rows(plan: &Plan) -> Vec<Row> {
    let ours = browser_files::browser_files(&plan.root.join("pkg")).and_then(|files| {
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        sizes::measure_files(&files).map(|s| (s, names.join(" + ")))
    });
    let (ours, names) = match ours {
        Ok(v) => v,
        Err(why) => {
            return vec![Row::skipped(
                "SDK size (wasm + JS, browser)",
                format!("{why} (run `cargo xtask build`)"),
            )]
        }
    };
    let mut rows = size_by_part(plan);
    for vf in vendor::VENDOR_FILES {
        let what = |kind: &str| format!("SDK size {kind}: {names} vs {} {}", vf.spec, vf.file);
        match vendor::fetch(vf, &plan.cache()).and_then(|f| sizes::measure_files(&[f])) {
            Ok(theirs) => {
                for (kind, a, b) in [
                    ("raw", ours.raw, theirs.raw),
                    ("gzip -9", ours.gzip, theirs.gzip),
                    ("brotli", ours.brotli, theirs.brotli),
                ] {
                    rows.push(Row::new(what(kind), bytes(a), bytes(b), ratio(a as f64, b as f64)));
                }
            }
            Err(why) => {
                rows.push(Row::new(
                    what("raw / gzip -9 / brotli"),
                    format!("{} / {} / {}", bytes(ours.raw), bytes(ours.gzip), bytes(ours.brotli)),
                    format!("skipped: {why}"),
                    None,
                ));
            }
        }
    }
    rows
}

/// The size breakdown: each browser file (gzip -9) against the budget of `xtask/size-budget.txt`, and the
/// wasm's code by part (bytes of function bodies before wasm-opt, from the bindgen output's name section).
fn size_by_part(plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let budget = std::fs::read_to_string(plan.root.join(browser_files::BUDGET_FILE))
        .ok()
        .and_then(|t| browser_files::read_budget(&t).ok());
    if let Ok(files) = browser_files::browser_files(&plan.root.join("pkg")) {
        let mut parts = Vec::new();
        let mut total = 0;
        for f in &files {
            if let Ok(s) = sizes::measure_files(std::slice::from_ref(f)) {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                parts.push(format!("{name} {} ({} raw)", bytes(s.gzip), bytes(s.raw)));
                total += s.gzip;
            }
        }
        let (reference, r) = match budget {
            Some(b) => (
                format!("{} budget (xtask/size-budget.txt)", bytes(b)),
                ratio(total as f64, b as f64),
            ),
            None => ("no xtask/size-budget.txt".to_owned(), None),
        };
        rows.push(Row::new(
            format!("SDK size by file, gzip -9 (raw): {}", parts.join(" + ")),
            bytes(total),
            reference,
            r,
        ));
    }
    let bindgen = build_target(plan).join("tim-wasm-bindgen/tim_wasm_bg.wasm");
    match std::fs::read(&bindgen)
        .map_err(|e| e.to_string())
        .and_then(|w| sizes::wasm_parts(&w))
    {
        Ok(parts) => {
            let total: u64 = parts.iter().map(|(_, n)| n).sum();
            let list: Vec<String> = parts.iter().map(|(p, n)| format!("{p} {}", bytes(*n))).collect();
            rows.push(Row::new(
                format!(
                    "wasm by part, before wasm-opt (function bodies by crate, and data): {}",
                    list.join(", ")
                ),
                bytes(total),
                "-".to_owned(),
                None,
            ));
        }
        Err(why) => rows.push(Row::skipped("wasm by part", format!("{why} ({})", bindgen.display()))),
    }
    rows
}

/// The cargo target folder of the workspace being measured (`CARGO_TARGET_DIR` honoured).
fn build_target(plan: &Plan) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => plan.root.join(dir),
        None => plan.root.join("target"),
    }
}

// ---- 2. and 3. latency in Node -----------------------------------------------------------------------

/// Links `tests/bench/node_modules/tim-wasm` to `pkg/` so the scripts import the package by its name.
fn link_package(plan: &Plan) -> Result<PathBuf, String> {
    let pkg = plan.root.join("pkg");
    if !pkg.join("package.json").is_file() {
        return Err("no pkg/ (run `cargo xtask build`)".into());
    }
    let dir = plan.root.join("tests").join("bench");
    if !plan.root.join("tests/node_modules/ws").is_dir() {
        return Err("no tests/node_modules/ws (npm tools not installed)".into());
    }
    let modules = dir.join("node_modules");
    let _ = std::fs::create_dir_all(&modules);
    let link = modules.join("tim-wasm");
    if std::fs::read_link(&link).ok().as_deref() != Some(pkg.as_path()) {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&pkg, &link).map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }
    Ok(dir)
}

/// Node processes a latency row pools (each runs the SDK and the floor in turn, after its own warm-up).
const LATENCY_ROUNDS: usize = 4;

fn node_latency_rows(plan: &Plan, server: Result<&ServerProcess, &String>, kind: &str) -> Vec<Row> {
    let (what, count, script) = match kind {
        "login" => (
            "Login latency, login() call to resolve + SDK_READY",
            plan.logins,
            "login-latency.cjs",
        ),
        _ => (
            "Kick latency, instance 2 login() call to instance 1 KICKED_OUT",
            plan.kicks,
            "kick-latency.cjs",
        ),
    };
    let server = match server {
        Ok(s) => s,
        Err(why) => return vec![Row::skipped(what, why)],
    };
    let dir = match link_package(plan) {
        Ok(d) => d,
        Err(why) => return vec![Row::skipped(what, why)],
    };
    let app = plan.app();
    // The SDK and the floor log in as different users: neither side's instance kicks the other's.
    let user = format!("bench-node-{kind}");
    let sig = app.usersig(&user);
    let raw_user = format!("bench-node-{kind}-raw");
    let raw_frame = app.login_frame(1, &raw_user, &app.usersig(&raw_user));
    // Each process alternates an SDK sample and a floor sample, so that a shared machine's drift falls on
    // both sides alike (separate SDK and floor processes moved the ratio by ±0.1 from run to run); a few
    // processes are pooled, so that one process's luck (where its heap and code landed) does not decide.
    let rounds = LATENCY_ROUNDS.min(count.max(1));
    let (mut sdk, mut raw) = (Samples::default(), Samples::default());
    for round in 0..rounds {
        let per_round = count / rounds + usize::from(round < count % rounds);
        let args: Vec<String> = vec![
            "--url".into(),
            server.url.clone(),
            "--sdkappid".into(),
            BENCH_APP.to_string(),
            "--user".into(),
            user.clone(),
            "--sig".into(),
            sig.clone(),
            "--raw-frame".into(),
            raw_frame.clone(),
            "--count".into(),
            per_round.to_string(),
        ];
        let both = node::run_json(&dir, script, &args, Duration::from_secs(300))
            .and_then(|v| Ok((node::samples(&v, "sdk_us")?, node::samples(&v, "raw_us")?)));
        match both {
            Ok((s, r)) => {
                sdk.extend(s);
                raw.extend(r);
            }
            Err(why) => return vec![Row::skipped(what, why)],
        }
    }
    if sdk.is_empty() || raw.is_empty() {
        return vec![Row::skipped(what, "no samples")];
    }
    let mut rows = Vec::new();
    for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
        let ours = sdk.quantile(q).unwrap_or(f64::NAN);
        let theirs = raw.quantile(q).unwrap_or(f64::NAN);
        rows.push(Row::new(
            format!("{what}, {label} of {} (Node, loopback)", sdk.len()),
            micros(ours),
            format!("{} raw `ws` floor", micros(theirs)),
            ratio(ours, theirs),
        ));
    }
    rows
}

// ---- 4. capacity ---------------------------------------------------------------------------------------

fn capacity_rows(plan: &Plan, nofile: u64, notes: &mut Vec<String>) -> Vec<Row> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return vec![Row::skipped("Server capacity", format!("no tokio runtime: {e}"))],
    };
    let app = plan.app();
    let sources = load::loopback_sources(8);
    let mut rows = Vec::new();
    let mut tuned_rows = Vec::new();
    for (i, &k) in plan.clients.iter().enumerate() {
        let what =
            format!("Logins/s, {k} concurrent clients, each cycle connect + login (UserSig verified) + logout + close");
        let both = start_tim_server(plan, "capacity").and_then(|ours| Ok((ours, start_echo(plan, "capacity", true)?)));
        let (ours, floor) = match both {
            Ok((ours, floor)) => alternate(
                &runtime,
                plan,
                k,
                &sources,
                [&ours, &floor],
                [Workload::Login(app.clone()), Workload::Echo(app.clone())],
            ),
            Err(why) => (Err(why.clone()), Err(why)),
        };
        match (ours, floor) {
            (Ok(o), Ok(f)) => {
                for (name, r) in [("tim-server", &o), ("echo floor", &f)] {
                    if r.errors > 0 {
                        notes.push(format!(
                            "{what}: {name} had {} failed cycles (first: {})",
                            r.errors,
                            r.first_error.as_deref().unwrap_or("?")
                        ));
                    }
                }
                rows.push(Row::new(
                    what.clone(),
                    format!(
                        "{} (p50 {}, p99 {}{})",
                        per_second(o.per_second()),
                        micros(o.latencies.quantile(0.5).unwrap_or(f64::NAN)),
                        micros(o.latencies.quantile(0.99).unwrap_or(f64::NAN)),
                        cpu_note(&o)
                    ),
                    format!(
                        "{} fair echo floor cycles (p50 {}, p99 {}{})",
                        per_second(f.per_second()),
                        micros(f.latencies.quantile(0.5).unwrap_or(f64::NAN)),
                        micros(f.latencies.quantile(0.99).unwrap_or(f64::NAN)),
                        cpu_note(&f)
                    ),
                    ratio(o.per_second(), f.per_second()),
                ));
            }
            (Err(why), _) | (_, Err(why)) => rows.push(Row::skipped(what, why)),
        }
        if i == 0 {
            tuned_rows.push(tuned_cycles_row(plan, &runtime, &app, k, &sources));
        }
    }
    // When the open-file limit stops the largest level, also measure the largest count that fits.
    let mut levels = plan.hold_levels.clone();
    let fits = (nofile.saturating_sub(1_024) / 1_000 * 1_000) as usize;
    if levels.iter().any(|&n| n as u64 + 256 > nofile) && fits > 0 && !levels.contains(&fits) {
        levels.push(fits);
        levels.sort_unstable();
    }
    for &n in &levels {
        let what = format!(
            "Idle instances held at {}, resident memory per instance",
            thousands(n as u64)
        );
        // Each side needs one descriptor per connection plus a margin, in one process each.
        if (n as u64) + 256 > nofile {
            rows.push(Row::skipped(
                what,
                format!(
                    "needs {} open files per process, the limit here is {} (the hard limit; raising it needs CAP_SYS_RESOURCE)",
                    thousands(n as u64 + 256),
                    thousands(nofile)
                ),
            ));
            continue;
        }
        let ours = start_tim_server(plan, "hold")
            .and_then(|s| hold_level(&runtime, &s, &Workload::Login(app.clone()), n, &sources));
        let default = start_echo(plan, "hold-default", false)
            .and_then(|s| hold_level(&runtime, &s, &Workload::Echo(app.clone()), n, &sources));
        let floor = start_echo(plan, "hold", true)
            .and_then(|s| hold_level(&runtime, &s, &Workload::Echo(app.clone()), n, &sources));
        match (&floor, &default) {
            (Ok(t), Ok(f)) => tuned_rows.push(Row::new(
                format!(
                    "Win shown on the floor: {TUNED_READ_BUFFER} B read buffer instead of tungstenite's 128 KiB default, memory per idle echo connection at {}",
                    thousands(n as u64)
                ),
                bytes(t.per_conn),
                format!("{} default buffers", bytes(f.per_conn)),
                ratio(t.per_conn as f64, f.per_conn as f64),
            )),
            (Err(why), _) | (_, Err(why)) => tuned_rows.push(Row::skipped("Tuned echo floor", why)),
        }
        match (ours, floor) {
            (Ok(o), Ok(f)) => rows.push(Row::new(
                what,
                format!("{} held, {} / instance", thousands(o.held), bytes(o.per_conn)),
                format!(
                    "{} held, {} / fair echo floor connection",
                    thousands(f.held),
                    bytes(f.per_conn)
                ),
                ratio(o.per_conn as f64, f.per_conn as f64),
            )),
            (Err(why), _) | (_, Err(why)) => rows.push(Row::skipped(what, why)),
        }
    }
    rows.extend(tuned_rows);
    rows
}

/// `, server CPU 123 µs / cycle` when the server's CPU time was measured: the work each cycle costs the
/// server, which background load on the machine disturbs far less than the rate.
fn cpu_note(r: &load::CycleReport) -> String {
    r.server_cpu_per_cycle().map_or(String::new(), |cpu| {
        format!(", server CPU {} / cycle", micros(cpu.as_secs_f64() * 1e6))
    })
}

/// Echo cycles/s with the small read buffer beside the default one (both measured now).
fn tuned_cycles_row(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    app: &App,
    k: usize,
    sources: &[std::net::Ipv4Addr],
) -> Row {
    let what = format!(
        "Win shown on the floor: {TUNED_READ_BUFFER} B read buffer instead of 128 KiB, echo cycles/s with {k} clients"
    );
    let both = start_echo(plan, "capacity-tuned", true).and_then(|t| Ok((t, start_echo(plan, "capacity", false)?)));
    let (tuned, default) = match both {
        Ok((t, d)) => alternate(
            runtime,
            plan,
            k,
            sources,
            [&t, &d],
            [Workload::Echo(app.clone()), Workload::Echo(app.clone())],
        ),
        Err(why) => return Row::skipped(what, why),
    };
    let rates = match (tuned, default) {
        (Ok(t), Ok(d)) => [t.per_second(), d.per_second()],
        (Err(why), _) | (_, Err(why)) => return Row::skipped(what, why),
    };
    Row::new(
        what,
        per_second(rates[0]),
        format!("{} default buffers", per_second(rates[1])),
        ratio(rates[0], rates[1]),
    )
}

/// Runs the two servers' cycles in alternating rounds, the first side alternating too (A B, B A, A B,
/// ...), so that a change in the machine's background load, and whatever one side's round leaves behind
/// for the next (TIME_WAIT sockets, a warm cache), falls on both alike; each side's rounds are merged.
fn alternate(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    clients: usize,
    sources: &[std::net::Ipv4Addr],
    servers: [&ServerProcess; 2],
    workloads: [Workload; 2],
) -> (Result<load::CycleReport, String>, Result<load::CycleReport, String>) {
    let rounds: u32 = if plan.quick { 2 } else { 4 };
    let slice = plan.capacity_time / rounds;
    let mut merged: [Option<load::CycleReport>; 2] = [None, None];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let target = match Target::parse(&servers[side].url) {
                Ok(t) => t,
                Err(e) => return (Err(e.0.clone()), Err(e.0)),
            };
            let pid = servers[side].pid();
            let cpu_before = proc_info::cpu_time(pid);
            let mut r = runtime.block_on(load::run_cycles(&target, &workloads[side], clients, slice, sources));
            r.server_cpu = match (cpu_before, proc_info::cpu_time(pid)) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            merged[side] = Some(match merged[side].take() {
                Some(m) => m.merge(r),
                None => r,
            });
        }
    }
    let [a, b] = merged;
    (
        a.ok_or_else(|| "no round".to_string()),
        b.ok_or_else(|| "no round".to_string()),
    )
}

struct HoldResult {
    held: u64,
    per_conn: u64,
}

fn hold_level(
    runtime: &tokio::runtime::Runtime,
    server: &ServerProcess,
    workload: &Workload,
    n: usize,
    sources: &[std::net::Ipv4Addr],
) -> Result<HoldResult, String> {
    let target = Target::parse(&server.url).map_err(|e| e.0)?;
    let before = proc_info::rss_bytes(server.pid()).ok_or("cannot read the server's VmRSS")?;
    runtime.block_on(async {
        let held = load::hold(&target, workload, n, 128, sources).await;
        if held.sockets.is_empty() {
            return Err(format!("no connection held: {}", held.first_error.unwrap_or_default()));
        }
        if held.errors > 0 {
            return Err(format!(
                "{} of {n} connections failed (first: {})",
                held.errors,
                held.first_error.unwrap_or_default()
            ));
        }
        // Let the server finish its post-login work before reading its memory.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = proc_info::rss_bytes(server.pid()).ok_or("cannot read the server's VmRSS")?;
        let count = held.sockets.len() as u64;
        for ws in held.sockets {
            drop(ws);
        }
        Ok(HoldResult {
            held: count,
            per_conn: after.saturating_sub(before) / count,
        })
    })
}

// ---- 4b. under attack ------------------------------------------------------------------------------------

/// The open-file limit of the attacked server (the case: 1,024).
const ATTACKED_NOFILE: u64 = 1024;

/// A `tim-server` with the production default limits, at [`ATTACKED_NOFILE`] open files.
fn start_attacked_server(plan: &Plan, name: &str) -> Result<ServerProcess, String> {
    if !plan.server_bin.is_file() {
        return Err(format!("no tim-server binary at {}", plan.server_bin.display()));
    }
    let config = plan.cache().join("server-attacked.toml");
    let text = format!(
        "listen = \"127.0.0.1:0\"\n[[app]]\nsdkappid = {BENCH_APP}\nsecret_key = \"{BENCH_KEY}\"\nadmin = \"administrator\"\n"
    );
    std::fs::write(&config, text).map_err(|e| format!("{e}"))?;
    let mut cmd = Command::new(&plan.server_bin);
    cmd.arg("--config").arg(&config).args(["--listen", "127.0.0.1:0"]);
    cmd.env("RUST_LOG", "error");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let lim = libc::rlimit {
                rlim_cur: ATTACKED_NOFILE as libc::rlim_t,
                rlim_max: ATTACKED_NOFILE as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    ServerProcess::start(cmd, &plan.cache().join(format!("tim-server-{name}.log")))
}

fn attack_rows(plan: &Plan) -> Vec<Row> {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return vec![Row::skipped("Under attack", format!("no tokio runtime: {e}"))],
    };
    let app = plan.app();
    let valid_sources = [std::net::Ipv4Addr::LOCALHOST];
    let mut rows = Vec::new();
    for kind in attack::Attack::ALL {
        let what = format!(
            "Valid logins/s from 127.0.0.1 (8 clients, server at {ATTACKED_NOFILE} open files) during {}",
            kind.describe()
        );
        let server = match start_attacked_server(plan, "attacked") {
            Ok(s) => s,
            Err(why) => {
                rows.push(Row::skipped(what, why));
                continue;
            }
        };
        let target = match Target::parse(&server.url) {
            Ok(t) => t,
            Err(e) => {
                rows.push(Row::skipped(what, e.0));
                continue;
            }
        };
        let workload = Workload::Login(app.clone());
        let (calm, attacked, stats) = runtime.block_on(async {
            let calm = load::run_cycles(&target, &workload, 8, plan.attack_time, &valid_sources).await;
            // The attack gets a head start to fill the server, then runs as long as the valid cycles.
            let until = std::time::Instant::now() + plan.attack_time + Duration::from_secs(1);
            let attackers = tokio::spawn({
                let (target, app) = (target.clone(), app.clone());
                async move { attack::run(kind, &target, &app, until).await }
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
            let attacked = load::run_cycles(&target, &workload, 8, plan.attack_time, &valid_sources).await;
            let stats = attackers.await.unwrap_or_default();
            (calm, attacked, stats)
        });
        rows.push(Row::new(
            what,
            format!(
                "{} (p99 {}, {} failed; attackers opened {} connections)",
                per_second(attacked.per_second()),
                micros(attacked.latencies.quantile(0.99).unwrap_or(f64::NAN)),
                thousands(attacked.errors),
                thousands(stats.connections)
            ),
            format!(
                "{} without the attack ({} failed)",
                per_second(calm.per_second()),
                thousands(calm.errors)
            ),
            ratio(attacked.per_second(), calm.per_second()),
        ));
    }
    rows
}

// ---- 5. UserSig ------------------------------------------------------------------------------------------

fn usersig_rows(plan: &Plan) -> Vec<Row> {
    let what = "UserSig verifications/s, one core (decode + inflate + JSON + HMAC)";
    match usersig_rate::measure(plan.verify_time) {
        Ok(r) => vec![Row::new(
            what,
            per_second(r.verify_per_s),
            format!("{} HMAC-SHA256 of the signed content alone", per_second(r.hmac_per_s)),
            ratio(r.verify_per_s, r.hmac_per_s),
        )],
        Err(why) => vec![Row::skipped(what, why)],
    }
}

// ---- 6. start-up -------------------------------------------------------------------------------------------

fn startup_rows(plan: &Plan) -> Vec<Row> {
    let what = format!(
        "Start-up in Node: require() of the package (wasm compile + instantiate), median of {} fresh processes",
        plan.startups
    );
    let dir = match link_package(plan) {
        Ok(d) => d,
        Err(why) => return vec![Row::skipped(what, why)],
    };
    // Medians of `us` and of `create_us` (when the script reports it).
    let measure = |args: Vec<String>| -> Result<(f64, Option<f64>), String> {
        let (mut load, mut create) = (Vec::new(), Vec::new());
        for _ in 0..plan.startups {
            let v = node::run_json(&dir, "startup.cjs", &args, Duration::from_secs(60))?;
            load.push(
                v.get("us")
                    .and_then(|x| x.as_f64())
                    .ok_or("no `us` in startup.cjs output")?,
            );
            if let Some(c) = v.get("create_us").and_then(|x| x.as_f64()) {
                create.push(c);
            }
        }
        let median = |xs: Vec<f64>| crate::stats::Samples::from_micros(xs).quantile(0.5);
        Ok((median(load).ok_or("no run")?, median(create)))
    };
    let (ours, create) = match measure(vec!["--mode".into(), "sdk".into()]) {
        Ok(v) => v,
        Err(why) => return vec![Row::skipped(what, why)],
    };
    let vf = vendor::VENDOR_FILES[0];
    let theirs = vendor::fetch(vf, &plan.cache()).and_then(|file| {
        measure(vec![
            "--mode".into(),
            "vendor".into(),
            "--file".into(),
            file.display().to_string(),
        ])
    });
    let (reference, r) = match theirs {
        Ok((t, _)) => (
            format!("{} require() of {} {}", micros(t), vf.spec, vf.file),
            ratio(ours, t),
        ),
        Err(why) => (format!("skipped: {why}"), None),
    };
    let ours = match create {
        Some(c) => format!("{} (then TIM.create {})", micros(ours), micros(c)),
        None => micros(ours),
    };
    vec![Row::new(what, ours, reference, r)]
}

/// How each row is measured, for the reader of the results file.
const METHOD: &str = "
## Method

Run `cargo xtask bench` (full) or `cargo xtask bench --quick` (fewer samples, under two minutes once built).
`tim-bench --only size,login,kick,capacity,attack,usersig,startup` runs some rows; `--server-bin FILE` measures
another `tim-server` build (before/after a patch). Traffic goes to 127.0.0.0/8 only.

- **SDK size**: the files a browser loads from `pkg/` (the `browser` entry, the modules it imports, the
  `.wasm`), each compressed on its own, summed; beside the official bundles fetched with `npm pack` into
  `.cache/bench` (a row says `skipped` when the registry cannot be reached).
- **Login latency**: one `TIM` instance in Node 20 (with the `ws` package), `login()` call until both the
  Promise resolved and `SDK_READY` fired, then `logout()` (not timed). Floor: a raw `ws` client's connect +
  login frame + `loginAck` against the same server, as another user.
- **Kick latency**: two `TIM` instances (two module loads) of one account with N = 1 take turns: time from one
  instance's `login()` call to the other's `KICKED_OUT`. Floor: raw `ws` clients of another account doing
  the same with frames.
- Both latency rows run the SDK and its floor in one Node process, one sample of each in turn (which side
  goes first alternates), after 100 warm-up pairs (the JIT tiers the SDK's wasm up over the first ones); 4
  such processes are pooled. Paired so, the p50 ratio moves by about ±0.02 between runs; with the SDK and
  the floor in separate processes it moved by ±0.1 (1.08x to 1.25x for one build).
- **Logins/s**: K Rust clients (tokio-tungstenite, 8 loopback source addresses), each repeating connect +
  login (UserSig verified by the server) + logout + close for a fixed time; beside the same cycle against
  the fair floor: a raw tokio-tungstenite echo server with `tim-server`'s WebSocket settings (4 KiB read
  buffer, unbuffered writes, 64 KiB write cap, 1 MiB message limit, `TCP_NODELAY`), answering two messages
  of the same sizes. Rounds alternate between the two servers, and so does which one goes first (A B,
  B A, ...), so that background load hits both alike. Each side also shows its server process's CPU time
  per cycle (all threads, user + system, from `/proc/PID/task/*/schedstat`): the work a cycle costs the
  server, far less disturbed by other load on the machine than the rate. With 8 clients the ratio moved
  between 0.87x and 0.98x over the full runs of one day (the machine's speed changed by a third).
- **Idle instances**: N distinct users logged in and left idle; the server's `VmRSS` growth divided by N,
  beside the fair echo floor holding N idle connections. Fresh server processes for each level.
- **Win shown on the floor**: the fair echo floor beside the same echo server with tungstenite's defaults
  (128 KiB read buffer): what those settings are worth.
- **Under attack**: valid login cycles/s from 127.0.0.1 (8 clients) while an attack runs from 127.0.0.10..
  (silent connections, slowloris, a failed-login flood from 127.0.0.1 itself, a ping flood that never
  reads), beside the same cycles with no attack, against one `tim-server` at a 1,024 open-file limit.
- **UserSig**: `tim_usersig::verify` of one valid UserSig in a loop on one thread; floor: the HMAC-SHA256 it
  must compute anyway.
- **Start-up**: a fresh `node` process times `require('tim-wasm')` (reads, compiles and instantiates the wasm)
  and reports `TIM.create` after it; beside `require()` of the official `tim-js.js` (its `TIM.create` is not
  called: it dials the vendor's cloud at once).
";

/// What profiling the hot paths showed, with the before/after figures of the proposed fixes. A dated record
/// (measured with `--server-bin` on a patched build), not re-measured by each run.
const FINDINGS: &str = "
## Profile findings (2026-11-28, first round)

Measured with `tim-bench --server-bin` on a `tim-server` build carrying the two server changes below,
full mode, same machine, same session:

| finding | before | after |
|---|---|---|
| Kick latency p50 / p99 (the server pushes `kicked` without `TCP_NODELAY`: Nagle + delayed ACK hold it ~40 ms) | 23.56 ms / 46.72 ms | 0.86 ms / 5.29 ms |
| Resident memory per idle instance at 10,000 (tungstenite allocates a 128 KiB read buffer per connection) | 142,384 B | 13,833 B |
| Logins/s with 64 and 256 clients | 13,917 / 9,760 | 12,863 / 10,863 (noise: the cycle is TCP setup bound) |

- `tim-server`: set `TCP_NODELAY` on accepted sockets (`axum::serve::ListenerExt::tap_io(listener, |t|
  { let _ = t.set_nodelay(true); })`) and `WebSocketUpgrade::read_buffer_size(4096)` in the `/ws` handler.
- `tim-usersig` verification: ~70% of a verify is inflate, and a third of that is allocating and zeroing
  `ZlibDecoder`'s 32 KiB `BufReader`; one `flate2::Decompress::decompress_vec` into a
  `Vec::with_capacity(MAX_INFLATED_LEN + 1)` gives about +8% verifications/s (miniz_oxide's `init_tree`,
  inherent to inflate, stays the top symbol). Not the bottleneck: a login cycle costs ~50x a verify.
- SDK login in Node: ~250 µs pass between `login()` and the `WebSocket` constructor, and ~300 µs between the
  `kicked` frame and `KICKED_OUT`; the connect itself dominates the rest.
- SDK size: in the wasm, before wasm-opt, the biggest shares are wasm-bindgen/js-sys glue, serde's `Content`
  buffering for the internally tagged frame enums (~28 KB) and float formatting (~18 KB, pulled in by serde's
  `invalid type: floating point` error messages); decoding frames without `#[serde(tag)]` buffering would drop
  both.

## Profile findings (2026-12-02)

- `tim-server` under the logins/s row (`perf record --call-graph dwarf`): after the syscalls (send, close,
  accept, recv: about half of its time, the same calls as the floor's), the top user-space symbol was
  miniz_oxide's `init_tree`: a UserSig is one fixed-Huffman block, and miniz_oxide builds the fixed tree again
  for every stream. zlib-rs decodes fixed blocks with static tables: 8.6 µs -> 2.9 µs per official UserSig
  (one state per thread, reset per call; a fresh state per call cost ~600 B of resident memory per idle
  instance through malloc fragmentation). Instance ids were hex-encoded with one `format!` per byte (~2%).
- SDK kick in Node, timed by phase: `kicked` arrived ~300 µs after the new login's `loginAck` (tokio ran the
  evicted connection's task after the login's, and Node then handled the ack first), and the old socket's
  close handshake write (~100 µs in `ws`) ran before `KICKED_OUT`. Now the login yields once before its ack,
  and sockets are closed after delivery: `onmessage` -> `KICKED_OUT` 228 µs -> 77 µs.
- The Node client is CPU bound here: per login + logout cycle the SDK process uses ~1.9 ms of CPU against
  ~1.5 ms for the raw floor's. The SDK's share (wasm ~100 µs, glue and JS objects ~80 µs) has no single hot
  spot: allocator, the JSON codec, one `Reflect.set` and one `TextDecoder` call per key. Hot in a loop, an ack
  costs 23 µs and a kick 26 µs; in the bench, between `ws` and the network stack, 80-120 µs.

## Profile findings (2026-12-02, second round)

- SDK login in Node, paired with the floor and timed by phase (p50): the SDK is ~18 µs later at the
  `WebSocket` constructor and ~10 µs more before the connect starts (the rest of `login()`'s synchronous
  work; Node connects on the next tick), even through the server's answer, and then takes ~48 µs from the
  `loginAck` message to the resolved Promise where the floor takes ~6 µs.
- In that last phase, building the JS objects (`imResponse`, the `{name, data}` event: one crossing per key
  and per string value) was ~70% of the delivery. Building them instead with one `JSON.parse` of text
  written in Rust cut the phase's crossings from 31 to 11 and the login ratio from 1.14x to 1.12x, but Node
  20's V8 then aborted in its deoptimizer (`Fatal error: unreachable code` in
  `DoComputeBuiltinContinuation`) in about 1 of 8 runs of 4,000 login cycles, against 0 of 20 without
  `JSON.parse` called from the wasm; handlers made with `Function.prototype.bind` over one closure
  aborted in 3 of 3. Both were dropped: no speed is worth a crash of the app's process.
- A login's ack moved the timer's deadline later (login deadline -> heartbeat) and cost a `clearTimeout` +
  `setTimeout` pair; the pending timeout is now kept and fires early once.
- The load generator measured itself in the attack rows: it binds each socket to its source address, and a
  `bind` to port 0 must find a port that no socket holds, TIME_WAIT ones included; with ~30,000 of them on
  loopback each bind scanned the port range (`tim-bench` at 190% CPU, mostly kernel, the server at 6%).
  With `IP_BIND_ADDRESS_NO_PORT` (the port chosen at `connect`, per destination) the attackers run at full
  speed: 1,800 -> 60,000 silent connections and 16,000 -> 65,000 failed-login connections in a row, and the
  calm side of the ping-flood row, 600/s before, is 13,000/s like the others.
- At full speed, the silent-connection flood has two regimes. Either the attackers settle (the run above:
  1,573 connections, 0.89x), or they churn: each newcomer evicts a pending connection, whose attacker
  reconnects at once (both `--only attack` runs of this build: ~58,000 connections, valid logins/s 0.01x and
  0.09x of calm, 0 failed). The accept loop pauses (up to 50 x 1 ms) for evicted connections to close
  whenever the caps are full, and meanwhile every newcomer, valid ones included, waits in the backlog. Without the pause the row
  was 0.96x-1.03x (two runs, 0 failed), but one run of the server's attack tests then refused a valid
  connect at a 1,024-file limit; moving the pause into each waiting connection's task (16 at a time) gave
  0.08x with 797 valid cycles refused, and yielding before sleeping 0.03x (faster evictions, faster
  reconnects: 127,000 attacker connections). Pausing only for newcomers of lightly loaded addresses gave
  0.03x-0.04x with valid p99 ~1 s: SYN retransmits, so the churn itself, not only the pause, holds valid
  users back (in the kernel's accept queue). Not changed yet: the pause is kept until a design passes both
  the bench and the tests.

## Profile findings (2026-12-02, third round)

- The silent-connection flood no longer churns: the listener has `TCP_DEFER_ACCEPT` (and a 4,096 backlog),
  so the kernel hands a connection to `accept` only once it sends bytes. The 1,200 silent attackers wait in
  the kernel, holding no descriptor and no place, and see no close to reconnect after: three `--only attack`
  runs gave 0.95x / 1.01x / 1.18x with exactly 1,200 attacker connections, where the same build without the
  deferral gave 0.04x (138,000 attacker connections) and 0.45x (63,000). The accept loop's pause is gone; a
  newcomer from a light address (under half the heaviest's pending connections) has 16 places of its own
  while evictions close, which is what the pause was for (the server's attack tests pass).
- SDK crossings per path, each call from the wasm into JS counted (a loop with a fake socket): `login()`
  19, a socket's open 3, `loginAck` 9, `kicked` 20. Now the hot objects (a login's `imResponse`,
  `{name, data}`, `KICKED_OUT`'s data) are JS object literals made in one call; a socket's four handlers
  are made in JS around the instance's one closure (a login created four closures, each with a
  `FinalizationRegistry` entry); `userID`/`userSig` are read through getters; the timer reads the clock
  only when it sets a timeout: 11 / 2 / 7 / 8. The frame reader borrows strings from the text (a key
  cost an allocation, a kept string two; the allocator was ~11% of the SDK's hot loop). Paired p50, four
  `--only login,kick` runs each: login 1.13x -> 1.07x-1.09x, kick 1.17x-1.19x -> 1.11x-1.13x; hot in the
  loop, a `loginAck` 8.8 -> ~4.5 µs and a kick 7 -> ~4.5 µs. The gzip total fell by 306 B. A 4,000-cycle
  login and kick loop against the server ran clean 30 times of 30 (last round's `JSON.parse` variant
  aborted Node in 1 of 8).
";

/// The results file: a header saying how the figures were made, the table, the notes.
pub fn results_markdown(plan: &Plan, rows: &[Row], notes: &[String]) -> String {
    let mode = if plan.quick {
        "`cargo xtask bench --quick`"
    } else {
        "`cargo xtask bench`"
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut out = format!(
        "# Benchmarks\n\n\
         Written by {mode} (do not edit by hand). Machine: {cpus} CPUs, Linux {}. Every figure stands beside \
         its reference measured in the same run; the ratio is ours / reference (sizes and times: below 1 is \
         smaller or faster; rates: above 1 is more). No figure is a pass/fail test. The load generator, the \
         servers and Node share the same cores, so absolute figures are noisy: read the ratios.\n\n",
        kernel.trim()
    );
    out.push_str(&report::markdown_table(rows));
    out.push_str(METHOD);
    out.push_str(FINDINGS);
    if !notes.is_empty() {
        out.push_str("\n## Notes\n\n");
        for n in notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}
