//! Webhook endpoints: create (only to this relay's own routes and allowed prefixes), list,
//! delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::stripe::simulator::{stripe_id, SimState};

/// Webhook endpoints per account (Stripe's limit too).
pub(super) const MAX_ENDPOINTS: usize = 16;

pub(super) async fn create_endpoint(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate_for(&headers, &Method::POST, "rak_webhook_write")?;
    let form = decode(&body)?;
    let resp = idempotent(
        &sim,
        &account,
        &headers,
        "/v1/webhook_endpoints",
        &form,
        || async {
            let asked = url_param(&form, "url")?.ok_or_else(|| missing("url"))?;
            let Some(url) = sim.may_deliver_to(&asked) else {
                return Err(invalid(
                    &format!(
                        "The chatpay simulator delivers webhooks only to this relay's webhook routes ({}/webhooks/stripe/SITE), not to {asked}.",
                        sim.public_url
                    ),
                    Some("url"),
                ));
            };
            let existing = sim
                .store
                .sim_list(&account.id, "webhook_endpoint")
                .await
                .map_err(internal)?;
            if existing.len() >= MAX_ENDPOINTS {
                return Err(invalid(
                    &format!("You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."),
                    Some("url"),
                ));
            }
            let events: Vec<&str> = form
                .fields()
                .iter()
                .filter(|(k, _)| k.starts_with("enabled_events["))
                .map(|(_, v)| v.as_str())
                .collect();
            if events.is_empty() {
                return Err(missing("enabled_events"));
            }
            // Events are rendered in the simulator's one version; an endpoint that asks for
            // another would be promised a shape it never gets.
            let api_version = form.get("api_version").map(str::to_owned);
            if let Some(v) = api_version.as_deref().filter(|v| *v != API_VERSION) {
                return Err(invalid(
                    &format!("The simulator renders events in {API_VERSION} only, not '{v}'."),
                    Some("api_version"),
                ));
            }
            let id = stripe_id("we_");
            let endpoint = json!({
                "id": id,
                "object": "webhook_endpoint",
                "url": url,
                "enabled_events": events,
                "api_version": api_version,
                "status": "enabled",
                "livemode": false,
                "secret": stripe_id("whsec_"),
            });
            sim.store
                .sim_put(&account.id, "webhook_endpoint", &id, &endpoint)
                .await
                .map_err(internal)?;
            Ok(endpoint)
        },
    )
    .await;
    Ok(resp)
}

/// `DELETE /v1/webhook_endpoints/{id}`: the endpoint and its secret are gone.
pub(super) async fn delete_endpoint(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate_for(&headers, &Method::DELETE, "rak_webhook_write")?;
    let deleted = sim
        .store
        .sim_delete(&account.id, "webhook_endpoint", &id)
        .await
        .map_err(internal)?;
    if !deleted {
        return Err(stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such webhook endpoint: '{id}'"),
            Some("id"),
        ));
    }
    Ok(ok(
        json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
    ))
}

/// `GET /v1/webhook_endpoints`: the account's endpoints (never their secrets).
pub(super) async fn list_endpoints(
    State(state): State<SimState>,
    headers: HeaderMap,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let data: Vec<Value> = sim
        .store
        .sim_list(&account.id, "webhook_endpoint")
        .await
        .map_err(internal)?
        .into_iter()
        .map(|mut e| {
            if let Some(o) = e.as_object_mut() {
                o.remove("secret");
            }
            e
        })
        .collect();
    Ok(ok(
        json!({ "object": "list", "url": "/v1/webhook_endpoints", "has_more": false, "data": data }),
    ))
}
