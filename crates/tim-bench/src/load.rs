//! The load generator: WebSocket clients bound to chosen loopback source addresses (one address has only
//! about 28k ephemeral ports), driving either `tim-server` logins or the echo floor.
//!
//! Every loop is bounded: cycles stop at a deadline, holds stop at a count, and every network step has a
//! timeout.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tim_protocol::{ClientFrame, Platform, ServerFrame, PROTOCOL_VERSION};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::stats::Samples;

/// A client connection.
pub type Ws = WebSocketStream<TcpStream>;

/// Upper bound on any one network step (connect, handshake, reply).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

fn err(what: impl std::fmt::Display) -> LoadError {
    LoadError(what.to_string())
}

/// A WebSocket server to load: its URL and the socket address in it.
#[derive(Debug, Clone)]
pub struct Target {
    /// `ws://HOST:PORT/ws`.
    pub url: String,
    /// `HOST:PORT` of the URL.
    pub addr: SocketAddr,
}

impl Target {
    /// Parses `ws://HOST:PORT/PATH` with a numeric IPv4 host.
    pub fn parse(url: &str) -> Result<Target, LoadError> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| err(format!("not a ws:// URL: {url}")))?;
        let host_port = rest.split('/').next().unwrap_or(rest);
        let addr = host_port
            .parse()
            .map_err(|e| err(format!("bad address `{host_port}` in {url}: {e}")))?;
        Ok(Target {
            url: url.to_string(),
            addr,
        })
    }
}

/// The loopback source addresses 127.0.0.2 ..= 127.0.0.(1 + n).
pub fn loopback_sources(n: u8) -> Vec<Ipv4Addr> {
    (0..n.max(1)).map(|i| Ipv4Addr::new(127, 0, 0, 2 + i)).collect()
}

/// An app to log into and the key that signs its UserSigs.
#[derive(Debug, Clone)]
pub struct App {
    /// SDKAppID.
    pub sdk_app_id: u64,
    /// Secret key.
    pub key: String,
}

impl App {
    /// A UserSig for `user`, valid for a day from now.
    pub fn usersig(&self, user: &str) -> String {
        tim_usersig::gen_usersig(self.sdk_app_id, &self.key, user, 86_400, unix_now(), None)
    }

