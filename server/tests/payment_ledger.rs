//! Who paid what stays true after Stripe: refunds and disputes an owner (or a bank) makes at
//! Stripe reach the payment through the same verified webhook; the payment keeps who asked
//! and the PaymentIntent; the owner's Payments list and CSV show it, filtered by status and
//! date. Through the real client, the simulator's signed events and the console API, on
//! SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use chatpay_shared::console::PaymentList;
use chatpay_shared::protocol::PaymentStatus;
use common::{eventually, Backend, TestApp, STRIPE_KEY};
use serde_json::Value;

/// Posts to the simulator's API with the shop's key.
async fn at_stripe(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/simulator/stripe/v1/{path}")))
        .bearer_auth(STRIPE_KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn console_get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

async fn list(app: &TestApp, cookie: &str, query: &str) -> PaymentList {
    let resp = console_get(app, cookie, &format!("/api/console/sites/shop/payments{query}")).await;
    assert_eq!(resp.status(), 200, "{query}");
    resp.json().await.unwrap()
}

/// A payment of `amount_minor` in `currency`, paid in the simulator's Checkout: the stored
/// payment as it is once paid (its PaymentIntent kept).
async fn paid_payment(
    app: &TestApp,
    amount_minor: i64,
    currency: &str,
) -> chatpay_server::store::payments::Payment {
    let payment = app.create_payment(amount_minor, currency, None).await;
    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, PaymentStatus::Paid).await
}

async fn refunds_and_disputes_at_stripe_reach_the_payment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let cookie = common::owner_cookie(&app).await;
    let paid = paid_payment(&app, 4999, "USD").await;
    let payment = &paid;
    let pi = paid
        .payment_intent
        .clone()
        .expect("the paying PaymentIntent is kept");
    assert!(pi.starts_with("pi_"), "{pi}");

    // Part of it refunded at Stripe: still paid, the refund beside it.
    let (status, refund) = at_stripe(&app, "refunds", &[("payment_intent", &pi), ("amount", "1000")]).await;
    assert_eq!(status, 200, "{refund}");
    eventually(Duration::from_secs(10), || async {
        let p = app.payment(&payment.id).await;
        (p.refunded_minor == 1000)
            .then_some(())
            .ok_or(format!("refunded {} so far", p.refunded_minor))
    })
    .await;
    let shown = list(&app, &cookie, "").await;
    let row = &shown.payments[0];
    assert_eq!((row.status.as_str(), row.amount.as_str()), ("paid", "49.99"));
    assert_eq!(row.detail.as_deref(), Some("10.00 USD refunded"));
    assert_eq!(row.refunded, "10.00");
    assert!(row
        .stripe_url
        .as_deref()
        .unwrap()
        .ends_with(&format!("/simulator/#{pi}")));
    assert_eq!(shown.totals[0].net, "39.99");

    // More than is left: Stripe's own refusal, and nothing changes here.
    let (status, err) = at_stripe(&app, "refunds", &[("payment_intent", &pi), ("amount", "4000")]).await;
    assert_eq!(status, 400, "{err}");
    // The rest: refunded.
    let (status, _) = at_stripe(&app, "refunds", &[("payment_intent", &pi)]).await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(10), || async {
        let p = app.payment(&payment.id).await;
        (p.refunded_minor == 4999)
            .then_some(())
            .ok_or(format!("refunded {} so far", p.refunded_minor))
    })
    .await;
    let p = app.payment(&payment.id).await;
    assert_eq!(
        p.status,
        PaymentStatus::Paid,
        "the run's answer stays: it was paid"
    );
    let shown = list(&app, &cookie, "?status=refunded").await;
    assert_eq!(shown.payments.len(), 1);
    assert_eq!(shown.payments[0].status, "refunded");
    assert_eq!(shown.totals[0].net, "0.00");
    assert!(list(&app, &cookie, "?status=paid").await.payments.is_empty());

    // A dispute opened by the bank: the payment shows it, the conversation-less payment
    // needs no notice; closing it won keeps it won even when an older word comes late.
    let other = paid_payment(&app, 2500, "EUR").await;
    let other_pi = other.payment_intent.clone().unwrap();
    let (status, dispute) = at_stripe(&app, "test_helpers/disputes", &[("payment_intent", &other_pi)]).await;
    assert_eq!(status, 200, "{dispute}");
    eventually(Duration::from_secs(10), || async {
        let p = app.payment(&other.id).await;
        (p.dispute.as_deref() == Some("needs_response"))
            .then_some(())
            .ok_or(format!("dispute {:?}", p.dispute))
    })
    .await;
    let shown = list(&app, &cookie, "?status=disputed").await;
    assert_eq!(shown.payments.len(), 1);
    assert_eq!(shown.payments[0].id, other.id);
    assert_eq!(
        shown.payments[0].detail.as_deref(),
        Some("dispute: needs response")
    );
    // Stripe takes a disputed amount back while the dispute is open: not money kept.
    assert_eq!(
        (shown.totals[0].paid.as_str(), shown.totals[0].net.as_str()),
        ("25.00", "0.00"),
        "{:?}",
        shown.totals
    );
    let (status, _) = at_stripe(
        &app,
        "test_helpers/disputes",
        &[("payment_intent", &other_pi), ("status", "won")],
    )
    .await;
    assert_eq!(status, 200);
    eventually(Duration::from_secs(10), || async {
        let p = app.payment(&other.id).await;
        (p.dispute.as_deref() == Some("won"))
            .then_some(())
            .ok_or(format!("dispute {:?}", p.dispute))
    })
    .await;
    let late = serde_json::json!({
        "id": "evt_late_dispute", "object": "event", "type": "charge.dispute.updated", "created": 1,
        "livemode": false,
        "data": { "object": { "id": dispute["id"], "object": "dispute", "payment_intent": other_pi,
                              "status": "under_review" } }
    })
    .to_string();
    let (status, _) = app.webhook(&secret, &late).await;
    assert_eq!(status, 200);
    assert_eq!(app.payment(&other.id).await.dispute.as_deref(), Some("won"));
    let shown = list(&app, &cookie, "?status=paid").await;
    assert_eq!(shown.payments.len(), 1, "a won dispute leaves it paid");
    assert_eq!(shown.totals[0].net, "25.00", "a won dispute gives it back");

    // A dispute status Stripe does not have is not kept; a closed dispute stays as it closed.
    let odd = |id: &str, status: &str| {
        serde_json::json!({
            "id": id, "object": "event", "type": "charge.dispute.updated", "created": 1, "livemode": false,
            "data": { "object": { "id": dispute["id"], "object": "dispute", "payment_intent": other_pi, "status": status } }
        })
        .to_string()
    };
    assert_eq!(
        app.webhook(&secret, &odd("evt_odd_1", "<img src=x onerror=alert(1)>"))
            .await
            .0,
        200
    );
    assert_eq!(app.webhook(&secret, &odd("evt_odd_2", "lost")).await.0, 200);
    assert_eq!(app.payment(&other.id).await.dispute.as_deref(), Some("won"));

    // A refund larger than the payment (a forged or foreign-unit amount) counts as all of it,
    // and the page and its totals still answer.
    let third = paid_payment(&app, 1000, "USD").await;
    let third_pi = third.payment_intent.clone().unwrap();
    let huge = serde_json::json!({
        "id": "evt_huge_refund", "object": "event", "type": "charge.refunded", "created": 1, "livemode": false,
        "data": { "object": { "id": "ch_h", "object": "charge", "payment_intent": third_pi, "amount_refunded": i64::MAX } }
    })
    .to_string();
    assert_eq!(app.webhook(&secret, &huge).await.0, 200);
    assert_eq!(app.payment(&third.id).await.refunded_minor, 1000);
    let shown = list(&app, &cookie, "").await;
    let usd = shown.totals.iter().find(|t| t.currency == "USD").unwrap();
    assert_eq!(usd.net, "0.00", "{usd:?}");

    // An inquiry that closed, then a chargeback on the same payment: the chargeback counts.
    let fourth = paid_payment(&app, 3000, "USD").await;
    let fourth_pi = fourth.payment_intent.clone().unwrap();
    for status in ["warning_needs_response", "warning_closed", "needs_response"] {
        let (s, d) = at_stripe(
            &app,
            "test_helpers/disputes",
            &[("payment_intent", &fourth_pi), ("status", status)],
        )
        .await;
        assert_eq!(s, 200, "{d}");
        eventually(Duration::from_secs(10), || async {
            let p = app.payment(&fourth.id).await;
            (p.dispute.as_deref() == Some(status))
                .then_some(())
                .ok_or(format!("dispute {:?}, not {status}", p.dispute))
        })
        .await;
    }
    let shown = list(&app, &cookie, "?status=disputed").await;
    let usd = shown.totals.iter().find(|t| t.currency == "USD").unwrap();
    assert_eq!(usd.disputed, "30.00", "{usd:?}");

    // A charge of another site's PaymentIntent, or of none: nothing here moves.
    let stranger = serde_json::json!({
        "id": "evt_stranger", "object": "event", "type": "charge.refunded", "created": 1, "livemode": false,
        "data": { "object": { "id": "ch_x", "object": "charge", "payment_intent": "pi_not_ours", "amount_refunded": 1 } }
    })
    .to_string();
    assert_eq!(app.webhook(&secret, &stranger).await.0, 200);
    assert_eq!(app.payment(&other.id).await.refunded_minor, 0);
    app.stop().await;
}
both!(refunds_and_disputes_at_stripe_reach_the_payment);

