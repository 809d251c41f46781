//! UserSig checks against an app's key (the one place that calls `tim-usersig`).

use tim_protocol::ErrorCode;

use crate::app_state::AppRuntime;

/// What the server keeps from a verified UserSig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedSig {
    /// `TLS.time`, Unix seconds (compared with the account's last REST kick).
    pub issued_at: u64,
    /// `TLS.time + TLS.expire`, Unix seconds: the last second the UserSig is valid.
    pub expires_at: u64,
}

/// A refused UserSig: the error-table row and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigRefused {
    /// The row of the shared table.
    pub code: ErrorCode,
    /// Why, in words (from `tim-usersig`).
    pub detail: String,
}

/// Verifies `sig` for `user_id` of `app` at Unix time `now`, refusing a `TLS.time` more than
/// `max_future_secs` ahead of `now` (80010): such a UserSig, made before a REST kick on a clock running
/// ahead, would otherwise look issued after the kick and outrun its revocation.
pub fn verify(
    app: &AppRuntime,
    user_id: &str,
    sig: &str,
    now: u64,
    max_future_secs: u64,
) -> Result<VerifiedSig, SigRefused> {
    let verified = verify_with_key(app.sdk_app_id, &app.secret_key, user_id, sig, now)?;
    if verified.issued_at > now.saturating_add(max_future_secs) {
        return Err(SigRefused {
            code: ErrorCode::UserSigFromTheFuture,
            detail: format!(
                "TLS.time {} is {} s ahead of the server's clock (at most {max_future_secs} s allowed)",
                verified.issued_at,
                verified.issued_at - now
            ),
        });
    }
    Ok(verified)
}

/// Verifies `sig` with an explicit app id and key.
pub fn verify_with_key(
    sdk_app_id: u64,
    key: &str,
    user_id: &str,
    sig: &str,
    now: u64,
) -> Result<VerifiedSig, SigRefused> {
    match tim_usersig::verify(sig, sdk_app_id, key, user_id, now) {
        Ok(info) => Ok(VerifiedSig {
            issued_at: info.time,
            expires_at: info.expires_at(),
        }),
        Err(e) => Err(SigRefused {
            code: e.error_code(),
            detail: e.to_string(),
        }),
    }
}

/// Issues a UserSig valid from `now` for `expire` seconds.
pub fn generate(sdk_app_id: u64, key: &str, user_id: &str, expire: u64, now: u64) -> String {
    tim_usersig::gen_usersig(sdk_app_id, key, user_id, expire, now, None)
}
