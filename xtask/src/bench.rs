//! `cargo xtask bench [--quick]`: builds what the bench measures (the npm package, `tim-server`, the
//! `tim-bench` load generator and echo floor, all release) and runs `tim-bench`, which prints the table
//! and writes `docs/benchmarks.md`. A part that cannot be built makes its rows say `skipped: <why>`
//! instead of stopping the run. `--quick` ends in under two minutes once things are built.

use std::path::PathBuf;
use std::process::Command;

use crate::install;
use crate::util::{self, cargo, root, Result};

pub fn run(args: &[String]) -> Result {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err("usage: cargo xtask bench [--quick]".into()),
    };
    if let Err(e) = install::npm_tools() {
        eprintln!("xtask bench: the npm tool set is missing, Node rows will be skipped: {e}");
    }
    if let Err(e) = install::apt(&["redis-server"]) {
        eprintln!("xtask bench: no redis-server, the scale-out rows will be skipped: {e}");
    }
    if pkg_is_fresh() {
        util::step("pkg/ is newer than its sources: measuring it as it is");
    } else {
        util::step("building the npm package (pkg/)");
        if let Err(e) = crate::build::run(&[]) {
            eprintln!("xtask bench: no fresh pkg/, rows that need it use what is there or are skipped: {e}");
        }
    }
    util::step("building tim-bench and tim-server (release)");
    util::run(cargo().args(["build", "--release", "-p", "tim-bench"]))?;
    if let Err(e) = util::run(cargo().args(["build", "--release", "-p", "tim-server"])) {
        eprintln!("xtask bench: tim-server does not build, its rows will be skipped: {e}");
    }
    util::step(if quick {
        "running the quick bench"
    } else {
        "running the bench"
    });
    let mut bench = Command::new(release_dir().join("tim-bench"));
    bench.arg("--root").arg(root());
    if quick {
        bench.arg("--quick");
    }
    util::run(&mut bench)
}

/// True when `pkg/package.json` is newer than every source the package is built from (so that the bench
/// does not rebuild, and rewrite, a `pkg/` that other commands may be using).
fn pkg_is_fresh() -> bool {
    let Ok(built) = std::fs::metadata(root().join("pkg/package.json")).and_then(|m| m.modified()) else {
        return false;
    };
    let sources = [
        "src",
        "pkg-template",
        "crates/tim-core/src",
        "crates/tim-protocol/src",
        "Cargo.toml",
        "Cargo.lock",
    ];
    sources
        .iter()
        .all(|s| newest(&root().join(s)).is_some_and(|t| t <= built))
}

/// The newest modification time of a file or of the files under a folder.
fn newest(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut latest = meta.modified().ok()?;
    for entry in std::fs::read_dir(path).ok()?.flatten() {
        latest = latest.max(newest(&entry.path())?);
    }
    Some(latest)
}

/// `target/release` of the workspace, honouring `CARGO_TARGET_DIR`.
fn release_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    };
    target.join("release")
}
