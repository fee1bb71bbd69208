//! The workflow engine.
//!
//! - [`step`]: the pure interpreter `(definition, run state, event) → (run state, effects)`.
//! - [`runner`]: carries effects out inside the caller's transaction (messages, payment
//!   rows, cards, handoff, close) and, after the commit, publishes and creates Checkout
//!   Sessions.
//! - [`background`]: the safety nets: reconciliation of overdue payments and recovery of
//!   runs interrupted while a payment was being created.

pub mod background;
pub mod runner;
pub mod step;
