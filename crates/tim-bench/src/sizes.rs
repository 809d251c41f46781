//! Transfer sizes of the files a browser loads: raw, gzip -9 and brotli (quality 11). Which files
//! those are, and the gzip length, come from [`crate::browser_files`] (shared with `cargo xtask build`).

use std::path::PathBuf;

use crate::browser_files::gzip_len;

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
    let gzip = gzip_len(bytes);
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

/// The code of a wasm module by part, from its name section: `(part, bytes of function bodies)`, biggest
/// first, plus `("data", bytes of data segments)`. Parts are the crate a function belongs to (`tim_wasm`,
/// `tim_core`, ...), with the standard library's crates as one part and wasm-bindgen's as another. Needs the
/// module before `wasm-opt` strips the names (`target/tim-wasm-bindgen/tim_wasm_bg.wasm`).
pub fn wasm_parts(wasm: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let mut r = Reader { b: wasm, p: 8 };
    let (mut imported, mut bodies, mut names, mut data) = (0u32, Vec::new(), Vec::new(), 0u64);
    while r.p < wasm.len() {
        let id = r.byte()?;
        let size = r.leb()? as usize;
        let end = r.p + size;
        match id {
            2 => {
                for _ in 0..r.leb()? {
                    r.skip_name()?;
                    r.skip_name()?;
                    match r.byte()? {
                        0 => {
                            r.leb()?;
                            imported += 1;
                        }
                        1 => {
                            r.byte()?;
                            let flags = r.leb()?;
                            r.leb()?;
                            if flags & 1 == 1 {
                                r.leb()?;
                            }
                        }
                        2 => {
                            let flags = r.leb()?;
                            r.leb()?;
                            if flags & 1 == 1 {
                                r.leb()?;
                            }
                        }
                        _ => {
                            r.byte()?;
                            r.byte()?;
                        }
                    }
                }
            }
            10 => {
                for _ in 0..r.leb()? {
                    let len = r.leb()? as usize;
                    bodies.push(len as u64);
                    r.p += len;
                }
            }
            11 => data = size as u64,
            0 => {
                let len = r.leb()? as usize;
                let is_names = wasm.get(r.p..r.p + len) == Some(b"name".as_slice());
                r.p += len;
                while is_names && r.p < end {
                    let sub = r.byte()?;
                    let sub_end = r.leb()? as usize + r.p;
                    if sub == 1 {
                        for _ in 0..r.leb()? {
                            let index = r.leb()?;
                            let len = r.leb()? as usize;
                            let name = String::from_utf8_lossy(wasm.get(r.p..r.p + len).ok_or("truncated")?);
                            names.push((index, name.into_owned()));
                            r.p += len;
                        }
                    }
                    r.p = sub_end;
                }
            }
            _ => {}
        }
        r.p = end;
    }
    if names.is_empty() {
        return Err("the wasm has no name section (stripped by wasm-opt?)".into());
    }
    let mut parts: Vec<(String, u64)> = Vec::new();
    for (i, len) in bodies.iter().enumerate() {
        let index = imported + i as u32;
        let name = names.iter().find(|(n, _)| *n == index).map_or("", |(_, s)| s.as_str());
        let part = part_of(name);
        match parts.iter_mut().find(|(p, _)| p == part) {
            Some((_, total)) => *total += len,
            None => parts.push((part.to_owned(), *len)),
        }
    }
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    parts.push(("data".to_owned(), data));
    Ok(parts)
}

fn part_of(name: &str) -> &'static str {
    let name = name.trim_start_matches('<');
    let krate = name.split("::").next().unwrap_or("").split('[').next().unwrap_or("");
    match krate {
        "tim_wasm" | "tim_core" | "tim_protocol" | "talc" | "js_sys" => match krate {
            "tim_wasm" => "tim_wasm (bindings)",
            "tim_core" => "tim_core (session)",
            "tim_protocol" => "tim_protocol (codec)",
            "talc" => "talc (allocator)",
            _ => "wasm-bindgen + js-sys",
        },
        "wasm_bindgen" => "wasm-bindgen + js-sys",
        "core" | "alloc" | "std" | "__rustc" | "compiler_builtins" | "console_error_panic_hook" => "std, core, alloc",
        _ if name.starts_with("tim_") => "tim_wasm (bindings)",
        _ if name.starts_with("__wbg") || name.starts_with("__externref") || name.starts_with("__wbindgen") => {
            "wasm-bindgen + js-sys"
        }
        _ => "other",
    }
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.p).ok_or("truncated wasm")?;
        self.p += 1;
        Ok(v)
    }
    fn leb(&mut self) -> Result<u32, String> {
        let (mut v, mut shift) = (0u32, 0);
        loop {
            let b = self.byte()?;
            v |= u32::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }
    fn skip_name(&mut self) -> Result<(), String> {
        let len = self.leb()? as usize;
        self.p += len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasm_parts_read_the_name_section() {
        let name = b"tim_core::session::x";
        let mut names = vec![1u8, 0]; // function names subsection, size patched below
        names.extend([1, 0, name.len() as u8]);
        names.extend(name);
        names[1] = (names.len() - 2) as u8;
        let mut custom = vec![4u8];
        custom.extend(b"name");
        custom.extend(&names);
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([1, 4, 1, 0x60, 0, 0]); // one type: () -> ()
        wasm.extend([3, 2, 1, 0]); // one function of type 0
        wasm.extend([10, 4, 1, 2, 0, 0x0b]); // its body: 2 bytes
        wasm.extend([11, 3, 0, 0, 0]); // a data section of 3 bytes
        wasm.push(0);
        wasm.push(custom.len() as u8);
        wasm.extend(&custom);
        assert_eq!(
            wasm_parts(&wasm).unwrap(),
            vec![("tim_core (session)".to_owned(), 2), ("data".to_owned(), 3)]
        );
        assert!(wasm_parts(b"\0asm\x01\0\0\0").is_err(), "no names");
    }

    #[test]
    fn compresses_repetitive_text() {
        let s = measure("hello tim ".repeat(1000).as_bytes());
        assert_eq!(s.raw, 10_000);
        assert!(s.gzip < 200 && s.gzip > 0, "{s:?}");
        assert!(s.brotli < 200 && s.brotli > 0, "{s:?}");
    }
}
