//! The Stripe Payments tab: the 4-step wizard. Running it again edits: each step
//! shows what is saved (masked) and saves only what is changed.
//!
//! 1. Secret key: Test & Continue calls Stripe; the answer comes back at the field.
//! 2. Settings: display name, publishable key, return URLs, Apple Pay and Google Pay.
//! 3. Webhook: the URL and events to enter in Stripe, the signing secret, and a live
//!    indicator that turns green when a correctly signed event arrives.
//! 4. Done: a summary and the webhook health.

use chatpay_shared::console::paths;
use chatpay_shared::console::{
    CreateWebhookInput, KeyInput, StripeSettingsInput, StripeView, WebhookSecretInput,
};
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::{copy, Field, Toggle};
use crate::hooks::use_ticks;
use crate::route::{self, Route};

#[derive(Properties, PartialEq)]
pub struct WizardProps {
    pub site: String,
    pub step: u8,
    pub on_saved: Callback<()>,
}

fn ago(at_ms: i64) -> String {
    let secs = ((js_sys::Date::now() as i64 - at_ms) / 1000).max(0);
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

#[component(StripeWizard)]
pub fn stripe_wizard(p: &WizardProps) -> Html {
    let view = use_state(|| None::<StripeView>);
    // Step 3 watches for the first event.
    let tick = use_ticks((p.step == 3).then_some(1500));
    {
        let (view, site) = (view.clone(), p.site.clone());
        use_effect_with((site.clone(), tick, p.step), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(v) = api::get::<StripeView>(&paths::fill(paths::STRIPE, &[&*site])).await {
                    view.set(Some(v));
                }
            });
        });
    }
    let Some(v) = (*view).clone() else {
        return html! { <p class="muted">{ "Loading…" }</p> };
    };
    let step = if v.connected { p.step } else { 1 };
    let go = |n: u8| Route::Stripe(p.site.clone(), n).hash();
    let steps = ["Secret key", "Settings", "Webhook", "Done"];
    let stepper = steps.iter().enumerate().map(|(i, label)| {
        let n = i as u8 + 1;
        let state = if n == step { "current" } else if n < step || (v.connected && n == 1) { "done" } else { "" };
        let reachable = v.connected || n == 1;
        html! {
            <li class={classes!("step", state)}>
                if reachable { <a href={go(n)}><b>{ n }</b>{ *label }</a> } else { <span><b>{ n }</b>{ *label }</span> }
            </li>
        }
    });
    let on_saved = {
        let (view, done) = (view.clone(), p.on_saved.clone());
        Callback::from(move |v: StripeView| {
            view.set(Some(v));
            done.emit(());
        })
    };
    let body = match step {
        1 => html! { <KeyStep site={p.site.clone()} view={v.clone()} on_saved={on_saved} /> },
        2 => html! { <SettingsStep site={p.site.clone()} view={v.clone()} on_saved={on_saved} /> },
        3 => html! { <WebhookStep site={p.site.clone()} view={v.clone()} on_saved={on_saved} /> },
        _ => html! { <DoneStep site={p.site.clone()} view={v.clone()} /> },
    };
    html! {
        <>
            <div class="wizard-head">
                <h2>{ "Stripe Payments" }</h2>
                if let Some(mode) = &v.mode {
                    <span class={classes!("badge", mode.clone())} id="mode-badge">{ if mode == "live" { "Live" } else { "Test" } }</span>
                }
                if v.simulator {
                    <span class="badge simulator">{ "TEST MODE · simulator" }</span>
                }
            </div>
            <ol class="stepper">{ for stepper }</ol>
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct StepProps {
    site: String,
    view: StripeView,
    #[prop_or_default]
    on_saved: Callback<StripeView>,
}

#[component(KeyStep)]
fn key_step(p: &StepProps) -> Html {
    let key = use_state(String::new);
    let failure = use_state(|| None::<Failure>);
    let busy = use_state(|| false);
    let onsubmit = {
        let (key, failure, busy, site, saved) = (
            key.clone(),
            failure.clone(),
            busy.clone(),
            p.site.clone(),
            p.on_saved.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let input = KeyInput {
                secret_key: (*key).clone(),
            };
            let (failure, busy, site, saved) = (failure.clone(), busy.clone(), site.clone(), saved.clone());
            busy.set(true);
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, StripeView>(&paths::fill(paths::STRIPE_KEY, &[&*site]), &input).await {
                    Ok(v) => {
                        saved.emit(v);
                        route::go(&Route::Stripe(site, 2));
                    }
                    Err(f) => failure.set(Some(f)),
                }
                busy.set(false);
            });
        })
    };
    let f = (*failure).clone();
    let k = key.clone();
    html! {
        <form class="card" id="step-key" {onsubmit}>
            <h3>{ "1. Secret key" }</h3>
            <p class="muted">{ "In Stripe's dashboard: Developers → API keys. Paste the secret key (sk_live_… or sk_test_…) or a restricted key (rk_…) that may write Checkout Sessions and Payment Method Configurations (to prove it, the test makes one Checkout Session and expires it at once; nothing is charged). It is stored encrypted and never shown again." }</p>
            if let Some(saved) = &p.view.secret_key {
                <p>{ "Saved key: " }<code id="saved-key">{ saved }</code>{ " — paste another to replace it." }</p>
            }
            <Field name="secret_key" label="Secret key" kind="password" placeholder="sk_test_…" value={(*key).clone()} on_input={Callback::from(move |v| k.set(v))} error={f.as_ref().and_then(|f| f.at("secret_key"))} />
            if let Some(msg) = f.as_ref().and_then(Failure::general) {
                <p class="error" role="alert">{ msg }</p>
            }
            <div class="actions">
                <button class="button primary" id="test-key" disabled={*busy}>{ if *busy { "Testing with Stripe…" } else { "Test & Continue" } }</button>
                if p.view.connected {
                    <a class="button" href={Route::Stripe(p.site.clone(), 2).hash()}>{ "Keep the saved key" }</a>
                }
            </div>
        </form>
    }
}

