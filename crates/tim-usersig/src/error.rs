//! Why a UserSig was refused: one variant per failure, each mapped to its row of the error table.

use std::fmt;

use tim_protocol::ErrorCode;

/// Why a UserSig could not be decoded or did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSigError {
    /// The string is not a TLSSigAPIv2 UserSig (bad characters, base64, zlib, JSON, missing or mistyped
    /// fields, unsupported `TLS.ver`, too large). The text says which layer failed.
    Malformed(String),
    /// The UserSig was genuine but its validity ended at `expired_at` (unix seconds, `time + expire`).
    Expired {
        /// Last second (inclusive) at which the UserSig was valid.
        expired_at: u64,
    },
    /// The UserSig was issued for another SDKAppID.
    SdkAppIdMismatch {
        /// The SDKAppID the verifier serves.
        expected: u64,
        /// The SDKAppID written in the UserSig.
        found: u64,
    },
    /// The UserSig was issued for another identifier (userID).
    IdentifierMismatch,
    /// The HMAC does not match: wrong secret key, or a field was altered after signing.
    BadSignature,
    /// The UserSig is genuine but its userbuf is not the one the verifier expects.
    UserbufMismatch,
}

impl UserSigError {
    /// The row of the shared error table ([`tim_protocol::ErrorCode`]) that reports this failure.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            UserSigError::Malformed(_) => ErrorCode::UserSigMalformed,
            UserSigError::Expired { .. } => ErrorCode::UserSigExpired,
            UserSigError::SdkAppIdMismatch { .. } => ErrorCode::UserSigSdkAppIdMismatch,
            UserSigError::IdentifierMismatch => ErrorCode::UserSigIdentifierMismatch,
            UserSigError::BadSignature => ErrorCode::UserSigBadSignature,
            UserSigError::UserbufMismatch => ErrorCode::UserSigUserbufMismatch,
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        UserSigError::Malformed(reason.into())
    }
}

impl fmt::Display for UserSigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserSigError::Malformed(reason) => write!(f, "malformed UserSig: {reason}"),
            UserSigError::Expired { expired_at } => {
                write!(f, "the UserSig expired: it was valid until unix time {expired_at}")
            }
            UserSigError::SdkAppIdMismatch { expected, found } => {
                write!(f, "the UserSig was issued for SDKAppID {found}, expected {expected}")
            }
            UserSigError::IdentifierMismatch => f.write_str("the UserSig was issued for a different identifier"),
            UserSigError::BadSignature => {
                f.write_str("the UserSig signature does not verify (wrong secret key or altered fields)")
            }
            UserSigError::UserbufMismatch => f.write_str("the UserSig's userbuf differs from the expected one"),
        }
    }
}

impl std::error::Error for UserSigError {}
