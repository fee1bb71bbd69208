//! HTTP surfaces, one module each; every module owns its `router()`.
//!
//! - [`health`]: `GET /healthz`, `GET /readyz`.
//! - [`metrics`]: `GET /metrics` for an operator's scraper (a token, or its own address).
//! - [`widget`]: the script tag's `/embed.js`, the hashed widget files under `/w/`, and the
//!   demo host page at `/demo`.
//! - [`ws`]: the visitor socket at `/ws?site=ID`.
//! - [`webhook`]: Stripe's signed events at `POST /webhooks/stripe/{site}`.
//! - [`checkout`]: the pages Stripe Checkout returns visitors to (paid, or cancelled).
//! - [`pay`]: the pay page a card links to when the site pays on Stripe's embedded
//!   Checkout (`/pay/{payment}`), and its script.
//! - [`console`]: the console API (`/api/console/…`), for site owners.
//! - [`console_app`]: the console app's files under `/console/`.
//! - [`headers`]: security headers on every answer (CSP, framing, caching).
//! - [`request_id`]: every request's id and span (site, path) for the log.

pub mod checkout;
pub mod console;
pub mod console_app;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod pay;
pub mod request_id;
pub mod webhook;
pub mod widget;
pub mod ws;
