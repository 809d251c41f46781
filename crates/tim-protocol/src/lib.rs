//! `tim-protocol`: the wire protocol spoken between the `tim-wasm` SDK and `tim-server`.
//!
//! One crate, shared by both sides, so that a frame means the same thing at each end. The server depends
//! on this crate only (never on the client state machine).
//!
//! - Frames are JSON text messages over one WebSocket, tagged by `"type"`: [`ClientFrame`] (SDK → server)
//!   and [`ServerFrame`] (server → SDK). Requests carry a [`RequestId`] that their reply echoes.
//! - The frames and their encoding are written once, in one schema (`frames.rs`, read by the `codec`
//!   module's macro; its docs say how to add a frame or a field), over a small JSON reader and
//!   writer of this crate: the SDK's wasm and the server run the same code, without serde.
//! - [`PROTOCOL_VERSION`] travels in the login frame; a server refuses versions it does not speak.
//! - Sizes are bounded ([`limits`]); decoding is total: any input gives a frame or a typed [`DecodeError`].
//! - [`ErrorCode`] is the one table of every error code the SDK and the server can produce.
//! - [`close`] lists the WebSocket close codes the server uses, and which of them are terminal.

pub mod close;
mod codec;
mod codes;
mod frames;
pub mod hex;
mod json;
mod kick;
pub mod limits;
#[doc(hidden)]
pub mod samples;

pub use codec::{request_id_of, DecodeError};
pub use codes::{ErrorCode, SERVER_MESSAGE_IN_FRAME};
pub use frames::{ClientFrame, Platform, RequestId, ServerFrame};
pub use json::{decimal, MAX_WIRE_INTEGER};
pub use kick::KickType;

/// Version of this wire protocol. Bumped on any incompatible change to the frames.
pub const PROTOCOL_VERSION: u32 = 1;

/// Path of the WebSocket endpoint on the server (`ws://HOST:PORT/ws`).
pub const WS_PATH: &str = "/ws";
