//! A small real HTTP server playing the app backend that receives state-change callbacks.
//!
//! It records every request (query parameters, JSON body, when it arrived) and answers according to
//! its [`Mode`]: 200, 500 for the first N requests, or never (holds the connection open). It keeps
//! connections alive (HTTP/1.1) and counts the TCP connections it accepted; [`Backend::start_tls`]
//! serves https with a certificate made at start, signed by a CA made then too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

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
    /// When its request was read in full.
    pub at: Instant,
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
    /// `http://127.0.0.1:PORT/callback` (`https://` for [`Backend::start_tls`]).
    pub url: String,
    /// [`Backend::start_tls`]: the PEM of the CA that signed its certificate.
    pub ca_pem: Option<String>,
    received: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
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
        Backend::start_with(mode, None).await
    }

    /// Starts an https backend on a free loopback port: a CA and a certificate for `127.0.0.1` and
    /// `localhost` signed by it are made now; [`Backend::ca_pem`] is the CA to trust.
    pub async fn start_tls(mode: Mode) -> Backend {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        #[allow(deprecated)] // ring's provider: see the server's callback client
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let mut backend = Backend::start_with(mode, Some(acceptor)).await;
        backend.url = backend.url.replacen("http://", "https://", 1);
        backend.ca_pem = Some(ca.pem());
        backend
    }

    async fn start_with(mode: Mode, tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let log = Arc::clone(&received);
        let accepted = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let log = Arc::clone(&log);
                match tls.clone() {
                    None => drop(tokio::spawn(serve(stream, mode, log))),
                    Some(acceptor) => drop(tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve(stream, mode, log).await;
                        }
                    })),
                }
            }
        });
        Backend {
            url,
            ca_pem: None,
            received,
            connections,
            task,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
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

/// Serves the requests of one connection, kept alive until the client closes it.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, mode: Mode, log: Arc<Mutex<Vec<Received>>>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let (head_end, content_length) = loop {
            if let Some(pos) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..pos]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (pos + 4, len);
            }
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        };
        while raw.len() < head_end + content_length {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
        let target = head.split(' ').nth(1).unwrap_or("/").to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let body = serde_json::from_slice(&raw[head_end..head_end + content_length]).unwrap_or(Value::Null);
        raw.drain(..head_end + content_length);
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
                at: Instant::now(),
            });
            status
        };
        let Some(status) = status else {
            // Hold the connection open without answering until the client gives up.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
            return;
        };
        let body = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;
        let reason = if status == 200 { "OK" } else { "Internal Server Error" };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
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
