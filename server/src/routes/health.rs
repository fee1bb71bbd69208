//! Probes for load balancers and orchestrators.
//!
//! - `GET /healthz` (liveness): 200 `ok` when the relay and its database answer, 503
//!   otherwise. Cheap: one read.
//! - `GET /readyz` (readiness): 200 only when the database takes writes *now*: a fresh
//!   value is written and committed through the relay's own write path and read back on
//!   another connection, so a writer that acknowledges without storing fails it. The 503
//!   names the check that failed. Both answer within [`PROBE_TIMEOUT`].

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// The longest a probe waits for the database before answering 503.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::error!("health check: the database did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let failed = match tokio::time::timeout(PROBE_TIMEOUT, state.store.check_ready()).await {
        Ok(Ok(())) => {
            return Json(json!({ "ready": true, "checks": { "write": "ok", "visible": "ok" } }))
                .into_response()
        }
        Ok(Err(not_ready)) => not_ready,
        Err(_) => crate::store::NotReady {
            check: "write",
            reason: format!(
                "the database did not take a write within {} s",
                PROBE_TIMEOUT.as_secs()
            ),
        },
    };
    tracing::error!(check = failed.check, reason = %failed.reason, "readiness check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "ready": false, "failed": failed.check, "reason": failed.reason })),
    )
        .into_response()
}
