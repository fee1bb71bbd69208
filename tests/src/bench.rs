//! What the benches (`src/bin/*-bench.rs`) share: the bench site's origin and webhook secret,
//! its payment workflow, argument reading, and a signed-paid event for a waiting visitor.

use std::time::Duration;

use anyhow::{bail, Result};
use chatpay_shared::protocol::ServerFrame;
use serde_json::json;

use crate::visitor::Visitor;

/// The origin the bench sites allow.
pub const ORIGIN: &str = "http://bench.test";
/// The webhook signing secret the bench sites are connected with.
pub const WHSEC: &str = "whsec_benchmark0000000000";
/// Asks for 10.00 USD at once; thanks the visitor when paid, then closes.
pub const WORKFLOW: &str = r#"{"format":1,"name":"bench","start":"pay","nodes":[
  {"id":"pay","type":"request_payment","amount":{"fixed":"10.00"},"currency":"USD","description":"Bench","next":"check"},
  {"id":"check","type":"condition","variable":"paymentStatus","operator":"equals","value":"paid","then":"thanks","else":"sorry"},
  {"id":"thanks","type":"send_message","text":"Thank you!","next":"bye"},
  {"id":"sorry","type":"send_message","text":"Not paid."},
  {"id":"bye","type":"close"}]}"#;

/// The value after `--name` in `args`.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Stripe's `checkout.session.completed` (paid, 10.00 USD) for a bench payment's session.
pub fn paid_event(id: &str, payment: &str, session: &str) -> String {
    json!({
        "id": id, "object": "event", "type": "checkout.session.completed", "created": now(), "livemode": false,
        "data": { "object": {
            "id": session, "object": "checkout.session", "status": "complete", "payment_status": "paid",
            "client_reference_id": payment, "amount_total": 1000, "currency": "usd", "metadata": { "payment": payment }
        }}
    })
    .to_string()
}

/// Waits (up to 30 s) for the visitor's next `PaymentUpdate`.
pub async fn wait_update(v: &mut Visitor) -> Result<()> {
    loop {
        match v.recv(Duration::from_secs(30)).await? {
            Some(ServerFrame::PaymentUpdate { .. }) => return Ok(()),
            Some(_) => continue,
            None => bail!("no PaymentUpdate within 30 s"),
        }
    }
}
