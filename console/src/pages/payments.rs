//! Who paid what: the site's payments (newest first) with their status as Stripe last told
//! it — refunds and disputes made at Stripe included —, who asked (a workflow version or
//! an agent), the conversation and the payment at Stripe; filters by status and UTC dates,
//! totals per currency, and the same list as a CSV download.

use chatpay_shared::console::{paths, PaymentList, PaymentRow, PAYMENT_STATUSES};
use yew::prelude::*;

use super::conversion::Conversion;
use crate::api;
use crate::route::Route;

#[derive(Properties, PartialEq)]
pub struct PaymentsProps {
    pub site: String,
}

/// The filter as a query string (`?status=…&from=…&to=…`, empty parts left out).
fn query(status: &str, from: &str, to: &str) -> String {
    let parts: Vec<String> = [("status", status), ("from", from), ("to", to)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && *v != "all")
        .map(|(k, v)| format!("{k}={}", js_sys::encode_uri_component(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `2026-12-02 21:30 UTC`, or with seconds (`21:30:05`).
pub fn utc(at_ms: i64, seconds: bool) -> String {
    let iso = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64))
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
    let end = if seconds { 19 } else { 16 };
    format!("{} UTC", iso.get(..end).unwrap_or(&iso).replace('T', " "))
}

fn value_of(e: &Event) -> String {
    use wasm_bindgen::JsCast;
    e.target()
        .and_then(|t| {
            t.dyn_ref::<web_sys::HtmlInputElement>()
                .map(|i| i.value())
                .or_else(|| t.dyn_ref::<web_sys::HtmlSelectElement>().map(|s| s.value()))
        })
        .unwrap_or_default()
}

fn line(site: &str, r: &PaymentRow) -> Html {
    let conversation = match &r.conversation {
        Some(c) => {
            let to = Route::Inbox(site.to_owned(), Some(c.clone())).hash();
            html! { <a href={to}>{ "Transcript" }</a> }
        }
        None => html! { <span class="muted">{ "—" }</span> },
    };
    let stripe = match &r.stripe_url {
        Some(u) => html! { <a href={u.clone()} target="_blank" rel="noopener">{ "At Stripe" }</a> },
        None => html! { <span class="muted">{ "—" }</span> },
    };
    html! {
        <tr data-payment={r.id.clone()} data-status={r.status.clone()}>
            <td>{ utc(r.created_at, false) }</td>
            <td class="num">{ &r.amount }{ " " }{ &r.currency }</td>
            <td><span class={classes!("pill", r.status.clone())}>{ &r.status }</span>
                if let Some(d) = &r.detail { <small class="muted">{ d }</small> }</td>
            <td>{ &r.description }</td>
            <td>{ &r.asked_by }</td>
            <td>{ conversation }</td>
            <td>{ stripe }</td>
        </tr>
    }
}

#[component(Payments)]
pub fn payments(p: &PaymentsProps) -> Html {
    let status = use_state(|| "all".to_owned());
    let from = use_state(String::new);
    let to = use_state(String::new);
    let list = use_state(|| None::<Result<PaymentList, String>>);
    // The query last asked for: an older answer that arrives late is dropped, so the list
    // always matches the filters shown.
    let asked = use_mut_ref(String::new);
    let q = query(&status, &from, &to);
    {
        let (list, site, q, asked) = (list.clone(), p.site.clone(), q.clone(), asked.clone());
        use_effect_with((site.clone(), q.clone()), move |_| {
            let path = format!("{}{q}", paths::fill(paths::SITE_PAYMENTS, &[&*site]));
            *asked.borrow_mut() = path.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = api::get::<PaymentList>(&path).await;
                if *asked.borrow() == path {
                    list.set(Some(r.map_err(|f| f.message)));
                }
            });
        });
    }
    let set = |s: &UseStateHandle<String>| {
        let s = s.clone();
        Callback::from(move |e: Event| s.set(value_of(&e)))
    };
    let csv = format!("{}{q}", paths::fill(paths::SITE_PAYMENTS_CSV, &[&*p.site]));
    let body = match &*list {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(l)) if l.payments.is_empty() => {
            html! { <p class="muted" id="no-payments">{ "No payments match." }</p> }
        }
        Some(Ok(l)) => html! {
            <>
                <table class="totals" id="pay-totals">
                    <caption>{ "Totals of every matching payment (paid: what Stripe took; disputed: held back by the bank)" }</caption>
                    <thead><tr><th scope="col">{ "Currency" }</th><th scope="col">{ "Matching" }</th><th scope="col">{ "Paid" }</th><th scope="col">{ "Refunded" }</th><th scope="col">{ "Disputed" }</th><th scope="col">{ "Net" }</th></tr></thead>
                    <tbody>{ for l.totals.iter().map(|t| html! {
                        <tr data-currency={t.currency.clone()}>
                            <th scope="row">{ &t.currency }</th><td class="num">{ t.payments }</td>
                            <td class="num">{ &t.paid }</td><td class="num">{ &t.refunded }</td>
                            <td class="num">{ &t.disputed }</td><td class="num">{ &t.net }</td>
                        </tr>
                    }) }</tbody>
                </table>
                if l.truncated {
                    <p class="muted" id="pay-truncated">{ "More payments match than a page lists: the newest are below; the totals count them all, and the CSV has them all." }</p>
                }
                <div class="scroll">
                    <table class="payments" id="payments">
                        <thead><tr>
                            <th scope="col">{ "When" }</th><th scope="col">{ "Amount" }</th><th scope="col">{ "Status" }</th>
                            <th scope="col">{ "Description" }</th><th scope="col">{ "Asked by" }</th>
                            <th scope="col">{ "Conversation" }</th><th scope="col">{ "Stripe" }</th>
                        </tr></thead>
                        <tbody>{ for l.payments.iter().map(|r| line(&p.site, r)) }</tbody>
                    </table>
                </div>
            </>
        },
    };
    let dates = query("all", &from, &to);
    html! {
        <>
        <Conversion site={p.site.clone()} query={dates} />
        <section class="card">
            <h2>{ "Payments" }</h2>
            <form class="filters" onsubmit={Callback::from(|e: SubmitEvent| e.prevent_default())}>
                <label for="pay-status">{ "Status" }</label>
                <select id="pay-status" onchange={set(&status)}>
                    <option value="all" selected={*status == "all"}>{ "All" }</option>
                    { for PAYMENT_STATUSES.iter().map(|s| html! { <option value={*s} selected={*status == *s}>{ *s }</option> }) }
                </select>
                <label for="pay-from">{ "From (UTC)" }</label>
                <input id="pay-from" type="date" value={(*from).clone()} onchange={set(&from)} />
                <label for="pay-to">{ "To (UTC)" }</label>
                <input id="pay-to" type="date" value={(*to).clone()} onchange={set(&to)} />
                <a class="button" id="pay-csv" href={csv} download="">{ "Download CSV" }</a>
            </form>
            { body }
        </section>
        </>
    }
}
