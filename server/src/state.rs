//! What every route shares: the store, the hub, the built widget and the settings.

use std::sync::Arc;

use tokio::sync::watch;

use crate::assets::WidgetAssets;
use crate::hub::Hub;
use crate::secrets::Cipher;
use crate::store::Store;
use crate::stripe::client::StripeHttp;
use crate::stripe::simulator::Simulator;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where visitors and Stripe reach this relay, without a trailing slash.
    pub public_url: String,
    /// How old a webhook signature may be, in seconds.
    pub webhook_tolerance_secs: i64,
    /// How often overdue payments are reconciled and interrupted runs resumed.
    pub sweep_every: std::time::Duration,
    /// The Trunk output folder (widget files, and the console under `console/`).
    pub dist: std::path::PathBuf,
    /// How long a replaced webhook signing secret keeps verifying.
    pub webhook_secret_grace: std::time::Duration,
    /// Timeouts and the cap on open connections.
    pub connections: crate::connections::ConnLimits,
    /// How often a visitor socket is pinged; one that answers nothing for this long again
    /// is closed.
    pub ws_ping_every: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where Stripe's webhooks come from: never blocked for bad signatures.
    pub webhook_sources: Vec<ipnet::IpNet>,
    /// Anonymous budgets.
    pub budgets: crate::budgets::Budgets,
    /// The token the simulator's test controls need.
    pub simulator_token: String,
    /// URL prefixes, beside this relay's own webhook routes, the simulator may deliver to.
    pub simulator_deliver_to: Vec<String>,
    /// The bearer token `GET /metrics` asks for (`None`: not served on the main address).
    pub metrics_token: Option<String>,
    /// Outbound webhooks may go to private addresses and this relay's own host (test setups).
    pub outbound_allow_private: bool,
}

impl Settings {
    /// The relay's own web origin (`scheme://host[:port]`), as a browser sends it in `Origin`.
    pub fn own_origin(&self) -> String {
        url::Url::parse(&self.public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default()
    }
}

/// Shared state of a running relay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub assets: Arc<WidgetAssets>,
    pub settings: Arc<Settings>,
    /// Opens the Stripe secrets stored for each site.
    pub cipher: Arc<Cipher>,
    /// Calls Stripe (or the simulator) with a site's key.
    pub stripe: StripeHttp,
    /// The TEST MODE Stripe simulator, when enabled.
    pub simulator: Option<Arc<Simulator>>,
    /// The anonymous budgets (in memory, per relay).
    pub limits: Arc<crate::budgets::Limiters>,
    /// Pages the chat was refused on, per site (in memory, per relay).
    pub refused: Arc<crate::refused::RefusedPages>,
    /// Where password hashes are computed, a few at a time.
    pub hashers: Arc<crate::accounts::Hashers>,
    /// Turns `true` when the relay is shutting down; sockets then close politely.
    pub shutdown: watch::Receiver<bool>,
    /// `true` while a round of the owners' webhook retries runs (the sweep starts one and
    /// goes on; a slow endpoint never holds the sweep).
    pub outbound_round: Arc<std::sync::atomic::AtomicBool>,
}

impl crate::client::KnowsProxies for AppState {
    fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.settings.trusted_proxies
    }
}
