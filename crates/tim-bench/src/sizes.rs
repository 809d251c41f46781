//! Transfer sizes of the files a browser loads: raw, gzip -9 and brotli (quality 11).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Sizes in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Uncompressed.
    pub raw: u64,
    /// gzip at level 9.
    pub gzip: u64,
    /// brotli at quality 11, window 22.
    pub brotli: u64,
}

impl std::ops::Add for Sizes {
    type Output = Sizes;
    fn add(self, o: Sizes) -> Sizes {
        Sizes {
            raw: self.raw + o.raw,
            gzip: self.gzip + o.gzip,
            brotli: self.brotli + o.brotli,
        }
    }
}

/// The sizes of `bytes`, each compressed on its own (as a server sends each file).
pub fn measure(bytes: &[u8]) -> Sizes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gzip = match gz.write_all(bytes).and_then(|()| gz.finish()) {
        Ok(out) => out.len() as u64,
        Err(_) => 0,
    };
    let mut br = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let brotli = match brotli::BrotliCompress(&mut &bytes[..], &mut br, &params) {
        Ok(_) => br.len() as u64,
        Err(_) => 0,
    };
    Sizes {
        raw: bytes.len() as u64,
        gzip,
        brotli,
    }
}

/// The sum of the sizes of `files`.
pub fn measure_files(files: &[PathBuf]) -> Result<Sizes, String> {
    let mut total = Sizes::default();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        total = total + measure(&bytes);
    }
    Ok(total)
}

/// The files a browser loads from the npm package in `pkg`: the browser entry of `package.json`, the JS
/// modules it imports (relative specifiers, followed recursively), and every `.wasm` of the package.
pub fn browser_files(pkg: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest = std::fs::read_to_string(pkg.join("package.json"))
        .map_err(|e| format!("no {}: {e}", pkg.join("package.json").display()))?;
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest).map_err(|e| format!("bad pkg/package.json: {e}"))?;
    let entry = browser_entry(&manifest).ok_or("pkg/package.json names no browser entry")?;
    let mut files = Vec::new();
    let mut queue = vec![pkg.join(entry.trim_start_matches("./"))];
    while let Some(file) = queue.pop() {
        let Ok(file) = file.canonicalize() else { continue };
        if files.contains(&file) || files.len() > 64 {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&file) {
            let dir = file.parent().unwrap_or(pkg).to_path_buf();
            queue.extend(relative_specifiers(&text).into_iter().map(|s| dir.join(s)));
        }
        files.push(file);
    }
    let wasm = std::fs::read_dir(pkg).map_err(|e| format!("cannot list {}: {e}", pkg.display()))?;
    for entry in wasm.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            if let Ok(path) = path.canonicalize() {
                if !files.contains(&path) {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// `exports["."]` browser/import/default condition (nested objects followed), else `browser`, `module`, `main`.
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

/// Relative module specifiers in JS source: `from './x.js'`, `import './x.js'`, `import('./x.js')`.
fn relative_specifiers(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['\'', '"'] {
        for prefix in ["from ", "import ", "import("] {
            let pattern = format!("{prefix}{quote}.");
            let mut rest = js;
            while let Some(at) = rest.find(&pattern) {
                let tail = &rest[at + pattern.len() - 1..];
                if let Some(end) = tail.find(quote) {
                    let spec = &tail[..end];
                    if spec.ends_with(".js") || spec.ends_with(".mjs") {
                        out.push(spec.to_string());
                    }
                }
                rest = &rest[at + pattern.len()..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_repetitive_text() {
        let s = measure("hello tim ".repeat(1000).as_bytes());
        assert_eq!(s.raw, 10_000);
        assert!(s.gzip < 200 && s.gzip > 0, "{s:?}");
        assert!(s.brotli < 200 && s.brotli > 0, "{s:?}");
    }

    #[test]
    fn finds_entry_and_imports() {
        let m: serde_json::Value = serde_json::from_str(
            r#"{"main":"n.cjs","exports":{".":{"node":"n.cjs","browser":"./web/index.js","types":"x.d.ts"}}}"#,
        )
        .unwrap();
        assert_eq!(browser_entry(&m).as_deref(), Some("./web/index.js"));
        let js = "import init from './tim_wasm.js';\nexport * from \"./b.mjs\";\nconst x = import('./c.js');";
        assert_eq!(relative_specifiers(js), vec!["./tim_wasm.js", "./c.js", "./b.mjs"]);
    }
}
