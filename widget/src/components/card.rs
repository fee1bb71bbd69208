//! A payment card: what is paid for, the amount in the visitor's locale, a live status chip,
//! the time left on the link, and what the visitor can do now: **Pay** (Checkout in a new
//! tab; Checkout refuses to be framed; a link to the relay's pay page is opened over the
//! panel by the loader instead), **Not now** (declines: the link expires at once),
//! or, once expired or failed, **Get a new link** (asks the workflow for another).

use chatpay_shared::protocol::PaymentStatus;
use chatpay_shared::texts::Text;
use yew::prelude::*;

use crate::format;
use crate::state::{Card, Words};

/// The words the visitor sends for a new link, whatever their language: a workflow's retry
/// path listens for "link" (the button itself is labelled in the visitor's language).
pub const NEW_LINK_TEXT: &str = "Get a new link";

#[derive(Properties, PartialEq)]
pub struct CardProps {
    pub card: Card,
    /// Unix seconds.
    pub now: i64,
    pub locale: AttrValue,
    /// The newest card of the chat: only it offers a new link (an older one is history).
    pub latest: bool,
    /// The widget's words.
    #[prop_or_default]
    pub words: Words,
    pub on_decline: Callback<()>,
    pub on_new_link: Callback<()>,
}

/// The chip's word and class for a status.
pub fn chip(status: PaymentStatus) -> (Text, &'static str) {
    match status {
        PaymentStatus::Pending => (Text::ChipPending, "cp-chip cp-pending"),
        PaymentStatus::Processing => (Text::ChipProcessing, "cp-chip cp-processing"),
        PaymentStatus::Paid => (Text::ChipPaid, "cp-chip cp-paid"),
        PaymentStatus::Expired => (Text::ChipExpired, "cp-chip cp-expired"),
        PaymentStatus::Failed => (Text::ChipFailed, "cp-chip cp-failed"),
        PaymentStatus::Mismatch => (Text::ChipChecking, "cp-chip cp-processing"),
    }
}

#[component(PaymentCard)]
pub fn payment_card(props: &CardProps) -> Html {
    let c = &props.card;
    let w = &props.words;
    let (label, class) = if c.expiring && c.status == PaymentStatus::Pending {
        (Text::ChipExpiring, "cp-chip cp-expired")
    } else {
        chip(c.status)
    };
    let label = w.get(label);
    let amount = format::amount(c.amount, &c.currency, &props.locale);
    let left = c.expires_at - props.now;
    let on_decline = props.on_decline.reform(|_: MouseEvent| ());
    let on_new_link = props.on_new_link.reform(|_: MouseEvent| ());
    // One note, or the actions: fewer branches of markup (size is a feature).
    let note = match c.status {
        PaymentStatus::Pending if c.expiring => Some(Text::Cancelling),
        PaymentStatus::Pending if c.confirming => Some(Text::Confirming),
        PaymentStatus::Processing => Some(Text::ProcessingNote),
        PaymentStatus::Paid => Some(Text::PaidNote),
        PaymentStatus::Mismatch => Some(Text::MismatchNote),
        _ => None,
    };
    let footer = match (note, c.status) {
        (Some(t), _) => html! { <p class="cp-note">{ w.html(t) }</p> },
        (None, PaymentStatus::Pending) => html! {
            <>
                <p class="cp-note" aria-live="off">
                    if left > 0 {
                        { w.html(Text::ExpiresIn) }<span class="cp-countdown">{ format::countdown(left) }</span>
                    } else {
                        { w.html(Text::LinkExpired) }
                    }
                </p>
                <div class="cp-actions">
                    <a class="cp-pay" href={AttrValue::from(c.url.clone())} target="_blank" rel="noopener noreferrer">{ w.html(Text::Pay) }</a>
                    <button class="cp-decline" onclick={on_decline}>{ w.html(Text::NotNow) }</button>
                </div>
            </>
        },
        (None, _) if props.latest => html! {
            <div class="cp-actions">
                <button class="cp-newlink" onclick={on_new_link}>{ w.html(Text::NewLink) }</button>
            </div>
        },
        (None, _) => Html::default(),
    };
    html! {
        <article class="cp-card" aria-label={w.get(Text::PaymentRequest)}>
            <div class="cp-card-head">
                <span class="cp-desc">{ &*c.description }</span>
                { super::classed(html! { <span>{ label }</span> }, class, Some("status")) }
            </div>
            <div class="cp-amount">{ amount }</div>
            { footer }
        </article>
    }
}
