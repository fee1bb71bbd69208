//! Commands from the page to the widget: the loader's placeholder bubble (clicked before the
//! widget was ready) and, later, `window.chatpay.open()` and friends.
//!
//! The page dispatches `chatpay:cmd` on the shadow root with `detail` = `"open"`, `"close"`
//! or `"toggle"`. [`listen`] runs before the first render; commands that arrive before the
//! app is mounted wait in a queue, so no click is lost during the hand-over.

use std::cell::RefCell;

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::ShadowRoot;
use yew::Callback;

use crate::state::Action;

thread_local! {
    static TARGET: RefCell<Option<Callback<Action>>> = const { RefCell::new(None) };
    static QUEUED: RefCell<Vec<Action>> = const { RefCell::new(Vec::new()) };
}

/// Starts listening for page commands on the widget's shadow root.
pub fn listen(root: &ShadowRoot) {
    let handler = Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| {
        let detail = e
            .dyn_ref::<web_sys::CustomEvent>()
            .and_then(|c| c.detail().as_string())
            .unwrap_or_default();
        let action = match detail.as_str() {
            "open" => Action::Open,
            "close" => Action::Close,
            "toggle" => Action::Toggle,
            _ => return,
        };
        deliver(action);
    });
    let _ = root.add_event_listener_with_callback("chatpay:cmd", handler.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    handler.forget();
}

fn deliver(action: Action) {
    let target = TARGET.with(|t| t.borrow().clone());
    match target {
        Some(cb) => cb.emit(action),
        None => QUEUED.with(|q| q.borrow_mut().push(action)),
    }
}

/// Called by the app once mounted: from now on commands go to `target`, queued ones first.
pub fn attach(target: Callback<Action>) {
    let queued = QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut()));
    for action in queued {
        target.emit(action);
    }
    TARGET.with(|t| *t.borrow_mut() = Some(target));
}
