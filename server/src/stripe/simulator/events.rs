//! Simulated Stripe events: made like Stripe's, stored, and delivered signed to every
//! webhook endpoint of the account that wants them, with retries.
//!
//! What Stripe would still do after a restart is stored, not kept in tasks: each delivery
//! is a stored object with its next attempt, and a delayed payment method's outcome is a
//! mark on its session with the moment it settles. The simulator's sweep (every second)
//! carries out what is due, so a relay that restarts does not make "Stripe" forget.
//!
//! A session changes under one lock ([`Simulator::changing`]): paying and expiring it
//! cannot both succeed, as at Stripe.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{stripe_id, Simulator};
use crate::error::{AppError, AppResult};
use crate::stripe::client::API_VERSION;
use crate::stripe::signature;

/// Delays before each delivery attempt; Stripe retries for days, the simulator for ~30 s.
const RETRY_DELAYS_MS: [i64; 7] = [0, 500, 1000, 2000, 4000, 8000, 16000];

/// How long a delayed payment method takes to settle.
const SETTLE_AFTER_SECS: i64 = 2;

/// Makes an event about `object`, stores it and a delivery to each endpoint that wants it,
/// and tries the deliveries at once.
pub async fn emit(sim: &Arc<Simulator>, account: &str, event_type: &str, object: &Value) -> AppResult<Value> {
    let id = stripe_id("evt_");
    let event = json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": sim.now(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
        "data": { "object": object },
    });
    sim.store.sim_put(account, "event", &id, &event).await?;
    for endpoint in sim.store.sim_list(account, "webhook_endpoint").await? {
        let wants = endpoint["enabled_events"]
            .as_array()
            .is_some_and(|list| list.iter().any(|e| e == "*" || e == event_type));
        let (Some(url), Some(secret)) = (endpoint["url"].as_str(), endpoint["secret"].as_str()) else {
            continue;
        };
        if !wants {
            continue;
        }
        let delivery_id = stripe_id("whdel_");
        let delivery = json!({
            "id": delivery_id,
            "object": "x_simulator_delivery",
            "event": id,
            "endpoint": endpoint["id"],
            "url": url,
            "secret": secret,
            "attempts": 0,
            // Claimed by the attempt started right below; the sweep takes it after this.
            "next_at_ms": crate::store::now_ms() + 2000,
            "status": "pending",
        });
        sim.store
            .sim_put(account, "x_simulator_delivery", &delivery_id, &delivery)
            .await?;
        let (sim, account, event_id) = (Arc::clone(sim), account.to_owned(), id.clone());
        tokio::spawn(async move {
            let payload = event_payload(&sim, &account, &event_id).await;
            if let Err(e) = attempt(&sim, &account, delivery, payload).await {
                tracing::warn!(error = %e, "simulator: cannot record a delivery attempt");
            }
        });
    }
    Ok(event)
}

async fn event_payload(sim: &Simulator, account: &str, event: &str) -> Option<String> {
    sim.store
        .sim_get(account, event)
        .await
        .ok()
        .flatten()
        .map(|e| e.to_string())
}

