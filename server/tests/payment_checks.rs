//! Money and events are cross-checked: a completed session whose amount, currency or mode
//! differs from the payment is never "paid"; news of any session made for a payment
//! resolves it, another session's expiry does not; a second paid session is refunded at
//! Stripe and shown to the owner. On SQLite and PostgreSQL, through the real webhook route.

mod common;

use chatpay_server::stripe::client::NewCheckoutSession;
use chatpay_shared::protocol::{Author, PaymentStatus, ServerFrame};
use common::{checkout_event, Backend, TestApp, STRIPE_KEY};

const ACCOUNT: &str = "shoptest000000000000";

async fn a_completed_session_for_another_amount_is_not_paid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let (mut c, payment, _) = app.demo_to_the_card().await;
    let session = app.payment(&payment).await.session_id.unwrap();

    // Stripe says 50.00 USD was paid for a 49.99 USD request.
    let event = checkout_event(
        "evt_more",
        "checkout.session.completed",
        &payment,
        &session,
        "complete",
        "paid",
        5000,
        "usd",
    );
    let (status, answer) = app.webhook(&secret, &event).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));

    let p = app.payment(&payment).await;
    assert_eq!(p.status, PaymentStatus::Mismatch, "never paid");
    assert_eq!(
        p.problem.as_deref(),
        Some("Stripe charged 50.00 USD but 49.99 USD was asked")
    );
    // The visitor sees "being checked" and is told a person will look; the conversation
    // waits for an agent, and the workflow's result is `error`.
    let frames = c
        .until(|f| matches!(f, ServerFrame::Message { from: Author::Bot, text, .. } if text.contains("check this payment")))
        .await;
    assert!(frames.iter().any(|f| matches!(
        f,
        ServerFrame::PaymentUpdate {
            status: PaymentStatus::Mismatch,
            ..
        }
    )));
    let conversation = p.conversation_id.unwrap();
    assert_eq!(
        app.state
            .store
            .conversation_status(&conversation)
            .await
            .unwrap()
            .map(|s| s.as_str()),
        Some("waiting_agent")
    );
    let (_, run) = app.state.store.run_of(&conversation).await.unwrap().unwrap();
    assert_eq!(run.vars.get("paymentStatus").map(String::as_str), Some("error"));

    // The owner's troubleshooting lists it.
    let (count, problems) = app
        .state
        .store
        .payment_problems(&common::shop(), 3)
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(problems[0].0, payment);

    // A later "paid" for the right amount changes nothing: mismatch is final.
    let (_, answer) = app
        .webhook(&secret, &common::paid_event("evt_right", &payment, &session))
        .await;
    assert_eq!(answer["outcome"], "ignored");
    assert_eq!(app.payment(&payment).await.status, PaymentStatus::Mismatch);
    app.stop().await;
}
both!(a_completed_session_for_another_amount_is_not_paid);

async fn another_currency_or_mode_is_not_paid_either(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;

    // async_payment_succeeded in another currency.
    let p = app.create_payment(4999, "USD", None).await;
    let s = p.session_id.clone().unwrap();
    let event = checkout_event(
        "evt_eur",
        "checkout.session.async_payment_succeeded",
        &p.id,
        &s,
        "complete",
        "paid",
        4999,
        "eur",
    );
    app.webhook(&secret, &event).await;
    let now = app.payment(&p.id).await;
    assert_eq!(now.status, PaymentStatus::Mismatch);
    assert!(now.problem.unwrap().contains("49.99 EUR"));

    // A live-mode payment for a test-mode request.
    let p = app.create_payment(4999, "USD", None).await;
    let s = p.session_id.clone().unwrap();
    let live = checkout_event(
        "evt_live",
        "checkout.session.completed",
        &p.id,
        &s,
        "complete",
        "paid",
        4999,
        "usd",
    )
    .replace("\"livemode\":false", "\"livemode\":true");
    app.webhook(&secret, &live).await;
    let now = app.payment(&p.id).await;
    assert_eq!(now.status, PaymentStatus::Mismatch);
    assert!(now.problem.unwrap().contains("live mode payment for a test mode"));
    app.stop().await;
}
both!(another_currency_or_mode_is_not_paid_either);

/// The same check on the path without a webhook: the return page's reconciliation finds a
/// completed session that charged another amount.
async fn reconciliation_checks_the_amount_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe_without_webhooks().await;
    let p = app.create_payment(4999, "USD", None).await;
    let session_id = p.session_id.clone().unwrap();
    let mut session = app
        .state
        .store
        .sim_get(ACCOUNT, &session_id)
        .await
        .unwrap()
        .unwrap();
    session["status"] = "complete".into();
    session["payment_status"] = "paid".into();
    session["amount_total"] = 100.into();
    app.state
        .store
        .sim_put(ACCOUNT, "checkout.session", &session_id, &session)
        .await
        .unwrap();

    let page = reqwest::get(app.url(&format!("/checkout/return?payment={}", p.id)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("being checked"), "{page}");
    assert_eq!(app.payment(&p.id).await.status, PaymentStatus::Mismatch);
    app.stop().await;
}
both!(reconciliation_checks_the_amount_too);

