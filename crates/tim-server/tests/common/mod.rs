//! Test helpers: start the real `tim-server` binary, talk to it over real WebSockets and HTTP.
#![allow(dead_code)]

pub mod backend;
pub mod proxy;
pub mod redis;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tim_protocol::{ClientFrame, Platform, ServerFrame, PROTOCOL_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const APP: u64 = 1_400_000_000;
pub const KEY: &str = "test-secret-key-0123456789abcdef";
pub const OTHER_APP: u64 = 1_400_000_001;
pub const OTHER_KEY: &str = "other-app-key";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Asserts that `frames` is exactly one `kicked` frame of a multi-instance eviction that names the
/// evicting login: on `platform`, at a time within `window` (Unix ms, the test's own clock readings
/// around that login).
pub fn assert_evicted_by(frames: &[ServerFrame], platform: Platform, window: std::ops::RangeInclusive<u64>) {
    match frames {
        [ServerFrame::Kicked {
            kick_type: tim_protocol::KickType::MultipleAccount,
            platform: Some(by),
            time_ms: Some(at),
        }] => {
            assert_eq!(*by, platform, "the evicting login's platform");
            assert!(window.contains(at), "evicting login at {at}, outside {window:?}");
        }
        other => panic!("expected one multipleAccount kick naming the evicting login, got {other:?}"),
    }
}

/// A config with the two test apps; `n` instances for APP; `limits` is appended inside `[limits]`.
pub fn config(n: u32, limits: &str) -> String {
    format!(
        "listen = \"127.0.0.1:9\"\n\
         [[app]]\nsdkappid = {APP}\nsecret_key = \"{KEY}\"\nonline_web_instances = {n}\n\
         [[app]]\nsdkappid = {OTHER_APP}\nsecret_key = \"{OTHER_KEY}\"\n\
         [limits]\n{limits}\n"
    )
}

/// A running `tim-server` child process, killed on drop.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
    pub stdout_lines: Vec<String>,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n: u64 = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        let dir = std::env::temp_dir().join(format!("tim-server-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tim-server")
}

impl Server {
    /// Starts the binary with this config text and `--listen 127.0.0.1:0`.
    pub fn start(config_text: &str) -> Server {
        let dir = TempDir::new("cfg");
        let path = dir.0.join("server.toml");
        std::fs::write(&path, config_text).unwrap();
        let args = vec![
            "--config".to_string(),
            path.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        Server::spawn(&args, dir)
    }

    /// Like [`Server::start`], with the server's open-file limit (soft and hard) set to `nofile`.
    pub fn start_with_nofile(config_text: &str, nofile: u64) -> Server {
        let dir = TempDir::new("cfg");
        let path = dir.0.join("server.toml");
        std::fs::write(&path, config_text).unwrap();
        let mut cmd = Command::new(bin());
        cmd.args(["--config", &path.display().to_string(), "--listen", "127.0.0.1:0"]);
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                let lim = libc::rlimit {
                    rlim_cur: nofile as libc::rlim_t,
                    rlim_max: nofile as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        Server::spawn_command(cmd, dir)
    }

    /// Starts the binary with these arguments and waits for the announce line.
    pub fn spawn(args: &[String], dir: TempDir) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        Server::spawn_command(cmd, dir)
    }

    fn spawn_command(mut cmd: Command, dir: TempDir) -> Server {
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tim-server");
        match read_announce(&mut child) {
            Ok((url, lines)) => {
                let addr = url.trim_start_matches("ws://").trim_end_matches("/ws").to_string();
                Server {
                    child,
                    url,
                    addr,
                    stdout_lines: lines,
                    _dir: dir,
                }
            }
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{why}");
            }
        }
    }

    pub async fn connect(&self) -> Ws {
        let (ws, _) = tokio_tungstenite::connect_async(&self.url).await.expect("connect");
        ws
    }

    /// Connects and logs in; returns the socket and the login reply.
    pub async fn login(&self, user: &str, sig: &str) -> (Ws, ServerFrame) {
        let mut ws = self.connect().await;
        send(&mut ws, &login_frame(1, APP, user, sig, None)).await;
        let reply = recv(&mut ws).await;
        (ws, reply)
    }

    /// Logs in and asserts success; returns the socket and instance id.
    pub async fn login_ok(&self, user: &str) -> (Ws, String) {
        let (ws, reply) = self.login(user, &sig(user)).await;
        match reply {
            ServerFrame::LoginAck { instance_id, .. } => (ws, instance_id),
            other => panic!("login of {user} failed: {other:?}"),
        }
    }