/// One delivery attempt: POSTs the event signed now; records success, or the next try.
async fn attempt(
    sim: &Simulator,
    account: &str,
    mut delivery: Value,
    payload: Option<String>,
) -> AppResult<()> {
    let Some(payload) = payload else { return Ok(()) };
    let (url, secret) = (
        delivery["url"].as_str().unwrap_or_default().to_owned(),
        delivery["secret"].as_str().unwrap_or_default().to_owned(),
    );
    // Signed with the real time: the receiver checks the age against its own clock.
    let header = signature::sign(payload.as_bytes(), &secret, crate::store::now_ms() / 1000);
    let sent = sim
        .http
        .post(&url)
        .header("Stripe-Signature", header)
        .header(Simulator::DELIVERY_HEADER, &sim.token)
        .header("Content-Type", "application/json; charset=utf-8")
        .header(
            "User-Agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks) chatpay-simulator",
        )
        .body(payload)
        .send()
        .await;
    let attempts = delivery["attempts"].as_i64().unwrap_or(0) + 1;
    delivery["attempts"] = json!(attempts);
    delivery["last_at_ms"] = json!(crate::store::now_ms());
    match sent {
        Ok(resp) if resp.status().is_success() => {
            delivery["status"] = json!("delivered");
            delivery["last_answer"] = json!(resp.status().as_u16());
        }
        outcome => {
            let answer = match &outcome {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(e) => e.to_string(),
            };
            delivery["last_answer"] = json!(answer);
            match RETRY_DELAYS_MS.get(attempts as usize) {
                Some(delay) => {
                    tracing::info!(%url, answer, attempts, "simulator: webhook not accepted; will retry");
                    delivery["next_at_ms"] = json!(crate::store::now_ms() + delay);
                }
                None => {
                    tracing::warn!(%url, "simulator: gave up delivering a webhook");
                    delivery["status"] = json!("failed");
                }
            }
        }
    }
    let id = delivery["id"].as_str().unwrap_or_default().to_owned();
    sim.store
        .sim_put(account, "x_simulator_delivery", &id, &delivery)
        .await
}

/// The most rows one sweep takes of each kind (the rest wait a second).
const SWEEP_BATCH: i64 = 500;

/// Delivery attempts that are due (after a failure, or left by a restart).
pub async fn deliver_due(sim: &Arc<Simulator>) -> AppResult<()> {
    let now = crate::store::now_ms();
    for (account, mut delivery) in sim
        .store
        .sim_due("x_simulator_delivery", now, SWEEP_BATCH)
        .await?
    {
        let id = delivery["id"].as_str().unwrap_or_default().to_owned();
        let due =
            delivery["status"] == "pending" && delivery["next_at_ms"].as_i64().is_some_and(|t| t <= now);
        if !due {
            // Marked due by the migration: store its real moment.
            sim.store
                .sim_refresh_due("x_simulator_delivery", &id, &delivery)
                .await?;
            continue;
        }
        // Claimed for this attempt, so a slow one is not started twice.
        delivery["next_at_ms"] = json!(now + 10_000);
        sim.store
            .sim_put(&account, "x_simulator_delivery", &id, &delivery)
            .await?;
        let event = delivery["event"].as_str().unwrap_or_default().to_owned();
        let payload = event_payload(sim, &account, &event).await;
        let (sim, account) = (Arc::clone(sim), account.clone());
        tokio::spawn(async move {
            if let Err(e) = attempt(&sim, &account, delivery, payload).await {
                tracing::warn!(error = %e, "simulator: cannot record a delivery attempt");
            }
        });
    }
    Ok(())
}

/// Expires open sessions whose `expires_at` has passed on the simulator's clock, and
/// settles delayed payments that are due.
pub async fn expire_due_sessions(sim: &Arc<Simulator>) -> AppResult<()> {
    let now = sim.now();
    let due = sim
        .store
        .sim_due("checkout.session", now.saturating_mul(1000), SWEEP_BATCH)
        .await?;
    for (account, session) in due {
        let id = session["id"].as_str().unwrap_or_default().to_owned();
        let expires = session["status"] == "open" && session["expires_at"].as_i64().is_some_and(|t| t <= now);
        let settles = session["x_simulator_settle_at"]
            .as_i64()
            .is_some_and(|t| t <= now);
        if expires {
            // Another change may have won meanwhile; expire() checks again under the lock.
            let _ = expire(sim, &account, &id).await;
        }
        if settles {
            settle(sim, &account, &id).await?;
        }
        if !expires && !settles {
            sim.store
                .sim_refresh_due("checkout.session", &id, &session)
                .await?;
        }
    }
    Ok(())
}

/// A conflict: the session is no longer open.
fn not_open(session: &Value) -> AppError {
    AppError::Conflict(format!(
        "Only Checkout Sessions with a status in [\"open\"] can be changed. This session has a status of \"{}\".",
        session["status"].as_str().unwrap_or("unknown")
    ))
}

