//! One component per console page.
//!
//! - [`login`], [`setup`]: signing in, and the relay's first account.
//! - [`sites`]: the account's sites and a new-site form.
//! - [`site`]: a site's name, origins, widget look and install snippet.
//! - [`stripe`]: the 4-step Stripe wizard.
//! - [`webhook`]: the site's outbound webhook, its secret, test event and delivery log.
//! - [`troubleshoot`]: live checks for the common problems.
//! - [`workflows`]: the workflow editor.
//! - [`inbox`]: the agent inbox.
//! - [`payments`]: who paid what: the site's payments, totals and CSV.
//! - [`conversion`]: how payment requests convert, by day and workflow version (on the
//!   Payments page).

pub mod conversion;
pub mod inbox;
pub mod login;
pub mod payments;
pub mod setup;
pub mod site;
pub mod sites;
pub mod stripe;
pub mod troubleshoot;
pub mod webhook;
pub mod workflows;
