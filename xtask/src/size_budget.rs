//! The size budget: `cargo xtask build` (and so `cargo xtask test`) fails when the browser total passes
//! the budget kept in `xtask/size-budget.txt`.
//!
//! The browser total is what `cargo xtask bench` reports as the SDK's size, measured by the same code
//! (`crates/tim-bench/src/browser_files.rs`): the files a browser loads from `pkg/`, each compressed
//! with gzip -9 on its own (as a server sends each file), summed.

use std::fs;
use std::path::Path;

use crate::browser_files::{self, BUDGET_FILE};
use crate::util::{root, Result};

/// Prints the browser total beside the budget; an error when it is over.
pub fn check(pkg: &Path) -> Result {
    let budget = browser_files::read_budget(&fs::read_to_string(root().join(BUDGET_FILE))?)?;
    let mut total = 0;
    let mut parts = Vec::new();
    for file in browser_files::browser_files(pkg)? {
        let gz = browser_files::gzip_file_len(&file)?;
        total += gz;
        let name = file.strip_prefix(pkg).unwrap_or(&file).display().to_string();
        parts.push(format!("{name} {gz}"));
    }
    println!(
        "browser total, gzip -9 each: {total} B ({}); budget {budget} B ({BUDGET_FILE})",
        parts.join(" + ")
    );
    if total > budget {
        return Err(format!(
            "the browser total is {total} B gzip -9, over the budget of {budget} B in {BUDGET_FILE} by {} B: \
             shrink the SDK (twiggy top/dominators on target/tim-wasm-bindgen/tim_wasm_bg.wasm shows \
             where the wasm's bytes go)",
            total - budget
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_file_of_the_repo_reads() {
        let text = fs::read_to_string(root().join(BUDGET_FILE)).unwrap();
        assert!(browser_files::read_budget(&text).unwrap() > 0);
    }
}
