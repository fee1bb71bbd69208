//! One node as a card: its id, its kind's fields, where it goes next, its problems.

use chatpay_shared::workflow::{Node, NodeKind, Operator, Problem};
use wasm_bindgen::JsCast as _;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::components::field::Field;

use super::draft::*;
use super::payment_form::PaymentForm;

#[derive(Properties, PartialEq)]
pub(super) struct NodeCardProps {
    pub(super) node: Node,
    pub(super) ids: Vec<String>,
    pub(super) problems: Vec<Problem>,
    /// Set when the graph opened this card (a count, so each click scrolls to it again).
    #[prop_or_default]
    pub(super) open: Option<u32>,
    pub(super) on_edit: Callback<NodeEdit>,
    pub(super) on_rename: Callback<String>,
    pub(super) on_delete: Callback<()>,
}

/// A select of the nodes to continue to (with "end" where allowed).
pub(super) fn target(
    name: &str,
    label: &str,
    value: Option<&str>,
    ids: &[String],
    allow_end: bool,
    error: Option<String>,
    on: Callback<Option<String>>,
) -> Html {
    let onchange = Callback::from(move |e: Event| {
        let sel: HtmlSelectElement = e.target_unchecked_into();
        let v = sel.value();
        on.emit((!v.is_empty()).then_some(v));
    });
    html! {
        <div class={classes!("field", error.is_some().then_some("has-error"))}>
            <label>{ label.to_owned() }</label>
            <select name={name.to_owned()} aria-label={label.to_owned()} {onchange}>
                if allow_end { <option value="" selected={value.is_none()}>{ "(end)" }</option> }
                { for ids.iter().map(|id| html! { <option value={id.clone()} selected={value == Some(id.as_str())}>{ id }</option> }) }
            </select>
            if let Some(e) = error { <p class="error" data-field={name.to_owned()}>{ e }</p> }
        </div>
    }
}

