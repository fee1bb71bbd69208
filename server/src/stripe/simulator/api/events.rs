//! `GET /v1/events`: the account's events, newest first.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::super::SimState;
use super::*;
use crate::stripe::form::Form;

/// `GET /v1/events`: the account's events, newest first (`limit`, default 10, at most 100).
pub(super) async fn list_events(
    State(state): State<SimState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let limit = Form::decode(uri.query().unwrap_or("").as_bytes())
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let mut all = sim.store.sim_list(&account.id, "event").await.map_err(internal)?;
    all.reverse();
    let has_more = all.len() > limit;
    let data: Vec<Value> = all.into_iter().take(limit).collect();
    Ok(ok(
        json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }),
    ))
}
