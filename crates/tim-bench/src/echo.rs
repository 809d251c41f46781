//! The floor server: a minimal WebSocket echo server on the same stack as `tim-server` (tokio +
//! tungstenite), with no protocol, no registry and no UserSig. Whatever the real server costs above this
//! is the price of its features.

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// The fair floor's WebSocket settings: the same as `tim-server`'s `/ws` (4 KiB read buffer, writes not
/// buffered, at most 64 KiB of unsent frames, messages up to the 1 MiB socket limit).
pub fn fair_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1024 * 1024))
        .max_frame_size(Some(1024 * 1024))
}

/// Accepts connections forever, echoing every text or binary message back on its connection.
/// `config` `None` is tungstenite's default (as `tim-server` uses through axum): 128 KiB read buffer.
pub async fn serve(listener: TcpListener, config: Option<WebSocketConfig>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo_connection(stream, config));
            }
            // Out of file descriptors and the like: back off briefly instead of spinning.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

async fn echo_connection(stream: TcpStream, config: Option<WebSocketConfig>) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, config).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(msg).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}
