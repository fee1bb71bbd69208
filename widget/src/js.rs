//! Fields of plain JS objects: the loader's boot object, page commands, wire frames and
//! `Intl` options all go through these three.

use js_sys::{Object, Reflect};
use wasm_bindgen::JsValue;

/// `obj[key]`, unless it is missing, `undefined` or `null`.
pub fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `obj[key]` when it is a string.
pub fn text(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key)?.as_string()
}

/// `obj[key] = value`.
pub fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}
