//! The editor's and the inbox's API: checking and publishing workflows, a person replying,
//! taking over and handing back, a payment asked for by hand, and the live socket — on
//! SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use chatpay_shared::console::LiveEvent;
use chatpay_shared::protocol::{Author, ClientFrame, PaymentStatus, ServerFrame};
use common::{shop, Backend, TestApp, SITE};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::console as call;

type Live = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn live(
    app: &TestApp,
    cookie: &str,
    origin: &str,
) -> Result<Live, tokio_tungstenite::tungstenite::Error> {
    let mut req = format!("ws://{}/api/console/sites/{SITE}/live", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut().insert("origin", origin.parse().unwrap());
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// Live events until one satisfies `last`, within 10 s.
async fn live_until(ws: &mut Live, last: impl Fn(&LiveEvent) -> bool) -> Vec<LiveEvent> {
    let mut got = Vec::new();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a live event")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let e: LiveEvent = serde_json::from_str(t.as_str()).unwrap();
            let done = last(&e);
            got.push(e);
            if done {
                return got;
            }
        }
    }
}

const HANDOFF_FIRST: &str = r#"{"format":1,"start":"hi","nodes":[
    {"id":"hi","type":"send_message","text":"Hi, let me find a person.","next":"h"},
    {"id":"h","type":"handoff","next":"back"},
    {"id":"back","type":"ask","text":"The bot is back. Anything else?","variable":"x"}]}"#;

async fn a_person_replies_asks_for_money_and_hands_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    app.publish(HANDOFF_FIRST).await;
    let cookie = common::owner_cookie(&app).await;
    let own = app.url("");
    let own = own.trim_end_matches('/');
    assert!(
        live(&app, &cookie, "https://evil.test").await.is_err(),
        "only the console's origin"
    );
    let mut feed = live(&app, &cookie, own).await.unwrap();

    // The bot hands off: the visitor waits, the inbox shows it under "waiting".
    let (mut v, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("connecting you")))
        .await;
    live_until(&mut feed, |e| {
        e.status.map(|s| s.as_str()) == Some("waiting_agent")
    })
    .await;
    let (_, waiting) = call(
        &app,
        &cookie,
        reqwest::Method::GET,
        "/api/console/sites/shop/conversations?waiting=true",
        None,
    )
    .await;
    assert_eq!(waiting["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(waiting["conversations"][0]["id"], conversation.as_str());

    // The visitor writes; the person answers; the visitor sees a person's message live.
    v.say("v1", "Can I pay for the premium plan?").await;
    let base = format!("/api/console/sites/shop/conversations/{conversation}");
    let (s, _) = call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/reply"),
        Some(json!({ "text": "Sure, one moment." })),
    )
    .await;
    assert_eq!(s, 200);
    let got = v
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Agent,
                    ..
                }
            )
        })
        .await;
    assert!(
        matches!(got.last(), Some(ServerFrame::Message { from: Author::Agent, text, .. }) if text == "Sure, one moment.")
    );

    // A payment by hand: refused amounts at the field, then a card.
    let (s, e) = call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/payments"),
        Some(json!({ "amount": "49,999", "currency": "USD", "description": "Premium" })),
    )
    .await;
    assert_eq!((s, e["error"]["field"].as_str()), (400, Some("amount")), "{e}");
    let (s, e) = call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/payments"),
        Some(json!({ "amount": "120", "currency": "EUR", "description": "Premium plan, one year" })),
    )
    .await;
    assert_eq!(s, 200, "{e}");
    let card = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    let Some(ServerFrame::PaymentCard {
        payment,
        url,
        amount,
        currency,
        ..
    }) = card.last().cloned()
    else {
        unreachable!()
    };
    assert_eq!((amount, currency.as_str()), (12000, "EUR"));

    // The visitor pays; both sides see Paid live.
    common::checkout(&url, "paid").await;
    v.until(|f| {
        matches!(
            f,
            ServerFrame::PaymentUpdate {
                status: PaymentStatus::Paid,
                ..
            }
        )
    })
    .await;
    let events = live_until(&mut feed, |e| {
        matches!(
            &e.frame,
            Some(ServerFrame::PaymentUpdate {
                status: PaymentStatus::Paid,
                ..
            })
        )
    })
    .await;
    assert!(events
        .iter()
        .any(|e| matches!(&e.frame, Some(ServerFrame::PaymentUpdate { payment: p, .. }) if *p == payment)));
    // The bot stayed quiet all along (a person has the conversation).
    assert!(v.try_recv(Duration::from_millis(300)).await.is_none());

    // Handing back: the bot carries on after its handoff node.
    let (s, summary) = call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/handback"),
        None,
    )
    .await;
    assert_eq!((s, summary["status"].as_str()), (200, Some("bot")));
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "The bot is back. Anything else?"))
        .await;

    // The transcript has everything, in order.
    let (_, view) = call(&app, &cookie, reqwest::Method::GET, &base, None).await;
    let kinds: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"PaymentCard") && kinds.contains(&"PaymentUpdate"),
        "{kinds:?}"
    );
    app.stop().await;
}
both!(a_person_replies_asks_for_money_and_hands_back);

