//! Telling the owner's own systems: the site's outbound webhook URL, its signing secret
//! (shown once, with how to verify it), "Send a test event", a new secret on request, and
//! the log of deliveries with each one's last answer, refreshed every few seconds.

use chatpay_shared::console::{paths, HookDelivery, HookInput, HookView};
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::{copy, Field};
use crate::hooks::use_ticks;

/// How a receiver checks an event (the README has it in full).
const VERIFY: &str = "Chatpay-Signature: t=TIMESTAMP,v1=SIGNATURE\n\
expected = hex(HMAC_SHA256(secret, TIMESTAMP + \".\" + raw_body))\n\
accept when v1 == expected (constant-time) and TIMESTAMP is within 5 minutes";

#[derive(Properties, PartialEq)]
pub struct WebhookProps {
    pub site: String,
}

fn when(ms: i64) -> String {
    super::payments::utc(ms, true)
}

fn line(d: &HookDelivery) -> Html {
    let answer = match (d.last_status, &d.last_error) {
        (Some(s), None) => s.to_string(),
        (Some(s), Some(e)) => format!("{s} — {e}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "—".into(),
    };
    html! {
        <tr data-delivery={d.id.clone()} data-status={d.status.clone()}>
            <td>{ when(d.created_at) }</td>
            <td><code>{ &d.event_type }</code></td>
            <td><span class={classes!("pill", if d.status == "delivered" { "paid" } else if d.status == "failed" { "failed" } else { "pending" })}>{ &d.status }</span></td>
            <td class="num">{ d.attempts }</td>
            <td class="answer">{ answer }</td>
            <td>{ d.next_at.map(when).unwrap_or_default() }</td>
        </tr>
    }
}

#[component(Webhook)]
pub fn webhook(p: &WebhookProps) -> Html {
    let view = use_state(|| None::<HookView>);
    let url = use_state(String::new);
    let secret = use_state(|| None::<String>);
    let failure = use_state(|| None::<Failure>);
    let tick = use_ticks(Some(5000));
    let path = paths::fill(paths::HOOK, &[&*p.site]);
    {
        let (view, url, path) = (view.clone(), url.clone(), path.clone());
        use_effect_with((path.clone(), tick), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(v) = api::get::<HookView>(&path).await {
                    if view.is_none() {
                        url.set(v.url.clone().unwrap_or_default());
                    }
                    view.set(Some(v));
                }
            });
        });
    }
    // Every action answers the hook as it now is; a made secret is kept to show once.
    let done = {
        let (view, secret, failure) = (view.clone(), secret.clone(), failure.clone());
        move |r: Result<HookView, Failure>| match r {
            Ok(v) => {
                failure.set(None);
                if v.secret.is_some() {
                    secret.set(v.secret.clone());
                }
                view.set(Some(v));
            }
            Err(f) => failure.set(Some(f)),
        }
    };
    let save = |new_secret: bool| {
        let (url, path, done) = (url.clone(), path.clone(), done.clone());
        move || {
            let input = HookInput {
                url: (*url).clone(),
                new_secret,
            };
            let (path, done) = (path.clone(), done.clone());
            wasm_bindgen_futures::spawn_local(async move {
                done(api::put::<_, HookView>(&path, &input).await);
            });
        }
    };
    let onsubmit = {
        let save = save(false);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            save();
        })
    };
    let rotate = {
        let save = save(true);
        Callback::from(move |_: MouseEvent| save())
    };
    let send_test = {
        let (site, done) = (p.site.clone(), done.clone());
        Callback::from(move |_: MouseEvent| {
            let (site, done) = (site.clone(), done.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let path = paths::fill(paths::HOOK_TEST, &[&*site]);
                done(api::post::<_, HookView>(&path, &serde_json::json!({})).await);
            });
        })
    };
    let remove = {
        let (path, done, url, secret) = (path.clone(), done.clone(), url.clone(), secret.clone());
        Callback::from(move |_: MouseEvent| {
            let (path, done) = (path.clone(), done.clone());
            url.set(String::new());
            secret.set(None);
            wasm_bindgen_futures::spawn_local(async move {
                done(api::delete::<HookView>(&path).await);
            });
        })
    };
    let f = (*failure).clone();
    let set = view.as_ref().and_then(|v| v.url.clone());
    let deliveries = view.as_ref().map(|v| v.deliveries.clone()).unwrap_or_default();
    html! {
        <form class="card" id="webhook" {onsubmit}>
            <h2>{ "Tell your systems (webhook)" }</h2>
            <p class="muted">{ "chatpay POSTs a signed JSON event to this URL when a payment is paid, expires, fails or needs checking, when Stripe reports a refund or a dispute, and when a conversation is handed to a person. A 2xx answer counts; anything else is retried for a day." }</p>
            <Field name="hook_url" label="Webhook URL" kind="url" placeholder="https://orders.example/chatpay" value={(*url).clone()} on_input={{ let u = url.clone(); Callback::from(move |v| u.set(v)) }} error={f.as_ref().and_then(|f| f.at("url"))} />
            if let Some(msg) = f.as_ref().and_then(Failure::general) {
                <p class="error" role="alert">{ msg }</p>
            }
            <div class="row-buttons">
                <button class="button primary" id="save-hook">{ "Save" }</button>
                if set.is_some() {
                    <button type="button" class="button" id="test-hook" onclick={send_test}>{ "Send a test event" }</button>
                    <button type="button" class="button" id="rotate-hook" onclick={rotate}>{ "New secret" }</button>
                    <button type="button" class="button danger" id="remove-hook" onclick={remove}>{ "Remove" }</button>
                }
            </div>
            if let Some(s) = (*secret).clone() {
                <div class="secret-once" role="status">
                    <p><strong>{ "Signing secret — copy it now, it is not shown again:" }</strong></p>
                    <div class="copyline"><pre id="hook-secret">{ s.clone() }</pre><button type="button" class="button small" onclick={Callback::from(move |_: MouseEvent| copy(&s))}>{ "Copy" }</button></div>
                </div>
            } else if let Some(hint) = view.as_ref().and_then(|v| v.secret_hint.clone()) {
                <p class="muted" id="hook-hint">{ "Signing secret in use ends in " }<code>{ hint }</code></p>
            }
            if set.is_some() {
                <details>
                    <summary>{ "How your endpoint checks an event" }</summary>
                    <pre class="snippet">{ VERIFY }</pre>
                </details>
                <h3>{ "Deliveries" }</h3>
                if deliveries.is_empty() {
                    <p class="muted">{ "None yet." }</p>
                } else {
                    <div class="scroll">
                        <table class="payments" id="hook-log">
                            <thead><tr>
                                <th scope="col">{ "When" }</th><th scope="col">{ "Event" }</th><th scope="col">{ "Status" }</th>
                                <th scope="col">{ "Tries" }</th><th scope="col">{ "Last answer" }</th><th scope="col">{ "Next try" }</th>
                            </tr></thead>
                            <tbody>{ for deliveries.iter().map(line) }</tbody>
                        </table>
                    </div>
                }
            }
        </form>
    }
}
