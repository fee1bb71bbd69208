//! A site's settings: name, allowed origins, widget look, the install snippet, and the
//! widget's words in each language (the shipped ones, or the owner's own), the privacy card
//! (retention) and the site's outbound webhook.

use chatpay_shared::console::paths;
use std::collections::BTreeMap;

use chatpay_shared::console::{Retention, SiteInput, SiteTexts, SiteView};
use yew::prelude::*;

use super::sites::origins_of;
use crate::api::{self, Failure};
use crate::components::field::{copy, Field};

#[derive(Properties, PartialEq)]
pub struct SiteProps {
    pub site: SiteView,
    pub on_saved: Callback<()>,
}

#[component(SiteSettings)]
pub fn site_settings(p: &SiteProps) -> Html {
    let s = &p.site;
    let name = use_state(|| s.name.clone());
    let origins = use_state(|| s.origins.join("\n"));
    let greeting = use_state(|| s.greeting.clone());
    let color = use_state(|| s.color.clone().unwrap_or_else(|| "#4f46e5".into()));
    let failure = use_state(|| None::<Failure>);
    let saved = use_state(|| false);
    let copied = use_state(|| false);
    let onsubmit = {
        let (name, origins, greeting, color, failure, saved, done, id) = (
            name.clone(),
            origins.clone(),
            greeting.clone(),
            color.clone(),
            failure.clone(),
            saved.clone(),
            p.on_saved.clone(),
            s.id.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let input = SiteInput {
                id: None,
                name: (*name).clone(),
                origins: origins_of(&origins),
                greeting: (*greeting).clone(),
                color: Some((*color).clone()),
            };
            let (failure, saved, done) = (failure.clone(), saved.clone(), done.clone());
            let path = paths::fill(paths::SITE, &[&*id]);
            wasm_bindgen_futures::spawn_local(async move {
                match api::put::<_, SiteView>(&path, &input).await {
                    Ok(_) => {
                        failure.set(None);
                        saved.set(true);
                        done.emit(());
                    }
                    Err(f) => {
                        saved.set(false);
                        failure.set(Some(f));
                    }
                }
            });
        })
    };
    let on_copy = {
        let (snippet, copied) = (s.snippet.clone(), copied.clone());
        Callback::from(move |_: MouseEvent| {
            copy(&snippet);
            copied.set(true);
        })
    };
    let f = (*failure).clone();
    let err = |field: &str| f.as_ref().and_then(|f| f.at(field));
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    html! {
        <>
            <section class="card">
                <h2>{ "Install" }</h2>
                <p class="muted">{ "Paste this into every page that should have the chat, just before </body>:" }</p>
                <pre class="snippet" id="snippet">{ &s.snippet }</pre>
                <button class="button" id="copy-snippet" onclick={on_copy}>{ if *copied { "Copied ✓" } else { "Copy snippet" } }</button>
            </section>
            <form class="card" {onsubmit}>
                <h2>{ "Settings" }</h2>
                <Field name="name" label="Display name" hint="Shown in the chat header." value={(*name).clone()} on_input={set(name.clone())} error={err("name")} />
                <Field name="origins" label="Allowed origins" multiline=true hint="One per line. Only these pages can open the chat." value={(*origins).clone()} on_input={set(origins.clone())} error={err("origins")} />
                <Field name="greeting" label="Greeting" hint="The first message, when no workflow is published." value={(*greeting).clone()} on_input={set(greeting.clone())} error={err("greeting")} />
                <Field name="color" label="Accent colour" kind="color" value={(*color).clone()} on_input={set(color.clone())} error={err("color")} />
                if let Some(msg) = f.as_ref().and_then(Failure::general) {
                    <p class="error" role="alert">{ msg }</p>
                }
                <button class="button primary" id="save-site">{ "Save" }</button>
                if *saved {
                    <span class="ok">{ " Saved ✓" }</span>
                }
            </form>
            <WidgetTexts site={s.id.clone()} />
            <Privacy site={s.id.clone()} days={s.retention_days} on_saved={p.on_saved.clone()} />
            <super::webhook::Webhook site={s.id.clone()} />
        </>
    }
}

#[derive(Properties, PartialEq)]
struct TextsProps {
    site: String,
}

