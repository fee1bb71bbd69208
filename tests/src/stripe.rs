//! Stripe as the tests need it: signed webhooks (the relay's own signer, tested against
//! Stripe's vectors), an endpoint at the relay's simulator, the account's events.

use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::*;

/// Stripe's webhook signature of `body` at time `t` (the relay's own signer, which
/// `server/tests/stripe_signatures.rs` checks against Stripe's published vectors).
pub fn stripe_signature(body: &str, secret: &str, t: i64) -> String {
    chatpay_server::stripe::signature::sign(body.as_bytes(), secret, t)
}

/// Registers a webhook endpoint for `site` at the relay's simulator and connects the site
/// with `key` and the endpoint's secret, like an owner would in Stripe's dashboard.
/// Returns the endpoint's signing secret.
pub async fn connect_with_simulator(
    chatpay: &Chatpay,
    relay: &Relay,
    site: &str,
    key: &str,
) -> Result<String> {
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/simulator/stripe/v1/webhook_endpoints", relay.base))
        .bearer_auth(key)
        .form(&[
            ("url", format!("{}/webhooks/stripe/{site}", relay.base)),
            ("enabled_events[0]", "*".to_owned()),
        ])
        .send()
        .await?
        .json()
        .await?;
    let secret = resp["secret"]
        .as_str()
        .context("no webhook secret from the simulator")?
        .to_owned();
    let base = format!("{}/simulator/stripe", relay.base);
    chatpay.cli_env(
        &["stripe", "connect", "--site", site],
        &[
            ("CHATPAY_STRIPE_API_BASE", &base),
            ("CHATPAY_STRIPE_SECRET_KEY", key),
            ("CHATPAY_STRIPE_WEBHOOK_SECRET", &secret),
        ],
    )?;
    Ok(secret)
}

/// Posts a Stripe event to a relay's webhook route for `site`, signed now with `whsec` as
/// Stripe would; the status, or `None` when the relay did not answer within 5 s.
pub async fn deliver_event(
    http: &reqwest::Client,
    base: &str,
    site: &str,
    whsec: &str,
    event: &Value,
) -> Option<u16> {
    let body = event.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    http.post(format!("{base}/webhooks/stripe/{site}"))
        .header("stripe-signature", stripe_signature(&body, whsec, now))
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// The most recent events (at most 100) of the Stripe account `key` at the API base `api`
/// (a simulator's `…/simulator/stripe`); none when it does not answer.
pub async fn stripe_events(http: &reqwest::Client, api: &str, key: &str) -> Vec<Value> {
    let Ok(resp) = http
        .get(format!("{api}/v1/events?limit=100"))
        .bearer_auth(key)
        .send()
        .await
    else {
        return Vec::new();
    };
    resp.json::<Value>()
        .await
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
}
