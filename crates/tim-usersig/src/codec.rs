//! The outer layers of a UserSig: zlib, standard base64, then the URL-safe character swap
//! `+`→`*`, `/`→`-`, `=`→`_`. Decoding is bounded in input and in inflated size.

use std::io::Write;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_PARSE_ZLIB_HEADER, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use crate::error::UserSigError;
use crate::{MAX_INFLATED_LEN, MAX_USERSIG_LEN};

/// Standard alphabet, padding optional: official verifiers re-pad, and sigs travel through hands that trim it.
pub(crate) const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Compresses a document (zlib, default level, as the official signers) and applies the character swap.
pub(crate) fn encode(document: &[u8]) -> String {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let compressed = match encoder.write_all(document).and_then(|()| encoder.finish()) {
        Ok(bytes) => bytes,
        Err(_) => unreachable!("zlib into a Vec<u8> is infallible"),
    };
    STANDARD
        .encode(compressed)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            other => other,
        })
        .collect()
}

/// Undoes [`encode`]: character swap, base64, then a zlib inflate that never produces more than
/// [`MAX_INFLATED_LEN`] bytes (a zlib bomb is refused after reading one byte past the cap).
pub(crate) fn decode(sig: &str) -> Result<Vec<u8>, UserSigError> {
    if sig.is_empty() {
        return Err(UserSigError::malformed("the UserSig is empty"));
    }
    if sig.len() > MAX_USERSIG_LEN {
        return Err(UserSigError::malformed(format!(
            "the UserSig is {} bytes long, more than the {MAX_USERSIG_LEN} allowed",
            sig.len()
        )));
    }
    let mut base64_text = Vec::with_capacity(sig.len());
    for (index, byte) in sig.bytes().enumerate() {
        base64_text.push(match byte {
            b'*' => b'+',
            b'-' => b'/',
            b'_' => b'=',
            // Plain standard base64 characters pass through, as in the official verifiers.
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => byte,
            _ => {
                return Err(UserSigError::malformed(format!(
                    "character {:?} at byte {index} is not in the UserSig alphabet",
                    sig.get(index..)
                        .and_then(|rest| rest.chars().next())
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                )))
            }
        });
    }
    let compressed = LENIENT_STANDARD
        .decode(&base64_text)
        .map_err(|err| UserSigError::malformed(format!("not base64: {err}")))?;
    inflate_bounded(&compressed)
}

thread_local! {
    /// One inflate state per thread, reused: a fresh `flate2` decoder allocated and zeroed ~75 KB per
    /// UserSig (its 32 KiB window, its tables and a 32 KiB read buffer), which made a verification cost
    /// ~30 µs inside the server instead of ~5 µs in a loop. No window is kept between calls: the output
    /// buffer is the window ([`TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF`]), fresh each time.
    static INFLATER: std::cell::RefCell<Box<DecompressorOxide>> = std::cell::RefCell::new(Box::default());
}

/// Inflates a zlib stream (checking its Adler-32), refusing output larger than [`MAX_INFLATED_LEN`]:
/// the output buffer holds one byte more, so a longer stream stops with more output pending.
fn inflate_bounded(compressed: &[u8]) -> Result<Vec<u8>, UserSigError> {
    let mut inflated = vec![0u8; MAX_INFLATED_LEN + 1];
    let flags = TINFL_FLAG_PARSE_ZLIB_HEADER | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, _, written) = INFLATER.with(|cell| {
        let mut inflater = cell.borrow_mut();
        inflater.init();
        decompress(&mut inflater, compressed, &mut inflated, 0, flags)
    });
    match status {
        TINFLStatus::Done if written <= MAX_INFLATED_LEN => {
            inflated.truncate(written);
            Ok(inflated)
        }
        TINFLStatus::Done | TINFLStatus::HasMoreOutput => Err(UserSigError::malformed(format!(
            "the document inflates to more than {MAX_INFLATED_LEN} bytes"
        ))),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            Err(UserSigError::malformed("not a zlib stream: it ends too early"))
        }
        TINFLStatus::Adler32Mismatch => Err(UserSigError::malformed("not a zlib stream: bad checksum")),
        _ => Err(UserSigError::malformed("not a zlib stream: corrupt data")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_uses_only_the_sig_alphabet() {
        let sig = encode(b"{\"TLS.ver\":\"2.0\"}");
        assert!(
            sig.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-_".contains(&b)),
            "{sig}"
        );
        assert_eq!(decode(&sig).as_deref(), Ok(&b"{\"TLS.ver\":\"2.0\"}"[..]));
    }

    #[test]
    fn missing_padding_is_tolerated() {
        let sig = encode(b"padding matters here");
        let trimmed = sig.trim_end_matches('_');
        assert_ne!(trimmed.len(), sig.len(), "this input must need padding: {sig}");
        assert_eq!(decode(trimmed).as_deref(), Ok(&b"padding matters here"[..]));
    }

    #[test]
    fn a_document_exactly_at_the_cap_inflates() {
        let document = vec![b'a'; MAX_INFLATED_LEN];
        assert_eq!(decode(&encode(&document)).map(|d| d.len()), Ok(MAX_INFLATED_LEN));
    }

    #[test]
    fn one_byte_over_the_cap_is_refused() {
        let document = vec![b'a'; MAX_INFLATED_LEN + 1];
        assert!(matches!(decode(&encode(&document)), Err(UserSigError::Malformed(_))));
    }
}
