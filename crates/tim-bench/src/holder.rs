//! `tim-bench hold URL COUNT`: a child process that holds `COUNT` logged-in idle instances on one node and
//! reports `held N errors E` on stdout, then keeps them until its stdin closes. The scale-out hold row runs
//! one per node so that no process, the bench included, passes the machine's 20,000 open files.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::driver::{BENCH_APP, BENCH_KEY};
use crate::load::{self, App, Target, Workload};
use crate::proc_info;

/// Instances opened at a time by one holder.
const IN_FLIGHT: usize = 128;

/// The child's side: holds the instances, reports, waits for stdin to close.
pub fn run_child(url: &str, count: usize) -> Result<(), String> {
    proc_info::raise_nofile_limit(1 << 20);
    let target = Target::parse(url).map_err(|e| e.0)?;
    let workload = Workload::Login(App {
        sdk_app_id: BENCH_APP,
        key: BENCH_KEY.into(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let held = runtime.block_on(load::hold(
        &target,
        &workload,
        count,
        IN_FLIGHT,
        &load::loopback_sources(8),
    ));
    let mut out = std::io::stdout();
    let first = held.first_error.clone().unwrap_or_default().replace('\n', " ");
    writeln!(out, "held {} errors {} {first}", held.sockets.len(), held.errors).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    // The sockets stay open (tokio keeps answering pings) until the parent closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(held);
    Ok(())
}

/// The parent's side: one holder child; dropping it closes its stdin, so it closes its sockets and exits.
pub struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    /// Starts a holder of `count` instances on `url`.
    pub fn spawn(url: &str, count: usize) -> Result<Holder, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(["hold", url, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start a holder: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or("holder without stdout")?);
        Ok(Holder { child, stdin, stdout })
    }

    /// Waits for the holder's report: the number of instances it holds, or why it failed.
    pub fn wait_held(&mut self) -> Result<usize, String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["held", n, "errors", "0", ..] => n.parse().map_err(|_| format!("holder said: {line}")),
            ["held", _, "errors", e, rest @ ..] => Err(format!("{e} failed (first: {})", rest.join(" "))),
            _ => Err(format!("holder ended: {}", line.trim())),
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
