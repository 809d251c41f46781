//! Shorter wasm-bindgen import names. wasm-bindgen names most imports `__wbg_<name>_<16 hex digits>`;
//! the hash is written twice (the wasm's import, the glue's export) and does not compress. This strips
//! the suffix, in the wasm-bindgen output before wasm-opt and every loader reads it, wherever the
//! shorter name stays unique (otherwise the import keeps its name).

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::util::Result;

/// Renames the imports of `wasm` and the matching names in `glue` (wasm-bindgen's JS glue), in place.
pub fn shorten(wasm: &Path, glue: &Path) -> Result {
    let bytes = fs::read(wasm)?;
    let (out, renames) = rename_imports(&bytes)?;
    let mut js = fs::read_to_string(glue)?;
    for (old, new) in &renames {
        if !js.contains(old.as_str()) {
            return Err(format!("{}: the glue has no {old}", glue.display()).into());
        }
        js = js.replace(old.as_str(), new);
    }
    fs::write(wasm, out)?;
    fs::write(glue, js)?;
    Ok(())
}

/// `name` without a trailing `_` and 16 lowercase hex digits, if it has one.
fn strip_hash(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(17)?;
    let (head, tail) = name.split_at(cut);
    let hex = tail.strip_prefix('_')?;
    (hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) && !head.is_empty()).then_some(head)
}

struct Import {
    module: Vec<u8>,
    name: String,
    desc: Vec<u8>,
}

/// Old and new import names.
type Renames = Vec<(String, String)>;

fn rename_imports(wasm: &[u8]) -> Result<(Vec<u8>, Renames)> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err("not a wasm module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut renames = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        let (len, body_start) = leb(wasm, pos + 1)?;
        let body_end = body_start + len as usize;
        let body = wasm.get(body_start..body_end).ok_or("truncated section")?;
        if id == 2 {
            let mut imports = parse_imports(body)?;
            let mut counts: HashMap<String, usize> = HashMap::new();
            for i in &imports {
                *counts.entry(i.name.clone()).or_default() += 1;
                if let Some(short) = strip_hash(&i.name) {
                    *counts.entry(short.to_owned()).or_default() += 1;
                }
            }
            for i in &mut imports {
                if let Some(short) = strip_hash(&i.name).map(str::to_owned) {
                    if counts[&short] == 1 {
                        renames.push((std::mem::replace(&mut i.name, short.clone()), short));
                    }
                }
            }
            let mut section = Vec::new();
            put_leb(&mut section, imports.len() as u64);
            for i in &imports {
                put_leb(&mut section, i.module.len() as u64);
                section.extend_from_slice(&i.module);
                put_leb(&mut section, i.name.len() as u64);
                section.extend_from_slice(i.name.as_bytes());
                section.extend_from_slice(&i.desc);
            }
            out.push(2);
            put_leb(&mut out, section.len() as u64);
            out.extend_from_slice(&section);
        } else {
            out.extend_from_slice(&wasm[pos..body_end]);
        }
        pos = body_end;
    }
    Ok((out, renames))
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
    fn strips_only_a_16_digit_hex_suffix() {
        assert_eq!(
            strip_hash("__wbg_set_onopen_41b1d6dd64ac12b9"),
            Some("__wbg_set_onopen")
        );
        assert_eq!(strip_hash("__wbg_set_onopen_41b1d6dd64ac12bX"), None);
        assert_eq!(strip_hash("__wbindgen_start"), None);
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
