//! Stripe: the API client, webhook signatures, the objects chatpay reads, and the built-in
//! simulator that stands in for Stripe when there is no account or no internet.
//!
//! - [`client`]: `StripeHttp`/`StripeClient` (retries, idempotency, typed errors).
//! - [`form`]: Stripe's bracketed form encoding.
//! - [`keys`]: the shape of pasted keys and webhook secrets.
//! - [`lifetime`]: how long a Checkout link lives, inside Stripe's `expires_at` window.
//! - [`signature`]: `Stripe-Signature` parsing, verification and signing.
//! - [`types`]: Checkout Session, event, payment method configuration.
//! - [`simulator`]: the TEST MODE fake of the API subset chatpay uses, with a hosted page.

pub mod client;
pub mod form;
pub mod keys;
pub mod lifetime;
pub mod signature;
pub mod simulator;
pub mod types;
