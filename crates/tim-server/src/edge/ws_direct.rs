//! The direct way into `/ws`: the accept loop reads a connection's first request head itself and, when
//! it is a plain WebSocket upgrade of `GET /ws`, answers the 101 and hands the socket to the connection
//! loop in the same task. Everything else (the admin API, `/metrics`, an unusual or broken upgrade, a head
//! that is not complete in time, every request in `--dev` mode whose CORS layer wraps all responses) goes
//! to hyper and the router with the bytes already read put back in front, so it is answered exactly as
//! before.
//!
//! Why: the bench profiled a login cycle at ~45 µs of server CPU in hyper + axum for the upgrade alone
//! (request and header maps, router, middleware, a second task, the upgrade channel, a boxed `Upgraded`),
//! against ~25 µs for tungstenite's own handshake on the fair floor.
//!
//! The checks are axum's `WebSocketUpgrade` ones (GET, HTTP/1.1, `Connection` containing `upgrade`,
//! `Upgrade: websocket`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key`), first header of each name
//! as axum reads it; a request that fails any of them takes the router, which rejects it as it did.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes of request head read before giving up on the direct way (a longer head goes to hyper, which
/// has its own limits). Browsers send about 500 B.
pub const MAX_DIRECT_HEAD: usize = 4096;

/// Headers parsed on the direct way; a request with more goes to hyper.
const MAX_DIRECT_HEADERS: usize = 32;

/// What [`read_head`] found on a new connection.
#[derive(Debug)]
pub enum Head {
    /// A plain upgrade of `GET /ws`: the `Sec-WebSocket-Accept` value, any bytes after the head, and its
    /// `X-Forwarded-For` / `Forwarded` headers (name in lower case, value) for the client's address.
    Upgrade {
        accept: String,
        rest: Vec<u8>,
        forwarding: Vec<(&'static str, Vec<u8>)>,
    },
    /// Anything else: every byte read so far, to be served by hyper.
    Other(Vec<u8>),
}

/// Reads the first request head (at most [`MAX_DIRECT_HEAD`] bytes, never past what a complete head and
/// what arrived with it) and classifies it; `buf`: bytes of it already read (after a PROXY header). The
/// caller bounds it in time. End of stream with bytes read is `Other` (hyper answers an incomplete request
/// as it always did); an I/O error is returned.
pub async fn read_head(tcp: &TcpStream, mut buf: Vec<u8>) -> io::Result<Head> {
    if !buf.is_empty() {
        match classify(&buf) {
            Some(Ok(head)) => return Ok(head),
            Some(Err(())) => return Ok(Head::Other(buf)),
            None if buf.len() >= MAX_DIRECT_HEAD => return Ok(Head::Other(buf)),
            None => {}
        }
    }
    buf.reserve(1024);
    loop {
        tcp.readable().await?;
        match tcp.try_read_buf(&mut buf) {
            Ok(0) => return Ok(Head::Other(buf)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        match classify(&buf) {
            Some(Ok(head)) => return Ok(head),
            Some(Err(())) => return Ok(Head::Other(buf)),
            None if buf.len() >= MAX_DIRECT_HEAD => return Ok(Head::Other(buf)),
            None => buf.reserve(1024.min(MAX_DIRECT_HEAD - buf.len())),
        }
    }
}

/// `None` while the head is incomplete; then the upgrade (`Ok(Head::Upgrade)`) or `Err(())` for
/// "not for the direct way" (the caller hands every byte to hyper).
fn classify(buf: &[u8]) -> Option<Result<Head, ()>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_DIRECT_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(_) => return Some(Err(())),
    };
    Some(upgrade_accept(&req).map(|accept| Head::Upgrade {
        accept,
        rest: buf[len..].to_vec(),
        forwarding: forwarding_headers(req.headers),
    }))
}

/// The `Sec-WebSocket-Accept` of a plain WebSocket upgrade of `/ws`, or `Err` for anything else.
fn upgrade_accept(req: &httparse::Request<'_, '_>) -> Result<String, ()> {
    let path = req.path.ok_or(())?;
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if req.method != Some("GET") || req.version != Some(1) || path != tim_protocol::WS_PATH {
        return Err(());
    }
    let first = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    // A body on the upgrade request, or a Host missing: leave such oddities to hyper.
    if first("content-length").is_some() || first("transfer-encoding").is_some() || first("host").is_none() {
        return Err(());
    }
    let connection = std::str::from_utf8(first("connection").ok_or(())?).map_err(|_| ())?;
    let upgrade = first("upgrade").ok_or(())?;
    let version = first("sec-websocket-version").ok_or(())?;
    let key = first("sec-websocket-key").ok_or(())?;
    if !connection.to_ascii_lowercase().contains("upgrade")
        || !upgrade.eq_ignore_ascii_case(b"websocket")
        || !version.eq_ignore_ascii_case(b"13")
    {
        return Err(());
    }
    Ok(tungstenite::handshake::derive_accept_key(key))
}

/// The `X-Forwarded-For` and `Forwarded` headers of a head, in order (none: no allocation).
fn forwarding_headers(headers: &[httparse::Header<'_>]) -> Vec<(&'static str, Vec<u8>)> {
    headers
        .iter()
        .filter_map(|h| {
            let name = if h.name.eq_ignore_ascii_case("x-forwarded-for") {
                "x-forwarded-for"
            } else if h.name.eq_ignore_ascii_case("forwarded") {
                "forwarded"
            } else {
                return None;
            };
            Some((name, h.value.to_vec()))
        })
        .collect()
}

/// The 101 answer of a direct upgrade (the headers axum sends).
pub fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: {accept}\r\n\r\n"
    )
}

