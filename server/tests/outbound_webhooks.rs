//! Telling the owner's own systems: a site's webhook receives a signed JSON event when a
//! payment is paid (and when it is refunded at Stripe, and on a handoff), verified here the
//! way the README tells receivers to (HMAC-SHA256 of "t.body" with the secret shown once);
//! a 500 is retried and the retry delivered; the console's log shows each answer; a test
//! event; and URLs that point at private addresses or the relay itself are refused unless
//! the operator allows them. On SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chatpay_server::assets::WidgetAssets;
use chatpay_shared::console::HookView;
use chatpay_shared::protocol::PaymentStatus;
use common::{eventually, shop, Backend, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// What a receiver got: the signature header and the body; and the statuses it answers with,
/// in turn (then 200).
#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<(String, String)>>,
    answers: Mutex<Vec<u16>>,
    /// How long it takes to answer, in ms (a slow order system).
    slow_ms: std::sync::atomic::AtomicU64,
}

async fn receiver(answers: Vec<u16>) -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver {
        answers: Mutex::new(answers),
        ..Receiver::default()
    });
    let seen = Arc::clone(&r);
    let app = axum::Router::new().route(
        "/hooks/chatpay",
        post(move |headers: HeaderMap, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                let sig = headers
                    .get("chatpay-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.got.lock().unwrap().push((sig, body));
                let slow = seen.slow_ms.load(std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(slow)).await;
                let mut answers = seen.answers.lock().unwrap();
                let code = if answers.is_empty() {
                    200
                } else {
                    answers.remove(0)
                };
                (StatusCode::from_u16(code).unwrap(), "ok from the order system")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hooks/chatpay"), r)
}

/// A receiver's check, as the README's snippet does it: `t` within five minutes, and `v1`
/// equal to HMAC-SHA256(secret, "t.body") in hex.
fn verified(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (chatpay_server::store::now_ms() / 1000 - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    // Constant-time, as a receiver should compare.
    v1.iter()
        .any(|v| hex::decode(v).is_ok_and(|sig| mac.clone().verify_slice(&sig).is_ok()))
}

use common::console;

const HOOK: &str = "/api/console/sites/shop/hook";

async fn a_paid_payment_reaches_the_owners_webhook_signed_and_a_500_is_retried(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.outbound_allow_private = true
    })
    .await;
    app.connect_stripe().await;
    let cookie = common::owner_cookie(&app).await;
    let (url, got) = receiver(vec![500]).await;

    let (s, v) = console(
        &app,
        &cookie,
        reqwest::Method::PUT,
        HOOK,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let hook: HookView = serde_json::from_value(v).unwrap();
    let secret = hook.secret.clone().expect("the secret is shown once, when made");
    assert!(secret.starts_with("chs_"), "{secret}");
    assert_eq!(
        hook.secret_hint.as_deref(),
        Some(&*format!("…{}", &secret[secret.len() - 4..]))
    );
    let (_, again) = console(&app, &cookie, reqwest::Method::GET, HOOK, None).await;
    assert!(again.get("secret").is_none(), "never shown again: {again}");

    let payment = app.create_payment(4999, "USD", None).await;
    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, PaymentStatus::Paid).await;

    // The first try is answered 500: logged, and due again in 10 s.
    let first = eventually(std::time::Duration::from_secs(10), || async {
        let d = app.state.store.hook_deliveries(&shop(), 10).await.unwrap();
        match d.first() {
            Some(d) if d.attempts == 1 => Ok(d.clone()),
            other => Err(format!("no try yet: {other:?}")),
        }
    })
    .await;
    assert_eq!(
        (
            first.event_type.as_str(),
            first.status.as_str(),
            first.last_status
        ),
        ("payment.paid", "pending", Some(500))
    );
    assert!(
        first
            .last_error
            .as_deref()
            .unwrap()
            .contains("ok from the order system"),
        "{first:?}"
    );
    let next = first.next_at.unwrap();
    assert!(
        (9_000..=12_000).contains(&(next - chatpay_server::store::now_ms())),
        "{next}"
    );

    // Not before it is due; then delivered.
    chatpay_server::outbound::deliver_due(&app.state, chatpay_server::store::now_ms()).await;
    assert_eq!(got.got.lock().unwrap().len(), 1);
    chatpay_server::outbound::deliver_due(&app.state, next).await;
    let log: HookView =
        serde_json::from_value(console(&app, &cookie, reqwest::Method::GET, HOOK, None).await.1).unwrap();
    let d = &log.deliveries[0];
    assert_eq!(
        (d.status.as_str(), d.attempts, d.last_status, d.next_at),
        ("delivered", 2, Some(200), None)
    );

    // Both tries carried the same event, each verifying with the secret.
    let tries = got.got.lock().unwrap().clone();
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[0].1, tries[1].1, "a retry sends the same event");
    for (sig, body) in &tries {
        assert!(verified(&secret, sig, body), "{sig}");
        assert!(!verified("chs_not_the_secret", sig, body));
    }
    let event: Value = serde_json::from_str(&tries[0].1).unwrap();
    assert_eq!(event["type"], "payment.paid");
    assert_eq!(event["site"], "shop");
    assert_eq!(event["id"], d.id.as_str());
    assert_eq!(event["data"]["payment"]["id"], payment.id.as_str());
    assert_eq!(event["data"]["payment"]["amount"], "49.99");
    assert_eq!(event["data"]["payment"]["currency"], "USD");
    assert!(event["data"]["payment"]["payment_intent"]
        .as_str()
        .unwrap()
        .starts_with("pi_"));
    // A tampered body does not verify.
    assert!(!verified(
        &secret,
        &tries[0].0,
        &tries[0].1.replace("49.99", "0.01")
    ));

    // A refund at Stripe is told too.
    let pi = app.payment(&payment.id).await.payment_intent.unwrap();
    let refund = reqwest::Client::new()
        .post(app.url("/simulator/stripe/v1/refunds"))
        .bearer_auth(common::STRIPE_KEY)
        .form(&[("payment_intent", pi.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 200);
    eventually(std::time::Duration::from_secs(10), || async {
        let types: Vec<String> = got
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<Value>(b).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        types
            .contains(&"payment.refunded".to_owned())
            .then_some(())
            .ok_or(format!("{types:?}"))
    })
    .await;

    // The console's test event, verified the same way.
    let (s, v) = console(
        &app,
        &cookie,
        reqwest::Method::POST,
        "/api/console/sites/shop/hook/test",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deliveries"][0]["event_type"], "test");
    assert_eq!(v["deliveries"][0]["status"], "delivered");
    let (sig, body) = got.got.lock().unwrap().last().cloned().unwrap();
    assert!(verified(&secret, &sig, &body));

    // A new secret on request: the old one no longer verifies.
    let (_, v) = console(
        &app,
        &cookie,
        reqwest::Method::PUT,
        HOOK,
        Some(json!({ "url": url, "new_secret": true })),
    )
    .await;
    let newer = v["secret"].as_str().unwrap().to_owned();
    assert_ne!(newer, secret);
    console(
        &app,
        &cookie,
        reqwest::Method::POST,
        "/api/console/sites/shop/hook/test",
        Some(json!({})),
    )
    .await;
    let (sig, body) = got.got.lock().unwrap().last().cloned().unwrap();
    assert!(verified(&newer, &sig, &body) && !verified(&secret, &sig, &body));
    app.stop().await;
}
both!(a_paid_payment_reaches_the_owners_webhook_signed_and_a_500_is_retried);

/// The public address this test's relay says it has (an address literal: no lookup leaves
/// the machine).
const PUBLIC: &str = "https://93.184.216.34";

async fn private_addresses_and_the_relay_itself_are_refused_unless_allowed(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.public_url = PUBLIC.into()
    })
    .await;
    let cookie = common::owner_cookie(&app).await;
    let (url, got) = receiver(vec![]).await;
    let put = |u: String| {
        let (app, cookie) = (&app, &cookie);
        async move { console(app, cookie, reqwest::Method::PUT, HOOK, Some(json!({ "url": u }))).await }
    };
    for (target, says) in [
        (
            url.replace("http://", "https://"),
            "is a private address (127.0.0.1)",
        ),
        ("https://[::1]/x".to_owned(), "is a private address (::1)"),
        (
            "https://169.254.169.254/latest".to_owned(),
            "is a private address",
        ),
        ("https://localhost/x".to_owned(), "is a private address"),
        (url.clone(), "use https://"),
        (
            "ftp://orders.example/x".to_owned(),
            "'ftp:' URLs cannot receive webhooks",
        ),
        (
            "https://user:pw@orders.example/x".to_owned(),
            "no user name or password",
        ),
        ("not a url".to_owned(), "is not a URL"),
        (
            format!("{PUBLIC}/webhooks/stripe/shop"),
            "93.184.216.34 is this relay's own address",
        ),
    ] {
        let (s, v) = put(target.clone()).await;
        assert_eq!(s, 400, "{target}: {v}");
        assert_eq!(v["error"]["field"], "url", "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{target}: {v}"
        );
    }
    let (s, v) = put(format!("https://orders.example/{}", "a".repeat(3000))).await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("at most 2048"),
        "{v}"
    );

    // Saved before the rule (here: straight into the store), it is still refused at delivery,
    // and nothing reaches the address.
    app.state
        .store
        .set_hook(&app.state.cipher, &shop(), &url, false)
        .await
        .unwrap();
    let (s, v) = console(
        &app,
        &cookie,
        reqwest::Method::POST,
        "/api/console/sites/shop/hook/test",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let d = &v["deliveries"][0];
    assert_eq!(d["status"], "failed", "a test event is tried once: {d}");
    assert!(d["last_error"].as_str().unwrap().starts_with("refused:"), "{d}");
    assert!(
        got.got.lock().unwrap().is_empty(),
        "no request reached the private address"
    );
    // A test event is never retried, so a stream of them leaves nothing due.
    assert!(app
        .state
        .store
        .hook_deliveries_due(i64::MAX, 100, 100)
        .await
        .unwrap()
        .is_empty());
    // While a test event is still being tried, another one waits.
    app.state
        .store
        .enqueue_hook_event(&shop(), None, "evt_in_flight", "test", "{}")
        .await
        .unwrap();
    let (s, v) = console(
        &app,
        &cookie,
        reqwest::Method::POST,
        "/api/console/sites/shop/hook/test",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still being sent"),
        "{v}"
    );
    app.stop().await;
}
both!(private_addresses_and_the_relay_itself_are_refused_unless_allowed);

async fn a_handoff_is_told_to_the_owners_webhook(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.outbound_allow_private = true
    })
    .await;
    let cookie = common::owner_cookie(&app).await;
    let (url, got) = receiver(vec![]).await;
    let (_, v) = console(
        &app,
        &cookie,
        reqwest::Method::PUT,
        HOOK,
        Some(json!({ "url": url })),
    )
    .await;
    let secret = v["secret"].as_str().unwrap().to_owned();
    app.publish(
        r#"{"format":1,"start":"hi","nodes":[
        {"id":"hi","type":"send_message","text":"Hi, let me find a person.","next":"h"},
        {"id":"h","type":"handoff"}]}"#,
    )
    .await;
    let (_visitor, welcome) = app.visitor(None, None).await;
    let chatpay_shared::protocol::ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    let (sig, body) = eventually(std::time::Duration::from_secs(10), || async {
        got.got
            .lock()
            .unwrap()
            .last()
            .cloned()
            .ok_or("nothing arrived".to_owned())
    })
    .await;
    assert!(verified(&secret, &sig, &body));
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "conversation.handoff");
    assert_eq!(event["data"]["conversation"], conversation.as_str());
    app.stop().await;
}
both!(a_handoff_is_told_to_the_owners_webhook);

