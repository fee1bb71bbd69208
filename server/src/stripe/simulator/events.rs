//! Simulated Stripe events: made like Stripe's, stored, and delivered signed to every
//! webhook endpoint of the account that wants them, with retries.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{stripe_id, Simulator};
use crate::error::AppResult;
use crate::stripe::client::API_VERSION;
use crate::stripe::signature;

/// Delays before each delivery attempt; Stripe retries for days, the simulator for ~30 s.
const RETRY_DELAYS_MS: [u64; 7] = [0, 500, 1000, 2000, 4000, 8000, 16000];

/// Makes an event about `object`, stores it, and starts delivering it.
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
        if wants {
            tokio::spawn(deliver(
                Arc::clone(sim),
                url.to_owned(),
                secret.to_owned(),
                event.to_string(),
            ));
        }
    }
    Ok(event)
}

/// Posts the event until the endpoint answers 2xx or the attempts run out.
async fn deliver(sim: Arc<Simulator>, url: String, secret: String, payload: String) {
    for (attempt, delay) in RETRY_DELAYS_MS.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        // Signed with the real time: the receiver checks the age against its own clock.
        let header = signature::sign(payload.as_bytes(), &secret, crate::store::now_ms() / 1000);
        let sent = sim
            .http
            .post(&url)
            .header("Stripe-Signature", header)
            .header("Content-Type", "application/json; charset=utf-8")
            .header(
                "User-Agent",
                "Stripe/1.0 (+https://stripe.com/docs/webhooks) chatpay-simulator",
            )
            .body(payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => {
                tracing::info!(%url, status = %resp.status(), attempt, "simulator: webhook refused; will retry")
            }
            Err(e) => {
                tracing::info!(%url, error = %e, attempt, "simulator: webhook not delivered; will retry")
            }
        }
    }
    tracing::warn!(%url, "simulator: gave up delivering a webhook");
}

/// Expires open sessions whose `expires_at` has passed on the simulator's clock.
pub async fn expire_due_sessions(sim: &Arc<Simulator>) -> AppResult<()> {
    let now = sim.now();
    for (account, session) in sim.store.sim_list_all("checkout.session").await? {
        let due = session["status"] == "open" && session["expires_at"].as_i64().is_some_and(|t| t <= now);
        if due {
            expire(sim, &account, session).await?;
        }
    }
    Ok(())
}

/// Marks a session expired and emits `checkout.session.expired`.
pub async fn expire(sim: &Arc<Simulator>, account: &str, mut session: Value) -> AppResult<Value> {
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    let id = session["id"].as_str().unwrap_or_default().to_owned();
    sim.store
        .sim_put(account, "checkout.session", &id, &session)
        .await?;
    emit(sim, account, "checkout.session.expired", &session).await?;
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

/// Completes a session as the hosted page's Pay does, emitting the events Stripe would.
pub async fn complete(
    sim: &Arc<Simulator>,
    account: &str,
    mut session: Value,
    outcome: Outcome,
) -> AppResult<Value> {
    let id = session["id"].as_str().unwrap_or_default().to_owned();
    session["status"] = json!("complete");
    session["url"] = Value::Null;
    session["payment_intent"] = json!(stripe_id("pi_"));
    session["payment_status"] = json!(if outcome == Outcome::Paid {
        "paid"
    } else {
        "unpaid"
    });
    sim.store
        .sim_put(account, "checkout.session", &id, &session)
        .await?;
    emit(sim, account, "checkout.session.completed", &session).await?;
    if outcome != Outcome::Paid {
        let sim = Arc::clone(sim);
        let account = account.to_owned();
        let mut later = session.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let (status, event) = match outcome {
                Outcome::AsyncPaid => ("paid", "checkout.session.async_payment_succeeded"),
                _ => ("unpaid", "checkout.session.async_payment_failed"),
            };
            later["payment_status"] = json!(status);
            if sim
                .store
                .sim_put(&account, "checkout.session", &id, &later)
                .await
                .is_ok()
            {
                let _ = emit(&sim, &account, event, &later).await;
            }
        });
    }
    Ok(session)
}
