//! One WebSocket connection: its socket loop (frames, timers, kicks), its login state and request
//! handlers, and the socket abstraction both upgrade paths share.

pub mod connection;
pub mod login;
pub mod ws_socket;
