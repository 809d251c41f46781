//! `cargo xtask test`: every test layer of the project, in one command.
//!
//! Layers, cheapest first: formatting and lints; the Rust tests of every crate (the sans-IO core with
//! simulated time, the protocol, UserSig against the official vectors and npm signer, the real server
//! process); the npm package build; the core's scenarios again on wasm32; the bindings under
//! wasm-bindgen-test in Node and headless Chromium;
//! the package's types (arethetypeswrong, publint, `tsc --strict` under three resolutions); the installed package in Node against a real server (samples,
//! multi-instance, errors, resilience); the simulated mini-program runtime; the bundler matrix (Vite,
//! webpack 5, esbuild, Rollup) in headless Chromium; the demo page in Chromium.

use std::path::Path;
use std::process::Command;

use crate::util::{self, cargo, root, Result};
use crate::{build, demo, install};

/// Runs every layer; stops at the first failure.
pub fn run(args: &[String]) -> Result {
    if !args.is_empty() {
        return Err("usage: cargo xtask test".into());
    }
    util::step("checking what the tests need");
    install::wasm_target()?;
    install::apt(&["chromium", "chromium-driver"])?;
    // The scale-out tests start real redis-server processes (one Redis, a 3-master cluster).
    install::apt(&["redis-server"])?;
    // tests/proxies.rs runs docs/scale-out.md's nginx and HAProxy blocks in front of real nodes.
    install::apt(&["nginx", "haproxy"])?;
    install::npm_tools()?;
    install::wasm_bindgen_cli()?;

    util::step("cargo fmt --check");
    util::run(cargo().args(["fmt", "--all", "--check"]))?;
    util::step("cargo clippy --workspace --all-targets -- -D warnings");
    util::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    util::step("cargo test --workspace");
    util::run(cargo().args(["test", "--workspace"]))?;

    util::step("cargo build -p tim-server (for the package tests)");
    util::run(cargo().args(["build", "-p", "tim-server"]))?;
    let server_bin = build::target_dir().join("debug/tim-server");

    build::run(&[])?;

    wasm_bindgen_tests()?;

    node_tests(
        "the package's types (arethetypeswrong, publint, tsc --strict under bundler/node16 ESM/CJS)",
        &["tests/ts/"],
        &server_bin,
    )?;
    node_tests(
        "the installed package against a real tim-server",
        &["tests/node/"],
        &server_bin,
    )?;
    node_tests(
        "the simulated mini-program runtime",
        &["tests/miniprogram/"],
        &server_bin,
    )?;
    node_tests(
        "the bundler matrix (Vite, webpack 5, esbuild, Rollup) in headless Chromium",
        &["tests/bundlers/"],
        &server_bin,
    )?;

    demo::browser_test()
}

/// The core's scenario tests again on wasm32 (in Node), where the machine really runs; then the bindings'
/// `wasm_bindgen_test`s, once in Node and once in headless Chromium.
fn wasm_bindgen_tests() -> Result {
    util::step("tim-core's tests on wasm32 (wasm-bindgen-test in Node)");
    util::run(
        cargo()
            .args(["test", "--target", "wasm32-unknown-unknown", "-p", "tim-core"])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner"),
    )?;
    for (where_, browser) in [("Node", false), ("headless Chromium", true)] {
        util::step(&format!("wasm-bindgen-test in {where_}"));
        let mut cmd = cargo();
        cmd.args(["test", "--target", "wasm32-unknown-unknown", "-p", "tim-wasm", "--lib"])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner");
        if browser {
            cmd.env("WASM_BINDGEN_USE_BROWSER", "1")
                .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        }
        util::run(&mut cmd)?;
    }
    Ok(())
}

/// `node --test` over the `*.test.mjs` files of some folders, with the server binary the tests start.
fn node_tests(what: &str, folders: &[&str], server_bin: &Path) -> Result {
    let mut files = Vec::new();
    for folder in folders {
        for entry in std::fs::read_dir(root().join(folder))? {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(".test.mjs") {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.test.mjs files in {folders:?}").into());
    }
    util::step(&format!("node --test: {what}"));
    util::run(
        Command::new("node")
            .args(["--test", "--test-concurrency=1"])
            .args(&files)
            .env("TIM_SERVER_BIN", server_bin)
            .current_dir(root()),
    )
}
