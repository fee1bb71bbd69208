//! The chat panel: header, connection banner, message list and composer.

use chatpay_shared::protocol::Author;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use crate::state::{ChatState, Conn, Line};

#[derive(Properties, PartialEq)]
pub struct PanelProps {
    pub state: UseReducerHandle<ChatState>,
    pub on_send: Callback<String>,
    pub on_close: Callback<MouseEvent>,
}

#[function_component(Panel)]
pub fn panel(props: &PanelProps) -> Html {
    let s = &*props.state;
    let list = use_node_ref();
    let input = use_node_ref();

    // Keep the newest message in view, unless the visitor scrolled up to read.
    {
        let list = list.clone();
        use_effect_with(s.lines.len(), move |_| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                let near_bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 120;
                if near_bottom || el.scroll_top() == 0 {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    {
        let input = input.clone();
        use_effect_with((), move |_| {
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }

    let submit = {
        let input = input.clone();
        let on_send = props.on_send.clone();
        move || {
            if let Some(el) = input.cast::<HtmlTextAreaElement>() {
                let text = el.value();
                if !text.trim().is_empty() {
                    on_send.emit(text);
                    el.set_value("");
                }
            }
        }
    };
    let on_keydown = {
        let submit = submit.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                submit();
            }
        })
    };
    let on_click = Callback::from(move |_: MouseEvent| submit());

    let banner = match s.conn {
        Conn::Online => None,
        Conn::Connecting => Some("Connecting…"),
        Conn::Offline => Some("Connection lost. Reconnecting…"),
    };
    let title = if s.site_name.is_empty() {
        "Chat"
    } else {
        &*s.site_name
    };

    html! {
        <section class="cp-panel" role="dialog" aria-label={title.to_owned()}>
            <header class="cp-head">
                <span class="cp-title">{ title }</span>
                <button class="cp-x" aria-label="Close chat" onclick={props.on_close.clone()}>{ "×" }</button>
            </header>
            if let Some(text) = banner {
                <div class="cp-banner" role="status">{ text }</div>
            }
            <ol class="cp-list" role="log" aria-live="polite" ref={list}>
                { for s.lines.iter().map(line) }
            </ol>
            if let Some(notice) = &s.notice {
                <div class="cp-notice" role="alert">{ &**notice }</div>
            }
            <div class="cp-compose">
                <textarea ref={input} rows="1" placeholder="Write a message…" aria-label="Message" maxlength="2000" onkeydown={on_keydown} />
                <button class="cp-send" aria-label="Send" onclick={on_click}>
                    <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20l18-8L3 4v6l12 2-12 2z" /></svg>
                </button>
            </div>
        </section>
    }
}

fn line(l: &Line) -> Html {
    let class = match (l.from, l.is_pending()) {
        (Author::Visitor, false) => "cp-msg cp-me",
        (Author::Visitor, true) => "cp-msg cp-me cp-pending",
        (Author::Bot, _) => "cp-msg cp-bot",
        (Author::Agent, _) => "cp-msg cp-agent",
    };
    let key = match &l.client_id {
        Some(id) => id.to_string(),
        None => l.seq.to_string(),
    };
    html! {
        <li key={key} class={class}>
            <div class="cp-bubble">{ &*l.text }</div>
            <time class="cp-time">{ clock(l.at) }</time>
        </li>
    }
}

/// `14:05` in the visitor's locale.
fn clock(at_ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at_ms as f64));
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&opts, &"minute".into(), &"2-digit".into());
    date.to_locale_time_string_with_options("default", &opts)
        .as_string()
        .unwrap_or_default()
}
