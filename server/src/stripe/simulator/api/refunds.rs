//! Refunds: what chatpay asks for a second paid session of one payment.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::*;
use crate::stripe::simulator::{stripe_id, SimState};

/// `POST /v1/refunds`: refunds a whole PaymentIntent of a completed, paid session once.
pub(super) async fn create_refund(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let resp = idempotent(&sim, &account, &headers, "/v1/refunds", &form, || async {
        for (k, _) in form.fields() {
            if !["payment_intent", "reason", "amount"].contains(&k.as_str()) && !k.starts_with("metadata[") {
                return Err(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("parameter_unknown"),
                    &format!("Received unknown parameter: {k}"),
                    Some(k),
                ));
            }
        }
        let pi = form
            .get("payment_intent")
            .ok_or_else(|| missing("payment_intent"))?;
        let reason = form.get("reason");
        if reason.is_some_and(|r| !["duplicate", "fraudulent", "requested_by_customer"].contains(&r)) {
            return Err(invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                Some("reason"),
            ));
        }
        let mut session = sim
            .store
            .sim_list(&account.id, "checkout.session")
            .await
            .map_err(internal)?
            .into_iter()
            .find(|s| s["payment_intent"] == pi && s["payment_status"] == "paid")
            .ok_or_else(|| not_found("payment_intent", pi, "payment_intent"))?;
        if session["x_simulator_refunded"] == true {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                &format!("Charge for {pi} has already been refunded."),
                None,
            ));
        }
        let refund = json!({
            "id": stripe_id("re_"),
            "object": "refund",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "payment_intent": pi,
            "reason": reason,
            "status": "succeeded",
            "created": sim.now(),
        });
        let id = refund["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "refund", &id, &refund)
            .await
            .map_err(internal)?;
        session["x_simulator_refunded"] = json!(true);
        let sid = session["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "checkout.session", &sid, &session)
            .await
            .map_err(internal)?;
        Ok(refund)
    })
    .await;
    Ok(resp)
}
