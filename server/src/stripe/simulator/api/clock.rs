//! The simulator's clock, moved forward by tests and demos (behind the token).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::*;
use crate::stripe::simulator::{events, SimState};

#[derive(serde::Deserialize)]
pub(super) struct Advance {
    seconds: i64,
    #[serde(default)]
    token: Option<String>,
}

/// Moves the simulator's clock forward and expires what became due (tests and demos).
pub(super) async fn advance_clock(
    State(state): State<SimState>,
    headers: HeaderMap,
    Query(q): Query<Advance>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let token = headers
        .get("x-simulator-token")
        .and_then(|v| v.to_str().ok())
        .or(q.token.as_deref())
        .unwrap_or("");
    if !sim.token_ok(token) {
        return Err(stripe_error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            "The simulator's clock needs the token the relay printed at start (X-Simulator-Token header or ?token=).",
            None,
        ));
    }
    sim.advance(q.seconds);
    events::expire_due_sessions(&sim).await.map_err(internal)?;
    Ok(Json(json!({ "now": sim.now() })).into_response())
}
