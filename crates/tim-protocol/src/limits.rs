//! Size limits of the protocol, enforced by both ends.

use crate::ErrorCode;

/// Largest frame, in bytes of UTF-8 text, that either side sends or accepts.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Largest UserID: printable ASCII (0x20-0x7e), 1 to 32 bytes, as the vendor allows.
pub const MAX_USER_ID_BYTES: usize = 32;
/// Largest UserSig string accepted (official sigs are 150-400 bytes; a userbuf adds some).
pub const MAX_USER_SIG_BYTES: usize = 4096;
/// Largest text of one message.
pub const MAX_MESSAGE_TEXT_BYTES: usize = 8 * 1024;
/// Largest instance id presented on reconnect.
pub const MAX_INSTANCE_ID_BYTES: usize = 64;

/// Checks an SDKAppID: a positive integer that a JS number holds exactly (1 to 2^53-1), as every
/// number on the wire is ([`crate::MAX_WIRE_INTEGER`]).
pub fn validate_sdk_app_id(sdk_app_id: u64) -> Result<(), ErrorCode> {
    if (1..=crate::MAX_WIRE_INTEGER).contains(&sdk_app_id) {
        Ok(())
    } else {
        Err(ErrorCode::NoSdkAppId)
    }
}

/// Largest message id (`message.ID`); the SDK makes 32 hex digits.
pub const MAX_MESSAGE_ID_BYTES: usize = 64;

/// Checks a message id: 1 to [`MAX_MESSAGE_ID_BYTES`] ASCII letters, digits, `-` or `_`.
pub fn validate_message_id(msg_id: &str) -> Result<(), ErrorCode> {
    let ok = !msg_id.is_empty()
        && msg_id.len() <= MAX_MESSAGE_ID_BYTES
        && msg_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::InvalidParameters)
    }
}

/// Checks a UserID: non-empty, printable ASCII, at most [`MAX_USER_ID_BYTES`].
pub fn validate_user_id(user_id: &str) -> Result<(), ErrorCode> {
    if user_id.is_empty() {
        return Err(ErrorCode::NoIdentifier);
    }
    if user_id.len() > MAX_USER_ID_BYTES || !user_id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(ErrorCode::InvalidUserId);
    }
    Ok(())
}

/// Checks a UserSig's outer shape (non-empty, bounded). Its content is checked by the server.
pub fn validate_user_sig(user_sig: &str) -> Result<(), ErrorCode> {
    if user_sig.is_empty() {
        return Err(ErrorCode::NoUserSig);
    }
    if user_sig.len() > MAX_USER_SIG_BYTES {
        return Err(ErrorCode::UserSigMalformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_app_id_rules() {
        assert_eq!(validate_sdk_app_id(0), Err(ErrorCode::NoSdkAppId));
        assert_eq!(validate_sdk_app_id(1), Ok(()));
        assert_eq!(validate_sdk_app_id(1_400_000_000), Ok(()));
        assert_eq!(validate_sdk_app_id(crate::MAX_WIRE_INTEGER), Ok(()));
        assert_eq!(
            validate_sdk_app_id(crate::MAX_WIRE_INTEGER + 1),
            Err(ErrorCode::NoSdkAppId)
        );
        assert_eq!(validate_sdk_app_id(u64::MAX), Err(ErrorCode::NoSdkAppId));
    }

    #[test]
    fn user_id_rules() {
        assert_eq!(validate_user_id(""), Err(ErrorCode::NoIdentifier));
        assert_eq!(validate_user_id("alice"), Ok(()));
        assert_eq!(validate_user_id(&"a".repeat(32)), Ok(()));
        assert_eq!(validate_user_id(&"a".repeat(33)), Err(ErrorCode::InvalidUserId));
        assert_eq!(validate_user_id("al\nice"), Err(ErrorCode::InvalidUserId));
        assert_eq!(validate_user_id("álice"), Err(ErrorCode::InvalidUserId));
    }

    #[test]
    fn message_id_rules() {
        assert_eq!(validate_message_id("0123456789abcdef0123456789abcdef"), Ok(()));
        assert_eq!(validate_message_id("a-B_9"), Ok(()));
        for bad in ["", "has space", "ü", &"x".repeat(MAX_MESSAGE_ID_BYTES + 1)] {
            assert_eq!(validate_message_id(bad), Err(ErrorCode::InvalidParameters), "{bad:?}");
        }
    }

    #[test]
    fn user_sig_rules() {
        assert_eq!(validate_user_sig(""), Err(ErrorCode::NoUserSig));
        assert_eq!(validate_user_sig("x"), Ok(()));
        assert_eq!(
            validate_user_sig(&"x".repeat(MAX_USER_SIG_BYTES + 1)),
            Err(ErrorCode::UserSigMalformed)
        );
    }
}