async fn the_list_filters_by_status_and_date_and_the_csv_matches_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let cookie = common::owner_cookie(&app).await;
    let paid = paid_payment(&app, 1250, "USD").await;
    let pending = app.create_payment(300000, "JPY", None).await;

    let all = list(&app, &cookie, "").await;
    assert_eq!(all.payments.len(), 2);
    assert_eq!(all.payments[0].id, pending.id, "newest first");
    let jpy = all.totals.iter().find(|t| t.currency == "JPY").unwrap();
    assert_eq!((jpy.payments, jpy.paid.as_str()), (1, "0"));
    let usd = all.totals.iter().find(|t| t.currency == "USD").unwrap();
    assert_eq!((usd.payments, usd.paid.as_str()), (1, "12.50"));

    let pend = list(&app, &cookie, "?status=pending").await;
    assert_eq!(pend.payments.len(), 1);
    assert_eq!(pend.payments[0].amount, "300000");

    // Dates are UTC days, both ends included: yesterday alone has nothing.
    let today = time_of(chatpay_server::store::now_ms());
    let yesterday = time_of(chatpay_server::store::now_ms() - 86_400_000);
    assert_eq!(
        list(&app, &cookie, &format!("?from={today}&to={today}"))
            .await
            .payments
            .len(),
        2
    );
    assert!(list(&app, &cookie, &format!("?to={yesterday}"))
        .await
        .payments
        .is_empty());

    // The CSV: the same rows, amounts in major units beside the code.
    let resp = console_get(&app, &cookie, "/api/console/sites/shop/payments.csv?status=paid").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("payments-shop.csv"));
    let text = resp.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "created_utc,payment,status,detail,amount,currency,refunded,description,conversation,asked_by,stripe"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains(&format!(
            ",{},paid,,12.50,USD,0.00,Support contract deposit,,agent,",
            paid.id
        )),
        "{}",
        lines[1]
    );

    // Bad filters are named with the fix; another account's site is not there.
    let bad = console_get(&app, &cookie, "/api/console/sites/shop/payments?status=settled").await;
    assert_eq!(bad.status(), 400);
    let why: Value = bad.json().await.unwrap();
    assert!(
        why["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown status 'settled'"),
        "{why}"
    );
    let bad = console_get(&app, &cookie, "/api/console/sites/shop/payments?from=2026-13-01").await;
    assert_eq!(bad.status(), 400);
    let why: Value = bad.json().await.unwrap();
    assert!(
        why["error"]["message"].as_str().unwrap().contains("YYYY-MM-DD"),
        "{why}"
    );
    // A date with a sign, a repeated parameter, a megabyte of digits: named, in JSON, cut.
    for query in [
        "from=2026-%2B1-02".to_owned(),
        "from=2026-12-01&from=2026-12-02".to_owned(),
        format!("to={}", "9".repeat(10_000)),
    ] {
        let bad = console_get(
            &app,
            &cookie,
            &format!("/api/console/sites/shop/payments?{query}"),
        )
        .await;
        assert_eq!(bad.status(), 400, "{query}");
        let why: Value = bad.json().await.unwrap();
        assert!(why["error"]["message"].as_str().unwrap().len() < 300, "{why}");
    }
    let anonymous = reqwest::get(app.url("/api/console/sites/shop/payments.csv"))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    app.stop().await;
}
both!(the_list_filters_by_status_and_date_and_the_csv_matches_it);

