//! The visitor token, kept in the host page's localStorage under `chatpay:<site>` so a
//! reload or a later visit finds the same conversation; and the widget's words in the
//! visitor's language, under `chatpay-words:<site>:<lang>`.

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn key(site: &str) -> String {
    let mut k = String::with_capacity(8 + site.len());
    k.push_str("chatpay:");
    k.push_str(site);
    k
}

pub fn load_token(site: &str) -> Option<String> {
    storage()?.get_item(&key(site)).ok()?
}

pub fn save_token(site: &str, token: &str) {
    if let Some(s) = storage() {
        // A full or blocked storage only costs the visitor their history on reload.
        let _ = s.set_item(&key(site), token);
    }
}

/// Forgets the token: the next connection starts a new conversation ("Start a new chat").
pub fn forget_token(site: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&key(site));
    }
}

fn words_key(site: &str, lang: &str) -> String {
    let mut k = String::with_capacity(16 + site.len() + lang.len());
    k.push_str("chatpay-words:");
    k.push_str(site);
    k.push(':');
    k.push_str(lang);
    k
}

/// The widget's words the relay sent last time for this site and language (shown before
/// the socket is up, so "Connecting…" is already in the visitor's language).
pub fn load_words(site: &str, lang: &str) -> Vec<String> {
    let Some(text) = storage().and_then(|s| s.get_item(&words_key(site, lang)).ok().flatten()) else {
        return Vec::new();
    };
    js_sys::JSON::parse(&text)
        .ok()
        .map(|v| {
            js_sys::Array::from(&v)
                .iter()
                .filter_map(|x| x.as_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps the words the relay sent (an empty table forgets them: English).
pub fn save_words(site: &str, lang: &str, table: &[String]) {
    let Some(s) = storage() else { return };
    if table.is_empty() {
        let _ = s.remove_item(&words_key(site, lang));
        return;
    }
    let list: js_sys::Array = table.iter().map(|t| wasm_bindgen::JsValue::from_str(t)).collect();
    if let Some(json) = js_sys::JSON::stringify(&list).ok().and_then(|j| j.as_string()) {
        let _ = s.set_item(&words_key(site, lang), &json);
    }
}
