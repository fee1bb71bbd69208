//! The visitor token, kept in the host page's localStorage under `chatpay:<site>` so a
//! reload or a later visit finds the same conversation.

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
