//! The server under hostile load, against the real binary: attackers on 127.0.0.2.. (Linux routes all of
//! 127.0.0.0/8 to loopback), each case asserting that valid users from 127.0.0.1 get in during the attack.
//! Every loop is bounded in count and time.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use tim_protocol::{close, ClientFrame, ErrorCode, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// Valid logins from 127.0.0.1 while an attack runs: each must succeed within this.
const LOGIN_LIMIT: Duration = Duration::from_secs(5);

fn attacker(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + i)
}

/// A TCP connection to the server from `src`.
async fn tcp_from(src: Ipv4Addr, server: &Server) -> std::io::Result<TcpStream> {
    tcp_from_to(src.into(), &server.addr).await
}

/// `n` valid logins from 127.0.0.1, one after another, each within [`LOGIN_LIMIT`]; returns how many
/// got in (the sockets are closed after each).
async fn valid_logins(server: &Server, tag: &str, n: usize) -> usize {
    let mut ok = 0;
    for i in 0..n {
        let user = format!("{tag}{i}");
        let attempt = async {
            let (ws, reply) = server.login(&user, &sig(&user)).await;
            (ws, matches!(reply, ServerFrame::LoginAck { .. }))
        };
        if let Ok((mut ws, true)) = timeout(LOGIN_LIMIT, attempt).await {
            ok += 1;
            let _ = ws.close(None).await;
        }
    }
    ok
}

/// How many of `conns` the server has not closed within `limit` (one deadline for them all).
async fn open_after<'a>(conns: impl Iterator<Item = &'a mut TcpStream>, limit: Duration) -> usize {
    let all_by = Instant::now() + limit;
    let mut still_open = 0;
    for tcp in conns {
        if !closed_within(tcp, all_by.saturating_duration_since(Instant::now())).await {
            still_open += 1;
        }
    }
    still_open
}

/// Reads until EOF or error; true when the server closed the connection within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let until = Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match timeout(left, tcp.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn silent_and_slowloris_connections_are_cut_off_and_valid_users_get_in_at_a_low_file_limit() {
    raise_own_nofile();
    // 256 descriptors: the server caps connections at 192 and keeps the rest in reserve.
    let server = Server::start_with_nofile(&config(1, "header_read_timeout_ms = 1000"), 256);
    let mut silent = Vec::new();
    let mut slow = Vec::new();
    // 400 silent connections and 40 slowloris ones from four other addresses: twice what fits.
    for i in 0..440u32 {
        if let Ok(mut tcp) = tcp_from(attacker((i % 4) as u8), &server).await {
            if i % 11 == 0 {
                let _ = tcp.write_all(b"G").await;
                slow.push(tcp);
            } else {
                silent.push(tcp);
            }
        }
    }
    assert!(silent.len() >= 300, "the attack could not open its connections");
    let during = valid_logins(&server, "amid-silence", 10).await;
    assert_eq!(during, 10, "valid users from 127.0.0.1 got in during the attack");
    // Slowloris: one header byte every 300 ms never completes a request in the 1 s header deadline.
    let trickle = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for tcp in slow.iter_mut() {
                let _ = tcp.write_all(b"E").await;
            }
        }
    };
    let (_, during_trickle) = tokio::join!(trickle, valid_logins(&server, "amid-trickle", 5));
    assert_eq!(during_trickle, 5);
    // Every attacking connection was closed by the server (evicted or past the header deadline).
    let still_open = open_after(silent.iter_mut().chain(slow.iter_mut()), Duration::from_secs(3)).await;
    assert_eq!(still_open, 0, "connections left open past the header deadline");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("tim_connections 0\n") || metrics.contains("tim_connections 1\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn tcp_connections_count_against_the_per_address_cap_and_pending_ones_make_room() {
    raise_own_nofile();
    let server = Server::start(&config(1, "max_connections_per_ip = 20\nheader_read_timeout_ms = 5000"));
    // Each sends a first byte (of a request head that never completes): the kernel hands a connection
    // to the server only once bytes come (a silent one is the next test's case).
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(tcp_with_a_byte(attacker(0), &server).await);
    }
    // A 21st from that address evicts its oldest pending connection.
    let _newest = tcp_with_a_byte(attacker(0), &server).await;
    assert!(
        closed_within(&mut held[0], Duration::from_secs(2)).await,
        "the oldest was evicted"
    );
    // The cap is per address: 127.0.0.1 is not affected.
    assert_eq!(valid_logins(&server, "other-address", 3).await, 3);
    let metrics = server.metrics().await;
    assert!(metrics.contains("reason=\"evicted\""), "{metrics}");
}

/// A connection from `src` that has sent one byte of a request head.
async fn tcp_with_a_byte(src: Ipv4Addr, server: &Server) -> TcpStream {
    let mut tcp = tcp_from(src, server).await.unwrap();
    tcp.write_all(b"G").await.unwrap();
    tcp
}

