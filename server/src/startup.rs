//! Builds the application and serves it on a listener it is given, so tests can bind
//! `127.0.0.1:0` and production binds the configured address.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::TraceLayer;

use crate::hub::Hub;
use crate::routes;
use crate::routes::widget::WidgetAssets;
use crate::state::{AppState, Settings};
use crate::store::Store;

/// Tells a running relay to stop; sockets get a polite close first.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// The state of a relay that is about to serve.
pub fn state(store: Store, assets: WidgetAssets, settings: Settings) -> (AppState, Shutdown) {
    let (tx, rx) = watch::channel(false);
    let assets = Arc::new(assets);
    assets.warm();
    let state = AppState {
        store,
        hub: Arc::new(Hub::new()),
        assets,
        settings: Arc::new(settings),
        shutdown: rx,
    };
    (state, Shutdown(tx))
}

/// Every route, with compression for dynamic responses and request tracing.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(routes::health::router())
        .merge(routes::widget::router())
        .merge(routes::ws::router())
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `stop` completes, then closes sockets politely and drains requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            shutdown.trigger();
        })
        .await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