/// `YYYY-MM-DD` (UTC) of a Unix ms.
fn time_of(ms: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A site with more payments than a page lists: the status filter still finds the older
/// ones, the totals are of every match (not only the page's), the page says it holds
/// fewer, and the CSV has them all.
async fn a_filter_finds_payments_older_than_a_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let cookie = common::owner_cookie(&app).await;
    let paid = paid_payment(&app, 1250, "USD").await;
    // Then more newer requests than a page lists, none paid.
    let newer = chatpay_server::payments::report::PAGE_LIMIT as usize + 20;
    let mut tx = app.state.store.begin().await.unwrap();
    for n in 0..newer {
        common::insert_pending(&mut tx, &format!("pay_later_{n}"), 100, "USD", None).await;
    }
    tx.commit().await.unwrap();

    let only_paid = list(&app, &cookie, "?status=paid").await;
    assert_eq!(only_paid.payments.len(), 1, "the paid one, older than a page");
    assert_eq!(only_paid.payments[0].id, paid.id);
    assert!(!only_paid.truncated);
    let usd = &only_paid.totals[0];
    assert_eq!((usd.payments, usd.paid.as_str()), (1, "12.50"));

    let all = list(&app, &cookie, "").await;
    assert_eq!(
        all.payments.len(),
        chatpay_server::payments::report::PAGE_LIMIT as usize
    );
    assert!(all.truncated, "the page says it lists fewer than match");
    let usd = &all.totals[0];
    assert_eq!(
        (usd.payments, usd.paid.as_str()),
        (newer as u64 + 1, "12.50"),
        "the totals are of every match"
    );
    let csv = console_get(&app, &cookie, "/api/console/sites/shop/payments.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1 + newer + 1, "a header and every payment");
    app.stop().await;
}
both!(a_filter_finds_payments_older_than_a_page);
