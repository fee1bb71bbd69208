//! `POST /webhooks/stripe/{site}`: Stripe's signed events for one site.
//!
//! The raw body is verified against the site's `whsec_` secrets *before* it is parsed. A bad
//! signature answers 400 and is recorded in the site's webhook health (time, reason). A good
//! one is applied in one transaction ([`payments::on_event`]): a duplicate answers 200 and
//! changes nothing, an event type chatpay does not use answers 200, and if the commit fails
//! the answer is 500 so Stripe retries.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

use crate::client::ClientIp;
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

/// Counts every delivery by outcome (or why it was refused) and times it for `/metrics`.
#[tracing::instrument(skip_all, fields(site = %site))]
async fn receive(
    State(state): State<AppState>,
    Path(site): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Json<serde_json::Value>> {
    let started = std::time::Instant::now();
    let answer = apply(state, site, ip, headers, body).await;
    let outcome = match &answer {
        Ok((_, outcome)) => outcome,
        Err(e) => match e.status_code().as_u16() {
            400 => "refused",
            404 => "unknown_site",
            413 => "too_large",
            429 => "blocked",
            _ => "failed",
        },
    };
    crate::telemetry::webhook(outcome, started.elapsed());
    answer.map(|(json, _)| json)
}

async fn apply(
    state: AppState,
    site: String,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    body: Body,
) -> AppResult<(Json<serde_json::Value>, &'static str)> {
    let site = SiteId::parse(&site)?;
    // An address that keeps sending bad signatures is refused before anything is read;
    // but never where Stripe's deliveries come from.
    let stripe_source = is_stripe_source(&state, ip, &headers);
    if !stripe_source {
        state.limits.webhook_blocked(ip)?;
    }
    let secrets = state.store.webhook_secrets(&state.cipher, &site).await?;
    if secrets.is_empty() {
        // Only now ask whether the site exists at all: the common case costs one read.
        if state.store.site(&site).await?.is_none() {
            // Counted like a bad signature: a loop over made-up sites costs a read each.
            if !stripe_source {
                state.limits.webhook_failed(ip);
            }
            return Err(AppError::NotFound(format!(
                "no site '{site}' on this relay; check the webhook URL"
            )));
        }
        // Counted like a bad signature too: each one notes the failure (a write).
        if !stripe_source {
            state.limits.webhook_failed(ip);
        }
        let reason = "no webhook signing secret is saved for this site; paste the endpoint's whsec_ secret";
        state.store.note_webhook_failure(&site, reason).await?;
        return Err(AppError::BadRequest(reason.into()));
    }
    // The header is checked before the body is read: a malformed or oversized one costs
    // nothing more.
    let header = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    if let Err(e) = header
        .ok_or(signature::SignatureError::MissingHeader)
        .and_then(signature::parse_header)
    {
        return refuse(&state, &site, (!stripe_source).then_some(ip), e).await;
    }
    let too_large = || {
        AppError::TooLarge(format!(
            "the body is larger than {} KiB; Stripe's events are smaller",
            MAX_BODY / 1024
        ))
    };
    // Announced too large: refused before a byte is read (no `100 Continue`).
    if crate::connections::announced_length(&headers).is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| too_large())?;
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let now = crate::store::now_ms() / 1000;
    if let Err(e) = signature::verify(&body, header, &refs, state.settings.webhook_tolerance_secs, now) {
        return refuse(&state, &site, (!stripe_source).then_some(ip), e).await;
    }
    let event: Event = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body is signed but is not a Stripe event: {e}")))?;
    let outcome = payments::on_event(&state, &site, &event).await?;
    // A 200 tells Stripe never to send this event again: it must be on disk first (a
    // duplicate too: its first delivery may not be synced yet).
    state.store.durable().await?;
    tracing::info!(event = %event.id, kind = %event.kind, outcome = outcome.as_str(), "webhook applied");
    Ok((
        Json(json!({ "received": true, "outcome": outcome.as_str() })),
        outcome.as_str(),
    ))
}

/// Whether a delivery comes from where Stripe's do: an address the operator listed
/// (`CHATPAY_WEBHOOK_SOURCES`), or this relay's own simulator (its token in a header).
fn is_stripe_source(state: &AppState, ip: std::net::IpAddr, headers: &HeaderMap) -> bool {
    use crate::stripe::simulator::Simulator;
    state.settings.webhook_sources.iter().any(|n| n.contains(&ip))
        || state.simulator.as_ref().is_some_and(|sim| {
            headers
                .get(Simulator::DELIVERY_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| sim.token_ok(t))
        })
}

/// A delivery refused for its signature: 400 with the reason, recorded for the owner in
/// chatpay's own words, and counted against the sender's address (`None`: where Stripe's
/// deliveries come from, never blocked).
async fn refuse(
    state: &AppState,
    site: &SiteId,
    ip: Option<std::net::IpAddr>,
    e: signature::SignatureError,
) -> AppResult<(Json<serde_json::Value>, &'static str)> {
    tracing::info!(reason = e.code(), ?ip, "webhook refused: bad signature");
    if let Some(ip) = ip {
        state.limits.webhook_failed(ip);
    }
    state.store.note_webhook_failure(site, &e.owner_text()).await?;
    Err(AppError::BadRequest(e.to_string()))
}
