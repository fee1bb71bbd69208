//! Counters that something outside a render bumps (a timer, a socket), for effects to
//! depend on: "fetch again on every tick".

use std::rc::Rc;

use yew::prelude::*;

/// A repeating timer that stops when dropped.
pub struct Interval {
    id: i32,
    _cb: wasm_bindgen::closure::Closure<dyn FnMut()>,
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(w) = web_sys::window() {
            w.clear_interval_with_handle(self.id);
        }
    }
}

/// Calls `f` every `ms` milliseconds until the returned handle is dropped.
pub fn every(ms: i32, f: impl FnMut() + 'static) -> Option<Interval> {
    use wasm_bindgen::JsCast;
    let cb = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(f);
    let id = web_sys::window()?
        .set_interval_with_callback_and_timeout_and_arguments_0(cb.as_ref().unchecked_ref(), ms)
        .ok()?;
    Some(Interval { id, _cb: cb })
}

/// What [`use_counter`] keeps.
#[derive(Default, PartialEq)]
pub struct Count(u32);

impl Reducible for Count {
    type Action = ();
    fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
        Rc::new(Count(self.0.wrapping_add(1)))
    }
}

/// A count and what bumps it. The bump always adds one to the current count, so a closure
/// kept by a timer or a socket never sets a stale value (as `state.set(*state + 1)` would).
#[hook]
pub fn use_counter() -> (u32, UseReducerDispatcher<Count>) {
    let count = use_reducer(Count::default);
    (count.0, count.dispatcher())
}

/// A count that goes up every `ms` milliseconds while `ms` is `Some`.
#[hook]
pub fn use_ticks(ms: Option<i32>) -> u32 {
    let (count, bump) = use_counter();
    use_effect_with(ms, move |ms| {
        let timer = ms.and_then(|ms| every(ms, move || bump.dispatch(())));
        move || drop(timer)
    });
    count
}

/// Notes kept in arrival order (the inbox's agent-only notices, per conversation).
#[derive(Default, PartialEq)]
pub struct Notes(pub Vec<(String, String)>);

impl Reducible for Notes {
    type Action = (String, String);
    fn reduce(self: Rc<Self>, note: (String, String)) -> Rc<Self> {
        let mut all = self.0.clone();
        all.push(note);
        Rc::new(Notes(all))
    }
}

/// A random key for one request a person may send twice (a double-click): the relay does
/// it once per key.
pub fn request_key() -> String {
    let mut key = String::from("req_");
    for _ in 0..4 {
        key.push_str(&format!(
            "{:08x}",
            (js_sys::Math::random() * f64::from(u32::MAX)) as u32
        ));
    }
    key
}
