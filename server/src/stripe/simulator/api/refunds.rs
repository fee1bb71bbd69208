//! Refunds: what chatpay asks for a second paid session of one payment, and what an owner
//! does at Stripe (all of a charge or part of it). Each refund tells the account's webhook
//! endpoints `charge.refunded` with the charge's `amount_refunded` so far, as Stripe does.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::*;
use crate::stripe::simulator::{events, stripe_id, SimState};

/// The charge Stripe would show for a paid session's PaymentIntent: its amount and how much
/// of it is refunded so far.
pub(super) fn charge_of(session: &Value, pi: &str) -> Value {
    let amount = session["amount_total"].as_i64().unwrap_or(0);
    let refunded = session["x_simulator_amount_refunded"].as_i64().unwrap_or(0);
    json!({
        "id": format!("ch_{}", pi.trim_start_matches("pi_")),
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": session["currency"],
        "payment_intent": pi,
        "paid": true,
        "refunded": refunded >= amount,
        "livemode": false,
    })
}

/// The account's completed, paid session whose PaymentIntent is `pi`.
pub(super) async fn paid_session(sim: &Simulator, account: &Account, pi: &str) -> Result<Value, SimError> {
    sim.store
        .sim_list(&account.id, "checkout.session")
        .await
        .map_err(internal)?
        .into_iter()
        .find(|s| s["payment_intent"] == pi && s["payment_status"] == "paid")
        .ok_or_else(|| not_found("payment_intent", pi, "payment_intent"))
}

/// `POST /v1/refunds`: refunds a paid PaymentIntent, all that is left of it or `amount`.
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
        let _changing = sim.changing.lock().await;
        let mut session = paid_session(&sim, &account, pi).await?;
        let total = session["amount_total"].as_i64().unwrap_or(0);
        let refunded = session["x_simulator_amount_refunded"].as_i64().unwrap_or(0);
        let left = total - refunded;
        if left <= 0 {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                &format!("Charge for {pi} has already been refunded."),
                None,
            ));
        }
        let amount = match form.get("amount") {
            None => left,
            Some(a) => match a.parse::<i64>() {
                Ok(n) if n > 0 && n <= left => n,
                Ok(n) if n > left => {
                    return Err(invalid(
                        &format!("Refund amount ({n}) is greater than unrefunded amount on charge ({left})"),
                        Some("amount"),
                    ))
                }
                _ => return Err(invalid(&format!("Invalid positive integer: {a}"), Some("amount"))),
            },
        };
        let refund = json!({
            "id": stripe_id("re_"),
            "object": "refund",
            "amount": amount,
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
        session["x_simulator_amount_refunded"] = json!(refunded + amount);
        session["x_simulator_refunded"] = json!(refunded + amount >= total);
        let sid = session["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "checkout.session", &sid, &session)
            .await
            .map_err(internal)?;
        events::emit(&sim, &account.id, "charge.refunded", &charge_of(&session, pi))
            .await
            .map_err(internal)?;
        Ok(refund)
    })
    .await;
    Ok(resp)
}
