//! The root component: holds the [`ChatState`], opens the connection once, answers page
//! commands, and tells the page what happens (DOM events).

use std::rc::Rc;

use chatpay_shared::protocol::{ClientFrame, ServerFrame};
use yew::prelude::*;

use super::launcher::Launcher;
use super::panel::Panel;
use crate::bridge::{self, Command};
use crate::services::socket::Connection;
use crate::services::storage;
use crate::state::{Action, ChatState, Words};

#[derive(Properties, PartialEq, Clone)]
pub struct AppProps {
    /// The shadow root the widget lives in.
    pub root: web_sys::ShadowRoot,
    pub site: AttrValue,
    /// The relay's origin.
    pub base: AttrValue,
    /// BCP 47 locale for amounts and times (empty: the browser's).
    pub locale: AttrValue,
    /// The language of the widget's words (a shipped one: `en`, `de`, …).
    pub lang: AttrValue,
    /// Start with the panel open.
    pub open: bool,
}

/// What the panel can ask the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Send(String),
    Decline(Rc<str>),
    Close,
    /// Leave the ended conversation for a new one.
    StartOver,
}

fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

#[component(App)]
pub fn app(props: &AppProps) -> Html {
    let open = props.open;
    let (site_for_words, lang_for_words) = (props.site.clone(), props.lang.clone());
    let state = use_reducer(move || {
        let mut s = ChatState::new(open, now_secs());
        s.words = Words::from_table(storage::load_words(&site_for_words, &lang_for_words));
        s
    });
    let connection = use_mut_ref(|| None::<Connection>);
    let counter = use_mut_ref(|| 0u32);
    let mounted_at = use_ref(|| js_sys::Date::now() as i64);

    {
        let dispatcher = state.dispatcher();
        let connection = connection.clone();
        let (base, site, root, lang) = (
            props.base.clone(),
            props.site.clone(),
            props.root.clone(),
            props.lang.clone(),
        );
        let root_for_color = props.root.clone();
        let mounted_at = *mounted_at;
        use_effect_with((), move |_| {
            let frames = dispatcher.clone();
            let (site_words, lang_words) = (site.clone(), lang.clone());
            let conn = Connection::open(
                &base,
                &site,
                &lang,
                Callback::from(move |f: ServerFrame| {
                    if let ServerFrame::Welcome { color, texts, .. } = &f {
                        if let Some(color) = color {
                            accent(&root_for_color, color);
                        }
                        storage::save_words(&site_words, &lang_words, texts);
                    }
                    announce(&f, mounted_at);
                    frames.dispatch(Action::Frame(f));
                }),
                {
                    let d = dispatcher.clone();
                    Callback::from(move |c| d.dispatch(Action::Conn(c)))
                },
            );
            *connection.borrow_mut() = Some(conn);
            // Page commands reach the app from now on; the loader's placeholder bubble goes.
            let conn_ref = connection.clone();
            bridge::attach(Callback::from(move |cmd| match cmd {
                Command::Chat(a) => dispatcher.dispatch(a),
                // Pay on a card the loader opens over the panel: what mounts it comes back
                // on this socket only (the same session on every press).
                Command::Checkout(payment) => {
                    if let Some(c) = conn_ref.borrow().as_ref() {
                        c.send_now(&ClientFrame::Checkout { payment });
                    }
                }
                Command::Visitor { name, email } => {
                    if let Some(c) = conn_ref.borrow().as_ref() {
                        c.set_visitor(name, email);
                    }
                }
            }));
            if let Ok(Some(boot)) = root.query_selector(".cp-boot") {
                boot.remove();
            }
            bridge::emit("ready", &[]);
        });
    }

    // The countdown on open cards ticks once a second while the panel shows one.
    {
        let ticking = state.open && state.has_open_card();
        let dispatcher = state.dispatcher();
        use_effect_with(ticking, move |ticking| {
            let timer = ticking.then(|| {
                let cb = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || {
                    dispatcher.dispatch(Action::Tick(now_secs()))
                });
                let id = web_sys::window().and_then(|w| {
                    use wasm_bindgen::JsCast;
                    w.set_interval_with_callback_and_timeout_and_arguments_0(
                        cb.as_ref().unchecked_ref(),
                        1000,
                    )
                    .ok()
                });
                (id, cb)
            });
            move || {
                if let (Some((Some(id), _cb)), Some(w)) = (timer, web_sys::window()) {
                    w.clear_interval_with_handle(id);
                }
            }
        });
    }

    let on_toggle = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::Toggle))
    };
    let on_ask = {
        let state = state.clone();
        Callback::from(move |ask: Ask| match ask {
            Ask::Close => state.dispatch(Action::Close),
            Ask::StartOver => {
                state.dispatch(Action::StartOver);
                if let Some(c) = connection.borrow().as_ref() {
                    c.start_over();
                }
            }
            Ask::Decline(payment) => {
                state.dispatch(Action::Declining(payment.clone()));
                if let Some(c) = connection.borrow().as_ref() {
                    c.send_now(&ClientFrame::DeclinePayment {
                        payment: String::from(&*payment),
                    });
                }
            }
            Ask::Send(text) => {
                let text = text.trim();
                if text.is_empty() {
                    return;
                }
                let mut n = counter.borrow_mut();
                *n += 1;
                let client_id = client_id(*n);
                if let Some(conn) = connection.borrow().as_ref() {
                    conn.send_text(&client_id, text);
                }
                state.dispatch(Action::Sent {
                    client_id: client_id.into(),
                    text: Rc::from(text),
                    at: js_sys::Date::now() as i64,
                });
            }
        })
    };

    html! {
        <>
            if state.open {
                <Panel state={state.clone()} locale={props.locale.clone()} on_ask={on_ask} />
            }
            <Launcher open={state.open} unread={state.unread} words={state.words.clone()} on_toggle={on_toggle} />
        </>
    }
}

/// Applies the site's accent colour, unless the page chose one (`chatpaySettings.color`).
fn accent(root: &web_sys::ShadowRoot, color: &str) {
    use wasm_bindgen::JsCast;
    let Some(host) = root.host().dyn_into::<web_sys::HtmlElement>().ok() else {
        return;
    };
    let style = host.style();
    if style
        .get_property_value("--cp-accent")
        .is_ok_and(|v| v.is_empty())
    {
        let _ = style.set_property("--cp-accent", color);
    }
}

/// Tells the page about live frames (not about history replayed on load).
fn announce(frame: &ServerFrame, mounted_at: i64) {
    let live = |at: i64| at + 2000 >= mounted_at;
    match frame {
        ServerFrame::Message { from, text, at, .. } if live(*at) => {
            bridge::emit("message", &[("from", from.as_str()), ("text", text)]);
        }
        ServerFrame::PaymentCard {
            payment, status, at, ..
        }
        | ServerFrame::PaymentUpdate {
            payment, status, at, ..
        } if live(*at) => {
            bridge::emit("payment", &[("payment", payment), ("status", status.as_str())]);
        }
        _ => {}
    }
}

/// A tab-unique message id: the time in milliseconds and a counter, like `m-1764160000000-4`.
fn client_id(n: u32) -> String {
    let mut id = String::from("m-");
    crate::format::push_number(&mut id, js_sys::Date::now() as u64);
    id.push('-');
    crate::format::push_number(&mut id, u64::from(n));
    id
}
