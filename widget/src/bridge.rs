//! The widget and its host page.
//!
//! In: the page dispatches `chatpay:cmd` on the shadow root (the loader does, for the
//! placeholder bubble and for `window.chatpay.open()`, `close()`, `toggle()`,
//! `setVisitor({ name, email })`). [`listen`] runs before the first render; commands that
//! arrive before the app is mounted wait in a queue, so none is lost in the hand-over.
//!
//! Out: [`emit`] dispatches `chatpay:ready`, `chatpay:message` and `chatpay:payment` on
//! `window`, which `window.chatpay.on(name, fn)` listens to.
//!
//! Paying in the panel: the loader turns a click on Pay whose link is the relay's pay page
//! into `chatpay:cmd` `{ checkout: id }`; the relay's `Checkout` frame goes back to it as it
//! came, `chatpay:pay` on the shadow root ([`to_loader`]), and the loader's module mounts
//! Stripe's embedded Checkout over the panel in a light-DOM element of the page (Stripe's
//! frames do not mount inside a shadow root); Stripe's `onComplete` comes back as
//! `{ paid: id }`. On the shadow root, not on `window` where the page's analytics hear
//! chatpay's events; a script of the page can still read the secret there, as it can in any
//! Stripe.js integration (it lets whoever has it pay this payment, nothing more).

use std::cell::RefCell;

use js_sys::{Object, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::ShadowRoot;
use yew::Callback;

use crate::state::Action;

/// A command from the page.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Chat(Action),
    Visitor {
        name: Option<String>,
        email: Option<String>,
    },
    /// Pay was pressed on a card paid over the panel: ask the relay what mounts it.
    Checkout(String),
}

thread_local! {
    static TARGET: RefCell<Option<Callback<Command>>> = const { RefCell::new(None) };
    static QUEUED: RefCell<Vec<Command>> = const { RefCell::new(Vec::new()) };
}

/// Reads a `chatpay:cmd` detail (or the boot object, whose `visitor` reads the same way).
pub fn command(detail: &JsValue) -> Option<Command> {
    if let Some(name) = detail.as_string() {
        return match name.as_str() {
            "open" => Some(Command::Chat(Action::Open)),
            "close" => Some(Command::Chat(Action::Close)),
            "toggle" => Some(Command::Chat(Action::Toggle)),
            _ => None,
        };
    }
    if let Some(p) = crate::js::text(detail, "checkout") {
        return Some(Command::Checkout(p));
    }
    if let Some(p) = crate::js::text(detail, "paid") {
        return Some(Command::Chat(Action::Confirming(p.into())));
    }
    let visitor = crate::js::get(detail, "visitor").filter(|v| v.is_object())?;
    Some(Command::Visitor {
        name: crate::js::text(&visitor, "name"),
        email: crate::js::text(&visitor, "email"),
    })
}

/// Starts listening for page commands on the widget's shadow root.
pub fn listen(root: &ShadowRoot) {
    let handler = Closure::<dyn FnMut(web_sys::Event)>::new(|e: web_sys::Event| {
        if let Some(cmd) = e
            .dyn_ref::<web_sys::CustomEvent>()
            .and_then(|c| command(&c.detail()))
        {
            deliver(cmd);
        }
    });
    let _ = root.add_event_listener_with_callback("chatpay:cmd", handler.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    handler.forget();
}

/// Delivers a command now, or queues it until the app is mounted.
pub fn deliver(cmd: Command) {
    let target = TARGET.with(|t| t.borrow().clone());
    match target {
        Some(cb) => cb.emit(cmd),
        None => QUEUED.with(|q| q.borrow_mut().push(cmd)),
    }
}

/// Called by the app once mounted: from now on commands go to `target`, queued ones first.
pub fn attach(target: Callback<Command>) {
    let queued = QUEUED.with(|q| std::mem::take(&mut *q.borrow_mut()));
    for cmd in queued {
        target.emit(cmd);
    }
    TARGET.with(|t| *t.borrow_mut() = Some(target));
}

/// Dispatches `chatpay:{name}` on `window` with `detail` built from `fields`.
pub fn emit(name: &str, fields: &[(&str, &str)]) {
    let Some(window) = web_sys::window() else { return };
    let detail = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&detail, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    dispatch(&window, name, &detail);
}

/// Hands the loader `chatpay:{name}` on the shadow root, with `detail` (a frame's JSON).
pub fn to_loader(name: &str, detail: &str) {
    let root = web_sys::window()
        .and_then(|w| crate::js::get(&w, "__chatpay"))
        .and_then(|boot| crate::js::get(&boot, "root"));
    if let Some(root) = root {
        dispatch(root.unchecked_ref(), name, &JsValue::from_str(detail));
    }
}

/// Dispatches `chatpay:{name}` with `detail` on `target`.
fn dispatch(target: &web_sys::EventTarget, name: &str, detail: &JsValue) {
    let init = web_sys::CustomEventInit::new();
    init.set_detail(detail);
    let mut event_name = String::from("chatpay:");
    event_name.push_str(name);
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict(&event_name, &init) {
        let _ = target.dispatch_event(&event);
    }
}
