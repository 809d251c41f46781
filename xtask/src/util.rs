//! Small helpers shared by the xtask commands: paths, running commands, reporting.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Errors of xtask commands: a message for the person at the terminal.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The repository root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo")
        .to_path_buf()
}

/// Prints a step header so that a reader of the log sees where time goes.
pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs a command to completion (inheriting stdio); fails with the command line if it fails.
pub fn run(cmd: &mut Command) -> Result {
    let line = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot start {line}: {e}"))?;
    if !status.success() {
        return Err(format!("command failed ({status}): {line}").into());
    }
    Ok(())
}

/// Runs a command and returns its stdout, or `None` when it cannot start or fails.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A `cargo` command using the same cargo that runs xtask.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// True when running as root (so `apt-get` may be used).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

/// `cargo metadata --format-version 1` (with the resolved packages when `with_deps`), parsed.
pub fn cargo_metadata(with_deps: bool) -> Result<serde_json::Value> {
    let mut cmd = cargo();
    cmd.args(["metadata", "--format-version", "1"]);
    if !with_deps {
        cmd.arg("--no-deps");
    }
    let text = output(&mut cmd).ok_or("`cargo metadata` failed")?;
    Ok(serde_json::from_str(&text)?)
}
