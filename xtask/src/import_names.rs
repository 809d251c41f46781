//! Short names for what the wasm and its glue call each other by. wasm-bindgen names each import
//! `__wbg_<name>_<16 hex digits>` in the module `./tim_wasm_bg.js`, and exports such as
//! `tim_createTextMessage` or `wasm_bindgen__convert__closures_____invoke__h<16 hex digits>`: every
//! name is written twice (in the wasm and in the glue) and the long unique ones barely compress. This
//! renames, in the wasm-bindgen output before wasm-opt and every loader reads it:
//! - the import module to [`GLUE_MODULE`] (the key of the import object every loader builds);
//! - each import to `$a`, `$b`, ... (the glue's `export function NAME(` becomes `export function $a(`;
//!   a function of a JS snippet that the wasm imports directly is re-exported by the glue as `$a`);
//! - each export the glue reads as `wasm.NAME` to `$a`, `$b`, ... (`__wbindgen_start`, which the
//!   loaders call, and any export the glue does not read keep their names).
//!
//! The glue's public names (`TIM`, `publishStatics`, `__wbg_set_wasm`, ...) are not wasm imports and
//! stay. Any name it cannot rename exactly (an import named anywhere else in the glue, a new name
//! already in use) fails the build rather than producing a package that does not link.

use std::fs;
use std::path::Path;

use crate::util::Result;

/// The module every import of the wasm comes from: the key of the import object (`{ g: glue }`) in
/// `pkg-template/index.mjs`, `pkg-template/node.mjs` and `xtask/src/glue_cjs_entry.mjs`.
pub const GLUE_MODULE: &str = "g";

/// Renames the imports and exports of `wasm` and the matching names in `glue` (wasm-bindgen's JS
/// glue), in place.
pub fn shorten(wasm: &Path, glue: &Path) -> Result {
    let bytes = fs::read(wasm)?;
    let js = fs::read_to_string(glue)?;
    let (out, js) = rename(&bytes, &js).map_err(|e| format!("{}: {e}", glue.display()))?;
    fs::write(wasm, out)?;
    fs::write(glue, js)?;
    Ok(())
}

/// The `n`-th short name: `$a` ... `$Z`, then `$ab` ...
fn short_name(mut n: usize) -> String {
    const LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = String::from("$");
    loop {
        name.push(char::from(LETTERS[n % 52]));
        n /= 52;
        if n == 0 {
            return name;
        }
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Where `token` occurs in `js` as a whole identifier (or a whole `wasm.name` member access).
fn token_positions(js: &str, token: &str) -> Vec<usize> {
    let bytes = js.as_bytes();
    js.match_indices(token)
        .map(|(at, _)| at)
        .filter(|&at| {
            let before = at.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(at + token.len()).copied();
            !before.is_some_and(is_ident_byte) && !after.is_some_and(is_ident_byte)
        })
        .collect()
}

/// `js` with every whole-token `from` replaced by `to`.
fn replace_token(js: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(js.len());
    let mut last = 0;
    for at in token_positions(js, from) {
        out.push_str(&js[last..at]);
        out.push_str(to);
        last = at + from.len();
    }
    out.push_str(&js[last..]);
    out
}

/// The renamed wasm and glue.
fn rename(wasm: &[u8], glue: &str) -> Result<(Vec<u8>, String)> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut js = glue.to_owned();
    // The `n`-th short name, as long as the glue does not use it yet (as `prefix` + name).
    let fresh = |js: &str, prefix: &str, n: usize| -> Result<String> {
        let name = short_name(n);
        if token_positions(js, &format!("{prefix}{name}")).is_empty() {
            Ok(name)
        } else {
            Err(format!("the glue already uses the name {prefix}{name}").into())
        }
    };
    let mut out = wasm[..8].to_vec();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let (len, body_start) = leb(wasm, pos + 1)?;
        let body_end = body_start + len as usize;
        let body = wasm.get(body_start..body_end).ok_or("truncated section")?;
        let section = match id {
            2 => {
                let mut imports = parse_imports(body)?;
                for (n, import) in imports.iter_mut().enumerate() {
                    let old = std::mem::take(&mut import.name);
                    if import.module.starts_with(b"./snippets/") {
                        // A JS snippet's function the wasm calls as it is (no conversion shim): the glue
                        // re-exports it under the short name.
                        let module = String::from_utf8(import.module.clone())?;
                        import.name = fresh(&js, "", n)?;
                        js.push_str(&format!("\nexport {{ {old} as {} }} from '{module}';\n", import.name));
                        import.module = GLUE_MODULE.as_bytes().to_vec();
                        continue;
                    }
                    let definition = format!("export function {old}(");
                    if !js.contains(&definition) || token_positions(&js, &old).len() != 1 {
                        return Err(format!("the glue must name the import {old} once, in `{definition}`").into());
                    }
                    import.name = fresh(&js, "", n)?;
                    js = js.replacen(&definition, &format!("export function {}(", import.name), 1);
                    import.module = GLUE_MODULE.as_bytes().to_vec();
                }
                let mut section = Vec::new();
                put_leb(&mut section, imports.len() as u64);
                for i in &imports {
                    put_name(&mut section, &i.module);
                    put_name(&mut section, i.name.as_bytes());
                    section.extend_from_slice(&i.desc);
                }
                Some(section)
            }
            7 => {
                let (count, mut p) = leb(body, 0)?;
                let mut section = Vec::new();
                put_leb(&mut section, count);
                let mut renamed = 0;
                for _ in 0..count {
                    let (name, q) = bytes(body, p)?;
                    let name = String::from_utf8(name.to_vec())?;
                    let kind = *body.get(q).ok_or("truncated export")?;
                    let q_end = leb(body, q + 1)?.1;
                    let member = format!("wasm.{name}");
                    let new_name = if name == "__wbindgen_start" || token_positions(&js, &member).is_empty() {
                        name
                    } else {
                        let short = fresh(&js, "wasm.", renamed)?;
                        renamed += 1;
                        js = replace_token(&js, &member, &format!("wasm.{short}"));
                        short
                    };
                    put_name(&mut section, new_name.as_bytes());
                    section.push(kind);
                    section.extend_from_slice(&body[q + 1..q_end]);
                    p = q_end;
                }
                Some(section)
            }
            _ => None,
        };
        match section {
            Some(section) => {
                out.push(id);
                put_leb(&mut out, section.len() as u64);
                out.extend_from_slice(&section);
            }
            None => out.extend_from_slice(&wasm[pos..body_end]),
        }
        pos = body_end;
    }
    Ok((out, js))
}

