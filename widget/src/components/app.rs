//! The root component: holds the [`ChatState`], opens the connection once, and wires the
//! launcher and the panel to actions.

use std::rc::Rc;

use yew::prelude::*;

use super::launcher::Launcher;
use super::panel::Panel;
use crate::services::socket::Connection;
use crate::state::{Action, ChatState};

#[derive(Properties, PartialEq, Clone)]
pub struct AppProps {
    /// The shadow root the widget lives in.
    pub root: web_sys::ShadowRoot,
    pub site: AttrValue,
    /// The relay's origin.
    pub base: AttrValue,
    /// Start with the panel open (the visitor clicked the bubble while it loaded).
    pub open: bool,
}

#[function_component(App)]
pub fn app(props: &AppProps) -> Html {
    let open = props.open;
    let state = use_reducer(move || ChatState::new(open));
    let connection = use_mut_ref(|| None::<Connection>);
    let counter = use_mut_ref(|| 0u32);

    {
        // Page commands reach the app from now on; the loader's placeholder bubble goes.
        let dispatcher = state.dispatcher();
        let root = props.root.clone();
        use_effect_with((), move |_| {
            crate::bridge::attach(Callback::from(move |a| dispatcher.dispatch(a)));
            if let Ok(Some(boot)) = root.query_selector(".cp-boot") {
                boot.remove();
            }
        });
    }
    {
        let dispatcher = state.dispatcher();
        let connection = connection.clone();
        let (base, site) = (props.base.clone(), props.site.clone());
        use_effect_with((), move |_| {
            let frames = dispatcher.clone();
            let conn = Connection::open(
                &base,
                &site,
                Callback::from(move |f| frames.dispatch(Action::Frame(f))),
                Callback::from(move |c| dispatcher.dispatch(Action::Conn(c))),
            );
            *connection.borrow_mut() = Some(conn);
        });
    }

    let on_toggle = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::Toggle))
    };
    let on_close = {
        let state = state.clone();
        Callback::from(move |_| state.dispatch(Action::Close))
    };
    let on_send = {
        let state = state.clone();
        Callback::from(move |text: String| {
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
        })
    };

    html! {
        <>
            if state.open {
                <Panel state={state.clone()} on_send={on_send} on_close={on_close} />
            }
            <Launcher open={state.open} unread={state.unread} on_toggle={on_toggle} />
        </>
    }
}

/// A tab-unique message id: the time in milliseconds and a counter, like `m-1764160000000-4`.
fn client_id(n: u32) -> String {
    let mut id = String::from("m-");
    let now = js_sys::Date::now() as u64;
    id.push_str(&now.to_string());
    id.push('-');
    id.push_str(&n.to_string());
    id
}
