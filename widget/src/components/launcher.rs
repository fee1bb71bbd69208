//! The launcher: a round button fixed to the corner, with an unread badge.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LauncherProps {
    pub open: bool,
    pub unread: u32,
    pub on_toggle: Callback<MouseEvent>,
}

#[function_component(Launcher)]
pub fn launcher(props: &LauncherProps) -> Html {
    let label = if props.open { "Close chat" } else { "Open chat" };
    html! {
        <button class="cp-launch" aria-label={label} aria-expanded={if props.open { "true" } else { "false" }} onclick={props.on_toggle.clone()}>
            if props.open {
                <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18" /></svg>
            } else {
                <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5h16v11H9l-5 4z" /></svg>
            }
            if props.unread > 0 && !props.open {
                <span class="cp-badge" aria-label="unread messages">{ props.unread }</span>
            }
        </button>
    }
}
