//! A TCP proxy on loopback between a node and Redis, for fault injection: it passes bytes through, holds
//! them (a blackholed link: TCP keeps what was sent and delivers it when the link heals), or cuts every
//! connection (and refuses new ones) until it passes again.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Bytes flow.
    Pass,
    /// Bytes wait (nothing is lost; they flow again on `Pass`).
    Blackhole,
    /// Connections are closed, new ones closed at once.
    Cut,
}

/// The proxy; stops with its runtime.
pub struct Proxy {
    /// The port to connect to instead of the target's.
    pub port: u16,
    link: Arc<watch::Sender<Link>>,
}

impl Proxy {
    /// Proxies a new loopback port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let link = Arc::new(watch::channel(Link::Pass).0);
        let watcher = Arc::clone(&link);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if *watcher.borrow() == Link::Cut {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, watcher.subscribe()));
                tokio::spawn(pipe(sr, cw, watcher.subscribe()));
            }
        });
        Proxy { port, link }
    }

    /// Sets what the link does from now on.
    pub fn set(&self, link: Link) {
        self.link.send_replace(link);
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Copies one direction, honouring the link's state before every write.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut link: watch::Receiver<Link>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            _ = wait_for(&mut link, Link::Cut) => return,
        };
        loop {
            let state = *link.borrow_and_update();
            match state {
                Link::Pass => break,
                Link::Cut => return,
                Link::Blackhole => {
                    if link.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn wait_for(link: &mut watch::Receiver<Link>, state: Link) {
    loop {
        if *link.borrow_and_update() == state {
            return;
        }
        if link.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
