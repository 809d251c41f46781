//! The one table of error codes that the SDK and the server produce.
//!
//! Numbers reuse the official Tencent Cloud IM codes where the situation is the same (2000-3006 in the
//! SDK, 7003 and 70001-70500 on the server). Situations the official SDK does not have get numbers in
//! ranges of our own: 8001-8099 (SDK) and 80001-80099 (server). `docs/error-codes.md` is rendered
//! from this table by [`ErrorCode::markdown_table`]; a test fails when the file is stale
//! (`TIM_UPDATE_DOCS=1 cargo test -p tim-protocol` rewrites it).

macro_rules! error_codes {
    (
        sdk { $($variant:ident = $code:literal, $name:literal, $message:literal;)* }
        server { $($s_variant:ident = $s_code:literal, $s_name:literal, $s_message:literal;)* }
    ) => {
        /// Every error code of the SDK and the server.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = $message]
                $variant,
            )*
            $(
                #[doc = $s_message]
                $s_variant,
            )*
        }

        impl ErrorCode {
            /// Every variant, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)* $(ErrorCode::$s_variant,)*];

            /// The stable numeric code that JS sees as `imError.code`.
            pub fn code(self) -> u32 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    $(ErrorCode::$s_variant => $s_code,)*
                }
            }

            /// The code as an `error` frame carries it (every code of the table is non-zero).
            pub fn wire_code(self) -> std::num::NonZeroU32 {
                std::num::NonZeroU32::new(self.code()).unwrap_or(std::num::NonZeroU32::MAX)
            }

            /// The official-style constant name (`USER_NOT_LOGGED_IN`).
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    $(ErrorCode::$s_variant => $s_name,)*
                }
            }

            /// The English message: the SDK's own for its codes; the server's for the server's codes
            /// everywhere but in the wasm SDK, which never makes a server code's error itself (it reads
            /// the message the server's `error` frame carries) and so does not ship those texts: there
            /// they read [`SERVER_MESSAGE_IN_FRAME`].
            pub fn message(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $message,)*
                    $(
                        #[cfg(not(target_arch = "wasm32"))]
                        ErrorCode::$s_variant => $s_message,
                    )*
                    #[cfg(target_arch = "wasm32")]
                    $(ErrorCode::$s_variant)|* => SERVER_MESSAGE_IN_FRAME,
                }
            }

            /// The variant for a numeric code, if the table has it (a search of [`ErrorCode::ALL`]:
            /// the same answer as a `match` on the numbers, in a fifth of the wasm's code).
            pub fn from_code(code: u32) -> Option<ErrorCode> {
                ErrorCode::ALL.iter().copied().find(|e| e.code() == code)
            }
        }
    };
}

/// [`ErrorCode::message`] of a server code in the wasm SDK: the server's own text arrives with the
/// code, in the `error` frame, and is what `imError.message` shows.
pub const SERVER_MESSAGE_IN_FRAME: &str = "An error reported by the server (its message comes with it).";

