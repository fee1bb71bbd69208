//! The widget's components, one per file.
//!
//! - [`app`]: owns the state and the connection; wires page commands and DOM events.
//! - [`launcher`]: the round bubble with the unread badge.
//! - [`panel`]: header, connection banner, conversation and composer.
//! - [`card`]: a payment card with its status chip, countdown and actions.

pub mod app;
pub mod card;
pub mod launcher;
pub mod panel;

use std::rc::Rc;

use yew::virtual_dom::{AttributeOrProperty, Attributes};
use yew::Html;

/// `node`, an element written in `html!` without attributes, with a `class` chosen at run
/// time (and a `role`, if any). In `html!`, a run-time `class={..}` goes through Yew's
/// `Classes`, a set that splits the list and joins it again: 1.6 KB gzip of wasm for
/// the two elements that need it, whose lists are ready-made.
fn classed(mut node: Html, class: &'static str, role: Option<&'static str>) -> Html {
    // Just made, so not shared: `get_mut` always finds it (and `make_mut` would bring in
    // the code to copy an element).
    if let Some(tag) = match &mut node {
        Html::VTag(tag) => Rc::get_mut(tag),
        _ => None,
    } {
        tag.set_attributes(Attributes::Dynamic {
            keys: &["class", "role"],
            values: Box::new([
                Some(AttributeOrProperty::Static(class)),
                role.map(AttributeOrProperty::Static),
            ]),
        });
    }
    node
}
