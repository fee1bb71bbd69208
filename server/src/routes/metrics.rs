//! `GET /metrics`: the relay's numbers in Prometheus text format ([`crate::telemetry`]).
//!
//! On the main address it needs `Authorization: Bearer <CHATPAY_METRICS_TOKEN>` (compared in
//! constant time) and is off without one; [`metrics_only`] serves it without a token on the
//! operator's separate `--metrics-listen` address.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// A router with only `/metrics`, open, for the separate metrics address.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { text(&state) }),
        )
        .with_state(state)
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, AppError> {
    let Some(token) = state.settings.metrics_token.as_deref() else {
        return Err(AppError::NotFound(
            "metrics are off on this address: start chatpay with CHATPAY_METRICS_TOKEN (then send Authorization: Bearer <token>) or --metrics-listen ADDR".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::secrets::same_secret(given, token) {
        return Err(AppError::Unauthorized(
            "send the metrics token as Authorization: Bearer <CHATPAY_METRICS_TOKEN>".into(),
        ));
    }
    Ok(text(&state))
}

fn text(state: &AppState) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::telemetry::render(&state.limits.refusals()),
    )
}
