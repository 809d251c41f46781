//! `tim-core`: the client session of the tim-wasm SDK as a sans-IO state machine.
//!
//! No wasm-bindgen, no clock, no I/O, no randomness: the driver feeds [`Input`]s with `now`, drains
//! [`Output`]s (frames to send, sockets to open or close, events, request completions) and arms one
//! timer for [`Session::poll_timeout`]. This is what makes every transition testable natively with
//! simulated time. [`ErrorCode`] (the one error table, shared with the server) is re-exported from
//! `tim-protocol` because the server must not depend on this crate.

mod io;

pub use io::{
    Command, Event, Handle, Input, Message, Millis, NetState, NetworkHint, Output, Response, SocketId,
    TimError,
};
pub use tim_protocol::{ErrorCode, KickType, Platform};
