//! The command line (a contract: tests and scripts outside the repo use these names).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// One week: the default lifetime of UserSigs this tool generates.
pub const DEFAULT_USERSIG_EXPIRE_SECS: u64 = 7 * 24 * 3600;

/// `tim-server`: the IM server the tim-wasm SDK logs into.
#[derive(Debug, Parser)]
#[command(name = "tim-server", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// UserSig tools; without a subcommand the server runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Run from this TOML config file.
    #[arg(long, value_name = "FILE", conflicts_with = "dev")]
    pub config: Option<PathBuf>,
    /// Run the embedded development setup: SDKAppID 1400000000, one instance per account, /dev/usersig.
    #[arg(long)]
    pub dev: bool,
    /// The secret key of the --dev app (generated and printed when absent).
    #[arg(long, value_name = "KEY", requires = "dev")]
    pub dev_key: Option<String>,
    /// HOST:PORT to listen on, overriding the config (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// HOST:PORT to serve /metrics on instead of the main address, overriding the config's
    /// `metrics_listen`.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_listen: Option<String>,
    /// --dev: the origin of the demo page allowed to call /dev/usersig and the admin API from a
    /// browser (repeatable; default http://127.0.0.1:8700 and http://localhost:8700).
    #[arg(long, value_name = "ORIGIN", requires = "dev")]
    pub dev_origin: Vec<String>,
    /// --dev: allow a --listen address that is not loopback (dev mode hands out UserSigs).
    #[arg(long, requires = "dev")]
    pub dev_allow_remote: bool,
}

/// The demo page origins `--dev` allows by default (`cargo xtask demo`'s default port).
pub const DEFAULT_DEV_ORIGINS: [&str; 2] = ["http://127.0.0.1:8700", "http://localhost:8700"];

/// True when `listen` (`HOST:PORT`) names a loopback address (`127.x`, `::1`, `localhost`).
pub fn is_loopback_listen(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    listen
        .rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate or verify a UserSig (TLSSigAPIv2).
    Usersig {
        #[command(subcommand)]
        action: UsersigAction,
    },
}

/// `tim-server usersig ...`.
#[derive(Debug, Subcommand)]
pub enum UsersigAction {
    /// Print a UserSig.
    Gen(GenArgs),
    /// Verify a UserSig: prints {"ok":true} (exit 0) or {"ok":false,"code":N,"error":"..."} (exit 1).
    Verify(VerifyArgs),
}

/// `usersig gen` arguments.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// SDKAppID.
    #[arg(long)]
    pub sdkappid: u64,
    /// The app's secret key.
    #[arg(long)]
    pub key: String,
    /// UserID the UserSig is for.
    #[arg(long)]
    pub user: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = DEFAULT_USERSIG_EXPIRE_SECS)]
    pub expire: u64,
}

/// `usersig verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// SDKAppID.
    #[arg(long)]
    pub sdkappid: u64,
    /// The app's secret key.
    #[arg(long)]
    pub key: String,
    /// UserID the UserSig should be for.
    #[arg(long)]
    pub user: String,
    /// The UserSig.
    #[arg(long)]
    pub sig: String,
    /// Verify as of this Unix time (seconds) instead of now.
    #[arg(long, value_name = "UNIX")]
    pub now: Option<u64>,
}
