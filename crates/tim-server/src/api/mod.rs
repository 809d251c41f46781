//! HTTP APIs beside the WebSocket: the vendor-shaped admin REST API and the `--dev` routes.

pub mod admin;
pub mod dev;
