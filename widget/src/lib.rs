//! chatpay-widget: the chat a visitor sees.
//!
//! The loader (`widget/embed.js`, served as `/embed.js`) draws the launcher bubble inside a
//! Shadow DOM root, then fetches this wasm when the page is idle or the bubble is clicked,
//! leaving `window.__chatpay = { root, site, base, open, locale, visitor }` for [`start`].
//!
//! - [`state`]: the chat as data: `ChatState`, `Action`, and the reducer.
//! - [`bridge`]: commands from the page in (`chatpay:cmd`), DOM events out.
//! - [`services`]: the socket to the relay, the wire encoding, localStorage.
//! - [`format`]: amounts, times and countdowns for people.
//! - [`js`]: reading and writing fields of plain JS objects.
//! - [`components`]: one Yew component per file.
//!
//! Size matters here (every visitor downloads this): frames are decoded with the browser's
//! JSON, numbers and amounts are formatted by `Intl`, and there is no `format!` in the
//! render paths.

pub mod bridge;
pub mod components;
pub mod format;
pub mod js;
pub mod services;
pub mod state;

use wasm_bindgen::{JsCast, JsValue};

/// A small allocator for a small download (see `Cargo.toml`).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

use components::app::{App, AppProps};

/// Mounts the widget into the shadow root the loader prepared. Does nothing when the page
/// did not come through the loader.
pub fn start() {
    let Some(window) = web_sys::window() else { return };
    let Ok(boot) = js_sys::Reflect::get(&window, &JsValue::from_str("__chatpay")) else {
        return;
    };
    if !boot.is_object() {
        return;
    }
    let get = |key: &str| js::get(&boot, key);
    let text = |key: &str| js::text(&boot, key).unwrap_or_default();
    let Some(root) = get("root").and_then(|r| r.dyn_into::<web_sys::ShadowRoot>().ok()) else {
        return;
    };
    let open = get("open").and_then(|v| v.as_bool()).unwrap_or(false);
    let Some(document) = window.document() else { return };
    let Ok(mount) = document.create_element("div") else {
        return;
    };
    mount.set_class_name("cp");
    if root.append_child(&mount).is_err() {
        return;
    }
    bridge::listen(&root);
    // `setVisitor` called before the wasm loaded: the boot object carries it like a command.
    if let Some(cmd) = bridge::command(&boot) {
        bridge::deliver(cmd);
    }
    // Amounts and times follow the page's settings, else the page's language, else the
    // browser's; the widget's words follow the same order (`language`).
    let locale = Some(text("locale"))
        .filter(|l| !l.is_empty())
        .or_else(|| document.document_element().and_then(|e| e.get_attribute("lang")))
        .unwrap_or_default();
    let lang = language(&window, &locale);
    // The words around a checkout drawn over the panel follow the widget's.
    js::set(boot.unchecked_ref(), "lang", &JsValue::from_str(lang));
    yew::Renderer::<App>::with_root_and_props(
        mount,
        AppProps {
            root: root.clone(),
            site: text("site").into(),
            base: text("base").into(),
            locale: locale.into(),
            lang: lang.into(),
            open,
        },
    )
    .render();
}

/// The widget's language: that of `locale` (`chatpaySettings.locale`, else the page's
/// `lang`), else the browser's languages, the first chatpay ships; else English.
fn language(window: &web_sys::Window, locale: &str) -> &'static str {
    use chatpay_shared::texts::language_of;
    language_of(locale)
        .or_else(|| {
            window
                .navigator()
                .languages()
                .iter()
                .find_map(|l| l.as_string().and_then(|l| language_of(&l)))
        })
        .unwrap_or("en")
}
