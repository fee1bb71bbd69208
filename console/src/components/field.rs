//! Form fields that name themselves (`name=` is how tests and password managers find them)
//! and show the relay's error for that field right under the input.

use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FieldProps {
    pub name: AttrValue,
    pub label: AttrValue,
    pub value: AttrValue,
    pub on_input: Callback<String>,
    #[prop_or_default]
    pub error: Option<String>,
    #[prop_or_default]
    pub hint: Option<AttrValue>,
    /// `text`, `password`, `email`, `url`, `color`…
    #[prop_or(AttrValue::Static("text"))]
    pub kind: AttrValue,
    #[prop_or_default]
    pub placeholder: AttrValue,
    /// A multi-line text area instead of an input.
    #[prop_or_default]
    pub multiline: bool,
}

#[component(Field)]
pub fn field(p: &FieldProps) -> Html {
    let id = format!("f-{}", p.name);
    let on_input = p.on_input.clone();
    let input = if p.multiline {
        let oninput = Callback::from(move |e: InputEvent| {
            let el: HtmlTextAreaElement = e.target_unchecked_into();
            on_input.emit(el.value());
        });
        html! { <textarea id={id.clone()} name={p.name.clone()} rows="3" value={p.value.clone()} placeholder={p.placeholder.clone()} {oninput} /> }
    } else {
        let oninput = Callback::from(move |e: InputEvent| {
            let el: HtmlInputElement = e.target_unchecked_into();
            on_input.emit(el.value());
        });
        html! { <input id={id.clone()} name={p.name.clone()} type={p.kind.clone()} value={p.value.clone()} placeholder={p.placeholder.clone()} {oninput} autocomplete="off" /> }
    };
    html! {
        <div class={classes!("field", p.error.is_some().then_some("has-error"))}>
            <label for={id}>{ p.label.clone() }</label>
            { input }
            if let Some(h) = &p.hint {
                <p class="hint">{ h.clone() }</p>
            }
            if let Some(e) = &p.error {
                <p class="error" role="alert" data-field={p.name.clone()}>{ e.clone() }</p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct ToggleProps {
    pub name: AttrValue,
    pub label: AttrValue,
    pub checked: bool,
    pub on_change: Callback<bool>,
}

/// An on/off switch.
#[component(Toggle)]
pub fn toggle(p: &ToggleProps) -> Html {
    let on_change = p.on_change.clone();
    let onchange = Callback::from(move |e: Event| {
        let el: HtmlInputElement = e.target_unchecked_into();
        on_change.emit(el.checked());
    });
    html! {
        <label class="toggle">
            <input type="checkbox" name={p.name.clone()} checked={p.checked} {onchange} />
            <span>{ p.label.clone() }</span>
        </label>
    }
}

/// Copies text to the clipboard (the browser may ask).
pub fn copy(text: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
}