async fn taking_over_silences_the_bot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.publish(r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"ask","text":"Name?","variable":"n","next":"b"},{"id":"b","type":"send_message","text":"Thanks <<n>>"}]}"#).await;
    let cookie = common::owner_cookie(&app).await;
    let (mut v, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    v.recv().await;

    let (s, summary) = call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("/api/console/sites/shop/conversations/{conversation}/takeover"),
        None,
    )
    .await;
    assert_eq!((s, summary["status"].as_str()), (200, Some("agent")));
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("A person has joined")))
        .await;
    v.say("v1", "Ana").await;
    assert!(
        v.try_recv(Duration::from_millis(300)).await.is_none(),
        "the bot does not answer"
    );
    // Handing back: the bot still waits at its question and takes the next answer.
    call(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("/api/console/sites/shop/conversations/{conversation}/handback"),
        None,
    )
    .await;
    v.say("v2", "Ana again").await;
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Thanks Ana again"))
        .await;
    app.stop().await;
}
both!(taking_over_silences_the_bot);

async fn the_editor_checks_and_publishes_versions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cookie = common::owner_cookie(&app).await;
    let post = |path: &'static str, body: &'static str| {
        let app_url = app.url(path);
        let cookie = cookie.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(app_url)
                .header("x-chatpay-console", "1")
                .header("cookie", cookie)
                .body(body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let bad = r#"{"format":1,"start":"p","nodes":[{"id":"p","type":"request_payment","amount":{"fixed":"0.10"},"currency":"USD","description":"x","next":"nope"}]}"#;
    let (s, r) = post("/api/console/sites/shop/workflows/check", bad).await;
    assert_eq!(s, 200);
    let problems = r["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p["node"] == "p"
            && p["field"] == "amount"
            && p["message"].as_str().unwrap().contains("minimum")),
        "{r}"
    );
    assert!(
        problems.iter().any(|p| p["node"] == "p" && p["field"] == "next"),
        "{r}"
    );
    let (_, r) = post("/api/console/sites/shop/workflows", bad).await;
    assert!(r["version"].is_null(), "not published: {r}");
    let (_, r) = post("/api/console/sites/shop/workflows", "{not json").await;
    assert_eq!(r["problems"][0]["field"], "json");

    // A payment node on a site not connected to Stripe: published, with a warning at the
    // node, at Check and at Publish.
    for path in [
        "/api/console/sites/shop/workflows/check",
        "/api/console/sites/shop/workflows",
    ] {
        let (_, r) = post(path, chatpay_server::cli::DEMO_WORKFLOW).await;
        assert!(r["problems"].as_array().unwrap().is_empty(), "{r}");
        let warnings = r["warnings"].as_array().cloned().unwrap_or_default();
        assert!(
            warnings
                .iter()
                .any(|w| w["node"] == "pay"
                    && w["message"].as_str().unwrap().contains("not connected to Stripe")),
            "{path}: {r}"
        );
    }
    app.connect_stripe().await;
    let (_, r) = post(
        "/api/console/sites/shop/workflows/check",
        chatpay_server::cli::DEMO_WORKFLOW,
    )
    .await;
    assert!(
        r["warnings"].as_array().is_none_or(|w| w.is_empty()),
        "connected: {r}"
    );

    let good = r#"{"format":1,"name":"Hello","start":"a","nodes":[{"id":"a","type":"send_message","text":"hello"}]}"#;
    let (_, r) = post("/api/console/sites/shop/workflows", good).await;
    assert_eq!(r["version"], 2, "after the demo's version 1");
    let (_, r) = post("/api/console/sites/shop/workflows", good).await;
    assert_eq!(r["version"], 3);
    let (_, list) = call(
        &app,
        &cookie,
        reqwest::Method::GET,
        "/api/console/sites/shop/workflows",
        None,
    )
    .await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let (_, wf) = call(
        &app,
        &cookie,
        reqwest::Method::GET,
        "/api/console/sites/shop/workflows/2",
        None,
    )
    .await;
    assert_eq!(wf["name"], "Hello");
    app.stop().await;
}
both!(the_editor_checks_and_publishes_versions);