/// The session `id` read under the change lock.
async fn current(sim: &Simulator, account: &str, id: &str) -> AppResult<Value> {
    sim.store
        .sim_get(account, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No such checkout.session: '{id}'")))
}

/// Marks an open session expired and emits `checkout.session.expired`; a session that is
/// not open any more is a [`AppError::Conflict`].
pub async fn expire(sim: &Arc<Simulator>, account: &str, id: &str) -> AppResult<Value> {
    let session = {
        let _changing = sim.changing.lock().await;
        let mut session = current(sim, account, id).await?;
        if session["status"] != "open" {
            return Err(not_open(&session));
        }
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        sim.store
            .sim_put(account, "checkout.session", id, &session)
            .await?;
        session
    };
    emit(
        sim,
        account,
        "checkout.session.expired",
        &super::api::public(session.clone()),
    )
    .await?;
    Ok(session)
}

/// How the visitor paid on the hosted page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A card: paid at once.
    Paid,
    /// A delayed method that later succeeds.
    AsyncPaid,
    /// A delayed method that later fails.
    AsyncFailed,
}

/// Completes an open session as the hosted page's Pay does, with its PaymentIntent, and
/// emits the events Stripe would (a delayed method's second event when it settles). A
/// session that is not open any more is a [`AppError::Conflict`].
pub async fn complete(sim: &Arc<Simulator>, account: &str, id: &str, outcome: Outcome) -> AppResult<Value> {
    let session = {
        let _changing = sim.changing.lock().await;
        let mut session = current(sim, account, id).await?;
        if session["status"] != "open" {
            return Err(not_open(&session));
        }
        let pi = stripe_id("pi_");
        let intent = json!({
            "id": pi,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "status": if outcome == Outcome::Paid { "succeeded" } else { "processing" },
            "livemode": false,
        });
        sim.store.sim_put(account, "payment_intent", &pi, &intent).await?;
        session["status"] = json!("complete");
        session["url"] = Value::Null;
        session["payment_intent"] = json!(pi);
        session["payment_status"] = json!(if outcome == Outcome::Paid {
            "paid"
        } else {
            "unpaid"
        });
        if outcome != Outcome::Paid {
            session["x_simulator_settle_at"] = json!(sim.now() + SETTLE_AFTER_SECS);
            session["x_simulator_settle_to"] = json!(if outcome == Outcome::AsyncPaid {
                "paid"
            } else {
                "failed"
            });
        }
        sim.store
            .sim_put(account, "checkout.session", id, &session)
            .await?;
        session
    };
    emit(
        sim,
        account,
        "checkout.session.completed",
        &super::api::public(session.clone()),
    )
    .await?;
    Ok(session)
}

/// Settles a delayed payment that is due: the session's and the PaymentIntent's status, and
/// `checkout.session.async_payment_succeeded` or `…_failed`.
async fn settle(sim: &Arc<Simulator>, account: &str, id: &str) -> AppResult<()> {
    let (session, event) = {
        let _changing = sim.changing.lock().await;
        let mut session = current(sim, account, id).await?;
        if session["x_simulator_settle_at"]
            .as_i64()
            .is_none_or(|t| t > sim.now())
        {
            return Ok(());
        }
        let paid = session["x_simulator_settle_to"] == "paid";
        if let Some(obj) = session.as_object_mut() {
            obj.remove("x_simulator_settle_at");
            obj.remove("x_simulator_settle_to");
        }
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        if let Some(pi) = session["payment_intent"].as_str().map(str::to_owned) {
            if let Some(mut intent) = sim.store.sim_get(account, &pi).await? {
                intent["status"] = json!(if paid {
                    "succeeded"
                } else {
                    "requires_payment_method"
                });
                sim.store.sim_put(account, "payment_intent", &pi, &intent).await?;
            }
        }
        sim.store
            .sim_put(account, "checkout.session", id, &session)
            .await?;
        let event = if paid {
            "checkout.session.async_payment_succeeded"
        } else {
            "checkout.session.async_payment_failed"
        };
        (session, event)
    };
    emit(sim, account, event, &super::api::public(session)).await?;
    Ok(())
}
