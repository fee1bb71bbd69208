//! Payments moved by Stripe's signed webhooks, end to end inside one relay: the real client
//! creates a session at the simulator, the hosted page's Pay makes the simulator send a
//! signed event to the real webhook route, and the payment moves. On SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use chatpay_server::stripe::signature;
use chatpay_shared::protocol::PaymentStatus;
use common::{no_redirects, shop, Backend, TestApp};
use serde_json::json;

async fn pay_on_the_hosted_page_makes_the_payment_paid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    let session = payment.session_id.clone().unwrap();

    let resp = no_redirects()
        .post(app.url(&format!("/simulator/checkout/{session}/pay")))
        .form(&[("outcome", "paid")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        back,
        app.url(&format!(
            "/checkout/return?payment={}&session_id={session}",
            payment.id
        ))
    );

    let paid = app.wait_payment(&payment.id, PaymentStatus::Paid).await;
    assert_eq!(paid.resolved_by.as_deref(), Some("webhook"));
    let transitions = app.state.store.payment_transitions(&payment.id).await.unwrap();
    assert_eq!(transitions.len(), 1);
    assert_eq!(
        (transitions[0].0.as_str(), transitions[0].1.as_str()),
        ("pending", "paid")
    );
    assert!(transitions[0].2.starts_with("evt_"), "the event id is the source");
    let health = app.state.store.webhook_health(&shop()).await.unwrap();
    assert_eq!(
        health.last_event_type.as_deref(),
        Some("checkout.session.completed")
    );
    assert_eq!(health.signature_failures, 0);

    // The return page agrees.
    let page = reqwest::get(&back).await.unwrap().text().await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    app.stop().await;
}
both!(pay_on_the_hosted_page_makes_the_payment_paid);

async fn cancel_leads_to_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;

    // The hosted page's Cancel goes to chatpay's cancel page, which expires the session.
    let hosted = reqwest::get(payment.checkout_url.clone().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cancel_url = payment.cancel_url.clone().unwrap();
    assert!(
        cancel_url.starts_with(&app.url(&format!("/checkout/cancel?payment={}&token=", payment.id))),
        "{cancel_url}"
    );
    assert!(
        hosted.contains(&chatpay_server::pages::escape(&cancel_url)),
        "Cancel links to the cancel page"
    );

    // Knowing the payment id is not enough (a link prefetcher, an <img>): nothing changes.
    for forged in [
        app.url(&format!("/checkout/cancel?payment={}", payment.id)),
        app.url(&format!(
            "/checkout/cancel?payment={}&token=00112233445566778899aabbccddeeff",
            payment.id
        )),
    ] {
        let resp = reqwest::get(&forged).await.unwrap();
        assert_eq!(resp.status(), 403);
        assert!(resp.text().await.unwrap().contains("Nothing was cancelled"));
    }
    assert_eq!(app.payment(&payment.id).await.status, PaymentStatus::Pending);
    assert_eq!(app.sessions_of(&payment.id).await[0]["status"], "open");

    let page = reqwest::get(&cancel_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("Payment cancelled"), "{page}");

    let p = app.wait_payment(&payment.id, PaymentStatus::Expired).await;
    // The decline and the simulator's expired event race; either may record it, once.
    assert!(
        matches!(p.resolved_by.as_deref(), Some("decline" | "webhook")),
        "{:?}",
        p.resolved_by
    );
    // The simulator's own checkout.session.expired arrives too, and changes nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.state
            .store
            .payment_transitions(&payment.id)
            .await
            .unwrap()
            .len(),
        1
    );
    app.stop().await;
}
both!(cancel_leads_to_expired);

async fn delayed_payments_go_through_processing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let ok = app.create_payment(4999, "USD", None).await;
    let bad = app.create_payment(4999, "USD", None).await;

    for (p, outcome) in [(&ok, "async_paid"), (&bad, "async_failed")] {
        no_redirects()
            .post(app.url(&format!(
                "/simulator/checkout/{}/pay",
                p.session_id.as_ref().unwrap()
            )))
            .form(&[("outcome", outcome)])
            .send()
            .await
            .unwrap();
    }

    app.wait_payment(&ok.id, PaymentStatus::Paid).await;
    app.wait_payment(&bad.id, PaymentStatus::Failed).await;
    let path: Vec<_> = app
        .state
        .store
        .payment_transitions(&ok.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.1)
        .collect();
    assert_eq!(path, vec!["processing", "paid"]);
    app.stop().await;
}
both!(delayed_payments_go_through_processing);

/// A signed `checkout.session.completed` for a payment, as Stripe would send it.
fn completed_event(event_id: &str, payment: &str, session: &str) -> String {
    json!({
        "id": event_id, "object": "event", "type": "checkout.session.completed", "created": 1, "livemode": false,
        "data": { "object": {
            "id": session, "object": "checkout.session", "status": "complete", "payment_status": "paid",
            "client_reference_id": payment, "amount_total": 4999, "currency": "usd", "metadata": { "payment": payment }
        }}
    })
    .to_string()
}

