//! What every route shares: the store, the hub, the built widget and the settings.

use std::sync::Arc;

use tokio::sync::watch;

use crate::hub::Hub;
use crate::routes::widget::WidgetAssets;
use crate::store::Store;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where visitors and Stripe reach this relay, without a trailing slash.
    pub public_url: String,
}

/// Shared state of a running relay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub assets: Arc<WidgetAssets>,
    pub settings: Arc<Settings>,
    /// Turns `true` when the relay is shutting down; sockets then close politely.
    pub shutdown: watch::Receiver<bool>,
}
