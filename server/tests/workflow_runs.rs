//! Workflows over a real WebSocket client, on SQLite and PostgreSQL: the demo workflow to
//! Paid, the decline path to Expired and a new link, an invalid amount from a variable,
//! a Stripe failure, and resumes by reconciliation when no webhook ever comes.

mod common;

use std::time::Duration;

use chatpay_shared::protocol::{Author, ClientFrame, PaymentStatus, ServerFrame};
use common::{shop, texts, Backend, Client, TestApp};

fn is_card(f: &ServerFrame) -> bool {
    matches!(f, ServerFrame::PaymentCard { .. })
}

fn card_of(frames: &[ServerFrame]) -> (String, String, PaymentStatus, i64, String) {
    frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard {
                payment,
                url,
                status,
                amount,
                currency,
                ..
            } => Some((payment.clone(), url.clone(), *status, *amount, currency.clone())),
            _ => None,
        })
        .expect("a payment card")
}

fn bot_texts(frames: &[ServerFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Message {
                from: Author::Bot,
                text,
                ..
            } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn update(frames: &[ServerFrame]) -> Option<(String, PaymentStatus)> {
    frames.iter().find_map(|f| match f {
        ServerFrame::PaymentUpdate { payment, status, .. } => Some((payment.clone(), *status)),
        _ => None,
    })
}

/// Starts the demo workflow and answers its question; returns the card frames.
async fn to_the_card(app: &TestApp) -> (Client, String, Vec<ServerFrame>) {
    app.publish(chatpay_server::cli::DEMO_WORKFLOW).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        unreachable!()
    };
    let opening = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await;
    assert_eq!(
        bot_texts(&opening),
        vec![
            "Hi! I'm the chatpay demo bot.",
            "What do you need help with today?"
        ]
    );
    c.send_text("v1", "My printer is on fire").await;
    let frames = c.until(is_card).await;
    (c, visitor_token, frames)
}

async fn the_demo_workflow_walks_to_paid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;

    let (mut c, _, frames) = to_the_card(&app).await;

    assert_eq!(
        texts(&frames)[0],
        "My printer is on fire",
        "the visitor's message comes first"
    );
    let (payment, url, status, amount, currency) = card_of(&frames);
    assert_eq!(
        (status, amount, currency.as_str()),
        (PaymentStatus::Pending, 4999, "USD")
    );
    assert_eq!(
        bot_texts(&frames),
        vec![format!("Happy to help with that. To open your support contract, please pay the 49.99 USD deposit here: {url}")]
    );

    common::pay_with(&url, "paid").await;

    let after = c.until(|f| matches!(f, ServerFrame::Closed)).await;
    assert_eq!(update(&after), Some((payment.clone(), PaymentStatus::Paid)));
    assert_eq!(
        bot_texts(&after),
        vec![
            "Thank you, your deposit is in! A specialist will contact you about \"My printer is on fire\" within one business day.",
            "This conversation is now closed. Have a great day!"
        ]
    );
    assert!(
        c.try_recv(Duration::from_millis(300)).await.is_none(),
        "nothing twice"
    );
    let conv = app.payment(&payment).await.conversation_id.unwrap();
    assert_eq!(
        app.state
            .store
            .conversation_status(&conv)
            .await
            .unwrap()
            .map(|s| s.as_str()),
        Some("closed")
    );
    app.stop().await;
}
both!(the_demo_workflow_walks_to_paid);

async fn declining_expires_the_link_and_a_new_link_can_follow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, _, frames) = to_the_card(&app).await;
    let (first, ..) = card_of(&frames);

    c.send(&ClientFrame::DeclinePayment {
        payment: first.clone(),
    })
    .await;

    let after = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("new link or a person")))
        .await;
    assert_eq!(update(&after), Some((first.clone(), PaymentStatus::Expired)));
    assert_eq!(
        bot_texts(&after),
        vec!["No problem — want a new link or a person?"]
    );

    c.send_text("v2", "A new LINK please").await;
    let again = c.until(is_card).await;
    let (second, _, status, ..) = card_of(&again);
    assert_ne!(second, first, "a new payment, not the old link");
    assert_eq!(status, PaymentStatus::Pending);

    // Declining again, then asking for a person: handed off.
    c.send(&ClientFrame::DeclinePayment {
        payment: second.clone(),
    })
    .await;
    c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("new link or a person")))
        .await;
    c.send_text("v3", "a person").await;
    let handoff = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("getting a person")))
        .await;
    assert!(!handoff.iter().any(is_card));
    let conv = app.payment(&second).await.conversation_id.unwrap();
    assert_eq!(
        app.state
            .store
            .conversation_status(&conv)
            .await
            .unwrap()
            .map(|s| s.as_str()),
        Some("waiting_agent")
    );

    // A payment of another conversation cannot be declined from here.
    c.send(&ClientFrame::DeclinePayment {
        payment: "pay_someone_else_1".into(),
    })
    .await;
    assert!(matches!(c.recv().await, ServerFrame::Error { .. }));
    app.stop().await;
}
both!(declining_expires_the_link_and_a_new_link_can_follow);

