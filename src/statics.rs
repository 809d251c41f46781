//! `Object.keys(TIM)`: the statics of the official SDK (`create`, `EVENT`, `TYPES`, `VERSION`) as own
//! enumerable properties of the exported class.
//!
//! wasm-bindgen makes static methods non-enumerable and `#[wasm_bindgen(getter)]` statics accessor
//! properties; code written for the official SDK may enumerate or spread `TIM`. Each loader calls
//! `publishStatics(TIM)` once after the module started.

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

/// The statics made enumerable, in the official order.
pub const PUBLIC_STATICS: [&str; 4] = ["create", "EVENT", "TYPES", "VERSION"];

/// Redefines each public static of `class` as an own, enumerable, read-only data property holding its
/// current value (the `EVENT`/`TYPES` tables are frozen singletons, so reading them once is exact).
#[wasm_bindgen(js_name = publishStatics)]
pub fn publish_statics(class: &JsValue) {
    if !class.is_function() {
        return;
    }
    let target: &Object = class.unchecked_ref();
    for name in PUBLIC_STATICS {
        let key = JsValue::from_str(name);
        let Ok(value) = Reflect::get(class, &key) else {
            continue;
        };
        let descriptor = Object::new();
        for (field, v) in [
            ("value", value),
            ("enumerable", JsValue::TRUE),
            ("writable", JsValue::FALSE),
            ("configurable", JsValue::TRUE),
        ] {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&descriptor, &JsValue::from_str(field), &v);
        }
        // The class's own statics are configurable, so redefining them cannot throw.
        Object::define_property(target, &key, &descriptor);
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn the_statics_become_own_enumerable_values() {
        let class: JsValue = js_sys::Function::new_no_args("").into();
        let getter = js_sys::Function::new_no_args("return 'v';");
        let descriptor = Object::new();
        let _ = Reflect::set(&descriptor, &"get".into(), &getter);
        let _ = Reflect::set(&descriptor, &"configurable".into(), &JsValue::TRUE);
        Object::define_property(class.unchecked_ref::<Object>(), &"VERSION".into(), &descriptor);
        let _ = Reflect::set(&class, &"EVENT".into(), &"e".into());
        publish_statics(&class);
        let keys: Vec<String> = Object::keys(class.unchecked_ref::<Object>())
            .iter()
            .filter_map(|k| k.as_string())
            .collect();
        assert!(
            keys.contains(&"VERSION".to_owned()) && keys.contains(&"EVENT".to_owned()),
            "{keys:?}"
        );
        assert_eq!(
            Reflect::get(&class, &"VERSION".into()).unwrap().as_string().as_deref(),
            Some("v")
        );
        publish_statics(&JsValue::from(3));
    }
}
