//! Builds the application and serves it on a listener it is given, so tests can bind
//! `127.0.0.1:0` and production binds the configured address.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::assets::WidgetAssets;
use crate::hub::Hub;
use crate::routes;
use crate::secrets::Cipher;
use crate::state::{AppState, Settings};
use crate::store::Store;
use crate::stripe::client::StripeHttp;
use crate::stripe::simulator::{self, Simulator};

/// Tells a running relay to stop; sockets get a polite close first.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<bool>);

impl Shutdown {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

/// Everything a relay is built from.
#[derive(Debug)]
pub struct Parts {
    pub store: Store,
    pub assets: WidgetAssets,
    pub settings: Settings,
    pub cipher: Cipher,
    pub stripe: StripeHttp,
    /// Serve the Stripe simulator.
    pub simulator: bool,
}

/// The state of a relay that is about to serve; starts its background tasks.
pub fn state(parts: Parts) -> (AppState, Shutdown) {
    let (tx, rx) = watch::channel(false);
    let assets = Arc::new(parts.assets);
    assets.warm();
    let simulator = parts.simulator.then(|| {
        Arc::new(Simulator::new(
            parts.store.clone(),
            &parts.settings.public_url,
            &parts.settings.simulator_token,
            &parts.settings.simulator_deliver_to,
        ))
    });
    if let Some(sim) = &simulator {
        simulator::spawn_sweeper(Arc::clone(sim), rx.clone());
    }
    let sweep_every = parts.settings.sweep_every;
    let limits = Arc::new(crate::budgets::Limiters::new(parts.settings.budgets.clone()));
    {
        // Budgets forget quiet callers every minute: memory follows recent callers only.
        let (limits, mut down) = (Arc::clone(&limits), rx.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => limits.trim(),
                    _ = async { down.wait_for(|d| *d).await.is_ok() } => return,
                }
            }
        });
    }
    let state = AppState {
        store: parts.store,
        hub: Arc::new(Hub::new()),
        assets,
        settings: Arc::new(parts.settings),
        cipher: Arc::new(parts.cipher),
        stripe: parts.stripe,
        simulator,
        limits,
        hashers: Default::default(),
        refused: Default::default(),
        shutdown: rx,
        outbound_round: Default::default(),
    };
    // The numbers for /metrics are recorded from the start, whoever scrapes them.
    crate::telemetry::install();
    crate::sweep::spawn(state.clone(), sweep_every);
    crate::bus::spawn(state.clone());
    (state, Shutdown(tx))
}

/// Every route, with compression for dynamic responses and request tracing.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(routes::health::router())
        .merge(routes::metrics::router())
        .merge(routes::widget::router())
        .merge(routes::ws::router())
        .merge(routes::webhook::router())
        .merge(routes::checkout::router())
        .merge(routes::pay::router())
        .merge(routes::console::router())
        .merge(routes::console_app::router());
    if let Some(sim) = &state.simulator {
        app = app.merge(simulator::router(simulator::SimState {
            sim: Arc::clone(sim),
            limits: Arc::clone(&state.limits),
            trusted_proxies: state.settings.trusted_proxies.clone().into(),
        }));
    }
    // A handler that panics answers 500 like any internal error, instead of a dropped
    // connection (and is logged inside its request's span).
    app.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        crate::error::panicked,
    ))
    .layer(axum::middleware::from_fn(routes::headers::add))
    .layer(
        CompressionLayer::new()
            .quality(CompressionLevel::Fastest)
            // A short answer (a webhook's `{"received":true,…}`) gains nothing from it
            // and costs an encoder's setup.
            .compress_when(DefaultPredicate::new().and(SizeAbove::new(256))),
    )
    // One line per answer at INFO (status, latency), inside the request's span.
    .layer(TraceLayer::new_for_http().on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
    // Outermost: every line logged while a request runs carries its id and site.
    .layer(axum::middleware::from_fn(routes::request_id::span))
    .with_state(state)
}

/// Serves until `stop` completes, then closes sockets politely and drains requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.connections.clone();
    let app = router(state);
    crate::connections::serve(listener, app, limits, async move {
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
