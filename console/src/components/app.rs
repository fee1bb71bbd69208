//! The root: finds out who is signed in (or whether the relay needs its first account) and
//! shows the page the address bar names.

use chatpay_shared::console::paths;
use chatpay_shared::console::Me;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use super::shell::Shell;
use crate::api;
use crate::pages::login::Login;
use crate::pages::setup::Setup;
use crate::route::{self, Route};

/// Who the console is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Session {
    Checking,
    SignedOut { setup_needed: bool },
    SignedIn(Me),
}

#[component(App)]
pub fn app() -> Html {
    let session = use_state(|| Session::Checking);
    let route = use_state(route::current);

    // Follow the address bar.
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = Closure::<dyn FnMut()>::new(move || route.set(route::current()));
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback("hashchange", listener.as_ref().unchecked_ref());
            }
            listener.forget();
        });
    }
    // Who is here?
    {
        let session = session.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                match api::get::<Me>(paths::ME).await {
                    Ok(me) => session.set(Session::SignedIn(me)),
                    Err(_) => {
                        let setup_needed = api::get::<Me>(paths::STATE)
                            .await
                            .map(|s| s.setup_needed)
                            .unwrap_or(false);
                        session.set(Session::SignedOut { setup_needed });
                    }
                }
            });
        });
    }

    let on_signed_in = {
        let session = session.clone();
        Callback::from(move |me: Me| {
            session.set(Session::SignedIn(me));
            route::go(&Route::Sites);
        })
    };
    let on_signed_out = {
        let session = session.clone();
        Callback::from(move |_| {
            session.set(Session::SignedOut { setup_needed: false });
            route::go(&Route::Login);
        })
    };

    match (&*session, &*route) {
        (Session::Checking, _) => html! { <main class="center"><p class="muted">{ "Loading…" }</p></main> },
        (Session::SignedOut { .. }, Route::Setup(token)) => {
            html! { <Setup token={token.clone()} on_done={on_signed_in} /> }
        }
        (Session::SignedOut { setup_needed }, _) => {
            html! { <Login setup_needed={*setup_needed} on_done={on_signed_in} /> }
        }
        (Session::SignedIn(me), r) => {
            html! { <Shell me={me.clone()} route={r.clone()} on_signed_out={on_signed_out} /> }
        }
    }
}
