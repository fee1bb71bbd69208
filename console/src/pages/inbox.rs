//! The agent inbox: the site's conversations updating live (a WebSocket of the relay's
//! events), a "waiting for an agent" filter, the transcript with payment cards and their
//! live status, replies as a person, take over / hand back, and a payment asked for by
//! hand (it behaves like a Request Payment node's).

use chatpay_shared::console::paths;
use chatpay_shared::console::{
    AgentReply, ConversationPage, ConversationSummary, ConversationView, LiveEvent, ManualPayment,
};
use chatpay_shared::money::{format_minor, CURRENCIES};
use chatpay_shared::protocol::ConversationStatus;
use chatpay_shared::protocol::{Author, PaymentStatus, ServerFrame};
use futures_util::StreamExt;
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::Message;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::api::{self, Failure};
use crate::components::field::Field;
use crate::hooks::{request_key, use_counter, Notes};

#[derive(Properties, PartialEq)]
pub struct InboxProps {
    pub site: String,
    /// A conversation to open (a link from the Payments page).
    #[prop_or_default]
    pub open: Option<String>,
}

/// What the owner confirms before a conversation is erased.
const ERASE_CONFIRM: &str = "Erase this conversation? Its transcript, the visitor's name and email, the workflow's saved answers and the payments' descriptions are gone for good. Amounts, statuses and Stripe ids stay for your accounts. Stripe keeps its own copy of the descriptions.";

/// Why a visitor's name and email are marked: anyone's page script can set them.
const UNVERIFIED: &str = "Set by the host page with chatpay.setVisitor; anyone can type anything there, so chatpay shows it as unverified.";

fn status_label(s: ConversationStatus) -> &'static str {
    match s {
        ConversationStatus::WaitingAgent => "Waiting for an agent",
        ConversationStatus::Agent => "With a person",
        ConversationStatus::Closed => "Closed",
        ConversationStatus::Bot => "With the bot",
    }
}

fn clock(at_ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    d.to_locale_time_string("default").as_string().unwrap_or_default()
}

