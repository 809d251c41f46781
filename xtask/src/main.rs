//! `xtask`: the project's automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask test`: installs what the tests need (saying what) and runs every test layer.
//! - `cargo xtask demo`: builds the package, starts `tim-server --dev`, serves `www-demo/`.
//! - `cargo xtask build`: builds the npm package into `pkg/`.
//! - `cargo xtask bench [--quick]`: measures size, latency and capacity beside their references.

mod bench;
// The browser files and their gzip size, as `cargo xtask bench` measures them (one definition).
#[path = "../../crates/tim-bench/src/browser_files.rs"]
mod browser_files;
mod build;
mod demo;
mod glue_min;
mod import_names;
mod install;
mod size_budget;
mod test;
mod util;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[] as &[String]),
    };
    let result = match command {
        "test" => test::run(rest),
        "build" => build::run(rest),
        "bench" => bench::run(rest),
        "demo" => demo::run(rest),
        "help" | "--help" | "-h" => {
            println!("usage: cargo xtask <test|demo|build|bench>");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`; try `cargo xtask help`").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
