//! chatpay-console: where site owners set up chatpay, served by the relay at `/console/`.
//!
//! - [`api`]: calls to the relay's console API (`/api/console/…`), with its errors.
//! - [`route`]: the app's pages as a hash route (`#/sites/demo/stripe/2`).
//! - [`components`]: the frame (sidebar, top bar) and form fields.
//! - [`pages`]: one component per page: sign-in, setup, sites, site settings, the Stripe
//!   wizard, troubleshooting.

pub mod api;
pub mod components;
pub mod hooks;
pub mod pages;
pub mod route;

/// Mounts the console into the page's body.
pub fn start() {
    yew::Renderer::<components::app::App>::new().render();
}