fn put_name(out: &mut Vec<u8>, name: &[u8]) {
    put_leb(out, name.len() as u64);
    out.extend_from_slice(name);
}

struct Import {
    module: Vec<u8>,
    name: String,
    desc: Vec<u8>,
}

fn parse_imports(body: &[u8]) -> Result<Vec<Import>> {
    let (count, mut p) = leb(body, 0)?;
    let mut imports = Vec::new();
    for _ in 0..count {
        let (module, q) = bytes(body, p)?;
        let (name, q) = bytes(body, q)?;
        let desc_start = q;
        let kind = *body.get(q).ok_or("truncated import")?;
        let mut q = q + 1;
        match kind {
            0 => q = leb(body, q)?.1,
            1 => q = limits(body, q + 1)?,
            2 => q = limits(body, q)?,
            3 => q += 2,
            4 => q = leb(body, q + 1)?.1,
            _ => return Err(format!("unknown import kind {kind}").into()),
        }
        imports.push(Import {
            module: module.to_vec(),
            name: String::from_utf8(name.to_vec())?,
            desc: body.get(desc_start..q).ok_or("truncated import")?.to_vec(),
        });
        p = q;
    }
    Ok(imports)
}

fn limits(b: &[u8], p: usize) -> Result<usize> {
    let flags = *b.get(p).ok_or("truncated limits")?;
    let p = leb(b, p + 1)?.1;
    Ok(if flags & 1 == 1 { leb(b, p)?.1 } else { p })
}

fn bytes(b: &[u8], p: usize) -> Result<(&[u8], usize)> {
    let (len, p) = leb(b, p)?;
    let end = p + len as usize;
    Ok((b.get(p..end).ok_or("truncated name")?, end))
}

fn leb(b: &[u8], mut p: usize) -> Result<(u64, usize)> {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = *b.get(p).ok_or("truncated LEB128")?;
        p += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok((value, p));
        }
        shift += 7;
        if shift > 63 {
            return Err("LEB128 too long".into());
        }
    }
}

