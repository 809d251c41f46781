//! The one conversion from core errors to JS: `imError`, a real `Error` with `code`, `message`, `data`.
//!
//! Every error that reaches JS, whether a rejected Promise or a thrown `TIM.create` error, is made here:
//! `name` is `"TimError"`, `code` the numeric code of the table in `tim_protocol::ErrorCode`,
//! `codeName` the table's constant name when the code is known (`"USER_NOT_LOGGED_IN"`), `data` `{}`.

use js_sys::{Object, Reflect};
use tim_core::{ErrorCode, TimError};
use wasm_bindgen::prelude::*;

/// The `name` of every error the SDK produces.
pub const ERROR_NAME: &str = "TimError";

/// Converts a core error into a JS `Error` (`imError`).
pub fn to_js(error: &TimError) -> JsValue {
    let js = js_sys::Error::new(&error.message);
    js.set_name(ERROR_NAME);
    let code_name = error.error_code().map(ErrorCode::name).unwrap_or("UNKNOWN");
    set(&js, "code", &JsValue::from(error.code));
    set(&js, "codeName", &JsValue::from_str(code_name));
    set(&js, "data", &Object::new());
    js.into()
}

/// The JS error for a table entry, with the table's message.
pub fn from_code(code: ErrorCode) -> JsValue {
    to_js(&TimError::from(code))
}

/// The JS error for a table entry, with a more specific message.
pub fn with_message(code: ErrorCode, message: &str) -> JsValue {
    to_js(&TimError {
        code: code.code(),
        message: message.to_owned(),
    })
}

/// Replaces `imError.data` (`{}` by default), e.g. with `{message}` for a failed send.
pub fn set_data(error: &JsValue, data: JsValue) {
    set(error, "data", &data);
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a property on a fresh Error object cannot fail; the result carries nothing useful.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn get(v: &JsValue, key: &str) -> JsValue {
        Reflect::get(v, &JsValue::from_str(key)).unwrap()
    }

    #[wasm_bindgen_test]
    fn every_table_entry_converts_to_a_real_error_with_its_code() {
        assert!(ErrorCode::ALL.len() > 30);
        for &code in ErrorCode::ALL {
            let js = from_code(code);
            assert!(js.is_instance_of::<js_sys::Error>(), "{code:?} is not an Error");
            let err: &js_sys::Error = js.unchecked_ref();
            assert_eq!(String::from(err.name()), "TimError");
            assert_eq!(String::from(err.message()), code.message(), "{code:?}");
            assert_eq!(get(&js, "code").as_f64(), Some(code.code() as f64), "{code:?}");
            assert_eq!(get(&js, "codeName").as_string().as_deref(), Some(code.name()));
            let data = get(&js, "data");
            assert!(data.is_object());
            assert_eq!(Object::keys(data.unchecked_ref::<Object>()).length(), 0);
        }
    }

    #[wasm_bindgen_test]
    fn unknown_codes_from_a_newer_server_keep_their_number() {
        let js = to_js(&TimError {
            code: 99_999,
            message: "new".into(),
        });
        assert_eq!(get(&js, "code").as_f64(), Some(99_999.0));
        assert_eq!(get(&js, "codeName").as_string().as_deref(), Some("UNKNOWN"));
        assert_eq!(get(&js, "message").as_string().as_deref(), Some("new"));
    }

    #[wasm_bindgen_test]
    fn specific_messages_keep_the_code() {
        let js = with_message(ErrorCode::InvalidArgument, "options must be an object");
        assert_eq!(get(&js, "code").as_f64(), Some(8002.0));
        assert_eq!(
            get(&js, "message").as_string().as_deref(),
            Some("options must be an object")
        );
    }
}