async fn bad_signatures_are_refused_and_recorded_duplicates_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    let session = payment.session_id.clone().unwrap();
    let url = app.url("/webhooks/stripe/shop");
    let body = completed_event("evt_manual_1", &payment.id, &session);
    let now = chatpay_server::store::now_ms() / 1000;
    let post = |header: Option<String>, body: String| {
        let mut req = reqwest::Client::new().post(&url).body(body);
        if let Some(h) = header {
            req = req.header("stripe-signature", h);
        }
        req.send()
    };

    // Wrong secret, no header, stale: 400 with the reason, recorded, nothing changes.
    let resp = post(
        Some(signature::sign(body.as_bytes(), "whsec_wrong", now)),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("no v1 signature matches"), "{text}");
    let resp = post(None, body.clone()).await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = post(
        Some(signature::sign(body.as_bytes(), &secret, now - 301)),
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let health = app.state.store.webhook_health(&shop()).await.unwrap();
    assert_eq!(health.signature_failures, 3);
    // Signed 301 s before `now`, read by the relay a moment later: 301 s, or 302 when a
    // second turned in between (this flaked in CI).
    let reason = health.last_failure_reason.unwrap();
    assert!(
        reason.contains("301 s old") || reason.contains("302 s old"),
        "{reason}"
    );
    assert_eq!(app.payment(&payment.id).await.status, PaymentStatus::Pending);

    // Signed correctly: applied once; the same event again: 200 and no change.
    let resp = post(Some(signature::sign(body.as_bytes(), &secret, now)), body.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["outcome"],
        "applied"
    );
    let resp = post(Some(signature::sign(body.as_bytes(), &secret, now)), body.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["outcome"],
        "duplicate"
    );
    assert_eq!(
        app.state
            .store
            .payment_transitions(&payment.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // A late expired after paid: recorded, ignored.
    let late = body
        .replace("evt_manual_1", "evt_manual_2")
        .replace("checkout.session.completed", "checkout.session.expired");
    let resp = post(Some(signature::sign(late.as_bytes(), &secret, now)), late)
        .await
        .unwrap();
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["outcome"],
        "ignored"
    );
    assert_eq!(app.payment(&payment.id).await.status, PaymentStatus::Paid);

    // An event type chatpay does not use: 200.
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}}).to_string();
    let resp = post(Some(signature::sign(other.as_bytes(), &secret, now)), other)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["outcome"],
        "not_used"
    );

    // A rotated secret: two v1 signatures, the current one matches.
    let rotated = body.replace("evt_manual_1", "evt_manual_3");
    let old = signature::sign(rotated.as_bytes(), "whsec_old_secret", now);
    let new = signature::sign(rotated.as_bytes(), &secret, now);
    let header = format!("{old},{}", new.split(',').nth(1).unwrap());
    let resp = post(Some(header), rotated).await.unwrap();
    assert_eq!(resp.status(), 200);

    let health = app.state.store.webhook_health(&shop()).await.unwrap();
    assert_eq!(health.duplicates, 1);
    app.stop().await;
}
both!(bad_signatures_are_refused_and_recorded_duplicates_change_nothing);

async fn unknown_sites_and_sites_without_a_secret_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = reqwest::Client::new();

    let resp = client
        .post(app.url("/webhooks/stripe/nope"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = client
        .post(app.url("/webhooks/stripe/shop"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("no webhook signing secret"));
    // With a secret and a well-formed header, the body is read, to its limit.
    app.connect_stripe().await;
    let big = "x".repeat(300 * 1024);
    let resp = client
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", format!("t=1,v1={}", "0".repeat(64)))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "the body limit applies");
    app.stop().await;
}
both!(unknown_sites_and_sites_without_a_secret_are_refused);

async fn the_simulator_retries_a_refused_delivery(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    // The relay forgets the secret: the first deliveries are refused with 400.
    app.state
        .store
        .rotate_webhook_secret(&app.state.cipher, &shop(), "whsec_notthisone000", 0, None)
        .await
        .unwrap();
    no_redirects()
        .post(app.url(&format!(
            "/simulator/checkout/{}/pay",
            payment.session_id.as_ref().unwrap()
        )))
        .form(&[("outcome", "paid")])
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.payment(&payment.id).await.status, PaymentStatus::Pending);
    assert!(
        app.state
            .store
            .webhook_health(&shop())
            .await
            .unwrap()
            .signature_failures
            >= 1
    );

    // The owner fixes the secret; Stripe's (the simulator's) next retry gets through.
    app.state
        .store
        .rotate_webhook_secret(&app.state.cipher, &shop(), &secret, 0, None)
        .await
        .unwrap();
    app.wait_payment(&payment.id, PaymentStatus::Paid).await;
    app.stop().await;
}
both!(the_simulator_retries_a_refused_delivery);
