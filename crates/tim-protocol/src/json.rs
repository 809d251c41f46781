//! The JSON of the wire, read and written by hand: one implementation for the SDK (wasm) and the
//! server, with no serde and no `core::fmt` (which would cost the wasm tens of kilobytes).
//!
//! Reading takes one JSON object apart into its top-level fields; nested values are checked and
//! skipped (no frame field is an object or an array), so unknown fields of a newer peer are ignored.
//! Writing produces the same text as `serde_json::to_string` and the host's `JSON.stringify` would.

use std::borrow::Cow;

/// Deepest nesting accepted inside a skipped value (serde_json's default limit is 128 too).
const MAX_DEPTH: usize = 128;

/// The largest integer on the wire: what a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
/// Both ends refuse larger ones when reading, and the writer never sends one (see [`Writer::int`]).
pub const MAX_WIRE_INTEGER: u64 = (1 << 53) - 1;

/// A field's value as the frame codec sees it. Strings borrow the text unless they hold an escape: a
/// frame is read with one allocation per string field it keeps, none per key (the wasm's allocator was
/// a tenth of a login's time in the SDK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// A number: `Some` when it is written as a non-negative integer of at most [`MAX_WIRE_INTEGER`]
    /// (no fraction, no exponent), `None` for any other number.
    Number(Option<u64>),
    String(Cow<'a, str>),
    /// An array or an object (checked, not kept).
    Nested,
}

/// The top-level fields of one JSON object, in text order; a key appears at most once.
#[derive(Debug, Default)]
pub(crate) struct Object<'a> {
    fields: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Object<'a> {
    /// Parses `text` as exactly one JSON object (surrounding whitespace allowed).
    pub(crate) fn parse(text: &'a str) -> Result<Object<'a>, &'static str> {
        let mut p = Parser {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        };
        p.space();
        if p.peek() != Some(b'{') {
            // Tell "not JSON" from "JSON, but not an object" as a reader of logs would want.
            return Err(if p.value(0).is_ok() && p.at_end() {
                "not a JSON object"
            } else {
                "not JSON"
            });
        }
        let object = p.object_fields()?;
        p.space();
        if !p.at_end() {
            return Err("not JSON: trailing characters after the object");
        }
        Ok(object)
    }

    /// The value of `key`, `None` when absent.
    pub(crate) fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

struct Parser<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The bytes not read yet (`get`, not indexing: no panic path in the wasm).
    fn rest(&self) -> &[u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Result<(), &'static str> {
        self.space();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err("not JSON")
        }
    }

    /// The fields of the object starting at `pos` (which holds `{`).
    fn object_fields(&mut self) -> Result<Object<'a>, &'static str> {
        self.eat(b'{')?;
        // Room for every field of the largest frame: no regrowth while reading one.
        let mut object = Object {
            fields: Vec::with_capacity(12),
        };
        self.space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(object);
        }
        loop {
            self.space();
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value(1)?;
            if object.get(&key).is_some() {
                return Err("a field appears twice");
            }
            object.fields.push((key, value));
            self.space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(object);
                }
                _ => return Err("not JSON"),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, &'static str> {
        self.space();
        match self.peek() {
            Some(b'"') => self.string().map(Value::String),
            Some(b'{' | b'[') => self.skip_nested(depth).map(|()| Value::Nested),
            Some(b't') => self.word("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.word("false").map(|()| Value::Bool(false)),
            Some(b'n') => self.word("null").map(|()| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            _ => Err("not JSON"),
        }
    }

    fn word(&mut self, word: &str) -> Result<(), &'static str> {
        if self.rest().starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err("not JSON")
        }
    }

    /// An array or object: its syntax checked, its content dropped.
    fn skip_nested(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("not JSON: nested too deeply");
        }
        let (open, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            _ => (b'[', b']'),
        };
        self.eat(open)?;
        self.space();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if open == b'{' {
                self.space();
                self.string()?;
                self.eat(b':')?;
            }
            self.value(depth + 1)?;
            self.space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err("not JSON"),
            }
        }
    }

    /// A number per the JSON grammar; its value when it is a wire integer.
    fn number(&mut self) -> Result<Option<u64>, &'static str> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let mut value: Option<u64> = Some(0);
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(d @ b'0'..=b'9') = self.peek() {
                    value = value
                        .and_then(|v| v.checked_mul(10))
                        .and_then(|v| v.checked_add(u64::from(d - b'0')));
                    self.pos += 1;
                }
            }
            _ => return Err("not JSON"),
        }
        let mut integer = !negative;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits()?;
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
            integer = false;
        }
        Ok(value.filter(|&v| integer && v <= MAX_WIRE_INTEGER))
    }

    fn digits(&mut self) -> Result<(), &'static str> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == start {
            Err("not JSON")
        } else {
            Ok(())
        }
    }

    /// A string at `pos` (which must hold `"`), unescaped: borrowed from the text when it holds no
    /// escape. Lone surrogates are refused.
    fn string(&mut self) -> Result<Cow<'a, str>, &'static str> {
        if self.peek() != Some(b'"') {
            return Err("not JSON");
        }
        self.pos += 1;
        let mut unescaped: Option<String> = None;
        loop {
            // The run of plain characters; `"` and `\` are ASCII, so the cut is on a character boundary.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let run = self.text.get(start..self.pos).unwrap_or_default();
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match unescaped {
                        None => Cow::Borrowed(run),
                        Some(mut out) => {
                            out.push_str(run);
                            Cow::Owned(out)
                        }
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let out = unescaped.get_or_insert_with(String::new);
                    out.push_str(run);
                    self.escape(out)?;
                }
                // End of text, or a raw control character (JSON wants them escaped).
                _ => return Err("not JSON"),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), &'static str> {
        let c = match self.peek().ok_or("not JSON")? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                self.pos += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        if !self.rest().starts_with(b"\\u") {
                            return Err("not JSON: a lone surrogate");
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err("not JSON: a lone surrogate");
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err("not JSON: a lone surrogate"),
                    _ => unit,
                };
                out.push(char::from_u32(code).ok_or("not JSON")?);
                return Ok(());
            }
            _ => return Err("not JSON"),
        };
        self.pos += 1;
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let mut v = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err("not JSON"),
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }
}

