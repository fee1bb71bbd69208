//! Nothing a person does waits on Stripe. With a Stripe that hangs (a stand-in in front of
//! the simulator that never answers chosen calls), a visitor's "Not now" leaves the socket
//! serving frames and pings, the return pages answer within seconds, and one hanging
//! reconciliation does not hold up the others. On SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use axum::http::Method;
use chatpay_server::sweep;
use chatpay_shared::protocol::{ClientFrame, ErrorCode, PaymentStatus, ServerFrame};
use common::standin::Delay;
use common::{Backend, Client, TestApp, STRIPE_BUDGET};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A ping's pong, within `wait`.
async fn pong_within(c: &mut Client, wait: Duration) -> bool {
    c.ws.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, c.ws.next()).await {
        if matches!(msg, Message::Pong(_)) {
            return true;
        }
    }
    false
}

async fn declining_while_stripe_hangs_keeps_the_socket_alive(backend: Backend) {
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe().await;
    let (mut c, payment, _) = app.demo_to_the_card().await;
    stripe.delay(Method::POST, "/expire", Delay::Hang, 10);

    c.send(&ClientFrame::DeclinePayment {
        payment: payment.clone(),
    })
    .await;

    // The socket keeps serving: pings are answered and messages confirmed at once.
    assert!(
        pong_within(&mut c, Duration::from_secs(1)).await,
        "a pong within 1 s"
    );
    let started = Instant::now();
    let echo = c.say("v2", "hello?").await;
    assert!(matches!(echo, ServerFrame::Message { .. }), "{echo:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    // When the client's budget is spent, the visitor is told to try again; the payment is
    // still open (nothing was cancelled).
    let frames = c
        .until(|f| {
            matches!(
                f,
                ServerFrame::Error {
                    code: ErrorCode::DeclineFailed,
                    ..
                }
            )
        })
        .await;
    let Some(ServerFrame::Error { message, .. }) = frames.last() else {
        unreachable!()
    };
    assert!(message.contains("try again"), "{message}");
    assert_eq!(app.payment(&payment).await.status, PaymentStatus::Pending);
    assert!(pong_within(&mut c, Duration::from_secs(1)).await);
    app.stop().await;
}
both!(declining_while_stripe_hangs_keeps_the_socket_alive);

async fn return_pages_answer_while_stripe_hangs(backend: Backend) {
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    stripe.delay(Method::GET, "/v1/checkout/sessions/", Delay::Hang, 10);
    stripe.delay(Method::POST, "/expire", Delay::Hang, 10);

    let started = Instant::now();
    let page = reqwest::get(app.url(&format!("/checkout/return?payment={}", payment.id)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Almost there"), "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let page = reqwest::get(payment.cancel_url.clone().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Cancelling"), "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}
both!(return_pages_answer_while_stripe_hangs);

/// The sweep reconciles a few payments at once, each within the client's budget: four
/// whose Stripe call hangs do not keep the fifth (expired at Stripe) from being resolved
/// in that same sweep.
async fn one_hanging_reconciliation_does_not_hold_up_the_rest(backend: Backend) {
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe_without_webhooks().await;
    let mut hanging = Vec::new();
    for _ in 0..4 {
        let p = app.create_payment(4999, "USD", None).await;
        stripe.delay(
            Method::GET,
            &format!("/v1/checkout/sessions/{}", p.session_id.clone().unwrap()),
            Delay::Hang,
            10,
        );
        hanging.push(p);
    }
    let fine = app.create_payment(4999, "USD", None).await;
    // Stripe expires every link (its clock moves past them); no webhook is registered.
    app.advance_clock(7200).await;

    let started = Instant::now();
    sweep::sweep_at(&app.state, chatpay_server::store::now_ms() / 1000 + 7200).await;
    assert!(
        started.elapsed() < STRIPE_BUDGET * 2,
        "one sweep took {:?}",
        started.elapsed()
    );
    assert_eq!(app.payment(&fine.id).await.status, PaymentStatus::Expired);
    for p in &hanging {
        let now = app.payment(&p.id).await;
        assert_eq!(now.status, PaymentStatus::Pending, "Stripe never answered for it");
        assert!(now.next_check_at.is_some(), "it has its own next look");
    }
    app.stop().await;
}
both!(one_hanging_reconciliation_does_not_hold_up_the_rest);

/// Stripe's 429 is a clear, logged event the owner sees in Troubleshooting, and the link is
/// tried again later with the same request (a rate limit saves nothing at Stripe).
async fn stripe_rate_limiting_is_shown_to_the_owner(backend: Backend) {
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe().await;
    stripe.delay(Method::POST, "/v1/checkout/sessions", Delay::Status(429), 1);
    let (_c, payment, _) = app.demo_to_the_card().await;
    let status = app
        .state
        .store
        .stripe_status(&app.state.cipher, &common::shop())
        .await
        .unwrap();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("rate limiting"),
        "{:?}",
        status.last_error
    );
    let creates: Vec<_> = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.path == "/v1/checkout/sessions")
        .collect();
    assert_eq!(creates.len(), 2, "refused once, then the same request again");
    assert_eq!(creates[0].idempotency_key, creates[1].idempotency_key);
    assert!(app.payment(&payment).await.session_id.is_some());
    app.stop().await;
}
both!(stripe_rate_limiting_is_shown_to_the_owner);
