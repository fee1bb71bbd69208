//! The workflow engine.
//!
//! - [`step`]: the pure interpreter `(definition, run state, event) → (run state, effects)`.
//! - [`runner`]: carries effects out inside the caller's transaction (messages, payment
//!   rows, cards, handoff, close) and returns what to do after the commit
//!   ([`crate::followups::Followups`]: publish, create Checkout Sessions).
//!
//! The engine knows no HTTP and no relay state, and publishes nothing; the periodic safety
//! nets that drive it are [`crate::sweep`].

pub mod runner;
pub mod step;
