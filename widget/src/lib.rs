//! chatpay-widget: the chat a visitor sees.
//!
//! The loader (`widget/embed.js`, served as `/embed.js`) draws the launcher bubble inside a
//! Shadow DOM root, then fetches this wasm when the page is idle or the bubble is clicked,
//! leaving `window.__chatpay = { root, site, base, open }` for [`start`].
//!
//! - [`bridge`]: commands from the page (`chatpay:cmd` events) into the app.
//! - [`state`]: the chat as data: `ChatState`, `Action`, and the reducer.
//! - [`services`]: the socket to the relay and the visitor token in localStorage.
//! - [`components`]: one Yew component per file.
//!
//! Size matters here (every visitor downloads this): no `format!` in render paths, frames
//! decoded straight into shared-crate types, web-sys instead of wrapper crates.

pub mod bridge;
pub mod components;
pub mod services;
pub mod state;

use wasm_bindgen::{JsCast, JsValue};

use components::app::{App, AppProps};

/// Mounts the widget into the shadow root the loader prepared. Does nothing when the page
/// did not come through the loader.
pub fn start() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(boot) = js_sys::Reflect::get(&window, &JsValue::from_str("__chatpay")) else {
        return;
    };
    if boot.is_undefined() || boot.is_null() {
        return;
    }
    let get = |key: &str| js_sys::Reflect::get(&boot, &JsValue::from_str(key)).ok();
    let Some(root) = get("root").and_then(|r| r.dyn_into::<web_sys::ShadowRoot>().ok()) else {
        return;
    };
    let site = get("site").and_then(|v| v.as_string()).unwrap_or_default();
    let base = get("base").and_then(|v| v.as_string()).unwrap_or_default();
    let open = get("open").and_then(|v| v.as_bool()).unwrap_or(false);
    let Some(document) = window.document() else {
        return;
    };
    let Ok(mount) = document.create_element("div") else {
        return;
    };
    mount.set_class_name("cp");
    if root.append_child(&mount).is_err() {
        return;
    }
    bridge::listen(&root);
    yew::Renderer::<App>::with_root_and_props(
        mount,
        AppProps {
            root: root.clone(),
            site: site.into(),
            base: base.into(),
            open,
        },
    )
    .render();
}