/// A TCP stream with bytes already read from it put back in front (for hyper, after [`read_head`]).
#[derive(Debug)]
pub struct Prefixed {
    prefix: Vec<u8>,
    at: usize,
    inner: TcpStream,
}

impl Prefixed {
    /// `inner`, whose next bytes are `prefix`.
    pub fn new(prefix: Vec<u8>, inner: TcpStream) -> Prefixed {
        Prefixed { prefix, at: 0, inner }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &str =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
                           Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn accept_of(head: &str) -> Option<String> {
        match classify(head.as_bytes())? {
            Ok(Head::Upgrade { accept, .. }) => Some(accept),
            _ => Some(String::new()),
        }
    }

    #[test]
    fn a_plain_upgrade_is_answered_with_the_rfc_accept_key() {
        // RFC 6455 section 1.3's example key and answer.
        assert_eq!(accept_of(UPGRADE).as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        assert_eq!(
            accept_of(&UPGRADE.replace("/ws ", "/ws?x=1 ")).as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn bytes_after_the_head_are_kept_for_the_websocket() {
        let mut bytes = UPGRADE.as_bytes().to_vec();
        bytes.extend_from_slice(&[0x81, 0x80]);
        match classify(&bytes) {
            Some(Ok(Head::Upgrade { rest, .. })) => assert_eq!(rest, [0x81, 0x80]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_incomplete_head_waits() {
        assert!(classify(&UPGRADE.as_bytes()[..40]).is_none());
    }

    #[test]
    fn anything_else_goes_to_the_router() {
        for head in [
            UPGRADE.replace("GET", "POST"),
            UPGRADE.replace("/ws ", "/wss "),
            UPGRADE.replace("HTTP/1.1", "HTTP/1.0"),
            UPGRADE.replace("Upgrade: websocket", "Upgrade: h2c"),
            UPGRADE.replace("keep-alive, Upgrade", "keep-alive"),
            UPGRADE.replace("Version: 13", "Version: 8"),
            UPGRADE.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
            UPGRADE.replace("Host: 127.0.0.1\r\n", ""),
            UPGRADE.replace("\r\n\r\n", "\r\nContent-Length: 3\r\n\r\n"),
            "GET /v4/im_open_login_svc/kick HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "\u{1}\u{2} not http\r\n\r\n".to_string(),
        ] {
            assert_eq!(accept_of(&head).as_deref(), Some(""), "{head:?}");
        }
    }
}
