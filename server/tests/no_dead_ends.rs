//! A visitor is never left talking to nobody: a closed chat says so (and a message to it is
//! refused with the way out), a message while a payment is pending gets an answer and then
//! a person, a person handing back with nothing next closes the chat with a message, and a
//! workflow that ran out hands the visitor to a person. On SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use chatpay_shared::protocol::{Author, ErrorCode, ServerFrame};
use common::{shop, texts, Backend, Client, TestApp};

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

fn card_url(frames: &[ServerFrame]) -> String {
    frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard { url, .. } => Some(url.clone()),
            _ => None,
        })
        .expect("a card")
}

async fn status(app: &TestApp, conversation: &str) -> String {
    app.state
        .store
        .conversation_status(conversation)
        .await
        .unwrap()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default()
}

/// The demo workflow up to its card: (client, token, conversation, the card's frames).
async fn demo_to_the_card(app: &TestApp) -> (Client, String, String, Vec<ServerFrame>) {
    app.publish(chatpay_server::cli::DEMO_WORKFLOW).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome {
        visitor_token,
        conversation,
        ..
    } = welcome
    else {
        unreachable!()
    };
    c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
        .await;
    c.send_text("v1", "My printer is on fire").await;
    let frames = c.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    (c, visitor_token, conversation, frames)
}

async fn a_closed_chat_says_so_and_refuses_messages_with_the_way_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, token, conversation, frames) = demo_to_the_card(&app).await;
    common::pay(&card_url(&frames)).await;

    // Live: the closing words, then the tab is told the chat is closed.
    let after = c.until(|f| matches!(f, ServerFrame::Closed)).await;
    assert!(
        bot_texts(&after)
            .iter()
            .any(|t| t.starts_with("This conversation is now closed")),
        "{after:?}"
    );

    // A message to it is refused, says how to go on, and is not kept.
    c.send_text("late", "hello? one more question").await;
    match c.recv().await {
        ServerFrame::Error { code, message } => {
            assert_eq!(code, ErrorCode::Closed);
            assert!(message.contains("Start a new chat"), "{message}");
        }
        other => panic!("expected the refusal, got {other:?}"),
    }
    let history = app
        .state
        .store
        .history_after(&conversation, 0, 500)
        .await
        .unwrap();
    assert!(!texts(&history).iter().any(|t| t.contains("one more question")));

    // Coming back later: the history, then "closed" again.
    let (mut back, _) = app.visitor(Some(&token), None).await;
    let replay = back.until(|f| matches!(f, ServerFrame::Closed)).await;
    assert!(bot_texts(&replay)
        .iter()
        .any(|t| t.starts_with("This conversation is now closed")));
    app.stop().await;
}
both!(a_closed_chat_says_so_and_refuses_messages_with_the_way_out);

async fn while_a_payment_is_pending_the_bot_answers_then_offers_a_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, _, conversation, frames) = demo_to_the_card(&app).await;

    // First question while the link is open: the bot points to the card.
    let said = c.say("q1", "Is this payment safe?").await;
    assert_eq!(texts(&[said]), vec!["Is this payment safe?"]);
    let answer = c
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Bot,
                    ..
                }
            )
        })
        .await;
    let answer = bot_texts(&answer).join(" ");
    assert!(answer.contains("card above"), "{answer}");
    assert!(answer.contains("person"), "it offers a person: {answer}");
    assert_eq!(status(&app, &conversation).await, "bot");

    // Still writing: a person is asked for (the inbox shows it waiting).
    c.say("q2", "Can I pay by bank transfer instead?").await;
    let handoff = c
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Bot,
                    ..
                }
            )
        })
        .await;
    assert!(bot_texts(&handoff).join(" ").contains("a person"), "{handoff:?}");
    assert_eq!(status(&app, &conversation).await, "waiting_agent");

    // Paying still carries the workflow on (once), and the chat ends as the workflow says.
    common::pay(&card_url(&frames)).await;
    let after = c.until(|f| matches!(f, ServerFrame::Closed)).await;
    let thanks = bot_texts(&after)
        .iter()
        .filter(|t| t.starts_with("Thank you, your deposit is in!"))
        .count();
    assert_eq!(thanks, 1, "{after:?}");
    assert_eq!(status(&app, &conversation).await, "closed");
    app.stop().await;
}
both!(while_a_payment_is_pending_the_bot_answers_then_offers_a_person);

/// After a payment that was waited for with a person asked for, the bot carries on by
/// itself when nobody has joined yet: the visitor can answer the next question.
async fn a_person_asked_for_while_paying_is_not_needed_once_the_bot_carries_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut c, _, conversation, frames) = demo_to_the_card(&app).await;
    c.say("q1", "hm").await;
    c.until(|f| {
        matches!(
            f,
            ServerFrame::Message {
                from: Author::Bot,
                ..
            }
        )
    })
    .await;
    c.say("q2", "hello?").await;
    c.until(|f| {
        matches!(
            f,
            ServerFrame::Message {
                from: Author::Bot,
                ..
            }
        )
    })
    .await;
    assert_eq!(status(&app, &conversation).await, "waiting_agent");

    // The visitor says "Not now" on the card: the demo asks "new link or a person?".
    let payment = frames
        .iter()
        .find_map(|f| match f {
            ServerFrame::PaymentCard { payment, .. } => Some(payment.clone()),
            _ => None,
        })
        .unwrap();
    c.send(&chatpay_shared::protocol::ClientFrame::DeclinePayment { payment })
        .await;
    c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("No problem")))
        .await;
    assert_eq!(status(&app, &conversation).await, "bot");
    c.say("q3", "a new link please").await;
    let next = c.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    assert!(next.iter().any(|f| matches!(f, ServerFrame::PaymentCard { .. })));
    app.stop().await;
}
both!(a_person_asked_for_while_paying_is_not_needed_once_the_bot_carries_on);

