//! The outer layers of a UserSig: zlib, standard base64, then the URL-safe character swap
//! `+`→`*`, `/`→`-`, `=`→`_`. Decoding is bounded in input and in inflated size.

use std::cell::RefCell;
use std::io::Write;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use flate2::write::ZlibEncoder;
use flate2::Compression;

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

/// A thread's inflate state and output buffer, reused for every UserSig.
struct Inflater {
    state: zlib_rs::Inflate,
    /// Room for [`MAX_INFLATED_LEN`] bytes and one more (see [`inflate_bounded`]).
    out: Box<[u8]>,
}

thread_local! {
    /// One per thread, reset for each UserSig. A fresh state per call allocated its state and window on
    /// every login, and those short-lived blocks between the long-lived ones of each connection grew the
    /// server's memory per idle instance by ~600 B (logins/s row of the bench, glibc malloc); a fresh
    /// output buffer was an 8 KiB allocation and memset per login for a document of ~200 bytes.
    static INFLATER: RefCell<Inflater> = RefCell::new(Inflater {
        state: zlib_rs::Inflate::new(true, 15),
        out: vec![0u8; MAX_INFLATED_LEN + 1].into_boxed_slice(),
    });
}

/// Inflates a zlib stream (checking its Adler-32), refusing output larger than [`MAX_INFLATED_LEN`]:
/// the output buffer holds one byte more, so a longer stream stops with its output full.
///
/// zlib-rs, not miniz_oxide: a UserSig is one block of fixed Huffman codes (what zlib's compressor picks
/// for a short document), and zlib-rs decodes those with static tables where miniz_oxide builds the
/// fixed tree again for every stream: 2.9 us against 8.6 us per official UserSig, the largest single
/// cost of a login in a profile of the server.
fn inflate_bounded(compressed: &[u8]) -> Result<Vec<u8>, UserSigError> {
    INFLATER.with(|cell| {
        let inflater = &mut *cell.borrow_mut();
        inflater.state.reset(true);
        let status = inflater
            .state
            .decompress(compressed, &mut inflater.out, zlib_rs::InflateFlush::Finish);
        let written = inflater.state.total_out() as usize;
        match status {
            Ok(zlib_rs::Status::StreamEnd) if written <= MAX_INFLATED_LEN => Ok(inflater.out[..written].to_vec()),
            Ok(_) if written > MAX_INFLATED_LEN => Err(UserSigError::malformed(format!(
                "the document inflates to more than {MAX_INFLATED_LEN} bytes"
            ))),
            Ok(_) => Err(UserSigError::malformed("not a zlib stream: it ends too early")),
            Err(_) => Err(UserSigError::malformed(
                "not a zlib stream: corrupt data or a bad checksum",
            )),
        }
    })
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

    fn malformed_reason(compressed: &[u8]) -> String {
        match inflate_bounded(compressed) {
            Err(UserSigError::Malformed(reason)) => reason,
            other => panic!("expected a malformed stream, got {other:?}"),
        }
    }

    fn zlib(document: &[u8]) -> Vec<u8> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(document).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_cut_short_stream_a_bad_checksum_and_garbage_are_told_apart_from_a_bomb() {
        let document = b"{\"TLS.ver\":\"2.0\",\"TLS.identifier\":\"user1\"}";
        let stream = zlib(document);
        assert!(malformed_reason(&stream[..stream.len() - 6]).contains("ends too early"));
        let mut bad_sum = stream.clone();
        *bad_sum.last_mut().unwrap() ^= 1;
        assert!(malformed_reason(&bad_sum).contains("bad checksum"));
        assert!(malformed_reason(b"\x78\x9c\xff\xff\xff\xff").contains("corrupt"));
        assert!(malformed_reason(b"").contains("ends too early"));
        // The state is reset between calls: a good stream after the bad ones still inflates.
        assert_eq!(inflate_bounded(&stream).as_deref(), Ok(&document[..]));
    }
}