#[component(NodeCard)]
pub(super) fn node_card(p: &NodeCardProps) -> Html {
    let node = p.node.clone();
    let err = |field: &str| field_error(&p.problems, field);
    let general: Vec<String> = p
        .problems
        .iter()
        .filter(|pr| pr.field.is_none())
        .map(|pr| pr.message.clone())
        .collect();
    let edit = |field: NodeField| edit_field(&p.on_edit, field);
    let edit_target = |link: Link| edit_link(&p.on_edit, link);
    let on_id = p.on_rename.clone();
    let on_kind = {
        let (on, first) = (p.on_edit.clone(), p.ids.first().cloned().unwrap_or_default());
        Callback::from(move |e: Event| {
            let sel: HtmlSelectElement = e.target_unchecked_into();
            on.emit(NodeEdit::Kind {
                kind: sel.value(),
                first: first.clone(),
            });
        })
    };
    let on_delete = p.on_delete.reform(|_: MouseEvent| ());
    // Opened from the graph: brought into view, its id field focused.
    let section = use_node_ref();
    {
        let section = section.clone();
        use_effect_with(p.open, move |open| {
            if open.is_some() {
                if let Some(el) = section.cast::<web_sys::HtmlElement>() {
                    el.scroll_into_view();
                    if let Ok(Some(input)) = el.query_selector("input.node-id") {
                        if let Ok(input) = input.dyn_into::<web_sys::HtmlElement>() {
                            let _ = input.focus();
                        }
                    }
                }
            }
        });
    }
    let ids = &p.ids;

    let form = match &node.kind {
        NodeKind::SendMessage { text, next } => html! {
            <>
                <Field name="text" label="Message" multiline=true hint="<<variable>> is replaced by its value." value={text.clone()} on_input={edit(NodeField::Text)} error={err("text")} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(Link::Next)) }
            </>
        },
        NodeKind::Ask {
            text,
            variable,
            pattern,
            retry_text,
            next,
        } => html! {
            <>
                <Field name="text" label="Question" multiline=true value={text.clone()} on_input={edit(NodeField::Text)} error={err("text")} />
                <Field name="variable" label="Save the answer in" value={variable.clone()} on_input={edit(NodeField::Variable)} error={err("variable")} />
                <Field name="pattern" label="Pattern the answer must match (optional)" placeholder="[0-9]{4}" value={pattern.clone().unwrap_or_default()} on_input={edit(NodeField::Pattern)} error={err("pattern")} />
                <Field name="retry_text" label="When it does not match, say (optional)" value={retry_text.clone().unwrap_or_default()} on_input={edit(NodeField::RetryText)} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(Link::Next)) }
            </>
        },
        NodeKind::SetVariable {
            variable,
            value,
            next,
        } => html! {
            <>
                <Field name="variable" label="Variable" value={variable.clone()} on_input={edit(NodeField::Variable)} error={err("variable")} />
                <Field name="value" label="Value" value={value.clone()} on_input={edit(NodeField::Value)} />
                { target("next", "Then go to", next.as_deref(), ids, true, err("next"), edit_target(Link::Next)) }
            </>
        },
        NodeKind::RequestPayment { .. } => {
            html! { <PaymentForm node={node.clone()} ids={ids.clone()} problems={p.problems.clone()} on_edit={p.on_edit.clone()} /> }
        }
        NodeKind::Condition {
            variable,
            operator,
            value,
            then,
            otherwise,
        } => {
            let on_op = {
                let on = p.on_edit.clone();
                Callback::from(move |e: Event| {
                    let sel: HtmlSelectElement = e.target_unchecked_into();
                    let op: Operator = serde_json::from_value(serde_json::Value::String(sel.value()))
                        .unwrap_or(Operator::Equals);
                    on.emit(NodeEdit::Operator(op));
                })
            };
            let ops = [
                ("equals", "equals"),
                ("not_equals", "does not equal"),
                ("contains", "contains"),
                ("greater_than", "is greater than"),
                ("less_than", "is less than"),
                ("is_empty", "is empty"),
            ];
            let current = serde_json::to_value(operator)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            html! {
                <>
                    <Field name="variable" label="If the variable" value={variable.clone()} on_input={edit(NodeField::Variable)} error={err("variable")} />
                    <div class="field">
                        <label>{ "Operator" }</label>
                        <select name="operator" aria-label="Operator" onchange={on_op}>
                            { for ops.iter().map(|(v, label)| html! { <option value={*v} selected={current == *v}>{ *label }</option> }) }
                        </select>
                    </div>
                    if *operator != Operator::IsEmpty {
                        <Field name="value" label="Value" value={value.clone()} on_input={edit(NodeField::Value)} />
                    }
                    { target("then", "When true, go to", Some(then), ids, false, err("then"), edit_target(Link::Then)) }
                    { target("else", "Otherwise, go to", Some(otherwise), ids, false, err("else"), edit_target(Link::Otherwise)) }
                </>
            }
        }
        NodeKind::Handoff { text, next } => html! {
            <>
                <Field name="text" label="Tell the visitor (optional)" value={text.clone().unwrap_or_default()} on_input={edit(NodeField::Text)} />
                { target("next", "When a person hands back, go to", next.as_deref(), ids, true, err("next"), edit_target(Link::Next)) }
            </>
        },
        NodeKind::Close { text } => html! {
            <Field name="text" label="Last message (optional)" value={text.clone().unwrap_or_default()} on_input={edit(NodeField::Text)} />
        },
    };
    html! {
        <section ref={section} class={classes!("card", "node", (!p.problems.is_empty()).then_some("has-problems"), p.open.is_some().then_some("selected"))} data-node={node.id.clone()}>
            <div class="node-head">
                <input class="node-id" name="id" aria-label="Node id" value={node.id.clone()} onchange={Callback::from(move |e: Event| { let el: web_sys::HtmlInputElement = e.target_unchecked_into(); on_id.emit(el.value()); })} />
                <select name="kind" aria-label="Node kind" onchange={on_kind}>
                    { for KINDS.iter().map(|(k, label)| html! { <option value={*k} selected={node.kind.type_name() == *k}>{ *label }</option> }) }
                </select>
                <button class="link danger" name="delete" onclick={on_delete}>{ "Delete" }</button>
            </div>
            if let Some(e) = err("id") { <p class="error" data-field="id">{ e }</p> }
            { for general.iter().map(|g| html! { <p class="error">{ g }</p> }) }
            { form }
        </section>
    }
}

/// The message of the node's problem at `field`, if it has one.
pub(super) fn field_error(problems: &[Problem], field: &str) -> Option<String> {
    problems
        .iter()
        .find(|pr| pr.field.as_deref() == Some(field))
        .map(|pr| pr.message.clone())
}

/// A field's callback: the text typed, as an edit of that field.
pub(super) fn edit_field(on: &Callback<NodeEdit>, field: NodeField) -> Callback<String> {
    on.reform(move |v: String| NodeEdit::Set(field, v))
}

/// A "go to" select's callback: the node chosen, as an edit of that link.
pub(super) fn edit_link(on: &Callback<NodeEdit>, link: Link) -> Callback<Option<String>> {
    on.reform(move |to: Option<String>| NodeEdit::Link(link, to))
}