const HANDOFF_THEN_NOTHING: &str = r#"{"format":1,"start":"h","nodes":[
    {"id":"h","type":"handoff","text":"A person will be with you shortly."}]}"#;

async fn a_hand_back_with_nothing_next_closes_the_chat_with_a_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.publish(HANDOFF_THEN_NOTHING).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("A person will")))
        .await;
    chatpay_server::agents::reply(&app.state, &shop(), &conversation, "All sorted, bye!")
        .await
        .unwrap();

    chatpay_server::agents::hand_back(&app.state, &shop(), &conversation)
        .await
        .unwrap();

    let after = c.until(|f| matches!(f, ServerFrame::Closed)).await;
    assert!(
        bot_texts(&after).iter().any(|t| t.contains("closed")),
        "the visitor is told: {after:?}"
    );
    assert_eq!(status(&app, &conversation).await, "closed");
    app.stop().await;
}
both!(a_hand_back_with_nothing_next_closes_the_chat_with_a_message);

const RUNS_OUT: &str = r#"{"format":1,"start":"hi","nodes":[
    {"id":"hi","type":"send_message","text":"Hi! Our opening hours are 9 to 5."}]}"#;

async fn a_workflow_that_ran_out_hands_the_visitor_to_a_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.publish(RUNS_OUT).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Hi! Our opening")))
        .await;

    c.say("v1", "Are you open on Sundays?").await;
    let reply = c
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Bot,
                    ..
                }
            )
        })
        .await;
    assert!(bot_texts(&reply).join(" ").contains("a person"), "{reply:?}");
    assert_eq!(status(&app, &conversation).await, "waiting_agent");
    // Said once: the next message waits for the person quietly.
    c.say("v2", "hello?").await;
    assert!(c.try_recv(Duration::from_millis(300)).await.is_none());
    app.stop().await;
}
both!(a_workflow_that_ran_out_hands_the_visitor_to_a_person);

/// A site with only a greeting (no workflow) is a live chat: the first message puts the
/// conversation in front of a person.
async fn without_a_workflow_the_first_message_waits_for_a_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut c, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    c.recv().await; // the greeting
    c.say("v1", "Do you ship to Norway?").await;
    let reply = c
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Bot,
                    ..
                }
            )
        })
        .await;
    assert!(bot_texts(&reply).join(" ").contains("a person"), "{reply:?}");
    assert_eq!(status(&app, &conversation).await, "waiting_agent");
    app.stop().await;
}
both!(without_a_workflow_the_first_message_waits_for_a_person);

/// When payments cannot work here (no Stripe connected, or a key Stripe refuses to create
/// sessions with), the visitor is not told "try again in a moment": payments are
/// unavailable, nothing was charged, and a person is asked for. The owner reads why in
/// Troubleshooting.
async fn when_payments_cannot_work_the_visitor_is_told_and_a_person_is_asked_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Case 1: no Stripe at all. Case 2: a restricted key that may only read.
    for case in ["no stripe", "read-only key"] {
        if case == "read-only key" {
            app.state
                .store
                .save_stripe_keys(
                    &app.state.cipher,
                    &shop(),
                    "rk_test_readonlyshop000000",
                    false,
                    None,
                )
                .await
                .unwrap();
        }
        app.publish(chatpay_server::cli::DEMO_WORKFLOW).await;
        let (mut c, welcome) = app.visitor(None, None).await;
        let ServerFrame::Welcome { conversation, .. } = welcome else {
            unreachable!()
        };
        c.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("What do you need")))
            .await;
        c.send_text("v1", "My printer is on fire").await;
        let said = c
            .until(|f| matches!(f, ServerFrame::Message { from: Author::Bot, text, .. } if text.contains("person")))
            .await;
        let said = bot_texts(&said).join(" ");
        assert!(said.contains("payments aren't available"), "{case}: {said}");
        assert!(said.contains("nothing was charged"), "{case}: {said}");
        assert!(!said.contains("try again"), "{case}: {said}");
        assert_eq!(status(&app, &conversation).await, "waiting_agent", "{case}");
    }

    // The owner: why, in Troubleshooting.
    let checks = chatpay_server::routes::console::troubleshoot::site_checks(&app.state, &shop())
        .await
        .unwrap();
    let unopened = checks
        .iter()
        .find(|c| c.id == "unopened")
        .expect("an unopened check");
    assert!(!unopened.ok);
    assert!(unopened.detail.contains("2 visitors"), "{}", unopened.detail);
    assert!(
        unopened.detail.contains("rak_checkout_session_write"),
        "the last reason: {}",
        unopened.detail
    );
    app.stop().await;
}
both!(when_payments_cannot_work_the_visitor_is_told_and_a_person_is_asked_for);