/// A relay that may deliver to loopback, the owner signed in, and the shop's webhook set to
/// a receiver answering `answers` (then 200) after `slow_ms`.
async fn hooked(backend: Backend, answers: Vec<u16>, slow_ms: u64) -> (TestApp, String, Arc<Receiver>) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.outbound_allow_private = true
    })
    .await;
    let cookie = common::owner_cookie(&app).await;
    let (url, got) = receiver(answers).await;
    got.slow_ms.store(slow_ms, std::sync::atomic::Ordering::SeqCst);
    let (s, v) = console(
        &app,
        &cookie,
        reqwest::Method::PUT,
        HOOK,
        Some(json!({ "url": url })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (app, cookie, got)
}

/// A delivery is one POST however many try it at once: the first try right after queuing,
/// a sweep that listed it meanwhile, a second relay's sweep. A try still running when the
/// owner removes the webhook does not bring the delivery back to life.
async fn a_delivery_is_sent_once_however_many_try_it(backend: Backend) {
    use chatpay_server::outbound::{deliver, deliver_due};
    use chatpay_server::store::now_ms;
    let (app, cookie, got) = hooked(backend, vec![], 700).await;
    let store = &app.state.store;
    let id = store
        .enqueue_hook_event(&shop(), None, "evt_once", "payment.paid", r#"{"id":"evt_once"}"#)
        .await
        .unwrap()
        .unwrap();
    // One try starts (and waits on the slow receiver); the others come while it runs.
    let first = tokio::spawn({
        let state = app.state.clone();
        let id = id.clone();
        async move { deliver(&state, &id).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = deliver(&app.state, &id);
    let sweep = deliver_due(&app.state, now_ms() + 1000);
    tokio::join!(second, sweep);
    first.await.unwrap();
    assert_eq!(got.got.lock().unwrap().len(), 1, "one event, one POST");
    let d = store.hook_delivery(&id).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("delivered", 1), "{d:?}");

    // A try answered 500 while the webhook is removed: the delivery stays given up.
    got.answers.lock().unwrap().push(500);
    let id = store
        .enqueue_hook_event(
            &shop(),
            None,
            "evt_removed",
            "payment.paid",
            r#"{"id":"evt_removed"}"#,
        )
        .await
        .unwrap()
        .unwrap();
    let trying = tokio::spawn({
        let state = app.state.clone();
        let id = id.clone();
        async move { deliver(&state, &id).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (s, v) = console(&app, &cookie, reqwest::Method::DELETE, HOOK, None).await;
    assert_eq!(s, 200, "{v}");
    trying.await.unwrap();
    let d = store.hook_delivery(&id).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.next_at), ("failed", None), "{d:?}");
    app.stop().await;
}
both!(a_delivery_is_sent_once_however_many_try_it);

/// A site whose endpoint is down and piles up retries does not hold back another site's:
/// each sweep still reaches every site with deliveries due.
async fn one_sites_backlog_does_not_hold_back_anothers(backend: Backend) {
    use chatpay_server::store::now_ms;
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.outbound_allow_private = true
    })
    .await;
    let store = &app.state.store;
    let other = chatpay_server::domain::SiteId::parse("other-shop").unwrap();
    store
        .insert_site(
            &chatpay_server::store::sites::NewSite::parse(
                "other-shop",
                "Other",
                "Hi",
                &["https://other.example".to_owned()],
            )
            .unwrap(),
            None,
            None,
        )
        .await
        .unwrap();
    let (down, down_got) = receiver(vec![500; 1000]).await;
    let (up, up_got) = receiver(vec![]).await;
    store
        .set_hook(&app.state.cipher, &shop(), &down, false)
        .await
        .unwrap();
    store
        .set_hook(&app.state.cipher, &other, &up, false)
        .await
        .unwrap();
    for n in 0..150 {
        let id = format!("evt_backlog_{n}");
        store
            .enqueue_hook_event(&shop(), None, &id, "payment.paid", "{}")
            .await
            .unwrap();
    }
    store
        .enqueue_hook_event(&other, None, "evt_other", "payment.paid", "{}")
        .await
        .unwrap();
    chatpay_server::outbound::deliver_due(&app.state, now_ms() + 1000).await;
    assert_eq!(
        up_got.got.lock().unwrap().len(),
        1,
        "the other site's event went out"
    );
    // Five of the busy site's a round (the relay's own first sweep may run a round too:
    // at most two rounds' worth).
    let busy = down_got.got.lock().unwrap().len();
    assert!((5..=10).contains(&busy), "{busy} of the busy site's");
    app.stop().await;
}
both!(one_sites_backlog_does_not_hold_back_anothers);

/// Eight "Send a test event" at once while the endpoint is slow: one goes out, the others
/// are told to wait (on PostgreSQL too, where requests run side by side). And the sweep is
/// not held by an endpoint that does not answer: it starts the round and goes on.
async fn a_slow_endpoint_holds_back_neither_tests_nor_the_sweep(backend: Backend) {
    let (app, cookie, got) = hooked(backend, vec![], 3000).await;
    let tries = (0..8).map(|_| {
        console(
            &app,
            &cookie,
            reqwest::Method::POST,
            "/api/console/sites/shop/hook/test",
            Some(json!({})),
        )
    });
    let answers: Vec<u16> = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "one test event at a time: {answers:?}"
    );
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 7, "{answers:?}");
    assert_eq!(got.got.lock().unwrap().len(), 1);

    // A delivery due to an endpoint that takes 8 s: the sweep is done long before.
    got.slow_ms.store(8000, std::sync::atomic::Ordering::SeqCst);
    app.state
        .store
        .enqueue_hook_event(&shop(), None, "evt_slow", "payment.paid", "{}")
        .await
        .unwrap();
    let swept = tokio::time::timeout(
        std::time::Duration::from_secs(4),
        chatpay_server::sweep::sweep(&app.state),
    )
    .await;
    assert!(swept.is_ok(), "the sweep waited on the owner's endpoint");
    eventually(std::time::Duration::from_secs(4), || async {
        (got.got.lock().unwrap().len() == 2)
            .then_some(())
            .ok_or("the slow delivery was not tried".to_owned())
    })
    .await;
    app.stop().await;
}
both!(a_slow_endpoint_holds_back_neither_tests_nor_the_sweep);
