//! The ES module glue a browser loads (`pkg/tim_wasm_bg.mjs`) and the browser entry, minified by
//! esbuild (`--minify`: whitespace, syntax and local identifiers; exported names stay). The class
//! `TIM`'s binding is renamed like any other, so the glue sets `TIM.name` back to `"TIM"` (its one
//! exported class); wasm-bindgen's doc comments stay in `index.d.ts`. About 45% of the glue's gzip size.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::{self, Result};

/// Writes `glue` (wasm-bindgen's ES module glue file, or a loader) minified to `out`.
pub fn write(node_modules: &Path, glue: &Path, out: &Path) -> Result {
    util::run(
        Command::new(node_modules.join(".bin/esbuild"))
            .arg(glue)
            // `--bundle` inlines the glue's JS snippets (`src/js/`); a loader's import of the glue stays.
            .args([
                "--bundle",
                &format!("--external:./{}_bg.mjs", crate::build::STEM),
                "--format=esm",
                "--minify",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", out.display())),
    )?;
    let js = fs::read_to_string(out)?;
    if let Some(class) = renamed_class(&js, "TIM") {
        fs::write(
            out,
            js + &format!("Object.defineProperty({class},\"name\",{{value:\"TIM\"}});\n"),
        )?;
    }
    Ok(())
}

/// The local name esbuild gave the class exported as `name` (`class b{...}` ... `export{b as TIM}`),
/// when it renamed it.
fn renamed_class(js: &str, name: &str) -> Option<String> {
    let exported = format!(" as {name}");
    js.match_indices(&exported).find_map(|(at, _)| {
        let before = &js[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .map_or(0, |i| i + 1);
        let local = &before[start..];
        let after = js[at + exported.len()..].chars().next();
        let whole = after.is_some_and(|c| c == ',' || c == '}');
        (whole && !local.is_empty() && js.contains(&format!("class {local}{{"))).then(|| local.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_renamed_class_only() {
        let js = "class b{login(){}}const c=b;export{c as TIMX,b as TIM,x as default};";
        assert_eq!(renamed_class(js, "TIM").as_deref(), Some("b"));
        assert_eq!(
            renamed_class("const o=g.TIM;export{o as TIM,o as default};", "TIM"),
            None
        );
        assert_eq!(renamed_class("class TIM{}export{TIM};", "TIM"), None);
    }
}