/// A second session made for the same payment (as a stray create call would): its expiry
/// changes nothing; paying it resolves the payment; paying both refunds the second.
async fn every_session_of_a_payment_counts_and_a_double_charge_is_refunded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, payment, _) = app.demo_to_the_card().await;
    let card_session = app.payment(&payment).await.session_id.unwrap();
    let p = app.payment(&payment).await;
    let client = app.state.stripe.client(STRIPE_KEY);
    let stray = |key: &'static str| {
        let client = client.clone();
        let p = p.clone();
        async move {
            client
                .create_checkout_session(
                    &NewCheckoutSession {
                        amount: p.amount_minor,
                        currency: "usd".into(),
                        description: &p.description,
                        client_reference_id: &p.id,
                        metadata: vec![("payment", p.id.as_str()), ("site", "shop")],
                        expires_at: p.expires_at,
                        success_url: p.success_url.as_deref().unwrap(),
                        cancel_url: p.cancel_url.as_deref().unwrap(),
                        payment_method_configuration: None,
                        return_to: None,
                    },
                    key,
                )
                .await
                .unwrap()
        }
    };

    // A stray session that expires: the payment is untouched.
    let expired = stray("stray-1").await;
    client.expire_checkout_session(&expired.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.payment(&payment).await.status, PaymentStatus::Pending);
    // A stored session id is never overwritten.
    let mut tx = app.state.store.begin().await.unwrap();
    let set = chatpay_server::store::payments::set_session(&mut tx, &payment, &expired.id, None, 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        set,
        chatpay_server::store::payments::SessionSet::Other(Some(card_session.clone()))
    );

    // The visitor pays through another session of the payment: it counts, and the card's
    // session is expired at Stripe so it cannot take money too.
    let second = stray("stray-2").await;
    common::pay(second.url.as_deref().unwrap()).await;
    app.wait_payment(&payment, PaymentStatus::Paid).await;
    c.until(|f| {
        matches!(
            f,
            ServerFrame::PaymentUpdate {
                status: PaymentStatus::Paid,
                ..
            }
        )
    })
    .await;
    common::eventually(std::time::Duration::from_secs(10), || async {
        let session = app
            .state
            .store
            .sim_get(ACCOUNT, &card_session)
            .await
            .unwrap()
            .unwrap();
        (session["status"] == "expired").then_some(()).ok_or_else(|| {
            format!(
                "the card's session is {} at Stripe, not expired",
                session["status"]
            )
        })
    })
    .await;

    // A third session, paid too: a double charge, refunded at Stripe and shown to the owner.
    let third = stray("stray-3").await;
    common::pay(third.url.as_deref().unwrap()).await;
    let refund = common::eventually(std::time::Duration::from_secs(10), || async {
        let sessions = app.state.store.payment_sessions(&payment).await.unwrap();
        match sessions.iter().find(|s| s.0 == third.id) {
            Some((_, _, _, Some(r))) if r.starts_with("re_") => Ok(r.clone()),
            _ => Err(format!("not refunded yet: {sessions:?}")),
        }
    })
    .await;
    let at_stripe = app.state.store.sim_get(ACCOUNT, &refund).await.unwrap().unwrap();
    assert_eq!(at_stripe["amount"], 4999);
    assert_eq!(at_stripe["reason"], "duplicate");
    // Stripe tells of that refund too (charge.refunded): it is chatpay's own, of the second
    // charge, not the owner's refund of the payment.
    common::eventually(std::time::Duration::from_secs(10), || async {
        let health = app.state.store.webhook_health(&common::shop()).await.unwrap();
        (health.last_event_type.as_deref() == Some("charge.refunded"))
            .then_some(())
            .ok_or(format!("last event {:?}", health.last_event_type))
    })
    .await;
    let now = app.payment(&payment).await;
    assert_eq!(now.status, PaymentStatus::Paid, "still paid, once");
    assert_eq!(now.refunded_minor, 0, "the payment itself is not refunded");
    assert!(now.problem.unwrap().starts_with("charged twice"));
    let paid_sessions = app
        .state
        .store
        .payment_sessions(&payment)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.2)
        .count();
    assert_eq!(paid_sessions, 2);
    app.stop().await;
}
both!(every_session_of_a_payment_counts_and_a_double_charge_is_refunded);