/// Linux: a connection that sends nothing is held by the kernel (`TCP_DEFER_ACCEPT`), so it takes no
/// descriptor and no place in the caps, and it is closed after the wait and the header deadline.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn silent_connections_take_no_place_until_they_speak_and_are_closed_after_the_deadline() {
    raise_own_nofile();
    let server = Server::start(&config(1, "max_connections_per_ip = 20\nheader_read_timeout_ms = 1000"));
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(tcp_from(attacker(0), &server).await.unwrap());
    }
    // Five times the address's cap, and not one was evicted to make room: none holds a place.
    let metrics = server.metrics().await;
    assert!(!metrics.contains("reason=\"evicted\""), "{metrics}");
    assert_eq!(valid_logins(&server, "beside-silence", 5).await, 5);
    // After the 1 s wait the kernel hands them over; the 1 s header deadline (or an eviction) closes them.
    let still_open = open_after(silent.iter_mut(), Duration::from_secs(6)).await;
    assert_eq!(still_open, 0, "silent connections left open");
}

#[tokio::test]
async fn a_flood_of_failed_logins_from_one_address_never_keeps_its_valid_users_out() {
    let server = Server::start(&config(1, "login_failures_per_ip = 5\nlogin_failure_window_ms = 60000"));
    let stop = Instant::now() + Duration::from_secs(3);
    let flood = async {
        let mut refused = 0u32;
        let mut rate_limited = 0u32;
        // Four attackers on 127.0.0.1 itself, reconnecting after every close; bounded by time and count.
        let one = |_: u32| async {
            let mut codes = Vec::new();
            for _ in 0..2_000 {
                if Instant::now() > stop {
                    break;
                }
                let Ok((_ws, reply)) = timeout(Duration::from_secs(2), server.login("mallory", "bad-sig")).await else {
                    continue;
                };
                codes.push(error_code(&reply));
            }
            codes
        };
        let results = futures_util::future::join_all((0..4).map(one)).await;
        for code in results.into_iter().flatten() {
            if code == Some(ErrorCode::LoginRateLimited.code()) {
                rate_limited += 1;
            } else {
                refused += 1;
            }
        }
        (refused, rate_limited)
    };
    let valid = async {
        let mut ok = 0;
        let mut tried = 0;
        while Instant::now() < stop && tried < 200 {
            tried += 1;
            ok += valid_logins(&server, &format!("valid{tried}-"), 1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (ok, tried)
    };
    let ((refused, rate_limited), (ok, tried)) = tokio::join!(flood, valid);
    assert!(
        rate_limited > 0,
        "the flood was rate limited ({refused} plain refusals)"
    );
    assert!(tried >= 10, "only {tried} valid logins were tried");
    assert_eq!(ok, tried, "every valid login from the flooded address got in");
}

/// A WebSocket frame from a client (masked with a zero key, which is allowed).
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// A raw WebSocket from 127.0.0.1 with a small receive buffer, upgraded; nothing read after the 101.
async fn raw_ws(server: &Server) -> TcpStream {
    let addr: SocketAddr = server.addr.parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "upgrade answered");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp
}

#[tokio::test]
async fn a_logged_in_ping_flood_that_never_reads_is_dropped_with_bounded_memory() {
    let server = Server::start(&config(1, "write_timeout_ms = 1000"));
    let rss_before = rss_kib(server.child.id());
    let mut flooders = Vec::new();
    for i in 0..2 {
        let mut tcp = raw_ws(&server).await;
        let user = format!("pinger{i}");
        let login = login_frame(1, APP, &user, &sig(&user), None).encode();
        tcp.write_all(&client_frame(0x1, login.as_bytes())).await.unwrap();
        flooders.push(tcp);
    }
    let ping = client_frame(0x9, &[b'p'; 125]);
    let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 64).collect();
    let burst = &burst;
    let flood = |mut tcp: TcpStream| async move {
        // Write pings, never read; the server must stop reading and drop us. Bounded by 20 s.
        let stop = Instant::now() + Duration::from_secs(20);
        while Instant::now() < stop {
            match timeout(Duration::from_secs(3), tcp.write_all(burst)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return true,
                // Blocked: the server stopped reading. It must drop us soon.
                Err(_) => {}
            }
        }
        false
    };
    let valid = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        valid_logins(&server, "beside-pings", 5).await
    };
    let (dropped, ok) = tokio::join!(futures_util::future::join_all(flooders.into_iter().map(flood)), valid);
    assert!(
        dropped.iter().all(|d| *d),
        "a ping flooder was never dropped: {dropped:?}"
    );
    assert_eq!(ok, 5);
    let grown = rss_kib(server.child.id()).saturating_sub(rss_before);
    assert!(
        grown < 64 * 1024,
        "the server grew by {grown} KiB under two ping floods"
    );
    let metrics = server.metrics().await;
    assert!(metrics.contains("reason=\"write_timeout\""), "{metrics}");
}

