//! The launcher: a round button fixed to the corner, with an unread badge.

use chatpay_shared::texts::Text;
use yew::prelude::*;

use crate::state::Words;

#[derive(Properties, PartialEq)]
pub struct LauncherProps {
    pub open: bool,
    pub unread: u32,
    pub words: Words,
    pub on_toggle: Callback<MouseEvent>,
}

#[component(Launcher)]
pub fn launcher(props: &LauncherProps) -> Html {
    let w = &props.words;
    let unread = props.unread > 0 && !props.open;
    let mut label = String::from(&*w.get(if props.open {
        Text::CloseChat
    } else {
        Text::OpenChat
    }));
    if unread {
        // The badge's number is part of what the button says (it is hidden from readers).
        label.push_str(", ");
        crate::format::push_number(&mut label, u64::from(props.unread));
        label.push(' ');
        label.push_str(&w.get(Text::Unread));
    }
    html! {
        <button class="cp-launch" aria-label={label} aria-expanded={if props.open { "true" } else { "false" }} onclick={props.on_toggle.clone()}>
            if props.open {
                <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18" /></svg>
            } else {
                <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5h16v11H9l-5 4z" /></svg>
            }
            if unread {
                <span class="cp-badge" aria-hidden="true">{ props.unread }</span>
            }
        </button>
    }
}
