//! The one timer of an instance, through the global `setTimeout`/`clearTimeout` (never `window`, which
//! Node and mini-programs lack). The timer owns its closure; dropping it clears the pending timeout.
//! Its methods take `&self` and hold no borrow while they call into JS.

use std::cell::RefCell;

use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::debug;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, delay_ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// Longest delay `setTimeout` accepts (2^31 - 1 ms); longer deadlines re-arm when it fires.
const MAX_DELAY_MS: u64 = 2_147_483_647;

/// A re-armable one-shot timer calling one closure.
pub struct Timer {
    callback: Closure<dyn FnMut()>,
    /// The pending timeout's id (a number in browsers, an object in Node) and its deadline.
    armed: RefCell<Option<(JsValue, u64)>>,
}

impl Timer {
    /// A disarmed timer that calls `fire` when it expires.
    pub fn new(fire: impl FnMut() + 'static) -> Timer {
        debug::closure_created(1);
        Timer {
            callback: Closure::new(fire),
            armed: RefCell::new(None),
        }
    }

    /// Arms the timer for the absolute `deadline` (ms on the `Date.now()` clock), or disarms it.
    /// Keeps a pending timeout that already has this deadline.
    pub fn arm(&self, deadline: Option<u64>, now: u64) {
        if self.armed.borrow().as_ref().map(|(_, d)| *d) == deadline {
            return;
        }
        self.disarm();
        if let Some(deadline) = deadline {
            // +1 ms: a timer that fires a hair early must not find its deadline still ahead.
            let delay = deadline.saturating_sub(now).saturating_add(1).min(MAX_DELAY_MS);
            let id = set_timeout(self.callback.as_ref().unchecked_ref(), delay as f64);
            *self.armed.borrow_mut() = Some((id, deadline));
        }
    }

    /// Notes that the pending timeout fired (so the next `arm` sets a new one).
    pub fn fired(&self) {
        self.armed.borrow_mut().take();
    }

    fn disarm(&self) {
        let armed = self.armed.borrow_mut().take();
        if let Some((id, _)) = armed {
            clear_timeout(&id);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.disarm();
        debug::closure_dropped(1);
    }
}
