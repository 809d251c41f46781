//! A small real HTTP server playing the app backend that receives state-change callbacks.
//!
//! It records every request (query parameters and JSON body) and answers according to its
//! [`Mode`]: 200, 500 for the first N requests, or never (holds the connection open).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the backend answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 `{"ActionStatus":"OK","ErrorCode":0}` to everything.
    Ok,
    /// 500 to the first N requests, then 200.
    FailFirst(usize),
    /// Reads the request and never answers.
    Hang,
}

/// One request the backend received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path before `?`.
    pub path: String,
    /// Query parameters (percent-decoded).
    pub query: HashMap<String, String>,
    /// The JSON body.
    pub body: Value,
    /// The status this backend answered (None: it hung).
    pub status: Option<u16>,
}

impl Received {
    /// `(Action, Reason)` of the body's `Info`.
    pub fn action_reason(&self) -> (String, String) {
        let info = &self.body["Info"];
        (
            info["Action"].as_str().unwrap_or_default().to_string(),
            info["Reason"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// `Info.To_Account`.
    pub fn account(&self) -> String {
        self.body["Info"]["To_Account"].as_str().unwrap_or_default().to_string()
    }

    /// The platforms listed in `KickedDevice` (None when the body has no `KickedDevice`).
    pub fn kicked(&self) -> Option<Vec<String>> {
        let list = self.body.get("KickedDevice")?.as_array()?;
        Some(
            list.iter()
                .map(|d| d["Platform"].as_str().unwrap_or_default().to_string())
                .collect(),
        )
    }
}

/// The running backend; stops accepting when dropped.
pub struct Backend {
    /// `http://127.0.0.1:PORT/callback`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    /// Starts a backend on a free loopback port.
    pub async fn start(mode: Mode) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                tokio::spawn(serve(stream, mode, log));
            }
        });
        Backend { url, received, task }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests this backend answered 2xx (the deliveries), in order.
    pub fn delivered(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .collect()
    }

    /// Waits until at least `n` requests were answered 2xx (at most `limit`); returns them.
    pub async fn wait_delivered(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.delivered();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until at least `n` requests arrived (answered or not), at most `limit`.
    pub async fn wait_received(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn serve(mut stream: TcpStream, mode: Mode, log: Arc<Mutex<Vec<Received>>>) {
    // One request per connection (the server opens one per attempt).
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, content_length) = loop {
        let Ok(n) = stream.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(pos) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..pos]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (pos + 4, len);
        }
    };
    while raw.len() < head_end + content_length {
        let Ok(n) = stream.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
    let target = head.split(' ').nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let body = serde_json::from_slice(&raw[head_end..head_end + content_length]).unwrap_or(Value::Null);
    let status = {
        let mut log = log.lock().unwrap();
        let status = match mode {
            Mode::Ok => Some(200),
            Mode::FailFirst(n) if log.len() < n => Some(500),
            Mode::FailFirst(_) => Some(200),
            Mode::Hang => None,
        };
        log.push(Received {
            path: path.to_string(),
            query: parse_query(query),
            body,
            status,
        });
        status
    };
    let Some(status) = status else {
        // Hold the connection open without answering until the client gives up.
        let _ = stream.read(&mut buf).await;
        return;
    };
    let body = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;
    let reason = if status == 200 { "OK" } else { "Internal Server Error" };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
