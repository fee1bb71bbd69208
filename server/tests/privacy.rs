//! A visitor's data on request, from the console: a conversation exported as JSON (its
//! transcript, payments and the run's answers), erased (CSRF-protected, gone from the export
//! too), and a site's retention that erases conversations nobody touched for its days — once,
//! and only those. On SQLite and PostgreSQL.

mod common;

use chatpay_server::store::erase::ERASED;
use chatpay_shared::console::ConversationExport;
use chatpay_shared::protocol::ServerFrame;
use common::{shop, Backend, TestApp};
use serde_json::{json, Value};

const ASK_NAME: &str = r#"{"format":1,"start":"a","nodes":[{"id":"a","type":"ask","text":"Name?","variable":"n","next":"b"},{"id":"b","type":"send_message","text":"Thanks <<n>>"}]}"#;

use common::console as send;

/// A visitor who answered the workflow's question with `name`; returns the conversation id.
async fn visitor_named(app: &TestApp, name: &str) -> String {
    visitor_socket_named(app, name).await.1
}

/// [`visitor_named`], with the visitor's socket still open.
async fn visitor_socket_named(app: &TestApp, name: &str) -> (common::Client, String) {
    let (mut v, welcome) = app.visitor(None, None).await;
    let ServerFrame::Welcome { conversation, .. } = welcome else {
        unreachable!()
    };
    v.recv().await;
    v.say("n1", name).await;
    v.until(|f| matches!(f, ServerFrame::Message { text, .. } if text.starts_with("Thanks")))
        .await;
    (v, conversation)
}

