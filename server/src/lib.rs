//! chatpay-server: the relay behind the `chatpay` binary.
//!
//! Data flows one way: **wire → route → engine → store → hub → wire**.
//!
//! - [`config`]: the command line and environment (`CHATPAY_*`).
//! - [`startup`]: builds the router and serves it on a listener it is given.
//! - [`connections`]: the accept loop: timeouts, a cap on open connections, eviction.
//! - [`error`]: the one error type, [`error::AppError`], and how it becomes a response.
//! - [`domain`]: newtypes that validate what arrives from outside (site ids, origins, tokens).
//! - [`routes`]: one module per HTTP surface (health, widget assets and embed, visitor socket).
//! - [`chat`]: what happens when a visitor says hello or writes: store first, then fan out.
//! - [`budgets`]: what anonymous callers may start (conversations, messages, sockets, links).
//! - [`refused`]: pages the chat was refused on (origins not allowed), for Troubleshooting.
//! - [`agents`]: what a person does in a conversation from the console's inbox.
//! - [`engine`]: the workflow interpreter (pure) and its runner (store, Stripe, hub).
//! - [`store`]: sqlx over SQLite or PostgreSQL, with the same migrations for both.
//! - [`hub`]: fan-out of committed conversation events to every connected socket.
//! - [`bus`]: several relays on one PostgreSQL: `LISTEN`/`NOTIFY` pointers into the hub.
//! - [`payments`]: the payment state machine and what moves payments along it (webhook,
//!   reconciliation, decline).
//! - [`stripe`]: the Stripe client, webhook signatures, and the TEST MODE simulator.
//! - [`secrets`]: Stripe secrets encrypted at rest.
//! - [`secret_input`]: how the CLI reads secrets (environment, stdin, or a silent prompt).
//! - [`texts`]: the visitor's language: the widget's words and the return pages', translated.
//! - [`pages`]: small server-rendered pages (Checkout return pages, the simulator).
//! - [`cli`]: the operator subcommands (`chatpay site …`, `chatpay stripe …`).

pub mod accounts;
pub mod agents;
pub mod budgets;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod config;
pub mod connections;
pub mod domain;
pub mod engine;
pub mod error;
pub mod hub;
pub mod pages;
pub mod payments;
pub mod refused;
pub mod routes;
pub mod secret_input;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod store;
pub mod stripe;
pub mod texts;
