//! Signing in.

use chatpay_shared::console::paths;
use chatpay_shared::console::{Credentials, Me};
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::Field;

#[derive(Properties, PartialEq)]
pub struct LoginProps {
    pub setup_needed: bool,
    pub on_done: Callback<Me>,
}

#[component(Login)]
pub fn login(p: &LoginProps) -> Html {
    let email = use_state(String::new);
    let password = use_state(String::new);
    let failure = use_state(|| None::<Failure>);
    let busy = use_state(|| false);
    let onsubmit = {
        let (email, password, failure, busy, done) = (
            email.clone(),
            password.clone(),
            failure.clone(),
            busy.clone(),
            p.on_done.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let creds = Credentials {
                email: (*email).clone(),
                password: (*password).clone(),
            };
            let (failure, busy, done) = (failure.clone(), busy.clone(), done.clone());
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, Me>(paths::LOGIN, &creds).await {
                    Ok(me) => done.emit(me),
                    Err(f) => failure.set(Some(f)),
                }
                busy.set(false);
            });
        })
    };
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    html! {
        <main class="center">
            <form class="card narrow" {onsubmit}>
                <h1>{ "Sign in to chatpay" }</h1>
                if p.setup_needed {
                    <p class="notice">{ "This relay has no account yet. Open the setup link chatpay printed when it started (or run `chatpay user add`)." }</p>
                }
                <Field name="email" label="Email" kind="email" value={(*email).clone()} on_input={set(email.clone())} />
                <Field name="password" label="Password" kind="password" value={(*password).clone()} on_input={set(password.clone())} />
                if let Some(f) = &*failure {
                    <p class="error" role="alert">{ &f.message }</p>
                }
                <button class="button primary" id="sign-in" disabled={*busy}>{ if *busy { "Signing in…" } else { "Sign in" } }</button>
            </form>
        </main>
    }
}
