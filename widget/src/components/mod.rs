//! The widget's components, one per file.
//!
//! - [`app`]: owns the state and the connection; shows the launcher and the panel.
//! - [`launcher`]: the round bubble with the unread badge.
//! - [`panel`]: header, connection banner, message list and composer.

pub mod app;
pub mod launcher;
pub mod panel;
