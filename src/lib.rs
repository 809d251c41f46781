//! `tim-wasm`: the JavaScript-facing `TIM` object over [`tim_core`], compiled to WebAssembly.
//!
//! This crate holds no business logic. Every decision (login, logout, kicks, reconnect, the not-ready
//! guard) is made by the sans-IO [`tim_core::Session`]; this crate only drives it:
//!
//! - [`tim`]: the exported `TIM` class (`TIM.create`, `login`, `logout`, `on`, ...) and its statics;
//! - [`driver`]: feeds the session, performs its outputs, then settles Promises and calls listeners
//!   with no borrow held (a listener may call any method, `logout()` included);
//! - [`listeners`], [`promise`]: the listener registry and the Promise plumbing;
//! - [`transport`], [`timer`]: the WebSocket and the one timer of an instance, each an RAII owner of the
//!   closures it hands to JS;
//! - [`convert`], [`error`], [`options`], [`constants`]: conversions between core types and JS values;
//! - [`log`]: `setLogLevel` and `console` output; [`runtime`]: defaults the package's loaders install.
//!
//! The socket is any object with the W3C `WebSocket` shape (`new Ctor(url)`, `send`, `close`, `onopen`,
//! `onmessage`, `onclose`, `onerror`): the browser's `WebSocket`, the npm `ws` package, or a small
//! adapter over a mini-program's `connectSocket`. Runtimes differ only in the JS that picks it.

#![warn(missing_docs)]

pub mod constants;
pub mod convert;
pub mod debug;
pub mod driver;
pub mod error;
pub mod listeners;
pub mod log;
pub mod options;
pub mod promise;
pub mod runtime;
pub mod statics;
pub mod tim;
pub mod timer;
pub mod transport;

pub use tim::Tim;

#[cfg(all(test, target_arch = "wasm32"))]
mod driver_tests;

use wasm_bindgen::prelude::*;

// Talc rather than dlmalloc: a smaller module for the same behaviour (see Cargo.toml). Single-threaded
// wasm (no `atomics`), so the lock it skips is never needed.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

/// Runs once when the module is instantiated (`__wbindgen_start`): a panic becomes a readable
/// `console.error` with its location and message (`src/x.rs:12: message`) instead of a bare
/// `unreachable` trap. (Our own hook rather than `console_error_panic_hook`, whose JS stack capture
/// costs the wasm and the glue ~1 KB; the text is joined by hand, as the logs are, rather than through
/// the hook info's `Display`.)
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        // `PanicHookInfo::payload_as_str` by hand (it needs Rust 1.91; the MSRV is 1.85).
        let payload = info.payload();
        let message = (payload.downcast_ref::<&str>().copied())
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        log::panic(&[file, ":", &log::num(line.into()), ": ", message]);
    }));
}
