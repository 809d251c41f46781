//! Runs the Node scripts of `tests/bench/` and reads the JSON line each prints last.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::Samples;

/// Runs `node script args...` in `dir`, killing it after `timeout`; returns the JSON of its last stdout line.
/// A script that cannot do its job prints `{"skipped": "why"}`, returned as `Err(why)`.
pub fn run_json(dir: &Path, script: &str, args: &[String], timeout: Duration) -> Result<serde_json::Value, String> {
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    let last_err = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    let Some(status) = status else {
        return Err(format!("node {script} ran longer than {timeout:?}"));
    };
    let last = out.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let value: serde_json::Value = match last.map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => return Err(format!("node {script} failed ({status}): {last_err}")),
    };
    if let Some(why) = value.get("skipped").and_then(|v| v.as_str()) {
        return Err(why.to_string());
    }
    if !status.success() {
        return Err(format!("node {script} failed ({status}): {last_err}"));
    }
    Ok(value)
}

/// The `samples_us` array of a script's JSON.
pub fn samples(value: &serde_json::Value, key: &str) -> Result<Samples, String> {
    let arr = value
        .get(key)
        .and_then(|v| v.as_array())
        .ok_or_else(|| format!("no `{key}` in the script's output"))?;
    Ok(Samples::from_micros(arr.iter().filter_map(|v| v.as_f64()).collect()))
}
