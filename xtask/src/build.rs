//! `cargo xtask build`: the npm package `tim-wasm` in `pkg/`.
//!
//! 1. `cargo build --target wasm32-unknown-unknown --profile wasm-release -p tim-wasm` (opt-level z,
//!    LTO, one codegen unit, panic abort);
//! 2. `wasm-bindgen --target bundler`: we keep its glue (`tim_wasm_bg.js`) and discard its loader; the
//!    package ships its own loaders, one per runtime, which instantiate the wasm with the glue as the
//!    import object (`{"./tim_wasm_bg.js": glue}`), then call `__wbg_set_wasm` and `__wbindgen_start`;
//! 3. `wasm-opt -Oz` from the npm package `binaryen` (Debian's cannot read what Rust 1.95 emits);
//! 4. the glue twice: as ES module (`tim_wasm_bg.mjs`) and converted to CommonJS (`tim_wasm_glue.cjs`,
//!    which adds `__wbg_get_imports()` and `__wbg_finish_init(exports)` so that any loader, e.g. a
//!    mini-program's `WXWebAssembly.instantiate(path, imports)`, can start the module);
//! 5. `pkg-template/` copied over (loaders, `package.json`, `index.d.ts`, README), plus the wasm and the
//!    CommonJS glue inside `pkg/miniprogram/` when the template has that folder;
//! 6. checks (the wasm imports only from the glue, no `env` imports) and a size table (raw and gzip -9).
//!
//! `cargo xtask build --test` runs the SDK's test layers ([`test_layers`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install;
use crate::util::{self, cargo, root, Result};

/// The wasm-bindgen output name; the glue's import module is `./<STEM>_bg.js`.
const STEM: &str = "tim_wasm";

/// `cargo xtask build` builds `pkg/`; `cargo xtask build --test` also runs the SDK's test layers
/// ([`test_layers`], which `cargo xtask test` calls too).
pub fn run(args: &[String]) -> Result {
    match args {
        [] => {}
        [flag] if flag == "--test" => return test_layers(),
        _ => return Err("usage: cargo xtask build [--test]".into()),
    }
    install::wasm_target()?;
    install::wasm_bindgen_cli()?;
    let node_modules = install::npm_tools()?;

    util::step("cargo build --target wasm32-unknown-unknown --profile wasm-release -p tim-wasm");
    util::run(cargo().args([
        "build",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
        "-p",
        "tim-wasm",
    ]))?;
    let raw_wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/tim_wasm.wasm");

    let bindgen_dir = target_dir().join("tim-wasm-bindgen");
    recreate(&bindgen_dir)?;
    util::step("wasm-bindgen --target bundler");
    util::run(
        Command::new("wasm-bindgen")
            .args([
                "--target",
                "bundler",
                "--no-typescript",
                "--out-name",
                STEM,
                "--out-dir",
            ])
            .arg(&bindgen_dir)
            .arg(&raw_wasm),
    )?;

    let pkg = root().join("pkg");
    recreate(&pkg)?;
    util::step("wasm-opt -Oz (npm binaryen)");
    let wasm = pkg.join(format!("{STEM}_bg.wasm"));
    util::run(
        Command::new(node_modules.join(".bin/wasm-opt"))
            .arg("-Oz")
            // The features rustc 1.95 enables by default for wasm32-unknown-unknown.
            .args([
                "--enable-bulk-memory",
                "--enable-bulk-memory-opt",
                "--enable-nontrapping-float-to-int",
                "--enable-sign-ext",
                "--enable-mutable-globals",
                "--enable-reference-types",
                "--enable-multivalue",
            ])
            .arg(bindgen_dir.join(format!("{STEM}_bg.wasm")))
            .arg("-o")
            .arg(&wasm),
    )?;

    util::step("assembling pkg/");
    let esm_glue = fs::read_to_string(bindgen_dir.join(format!("{STEM}_bg.js")))?;
    fs::write(pkg.join(format!("{STEM}_bg.mjs")), &esm_glue)?;
    let cjs_glue = glue_to_commonjs(&esm_glue)?;
    fs::write(pkg.join(format!("{STEM}_glue.cjs")), &cjs_glue)?;
    copy_dir(&root().join("pkg-template"), &pkg)?;
    let miniprogram = pkg.join("miniprogram");
    if miniprogram.is_dir() {
        fs::write(miniprogram.join(format!("{STEM}_glue.js")), &cjs_glue)?;
        fs::copy(&wasm, miniprogram.join(format!("{STEM}_bg.wasm")))?;
    }
    set_version(&pkg.join("package.json"))?;
    check_imports(&wasm)?;

    util::step("package sizes (bytes)");
    print_sizes(&pkg)?;
    println!("\npkg/ is ready: `npm pack pkg/` makes the tarball, `npm install ./pkg` uses it");
    Ok(())
}