const FROM_VARIABLE: &str = r#"{"format":1,"start":"ask","nodes":[
    {"id":"ask","type":"ask","text":"How much would you like to pay?","variable":"amount","next":"pay"},
    {"id":"pay","type":"request_payment","amount":{"from_variable":"amount"},"currency":"USD","description":"Custom amount","next":"check"},
    {"id":"check","type":"condition","variable":"paymentStatus","operator":"equals","value":"paid","then":"thanks","else":"other"},
    {"id":"thanks","type":"send_message","text":"Paid, thanks."},
    {"id":"other","type":"send_message","text":"Not paid (<<paymentStatus>>)."}]}"#;

async fn payments_of(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS payments FROM payments")
        .fetch_one(app.state.store.reader())
        .await
        .unwrap()
        .try_get("payments")
        .unwrap()
}

async fn an_invalid_amount_from_a_variable_never_reaches_stripe(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    app.publish(FROM_VARIABLE).await;
    let (mut c, _) = app.visitor(None, None).await;
    c.recv().await;

    c.send_text("a", "49,999").await;

    let frames = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Not paid")))
        .await;
    let said = bot_texts(&frames);
    assert!(
        said[0].starts_with("Sorry, I can't request a payment of '49,999': commas are not accepted"),
        "{said:?}"
    );
    assert_eq!(said[1], "Not paid (invalid_amount).");
    assert!(!frames.iter().any(is_card));
    assert_eq!(payments_of(&app).await, 0, "no payment, no session");
    app.stop().await;
}
both!(an_invalid_amount_from_a_variable_never_reaches_stripe);

/// A key Stripe refuses: retrying cannot help, so the visitor is told payments are
/// unavailable and a person is asked for; handing back goes on with `error`; the refusal
/// shows in the site's health.
async fn a_refused_key_hands_the_visitor_to_a_person_and_shows_in_the_site_health(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A key the simulator refuses, saved without testing.
    app.state
        .store
        .save_stripe_keys(
            &app.state.cipher,
            &shop(),
            "sk_test_invalid0000000000",
            false,
            None,
        )
        .await
        .unwrap();
    app.publish(FROM_VARIABLE).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    c.recv().await;

    c.send_text("a", "20").await;

    let frames = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("asking a person")))
        .await;
    let said = bot_texts(&frames);
    assert!(said[0].contains("payments aren't available"), "{said:?}");
    chatpay_server::agents::hand_back(&app.state, &shop(), &conversation)
        .await
        .unwrap();
    let frames = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Not paid")))
        .await;
    assert_eq!(bot_texts(&frames), vec!["Not paid (error)."]);
    let status = app
        .state
        .store
        .stripe_status(&app.state.cipher, &shop())
        .await
        .unwrap();
    assert!(status.last_error.unwrap().contains("Invalid API Key provided"));
    app.stop().await;
}
both!(a_refused_key_hands_the_visitor_to_a_person_and_shows_in_the_site_health);

async fn without_any_webhook_a_reconnect_still_resumes_the_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe_without_webhooks().await;
    let (c, token, frames) = to_the_card(&app).await;
    let (payment, url, ..) = card_of(&frames);
    let last_seq = frames.iter().filter_map(ServerFrame::seq).max().unwrap();

    common::pay_with(&url, "paid").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.payment(&payment).await.status,
        PaymentStatus::Pending,
        "no webhook came"
    );
    drop(c);

    // The visitor comes back (a reload): the relay asks Stripe and the run carries on.
    let (mut back, _) = app.visitor(Some(&token), Some(last_seq)).await;
    let after = back.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("This conversation is now closed"))).await;
    assert_eq!(update(&after), Some((payment.clone(), PaymentStatus::Paid)));
    assert_eq!(
        app.payment(&payment).await.resolved_by.as_deref(),
        Some("reconcile")
    );
    app.stop().await;
}
both!(without_any_webhook_a_reconnect_still_resumes_the_run);

async fn without_any_webhook_the_sweep_expires_an_overdue_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe_without_webhooks().await;
    let (mut c, _, frames) = to_the_card(&app).await;
    let (payment, ..) = card_of(&frames);

    // Thirty-odd minutes later: the simulator expired the session and told nobody.
    app.advance_clock(3700).await;
    let later = chatpay_server::store::now_ms() / 1000 + 3700;
    chatpay_server::sweep::sweep_at(&app.state, later).await;

    let after = c
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("new link or a person")))
        .await;
    assert_eq!(update(&after), Some((payment.clone(), PaymentStatus::Expired)));
    app.stop().await;
}
both!(without_any_webhook_the_sweep_expires_an_overdue_link);

async fn a_published_edit_does_not_change_a_running_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, _, frames) = to_the_card(&app).await;
    let (_, url, ..) = card_of(&frames);

    // The owner publishes a different workflow while this visitor is at the payment.
    app.publish(r#"{"format":1,"start":"x","nodes":[{"id":"x","type":"send_message","text":"New flow!"}]}"#)
        .await;
    common::pay_with(&url, "paid").await;

    let after = c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("This conversation is now closed"))).await;
    assert!(
        bot_texts(&after)[0].starts_with("Thank you, your deposit is in!"),
        "the old version carries on"
    );
    // A new visitor gets the new version.
    let (mut fresh, _) = app.visitor(None, None).await;
    assert_eq!(texts(&[fresh.recv().await]), vec!["New flow!"]);
    app.stop().await;
}
both!(a_published_edit_does_not_change_a_running_conversation);