error_codes! {
    sdk {
    // --- SDK, official numbers ---
    NoSdkAppId = 2000, "NO_SDKAPPID", "SDKAppID is missing or is not a positive integer.";
    NoIdentifier = 2002, "NO_IDENTIFIER", "userID is missing: login needs a non-empty userID string.";
    NoUserSig = 2003, "NO_USERSIG", "userSig is missing: login needs a non-empty userSig string.";
    UserNotLoggedIn = 2024, "USER_NOT_LOGGED_IN", "The user has not logged in.";
    RepeatLogin = 2025, "REPEAT_LOGIN", "A login is already in progress; wait for it to finish.";
    NetworkError = 2800, "NETWORK_ERROR", "Network error: the connection to the server failed or dropped.";
    NetworkTimeout = 2801, "NETWORK_TIMEOUT", "The request timed out waiting for the server.";
    SdkIsNotReady = 2999, "SDK_IS_NOT_READY", "The SDK is not ready: wait for TIM.EVENT.SDK_READY before calling this API.";
    LoggingIn = 3000, "LOGGING_IN", "The SDK is not ready: a login is in progress.";
    LoginFailed = 3001, "LOGIN_FAILED", "The SDK is not ready: the last login failed.";
    KickedOutMultDevice = 3002, "KICKED_OUT_MULT_DEVICE", "The SDK is not ready: kicked out by a login on another device.";
    KickedOutMultAccount = 3003, "KICKED_OUT_MULT_ACCOUNT", "The SDK is not ready: kicked out because the account logged in on more web instances than allowed.";
    KickedOutUserSigExpired = 3004, "KICKED_OUT_USERSIG_EXPIRED", "The SDK is not ready: kicked out because the UserSig expired.";
    LoggedOut = 3005, "LOGGED_OUT", "The SDK is not ready: the user logged out.";
    KickedOutRestApi = 3006, "KICKED_OUT_REST_API", "The SDK is not ready: kicked out by an administrator through the server API.";
    InvalidUserId = 7003, "INVALID_USERID", "userID must be 1 to 32 bytes of printable ASCII.";
    // --- SDK, our own ---
    AnotherUserLoggedIn = 8001, "ANOTHER_USER_LOGGED_IN", "Another user is logged in on this instance: call logout() before logging in as a different user.";
    InvalidArgument = 8002, "INVALID_ARGUMENT", "An argument has the wrong type or value.";
    InvalidServerUrl = 8003, "INVALID_SERVER_URL", "serverUrl must be a ws:// or wss:// URL.";
    NoWebSocket = 8004, "NO_WEBSOCKET", "No WebSocket is available: pass options.WebSocket or install the 'ws' package (Node 20).";
    SdkDestroyed = 8005, "SDK_DESTROYED", "This instance was destroyed; create a new one with TIM.create().";
    NotInitialized = 8006, "NOT_INITIALIZED", "The SDK is not initialised: await TIM.init() before TIM.create() in a mini program.";
    ProtocolError = 8007, "PROTOCOL_ERROR", "The server sent a frame this SDK cannot understand.";
    LogoutInProgress = 8008, "LOGOUT_IN_PROGRESS", "A logout is in progress; wait for it to finish before logging in.";
    }
    server {
    // --- server, official numbers ---
    UserSigExpired = 70001, "USERSIG_EXPIRED", "The UserSig has expired: generate a new one.";
    UserSigMalformed = 70003, "USERSIG_MALFORMED", "The UserSig is malformed: it does not decode as a TLSSigAPIv2 UserSig.";
    UserSigBadSignature = 70009, "USERSIG_BAD_SIGNATURE", "The UserSig signature does not verify: check the app's secret key.";
    UserSigIdentifierMismatch = 70013, "USERSIG_IDENTIFIER_MISMATCH", "The UserSig was issued for a different userID.";
    UserSigSdkAppIdMismatch = 70014, "USERSIG_SDKAPPID_MISMATCH", "The UserSig was issued for a different SDKAppID.";
    SdkAppIdNotFound = 70020, "SDKAPPID_NOT_FOUND", "The server has no app with this SDKAppID.";
    LoginRateLimited = 70050, "LOGIN_RATE_LIMITED", "Too many failed logins from this address; retry later.";
    UserSigRevoked = 70052, "USERSIG_REVOKED", "The UserSig was issued before the account was kicked by an administrator: generate a new one.";
    InvalidParameters = 70402, "INVALID_PARAMETERS", "The request parameters are invalid.";
    AdminRequired = 70403, "ADMIN_REQUIRED", "This API needs the app administrator's identifier and UserSig.";
    ServerInternal = 70500, "SERVER_INTERNAL", "Internal server error.";
    // --- server, our own ---
    UnsupportedProtocolVersion = 80001, "UNSUPPORTED_PROTOCOL_VERSION", "The server does not speak this SDK's protocol version.";
    MalformedFrame = 80002, "MALFORMED_FRAME", "The frame could not be decoded.";
    FrameTooLarge = 80003, "FRAME_TOO_LARGE", "The frame exceeds the maximum frame size.";
    TooManyConnections = 80004, "TOO_MANY_CONNECTIONS", "The server or this address holds the maximum number of connections.";
    LoginDeadlineExceeded = 80005, "LOGIN_DEADLINE_EXCEEDED", "The connection did not log in within the server's deadline.";
    NotLoggedIn = 80006, "NOT_LOGGED_IN", "This connection has not logged in.";
    InstanceNotFound = 80007, "INSTANCE_NOT_FOUND", "The instance is no longer online (it was kicked or timed out).";
    UserSigUserbufMismatch = 80008, "USERSIG_USERBUF_MISMATCH", "The UserSig's userbuf does not match what the server expects.";
    AlreadyLoggedInAsOther = 80009, "ALREADY_LOGGED_IN_AS_OTHER", "This connection is logged in as another user.";
    UserSigFromTheFuture = 80010, "USERSIG_FROM_THE_FUTURE", "The UserSig's TLS.time lies too far ahead of the server's clock: check the clock of the machine that made it.";
    SendRateLimited = 80011, "SEND_RATE_LIMITED", "This account is sending messages faster than the server allows; retry later.";
    RegistryUnavailable = 80012, "REGISTRY_UNAVAILABLE", "The server cannot reach its session store (Redis) right now; retry later.";
    }
}

impl ErrorCode {
    /// Who produces the code: `"SDK"` or `"server"`.
    pub fn origin(self) -> &'static str {
        if self.code() < 10_000 {
            "SDK"
        } else {
            "server"
        }
    }

    /// The whole table as Markdown, as published in `docs/error-codes.md`.
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | name | from | message |\n|---:|---|---|---|\n");
        for &e in ErrorCode::ALL {
            out += &format!("| {} | `{}` | {} | {} |\n", e.code(), e.name(), e.origin(), e.message());
        }
        out
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code(), self.name(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &e in ErrorCode::ALL {
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
            assert_eq!(
                e.wire_code().get(),
                e.code(),
                "an error frame carries every code as it is"
            );
            assert!(names.insert(e.name()), "duplicate name {}", e.name());
            assert_eq!(ErrorCode::from_code(e.code()), Some(e));
            assert!(!e.message().is_empty());
        }
        assert_eq!(ErrorCode::from_code(1), None);
    }

    #[test]
    fn official_numbers_are_kept() {
        assert_eq!(ErrorCode::UserNotLoggedIn.code(), 2024);
        assert_eq!(ErrorCode::RepeatLogin.code(), 2025);
        assert_eq!(ErrorCode::SdkIsNotReady.code(), 2999);
        assert_eq!(ErrorCode::LoggedOut.code(), 3005);
        assert_eq!(ErrorCode::KickedOutRestApi.code(), 3006);
        assert_eq!(ErrorCode::UserSigExpired.code(), 70001);
    }

    #[test]
    fn logout_in_progress_has_its_own_code_not_repeat_logins() {
        assert_eq!(ErrorCode::LogoutInProgress.code(), 8008);
        assert_ne!(ErrorCode::LogoutInProgress.code(), ErrorCode::RepeatLogin.code());
        assert_eq!(ErrorCode::from_code(8008), Some(ErrorCode::LogoutInProgress));
    }
}