    /// POSTs to the admin API as the app admin; returns the JSON reply (HTTP 200 required).
    pub async fn admin(&self, path: &str, body: &str) -> serde_json::Value {
        let (status, reply) = self.admin_with_status(path, body).await;
        assert_eq!(status, 200, "{reply}");
        reply
    }

    /// POSTs to the admin API as the app admin; returns the HTTP status and the JSON reply.
    pub async fn admin_with_status(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let admin_sig = sig("administrator");
        let target =
            format!("{path}?sdkappid={APP}&identifier=administrator&usersig={admin_sig}&random=7&contenttype=json");
        let (status, text) = http(&self.addr, "POST", &target, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }

    pub async fn metrics(&self) -> String {
        let (status, text) = http(&self.addr, "GET", "/metrics", "").await;
        assert_eq!(status, 200);
        text
    }
}

/// Reads stdout up to the `listening on ws://...` line; returns the URL and the lines read.
fn read_announce(child: &mut Child) -> Result<(String, Vec<String>), String> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!("tim-server exited before announcing; output so far: {lines:?}"));
        }
        let line = line.trim_end().to_string();
        lines.push(line.clone());
        if line.contains("listening on ") {
            let url = line.rsplit(' ').next().unwrap_or_default().to_string();
            if !(url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws")) || url.contains(":0/") {
                return Err(format!("bad announce line: {line}"));
            }
            // Keep draining so that the server never writes into a closed pipe.
            std::thread::spawn(move || for _ in reader.lines() {});
            return Ok((url, lines));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UserSig for APP issued now, valid one day.
pub fn sig(user: &str) -> String {
    tim_usersig::gen_usersig(APP, KEY, user, 86_400, now_secs(), None)
}

pub fn login_frame(id: u32, app: u64, user: &str, sig: &str, instance_id: Option<&str>) -> ClientFrame {
    ClientFrame::Login {
        id,
        version: PROTOCOL_VERSION,
        sdk_app_id: app,
        user_id: user.into(),
        user_sig: sig.into(),
        platform: Platform::Node,
        instance_id: instance_id.map(String::from),
    }
}

pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    ws.send(Message::Text(frame.encode().into())).await.expect("send");
}

/// The next server frame (skipping pings); panics on close or after 10 s.
pub async fn recv(ws: &mut Ws) -> ServerFrame {
    match next_event(ws, Duration::from_secs(10)).await {
        Event::Frame(f) => f,
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Frame(ServerFrame),
    Closed(Option<u16>),
    Timeout,
}

/// The next frame or close within `limit`.
pub async fn next_event(ws: &mut Ws, limit: Duration) -> Event {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Event::Timeout,
            Ok(None) => return Event::Closed(None),
            Ok(Some(Err(_))) => return Event::Closed(None),
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            Message::Text(text) => {
                return Event::Frame(ServerFrame::decode(text.as_str()).expect("server frame decodes"))
            }
            Message::Close(frame) => return Event::Closed(frame.map(|f| u16::from(f.code))),
            _ => continue,
        }
    }
}

/// Proves that no kick (or anything else) is queued for this connection, without waiting for one: the
/// server handles a connection's control commands (kicks) before its next inbound frame, and a login's
/// evictions are queued before that login is acknowledged, so the ack of a hello sent now is the very
/// next frame unless a kick was on its way.
pub async fn assert_not_kicked(ws: &mut Ws, what: &str) {
    send(ws, &ClientFrame::Hello { id: 9_999 }).await;
    match recv(ws).await {
        ServerFrame::HelloAck { id: 9_999, .. } => {}
        other => panic!("{what}: got {other:?} before the hello's ack"),
    }
}

/// Waits for the close and returns its code (frames before it are returned too).
pub async fn until_close(ws: &mut Ws, limit: Duration) -> (Vec<ServerFrame>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        match next_event(ws, limit).await {
            Event::Frame(f) => frames.push(f),
            Event::Closed(code) => {
                // Read once more so that tungstenite sends its close reply (completing the handshake).
                let _ = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
                return (frames, code);
            }
            Event::Timeout => panic!("no close within {limit:?}; frames: {frames:?}"),
        }
    }
}

pub fn error_code(frame: &ServerFrame) -> Option<u32> {
    match frame {
        ServerFrame::Error { code, .. } => Some(code.get()),
        _ => None,
    }
}

/// A minimal HTTP/1.1 client: returns (status, body).
pub async fn http(addr: &str, method: &str, target: &str, body: &str) -> (u16, String) {
    let (status, _headers, body) = http_full(addr, method, target, body).await;
    (status, body)
}