#[tokio::test]
async fn oversized_frames_get_80003_and_close_1009_at_every_size_up_to_the_socket_limit() {
    let server = Server::start(&config(1, ""));
    let limit = tim_protocol::limits::MAX_FRAME_BYTES;
    let socket_limit = 1024 * 1024; // the default max_socket_message_bytes
    for size in [limit + 1, 64 * 1024 + 1, 512 * 1024, socket_limit] {
        let mut ws = server.connect().await;
        ws.send(Message::Text("x".repeat(size).into())).await.unwrap();
        let (frames, closed) = until_close(&mut ws, Duration::from_secs(10)).await;
        assert_eq!(
            frames.iter().map(error_code).collect::<Vec<_>>(),
            vec![Some(ErrorCode::FrameTooLarge.code())],
            "{size} bytes"
        );
        assert_eq!(closed, Some(close::TOO_BIG), "{size} bytes");
    }
    assert_eq!(valid_logins(&server, "after-big", 2).await, 2);
}

/// Sends a POST with this declared length and these first body bytes, then waits; returns the reply and
/// how long it took.
async fn stalled_post(server: &Server, declared: usize, sent: &str) -> (String, Duration) {
    let mut tcp = tcp_from(attacker(0), server).await.unwrap();
    let admin_sig = sig("administrator");
    let request = format!(
        "POST /v4/tim_wasm_admin/get_app_config?sdkappid={APP}&identifier=administrator&usersig={admin_sig}&random=1 HTTP/1.1\r\n\
         Host: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n{sent}"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    let _ = timeout(Duration::from_secs(5), tcp.read_to_end(&mut reply)).await;
    (String::from_utf8_lossy(&reply).to_string(), started.elapsed())
}

#[tokio::test]
async fn an_admin_post_whose_body_never_comes_is_answered_in_time() {
    let server = Server::start(&config(1, "body_read_timeout_ms = 800"));
    // The case: 50 MiB declared, 10 bytes sent. Over the 2 MiB body cap: 413 at once.
    let (reply, took) = stalled_post(&server, 50 * 1024 * 1024, "{\"a\":1234").await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(took < Duration::from_millis(700), "{took:?}");
    // A small declared body that never completes: 408 after the body deadline, and the connection closed.
    let (reply, took) = stalled_post(&server, 1000, "{\"a\":1234").await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"ActionStatus\":\"FAIL\""), "{reply}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(valid_logins(&server, "beside-admin", 2).await, 2);
}

#[tokio::test]
async fn sigterm_closes_every_connection_and_exits_within_the_grace_whatever_clients_do() {
    let mut server = Server::start(&config(1, "shutdown_grace_ms = 2000"));
    let (mut logged_in, _) = server.login_ok("alice").await;
    let mut pending = server.connect().await;
    // A slowloris and an admin POST waiting on its body.
    let mut slow = tcp_from(attacker(0), &server).await.unwrap();
    slow.write_all(b"GET /metr").await.unwrap();
    let mut body_wait = tcp_from(attacker(1), &server).await.unwrap();
    body_wait
        .write_all(b"POST /v4/im_open_login_svc/kick HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) }, 0);
    let (frames, code) = until_close(&mut logged_in, Duration::from_secs(3)).await;
    assert!(frames.is_empty(), "{frames:?}");
    assert_eq!(code, Some(close::SERVICE_RESTART));
    let (_, code) = until_close(&mut pending, Duration::from_secs(3)).await;
    assert_eq!(code, Some(close::SERVICE_RESTART));
    let exited = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(4) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let status = exited.expect("tim-server still running 4 s after SIGTERM (grace 2 s)");
    assert!(status.success(), "{status:?}");
    assert!(closed_within(&mut slow, Duration::from_secs(1)).await);
    assert!(closed_within(&mut body_wait, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn five_hundred_valid_users_behind_one_address_all_log_in() {
    raise_own_nofile();
    let server = Server::start(&config(1, ""));
    let mut held = Vec::new();
    let mut failed = Vec::new();
    for batch in 0..10 {
        let logins = (0..50).map(|i| {
            let user = format!("crowd{}", batch * 50 + i);
            let server = &server;
            async move {
                let reply = timeout(Duration::from_secs(10), server.login(&user, &sig(&user))).await;
                (user, reply)
            }
        });
        for (user, reply) in futures_util::future::join_all(logins).await {
            match reply {
                Ok((ws, ServerFrame::LoginAck { .. })) => held.push(ws),
                Ok((_, other)) => failed.push(format!("{user}: {other:?}")),
                Err(_) => failed.push(format!("{user}: timed out")),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(held.len(), 500);
    // All still served.
    let last = held.last_mut().unwrap();
    send(last, &ClientFrame::Hello { id: 9 }).await;
    assert!(matches!(recv(last).await, ServerFrame::HelloAck { id: 9, .. }));
}
