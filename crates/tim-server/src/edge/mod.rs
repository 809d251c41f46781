//! The network edge: the accept loop (connection caps at accept, the header deadline, HTTP/1.1 serving)
//! and the `/ws` upgrade it performs itself.

pub mod accept;
pub mod client_addr;
pub mod proxy_protocol;
pub mod ws_direct;
