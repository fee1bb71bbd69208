//! `POST /webhooks/stripe/{site}`: Stripe's signed events for one site.
//!
//! The raw body is verified against the site's `whsec_` secrets *before* it is parsed. A bad
//! signature answers 400 and is recorded in the site's webhook health (time, reason). A good
//! one is applied in one transaction ([`payments::on_event`]): a duplicate answers 200 and
//! changes nothing, an event type chatpay does not use answers 200, and if the commit fails
//! the answer is 500 so Stripe retries.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::domain::SiteId;
use crate::error::{AppError, AppResult};
use crate::payments;
use crate::state::AppState;
use crate::stripe::signature;
use crate::stripe::types::Event;

/// Stripe events are small; anything larger than this is not one.
const MAX_BODY: usize = 256 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/stripe/{site}", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

#[tracing::instrument(skip_all, fields(site = %site))]
async fn receive(
    State(state): State<AppState>,
    Path(site): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<serde_json::Value>> {
    let site = SiteId::parse(&site)?;
    let site = site.as_str();
    let secrets = state.store.webhook_secrets(&state.cipher, site).await?;
    if secrets.is_empty() {
        // Only now ask whether the site exists at all: the common case costs one read.
        if state.store.site(site).await?.is_none() {
            return Err(AppError::NotFound(format!(
                "no site '{site}' on this relay; check the webhook URL"
            )));
        }
        let reason = "no webhook signing secret is saved for this site; paste the endpoint's whsec_ secret";
        state.store.note_webhook_failure(site, reason).await?;
        return Err(AppError::BadRequest(reason.into()));
    }
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let now = crate::store::now_ms() / 1000;
    if let Err(e) = signature::verify(&body, header, &refs, state.settings.webhook_tolerance_secs, now) {
        tracing::info!(reason = e.code(), "webhook refused: bad signature");
        state.store.note_webhook_failure(site, &e.owner_text()).await?;
        return Err(AppError::BadRequest(e.to_string()));
    }
    let event: Event = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is signed but is not a Stripe event: {e}")))?;
    let outcome = payments::on_event(&state, site, &event).await?;
    tracing::info!(event = %event.id, kind = %event.kind, outcome = outcome.as_str(), "webhook applied");
    Ok(Json(json!({ "received": true, "outcome": outcome.as_str() })))
}
