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
