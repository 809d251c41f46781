//! The `tim-server` binary: parses the command line and runs the server or a UserSig tool.

use clap::Parser;
use tim_server::cli::{Cli, Command};
use tim_server::config::Config;
use tim_server::server::{self, DevSetup};
use tim_server::usersig_cmd;

fn main() {
    let cli = Cli::parse();
    if let Some(Command::Usersig { action }) = &cli.command {
        std::process::exit(usersig_cmd::run(action));
    }
    let (config, dev) = if cli.dev {
        let (key, key_generated) = match cli.dev_key.clone() {
            Some(key) if !key.trim().is_empty() => (key, false),
            Some(_) => fail(2, "--dev-key: must not be empty"),
            None => (random_key(), true),
        };
        let listen = cli.listen.as_deref().unwrap_or(tim_server::config::DEFAULT_LISTEN);
        if !cli.dev_allow_remote && !tim_server::cli::is_loopback_listen(listen) {
            fail(
                2,
                &format!(
                    "--dev hands out UserSigs: refusing to listen on non-loopback {listen} without --dev-allow-remote"
                ),
            );
        }
        let origins = if cli.dev_origin.is_empty() {
            tim_server::cli::DEFAULT_DEV_ORIGINS
                .iter()
                .map(|o| o.to_string())
                .collect()
        } else {
            cli.dev_origin.clone()
        };
        let setup = DevSetup {
            key: key.clone(),
            key_generated,
            origins,
        };
        (Config::dev(key), Some(setup))
    } else if let Some(path) = &cli.config {
        match Config::load(path) {
            Ok(config) => (config, None),
            Err(e) => fail(2, &format!("bad config {}: {e}", path.display())),
        }
    } else {
        fail(
            2,
            "nothing to do: pass --config FILE, --dev, or a subcommand (see --help)",
        )
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => fail(1, &format!("cannot start the runtime: {e}")),
    };
    let mut config = config;
    if let Some(addr) = &cli.metrics_listen {
        config.metrics_listen = Some(addr.clone());
    }
    let result = runtime.block_on(server::run(config, cli.listen.clone(), dev));
    // Connections still open after the shutdown grace are dropped with the runtime, without waiting.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Err(e) = result {
        fail(1, &e.to_string());
    }
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("tim-server: {message}");
    std::process::exit(code)
}

/// 32 random bytes as 64 hex digits, the shape of the vendor's secret keys.
fn random_key() -> String {
    tim_protocol::hex::lower(&rand::random::<[u8; 32]>())
}
