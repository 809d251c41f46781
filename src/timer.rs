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

    /// Arms the timer for the absolute `deadline` (ms on the `Date.now()` clock), or disarms it; `now`
    /// is read only when a timeout is set (one `Date.now()` crossing fewer per input otherwise).
    /// A pending timeout due at or before `deadline` is kept: when it fires early the core finds nothing
    /// due and the timer is armed again. A deadline that moves later (a login's ack replaces the login
    /// deadline with the heartbeat's) costs no `clearTimeout` + `setTimeout` pair on the hot path.
    /// `None` always clears: a pending timeout would keep a Node process alive after `logout()`.
    pub fn arm(&self, deadline: Option<u64>, now: impl FnOnce() -> u64) {
        let pending = self.armed.borrow().as_ref().map(|(_, d)| *d);
        let keep = match (pending, deadline) {
            (Some(pending), Some(deadline)) => pending <= deadline,
            (None, None) => true,
            _ => false,
        };
        if keep {
            return;
        }
        self.disarm();
        if let Some(deadline) = deadline {
            // +1 ms: a timer that fires a hair early must not find its deadline still ahead.
            let delay = deadline.saturating_sub(now()).saturating_add(1).min(MAX_DELAY_MS);
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

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    async fn sleep(ms: f64) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            let _ = set_timeout(&resolve, ms);
        });
        let _ = JsFuture::from(promise).await;
    }

    fn counting_timer() -> (Timer, Rc<Cell<u32>>) {
        let fired = Rc::new(Cell::new(0));
        let count = fired.clone();
        (Timer::new(move || count.set(count.get() + 1)), fired)
    }

    #[wasm_bindgen_test]
    async fn a_later_deadline_keeps_the_pending_timeout_which_fires_early() {
        let (timer, fired) = counting_timer();
        let now = js_sys::Date::now() as u64;
        timer.arm(Some(now + 20), || now);
        timer.arm(Some(now + 600_000), || now);
        sleep(150.0).await;
        assert_eq!(fired.get(), 1, "the first timeout was kept");
        // The driver notes the early fire, the core finds nothing due, and the later deadline is armed.
        timer.fired();
        timer.arm(Some(now + 600_000), || now);
        sleep(50.0).await;
        assert_eq!(fired.get(), 1);
    }

    #[wasm_bindgen_test]
    async fn an_earlier_deadline_replaces_the_pending_timeout_and_none_clears_it() {
        let (timer, fired) = counting_timer();
        let now = js_sys::Date::now() as u64;
        timer.arm(Some(now + 600_000), || now);
        timer.arm(Some(now + 20), || now);
        sleep(150.0).await;
        assert_eq!(fired.get(), 1, "the earlier deadline fired");
        timer.fired();
        let now = js_sys::Date::now() as u64;
        timer.arm(Some(now + 20), || now);
        timer.arm(None, || now);
        sleep(150.0).await;
        assert_eq!(fired.get(), 1, "disarmed: no timeout left pending");
    }
}
