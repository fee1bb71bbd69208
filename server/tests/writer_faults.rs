//! A failed write must never poison the writer: after a disk-full error and a rolled-back
//! transaction, every later acknowledgement is really on disk, and a transaction in which a
//! statement failed never commits what is left of it. On SQLite and PostgreSQL.

mod common;

use chatpay_server::domain::SiteId;
use chatpay_server::store::Store;
use chatpay_shared::protocol::{ErrorCode, PaymentStatus, ServerFrame};
use common::{paid_event, Backend, TestApp};
use serde_json::json;

/// Reproduces the poisoned writer: SQLite fills up (`SQLITE_FULL` rolls the whole
/// transaction back by itself), space comes back, a duplicate webhook rolls a transaction
/// back, and then a paid webhook is acknowledged. It must be on disk: a fresh connection
/// (what a restart sees) reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_then_a_rollback_does_not_poison_the_writer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let secret = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    let session = payment.session_id.clone().unwrap();
    let (mut visitor, _) = app.visitor(None, None).await;
    visitor.until(|f| matches!(f, ServerFrame::Message { .. })).await;

    // The disk is full: the writer may not grow the file any more.
    let store = &app.state.store;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(store.reader())
        .await
        .unwrap();
    store
        .on_writer(&format!("PRAGMA max_page_count = {pages}"))
        .await
        .unwrap();
    let mut refused = false;
    for i in 0..60 {
        visitor.send_text(&format!("big-{i}"), &"x".repeat(2000)).await;
        match visitor.recv().await {
            ServerFrame::Error {
                code: ErrorCode::Internal,
                message,
            } => {
                assert!(message.contains("not saved"), "{message}");
                refused = true;
                break;
            }
            ServerFrame::Message { .. } => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert!(refused, "a write failed with a full disk");

    // Space comes back.
    store
        .on_writer("PRAGMA max_page_count = 1073741823")
        .await
        .unwrap();

    // A duplicate delivery rolls its transaction back.
    let other = json!({"id": "evt_other_1", "type": "customer.created", "data": {"object": {}}}).to_string();
    assert_eq!(app.webhook(&secret, &other).await.0, 200);
    let (status, answer) = app.webhook(&secret, &other).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("duplicate")));

    // The visitor pays; the relay acknowledges it...
    let (status, answer) = app
        .webhook(&secret, &paid_event("evt_paid_1", &payment.id, &session))
        .await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    // ...and a visitor message is confirmed.
    let echoed = visitor.say("after-1", "still there?").await;
    assert!(matches!(echoed, ServerFrame::Message { .. }), "{echoed:?}");

    // What was acknowledged is on disk: a fresh connection, as after a restart, sees it.
    let fresh = Store::connect(&app.db.url).await.unwrap();
    assert_eq!(
        fresh.payment(&payment.id).await.unwrap().unwrap().status,
        PaymentStatus::Paid,
        "the acknowledged paid webhook is stored"
    );
    let history = fresh
        .history_after(&conversation_of(&app).await, 0, 500)
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|f| matches!(f, ServerFrame::Message { text, .. } if text == "still there?")),
        "the confirmed message is stored"
    );
    fresh.close().await;
    app.stop().await;
}

async fn conversation_of(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT id FROM conversations ORDER BY created_at DESC LIMIT 1")
        .fetch_one(app.state.store.reader())
        .await
        .unwrap()
}

/// A statement fails inside a transaction and the caller carries on: the commit must fail
/// and store nothing (PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK and
/// no error; SQLite would commit the rest), and the next transaction works.
async fn a_failed_statement_never_commits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = &app.state.store;

    let mut tx = store.begin().await.unwrap();
    sqlx::query("INSERT INTO sites (id, name, greeting, created_at) VALUES ('ghost', 'Ghost', '', 0)")
        .execute(&mut tx)
        .await
        .unwrap();
    let failed =
        sqlx::query("INSERT INTO site_origins (site_id, origin) VALUES ('no-such-site', 'https://x.test')")
            .execute(&mut tx)
            .await;
    assert!(failed.is_err(), "the foreign key refuses the row");
    assert!(
        tx.commit().await.is_err(),
        "a transaction with a failed statement does not commit"
    );
    assert!(
        store
            .site(&SiteId::parse("ghost").unwrap())
            .await
            .unwrap()
            .is_none(),
        "nothing of it is stored"
    );

    // The writer still works, and what it acknowledges is stored.
    let mut tx = store.begin().await.unwrap();
    sqlx::query("INSERT INTO sites (id, name, greeting, created_at) VALUES ('real', 'Real', '', 0)")
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let fresh = Store::connect(&app.db.url).await.unwrap();
    assert!(fresh
        .site(&SiteId::parse("real").unwrap())
        .await
        .unwrap()
        .is_some());
    fresh.close().await;
    app.stop().await;
}
both!(a_failed_statement_never_commits);

/// The writer connection is left with a transaction still open (the shape of the old
/// wedge): the next write transaction refuses it, replaces it, and `/readyz` proves writes
/// reach another connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_left_inside_a_transaction_is_replaced() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.state
        .store
        .on_writer(
            "BEGIN; INSERT INTO sites (id, name, greeting, created_at) VALUES ('held', 'Held', '', 0);",
        )
        .await
        .unwrap();
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], true, "{body}");
    assert!(
        app.state
            .store
            .site(&SiteId::parse("held").unwrap())
            .await
            .unwrap()
            .is_none(),
        "what the held transaction wrote was rolled back, not committed later"
    );
    app.stop().await;
}

/// `/readyz` says which check failed when the database takes no writes; `/healthz` stays
/// the cheap liveness probe.
async fn readyz_names_the_failed_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), 200);

    app.state.store.close_writer().await;
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (body["ready"].as_bool(), body["failed"].as_str()),
        (Some(false), Some("write")),
        "{body}"
    );
    assert!(
        body["reason"].as_str().unwrap().contains("did not commit"),
        "{body}"
    );
    app.stop().await;
}
both!(readyz_names_the_failed_check);

/// A 200 tells Stripe never to send the event again, so it must wait until the commit is on
/// disk: with `synchronous = NORMAL` a commit is in the WAL but not synced, and a power cut
/// loses it. When the sync fails (a dying disk), the webhook is not acknowledged — its first
/// delivery and its redelivery (a duplicate of a commit that never got to disk) — and Stripe
/// retries; the log says why. (Before: 200 with nothing synced.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_acknowledged_only_once_it_is_on_disk() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut store = Store::connect(&db.url).await.unwrap();
    common::add_shop(&store).await;
    store.inject_faults(chatpay_server::store::faults::Faults::parse("sync_fail=1").unwrap());
    let app = TestApp::serve_store(
        db,
        store,
        None,
        chatpay_server::assets::WidgetAssets::none(),
        |_| {},
    )
    .await;
    let secret = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    let event = paid_event(
        "evt_unsynced",
        &payment.id,
        payment.session_id.as_deref().unwrap(),
    );
    for delivery in ["first", "again"] {
        let (status, body) = app.webhook(&secret, &event).await;
        assert_eq!(status, 500, "{delivery} delivery: not acknowledged, {body}");
        assert_eq!(body["error"]["code"], "internal", "{delivery} delivery: {body}");
    }
    app.stop().await;
}