/// Writes one JSON object field by field.
pub(crate) struct Writer {
    out: String,
}

impl Writer {
    /// An object being written; `{` is out.
    pub(crate) fn new() -> Writer {
        // Room for most frames (a login ack, a kick) without regrowth.
        let mut out = String::with_capacity(256);
        out.push('{');
        Writer { out }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        push_string(&mut self.out, key);
        self.out.push(':');
    }

    pub(crate) fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        push_string(&mut self.out, value);
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// An integer, saturated at [`MAX_WIRE_INTEGER`]: the peer could not read a larger one exactly
    /// (a JS number) or at all (this crate's reader), so the protocol never sends one.
    pub(crate) fn int(&mut self, key: &str, value: u64) {
        self.key(key);
        push_u64(&mut self.out, value.min(MAX_WIRE_INTEGER));
    }

    /// The object's text.
    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// `value` in decimal, without `core::fmt` (whose integer formatting the wasm need not carry).
pub fn decimal(value: u64) -> String {
    let mut out = String::new();
    push_u64(&mut out, value);
    out
}

/// Appends `value` in decimal.
pub(crate) fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends `value` as a JSON string, escaped as `serde_json` and `JSON.stringify` escape it: `"`, `\`
/// and the control characters below U+0020 (with their short forms where JSON has one).
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // `start` and `i` sit next to ASCII bytes, so on character boundaries: `get` never fails.
        out.push_str(value.get(start..i).unwrap_or_default());
        if short.is_empty() {
            out.push_str("\\u00");
            crate::hex::push_lower(out, &[b]);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(value.get(start..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(String, Value<'_>)> {
        let object = Object::parse(text).unwrap();
        object.fields.into_iter().map(|(k, v)| (k.into_owned(), v)).collect()
    }

    #[test]
    fn reads_every_kind_of_value() {
        let got = fields(
            r#" { "s" : "a\"b\\c\/d\n\u00e9\ud83d\ude00" , "t":true,"f":false,"n":null,
                "i":9007199254740991,"big":9007199254740992,"neg":-1,"frac":1.5,"exp":1e2,"zero":0,
                "o":{"a":[1,{"b":[]}],"c":"}"},"a":[] } "#,
        );
        let want = vec![
            ("s", Value::String("a\"b\\c/d\né😀".into())),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("n", Value::Null),
            ("i", Value::Number(Some(MAX_WIRE_INTEGER))),
            ("big", Value::Number(None)),
            ("neg", Value::Number(None)),
            ("frac", Value::Number(None)),
            ("exp", Value::Number(None)),
            ("zero", Value::Number(Some(0))),
            ("o", Value::Nested),
            ("a", Value::Nested),
        ];
        let want: Vec<(String, Value<'_>)> = want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(got, want);
        assert_eq!(fields("{}"), vec![]);
    }

    #[test]
    fn refuses_what_json_refuses() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":1 \"b\":2}",
            "{a:1}",
            "{'a':1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":1e}",
            "{\"a\":-}",
            "{\"a\":+1}",
            "{\"a\":tru}",
            "{\"a\":nul}",
            "{\"a\":\"\n\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":\"\\udc00\"}",
            "{\"a\":\"\\ud800\\u0041\"}",
            "{\"a\":\"open}",
            "{\"a\":[1,]}",
            "{\"a\":[1 2]}",
            "{\"a\":{\"b\"}}",
            "{\"a\":1}x",
            "{\"a\":1}{}",
            "{\"a\":NaN}",
        ] {
            assert!(Object::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Object::parse("[1]").unwrap_err(), "not a JSON object");
        assert_eq!(Object::parse("null").unwrap_err(), "not a JSON object");
        assert_eq!(Object::parse("{\"a\":1,\"a\":2}").unwrap_err(), "a field appears twice");
    }

    #[test]
    fn nesting_is_bounded_without_recursing_forever() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Object::parse(&deep).is_err());
        let ok = format!("{{\"a\":{}{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(Object::parse(&ok).is_ok());
    }

    #[test]
    fn writes_like_serde_json() {
        let mut w = Writer::new();
        w.string(
            "s",
            "quote \" back\\slash /\n\t\r\u{0}\u{8}\u{c}\u{1f}\u{7f}\u{2028}日本😀",
        );
        w.int("i", 0);
        w.int("max", MAX_WIRE_INTEGER);
        w.int("beyond", u64::MAX);
        w.bool("b", true);
        w.bool("c", false);
        assert_eq!(
            w.finish(),
            "{\"s\":\"quote \\\" back\\\\slash /\\n\\t\\r\\u0000\\b\\f\\u001f\u{7f}\u{2028}日本😀\",\
             \"i\":0,\"max\":9007199254740991,\"beyond\":9007199254740991,\"b\":true,\"c\":false}"
        );
        assert_eq!(Writer::new().finish(), "{}");
    }

    #[test]
    fn what_is_written_reads_back() {
        let all: String = (0u32..0x800).filter_map(char::from_u32).collect();
        let mut w = Writer::new();
        w.string("all", &all);
        let text = w.finish();
        assert_eq!(fields(&text), vec![("all".to_owned(), Value::String(all.into()))]);
        for n in [0, 1, 9, 10, 99, 100, 1 << 32, MAX_WIRE_INTEGER] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}
