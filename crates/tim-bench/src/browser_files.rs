//! Which files a browser loads from the npm package, and their gzip size: the one definition of the
//! "browser total" that `cargo xtask build` checks against `xtask/size-budget.txt` and `cargo xtask
//! bench` reports in `docs/benchmarks.md`.
//!
//! The files are the `browser` entry of `pkg/package.json`, the modules it imports by relative
//! specifier (followed recursively) and the `.wasm` files at the top of the package; each is
//! compressed with gzip at level 9 on its own (as a server sends each file), and the sizes summed.
//!
//! Std, `flate2` and `serde_json` only: xtask includes this file as a module of its own
//! (`#[path = ...]`), so that its build does not pull in the bench's dependencies.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The budget file, relative to the repository root: `browser_gzip_bytes = N` (`#` starts a comment).
pub const BUDGET_FILE: &str = "xtask/size-budget.txt";

/// The `browser_gzip_bytes = N` line of the budget file's `text`.
pub fn read_budget(text: &str) -> Result<u64, String> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(value) = line.strip_prefix("browser_gzip_bytes") {
            let value = value.trim_start().strip_prefix('=').unwrap_or("").trim();
            return value
                .parse()
                .map_err(|_| format!("{BUDGET_FILE}: `browser_gzip_bytes = N` needs a number, not {value:?}"));
        }
    }
    Err(format!("{BUDGET_FILE} has no `browser_gzip_bytes = N` line"))
}

/// The length of `bytes` compressed with gzip at level 9 (flate2; the header carries no name or time).
pub fn gzip_len(bytes: &[u8]) -> u64 {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    match gz.write_all(bytes).and_then(|()| gz.finish()) {
        Ok(out) => out.len() as u64,
        // Writing into a Vec cannot fail.
        Err(_) => 0,
    }
}

/// The gzip -9 length of the file at `path`.
pub fn gzip_file_len(path: &Path) -> Result<u64, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(gzip_len(&bytes))
}

/// The files a browser loads from the npm package in `pkg`, sorted: the browser entry, the modules it
/// imports (relative specifiers, followed recursively) and the top-level `.wasm` files.
pub fn browser_files(pkg: &Path) -> Result<Vec<PathBuf>, String> {
    let entry = browser_entry_of(pkg)?.ok_or_else(|| format!("{} names no browser entry", manifest_path(pkg)))?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut queue = vec![pkg.join(entry.trim_start_matches("./"))];
    while let Some(file) = queue.pop() {
        let file = file
            .canonicalize()
            .map_err(|e| format!("{} (loaded by the browser entry): {e}", file.display()))?;
        if files.contains(&file) {
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let dir = file.parent().unwrap_or(pkg).to_path_buf();
        queue.extend(relative_specifiers(&text).into_iter().map(|s| dir.join(s)));
        files.push(file);
    }
    let listing = std::fs::read_dir(pkg).map_err(|e| format!("cannot list {}: {e}", pkg.display()))?;
    for entry in listing {
        let path = entry.map_err(|e| format!("cannot list {}: {e}", pkg.display()))?.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// The browser entry named by `pkg/package.json` (see [`browser_entry`]); `Ok(None)` when it names none.
pub fn browser_entry_of(pkg: &Path) -> Result<Option<String>, String> {
    let text =
        std::fs::read_to_string(pkg.join("package.json")).map_err(|e| format!("no {}: {e}", manifest_path(pkg)))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", manifest_path(pkg)))?;
    Ok(browser_entry(&manifest))
}

fn manifest_path(pkg: &Path) -> String {
    pkg.join("package.json").display().to_string()
}

/// `exports["."]`'s `browser`, `import`, `module` or `default` condition (nested conditions
/// followed), else the `browser`, `module` or `main` field.
pub fn browser_entry(manifest: &serde_json::Value) -> Option<String> {
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

/// Relative module specifiers in JS source, minified or not: `from './x.js'`, `from"./x.mjs"`,
/// `import './x.js'`, `import('./x.js')`.
pub fn relative_specifiers(js: &str) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_line_reads() {
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
        let nested = serde_json::json!({
            "main": "./node/index.cjs",
            "exports": {".": {"node": {"import": "./node/index.mjs"}, "browser": "./web/tim.js"}}
        });
        assert_eq!(browser_entry(&nested).as_deref(), Some("./web/tim.js"));
        assert_eq!(
            browser_entry(&serde_json::json!({"module": "tim.js"})).as_deref(),
            Some("tim.js")
        );
        assert_eq!(browser_entry(&serde_json::json!({"types": "x.d.ts"})), None);
        let js = "import init from './tim_wasm.js';\nexport * from \"./b.mjs\";\nconst x = import('./c.js');\
                  import{a}from\"./d.mjs\";import 'pkg';from('x')";
        assert_eq!(
            relative_specifiers(js),
            vec!["./tim_wasm.js", "./b.mjs", "./d.mjs", "./c.js"]
        );
        assert_eq!(relative_specifiers("import*as g from\"./g.mjs\";"), vec!["./g.mjs"]);
    }

    #[test]
    fn the_browser_files_of_a_package() {
        let dir = std::env::temp_dir().join(format!("browser-files-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("package.json"),
            r#"{"exports":{".":{"browser":"./index.mjs"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("index.mjs"), "import g from './sub/glue.mjs';").unwrap();
        std::fs::write(dir.join("sub/glue.mjs"), "import x from '../index.mjs';").unwrap();
        std::fs::write(dir.join("node.cjs"), "not loaded by a browser").unwrap();
        std::fs::write(dir.join("a.wasm"), [0, 97, 115, 109]).unwrap();
        let names: Vec<String> = browser_files(&dir)
            .unwrap()
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.wasm", "index.mjs", "glue.mjs"]);
        std::fs::write(dir.join("index.mjs"), "import g from './missing.mjs';").unwrap();
        assert!(browser_files(&dir).unwrap_err().contains("missing.mjs"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gzip_lengths_are_gzip_level_9() {
        let text = "hello tim ".repeat(1000);
        let len = gzip_len(text.as_bytes());
        assert!(len > 18 && len < 200, "{len}");
        let mut back = String::new();
        let mut gz = Vec::new();
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::best());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back).unwrap();
        assert_eq!((gz.len() as u64, back), (len, text));
    }
}
