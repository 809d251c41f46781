//! WebSocket close codes used by the server.
//!
//! The 4000-4999 range is reserved by RFC 6455 for applications. A client must not reconnect after a
//! [terminal](is_terminal) code: reconnecting after a kick is how other SDKs start kick storms.

/// The server is shutting down or restarting; reconnecting later is right.
pub const GOING_AWAY: u16 = 1001;
/// This node cannot serve the connection now (it is restarting, or cut off from the shared registry):
/// reconnect at once, to another node where there is one (RFC 6455 registry: Service Restart).
pub const SERVICE_RESTART: u16 = 1012;
/// A frame exceeded [`crate::limits::MAX_FRAME_BYTES`].
pub const TOO_BIG: u16 = 1009;
/// A frame could not be decoded, was binary, or broke the protocol.
pub const PROTOCOL_ERROR: u16 = 4000;
/// The instance was kicked (a `kicked` frame precedes this close). Terminal.
pub const KICKED: u16 = 4001;
/// The connection did not log in within the server's login deadline.
pub const LOGIN_DEADLINE: u16 = 4002;
/// The server or this address already holds the maximum number of connections.
pub const SERVER_FULL: u16 = 4003;
/// Too many failed logins from this address; retry after a pause.
pub const RATE_LIMITED: u16 = 4004;
/// No traffic from the client within the server's idle timeout.
pub const IDLE_TIMEOUT: u16 = 4005;
/// The instance logged out; the server has freed its slot. Terminal.
pub const LOGGED_OUT: u16 = 4006;

/// True when a client must not reconnect after this close code. The SDK's only test of "may I
/// reconnect?": a terminal code added here stops reconnects there too.
pub fn is_terminal(code: u16) -> bool {
    matches!(code, KICKED | LOGGED_OUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kicked_and_logged_out_are_terminal() {
        let terminal: Vec<u16> = (0..=u16::MAX).filter(|&c| is_terminal(c)).collect();
        assert_eq!(terminal, [KICKED, LOGGED_OUT]);
        for code in [
            1000,
            GOING_AWAY,
            SERVICE_RESTART,
            TOO_BIG,
            PROTOCOL_ERROR,
            LOGIN_DEADLINE,
            SERVER_FULL,
            RATE_LIMITED,
            IDLE_TIMEOUT,
        ] {
            assert!(!is_terminal(code), "{code}");
        }
    }
}
