//! Child server processes (`tim-server`, `tim-bench-echo`): started, their printed WebSocket URL read,
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server child and the URL it printed.
pub struct ServerProcess {
    child: Child,
    /// The WebSocket URL (`ws://127.0.0.1:PORT/ws`).
    pub url: String,
}

impl ServerProcess {
    /// Starts `cmd`, whose stdout must print a line containing the WebSocket URL within 30 s. Its stderr goes
    /// to `log` (so that errors stay readable after the run).
    pub fn start(mut cmd: Command, log: &Path) -> Result<ServerProcess, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        cmd.stdout(Stdio::piped()).stderr(log_file).stdin(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err("no stdout pipe".into());
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            // Keeps draining stdout after the URL so that the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(url) = find_ws_url(&line) {
                        let _ = tx.send(url);
                        sent = true;
                    }
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Ok(ServerProcess { child, url }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "{cmd:?} printed no ws:// URL within 30 s (log: {})",
                    log.display()
                ))
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `ws://...` token of a line, without trailing punctuation.
pub fn find_ws_url(line: &str) -> Option<String> {
    let start = line.find("ws://")?;
    let token = line[start..].split_whitespace().next()?;
    Some(
        token
            .trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/')
            .to_string(),
    )
}

/// The `tim-server` configuration used by the bench: one app with N = 1, limits opened up so that the
/// load generator measures the server, not its abuse protections.
pub fn server_config(sdk_app_id: u64, key: &str) -> String {
    format!(
        "listen = \"127.0.0.1:0\"\n\
         [[app]]\n\
         sdkappid = {sdk_app_id}\n\
         secret_key = \"{key}\"\n\
         online_web_instances = 1\n\
         admin = \"administrator\"\n\
         [limits]\n\
         max_connections = 1000000\n\
         max_connections_per_ip = 1000000\n\
         login_failures_per_ip = 1000000\n\
         login_deadline_ms = 60000\n\
         idle_timeout_ms = 600000\n\
         hello_interval_ms = 30000\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_url_in_a_line() {
        assert_eq!(
            find_ws_url("listening; give the SDK ws://127.0.0.1:9000/ws.").as_deref(),
            Some("ws://127.0.0.1:9000/ws")
        );
        assert_eq!(find_ws_url("nothing here"), None);
    }
}