/// Stripe never pays an expired session, nor expires a paid one; neither does the
/// simulator, however close together the two come.
async fn paying_and_expiring_one_session_never_both_succeed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe_without_webhooks().await;
    let client = app.state.stripe.client(STRIPE_KEY);
    for _ in 0..15 {
        let p = app.create_payment(4999, "USD", None).await;
        let session = p.session_id.clone().unwrap();
        let url = p.checkout_url.clone().unwrap();
        let (paid, expired) = tokio::join!(
            common::checkout(&url, "paid"),
            client.expire_checkout_session(&session),
        );
        let paid = paid.status() == 303;
        assert!(paid != expired.is_ok(), "exactly one of pay and expire succeeds");
        let at_stripe = app.state.store.sim_get(ACCOUNT, &session).await.unwrap().unwrap();
        assert_eq!(at_stripe["status"], if paid { "complete" } else { "expired" });
    }
    app.stop().await;
}
both!(paying_and_expiring_one_session_never_both_succeed);

/// Should money arrive for a payment that already ended unpaid (the visitor was told it
/// expired), it is never kept silently: it is refunded and the owner sees why.
async fn money_for_a_payment_that_ended_is_refunded_and_shown(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let p = app.create_payment(4999, "USD", None).await;
    let s = p.session_id.clone().unwrap();
    let expired = checkout_event(
        "evt_exp",
        "checkout.session.expired",
        &p.id,
        &s,
        "expired",
        "unpaid",
        4999,
        "usd",
    );
    assert_eq!(app.webhook(&secret, &expired).await.1["outcome"], "applied");
    let late = common::paid_event("evt_late", &p.id, &s)
        .replace("\"complete\"", "\"complete\",\"payment_intent\":\"pi_late\"");
    let (_, answer) = app.webhook(&secret, &late).await;
    assert_eq!(answer["outcome"], "late_charge");
    let now = app.payment(&p.id).await;
    assert_eq!(now.status, PaymentStatus::Expired);
    assert!(now
        .problem
        .unwrap()
        .starts_with("paid after the payment had ended as expired"));
    let sessions = app.state.store.payment_sessions(&p.id).await.unwrap();
    assert!(
        sessions.iter().any(|x| x.0 == s && x.2 && x.3.is_some()),
        "a refund is due: {sessions:?}"
    );
    app.stop().await;
}
both!(money_for_a_payment_that_ended_is_refunded_and_shown);

/// A delayed payment that fails, with no webhook ever arriving: reconciliation reads the
/// PaymentIntent and ends the payment failed, instead of "processing" for ever; the cancel
/// page never says "no money was taken" while money is moving.
async fn a_failed_delayed_payment_is_found_without_a_webhook(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe_without_webhooks().await;
    let p = app.create_payment(4999, "USD", None).await;
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/pay", p.checkout_url.clone().unwrap()))
        .form(&[("outcome", "async_failed")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let page = |path: String| async move { reqwest::get(path).await.unwrap().text().await.unwrap() };
    let processing = page(app.url(&format!("/checkout/return?payment={}", p.id))).await;
    assert!(processing.contains("Payment processing"), "{processing}");
    let cancel = page(p.cancel_url.clone().unwrap()).await;
    assert!(
        cancel.contains("being confirmed") && !cancel.contains("No money was taken"),
        "{cancel}"
    );

    // The bank says no a moment later; no webhook tells the relay.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let failed = page(app.url(&format!("/checkout/return?payment={}", p.id))).await;
    assert!(failed.contains("Payment not completed"), "{failed}");
    assert_eq!(app.payment(&p.id).await.status, PaymentStatus::Failed);
    app.stop().await;
}
both!(a_failed_delayed_payment_is_found_without_a_webhook);

/// Money that moves through another session of the payment by a delayed method, and then
/// fails: the payment follows it to failed (it once stayed "processing" for ever).
async fn a_delayed_payment_through_another_session_that_fails_ends_failed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let p = app.create_payment(4999, "USD", None).await;
    let other = app
        .state
        .stripe
        .client(STRIPE_KEY)
        .create_checkout_session(
            &NewCheckoutSession {
                amount: 4999,
                currency: "usd".into(),
                description: "stray",
                client_reference_id: &p.id,
                metadata: vec![("payment", p.id.as_str())],
                expires_at: p.expires_at,
                success_url: p.success_url.as_deref().unwrap(),
                cancel_url: p.cancel_url.as_deref().unwrap(),
                payment_method_configuration: None,
                return_to: None,
            },
            "stray-async",
        )
        .await
        .unwrap();
    common::pay_with(other.url.as_deref().unwrap(), "async_failed").await;
    app.wait_payment(&p.id, PaymentStatus::Processing).await;
    app.wait_payment(&p.id, PaymentStatus::Failed).await;
    app.stop().await;
}
both!(a_delayed_payment_through_another_session_that_fails_ends_failed);
