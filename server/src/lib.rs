//! chatpay-server: the relay behind the `chatpay` binary.
//!
//! Data flows one way: **wire → route → engine → store → hub → wire**.
//!
//! - [`config`]: the command line and environment (`CHATPAY_*`).
//! - [`startup`]: builds the router and serves it on a listener it is given.
//! - [`connections`]: the accept loop: timeouts, a cap on open connections, eviction.
//! - [`error`]: the one error type, [`error::AppError`], and how it becomes a response.
//! - [`domain`]: newtypes that validate what arrives from outside (site ids, origins, tokens).
//! - [`routes`]: one module per HTTP surface (health, widget and embed, visitor socket, …).
//! - [`assets`]: the built widget's files, hashed and compressed once, as the routes serve them.
//! - [`chat`]: what happens when a visitor says hello or writes: store first, then fan out.
//! - [`client`]: the caller's address for budgets (trusted proxies and `X-Forwarded-For`).
//! - [`budgets`]: what anonymous callers may start (conversations, messages, sockets, links).
//! - [`refused`]: pages the chat was refused on (origins not allowed), for Troubleshooting.
//! - [`agents`]: what a person does in a conversation from the console's inbox.
//! - [`engine`]: the workflow interpreter (pure) and its runner (store, Stripe, hub).
//! - [`store`]: sqlx over SQLite or PostgreSQL, with the same migrations for both.
//! - [`followups`]: what a commit leaves to do: publish to the hub, start Stripe work.
//! - [`hub`]: fan-out of committed conversation events to every connected socket.
//! - [`bus`]: several relays on one PostgreSQL: `LISTEN`/`NOTIFY` pointers into the hub.
//! - [`payments`]: the payment state machine and what moves payments along it (webhook,
//!   reconciliation, decline).
//! - [`outbound`]: signed events to a site's own webhook (payments' outcomes, handoffs).
//! - [`privacy`]: a visitor's data on request (export, erase) and a site's retention.
//! - [`sweep`]: the periodic safety nets (reconciliation, interrupted opens, refunds, purges).
//! - [`stripe`]: the Stripe client, webhook signatures, and the TEST MODE simulator.
//! - [`secrets`]: Stripe secrets encrypted at rest.
//! - [`secret_input`]: how the CLI reads secrets (environment, stdin, or a silent prompt).
//! - [`texts`]: the visitor's language: the widget's words and the return pages', translated.
//! - [`pages`]: small server-rendered pages (Checkout return pages, the simulator).
//! - [`cli`]: the operator subcommands (`chatpay site …`, `chatpay stripe …`).

pub mod accounts;
pub mod agents;
pub mod assets;
pub mod budgets;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod client;
pub mod config;
pub mod connections;
pub mod domain;
pub mod engine;
pub mod error;
pub mod followups;
pub mod hub;
pub mod outbound;
pub mod pages;
pub mod payments;
pub mod privacy;
pub mod refused;
pub mod routes;
pub mod secret_input;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod store;
pub mod stripe;
pub mod sweep;
pub mod telemetry;
pub mod texts;
