//! `tim-bench`: the benchmark kit behind `cargo xtask bench`: a Rust load generator for `tim-server`, a
//! minimal raw WebSocket echo server as the floor, and the driver that measures every figure beside its
//! reference in the same run and writes `docs/benchmarks.md`.
//!
//! No figure is a pass/fail test: the bench reports. All traffic stays on 127.0.0.0/8, every loop is bounded
//! by a count or a deadline.
//!
//! - [`load`]: WebSocket clients bound to chosen loopback source addresses; login cycles and idle holds.
//! - [`echo`]: the floor server (tokio + tungstenite, like the real server, with no protocol at all).
//! - [`sizes`], [`usersig_rate`], [`node`], [`vendor`]: the other rows.
//! - [`report`]: the table and the results file.
//! - [`scale_out`]: three nodes on a real `redis-server` beside one memory-engine node.

pub mod attack;
pub mod browser_files;
pub mod driver;
pub mod echo;
pub mod holder;
pub mod load;
pub mod node;
pub mod proc_info;
pub mod report;
pub mod scale_out;
pub mod servers;
pub mod sizes;
pub mod stats;
pub mod usersig_rate;
pub mod vendor;
