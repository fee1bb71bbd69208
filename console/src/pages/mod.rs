//! One component per console page.
//!
//! - [`login`], [`setup`]: signing in, and the relay's first account.
//! - [`sites`]: the account's sites and a new-site form.
//! - [`site`]: a site's name, origins, widget look and install snippet.
//! - [`stripe`]: the 4-step Stripe wizard.
//! - [`troubleshoot`]: live checks for the common problems.
//! - [`workflows`]: the workflow editor.
//! - [`inbox`]: the agent inbox.

pub mod inbox;
pub mod login;
pub mod setup;
pub mod site;
pub mod sites;
pub mod stripe;
pub mod troubleshoot;
pub mod workflows;
