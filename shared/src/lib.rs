//! chatpay-shared: what the relay, the widget and the console agree on.
//!
//! Data and encoding only (serde): no IO, no async runtime, no web APIs, so the same types
//! compile for the relay (native) and for the widget and console (wasm32).
//!
//! - [`console`]: the console API's requests and responses.
//! - [`money`]: amounts in minor units with Stripe's per-currency rules.
//! - [`protocol`]: the WebSocket frames between a visitor's tab and the relay.
//! - [`run`]: a workflow run's saved state (the engine computes it, the store saves it).
//! - [`texts`]: the widget's own words: their order, their names, and the English ones.
//! - [`workflow`]: the bot workflow definition (versioned JSON) and its validator.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod console;
pub mod money;
pub mod protocol;
pub mod run;
pub mod texts;
pub mod workflow;
