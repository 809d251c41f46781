//! The frame codec: [`wire_frames!`] turns the one schema in `frames.rs` into the frame enums and their
//! `encode`/`decode`, over the hand-written JSON of [`crate::json`]. The SDK (wasm) and the server run
//! this same code, so the two ends cannot drift.
//!
//! # Adding a frame or a field
//! Write it in the schema in `frames.rs`, once: `Variant = "wireType" { field: Type = "wireName", ... }`.
//! That is the whole change on the wire side; the compiler then lists every `match` to update.
//! - A field that may be absent either is an `Option<T>` (absent or `null` reads as `None`; `None` is
//!   not written) or ends with `or default` (absent reads as `Default::default()`; always written).
//!   Fields a newer peer adds should be one of these, so that an older peer still decodes the frame.
//! - Integers are at most [`crate::json::MAX_WIRE_INTEGER`] (2^53-1) on the wire: a reader refuses
//!   larger ones, the writer saturates.
//! - A field type implements [`Field`]; strings, booleans, `u32`, `u64`, [`crate::Platform`] and
//!   [`crate::KickType`] do.

use crate::json::{Object, Value, Writer};

/// The key of the frame type in every frame.
pub(crate) const TYPE_KEY: &str = "type";

/// Why text received did not make a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than the limit (by default [`crate::limits::MAX_FRAME_BYTES`]).
    TooLarge {
        /// Bytes of UTF-8 text received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Valid text, but not a frame of this protocol (bad JSON, unknown type, missing field...).
    Malformed(String),
}

