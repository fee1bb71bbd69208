//! Disputes, as a test helper: at Stripe a cardholder's bank opens a dispute (in test mode,
//! a special card number does); here `POST /v1/test_helpers/disputes` with the account's
//! key opens one on a paid PaymentIntent, moves it on, or closes it (`won`, `lost`), and
//! tells the webhook endpoints `charge.dispute.created`, `.updated` or `.closed`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::json;

use super::refunds::paid_session;
use super::*;
use crate::stripe::simulator::{events, stripe_id, SimState};

/// `POST /v1/test_helpers/disputes` (`payment_intent`, `status`, default `needs_response`).
pub(super) async fn dispute(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let pi = form
        .get("payment_intent")
        .ok_or_else(|| missing("payment_intent"))?;
    let status = form.get("status").unwrap_or("needs_response");
    if !crate::domain::DISPUTE_STATUSES.contains(&status) {
        return Err(invalid(
            &format!(
                "Invalid status: must be one of {}",
                crate::domain::DISPUTE_STATUSES.join(", ")
            ),
            Some("status"),
        ));
    }
    let _changing = sim.changing.lock().await;
    let session = paid_session(&sim, &account, pi).await?;
    let existing = sim
        .store
        .sim_list(&account.id, "dispute")
        .await
        .map_err(internal)?
        .into_iter()
        .find(|d| d["payment_intent"] == pi);
    let (mut dispute, event_type) = match existing {
        Some(d) => {
            let closed = matches!(status, "won" | "lost" | "warning_closed" | "prevented");
            (
                d,
                if closed {
                    "charge.dispute.closed"
                } else {
                    "charge.dispute.updated"
                },
            )
        }
        None => (
            json!({
                "id": stripe_id("dp_"),
                "object": "dispute",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "charge": format!("ch_{}", pi.trim_start_matches("pi_")),
                "payment_intent": pi,
                "reason": "fraudulent",
                "created": sim.now(),
                "livemode": false,
            }),
            "charge.dispute.created",
        ),
    };
    dispute["status"] = json!(status);
    let id = dispute["id"].as_str().unwrap_or_default().to_owned();
    sim.store
        .sim_put(&account.id, "dispute", &id, &dispute)
        .await
        .map_err(internal)?;
    events::emit(&sim, &account.id, event_type, &dispute)
        .await
        .map_err(internal)?;
    Ok(ok(dispute))
}
