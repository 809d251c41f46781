//! `tim-core`: the client session of the tim-wasm SDK as a sans-IO state machine.
//!
//! No wasm-bindgen, no clock, no I/O, no randomness: the driver feeds [`Input`]s with `now`, drains
//! [`Output`]s (frames to send, sockets to open or close, events, request completions) and arms one
//! timer for [`Session::poll_timeout`]. This is what makes every transition testable natively with
//! simulated time. [`ErrorCode`] (the one error table, shared with the server) is re-exported from
//! `tim-protocol` because the server must not depend on this crate.
//!
//! ```
//! use tim_core::{Command, Config, Input, Output, Session};
//!
//! let mut session = Session::new(Config::new(1400000000, "ws://127.0.0.1:8080/ws"));
//! let login = Command::Login { user_id: "alice".into(), user_sig: "sig".into() };
//! session.handle_input(0, Input::Command { handle: 1, command: login });
//! assert!(matches!(session.poll_output(), Some(Output::OpenSocket { .. })));
//! ```
//!
//! The behaviour (ordering guarantees, reconnect, heartbeat, and each decision where the official SDK
//! leaves room) is documented on [`Session`].

#![warn(missing_docs)]

mod backoff;
mod config;
mod heartbeat;
mod io;
mod message;
mod requests;
mod rng;
mod server_url;
mod session;
mod state;

pub use backoff::ReconnectPolicy;
pub use config::{Config, MAX_HELLO_INTERVAL_MS, MAX_SERVER_URLS, MIN_HELLO_INTERVAL_MS};
pub use io::{Command, Event, Handle, Input, Millis, NetState, NetworkHint, Output, Response, SocketId, TimError};
pub use message::{Flow, Message, MessageStatus, CONV_C2C, MSG_TEXT};
pub use server_url::{choose_server_url, ServerUrlChoice};
pub use session::Session;
pub use state::SessionState;
pub use tim_protocol::{ErrorCode, KickType, Platform};
