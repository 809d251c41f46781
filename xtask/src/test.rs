//! `cargo xtask test`: every test layer of the project, in one command.

use crate::install;
use crate::util::{self, cargo, Result};

/// Runs every layer; stops at the first failure.
pub fn run(_args: &[String]) -> Result {
    util::step("checking what the tests need");
    install::wasm_target()?;
    install::apt(&["chromium", "chromium-driver"])?;
    install::npm_tools()?;
    if install::locked_wasm_bindgen_version().is_some() {
        install::wasm_bindgen_cli()?;
    }

    util::step("cargo fmt --check");
    util::run(cargo().args(["fmt", "--all", "--check"]))?;
    util::step("cargo clippy --workspace --all-targets -- -D warnings");
    util::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    util::step("cargo test --workspace");
    util::run(cargo().args(["test", "--workspace"]))?;
    Ok(())
}