/// Like [`http`], with the response headers (lower-cased names).
pub async fn http_full(addr: &str, method: &str, target: &str, body: &str) -> (u16, String, String) {
    http_with(addr, method, target, "", body).await
}

/// Like [`http_full`], sending `extra_headers` (each line ending in `\r\n`) too.
pub async fn http_with(
    addr: &str,
    method: &str,
    target: &str,
    extra_headers: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.expect("http connect");
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, head.to_ascii_lowercase(), body)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `/metrics` until it contains `line` (gauges settle once closing sockets finish), at most 5 s.
pub async fn wait_for_metric(server: &Server, line: &str) {
    let mut text = String::new();
    for _ in 0..100 {
        text = server.metrics().await;
        if text.contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("metrics never showed {line:?}:\n{text}");
}

/// Raises this test process's soft open-file limit to the hard one (attack tests hold hundreds of sockets).
pub fn raise_own_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A process's resident memory (`VmRSS`), KiB; 0 when unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A TCP connection to `addr` from the source address `src` (Linux routes all of 127.0.0.0/8 to
/// loopback, so a test can be many clients), within 3 s.
pub async fn tcp_from_to(src: std::net::IpAddr, addr: &str) -> std::io::Result<TcpStream> {
    let addr: std::net::SocketAddr = addr.parse().expect("HOST:PORT");
    let socket = if src.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(std::net::SocketAddr::new(src, 0))?;
    tokio::time::timeout(Duration::from_secs(3), socket.connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))?
}

/// A WebSocket to `ws://addr/ws` over `tcp`: `prefix` (a PROXY header) is written first, `headers` are
/// added to the upgrade request.
pub async fn ws_over(tcp: TcpStream, addr: &str, prefix: &[u8], headers: &[(&str, &str)]) -> Ws {
    try_ws_over(tcp, addr, prefix, headers).await.expect("upgrade")
}

/// Like [`ws_over`]; `None` when the connection breaks before the upgrade is complete.
pub async fn try_ws_over(mut tcp: TcpStream, addr: &str, prefix: &[u8], headers: &[(&str, &str)]) -> Option<Ws> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    tcp.write_all(prefix).await.ok()?;
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
        .await
        .ok()?;
    Some(ws)
}

/// Sends a login on `ws` and returns the reply (or `None` when the socket closed or nothing came in 10 s).
pub async fn login_on(ws: &mut Ws, user: &str, sig: &str) -> Option<ServerFrame> {
    send(ws, &login_frame(1, APP, user, sig, None)).await;
    match next_event(ws, Duration::from_secs(10)).await {
        Event::Frame(f) => Some(f),
        _ => None,
    }
}

/// A PROXY protocol v1 line: the client `src` connected to `dst`.
pub fn proxy_v1(src: std::net::SocketAddr, dst: std::net::SocketAddr) -> Vec<u8> {
    let family = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {family} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// A PROXY protocol v2 header (PROXY command, TCP): the client `src` connected to `dst` (same family).
pub fn proxy_v2(src: std::net::SocketAddr, dst: std::net::SocketAddr) -> Vec<u8> {
    let mut b = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    b.push(0x21);
    let mut addrs = Vec::new();
    match (src.ip(), dst.ip()) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            b.push(0x11);
            addrs.extend_from_slice(&s.octets());
            addrs.extend_from_slice(&d.octets());
        }
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
            b.push(0x21);
            addrs.extend_from_slice(&s.octets());
            addrs.extend_from_slice(&d.octets());
        }
        _ => panic!("one family"),
    }
    addrs.extend_from_slice(&src.port().to_be_bytes());
    addrs.extend_from_slice(&dst.port().to_be_bytes());
    b.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    b.extend_from_slice(&addrs);
    b
}

/// One HTTP/1.1 request over `tcp` after `prefix` (a PROXY header), with `extra_headers` (each line ending
/// in `\r\n`); returns (status, body), status 0 when the server closed without answering.
pub async fn http_over(
    mut tcp: TcpStream,
    prefix: &[u8],
    method: &str,
    target: &str,
    extra_headers: &str,
    body: &str,
) -> (u16, String) {
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut bytes = prefix.to_vec();
    bytes.extend_from_slice(request.as_bytes());
    if tcp.write_all(&bytes).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The admin API query string of APP's admin (a fresh UserSig).
pub fn admin_query() -> String {
    let admin_sig = sig("administrator");
    format!("sdkappid={APP}&identifier=administrator&usersig={admin_sig}&random=7&contenttype=json")
}
