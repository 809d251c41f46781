//! Starts `tim-server --dev` as a child process and reads what it announces on stdout: the WebSocket URL
//! (last token of the line holding `ws://`), the dev SDKAppID and the admin identifier.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::{self, Result};

/// The dev app's SDKAppID, used when the server's announcement does not name one.
const DEFAULT_SDK_APP_ID: u64 = 1_400_000_000;

/// How long the server may take to announce its URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `tim-server --dev`; killed when dropped.
pub struct TimServer {
    child: Child,
    /// The WebSocket URL to give the SDK (`ws://127.0.0.1:PORT/ws`).
    pub ws_url: String,
    /// The same host and port over HTTP (dev UserSigs, admin API).
    pub http_url: String,
    /// The dev app's SDKAppID.
    pub sdk_app_id: u64,
    /// The identifier whose UserSig may call the admin API.
    pub admin: String,
}

/// What the server printed before its URL line.
#[derive(Debug, PartialEq)]
pub struct Announcement {
    pub ws_url: String,
    pub sdk_app_id: u64,
    pub admin: String,
}

/// The `tim-server` binary that `cargo build -p tim-server` writes (honours `CARGO_TARGET_DIR`).
pub fn binary() -> Result<PathBuf> {
    let metadata = util::cargo_metadata(false)?;
    let target = metadata["target_directory"]
        .as_str()
        .ok_or("`cargo metadata` names no target_directory")?;
    Ok(Path::new(target).join("debug").join("tim-server"))
}

impl TimServer {
    /// Starts `bin --dev --listen 127.0.0.1:0 --dev-origin PAGE [--dev-key KEY]` and waits for its URL
    /// line. `page_origin` is the demo page's origin (the only one the server lets read its replies).
    /// `log_filter` sets the server's `RUST_LOG` (None keeps the caller's, whose default is `info`).
    pub fn start(bin: &Path, page_origin: &str, dev_key: Option<&str>, log_filter: Option<&str>) -> Result<TimServer> {
        let mut cmd = Command::new(bin);
        cmd.args(["--dev", "--listen", "127.0.0.1:0", "--dev-origin", page_origin]);
        if let Some(filter) = log_filter {
            cmd.env("RUST_LOG", filter);
        }
        if let Some(key) = dev_key {
            cmd.args(["--dev-key", key]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().ok_or("tim-server stdout is not piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut sent = false;
            // Keeps reading after the URL line so that the child never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(std::io::Result::ok) {
                if !sent {
                    lines.push(line);
                    if let Some(found) = parse_announcement(&lines) {
                        sent = tx.send(found).is_ok();
                    }
                }
            }
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(found) => {
                let http_url = found.ws_url.replacen("ws://", "http://", 1);
                let http_url = http_url.trim_end_matches("/ws").to_owned();
                Ok(TimServer {
                    child,
                    http_url,
                    ws_url: found.ws_url,
                    sdk_app_id: found.sdk_app_id,
                    admin: found.admin,
                })
            }
            Err(_) => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                Err(match status {
                    Some(status) => format!("tim-server exited ({status}) before printing its URL").into(),
                    None => format!("tim-server printed no ws:// URL within {START_TIMEOUT:?}").into(),
                })
            }
        }
    }

    /// `Some(status)` once the server has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the server and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TimServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the announcement from the lines printed so far; `None` until the `ws://` line has come.
pub fn parse_announcement(lines: &[String]) -> Option<Announcement> {
    let url_line = lines.iter().find(|l| l.contains("ws://"))?;
    let ws_url = url_line.split_whitespace().last()?.to_owned();
    let after = |word: &str| {
        lines.iter().find_map(|l| {
            let mut tokens = l.split([' ', ',']).filter(|t| !t.is_empty());
            tokens.by_ref().find(|t| *t == word)?;
            tokens.next().map(str::to_owned)
        })
    };
    Some(Announcement {
        ws_url,
        sdk_app_id: after("SDKAppID")
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_SDK_APP_ID),
        admin: after("admin").unwrap_or_else(|| "administrator".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_dev_announcement() {
        let lines: Vec<String> = [
            "tim-server dev mode: SDKAppID 1400000000, online_web_instances 1, admin administrator",
            "tim-server dev mode: example UserSig for userID user1: eJy",
            "tim-server dev mode: more UserSigs at http://127.0.0.1:4100/dev/usersig?userID=ID",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(parse_announcement(&lines), None);
        let mut lines = lines;
        lines.push("tim-server listening on ws://127.0.0.1:4100/ws".into());
        assert_eq!(
            parse_announcement(&lines),
            Some(Announcement {
                ws_url: "ws://127.0.0.1:4100/ws".into(),
                sdk_app_id: 1_400_000_000,
                admin: "administrator".into(),
            })
        );
    }
}