fn put_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_unique_identifiers() {
        let names: Vec<String> = (0..3000).map(short_name).collect();
        assert_eq!(names[0], "$a");
        assert_eq!(names[51], "$Z");
        assert_eq!(names[52], "$ab");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn tokens_match_whole_names_only() {
        let js = "export function __wbg_set(a){}\nexport function __wbg_set_name(a){}\nx.__wbg_set;wasm.tim_on(1);wasm.tim_once()";
        assert_eq!(token_positions(js, "__wbg_set").len(), 2);
        assert_eq!(
            replace_token(js, "wasm.tim_on", "wasm.$a"),
            "export function __wbg_set(a){}\nexport function __wbg_set_name(a){}\nx.__wbg_set;wasm.$a(1);wasm.tim_once()"
        );
    }

    /// A module importing `f` and `g_1` from `./m.js` and exporting `run`, `mem_x` and `__wbindgen_start`.
    fn module() -> Vec<u8> {
        module_importing(&[("./m.js", "f"), ("./m.js", "g_1")])
    }

    /// A module importing `imports` (module, name) and exporting `run`, `mem_x` and `__wbindgen_start`.
    fn module_importing(imports_of: &[(&str, &str)]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let mut types = vec![1, 0x60, 0, 0];
        section(&mut wasm, 1, &mut types);
        let mut imports = vec![imports_of.len() as u8];
        for (module, name) in imports_of {
            put_name(&mut imports, module.as_bytes());
            put_name(&mut imports, name.as_bytes());
            imports.extend([0, 0]);
        }
        section(&mut wasm, 2, &mut imports);
        let mut funcs = vec![1, 0];
        section(&mut wasm, 3, &mut funcs);
        let mut exports = vec![3];
        for name in ["run", "__wbindgen_start", "mem_x"] {
            put_name(&mut exports, name.as_bytes());
            exports.extend([0, 2]);
        }
        section(&mut wasm, 7, &mut exports);
        let mut code = vec![1, 2, 0, 0x0b];
        section(&mut wasm, 10, &mut code);
        wasm
    }

    /// The (module, name) of each import of a test module (its import section's length fits one byte).
    fn imports_of(wasm: &[u8]) -> Vec<(String, String)> {
        let at = wasm.iter().position(|&b| b == 2).unwrap() + 2;
        parse_imports(&wasm[at..])
            .unwrap()
            .into_iter()
            .map(|i| (String::from_utf8(i.module).unwrap(), i.name))
            .collect()
    }

    fn section(wasm: &mut Vec<u8>, id: u8, body: &mut Vec<u8>) {
        wasm.push(id);
        put_leb(wasm, body.len() as u64);
        wasm.append(body);
    }

    #[test]
    fn renames_imports_and_the_exports_the_glue_reads() {
        let glue = "export function f(a){wasm.run(a)}\nexport function g_1(){}\nexport function publish(){wasm.__wbindgen_start()}";
        let (wasm, js) = rename(&module(), glue).unwrap();
        assert_eq!(
            js,
            "export function $a(a){wasm.$a(a)}\nexport function $b(){}\nexport function publish(){wasm.__wbindgen_start()}"
        );
        assert_eq!(
            imports_of(&wasm),
            [("g".to_owned(), "$a".to_owned()), ("g".to_owned(), "$b".to_owned())]
        );
        let text = String::from_utf8_lossy(&wasm);
        assert!(text.contains("__wbindgen_start") && text.contains("mem_x") && !text.contains("run"));
    }

    #[test]
    fn a_snippet_function_the_wasm_imports_directly_is_re_exported_by_the_glue() {
        let wasm = module_importing(&[("./m.js", "f"), ("./snippets/x-1/src/js/a.js", "attach")]);
        let (wasm, js) = rename(&wasm, "export function f(){}").unwrap();
        assert_eq!(
            js,
            "export function $a(){}\nexport { attach as $b } from './snippets/x-1/src/js/a.js';\n"
        );
        assert_eq!(
            imports_of(&wasm),
            [("g".to_owned(), "$a".to_owned()), ("g".to_owned(), "$b".to_owned())]
        );
    }

    #[test]
    fn an_import_the_glue_names_elsewhere_fails_the_build() {
        let glue = "export function f(){}\nexport function g_1(){f()}";
        assert!(rename(&module(), glue).is_err());
        assert!(
            rename(&module(), "export function f(){}").is_err(),
            "g_1 has no definition"
        );
        assert!(rename(&module(), "export function f(){$a}\nexport function g_1(){}").is_err());
    }

    #[test]
    fn leb_round_trips() {
        for v in [0u64, 1, 127, 128, 300, 1 << 20] {
            let mut b = Vec::new();
            put_leb(&mut b, v);
            assert_eq!(leb(&b, 0).unwrap(), (v, b.len()));
        }
    }
}
