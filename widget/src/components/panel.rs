//! The chat panel: header, connection banner, the conversation (messages and payment
//! cards), the bot's typing indicator, and the composer.

use chatpay_shared::protocol::Author;
use chatpay_shared::texts::Text;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

use super::app::Ask;
use super::card::{PaymentCard, NEW_LINK_TEXT};
use crate::format;
use crate::state::{Body, ChatState, Conn, Item, Words};

#[derive(Properties, PartialEq)]
pub struct PanelProps {
    pub state: UseReducerHandle<ChatState>,
    pub locale: AttrValue,
    pub on_ask: Callback<Ask>,
}

#[component(Panel)]
pub fn panel(props: &PanelProps) -> Html {
    let s = &*props.state;
    let list = use_element_ref();
    let input = use_element_ref();

    // Keep the newest entry in view, unless the visitor scrolled up to read.
    let stick = use_mut_ref(|| true);
    let on_scroll = {
        let (list, stick) = (list.clone(), stick.clone());
        Callback::from(move |_: Event| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                *stick.borrow_mut() = el.scroll_height() - el.scroll_top() - el.client_height() < 40;
            }
        })
    };
    {
        let list = list.clone();
        let last = s.items.last().map(|i| i.seq);
        use_effect_with((s.items.len(), last, s.typing), move |_| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                if *stick.borrow() {
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
        let on_ask = props.on_ask.clone();
        move || {
            if let Some(el) = input.cast::<HtmlTextAreaElement>() {
                let text = el.value();
                if !text.trim().is_empty() {
                    on_ask.emit(Ask::Send(text));
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
    let on_escape = {
        let on_ask = props.on_ask.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" {
                on_ask.emit(Ask::Close);
            }
        })
    };
    let on_close = props.on_ask.reform(|_: MouseEvent| Ask::Close);

    let w = &s.words;
    let banner = match s.conn {
        Conn::Online | Conn::NotSetUp => None,
        Conn::Connecting => Some(w.get(Text::Connecting)),
        Conn::Offline => Some(w.get(Text::Reconnecting)),
    };
    let not_set_up = s.conn == Conn::NotSetUp;
    let title: AttrValue = if s.site_name.is_empty() {
        w.get(Text::Chat)
    } else {
        AttrValue::from(s.site_name.clone())
    };
    let latest_card = s.items.iter().rev().find_map(|i| match &i.body {
        Body::Card(c) => Some(c.payment.clone()),
        Body::Line(_) => None,
    });
    let entries = s.items.iter().map(|item| {
        entry(
            item,
            s.now,
            &props.locale,
            &props.on_ask,
            latest_card.as_deref(),
            w,
        )
    });

    html! {
        <section class="cp-panel" role="dialog" aria-label={title.clone()} onkeydown={on_escape}>
            <header class="cp-head">
                <span class="cp-title">{ title }</span>
                <button class="cp-x" aria-label={w.get(Text::CloseChat)} onclick={on_close}>{ "×" }</button>
            </header>
            if let Some(text) = banner {
                <div class="cp-banner" role="status">{ text }</div>
            }
            <ol class="cp-list" aria-live="polite" aria-relevant="additions" ref={list} onscroll={on_scroll}>
                { for entries }
                if s.typing {
                    <li class="cp-msg cp-bot cp-typing" aria-label={w.get(Text::Typing)}>
                        <div class="cp-bubble"><i></i><i></i><i></i></div>
                    </li>
                }
            </ol>
            if let Some(notice) = &s.notice {
                <div class="cp-notice" role="alert">{ &**notice }</div>
            }
            if not_set_up || s.closed {
                // The chat cannot go on here: why, and (after an end) the way to a new one.
                <div class="cp-ended" role="status">
                    <strong>{ w.html(if not_set_up { Text::NotSetUp } else { Text::Ended }) }</strong>
                    if not_set_up {
                        <span>{ w.html(Text::NotSetUpHint) }</span>
                    } else {
                        <button class="cp-newchat" onclick={props.on_ask.reform(|_: MouseEvent| Ask::StartOver)}>{ w.html(Text::NewChat) }</button>
                    }
                </div>
            } else {
                <div class="cp-compose">
                    <textarea ref={input} rows="1" placeholder={w.get(Text::Placeholder)} aria-label={w.get(Text::MessageLabel)} maxlength="2000" onkeydown={on_keydown} />
                    <button class="cp-send" aria-label={w.get(Text::Send)} onclick={on_click}>
                        <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20l18-8L3 4v6l12 2-12 2z" /></svg>
                    </button>
                </div>
            }
        </section>
    }
}

/// A `NodeRef` for the life of the component, like Yew's `use_node_ref`, which keeps it in a
/// `use_state`: a second copy of the reducer hook's code in the download (0.4 KB gzip)
/// for a value nothing ever sets.
#[hook]
fn use_element_ref() -> NodeRef {
    (*use_ref(NodeRef::default)).clone()
}

fn entry(
    item: &Item,
    now: i64,
    locale: &AttrValue,
    on_ask: &Callback<Ask>,
    latest_card: Option<&str>,
    words: &Words,
) -> Html {
    match &item.body {
        Body::Card(card) => {
            let payment = card.payment.clone();
            let latest = latest_card == Some(&*card.payment);
            html! {
                <li key={&*card.payment} class="cp-msg cp-bot">
                    <PaymentCard
                        card={card.clone()}
                        now={now}
                        locale={locale.clone()}
                        latest={latest}
                        words={words.clone()}
                        on_decline={on_ask.reform(move |_| Ask::Decline(payment.clone()))}
                        on_new_link={on_ask.reform(|_| Ask::Send(NEW_LINK_TEXT.into()))}
                    />
                </li>
            }
        }
        Body::Line(l) => {
            let class = match (l.from, item.is_pending()) {
                (Author::Visitor, false) => "cp-msg cp-me",
                (Author::Visitor, true) => "cp-msg cp-me cp-sending",
                (Author::Bot, _) => "cp-msg cp-bot",
                (Author::Agent, _) => "cp-msg cp-agent",
            };
            let key = match &l.client_id {
                Some(id) => String::from(&**id),
                None => {
                    let mut k = String::from("s");
                    format::push_number(&mut k, item.seq);
                    k
                }
            };
            let li = html! {
                <li key={key}>
                    if l.from == Author::Agent {
                        <span class="cp-who">{ words.html(Text::Support) }</span>
                    }
                    <div class="cp-bubble">{ linkify(&l.text) }</div>
                    <time class="cp-time">{ format::clock(l.at, locale) }</time>
                </li>
            };
            super::classed(li, class, None)
        }
    }
}

/// Text with its `http(s)://` links made clickable (opened in a new tab). Everything else
/// stays text nodes: nothing in a message is ever read as markup.
fn linkify(text: &str) -> Html {
    if !text.as_bytes().windows(4).any(|w| w == b"http") {
        return html! { { text.to_owned() } };
    }
    let mut parts = Vec::new();
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end();
        let is_link = word.starts_with("https://") || word.starts_with("http://");
        if !is_link {
            parts.push(html! { { piece.to_owned() } });
            continue;
        }
        let url = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
        parts.push(html! { <a href={url.to_owned()} target="_blank" rel="noopener noreferrer">{ url.to_owned() }</a> });
        parts.push(html! { { piece[url.len()..].to_owned() } });
    }
    parts.into_iter().collect::<Html>()
}
