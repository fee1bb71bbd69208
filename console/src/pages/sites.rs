//! The account's sites, and a form for a new one.

use chatpay_shared::console::paths;
use chatpay_shared::console::{SiteInput, SiteView};
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::Field;
use crate::route::{self, Route};

#[derive(Properties, PartialEq)]
pub struct SitesProps {
    pub sites: Option<Vec<SiteView>>,
    pub on_created: Callback<()>,
}

/// Origins typed one per line (or separated by spaces or commas).
pub fn origins_of(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[component(Sites)]
pub fn sites(p: &SitesProps) -> Html {
    let id = use_state(String::new);
    let name = use_state(String::new);
    let origins = use_state(String::new);
    let greeting = use_state(|| "Hi! How can we help?".to_owned());
    let failure = use_state(|| None::<Failure>);
    let onsubmit = {
        let (id, name, origins, greeting, failure, created) = (
            id.clone(),
            name.clone(),
            origins.clone(),
            greeting.clone(),
            failure.clone(),
            p.on_created.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let input = SiteInput {
                id: Some((*id).trim().to_owned()),
                name: (*name).clone(),
                origins: origins_of(&origins),
                greeting: (*greeting).clone(),
                color: None,
            };
            let (failure, created) = (failure.clone(), created.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, SiteView>(paths::SITES, &input).await {
                    Ok(site) => {
                        created.emit(());
                        route::go(&Route::Site(site.id));
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let f = (*failure).clone();
    let err = |field: &str| f.as_ref().and_then(|f| f.at(field));
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    let list = match &p.sites {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(l) if l.is_empty() => html! { <p class="muted">{ "No sites yet. Add your website below." }</p> },
        Some(l) => l
            .iter()
            .map(|s| {
                html! {
                    <a class="card site-card" href={Route::Site(s.id.clone()).hash()}>
                        <strong>{ &s.name }</strong>
                        <span class="muted">{ s.origins.join(", ") }</span>
                    </a>
                }
            })
            .collect(),
    };
    html! {
        <>
            <h1>{ "Your sites" }</h1>
            <div class="grid">{ list }</div>
            <form class="card" id="new-site" {onsubmit}>
                <h2>{ "Add a site" }</h2>
                <Field name="id" label="Site id" hint="Used in the script tag: lowercase letters, digits and -." value={(*id).clone()} on_input={set(id.clone())} error={err("id")} placeholder="my-shop" />
                <Field name="name" label="Name visitors see" value={(*name).clone()} on_input={set(name.clone())} error={err("name")} placeholder="My Shop" />
                <Field name="origins" label="Allowed origins" multiline=true hint="Where the widget may run, one per line, like https://shop.example" value={(*origins).clone()} on_input={set(origins.clone())} error={err("origins")} />
                <Field name="greeting" label="Greeting" value={(*greeting).clone()} on_input={set(greeting.clone())} error={err("greeting")} />
                if let Some(msg) = f.as_ref().and_then(Failure::general) {
                    <p class="error" role="alert">{ msg }</p>
                }
                <button class="button primary" id="create-site">{ "Add site" }</button>
            </form>
        </>
    }
}
