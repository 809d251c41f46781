//! Lower-case hex, written once: ids on the wire (instance and message ids), `\u00XX` escapes, and the
//! server's signatures and keys. By hand: `{:02x}` would bring `core::fmt`'s hex formatting into the
//! wasm, and in the server it cost an allocation per byte.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lower-case hex, two digits a byte.
pub fn push_lower(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// `bytes` as lower-case hex.
pub fn lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_lower(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_value_as_two_digits() {
        let all: Vec<u8> = (0..=255).collect();
        let text = lower(&all);
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text, expected);
        let mut out = String::from("x");
        push_lower(&mut out, &[0x0a, 0xf0]);
        assert_eq!(out, "x0af0");
        assert_eq!(lower(&[]), "");
    }
}
