//! `tim-server`: the self-hosted IM server that the tim-wasm SDK logs into.
//!
//! One WebSocket endpoint (`/ws`) speaking `tim-protocol`, UserSig (TLSSigAPIv2) login, the
//! "Online Web Instances" rule enforced atomically per account by a [`registry::Registry`], resume of a
//! dropped instance by id, kicks (multiple instances, UserSig expiry, REST API), a vendor-shaped admin API,
//! limits on everything a client controls, and Prometheus metrics. The binary is `tim-server`
//! (see `README.md` for the command line, config keys and admin API).

//! The source is grouped by part:
//! - [`edge`]: the network edge: the accept loop (caps at accept, header deadline), the `/ws` upgrade;
//! - [`conn`]: one connection: its socket loop, its login and requests, the socket abstraction;
//! - [`registry`]: who is online: the account ledger (the multi-instance rule, pure) and the engines that
//!   store it (memory, Redis);
//! - [`effects`]: what the registry's answers cause: kicks, kick records, metrics, callbacks, and the
//!   operations retried until the registry confirms them;
//! - [`api`]: the admin REST API and the `--dev` routes;
//! - beside them: the shared state, config, CLI, clock, hub (this process's connections), limits,
//!   metrics and the server's assembly.

pub mod api;
pub mod app_state;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conn;
pub mod edge;
pub mod effects;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod usersig_cmd;