/// The widget's words, language by language: each shipped word as a placeholder, the
/// owner's own in the field (empty: the shipped one).
#[component(WidgetTexts)]
fn widget_texts(p: &TextsProps) -> Html {
    let loaded = use_state(|| None::<SiteTexts>);
    let lang = use_state(|| "en".to_owned());
    let edits = use_state(BTreeMap::<String, BTreeMap<String, String>>::new);
    let failure = use_state(|| None::<Failure>);
    let saved = use_state(|| false);
    {
        let (loaded, edits, site) = (loaded.clone(), edits.clone(), p.site.clone());
        use_effect_with(site.clone(), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(t) = api::get::<SiteTexts>(&paths::fill(paths::TEXTS, &[&*site])).await {
                    edits.set(t.overrides.clone());
                    loaded.set(Some(t));
                }
            });
        });
    }
    let Some(t) = (*loaded).clone() else {
        return html! { <section class="card"><h2>{ "Widget texts" }</h2><p class="muted">{ "Loading…" }</p></section> };
    };
    let on_lang = {
        let lang = lang.clone();
        Callback::from(move |e: Event| {
            let sel: web_sys::HtmlSelectElement = e.target_unchecked_into();
            lang.set(sel.value());
        })
    };
    let onsubmit = {
        let (edits, failure, saved, loaded, site) = (
            edits.clone(),
            failure.clone(),
            saved.clone(),
            loaded.clone(),
            p.site.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let body = (*edits).clone();
            let (edits, failure, saved, loaded, site) = (
                edits.clone(),
                failure.clone(),
                saved.clone(),
                loaded.clone(),
                site.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api::put::<_, SiteTexts>(&paths::fill(paths::TEXTS, &[&*site]), &body).await {
                    Ok(t) => {
                        failure.set(None);
                        saved.set(true);
                        edits.set(t.overrides.clone());
                        loaded.set(Some(t));
                    }
                    Err(f) => {
                        saved.set(false);
                        failure.set(Some(f));
                    }
                }
            });
        })
    };
    let defaults = t.defaults.get(lang.as_str()).cloned().unwrap_or_default();
    let rows = t.keys.iter().zip(defaults).map(|(key, shipped)| {
        let value = edits.get(lang.as_str()).and_then(|m| m.get(key)).cloned().unwrap_or_default();
        let on_input = {
            let (edits, lang, key) = (edits.clone(), lang.clone(), key.clone());
            Callback::from(move |v: String| {
                let mut all = (*edits).clone();
                all.entry((*lang).clone()).or_default().insert(key.clone(), v);
                edits.set(all);
            })
        };
        html! { <Field name={format!("text-{key}")} label={key.clone()} placeholder={shipped} value={value} {on_input} /> }
    });
    let f = (*failure).clone();
    html! {
        <form class="card" id="widget-texts" {onsubmit}>
            <h2>{ "Widget texts" }</h2>
            <p class="muted">{ "The chat speaks the visitor's language (the page's chatpaySettings.locale, else its lang, else the browser's). Leave a field empty to keep the shipped words." }</p>
            <div class="field">
                <label for="texts-lang">{ "Language" }</label>
                <select id="texts-lang" name="texts_lang" onchange={on_lang}>
                    { for t.languages.iter().map(|l| html! { <option value={l.clone()} selected={*l == *lang}>{ l }</option> }) }
                </select>
            </div>
            { for rows }
            if let Some(msg) = f.as_ref().and_then(|f| f.at("texts").or_else(|| f.general())) {
                <p class="error" role="alert">{ msg }</p>
            }
            <button class="button primary" id="save-texts">{ "Save texts" }</button>
            if *saved {
                <span class="ok">{ " Saved ✓" }</span>
            }
        </form>
    }
}

#[derive(Properties, PartialEq)]
struct PrivacyProps {
    site: String,
    days: Option<i64>,
    on_saved: Callback<()>,
}

/// How long conversations nobody touches are kept: a number of days, or empty to keep them.
#[component(Privacy)]
fn privacy(p: &PrivacyProps) -> Html {
    let days = use_state(|| p.days.map(|d| d.to_string()).unwrap_or_default());
    let failure = use_state(|| None::<Failure>);
    let saved = use_state(|| false);
    let onsubmit = {
        let (days, failure, saved, done, site) = (
            days.clone(),
            failure.clone(),
            saved.clone(),
            p.on_saved.clone(),
            p.site.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = days.trim().to_owned();
            let asked = if text.is_empty() {
                None
            } else {
                match text.parse::<i64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        saved.set(false);
                        failure.set(Some(Failure {
                            status: 400,
                            message: format!(
                                "'{text}' is not a number of days; write one like 90, or leave it empty"
                            ),
                            field: Some("days".into()),
                            fields: Vec::new(),
                        }));
                        return;
                    }
                }
            };
            let (failure, saved, done) = (failure.clone(), saved.clone(), done.clone());
            let path = paths::fill(paths::RETENTION, &[&*site]);
            wasm_bindgen_futures::spawn_local(async move {
                match api::put::<_, SiteView>(&path, &Retention { days: asked }).await {
                    Ok(_) => {
                        failure.set(None);
                        saved.set(true);
                        done.emit(());
                    }
                    Err(f) => {
                        saved.set(false);
                        failure.set(Some(f));
                    }
                }
            });
        })
    };
    let f = (*failure).clone();
    html! {
        <form class="card" id="privacy" {onsubmit}>
            <h2>{ "Privacy" }</h2>
            <p class="muted">{ "A visitor may ask for their data or for it to be erased: open the conversation in the Inbox and use Export JSON or Erase. Here you can have old conversations erased by themselves." }</p>
            <Field name="days" label="Erase conversations nobody touched for (days)" kind="number" hint="Empty: keep them. 1 to 3650 days. Amounts, statuses and Stripe ids of payments stay." value={(*days).clone()} on_input={{ let d = days.clone(); Callback::from(move |v| d.set(v)) }} error={f.as_ref().and_then(|f| f.at("days"))} />
            if let Some(msg) = f.as_ref().and_then(Failure::general) {
                <p class="error" role="alert">{ msg }</p>
            }
            <button class="button primary" id="save-retention">{ "Save" }</button>
            if *saved {
                <span class="ok">{ " Saved ✓" }</span>
            }
        </form>
    }
}