async fn a_conversation_exports_and_erases_from_the_console(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    app.publish(ASK_NAME).await;
    let cookie = common::owner_cookie(&app).await;
    let (mut visitor, conversation) = visitor_socket_named(&app, "Ada Lovelace").await;
    let payment = app.create_payment(1500, "EUR", Some(&conversation)).await;

    let export = format!("/api/console/sites/shop/conversations/{conversation}/export");
    let resp = reqwest::Client::new()
        .get(app.url(&export))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("conversation-{conversation}.json")));
    let doc: ConversationExport = resp.json().await.unwrap();
    assert_eq!(doc.format, "chatpay.conversation.v1");
    assert_eq!(
        (doc.site.as_str(), doc.conversation.id.as_str()),
        ("shop", conversation.as_str())
    );
    assert!(doc
        .history
        .iter()
        .any(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Ada Lovelace")));
    assert_eq!(doc.answers.get("n").map(String::as_str), Some("Ada Lovelace"));
    assert_eq!(
        doc.client_ip.as_deref(),
        Some("127.0.0.1"),
        "the address it came from"
    );
    assert_eq!(doc.workflow_version, Some(1));
    assert_eq!(doc.payments.len(), 1);
    assert_eq!(
        (doc.payments[0].id.as_str(), doc.payments[0].amount.as_str()),
        (payment.id.as_str(), "15.00")
    );

    // Not without a session, nor another site's.
    let anonymous = reqwest::get(app.url(&export)).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let (s, _) = send(
        &app,
        &cookie,
        reqwest::Method::GET,
        "/api/console/sites/shop/conversations/conv_nope/export",
        None,
    )
    .await;
    assert_eq!(s, 404);

    // Erase needs the console's header (CSRF), like every write.
    let erase = format!("/api/console/sites/shop/conversations/{conversation}/erase");
    let forged = reqwest::Client::new()
        .post(app.url(&erase))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(forged.status(), 200);
    let kept = app
        .state
        .store
        .history_after(&conversation, 0, 100)
        .await
        .unwrap();
    assert!(
        kept.iter()
            .any(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Ada Lovelace")),
        "a write without the header erases nothing"
    );
    let (s, v) = send(&app, &cookie, reqwest::Method::POST, &erase, Some(json!({}))).await;
    assert_eq!((s, &v["erased"]), (200, &json!(true)), "{v}");
    // A tab still open on the erased conversation cannot write the visitor's details back.
    visitor
        .send(&chatpay_shared::protocol::ClientFrame::Visitor {
            name: Some("Ada Again".into()),
            email: Some("ada@again.test".into()),
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, doc) = send(&app, &cookie, reqwest::Method::GET, &export, None).await;
    let doc: ConversationExport = serde_json::from_value(doc).unwrap();
    assert_eq!(
        (doc.conversation.visitor_name, doc.conversation.visitor_email),
        (None, None)
    );
    assert!(!doc
        .history
        .iter()
        .any(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("Ada"))));
    assert!(doc.answers.is_empty());
    assert_eq!(doc.client_ip, None, "the address goes with it");
    assert_eq!(doc.payments[0].description, ERASED);
    assert_eq!(
        doc.payments[0].amount, "15.00",
        "the amount stays for the accounts"
    );
    // An event about it queued after the erase (a webhook's, racing it) is not kept.
    app.state
        .store
        .set_hook(&app.state.cipher, &shop(), "https://orders.example/hook", false)
        .await
        .unwrap();
    let queued = app
        .state
        .store
        .enqueue_hook_event(
            &shop(),
            Some(&conversation),
            "evt_late",
            "payment.paid",
            r#"{"description":"Ada's order"}"#,
        )
        .await
        .unwrap();
    assert_eq!(queued, None, "no event about an erased conversation");
    // Nor can a person: an erased conversation takes no reply, takeover, hand-back or
    // payment, each refused with why (the retention never looks at it again, so anything
    // written now would stay for good).
    let base = format!("/api/console/sites/shop/conversations/{conversation}");
    for (path, body) in [
        ("reply", json!({ "text": "Ada, your order shipped" })),
        ("takeover", json!({})),
        ("handback", json!({})),
        (
            "payments",
            json!({ "amount": "5.00", "currency": "EUR", "description": "Ada's extra" }),
        ),
    ] {
        let (s, v) = send(
            &app,
            &cookie,
            reqwest::Method::POST,
            &format!("{base}/{path}"),
            Some(body),
        )
        .await;
        assert_eq!(s, 409, "{path}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("erased"),
            "{path}: {v}"
        );
    }
    let (_, doc) = send(&app, &cookie, reqwest::Method::GET, &export, None).await;
    let doc: ConversationExport = serde_json::from_value(doc).unwrap();
    assert!(!serde_json::to_string(&doc.history).unwrap().contains("Ada"));
    assert_eq!(doc.payments.len(), 1);
    assert_eq!(
        doc.conversation.status,
        chatpay_shared::protocol::ConversationStatus::Closed
    );
    app.stop().await;
}
both!(a_conversation_exports_and_erases_from_the_console);

async fn retention_erases_old_conversations_once_and_only_those(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.publish(ASK_NAME).await;
    let cookie = common::owner_cookie(&app).await;
    let old = visitor_named(&app, "Grace Hopper").await;
    let fresh = visitor_named(&app, "Alan Turing").await;
    // The oldest of all cannot be erased (its stored run was damaged by hand): it must not
    // hold back the others of the sweep's batch.
    let broken = visitor_named(&app, "Edsger Dijkstra").await;
    let mut tx = app.state.store.begin().await.unwrap();
    for (id, days) in [(&old, 31), (&broken, 40)] {
        sqlx::query("UPDATE conversations SET updated_at = updated_at - $1 WHERE id = $2")
            .bind(days * 86_400_000_i64)
            .bind(id)
            .execute(&mut tx)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE runs SET state = 'not a run' WHERE conversation_id = $1")
        .bind(&broken)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Kept by default: nothing is erased.
    assert_eq!(
        chatpay_server::privacy::enforce_retention(&app.state.store)
            .await
            .unwrap(),
        0
    );

    // A retention that is not one is named with the fix.
    let path = "/api/console/sites/shop/retention";
    let (s, v) = send(
        &app,
        &cookie,
        reqwest::Method::PUT,
        path,
        Some(json!({ "days": 0 })),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["field"], "days", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("use 1 to 3650 days"),
        "{v}"
    );
    let (s, v) = send(
        &app,
        &cookie,
        reqwest::Method::PUT,
        path,
        Some(json!({ "days": 30 })),
    )
    .await;
    assert_eq!((s, &v["retention_days"]), (200, &json!(30)), "{v}");

    // The sweep erases the old one, once; the fresh one stays.
    chatpay_server::sweep::sweep(&app.state).await;
    let old_now = app.state.store.history_after(&old, 0, 100).await.unwrap();
    assert!(!old_now
        .iter()
        .any(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("Grace"))));
    let broken_now = app.state.store.history_after(&broken, 0, 100).await.unwrap();
    assert!(
        broken_now
            .iter()
            .any(|f| matches!(f, ServerFrame::Message { text, .. } if text.contains("Edsger"))),
        "the damaged one is left (and said in the log) for the next sweep"
    );
    let fresh_now = app.state.store.history_after(&fresh, 0, 100).await.unwrap();
    assert!(fresh_now
        .iter()
        .any(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Alan Turing")));
    assert_eq!(
        chatpay_server::privacy::enforce_retention(&app.state.store)
            .await
            .unwrap(),
        0,
        "erased once"
    );

    // Back to keeping them.
    let (s, v) = send(
        &app,
        &cookie,
        reqwest::Method::PUT,
        path,
        Some(json!({ "days": null })),
    )
    .await;
    assert_eq!((s, &v["retention_days"]), (200, &Value::Null), "{v}");
    app.stop().await;
}
both!(retention_erases_old_conversations_once_and_only_those);

/// A payment asked for by hand just before the erase, whose Checkout link Stripe makes just
/// after: its card (with the description the agent typed) is not written into the erased
/// conversation. The visitor may still pay the link they have: the owner's webhook hears of
/// that money, without the erased description.
async fn a_link_made_after_the_erase_writes_nothing_back(backend: Backend) {
    use common::standin::Delay;
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    app.connect_stripe().await;
    app.publish(ASK_NAME).await;
    let cookie = common::owner_cookie(&app).await;
    app.state
        .store
        .set_hook(&app.state.cipher, &shop(), "http://127.0.0.1:9/never", false)
        .await
        .unwrap();
    let conversation = visitor_named(&app, "Ada Lovelace").await;
    stripe.delay(
        reqwest::Method::POST,
        "/v1/checkout/sessions",
        Delay::Answer(std::time::Duration::from_millis(1500)),
        1,
    );
    let base = format!("/api/console/sites/shop/conversations/{conversation}");
    let (s, v) = send(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/payments"),
        Some(json!({ "amount": "12.00", "currency": "EUR", "description": "Ada's secret order" })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = send(
        &app,
        &cookie,
        reqwest::Method::POST,
        &format!("{base}/erase"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // The link is made now, after the erase.
    let payment = common::eventually(std::time::Duration::from_secs(10), || async {
        let ps = app
            .state
            .store
            .conversation_payments(&conversation)
            .await
            .unwrap();
        match ps.first() {
            Some(p) if p.checkout_url.is_some() => Ok(p.clone()),
            other => Err(format!("no link yet: {other:?}")),
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let history = app
        .state
        .store
        .history_after(&conversation, 0, 100)
        .await
        .unwrap();
    let said = serde_json::to_string(&history).unwrap();
    assert!(!said.contains("secret order"), "{said}");

    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, chatpay_shared::protocol::PaymentStatus::Paid)
        .await;
    let told = common::eventually(std::time::Duration::from_secs(10), || async {
        let d = app.state.store.hook_deliveries(&shop(), 10).await.unwrap();
        d.into_iter()
            .find(|d| d.event_type == "payment.paid")
            .ok_or("no payment.paid queued".to_owned())
    })
    .await;
    assert!(told.payload.contains(&payment.id), "{}", told.payload);
    assert!(!told.payload.contains("secret order"), "{}", told.payload);
    app.stop().await;
}
both!(a_link_made_after_the_erase_writes_nothing_back);

/// SQLite: an erase while a long read holds the WAL (a big CSV download, a backup) answers
/// at once, and the erased text leaves the WAL file as soon as the read ends (the sweep
/// finishes the wipe); nothing stays behind for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erase_during_a_long_read_wipes_the_wal_when_the_read_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.publish(ASK_NAME).await;
    let conversation = visitor_named(&app, "Zebra Quagga").await;
    let path = app.db.url.trim_start_matches("sqlite://").to_owned();
    let wal = format!("{path}-wal");
    let holds = |file: &str| {
        std::fs::read(file)
            .map(|b| b.windows(12).any(|w| w == b"Zebra Quagga"))
            .unwrap_or(false)
    };
    // A reader in the middle of a long read: its snapshot pins the WAL.
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert!(n > 0);

    let erased = app.state.store.erase_conversation(&shop(), &conversation).await;
    assert!(matches!(erased, Ok(true)), "the erase is done: {erased:?}");
    // The read ends; the next sweep empties the WAL.
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    chatpay_server::sweep::sweep(&app.state).await;
    assert!(!holds(&wal), "the WAL still holds the erased name");
    assert!(!holds(&path), "the database file still holds the erased name");
    app.stop().await;
}
