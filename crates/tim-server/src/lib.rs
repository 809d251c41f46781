//! `tim-server`: the self-hosted IM server that the tim-wasm SDK logs into.
//!
//! One WebSocket endpoint (`/ws`) speaking `tim-protocol`, UserSig (TLSSigAPIv2) login, the
//! "Online Web Instances" rule enforced atomically per account by a [`registry::Registry`], resume of a
//! dropped instance by id, kicks (multiple instances, UserSig expiry, REST API), a vendor-shaped admin API,
//! limits on everything a client controls, and Prometheus metrics. The binary is `tim-server`
//! (see `README.md` for the command line, config keys and admin API).

pub mod accept;
pub mod admin;
pub mod app_state;
pub mod auth;
pub mod callback;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conn_login;
pub mod connection;
pub mod dev;
pub mod effects;
pub mod hub;
pub mod kick_log;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod settle;
pub mod usersig_cmd;
pub mod ws_direct;
pub mod ws_socket;
