//! Wall-clock time as the protocol counts it (Unix seconds and milliseconds).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix time in seconds (the unit of UserSig `TLS.time`).
pub fn now_secs() -> u64 {
    now_ms() / 1000
}
