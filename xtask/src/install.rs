//! Installs the tools the build and the tests need, when missing, and says what it installs.
//!
//! See `../shared/reference/toolchain.md` for why these are done this way (no `--locked` for
//! wasm-bindgen-cli, npm's binaryen instead of Debian's, Debian's Chromium instead of a download).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

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

/// The `wasm-bindgen` crate version that `Cargo.lock` resolved, read from `cargo metadata`.
pub fn locked_wasm_bindgen_version() -> Result<String> {
    wasm_bindgen_version(&util::cargo_metadata(true)?)
}

/// The one `wasm-bindgen` version among the resolved packages of `cargo metadata --format-version 1`.
fn wasm_bindgen_version(metadata: &Value) -> Result<String> {
    let mut versions: Vec<&str> = metadata["packages"]
        .as_array()
        .ok_or("`cargo metadata` lists no packages")?
        .iter()
        .filter(|p| p["name"] == "wasm-bindgen")
        .filter_map(|p| p["version"].as_str())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    match versions.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err("Cargo.lock resolves no wasm-bindgen crate".into()),
        many => {
            Err(format!("Cargo.lock resolves several wasm-bindgen versions {many:?}; the CLI can match one").into())
        }
    }
}

/// `wasm-bindgen-cli` at exactly the version locked in `Cargo.lock` (CLI and crate must match).
pub fn wasm_bindgen_cli() -> Result {
    let version = locked_wasm_bindgen_version()?;
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

/// The npm tool set of `tests/package.json` (binaryen, esbuild, acorn, playwright-core, typescript, ws,
/// tls-sig-api-v2).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_wasm_bindgen_version_comes_from_the_resolved_packages() {
        let package = |name: &str, version: &str| json!({"name": name, "version": version});
        let metadata = |packages: Vec<Value>| json!({ "packages": packages });
        let one = metadata(vec![
            package("wasm-bindgen-backend", "0.2.130"),
            package("wasm-bindgen", "0.2.130"),
            package("js-sys", "0.3.107"),
        ]);
        assert_eq!(wasm_bindgen_version(&one).unwrap(), "0.2.130");
        let none = metadata(vec![package("js-sys", "0.3.107")]);
        assert!(wasm_bindgen_version(&none)
            .unwrap_err()
            .to_string()
            .contains("no wasm-bindgen"));
        let two = metadata(vec![
            package("wasm-bindgen", "0.2.130"),
            package("wasm-bindgen", "0.2.99"),
        ]);
        assert!(wasm_bindgen_version(&two).unwrap_err().to_string().contains("several"));
    }

    #[test]
    fn the_workspace_resolves_the_pinned_wasm_bindgen() {
        // The root Cargo.toml pins `wasm-bindgen = "=X"`; cargo metadata must report exactly X.
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        let pinned = manifest
            .lines()
            .find_map(|l| l.strip_prefix("wasm-bindgen = \"="))
            .and_then(|rest| rest.split('"').next())
            .expect("Cargo.toml pins wasm-bindgen");
        assert_eq!(locked_wasm_bindgen_version().unwrap(), pinned);
    }
}
