//! The WebSocket a connection loop runs on, whichever way it was upgraded: directly by the accept loop
//! (a `tokio-tungstenite` stream over the TCP socket, [`crate::edge::ws_direct`]) or through the router (axum's
//! `WebSocket`, adapted here to the same tungstenite messages). Both get [`config`].

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::extract::ws as axum_ws;
use futures_util::{Sink, Stream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error, Message, Utf8Bytes};

/// Bytes of unsent frames tungstenite may hold for one connection (pongs to a ping flood pile up here
/// when the client does not read); beyond it a write fails and the connection is dropped.
pub const MAX_WRITE_BUFFER: usize = 64 * 1024;

/// Tungstenite's read buffer per connection. Frames are at most 16 KiB; the default 128 KiB buffer made
/// an idle instance cost ~140 KB (bench: ~14 KB with 4 KiB).
pub const READ_BUFFER: usize = 4096;

/// The settings of every `/ws` socket: frames up to `limit` (the socket limit) are read whole, so that
/// every oversized frame gets 80003 and 1009, and only beyond it does the WebSocket layer cut the
/// connection; writes are not buffered beyond [`MAX_WRITE_BUFFER`].
pub fn config(limit: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
}

/// What the connection loop needs of a socket: tungstenite messages in and out.
pub trait Socket:
    Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Send + Unpin + 'static
{
}

impl<T> Socket for T where
    T: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Send + Unpin + 'static
{
}

/// axum's `WebSocket` speaking tungstenite messages (the router's way in).
pub struct AxumSocket(pub axum_ws::WebSocket);

/// The tungstenite error inside axum's, or a stand-in that reads as a broken connection.
fn unwrap_error(e: axum::Error) -> Error {
    match e.into_inner().downcast::<Error>() {
        Ok(e) => *e,
        Err(other) => Error::Io(std::io::Error::other(other)),
    }
}

fn text_to_axum(text: Utf8Bytes) -> axum_ws::Utf8Bytes {
    axum_ws::Utf8Bytes::from(text.as_str())
}

fn text_from_axum(text: axum_ws::Utf8Bytes) -> Utf8Bytes {
    Utf8Bytes::from(text.as_str())
}

fn to_axum(msg: Message) -> Option<axum_ws::Message> {
    Some(match msg {
        Message::Text(t) => axum_ws::Message::Text(text_to_axum(t)),
        Message::Binary(b) => axum_ws::Message::Binary(b),
        Message::Ping(b) => axum_ws::Message::Ping(b),
        Message::Pong(b) => axum_ws::Message::Pong(b),
        Message::Close(frame) => axum_ws::Message::Close(frame.map(|f| axum_ws::CloseFrame {
            code: f.code.into(),
            reason: text_to_axum(f.reason),
        })),
        Message::Frame(_) => return None,
    })
}

fn from_axum(msg: axum_ws::Message) -> Message {
    match msg {
        axum_ws::Message::Text(t) => Message::Text(text_from_axum(t)),
        axum_ws::Message::Binary(b) => Message::Binary(b),
        axum_ws::Message::Ping(b) => Message::Ping(b),
        axum_ws::Message::Pong(b) => Message::Pong(b),
        axum_ws::Message::Close(frame) => Message::Close(frame.map(|f| CloseFrame {
            code: CloseCode::from(f.code),
            reason: text_from_axum(f.reason),
        })),
    }
}

impl Stream for AxumSocket {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = ready!(Pin::new(&mut self.0).poll_next(cx));
        Poll::Ready(next.map(|r| r.map(from_axum).map_err(unwrap_error)))
    }
}

impl Sink<Message> for AxumSocket {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.0).poll_ready(cx).map_err(unwrap_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        match to_axum(item) {
            Some(msg) => Pin::new(&mut self.0).start_send(msg).map_err(unwrap_error),
            None => Ok(()),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.0).poll_flush(cx).map_err(unwrap_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Pin::new(&mut self.0).poll_close(cx).map_err(unwrap_error)
    }
}
