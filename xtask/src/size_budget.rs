//! The size budget: `cargo xtask build` (and so `cargo xtask test`) fails when the browser total passes
//! the budget kept in `xtask/size-budget.txt`.
//!
//! The browser total is what `cargo xtask bench` reports as the SDK's size: the files a browser loads
//! from `pkg/` (the `browser` entry of `package.json`, the modules it imports by relative specifier,
//! followed recursively, and the `.wasm` files at the top of the package), each compressed with
//! `gzip -9 -n` on its own (as a server sends each file), summed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{root, Result};

/// Where the budget lives, relative to the repository root.
const BUDGET_FILE: &str = "xtask/size-budget.txt";

/// Prints the browser total beside the budget; an error when it is over.
pub fn check(pkg: &Path) -> Result {
    let budget = read_budget(&fs::read_to_string(root().join(BUDGET_FILE))?)?;
    let mut total = 0;
    let mut parts = Vec::new();
    for file in browser_files(pkg)? {
        let gz = gzip_len(&file)?;
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

/// The `browser_gzip_bytes = N` line of the budget file (`#` starts a comment).
fn read_budget(text: &str) -> Result<usize> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(value) = line.strip_prefix("browser_gzip_bytes") {
            let value = value.trim_start().strip_prefix('=').unwrap_or("").trim();
            return value
                .parse()
                .map_err(|_| format!("{BUDGET_FILE}: `browser_gzip_bytes = N` needs a number, not {value:?}").into());
        }
    }
    Err(format!("{BUDGET_FILE} has no `browser_gzip_bytes = N` line").into())
}

/// The browser entry, the modules it imports (relative specifiers), and the top-level `.wasm` files.
fn browser_files(pkg: &Path) -> Result<Vec<PathBuf>> {
    let manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(pkg.join("package.json"))?)?;
    let entry = browser_entry(&manifest).ok_or("pkg/package.json names no browser entry")?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut queue = vec![pkg.join(entry.trim_start_matches("./"))];
    while let Some(file) = queue.pop() {
        let file = file.canonicalize()?;
        if files.contains(&file) {
            continue;
        }
        let dir = file.parent().unwrap_or(pkg).to_path_buf();
        queue.extend(
            relative_specifiers(&fs::read_to_string(&file)?)
                .into_iter()
                .map(|s| dir.join(s)),
        );
        files.push(file);
    }
    for entry in fs::read_dir(pkg)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path.canonicalize()?);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// `exports["."]`'s browser/import/default condition, else the `browser`, `module` or `main` field.
fn browser_entry(manifest: &serde_json::Value) -> Option<String> {
    fn pick(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(map) => ["browser", "import", "module", "default"]
                .iter()
                .find_map(|k| map.get(*k).and_then(pick)),
            _ => None,
        }
    }
    let exports = manifest.get("exports");
    exports.and_then(|e| e.get(".").or(Some(e))).and_then(pick).or_else(|| {
        ["browser", "module", "main"]
            .iter()
            .find_map(|k| manifest[*k].as_str().map(String::from))
    })
}

/// Relative module specifiers in JS source (minified or not): `from"./x.mjs"`, `import './x.js'`,
/// `import('./x.js')`.
fn relative_specifiers(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for keyword in ["from", "import", "import("] {
        for (at, _) in js.match_indices(keyword) {
            let tail = js[at + keyword.len()..].trim_start();
            let Some(quote) = tail.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            let spec = tail[1..].split(quote).next().unwrap_or("");
            if spec.starts_with('.')
                && (spec.ends_with(".js") || spec.ends_with(".mjs"))
                && !out.iter().any(|s| s == spec)
            {
                out.push(spec.to_string());
            }
        }
    }
    out
}

fn gzip_len(path: &Path) -> Result<usize> {
    // `-n`: no file name or time in the header, so the figure does not depend on the path.
    let out = Command::new("gzip").args(["-9", "-n", "-c"]).arg(path).output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()).into());
    }
    Ok(out.stdout.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_file_of_the_repo_reads() {
        let text = fs::read_to_string(root().join(BUDGET_FILE)).unwrap();
        assert!(read_budget(&text).unwrap() > 0);
        assert_eq!(read_budget("# c\nbrowser_gzip_bytes = 123 # note\n").unwrap(), 123);
        assert!(read_budget("browser_gzip_bytes = lots").is_err());
        assert!(read_budget("# nothing").is_err());
    }

    #[test]
    fn finds_entry_and_imports_in_plain_and_minified_code() {
        let m: serde_json::Value = serde_json::from_str(
            r#"{"main":"n.cjs","exports":{".":{"node":"n.cjs","browser":"./web/index.js","types":"x.d.ts"}}}"#,
        )
        .unwrap();
        assert_eq!(browser_entry(&m).as_deref(), Some("./web/index.js"));
        let js = "import init from './tim_wasm.js';\nexport * from \"./b.mjs\";\nconst x = import('./c.js');\
                  import{a}from\"./d.mjs\";import 'pkg';from('x')";
        assert_eq!(
            relative_specifiers(js),
            vec!["./tim_wasm.js", "./b.mjs", "./d.mjs", "./c.js"]
        );
    }

    #[test]
    fn the_browser_files_of_a_package() {
        let dir = std::env::temp_dir().join(format!("size-budget-test-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(
            dir.join("package.json"),
            r#"{"exports":{".":{"browser":"./index.mjs"}}}"#,
        )
        .unwrap();
        fs::write(dir.join("index.mjs"), "import g from './sub/glue.mjs';").unwrap();
        fs::write(dir.join("sub/glue.mjs"), "import x from '../index.mjs';").unwrap();
        fs::write(dir.join("node.cjs"), "not loaded by a browser").unwrap();
        fs::write(dir.join("a.wasm"), [0, 97, 115, 109]).unwrap();
        let names: Vec<String> = browser_files(&dir)
            .unwrap()
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.wasm", "index.mjs", "glue.mjs"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
