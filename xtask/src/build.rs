//! `cargo xtask build`: the npm package `tim-wasm` in `pkg/`.
//!
//! 1. `cargo build --target wasm32-unknown-unknown --profile wasm-release -p tim-wasm` (opt-level z,
//!    LTO, one codegen unit, panic abort);
//! 2. `wasm-bindgen --target bundler`: we keep its glue (`tim_wasm_bg.js`) and discard its loader; the
//!    package ships its own loaders, one per runtime, which instantiate the wasm with the glue as the
//!    import object (`{g: glue}`), then call `__wbg_set_wasm` and `__wbindgen_start`; the imports and
//!    exports get short names first (`import_names`: `g`, `$a`, `$b`, ...);
//! 3. `wasm-opt -Oz` from the npm package `binaryen` (Debian's cannot read what Rust 1.95 emits);
//! 4. the glue twice: as ES module (`tim_wasm_bg.mjs`) and bundled by esbuild into CommonJS at ES2015
//!    (`tim_wasm_glue.cjs`, which adds `__wbg_get_imports()` and `__wbg_finish_init(exports)` so that
//!    any loader, e.g. a mini-program's `WXWebAssembly.instantiate(path, imports)`, can start the module);
//! 5. `pkg-template/` copied over (loaders, `package.json`, `index.d.ts`, README), plus the wasm and the
//!    CommonJS glue inside `pkg/miniprogram/` when the template has that folder;
//! 6. checks (the wasm imports only from the glue, no `env` imports) and a size table (raw and gzip -9).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::install;
use crate::util::{self, cargo, root, Result};

/// The wasm-bindgen output name (`<STEM>_bg.wasm`, `<STEM>_bg.js`).
pub(crate) const STEM: &str = "tim_wasm";

/// `cargo xtask build` builds `pkg/` (the test layers are `cargo xtask test`'s).
pub fn run(args: &[String]) -> Result {
    if !args.is_empty() {
        return Err("usage: cargo xtask build".into());
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

    crate::import_names::shorten(
        &bindgen_dir.join(format!("{STEM}_bg.wasm")),
        &bindgen_dir.join(format!("{STEM}_bg.js")),
    )?;

    let pkg = root().join("pkg");
    recreate(&pkg)?;
    util::step("wasm-opt -Oz (npm binaryen)");
    let wasm = pkg.join(format!("{STEM}_bg.wasm"));
    util::run(
        Command::new(node_modules.join(".bin/wasm-opt"))
            .arg("-Oz")
            // Rust places no data below 1 MiB, so the low-memory assumption holds; --converge repeats
            // -Oz until it stops shrinking; the producers and target_features sections are for tools
            // (wasm-bindgen already read them). 376 B gzip together.
            .args([
                "--low-memory-unused",
                "--converge",
                "--strip-debug",
                "--strip-producers",
                "--strip-target-features",
            ])
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
    crate::glue_min::write(
        &node_modules,
        &bindgen_dir.join(format!("{STEM}_bg.js")),
        &pkg.join(format!("{STEM}_bg.mjs")),
    )?;
    let cjs_glue_path = pkg.join(format!("{STEM}_glue.cjs"));
    util::step("the CommonJS glue (esbuild --format=cjs --target=es2015)");
    glue_to_commonjs(&node_modules, &bindgen_dir, &cjs_glue_path)?;
    let cjs_glue = fs::read(&cjs_glue_path)?;
    copy_dir(&root().join("pkg-template"), &pkg)?;
    // The browser entry a page loads, minified like the glue (its comments stay in pkg-template/).
    crate::glue_min::write(
        &node_modules,
        &root().join("pkg-template/index.mjs"),
        &pkg.join("index.mjs"),
    )?;
    let miniprogram = pkg.join("miniprogram");
    if miniprogram.is_dir() {
        fs::write(miniprogram.join(format!("{STEM}_glue.js")), &cjs_glue)?;
        fs::copy(&wasm, miniprogram.join(format!("{STEM}_bg.wasm")))?;
    }
    set_version(&pkg.join("package.json"))?;
    check_imports(&wasm)?;

    util::step("package sizes (bytes)");
    print_sizes(&pkg)?;
    crate::size_budget::check(&pkg)?;
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

/// The glue as CommonJS (`tim_wasm_glue.cjs`) for loaders that are not ES modules: esbuild bundles
/// `glue_cjs_entry.mjs` (the glue plus `__wbg_get_imports()` and `__wbg_finish_init(exports)`) with
/// `--format=cjs --target=es2015`, lowering anything newer than ES2015 (e.g. `?.`) for mini-program
/// compilers, and failing on what it cannot lower.
fn glue_to_commonjs(node_modules: &Path, bindgen_dir: &Path, out: &Path) -> Result {
    const ENTRY: &str = "glue_cjs_entry.mjs";
    fs::write(bindgen_dir.join(ENTRY), include_str!("glue_cjs_entry.mjs"))?;
    // The ES module glue is strict code: so stays its CommonJS form.
    let banner = "'use strict';\n\
                  // wasm-bindgen glue of tim-wasm as CommonJS (generated by `cargo xtask build`).\n\
                  // Any loader can start it: instantiate the wasm with `__wbg_get_imports()` as the import \
                  object,\n// then call `__wbg_finish_init(instance.exports)` once.";
    util::run(
        Command::new(node_modules.join(".bin/esbuild"))
            .arg(ENTRY)
            .args(["--bundle", "--format=cjs", "--target=es2015", "--log-level=warning"])
            .arg(format!("--banner:js={banner}"))
            .arg(format!("--outfile={}", out.display()))
            // Relative paths, so the file comments in the output do not depend on where this runs.
            .current_dir(bindgen_dir),
    )
}

/// Fails unless every import of the wasm comes from the glue module (an `env` import means a
/// dependency reached for something the runtimes do not provide).
fn check_imports(wasm: &Path) -> Result {
    let module = crate::import_names::GLUE_MODULE;
    let script = format!(
        "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1]));\
         const bad = WebAssembly.Module.imports(m).filter(i => i.module !== '{module}');\
         if (bad.length) {{ console.error(JSON.stringify(bad)); process.exit(1); }}"
    );
    util::run(Command::new("node").arg("-e").arg(script).arg(wasm))
        .map_err(|e| format!("the wasm imports from modules other than the glue: {e}").into())
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
        let raw = fs::metadata(&path)?.len();
        let gz = crate::browser_files::gzip_file_len(&path)?;
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