    /// The login frame for `user`.
    pub fn login_frame(&self, id: u32, user: &str, sig: &str) -> String {
        ClientFrame::Login {
            id,
            version: PROTOCOL_VERSION,
            sdk_app_id: self.sdk_app_id,
            user_id: user.to_string(),
            user_sig: sig.to_string(),
            platform: Platform::Node,
            instance_id: None,
        }
        .encode()
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

async fn timed<T>(what: &str, f: impl std::future::Future<Output = T>) -> Result<T, LoadError> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .map_err(|_| err(format!("{what}: no answer within {STEP_TIMEOUT:?}")))
}

/// A TCP socket bound to `source`, its port left for `connect` to choose. `IP_BIND_ADDRESS_NO_PORT`: a
/// `bind` to port 0 must find a port no other socket holds, TIME_WAIT ones included, and with tens of
/// thousands of them on loopback each bind scanned the port range (the load generator then spent
/// ~40 ms of kernel time per connection and measured itself); `connect` picks a port per destination
/// and reuses TIME_WAIT ones.
pub fn socket_from(source: Ipv4Addr) -> std::io::Result<TcpSocket> {
    use std::os::fd::AsRawFd;
    let socket = TcpSocket::new_v4()?;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.bind(SocketAddr::new(source.into(), 0))?;
    Ok(socket)
}

/// Opens a WebSocket to `target` from `source` (port chosen by the kernel).
pub async fn connect(target: &Target, source: Ipv4Addr) -> Result<Ws, LoadError> {
    let socket = socket_from(source).map_err(|e| err(format!("bind {source}: {e}")))?;
    let stream = timed("connect", socket.connect(target.addr))
        .await?
        .map_err(|e| err(format!("connect {}: {e}", target.addr)))?;
    let _ = stream.set_nodelay(true);
    // A small client read buffer keeps the load generator's own cost down (it shares the cores).
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let handshake = tokio_tungstenite::client_async_with_config(target.url.as_str(), stream, Some(config));
    let (ws, _) = timed("handshake", handshake)
        .await?
        .map_err(|e| err(format!("handshake: {e}")))?;
    Ok(ws)
}

/// Sends a text frame and returns the next text frame received.
pub async fn request(ws: &mut Ws, text: String) -> Result<String, LoadError> {
    timed("send", ws.send(Message::text(text)))
        .await?
        .map_err(|e| err(format!("send: {e}")))?;
    loop {
        match timed("reply", ws.next()).await? {
            Some(Ok(Message::Text(reply))) => return Ok(reply.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => return Err(err(format!("closed by server: {frame:?}"))),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(err(format!("receive: {e}"))),
            None => return Err(err("connection ended")),
        }
    }
}

/// Logs `user` in on `ws`; `Ok` on `loginAck`.
pub async fn login(ws: &mut Ws, app: &App, id: u32, user: &str, sig: &str) -> Result<(), LoadError> {
    let reply = request(ws, app.login_frame(id, user, sig)).await?;
    match ServerFrame::decode(&reply) {
        Ok(ServerFrame::LoginAck { .. }) => Ok(()),
        Ok(ServerFrame::Error { code, message, .. }) => Err(err(format!("login refused: {code} {message}"))),
        Ok(other) => Err(err(format!("unexpected reply to login: {other:?}"))),
        Err(e) => Err(err(format!("undecodable reply to login: {e}"))),
    }
}

/// Logs out on `ws`; `Ok` on `logoutAck`.
pub async fn logout(ws: &mut Ws, id: u32) -> Result<(), LoadError> {
    let reply = request(ws, ClientFrame::Logout { id }.encode()).await?;
    match ServerFrame::decode(&reply) {
        Ok(ServerFrame::LogoutAck { .. }) => Ok(()),
        other => Err(err(format!("unexpected reply to logout: {other:?}"))),
    }
}

/// Closes `ws` with a close handshake (the server then closes TCP first and keeps the TIME_WAIT).
pub async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// What each client does per cycle: connect, two request/replies, close.
#[derive(Debug, Clone)]
pub enum Workload {
    /// `tim-server`: login (UserSig verified) then logout, one user per client.
    Login(App),
    /// The echo floor: two messages the size of a login frame.
    Echo(App),
}

impl Workload {
    fn payload(app: &App, user: &str, sig: &str) -> String {
        app.login_frame(1, user, sig)
    }

    /// One cycle on a fresh connection.
    async fn cycle(&self, target: &Target, source: Ipv4Addr, user: &str, sig: &str) -> Result<(), LoadError> {
        let mut ws = connect(target, source).await?;
        match self {
            Workload::Login(app) => {
                login(&mut ws, app, 1, user, sig).await?;
                logout(&mut ws, 2).await?;
            }
            Workload::Echo(app) => {
                request(&mut ws, Self::payload(app, user, sig)).await?;
                request(&mut ws, ClientFrame::Logout { id: 2 }.encode()).await?;
            }
        }
        close(ws).await;
        Ok(())
    }

    /// Opens one connection and makes it an idle instance (login) or an idle echo client.
    async fn open_idle(&self, target: &Target, source: Ipv4Addr, user: &str, sig: &str) -> Result<Ws, LoadError> {
        let mut ws = connect(target, source).await?;
        match self {
            Workload::Login(app) => login(&mut ws, app, 1, user, sig).await?,
            Workload::Echo(app) => {
                request(&mut ws, Self::payload(app, user, sig)).await?;
            }
        }
        Ok(ws)
    }

    fn app(&self) -> &App {
        match self {
            Workload::Login(app) | Workload::Echo(app) => app,
        }
    }
}

/// The outcome of [`run_cycles`].
#[derive(Debug, Clone)]
pub struct CycleReport {
    /// Completed cycles.
    pub cycles: u64,
    /// Failed cycles.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of each completed cycle.
    pub latencies: Samples,
    /// CPU time the server process spent during the run, when the caller measured it (all threads).
    pub server_cpu: Option<Duration>,
}

impl CycleReport {
    /// Both runs as one: cycles, errors, time and latencies added up.
    pub fn merge(mut self, other: CycleReport) -> CycleReport {
        self.cycles += other.cycles;
        self.errors += other.errors;
        self.first_error = self.first_error.or(other.first_error);
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.server_cpu = match (self.server_cpu, other.server_cpu) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self
    }

    /// Server CPU time per completed cycle, when measured.
    pub fn server_cpu_per_cycle(&self) -> Option<Duration> {
        let cpu = self.server_cpu?;
        (self.cycles > 0).then(|| cpu / u32::try_from(self.cycles).unwrap_or(u32::MAX))
    }

    /// Completed cycles per second.
    pub fn per_second(&self) -> f64 {
        self.cycles as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `clients` concurrent clients, each repeating [`Workload`] cycles on fresh connections until
/// `duration` has passed. Client `i` is user `bench-c{i}` and connects from `sources[i % len]`.
pub async fn run_cycles(
    target: &Target,
    workload: &Workload,
    clients: usize,
    duration: Duration,
    sources: &[Ipv4Addr],
) -> CycleReport {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let user = format!("bench-c{i}");
        let sig = workload.app().usersig(&user);
        let source = sources[i % sources.len().max(1)];
        let (target, workload) = (target.clone(), workload.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Samples::default();
            let (mut errors, mut first_error) = (0u64, None);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match workload.cycle(&target, source, &user, &sig).await {
                    Ok(()) => lat.push(t0.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e.0);
                        // A refused connection fails fast: do not spin on it.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (lat, errors, first_error)
        }));
    }
    let mut report = CycleReport {
        cycles: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Samples::default(),
        server_cpu: None,
    };
    for task in tasks {
        match task.await {
            Ok((lat, errors, first_error)) => {
                report.cycles += lat.len() as u64;
                report.latencies.extend(lat);
                report.errors += errors;
                if report.first_error.is_none() {
                    report.first_error = first_error;
                }
            }
            Err(e) => {
                report.errors += 1;
                report.first_error.get_or_insert(format!("client task: {e}"));
            }
        }
    }
    report.elapsed = start.elapsed();
    report
}

/// Idle connections held open by [`hold`].
pub struct Held {
    /// The open connections (dropping them closes them).
    pub sockets: Vec<Ws>,
    /// Connections that failed to open.
    pub errors: u64,
    /// The first error seen.
    pub first_error: Option<String>,
    /// Time taken to open them all.
    pub elapsed: Duration,
}

/// Opens `count` idle connections (logged-in instances of distinct users `bench-h{i}`, or echo clients),
/// at most `in_flight` being opened at a time, spread over `sources`.
pub async fn hold(target: &Target, workload: &Workload, count: usize, in_flight: usize, sources: &[Ipv4Addr]) -> Held {
    let start = Instant::now();
    let workload = Arc::new(workload.clone());
    let opened = futures_util::stream::iter(0..count)
        .map(|i| {
            let (target, workload) = (target.clone(), Arc::clone(&workload));
            let source = sources[i % sources.len().max(1)];
            async move {
                let user = format!("bench-h{i}");
                let sig = workload.app().usersig(&user);
                workload.open_idle(&target, source, &user, &sig).await
            }
        })
        .buffer_unordered(in_flight.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut held = Held {
        sockets: Vec::with_capacity(count),
        errors: 0,
        first_error: None,
        elapsed: start.elapsed(),
    };
    for result in opened {
        match result {
            Ok(ws) => held.sockets.push(ws),
            Err(e) => {
                held.errors += 1;
                held.first_error.get_or_insert(e.0);
            }
        }
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_the_servers_print() {
        let t = Target::parse("ws://127.0.0.1:4321/ws").unwrap();
        assert_eq!(t.addr, "127.0.0.1:4321".parse().unwrap());
        assert!(Target::parse("http://127.0.0.1:1/ws").is_err());
        assert!(Target::parse("ws://localhost:1/ws").is_err());
    }

    #[test]
    fn sources_are_loopback() {
        let s = loopback_sources(3);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|a| a.is_loopback()));
    }

    /// A real echo server on an ephemeral port, real clients from two source addresses.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cycles_and_holds_against_the_echo_floor() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::parse(&format!("ws://{}/ws", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(crate::echo::serve(listener, None));
        let app = App {
            sdk_app_id: 1_400_000_000,
            key: "k".into(),
        };
        let sources = loopback_sources(2);
        let report = run_cycles(
            &target,
            &Workload::Echo(app.clone()),
            4,
            Duration::from_millis(300),
            &sources,
        )
        .await;
        assert_eq!(report.errors, 0, "{:?}", report.first_error);
        assert!(report.cycles > 0);
        let held = hold(&target, &Workload::Echo(app), 50, 8, &sources).await;
        assert_eq!(held.sockets.len(), 50, "{:?}", held.first_error);
    }
}
