//! The listener registry of one instance: `on`, `once`, `off`, and the calls of an emit.
//!
//! The registry only answers "whom to call"; the driver makes the calls with no borrow held, so a
//! listener may register, remove, or call any SDK method while it runs.

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::log;

/// One registration.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    handler: Function,
    context: JsValue,
    once: bool,
}

/// The registrations of one instance, in registration order.
#[derive(Debug, Default)]
pub struct Listeners {
    entries: Vec<Entry>,
}

/// A call to make: `handler.call(context, event)`.
#[derive(Debug)]
pub struct Call {
    handler: Function,
    context: JsValue,
}

impl Call {
    /// Calls the listener; an exception is logged, never propagated, so the other listeners still run.
    pub fn invoke(&self, name: &str, event: &JsValue) {
        if let Err(exception) = self.handler.call1(&self.context, event) {
            log::error_value(&["a listener of '", name, "' threw:"], &exception);
        }
    }
}

impl Listeners {
    /// `on(name, handler, context)` or, with `once`, `once(...)`. Duplicates are kept, as in the
    /// official SDK's emitter: each registration is called.
    pub fn add(&mut self, name: String, handler: Function, context: JsValue, once: bool) {
        self.entries.push(Entry {
            name,
            handler,
            context,
            once,
        });
    }

    /// `off(name, handler, context?, once?)`: removes every registration of `handler` for `name`;
    /// a given `context` or `once` narrows the match. Returns how many were removed.
    pub fn remove(&mut self, name: &str, handler: &JsValue, context: &JsValue, once: Option<bool>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| {
            let same = e.name == name
                && JsValue::from(e.handler.clone()) == *handler
                && (context.is_undefined() || e.context == *context)
                && once.is_none_or(|o| o == e.once);
            !same
        });
        before - self.entries.len()
    }

    /// The calls for an emit of `name`, in registration order; `once` registrations are removed now,
    /// before any is called.
    pub fn take_calls(&mut self, name: &str) -> Vec<Call> {
        let calls = self
            .entries
            .iter()
            .filter(|e| e.name == name)
            .map(|e| Call {
                handler: e.handler.clone(),
                context: e.context.clone(),
            })
            .collect();
        self.entries.retain(|e| !(e.once && e.name == name));
        calls
    }

    /// Number of registrations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes everything (`destroy()`).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// A distinct JS function (tests only: `new Function` is fine here, the SDK itself never evals).
    fn func() -> Function {
        Function::new_no_args("")
    }

    #[wasm_bindgen_test]
    fn on_once_off() {
        let mut l = Listeners::default();
        let (a, b) = (func(), func());
        l.add("x".into(), a.clone(), JsValue::UNDEFINED, false);
        l.add("x".into(), b.clone(), JsValue::UNDEFINED, true);
        l.add("y".into(), a.clone(), JsValue::UNDEFINED, false);
        assert_eq!(l.take_calls("x").len(), 2);
        assert_eq!(l.take_calls("x").len(), 1, "once is removed after its first emit");
        assert_eq!(l.remove("x", &a.clone().into(), &JsValue::UNDEFINED, None), 1);
        assert!(l.take_calls("x").is_empty(), "off really removes");
        assert_eq!(l.len(), 1);
        assert_eq!(l.remove("y", &b.into(), &JsValue::UNDEFINED, None), 0);
        l.clear();
        assert!(l.is_empty());
    }

    #[wasm_bindgen_test]
    fn off_narrows_by_context() {
        let mut l = Listeners::default();
        let f = func();
        let (c1, c2) = (
            JsValue::from(js_sys::Object::new()),
            JsValue::from(js_sys::Object::new()),
        );
        l.add("x".into(), f.clone(), c1.clone(), false);
        l.add("x".into(), f.clone(), c2.clone(), false);
        assert_eq!(l.remove("x", &f.clone().into(), &c1, None), 1);
        assert_eq!(l.remove("x", &f.clone().into(), &c1, None), 0);
        assert_eq!(l.remove("x", &f.into(), &JsValue::UNDEFINED, None), 1);
    }

    #[wasm_bindgen_test]
    fn a_throwing_listener_does_not_stop_the_others() {
        let mut l = Listeners::default();
        let thrower = Function::new_no_args("throw new Error('listener failure')");
        let counter = js_sys::Array::new();
        let push = Function::new_with_args("e", "this.push(e)");
        l.add("x".into(), thrower, JsValue::UNDEFINED, false);
        l.add("x".into(), push, counter.clone().into(), false);
        for call in l.take_calls("x") {
            call.invoke("x", &JsValue::from(1));
        }
        assert_eq!(counter.length(), 1);
    }
}
