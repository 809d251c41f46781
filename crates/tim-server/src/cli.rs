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