impl DecodeError {
    /// A description for logs and error events (`"malformed frame: field `id`: ..."`).
    pub fn describe(&self) -> String {
        match self {
            DecodeError::TooLarge { len, max } => {
                let mut s = String::from("frame of ");
                crate::json::push_u64(&mut s, *len as u64);
                s.push_str(" bytes exceeds the ");
                crate::json::push_u64(&mut s, *max as u64);
                s.push_str("-byte limit");
                s
            }
            DecodeError::Malformed(why) => String::from("malformed frame: ") + why,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for DecodeError {}

/// A type a frame field can have: how it reads from a JSON value and writes as one.
pub trait Field: Sized {
    /// Reads the field; `None` when it is absent. The error says what was expected
    /// (`"a string"`), for the message "field `x`: missing or not a string".
    #[doc(hidden)]
    fn read(value: Option<&Value>) -> Result<Self, &'static str>;
    /// Writes the field under `key` (or nothing, for an absent optional).
    #[doc(hidden)]
    fn write(&self, key: &str, out: &mut Writer);
}

impl Field for String {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        match value {
            Some(Value::String(s)) => Ok(String::from(&**s)),
            _ => Err("a string"),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.string(key, self);
    }
}

impl Field for bool {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        match value {
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err("a boolean"),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.bool(key, *self);
    }
}

impl Field for u64 {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        match value {
            Some(Value::Number(Some(n))) => Ok(*n),
            _ => Err("an integer in 0..=2^53-1"),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.int(key, *self);
    }
}

impl Field for u32 {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        match value {
            Some(Value::Number(Some(n))) => u32::try_from(*n).map_err(|_| "an integer in 0..=4294967295"),
            _ => Err("an integer in 0..=4294967295"),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        out.int(key, u64::from(*self));
    }
}

impl<T: Field> Field for Option<T> {
    fn read(value: Option<&Value>) -> Result<Self, &'static str> {
        match value {
            None | Some(Value::Null) => Ok(None),
            some => T::read(some).map(Some),
        }
    }
    fn write(&self, key: &str, out: &mut Writer) {
        if let Some(value) = self {
            value.write(key, out);
        }
    }
}

/// Reads a string field that names one of `all` (by `name`).
pub(crate) fn read_name<T: Copy>(
    value: Option<&Value>,
    all: &[T],
    name: fn(T) -> &'static str,
    expected: &'static str,
) -> Result<T, &'static str> {
    match value {
        Some(Value::String(s)) => all.iter().copied().find(|&t| name(t) == &**s).ok_or(expected),
        _ => Err(expected),
    }
}

/// Reads field `key` of `object`; the error names the field.
pub(crate) fn read_field<T: Field>(object: &Object, key: &str) -> Result<T, DecodeError> {
    T::read(object.get(key)).map_err(|expected| field_error(key, expected))
}

/// The error of a missing or mistyped field: one copy, not one per field type (wasm size).
#[inline(never)]
fn field_error(key: &str, expected: &'static str) -> DecodeError {
    DecodeError::Malformed(String::from("field `") + key + "`: missing or not " + expected)
}

/// Reads field `key`, or `T::default()` when it is absent.
pub(crate) fn read_field_or_default<T: Field + Default>(object: &Object, key: &str) -> Result<T, DecodeError> {
    match object.get(key) {
        None => Ok(T::default()),
        Some(_) => read_field(object, key),
    }
}

/// Checks the size and parses the object; returns it with its `type`.
pub(crate) fn open(text: &str, max: usize) -> Result<(Object<'_>, std::borrow::Cow<'_, str>), DecodeError> {
    if text.len() > max {
        return Err(DecodeError::TooLarge { len: text.len(), max });
    }
    let object = Object::parse(text).map_err(|why| DecodeError::Malformed(why.to_owned()))?;
    let kind = match object.get(TYPE_KEY) {
        Some(Value::String(kind)) => kind.clone(),
        _ => return Err(field_error(TYPE_KEY, "a string")),
    };
    Ok((object, kind))
}

pub(crate) fn unknown_type(kind: &str) -> DecodeError {
    DecodeError::Malformed(String::from("unknown frame type `") + kind + "`")
}

/// The `id` of a text that did not decode as a frame, when it is a JSON object with a usable one: the
/// server answers such a request with an error that carries its id.
pub fn request_id_of(text: &str) -> Option<crate::RequestId> {
    let object = Object::parse(text).ok()?;
    u32::read(object.get("id")).ok()
}

/// Reads a field as the schema declares it: required, or `or default`.
macro_rules! read_schema_field {
    ($object:ident, $key:literal, $ty:ty) => {
        $crate::codec::read_field::<$ty>(&$object, $key)
    };
    ($object:ident, $key:literal, $ty:ty, default) => {
        $crate::codec::read_field_or_default::<$ty>(&$object, $key)
    };
}

/// Declares frame enums with their wire encoding; see the module docs.
macro_rules! wire_frames {
    ($(
        $(#[$enum_meta:meta])*
        pub enum $Enum:ident {
            $(
                $(#[$variant_meta:meta])*
                $Variant:ident = $tag:literal {
                    $(
                        $(#[$field_meta:meta])*
                        $field:ident : $ty:ty = $key:literal $(or $default:ident)?
                    ),* $(,)?
                }
            ),* $(,)?
        }
    )*) => {$(
        $(#[$enum_meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $Enum {
            $(
                $(#[$variant_meta])*
                $Variant {
                    $( $(#[$field_meta])* $field: $ty, )*
                },
            )*
        }

        impl $Enum {
            /// Every wire type of this enum, in schema order.
            pub const TYPES: &'static [&'static str] = &[$($tag),*];

            /// The wire type of this frame (`"login"`, ...).
            pub fn type_name(&self) -> &'static str {
                match self {
                    $( $Enum::$Variant { .. } => $tag, )*
                }
            }

            /// Encodes as JSON text: `type` first, then the fields in schema order.
            pub fn encode(&self) -> String {
                let mut out = $crate::json::Writer::new();
                match self {
                    $(
                        $Enum::$Variant { $($field),* } => {
                            out.string($crate::codec::TYPE_KEY, $tag);
                            $( $crate::codec::Field::write($field, $key, &mut out); )*
                        }
                    )*
                }
                out.finish()
            }

            /// Decodes a text frame of at most [`crate::limits::MAX_FRAME_BYTES`]; never panics.
            pub fn decode(text: &str) -> Result<Self, $crate::DecodeError> {
                Self::decode_limited(text, $crate::limits::MAX_FRAME_BYTES)
            }

            /// Decodes a text frame of at most `max` bytes (a server's configured limit); never panics.
            /// Unknown fields are ignored; unknown types, missing or mistyped fields are errors.
            pub fn decode_limited(text: &str, max: usize) -> Result<Self, $crate::DecodeError> {
                let (object, kind) = $crate::codec::open(text, max)?;
                match &*kind {
                    $(
                        $tag => Ok($Enum::$Variant {
                            $( $field: $crate::codec::read_schema_field!(object, $key, $ty $(, $default)?)?, )*
                        }),
                    )*
                    _ => Err($crate::codec::unknown_type(&kind)),
                }
            }
        }
    )*};
}

pub(crate) use {read_schema_field, wire_frames};
