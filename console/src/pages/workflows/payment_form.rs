//! The Request Payment node's form, with a live preview of the amount.

use chatpay_shared::money::{format_minor, Money, CURRENCIES};
use chatpay_shared::workflow::{Amount, Node, NodeKind, Problem};
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::components::field::Field;

use super::draft::*;
use super::node_card::*;

#[derive(Properties, PartialEq)]
pub(super) struct PaymentFormProps {
    pub(super) node: Node,
    pub(super) ids: Vec<String>,
    pub(super) problems: Vec<Problem>,
    pub(super) on_edit: Callback<NodeEdit>,
}

/// The Request Payment form, with a live preview of the amount checked against the
/// currency's rules and Stripe's minimum (the same rules the relay applies).
#[component(PaymentForm)]
pub(super) fn payment_form(p: &PaymentFormProps) -> Html {
    let NodeKind::RequestPayment {
        amount,
        currency: code,
        description,
        message,
        result_variable,
        lifetime_minutes,
        success_url,
        cancel_url,
        next,
    } = &p.node.kind
    else {
        return html! {};
    };
    let err = |field: &str| field_error(&p.problems, field);
    let edit = |field: NodeField| edit_field(&p.on_edit, field);
    let select = |field: NodeField| {
        p.on_edit.reform(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            NodeEdit::Set(field, sel.value())
        })
    };
    let fixed = matches!(amount, Amount::Fixed(_));
    let amount_text = match amount {
        Amount::Fixed(t) | Amount::FromVariable(t) => t.clone(),
    };
    let preview = if fixed {
        match Money::parse(&amount_text, code) {
            Ok(m) => {
                let min = m
                    .currency
                    .min_minor
                    .map(|min| {
                        format!(
                            " Stripe's minimum is {} {}.",
                            format_minor(min, m.currency),
                            m.currency.code
                        )
                    })
                    .unwrap_or_default();
                html! { <p class="ok" id="amount-preview">{ format!("Visitors pay {m}.{min}") }</p> }
            }
            Err(e) => html! { <p class="error" id="amount-preview">{ e.to_string() }</p> },
        }
    } else {
        html! { <p class="hint" id="amount-preview">{ format!("The visitor's <<{amount_text}>> is checked when the workflow runs; an amount that cannot be charged sets {result_variable} to invalid_amount and no link is sent.") }</p> }
    };
    let mode = p.on_edit.reform(|e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        NodeEdit::AmountFixed(sel.value() == "fixed")
    });
    let insert_url = p.on_edit.reform(|_: MouseEvent| NodeEdit::InsertPaymentUrl);
    let on_next = edit_link(&p.on_edit, Link::Next);
    html! {
        <>
            <div class="row">
                <div class="field">
                    <label>{ "Amount" }</label>
                    <select name="amount_mode" aria-label="Amount" onchange={mode}>
                        <option value="fixed" selected={fixed}>{ "fixed" }</option>
                        <option value="variable" selected={!fixed}>{ "from a variable" }</option>
                    </select>
                </div>
                <Field name="amount" label={if fixed { "Amount" } else { "Variable with the amount" }} value={amount_text} on_input={edit(NodeField::Amount)} error={err("amount")} />
                <div class={classes!("field", err("currency").is_some().then_some("has-error"))}>
                    <label>{ "Currency" }</label>
                    <select name="currency" aria-label="Currency" onchange={select(NodeField::Currency)}>
                        { for CURRENCIES.iter().map(|c| html! { <option value={c.code} selected={c.code.eq_ignore_ascii_case(code)}>{ c.code }</option> }) }
                    </select>
                    if let Some(e) = err("currency") { <p class="error" data-field="currency">{ e }</p> }
                </div>
            </div>
            { preview }
            <Field name="description" label="Description (shown on Stripe Checkout)" value={description.clone()} on_input={edit(NodeField::Description)} error={err("description")} />
            <Field name="message" label="Chat message" multiline=true hint="The card with the Pay button is shown either way." value={message.clone()} on_input={edit(NodeField::Message)} error={err("message")} />
            <button class="button small" name="insert_payment_url" onclick={insert_url}>{ "Insert <<paymentUrl>>" }</button>
            <div class="row">
                <Field name="result_variable" label="Result variable" value={result_variable.clone()} on_input={edit(NodeField::ResultVariable)} error={err("result_variable")} />
                <Field name="lifetime_minutes" label="Link lifetime (minutes, 30-1440)" kind="number" value={lifetime_minutes.to_string()} on_input={edit(NodeField::LifetimeMinutes)} error={err("lifetime_minutes")} />
            </div>
            <div class="row">
                <Field name="success_url" label="Return after paying (optional)" value={success_url.clone().unwrap_or_default()} on_input={edit(NodeField::SuccessUrl)} error={err("success_url")} />
                <Field name="cancel_url" label="Return when going back (optional)" value={cancel_url.clone().unwrap_or_default()} on_input={edit(NodeField::CancelUrl)} error={err("cancel_url")} />
            </div>
            { target("next", "Then go to (paymentStatus is set)", next.as_deref(), &p.ids, true, err("next"), on_next) }
        </>
    }
}