#[component(Inbox)]
pub fn inbox(p: &InboxProps) -> Html {
    let waiting_only = use_state(|| false);
    let list = use_state(Vec::<ConversationSummary>::new);
    // The cursor of the next (older) page of the list, if there is one.
    let next = use_state(|| None::<String>);
    let selected = use_state(|| p.open.clone());
    {
        let selected = selected.clone();
        use_effect_with(p.open.clone(), move |open| {
            if open.is_some() {
                selected.set(open.clone());
            }
        });
    }
    let view = use_state(|| None::<ConversationView>);
    let reply = use_state(String::new);
    let amount = use_state(String::new);
    let currency = use_state(|| "USD".to_owned());
    let description = use_state(String::new);
    let failure = use_state(|| None::<Failure>);
    let (live_tick, bump) = use_counter();
    // Agent-only notes from the relay (a link that could not be made, a mismatch).
    let notes = use_reducer(Notes::default);
    // The manual payment being created (its card appears when Stripe has made the link),
    // and the key that makes a double-click one payment.
    let creating = use_state(|| None::<String>);
    let pay_key = use_state(request_key);

    // The list's first page, again whenever the filter changes or something happens.
    {
        let (list, next, site, waiting) = (list.clone(), next.clone(), p.site.clone(), *waiting_only);
        use_effect_with((site.clone(), waiting, live_tick), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!(
                    "{}?waiting={waiting}",
                    paths::fill(paths::CONVERSATIONS, &[&*site])
                );
                if let Ok(page) = api::get::<ConversationPage>(&path).await {
                    list.set(page.conversations);
                    next.set(page.next);
                }
            });
        });
    }
    let load_more = {
        let (list, next, site, waiting) = (list.clone(), next.clone(), p.site.clone(), *waiting_only);
        Callback::from(move |_: MouseEvent| {
            let Some(cursor) = (*next).clone() else { return };
            let (list, next, site) = (list.clone(), next.clone(), site.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let path = format!(
                    "{}?waiting={waiting}&before={}",
                    paths::fill(paths::CONVERSATIONS, &[&*site]),
                    js_sys::encode_uri_component(&cursor)
                );
                if let Ok(page) = api::get::<ConversationPage>(&path).await {
                    let mut all = (*list).clone();
                    all.extend(page.conversations);
                    list.set(all);
                    next.set(page.next);
                }
            });
        })
    };
    // The open transcript, again whenever something happens.
    {
        let (view, site) = (view.clone(), p.site.clone());
        use_effect_with(
            (site.clone(), (*selected).clone(), live_tick),
            move |(site, sel, _)| {
                if let Some(id) = sel.clone() {
                    let site = site.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Ok(v) =
                            api::get::<ConversationView>(&paths::fill(paths::CONVERSATION, &[&*site, &*id]))
                                .await
                        {
                            view.set(Some(v));
                        }
                    });
                }
            },
        );
    }
    // Live events from the relay: the list and the open transcript refresh.
    // Erase (after the owner confirms): what is left reloads.
    let on_erase = {
        let (site, selected, failure, bump) =
            (p.site.clone(), selected.clone(), failure.clone(), bump.clone());
        Callback::from(move |_: MouseEvent| {
            let Some(id) = (*selected).clone() else { return };
            let sure = web_sys::window()
                .and_then(|w| w.confirm_with_message(ERASE_CONFIRM).ok())
                .unwrap_or(false);
            if !sure {
                return;
            }
            let (site, failure, bump) = (site.clone(), failure.clone(), bump.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let path = paths::fill(paths::ERASE, &[&*site, &*id]);
                match api::post::<_, serde_json::Value>(&path, &serde_json::json!({})).await {
                    Ok(_) => bump.dispatch(()),
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    {
        let site = p.site.clone();
        let note = notes.dispatcher();
        use_effect_with(site.clone(), move |site| {
            let location = web_sys::window().map(|w| w.location());
            let host = location.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
            let secure = location
                .and_then(|l| l.protocol().ok())
                .is_some_and(|p| p == "https:");
            let url = format!(
                "{}://{host}{}",
                if secure { "wss" } else { "ws" },
                paths::fill(paths::LIVE, &[site])
            );
            // The socket lives in the task; stopping the task (another site, or leaving the
            // inbox) drops it, which closes it. When the relay goes away (a restart) the task
            // opens it again, backing off, and reloads what it shows: events sent meanwhile
            // were missed.
            let (live, stop) = futures_util::future::abortable(async move {
                let mut backoff_ms = 1000u32;
                loop {
                    if let Ok(mut ws) = WebSocket::open(&url) {
                        let mut heard = false;
                        while let Some(Ok(Message::Text(text))) = ws.next().await {
                            if !heard {
                                heard = true;
                                backoff_ms = 1000;
                            }
                            let Ok(event) = serde_json::from_str::<LiveEvent>(&text) else {
                                continue;
                            };
                            if let Some(n) = event.notice {
                                note.dispatch((event.conversation, n));
                            }
                            bump.dispatch(());
                        }
                    }
                    bump.dispatch(());
                    let jitter = 0.5 + js_sys::Math::random() / 2.0;
                    yew::platform::time::sleep(std::time::Duration::from_millis(
                        (f64::from(backoff_ms) * jitter) as u64,
                    ))
                    .await;
                    backoff_ms = (backoff_ms * 2).min(30_000);
                }
            });
            wasm_bindgen_futures::spawn_local(async move {
                let _ = live.await;
            });
            move || stop.abort()
        });
    }
    // The transcript opens at its newest line, and follows new ones.
    {
        let newest = view.as_ref().map(|v| (v.summary.id.clone(), v.history.len()));
        use_effect_with(newest, move |_| {
            if let Some(el) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("transcript"))
            {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }

    let action = {
        let (site, selected, failure) = (p.site.clone(), selected.clone(), failure.clone());
        move |what: &'static str| {
            let (site, selected, failure) = (site.clone(), selected.clone(), failure.clone());
            Callback::from(move |_: MouseEvent| {
                let Some(id) = (*selected).clone() else { return };
                let (site, failure) = (site.clone(), failure.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    // The live socket brings the change back; only errors need showing.
                    if let Err(f) = api::post::<_, ConversationSummary>(
                        &format!("{}/{what}", paths::fill(paths::CONVERSATION, &[&*site, &*id])),
                        &serde_json::json!({}),
                    )
                    .await
                    {
                        failure.set(Some(f));
                    }
                });
            })
        }
    };
    let on_reply = {
        let (site, selected, reply, failure) =
            (p.site.clone(), selected.clone(), reply.clone(), failure.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(id) = (*selected).clone() else { return };
            let body = AgentReply {
                text: (*reply).clone(),
            };
            let (site, reply, failure) = (site.clone(), reply.clone(), failure.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, serde_json::Value>(&paths::fill(paths::REPLY, &[&*site, &*id]), &body)
                    .await
                {
                    Ok(_) => {
                        reply.set(String::new());
                        failure.set(None);
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let on_payment = {
        let (site, selected, amount, currency, description, failure, creating, pay_key) = (
            p.site.clone(),
            selected.clone(),
            amount.clone(),
            currency.clone(),
            description.clone(),
            failure.clone(),
            creating.clone(),
            pay_key.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(id) = (*selected).clone() else { return };
            let body = ManualPayment {
                amount: (*amount).clone(),
                currency: (*currency).clone(),
                description: (*description).clone(),
                request_key: Some((*pay_key).clone()),
            };
            let (site, amount, description, failure, creating, pay_key) = (
                site.clone(),
                amount.clone(),
                description.clone(),
                failure.clone(),
                creating.clone(),
                pay_key.clone(),
            );
            wasm_bindgen_futures::spawn_local(async move {
                match api::post::<_, serde_json::Value>(&paths::fill(paths::PAYMENTS, &[&*site, &*id]), &body)
                    .await
                {
                    Ok(answer) => {
                        amount.set(String::new());
                        description.set(String::new());
                        failure.set(None);
                        creating.set(answer["payment"].as_str().map(str::to_owned));
                        pay_key.set(request_key());
                    }
                    Err(f) => failure.set(Some(f)),
                }
            });
        })
    };
    let set = |s: UseStateHandle<String>| Callback::from(move |v| s.set(v));
    let on_filter = {
        let w = waiting_only.clone();
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            w.set(sel.value() == "waiting");
        })
    };

    let rows = list.iter().map(|c| {
        let id = c.id.clone();
        let active = selected.as_deref() == Some(c.id.as_str());
        let onclick = {
            let selected = selected.clone();
            Callback::from(move |_: MouseEvent| selected.set(Some(id.clone())))
        };
        let said = c.visitor_name.is_some() || c.visitor_email.is_some();
        let who = c.visitor_name.clone().or_else(|| c.visitor_email.clone()).unwrap_or_else(|| format!("Visitor {}", &c.id[c.id.len().saturating_sub(6)..]));
        html! {
            <li class={classes!("conv", active.then_some("active"), (c.status == ConversationStatus::WaitingAgent).then_some("waiting"))} data-conversation={c.id.clone()} {onclick}>
                <div class="conv-top"><strong>{ who }</strong>
                    if said { <span class="unverified" title={UNVERIFIED}>{ " (unverified)" }</span> }
                    <span class={classes!("badge", c.status.as_str())}>{ status_label(c.status) }</span></div>
                <span class="muted">{ c.last_text.clone().unwrap_or_default() }</span>
            </li>
        }
    });

    let f = (*failure).clone();
    let transcript = match &*view {
        None => html! { <p class="muted">{ "Pick a conversation." }</p> },
        Some(v) => {
            // Cards show their latest status.
            let mut status_of: Vec<(String, PaymentStatus)> = Vec::new();
            for fr in &v.history {
                if let ServerFrame::PaymentUpdate { payment, status, .. } = fr {
                    status_of.retain(|(p, _)| p != payment);
                    status_of.push((payment.clone(), *status));
                }
            }
            let items = v.history.iter().filter_map(|fr| match fr {
                ServerFrame::Message { from, text, at, .. } => {
                    let class = match from { Author::Visitor => "line visitor", Author::Bot => "line bot", Author::Agent => "line agent" };
                    let who = match from { Author::Visitor => "Visitor", Author::Bot => "Bot", Author::Agent => "You" };
                    Some(html! { <li class={class}><span class="who">{ who }</span><div class="text">{ text }</div><time>{ clock(*at) }</time></li> })
                }
                ServerFrame::PaymentCard { payment, amount, currency, description, status, .. } => {
                    let now = status_of.iter().find(|(p, _)| p == payment).map(|(_, s)| *s).unwrap_or(*status);
                    let shown = chatpay_shared::money::currency(currency).map(|c| format_minor(*amount, c)).unwrap_or_default();
                    Some(html! {
                        <li class="line card-line" data-payment={payment.clone()}>
                            <span class="who">{ "Payment" }</span>
                            <div class="text"><strong>{ description }</strong>{ format!(" — {shown} {currency} ") }<span class={classes!("badge", now.as_str())} data-status={now.as_str()}>{ now.as_str() }</span></div>
                        </li>
                    })
                }
                _ => None,
            });
            let status = v.summary.status;
            let still_creating = (*creating).as_ref().filter(|pay| {
                !v.history
                    .iter()
                    .any(|fr| matches!(fr, ServerFrame::PaymentCard { payment, .. } if payment == *pay))
            });
            let conv_notes = notes.0.iter().filter(|(c, _)| *c == v.summary.id).map(|(_, n)| {
                html! { <p class="error notice" role="alert">{ n }</p> }
            });
            html! {
                <>
                    <div class="conv-head">
                        <strong>{ v.summary.visitor_name.clone().or_else(|| v.summary.visitor_email.clone()).unwrap_or_else(|| "Visitor".into()) }</strong>
                        if let (Some(_), Some(email)) = (&v.summary.visitor_name, &v.summary.visitor_email) {
                            <span class="muted">{ format!(" · {email}") }</span>
                        }
                        if v.summary.visitor_name.is_some() || v.summary.visitor_email.is_some() {
                            <span class="unverified" id="identity-unverified" title={UNVERIFIED}>{ " unverified — the page said so, chatpay did not check it" }</span>
                        }
                        <span class={classes!("badge", status.as_str())} id="conv-status">{ status_label(status) }</span>
                        if matches!(status, ConversationStatus::Bot | ConversationStatus::WaitingAgent) {
                            <button class="button small" id="take-over" onclick={action("takeover")}>{ "Take over" }</button>
                        }
                        if matches!(status, ConversationStatus::Agent | ConversationStatus::WaitingAgent) {
                            <button class="button small" id="hand-back" onclick={action("handback")}>{ "Hand back to the bot" }</button>
                        }
                        <a class="button small" id="export-conversation" download="" href={paths::fill(paths::EXPORT, &[&*p.site, &*v.summary.id])}>{ "Export JSON" }</a>
                        <button class="button small danger" id="erase-conversation" onclick={on_erase.clone()}>{ "Erase…" }</button>
                    </div>
                    <ol class="transcript" id="transcript">{ for items }</ol>
                    if still_creating.is_some() {
                        <p class="muted" id="payment-creating">{ "Creating the payment link with Stripe… the card appears here when it is ready." }</p>
                    }
                    { for conv_notes }
                    <form class="reply" onsubmit={on_reply}>
                        <Field name="reply" label="Reply as a person" multiline=true value={(*reply).clone()} on_input={set(reply.clone())} error={f.as_ref().and_then(|f| f.at("text"))} />
                        <button class="button primary" id="send-reply">{ "Send" }</button>
                    </form>
                    <form class="card manual-payment" onsubmit={on_payment}>
                        <h3>{ "Request a payment" }</h3>
                        <div class="row">
                            <Field name="pay_amount" label="Amount" placeholder="49.99" value={(*amount).clone()} on_input={set(amount.clone())} error={f.as_ref().and_then(|f| f.at("amount"))} />
                            <div class="field">
                                <label>{ "Currency" }</label>
                                <select name="pay_currency" aria-label="Currency" onchange={{ let c = currency.clone(); Callback::from(move |e: Event| { let s: HtmlSelectElement = e.target_unchecked_into(); c.set(s.value()); }) }}>
                                    { for CURRENCIES.iter().map(|c| html! { <option value={c.code} selected={c.code == currency.as_str()}>{ c.code }</option> }) }
                                </select>
                            </div>
                        </div>
                        <Field name="pay_description" label="What it is for (shown on Checkout)" value={(*description).clone()} on_input={set(description.clone())} error={f.as_ref().and_then(|f| f.at("description"))} />
                        <button class="button" id="send-payment">{ "Send payment link" }</button>
                        if let Some(msg) = f.as_ref().and_then(Failure::general) { <p class="error">{ msg }</p> }
                    </form>
                </>
            }
        }
    };

    html! {
        <div class="inbox">
            <section class="conv-list">
                <select name="filter" id="inbox-filter" aria-label="Show" onchange={on_filter}>
                    <option value="all" selected={!*waiting_only}>{ "All conversations" }</option>
                    <option value="waiting" selected={*waiting_only}>{ "Waiting for an agent" }</option>
                </select>
                <ul>{ for rows }</ul>
                if list.is_empty() { <p class="muted">{ "Nothing here yet." }</p> }
                if next.is_some() { <button class="button small" id="load-more" onclick={load_more}>{ "Older conversations" }</button> }
            </section>
            <section class="conv-view">{ transcript }</section>
        </div>
    }
}