/// The cargo target folder, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root().join(dir),
        None => root().join("target"),
    }
}

fn recreate(dir: &Path) -> Result {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// Puts the workspace version into `package.json` (the template says `0.0.0-template`).
fn set_version(package_json: &Path) -> Result {
    let text = fs::read_to_string(package_json)?;
    let version = env!("CARGO_PKG_VERSION");
    fs::write(package_json, text.replace("0.0.0-template", version))?;
    Ok(())
}

/// Converts wasm-bindgen's bundler glue (an ES module of `export function`/`export class`/`export
/// const` items and one `__wbg_set_wasm`) into CommonJS, and adds the two functions a custom loader
/// needs. Fails on any ES module syntax it does not know, so a new wasm-bindgen cannot slip by.
pub fn glue_to_commonjs(esm: &str) -> Result<String> {
    let mut names = Vec::new();
    let mut body = String::new();
    for line in esm.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("import ") || trimmed.starts_with("export {") || trimmed.starts_with("export *") {
            return Err(format!("glue_to_commonjs: unsupported module syntax: {line}").into());
        }
        let rest = match line.strip_prefix("export ") {
            Some(rest) => rest,
            None => {
                body.push_str(line);
                body.push('\n');
                continue;
            }
        };
        let name = ["function ", "class ", "const ", "let "]
            .iter()
            .find_map(|kw| rest.strip_prefix(kw))
            .map(|tail| {
                tail.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("glue_to_commonjs: unsupported export: {line}"))?;
        names.push(name);
        body.push_str(rest);
        body.push('\n');
    }
    let body = lower_to_es2015(&body)?;
    if !names.iter().any(|n| n == "__wbg_set_wasm") {
        return Err("glue_to_commonjs: the glue has no __wbg_set_wasm (not a bundler-target glue?)".into());
    }
    let mut out = String::from(
        "'use strict';\n// wasm-bindgen glue of tim-wasm as CommonJS (generated by `cargo xtask build`).\n\
         // Any loader can start it: instantiate the wasm with `__wbg_get_imports()` as the import object,\n\
         // then call `__wbg_finish_init(instance.exports)` once.\n",
    );
    out.push_str(&body);
    out.push_str(&format!(
        "\nfunction __wbg_get_imports() {{\n  return {{ './{STEM}_bg.js': module.exports }};\n}}\n\
         function __wbg_finish_init(exports) {{\n  __wbg_set_wasm(exports);\n  \
         if (typeof exports.__wbindgen_start === 'function') exports.__wbindgen_start();\n}}\n"
    ));
    out.push_str("module.exports = {\n");
    for name in names
        .iter()
        .map(String::as_str)
        .chain(["__wbg_get_imports", "__wbg_finish_init"])
    {
        out.push_str(&format!("  {name},\n"));
    }
    out.push_str("};\n");
    Ok(out)
}

/// The one construct newer than ES2015 in wasm-bindgen 0.2.130's glue (optional chaining in
/// `debugString`), rewritten for mini-program compilers that accept ES2015 at most. Any other `?.` or
/// `??` in code fails the build, so a newer wasm-bindgen cannot slip one in.
fn lower_to_es2015(glue: &str) -> Result<String> {
    const OPTIONAL: &str = "const className = /\\[object ([^\\]]+)\\]/.exec(toStringOutput)?.[1];";
    const LOWERED: &str = "const classMatch = /\\[object ([^\\]]+)\\]/.exec(toStringOutput);\n            \
                           const className = classMatch ? classMatch[1] : undefined;";
    let out = glue.replace(OPTIONAL, LOWERED);
    for line in out.lines() {
        let code = line.trim_start();
        if code.starts_with("//") || code.starts_with('*') || code.starts_with("/*") {
            continue;
        }
        let optional = code
            .match_indices("?.")
            .any(|(i, _)| !code[i + 2..].starts_with(|c: char| c.is_ascii_digit()));
        if optional || code.contains("??") {
            return Err(format!("glue_to_commonjs: syntax newer than ES2015 in the glue: {line}").into());
        }
    }
    Ok(out)
}

/// Fails unless every import of the wasm comes from the glue module (an `env` import means a
/// dependency reached for something the runtimes do not provide).
fn check_imports(wasm: &Path) -> Result {
    let script = format!(
        "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1]));\
         const bad = WebAssembly.Module.imports(m).filter(i => i.module !== './{STEM}_bg.js');\
         if (bad.length) {{ console.error(JSON.stringify(bad)); process.exit(1); }}"
    );
    util::run(Command::new("node").arg("-e").arg(script).arg(wasm))
        .map_err(|e| format!("the wasm imports from modules other than the glue: {e}").into())
}

fn gzip_len(path: &Path) -> Result<usize> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(path).output()?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()).into());
    }
    Ok(out.stdout.len())
}

