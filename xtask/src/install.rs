//! Installs the tools the build and the tests need, when missing, and says what it installs.
//!
//! See `../shared/reference/toolchain.md` for why these are done this way (no `--locked` for
//! wasm-bindgen-cli, npm's binaryen instead of Debian's, Debian's Chromium instead of a download).

use std::path::PathBuf;
use std::process::Command;

use crate::util::{self, output, root, run, Result};

/// `rustup target add wasm32-unknown-unknown` unless installed.
pub fn wasm_target() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    util::step("installing the Rust target wasm32-unknown-unknown (rustup)");
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// The `wasm-bindgen` crate version that `Cargo.lock` resolved, if any.
pub fn locked_wasm_bindgen_version() -> Option<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next()?.trim().strip_prefix("version = \"")?.strip_suffix('"')?;
            return Some(version.to_owned());
        }
    }
    None
}

/// `wasm-bindgen-cli` at exactly the version locked in `Cargo.lock` (CLI and crate must match).
pub fn wasm_bindgen_cli() -> Result {
    let Some(version) = locked_wasm_bindgen_version() else {
        return Err("Cargo.lock has no wasm-bindgen entry".into());
    };
    let have = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) == Some(version.as_str()) {
        return Ok(());
    }
    util::step(&format!(
        "installing wasm-bindgen-cli {version} with cargo install (about 4 minutes; `--locked` fails here, see toolchain.md)"
    ));
    run(util::cargo().args(["install", "wasm-bindgen-cli", "--version", &version]))
}

/// Debian packages, when running as root and some are missing.
pub fn apt(packages: &[&str]) -> Result {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !util::is_root() {
        return Err(format!("missing Debian packages {missing:?}: install them with apt-get (needs root)").into());
    }
    util::step(&format!("installing Debian packages {missing:?} (apt-get)"));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing))
}

/// The npm tool set of `tests/package.json` (binaryen, playwright-core, typescript, ws, tls-sig-api-v2).
/// Returns the `node_modules` folder.
pub fn npm_tools() -> Result<PathBuf> {
    let dir = root().join("tests");
    let modules = dir.join("node_modules");
    let stamp = modules.join(".package-lock.json");
    let fresh = match (
        std::fs::metadata(&stamp),
        std::fs::metadata(dir.join("package-lock.json")),
    ) {
        (Ok(have), Ok(want)) => have.modified()? >= want.modified()?,
        _ => false,
    };
    if !fresh {
        util::step("installing the npm tool set of tests/package.json (npm ci)");
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir))?;
    }
    Ok(modules)
}
