//! The relay's first account, from the one-time setup link it printed.

use chatpay_shared::console::paths;
use chatpay_shared::console::{Me, SetupRequest};
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::Field;

#[derive(Properties, PartialEq)]
pub struct SetupProps {
    pub token: String,
    pub on_done: Callback<Me>,
}

#[component(Setup)]
pub fn setup(p: &SetupProps) -> Html {
    let email = use_state(String::new);
    let password = use_state(String::new);
    let failure = use_state(|| None::<Failure>);
    let onsubmit = {
        let (email, password, failure, done, token) = (
            email.clone(),
            password.clone(),
            failure.clone(),
            p.on_done.clone(),
            p.token.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let req = SetupRequest {
                token: token.clone(),
                email: (*email).clone(),
                password: (*password).clone(),
            };
            let (failure, done) = (failure.clone(), done.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, Me>(paths::SETUP, &req).await {
                    Ok(me) => done.emit(me),
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let f = (*failure).clone();
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    html! {
        <main class="center">
            <form class="card narrow" {onsubmit}>
                <h1>{ "Create the owner account" }</h1>
                <p class="muted">{ "This link works once. The account you create here owns the sites this relay already has." }</p>
                <Field name="email" label="Email" kind="email" value={(*email).clone()} on_input={set(email.clone())} error={f.as_ref().and_then(|f| f.at("email"))} />
                <Field name="password" label="Password" kind="password" hint="At least 10 characters." value={(*password).clone()} on_input={set(password.clone())} error={f.as_ref().and_then(|f| f.at("password"))} />
                if let Some(msg) = f.as_ref().and_then(|f| f.at("token").or_else(|| f.general())) {
                    <p class="error" role="alert">{ msg }</p>
                }
                <button class="button primary" id="create-account">{ "Create account" }</button>
            </form>
        </main>
    }
}
