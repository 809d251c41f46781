//! Defaults that the package's loaders install before the first `TIM.create`: the WebSocket
//! constructor of the runtime (Node's `ws`, a mini-program adapter) and the platform reported to the
//! server. Exported to JS as `setRuntimeDefaults({WebSocket?, platform?})`, which is not part of the
//! public `TIM` API.

use std::cell::RefCell;

use js_sys::{Function, Reflect};
use tim_core::Platform;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::options;

#[derive(Default)]
struct Defaults {
    websocket: Option<Function>,
    platform: Option<Platform>,
}

thread_local! {
    static DEFAULTS: RefCell<Defaults> = RefCell::new(Defaults::default());
}

/// Installs runtime defaults (called by loaders). `WebSocket` must be a constructor, `platform` one
/// of `web`, `node`, `wx`, `qq`, `tt`, `swan`, `my`; anything else throws a `TimError` 8002.
#[wasm_bindgen(js_name = setRuntimeDefaults)]
pub fn set_runtime_defaults(defaults: &JsValue) -> Result<(), JsValue> {
    // The same readers (and errors) as `TIM.create`'s options.
    let (ws, platform) = options::runtime_options(defaults)?;
    DEFAULTS.with(|d| {
        let mut d = d.borrow_mut();
        if ws.is_some() {
            d.websocket = ws;
        }
        if platform.is_some() {
            d.platform = platform;
        }
    });
    Ok(())
}

/// The WebSocket constructor for a new instance: the option, else the loader's default, else the
/// global `WebSocket`; `None` when there is none (logins then fail with 8004).
pub fn websocket(option: Option<Function>) -> Option<Function> {
    option
        .or_else(|| DEFAULTS.with(|d| d.borrow().websocket.clone()))
        .or_else(|| {
            Reflect::get(&js_sys::global(), &"WebSocket".into())
                .ok()
                .and_then(|v| v.dyn_into::<Function>().ok())
        })
}

/// The platform reported at login: the loader's default, else `web`.
pub fn platform() -> Platform {
    DEFAULTS.with(|d| d.borrow().platform).unwrap_or(Platform::Web)
}