#[tokio::test]
async fn the_preview_page_opens_the_chat_from_the_relays_own_origin() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = reqwest::get(app.url("/preview/shop"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-site=\"shop\"") && page.contains("removeItem"),
        "{page}"
    );
    let own = app.url("");
    let mut c = app
        .socket(SITE, Some(own.trim_end_matches('/')))
        .await
        .expect("the relay's own origin may open it");
    c.send(&ClientFrame::Hello {
        site: SITE.into(),
        visitor_token: None,
        last_seq: None,
        lang: None,
    })
    .await;
    assert!(matches!(c.recv().await, ServerFrame::Welcome { .. }));
    app.stop().await;
}

/// A payment asked for by hand answers at once even while Stripe hangs (the card comes
/// when Stripe has made the link), and the same request key twice (a double-click) makes
/// one payment.
async fn a_manual_payment_never_waits_on_stripe_and_a_double_click_makes_one(backend: Backend) {
    use axum::http::Method;
    use common::standin::Delay;
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe().await;
    let cookie = common::owner_cookie(&app).await;
    let (mut v, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    let path = format!("/api/console/sites/shop/conversations/{conversation}/payments");
    let body =
        json!({ "amount": "25", "currency": "USD", "description": "Repair", "request_key": "req_click_1" });

    // Stripe hangs: the request still answers at once.
    stripe.delay(
        Method::POST,
        "/v1/checkout/sessions",
        Delay::Start(Duration::from_secs(2)),
        1,
    );
    let started = std::time::Instant::now();
    let (s, first) = call(&app, &cookie, reqwest::Method::POST, &path, Some(body.clone())).await;
    assert_eq!((s, first["status"].as_str()), (200, Some("creating")), "{first}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let (s, second) = call(&app, &cookie, reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!(s, 200);
    assert_eq!(
        first["payment"], second["payment"],
        "the same key, the same payment"
    );

    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    let cards = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::PaymentCard { .. }))
        .count();
    assert_eq!(cards, 1);
    assert!(
        v.try_recv(Duration::from_millis(500)).await.is_none(),
        "no second card"
    );
    let creates = stripe
        .calls()
        .into_iter()
        .filter(|c| c.method == Method::POST && c.path == "/v1/checkout/sessions")
        .count();
    assert_eq!(creates, 1, "one create call");
    app.stop().await;
}
both!(a_manual_payment_never_waits_on_stripe_and_a_double_click_makes_one);

/// A payment asked for by hand whose relay stopped before Stripe was called is opened by
/// the recovery sweep like a workflow's, and its card reaches the visitor.
async fn an_interrupted_manual_payment_is_recovered(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (mut v, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    // Written, then the relay "stopped": no create call was made.
    let id = chatpay_server::store::new_id("pay");
    let mut tx = app.state.store.begin().await.unwrap();
    chatpay_server::store::payments::insert(
        &mut tx,
        &chatpay_server::store::payments::NewPayment {
            id: &id,
            site_id: &shop(),
            conversation_id: Some(&conversation),
            amount_minor: 2500,
            currency: "USD",
            description: "Repair",
            expires_at: chatpay_server::stripe::lifetime::link_expiry(30),
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
    sqlx::query("UPDATE payments SET created_at = created_at - 60000 WHERE id = $1")
        .bind(&id)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    chatpay_server::sweep::sweep(&app.state).await;
    let frames = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await;
    assert!(
        matches!(frames.last(), Some(ServerFrame::PaymentCard { payment, amount: 2500, .. }) if *payment == id)
    );
    assert!(app.payment(&id).await.session_id.is_some());
    app.stop().await;
}
both!(an_interrupted_manual_payment_is_recovered);

/// Scripted visitors once pushed a real waiting customer out of the inbox (a list capped at
/// 200, no paging). The list is paged by a cursor: every conversation is on some page.
async fn the_inbox_pages_every_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cookie = common::owner_cookie(&app).await;
    let (_, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome {
        conversation: real, ..
    } = welcome
    else {
        unreachable!()
    };
    for _ in 0..120 {
        app.visitor(None, None).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/console/sites/shop/conversations?limit=50&before={c}"),
            None => "/api/console/sites/shop/conversations?limit=50".into(),
        };
        let (s, page) = call(&app, &cookie, reqwest::Method::GET, &path, None).await;
        assert_eq!(s, 200, "{page}");
        for c in page["conversations"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (121, 121), "each conversation once");
    assert!(seen.contains(&real), "the first visitor is still reachable");
    let (s, e) = call(
        &app,
        &cookie,
        reqwest::Method::GET,
        "/api/console/sites/shop/conversations?before=nope",
        None,
    )
    .await;
    assert_eq!(s, 400, "{e}");
    app.stop().await;
}
both!(the_inbox_pages_every_conversation);
