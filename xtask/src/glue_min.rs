//! The ES module glue a browser loads (`pkg/tim_wasm_bg.mjs`), with whitespace and comments removed and
//! syntax shortened by esbuild (`--minify-whitespace --minify-syntax`). Identifiers keep their names, so
//! stack traces and `TIM.name` read as before; wasm-bindgen's doc comments stay in `index.d.ts`.
//! About 40% of the glue's gzip size.

use std::path::Path;
use std::process::Command;

use crate::util::{self, Result};

/// Writes `glue` (wasm-bindgen's ES module glue file) minified to `out`.
pub fn write(node_modules: &Path, glue: &Path, out: &Path) -> Result {
    util::run(
        Command::new(node_modules.join(".bin/esbuild"))
            .arg(glue)
            .args([
                "--format=esm",
                "--minify-whitespace",
                "--minify-syntax",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", out.display())),
    )
}
