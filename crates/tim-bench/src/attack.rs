//! Attackers for the "under attack" rows: each runs from its own loopback addresses until a deadline
//! (and a count), while valid users log in from 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::load::{self, App, Target};

/// One kind of attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// TCP connections that never send a byte, reopened as soon as the server closes them.
    Silent,
    /// HTTP headers trickled one byte every 200 ms.
    Slowloris,
    /// Logins with a bad UserSig from 127.0.0.1, the valid users' own address.
    FailedLogins,
    /// Logged-in WebSockets that send pings and never read.
    PingFlood,
}

impl Attack {
    /// Every attack, in the order of the rows.
    pub const ALL: [Attack; 4] = [
        Attack::Silent,
        Attack::Slowloris,
        Attack::FailedLogins,
        Attack::PingFlood,
    ];

    /// What the row says.
    pub fn describe(self) -> &'static str {
        match self {
            Attack::Silent => "1,200 silent TCP connections from 4 other addresses (over the 960-connection cap)",
            Attack::Slowloris => "200 slowloris connections (a header byte every 200 ms) from 4 other addresses",
            Attack::FailedLogins => "failed logins from 127.0.0.1 itself, 8 attackers back to back",
            Attack::PingFlood => "8 logged-in ping floods that never read, from 2 other addresses",
        }
    }

    fn tasks(self) -> usize {
        match self {
            Attack::Silent => 1_200,
            Attack::Slowloris => 200,
            Attack::FailedLogins | Attack::PingFlood => 8,
        }
    }
}

/// What the attackers did.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttackStats {
    /// Connections the attackers opened.
    pub connections: u64,
}

fn attacker_source(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + (i % 4) as u8)
}

async fn tcp_from(source: Ipv4Addr, addr: SocketAddr) -> Option<TcpStream> {
    let socket = load::socket_from(source).ok()?;
    timeout(Duration::from_secs(2), socket.connect(addr)).await.ok()?.ok()
}

/// Reads until the server closes (or `until`).
async fn wait_closed(tcp: &mut TcpStream, until: Instant) {
    let mut buf = [0u8; 1024];
    while let Ok(Ok(n)) = timeout(until.saturating_duration_since(Instant::now()), tcp.read(&mut buf)).await {
        if n == 0 {
            return;
        }
    }
}

/// Runs `attack` against `target` until `until`.
pub async fn run(attack: Attack, target: &Target, app: &App, until: Instant) -> AttackStats {
    let tasks = (0..attack.tasks()).map(|i| {
        let (target, app) = (target.clone(), app.clone());
        tokio::spawn(async move { one_attacker(attack, i, &target, &app, until).await })
    });
    let mut stats = AttackStats::default();
    for task in futures_util::future::join_all(tasks).await {
        stats.connections += task.unwrap_or(0);
    }
    stats
}

/// One attacker's loop; returns the connections it opened (at most 10,000).
async fn one_attacker(attack: Attack, i: usize, target: &Target, app: &App, until: Instant) -> u64 {
    let mut opened = 0;
    while Instant::now() < until && opened < 10_000 {
        opened += 1;
        match attack {
            Attack::Silent => {
                let Some(mut tcp) = tcp_from(attacker_source(i), target.addr).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                wait_closed(&mut tcp, until).await;
            }
            Attack::Slowloris => {
                let Some(mut tcp) = tcp_from(attacker_source(i), target.addr).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
                    if Instant::now() >= until || tcp.write_all(&[*byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Attack::FailedLogins => {
                let Ok(mut ws) = load::connect(target, Ipv4Addr::LOCALHOST).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                // Bad logins on this connection until the server closes it.
                for id in 0..1_000 {
                    if Instant::now() >= until || load::login(&mut ws, app, id, "mallory", "bad-sig").await.is_ok() {
                        break;
                    }
                    if !ws_still_open(&mut ws).await {
                        break;
                    }
                }
            }
            Attack::PingFlood => {
                let Some(mut tcp) = raw_logged_in(attacker_source(i % 2), target, app, i).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let ping = masked_frame(0x9, &[b'p'; 125]);
                let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 32).collect();
                while Instant::now() < until {
                    match timeout(Duration::from_millis(500), tcp.write_all(&burst)).await {
                        Ok(Ok(())) | Err(_) => {}
                        Ok(Err(_)) => break,
                    }
                }
            }
        }
    }
    opened
}

/// True while the server has not closed `ws` (a failed login keeps it open until the limit).
async fn ws_still_open(ws: &mut load::Ws) -> bool {
    use futures_util::StreamExt;
    !matches!(
        timeout(Duration::from_millis(1), ws.next()).await,
        Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))))
    )
}

/// A client frame masked with a zero key.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A raw WebSocket, upgraded and logged in as `bench-p{i}`, with a small receive buffer it never reads.
async fn raw_logged_in(source: Ipv4Addr, target: &Target, app: &App, i: usize) -> Option<TcpStream> {
    let socket = load::socket_from(source).ok()?;
    socket.set_recv_buffer_size(4096).ok()?;
    let mut tcp = timeout(Duration::from_secs(2), socket.connect(target.addr))
        .await
        .ok()?
        .ok()?;
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.addr
    );
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        if timeout(Duration::from_secs(2), tcp.read(&mut byte)).await.ok()?.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let user = format!("bench-p{i}");
    let login = app.login_frame(1, &user, &app.usersig(&user));
    tcp.write_all(&masked_frame(0x1, login.as_bytes())).await.ok()?;
    Some(tcp)
}
