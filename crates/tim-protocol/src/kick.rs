use crate::ErrorCode;

/// Why an instance was forced offline. The wire strings equal the official `TIM.TYPES` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KickType {
    /// More live web instances of the account than the app allows; the earliest is kicked.
    MultipleAccount,
    /// Kicked by a login on another device or platform.
    MultipleDevice,
    /// The UserSig expired while the instance was online.
    UserSigExpired,
    /// An administrator kicked the account through the server API.
    RestApi,
}

impl KickType {
    /// Every kick type, for exhaustive tests and tables.
    pub const ALL: [KickType; 4] = [
        KickType::MultipleAccount,
        KickType::MultipleDevice,
        KickType::UserSigExpired,
        KickType::RestApi,
    ];

    /// The string that JS sees in `event.data.type` (`TIM.TYPES.KICKED_OUT_*`).
    pub fn as_str(self) -> &'static str {
        match self {
            KickType::MultipleAccount => "multipleAccount",
            KickType::MultipleDevice => "multipleDevice",
            KickType::UserSigExpired => "userSigExpired",
            KickType::RestApi => "REST_API_Kick",
        }
    }

    /// The not-ready reason code an API reports after this kick (3002-3006).
    pub fn error_code(self) -> ErrorCode {
        match self {
            KickType::MultipleAccount => ErrorCode::KickedOutMultAccount,
            KickType::MultipleDevice => ErrorCode::KickedOutMultDevice,
            KickType::UserSigExpired => ErrorCode::KickedOutUserSigExpired,
            KickType::RestApi => ErrorCode::KickedOutRestApi,
        }
    }
}