#[component(SettingsStep)]
fn settings_step(p: &StepProps) -> Html {
    let v = &p.view;
    let name = use_state(String::new);
    let pk = use_state(|| v.publishable_key.clone().unwrap_or_default());
    let success = use_state(|| v.success_url.clone().unwrap_or_default());
    let cancel = use_state(|| v.cancel_url.clone().unwrap_or_default());
    let apple = use_state(|| v.apple_pay);
    let google = use_state(|| v.google_pay);
    let failure = use_state(|| None::<Failure>);
    {
        let (name, site) = (name.clone(), p.site.clone());
        use_effect_with(site.clone(), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(s) =
                    api::get::<chatpay_shared::console::SiteView>(&paths::fill(paths::SITE, &[&*site])).await
                {
                    name.set(s.name);
                }
            });
        });
    }
    let onsubmit = {
        let (name, pk, success, cancel, apple, google, failure, site, saved) = (
            name.clone(),
            pk.clone(),
            success.clone(),
            cancel.clone(),
            apple.clone(),
            google.clone(),
            failure.clone(),
            p.site.clone(),
            p.on_saved.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
            let input = StripeSettingsInput {
                display_name: (*name).clone(),
                publishable_key: opt(&pk),
                success_url: opt(&success),
                cancel_url: opt(&cancel),
                apple_pay: *apple,
                google_pay: *google,
            };
            let (failure, site, saved) = (failure.clone(), site.clone(), saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::put::<_, StripeView>(&paths::fill(paths::STRIPE_SETTINGS, &[&*site]), &input).await
                {
                    Ok(v) => {
                        saved.emit(v);
                        route::go(&Route::Stripe(site, 3));
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let f = (*failure).clone();
    let err = |field: &str| f.as_ref().and_then(|f| f.at(field));
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    let (a, g) = (apple.clone(), google.clone());
    html! {
        <form class="card" id="step-settings" {onsubmit}>
            <h3>{ "2. Settings" }</h3>
            <Field name="display_name" label="Display name" hint="Shown to visitors in the chat header." value={(*name).clone()} on_input={set(name.clone())} error={err("display_name")} />
            <Field name="publishable_key" label="Publishable key (optional)" placeholder="pk_test_…" hint="With it, visitors pay inside the chat (Stripe's embedded Checkout) and the two return addresses below are not used; without it, Pay opens Stripe's page in a new tab. Must be from the same mode as the secret key." value={(*pk).clone()} on_input={set(pk.clone())} error={err("publishable_key")} />
            <Field name="success_url" label="After paying, return to (optional)" kind="url" placeholder="https://shop.example/thanks" hint="Empty: chatpay's own page, which tells the visitor to go back to the chat." value={(*success).clone()} on_input={set(success.clone())} error={err("success_url")} />
            <Field name="cancel_url" label="When the visitor goes back, return to (optional)" kind="url" placeholder="https://shop.example/cart" value={(*cancel).clone()} on_input={set(cancel.clone())} error={err("cancel_url")} />
            <div class="toggles">
                <Toggle name="apple_pay" label="Apple Pay" checked={*apple} on_change={Callback::from(move |b| a.set(b))} />
                <Toggle name="google_pay" label="Google Pay" checked={*google} on_change={Callback::from(move |b| g.set(b))} />
            </div>
            <p class="hint">{ "Wallets are switched through chatpay's own Stripe payment method configuration; Checkout shows them to visitors whose device supports them." }</p>
            if let Some(msg) = f.as_ref().and_then(|f| f.at("apple_pay").or_else(|| f.general())) {
                <p class="error" role="alert">{ msg }</p>
            }
            <div class="actions"><button class="button primary" id="save-settings">{ "Save & Continue" }</button></div>
        </form>
    }
}

#[component(WebhookStep)]
fn webhook_step(p: &StepProps) -> Html {
    let v = &p.view;
    let secret = use_state(String::new);
    let failure = use_state(|| None::<Failure>);
    let saved_now = use_state(|| false);
    let onsubmit = {
        let (secret, failure, saved_now, site, saved) = (
            secret.clone(),
            failure.clone(),
            saved_now.clone(),
            p.site.clone(),
            p.on_saved.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let input = WebhookSecretInput {
                secret: (*secret).clone(),
            };
            let (failure, saved_now, site, saved, secret) = (
                failure.clone(),
                saved_now.clone(),
                site.clone(),
                saved.clone(),
                secret.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api::put::<_, StripeView>(&paths::fill(paths::STRIPE_WEBHOOK, &[&*site]), &input).await
                {
                    Ok(v) => {
                        failure.set(None);
                        secret.set(String::new());
                        saved_now.set(true);
                        saved.emit(v);
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let url = v.webhook_url.clone();
    let events = v.events.join("\n");
    let copy_url = Callback::from(move |_: MouseEvent| copy(&url));
    let copy_events = Callback::from(move |_: MouseEvent| copy(&events));
    let revoke = {
        let (failure, site, saved) = (failure.clone(), p.site.clone(), p.on_saved.clone());
        Callback::from(move |_: MouseEvent| {
            let (failure, site, saved) = (failure.clone(), site.clone(), saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::delete::<StripeView>(&paths::fill(paths::STRIPE_WEBHOOK_PREVIOUS, &[&*site])).await
                {
                    Ok(v) => saved.emit(v),
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    // "Create the webhook for me": one key per click burst, so a double click makes one.
    let creating = use_state(|| false);
    let click_key = use_state(crate::hooks::request_key);
    let create = {
        let (failure, site, saved, creating, click_key) = (
            failure.clone(),
            p.site.clone(),
            p.on_saved.clone(),
            creating.clone(),
            click_key.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let (failure, site, saved, creating, click_key) = (
                failure.clone(),
                site.clone(),
                saved.clone(),
                creating.clone(),
                click_key.clone(),
            );
            creating.set(true);
            let input = CreateWebhookInput {
                request_key: Some((*click_key).clone()),
            };
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, StripeView>(
                    &paths::fill(paths::STRIPE_WEBHOOK_ENDPOINT, &[&*site]),
                    &input,
                )
                .await
                {
                    Ok(v) => {
                        failure.set(None);
                        click_key.set(crate::hooks::request_key());
                        saved.emit(v);
                    }
                    Err(f) => failure.set(Some(f)),
                }
                creating.set(false);
            });
        })
    };
    let f = (*failure).clone();
    let s = secret.clone();
    let live = match (&v.health.last_event_type, v.health.last_event_at) {
        (Some(kind), Some(at)) => html! {
            <div class="live ok" id="first-event" role="status"><span class="dot"></span>{ format!("Receiving events: {kind}, {}", ago(at)) }</div>
        },
        _ if v.webhook_secret.is_none() => html! {
            <div class="live idle" id="first-event" role="status"><span class="dot"></span>{ "Save the signing secret, then Stripe's first event will show here." }</div>
        },
        _ => html! {
            <div class="live waiting" id="first-event" role="status"><span class="dot"></span>{ "Waiting for a first event…" }</div>
        },
    };
    html! {
        <section class="card" id="step-webhook">
            <h3>{ "3. Webhook" }</h3>
            <div class="one-click">
                <p>{ "chatpay can create the webhook endpoint in your Stripe account and save its signing secret for you." }</p>
                if let Some(id) = &v.webhook_endpoint {
                    <p class="muted" id="webhook-endpoint">{ format!("Created by chatpay: {id}. Running it again rolls the signing secret.") }</p>
                }
                <button class="button primary" id="create-webhook" disabled={*creating} onclick={create}>
                    { if v.webhook_endpoint.is_some() { "Roll the signing secret" } else { "Create the webhook for me" } }
                </button>
                if let Some(msg) = f.as_ref().and_then(|f| f.at("webhook_endpoint")) {
                    <p class="error" role="alert" id="webhook-endpoint-error">{ msg }</p>
                }
            </div>
            <p class="muted">{ "Or by hand, in Stripe's dashboard: Developers → Webhooks → Add endpoint. Use this URL and select these events:" }</p>
            <div class="copyline"><code id="webhook-url">{ &v.webhook_url }</code><button class="button small" onclick={copy_url}>{ "Copy" }</button></div>
            <div class="copyline"><pre id="webhook-events">{ v.events.join("\n") }</pre><button class="button small" onclick={copy_events}>{ "Copy" }</button></div>
            <form {onsubmit}>
                if let Some(masked) = &v.webhook_secret {
                    <p>{ "Saved signing secret: " }<code id="saved-whsec">{ masked }</code></p>
                }
                if let (Some(old), Some(until)) = (&v.previous_webhook_secret, v.previous_webhook_secret_until) {
                    <p id="previous-whsec">
                        { "The replaced secret " }<code>{ old }</code>{ format!(" still verifies events until {} while Stripe rolls it. ", when(until)) }
                        <button type="button" class="button small" id="revoke-whsec" onclick={revoke}>{ "Revoke now" }</button>
                    </p>
                }
                <Field name="secret" label="Signing secret" kind="password" placeholder="whsec_…" hint="On the endpoint's page in Stripe: Signing secret → Reveal." value={(*secret).clone()} on_input={Callback::from(move |x| s.set(x))} error={f.as_ref().and_then(|f| f.at("secret"))} />
                if let Some(msg) = f.as_ref().and_then(Failure::general) {
                    <p class="error" role="alert">{ msg }</p>
                }
                <div class="actions">
                    <button class="button primary" id="save-whsec">{ "Save secret" }</button>
                    if *saved_now { <span class="ok">{ " Saved ✓" }</span> }
                </div>
            </form>
            { live }
            if let (Some(reason), Some(at)) = (&v.health.last_failure_reason, v.health.last_failure_at) {
                <p class="error" id="signature-failure">{ format!("Last refused delivery ({}): {reason}", ago(at)) }</p>
            }
            <div class="actions"><a class="button" id="to-done" href={Route::Stripe(p.site.clone(), 4).hash()}>{ "Continue" }</a></div>
        </section>
    }
}

#[component(DoneStep)]
fn done_step(p: &StepProps) -> Html {
    let v = &p.view;
    let row = |k: &str, val: String| html! { <tr><th>{ k.to_owned() }</th><td>{ val }</td></tr> };
    let h = &v.health;
    let on_off = |b: bool| if b { "on" } else { "off" }.to_owned();
    html! {
        <section class="card" id="step-done">
            <h3>{ "4. Done" }</h3>
            <p>{ "Payments are set up. Requests from your workflows now create Stripe Checkout links, and payments resume the chat by themselves." }</p>
            <table class="summary">
                { row("Mode", v.mode.clone().unwrap_or_default()) }
                { row("Secret key", v.secret_key.clone().unwrap_or_default()) }
                { row("Publishable key", v.publishable_key.clone().unwrap_or_else(|| "—".into())) }
                { row("Webhook signing secret", v.webhook_secret.clone().unwrap_or_else(|| "not saved".into())) }
                { row("Return after paying", v.success_url.clone().unwrap_or_else(|| "chatpay's page".into())) }
                { row("Return when going back", v.cancel_url.clone().unwrap_or_else(|| "chatpay's page".into())) }
                { row("Apple Pay / Google Pay", format!("{} / {}", on_off(v.apple_pay), on_off(v.google_pay))) }
                { row("Events received", format!("{} ({} duplicates)", h.events_received, h.duplicates)) }
                { row("Last event", match (&h.last_event_type, h.last_event_at) { (Some(t), Some(at)) => format!("{t}, {}", ago(at)), _ => "none yet".into() }) }
                { row("Refused deliveries", match &h.last_failure_reason { Some(r) => format!("{} (last: {r})", h.signature_failures), None => "none".into() }) }
            </table>
            <div class="actions"><a class="button" href={Route::Troubleshoot(p.site.clone()).hash()}>{ "Troubleshooting" }</a></div>
        </section>
    }
}

/// A moment as the owner's browser writes dates and times.
fn when(at_ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .as_string()
        .unwrap_or_default()
}