fn print_sizes(pkg: &Path) -> Result {
    let files = [
        format!("{STEM}_bg.wasm"),
        format!("{STEM}_bg.mjs"),
        format!("{STEM}_glue.cjs"),
        "index.mjs".to_owned(),
    ];
    println!("{:<24} {:>10} {:>12}", "file", "raw", "gzip -9");
    let (mut raw_total, mut gz_total) = (0, 0);
    for (i, name) in files.iter().enumerate() {
        let path = pkg.join(name);
        let raw = fs::metadata(&path)?.len() as usize;
        let gz = gzip_len(&path)?;
        println!("{name:<24} {raw:>10} {gz:>12}");
        // A browser loads the wasm, the ESM glue and the loader; the CommonJS glue is Node's.
        if i != 2 {
            raw_total += raw;
            gz_total += gz;
        }
    }
    println!("{:<24} {raw_total:>10} {gz_total:>12}", "browser total");
    Ok(())
}

/// The test layers of the SDK package, for `cargo xtask test` (after fmt/clippy/cargo test):
/// 1. the bindings' `wasm-bindgen-test`s in Node, then in headless Chromium (Debian's chromedriver);
/// 2. `cargo xtask build` (the package in `pkg/`) and `tim-server` (debug) for the Node tests;
/// 3. `tsc --noEmit --strict` on `tests/ts/usage.ts` against the package's `index.d.ts`;
/// 4. `node --test tests/node/`: the package installed by name in a scratch project, against a real
///    `tim-server` (`TIM_SERVER_BIN` points at the one just built).
pub fn test_layers() -> Result {
    install::wasm_target()?;
    install::wasm_bindgen_cli()?;
    let node_modules = install::npm_tools()?;
    let wasm_test = |browser: bool| -> Result {
        let mut cmd = cargo();
        cmd.args(["test", "--target", "wasm32-unknown-unknown", "-p", "tim-wasm", "--lib"])
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner");
        if browser {
            cmd.env("WASM_BINDGEN_USE_BROWSER", "1").env(
                "CHROMEDRIVER",
                std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
            );
        } else {
            cmd.env_remove("WASM_BINDGEN_USE_BROWSER");
        }
        util::run(&mut cmd)
    };
    util::step("wasm-bindgen-test of the bindings in Node");
    wasm_test(false)?;
    util::step("wasm-bindgen-test of the bindings in headless Chromium");
    wasm_test(true)?;

    run(&[])?;
    util::step("cargo build -p tim-server (for the Node tests)");
    util::run(cargo().args(["build", "-p", "tim-server"]))?;

    util::step("tsc --noEmit --strict -p tests/ts");
    util::run(
        Command::new(node_modules.join(".bin/tsc"))
            .args(["--noEmit", "--strict", "-p"])
            .arg(root().join("tests/ts")),
    )?;

    util::step("node --test tests/node/ (the package by name, against a real tim-server)");
    util::run(
        Command::new("node")
            .args(["--test", "tests/node/"])
            .current_dir(root())
            .env("TIM_SERVER_BIN", target_dir().join("debug/tim-server"))
            .env("TIM_WASM_PKG", root().join("pkg")),
    )
}
