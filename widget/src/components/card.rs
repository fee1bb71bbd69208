//! A payment card: what is paid for, the amount in the visitor's locale, a live status chip,
//! the time left on the link, and what the visitor can do now: **Pay** (Checkout in a new
//! tab; Checkout refuses to be framed), **Not now** (declines: the link expires at once),
//! or, once expired or failed, **Get a new link** (asks the workflow for another).

use chatpay_shared::protocol::PaymentStatus;
use yew::prelude::*;

use crate::format;
use crate::state::Card;

/// The words the visitor sends for a new link; a workflow's retry path listens for "link".
pub const NEW_LINK_TEXT: &str = "Get a new link";

#[derive(Properties, PartialEq)]
pub struct CardProps {
    pub card: Card,
    /// Unix seconds.
    pub now: i64,
    pub locale: AttrValue,
    /// The newest card of the chat: only it offers a new link (an older one is history).
    pub latest: bool,
    pub on_decline: Callback<()>,
    pub on_new_link: Callback<()>,
}

/// The chip's text and class for a status.
pub fn chip(status: PaymentStatus) -> (&'static str, &'static str) {
    match status {
        PaymentStatus::Pending => ("Pending", "cp-chip cp-pending"),
        PaymentStatus::Processing => ("Processing", "cp-chip cp-processing"),
        PaymentStatus::Paid => ("Paid ✓", "cp-chip cp-paid"),
        PaymentStatus::Expired => ("Expired", "cp-chip cp-expired"),
        PaymentStatus::Failed => ("Failed", "cp-chip cp-failed"),
        PaymentStatus::Mismatch => ("Being checked", "cp-chip cp-processing"),
    }
}

#[function_component(PaymentCard)]
pub fn payment_card(props: &CardProps) -> Html {
    let c = &props.card;
    let (label, class) = if c.expiring && c.status == PaymentStatus::Pending {
        ("Expiring…", "cp-chip cp-expired")
    } else {
        chip(c.status)
    };
    let amount = format::amount(c.amount, &c.currency, &props.locale);
    let left = c.expires_at - props.now;
    let on_decline = props.on_decline.reform(|_: MouseEvent| ());
    let on_new_link = props.on_new_link.reform(|_: MouseEvent| ());
    let footer = match c.status {
        PaymentStatus::Pending if c.expiring => html! {
            <p class="cp-note">{ "Cancelling this link…" }</p>
        },
        PaymentStatus::Pending => html! {
            <>
                <p class="cp-note" aria-live="off">
                    if left > 0 {
                        { "Link expires in " }<span class="cp-countdown">{ format::countdown(left) }</span>
                    } else {
                        { "This link has expired." }
                    }
                </p>
                <div class="cp-actions">
                    <a class="cp-pay" href={c.url.to_string()} target="_blank" rel="noopener noreferrer">{ "Pay" }</a>
                    <button class="cp-decline" onclick={on_decline}>{ "Not now" }</button>
                </div>
            </>
        },
        PaymentStatus::Processing => html! {
            <p class="cp-note">{ "Your bank is confirming the payment. This can take a moment." }</p>
        },
        PaymentStatus::Paid => html! { <p class="cp-note">{ "Payment received. Thank you!" }</p> },
        PaymentStatus::Mismatch => html! {
            <p class="cp-note">{ "A person will check this payment and reply here." }</p>
        },
        PaymentStatus::Expired | PaymentStatus::Failed if props.latest => html! {
            <div class="cp-actions">
                <button class="cp-newlink" onclick={on_new_link}>{ NEW_LINK_TEXT }</button>
            </div>
        },
        PaymentStatus::Expired | PaymentStatus::Failed => Html::default(),
    };
    html! {
        <article class="cp-card" aria-label="Payment request">
            <div class="cp-card-head">
                <span class="cp-desc">{ &*c.description }</span>
                <span class={class} role="status">{ label }</span>
            </div>
            <div class="cp-amount">{ amount }</div>
            { footer }
        </article>
    }
}
