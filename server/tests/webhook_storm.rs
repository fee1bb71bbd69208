//! Stripe retries, duplicates and reorders: 1,000 deliveries of the events of 100 payments,
//! with random duplicates, shuffled, several at once. Every payment must end in the right
//! terminal state with exactly one transition into it. On SQLite and PostgreSQL.

mod common;

use std::sync::Arc;

use chatpay_server::store::payments::NewPayment;
use chatpay_server::stripe::signature;
use common::{shop, Backend, TestApp, STRIPE_KEY};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

const PAYMENTS: usize = 100;
const DELIVERIES: usize = 1000;

fn event(id: &str, kind: &str, payment: &str, session: &str, payment_status: &str) -> String {
    json!({
        "id": id, "object": "event", "type": kind, "created": 1, "livemode": false,
        "data": { "object": {
            "id": session, "object": "checkout.session", "status": "complete",
            "payment_status": payment_status, "client_reference_id": payment,
            "amount_total": 4999, "currency": "usd", "metadata": { "payment": payment }
        }}
    })
    .to_string()
}

async fn a_storm_of_duplicated_shuffled_events_resolves_each_payment_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shop = shop();
    let secret = "whsec_stormsecret000000";
    app.state
        .store
        .save_stripe_keys(
            &app.state.cipher,
            &shop,
            STRIPE_KEY,
            false,
            Some(&[secret.to_owned()]),
        )
        .await
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);

    // 100 payments in four scenarios, each with the events Stripe would send.
    let mut expected = Vec::new();
    let mut distinct = Vec::new();
    let mut tx = app.state.store.begin().await.unwrap();
    for i in 0..PAYMENTS {
        let id = format!("pay_storm_{i:03}");
        let session = format!("cs_test_storm_{i:03}");
        chatpay_server::store::payments::insert(
            &mut tx,
            &NewPayment {
                id: &id,
                site_id: &shop,
                conversation_id: None,
                amount_minor: 4999,
                currency: "USD",
                description: "storm",
                expires_at: 4_000_000_000,
                success_url: None,
                cancel_url: None,
                requested_by: chatpay_server::store::payments::Requester::Agent,
                request_key: None,
                workflow_version: None,
                agent: None,
            },
        )
        .await
        .unwrap();
        chatpay_server::store::payments::set_session(&mut tx, &id, &session, None, 4_000_000_000_000)
            .await
            .unwrap();
        let e = |n: u8, kind: &str, ps: &str| event(&format!("evt_{i:03}_{n}"), kind, &id, &session, ps);
        let (end, events) = match i % 4 {
            0 => ("paid", vec![e(0, "checkout.session.completed", "paid")]),
            1 => ("expired", vec![e(0, "checkout.session.expired", "unpaid")]),
            2 => (
                "paid",
                vec![
                    e(0, "checkout.session.completed", "unpaid"),
                    e(1, "checkout.session.async_payment_succeeded", "paid"),
                ],
            ),
            _ => (
                "failed",
                vec![
                    e(0, "checkout.session.completed", "unpaid"),
                    e(1, "checkout.session.async_payment_failed", "unpaid"),
                ],
            ),
        };
        expected.push((id, end));
        distinct.extend(events);
    }
    tx.commit().await.unwrap();

    // Every event at least once, the rest random duplicates, all shuffled.
    let mut deliveries = distinct.clone();
    while deliveries.len() < DELIVERIES {
        let pick = distinct[rng.gen_range(0..distinct.len())].clone();
        deliveries.push(pick);
    }
    deliveries.shuffle(&mut rng);

    // Deliver eight at a time, as Stripe does from several workers.
    let url = Arc::new(app.url("/webhooks/stripe/shop"));
    let client = reqwest::Client::new();
    let now = chatpay_server::store::now_ms() / 1000;
    let mut statuses = Vec::new();
    for chunk in deliveries.chunks(8) {
        let sends = chunk.iter().map(|body| {
            let header = signature::sign(body.as_bytes(), secret, now);
            client
                .post(url.as_str())
                .header("stripe-signature", header)
                .body(body.clone())
                .send()
        });
        for resp in futures_util::future::join_all(sends).await {
            statuses.push(resp.unwrap().status().as_u16());
        }
    }

    assert!(statuses.iter().all(|s| *s == 200), "every delivery answered 200");
    for (id, end) in &expected {
        let p = app.payment(id).await;
        assert_eq!(p.status.as_str(), *end, "{id}");
        let transitions = app.state.store.payment_transitions(id).await.unwrap();
        let into_terminal = transitions.iter().filter(|t| t.1 == *end).count();
        assert_eq!(
            into_terminal, 1,
            "{id}: exactly one transition into {end}: {transitions:?}"
        );
        let path: Vec<_> = transitions.iter().map(|t| t.1.as_str()).collect();
        assert!(path == [*end] || path == ["processing", *end], "{id}: {path:?}");
    }
    let health = app.state.store.webhook_health(&shop).await.unwrap();
    assert_eq!(health.events_received as usize, DELIVERIES);
    assert_eq!(health.duplicates as usize, DELIVERIES - distinct.len());
    app.stop().await;
}
both!(a_storm_of_duplicated_shuffled_events_resolves_each_payment_once);
