//! One anonymous script must not knock the relay over: work per request is bounded, and
//! what an anonymous caller writes never reaches the owner as trusted text. On SQLite and
//! PostgreSQL where the store is involved.

mod common;

use common::{paid_event, Backend, TestApp};

/// A `Stripe-Signature` header with thousands of `v1` entries once cost an HMAC of the
/// whole body per entry (about a CPU-second a request). It is refused for its size before
/// any hashing, and the reason the owner sees is chatpay's own words, not the header's.
async fn a_signature_header_with_thousands_of_entries_is_refused_cheaply(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let body = paid_event("evt_heavy", "pay_x", "cs_x");
    let now = chatpay_server::store::now_ms() / 1000;
    let mut header = format!("t={now}");
    for i in 0..5000 {
        header.push_str(&format!(",v1={:064x}", i));
    }
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", &header)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("too long"), "{message}");

    // Attacker-written text never becomes the reason shown to the owner.
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header(
            "stripe-signature",
            format!("t={now},v1=<script>alert(1)</script>"),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let health = app.state.store.webhook_health(common::SITE).await.unwrap();
    let reason = health.last_failure_reason.unwrap();
    assert!(!reason.contains("script"), "{reason}");
    assert!(reason.contains("malformed"), "{reason}");

    // A real signature next to a few junk entries still verifies.
    let good = chatpay_server::stripe::signature::sign(body.as_bytes(), &secret, now);
    let (_, v1) = good.split_once(",v1=").unwrap();
    let resp = reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", format!("t={now},v1={:064x},v1={v1},v0=ab", 7))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}
both!(a_signature_header_with_thousands_of_entries_is_refused_cheaply);
