//! The owner's Payments page in headless Chromium: visitors of the demo workflow pay, leave a
//! link pending, and get refunded at Stripe; the page lists each with who asked and its
//! status, filters by status and date, links to the transcript, and its CSV download holds
//! exactly what the store holds; the conversion charts show the store's figures. Then the
//! visitor's data request: the transcript's Export JSON and Erase, and the site's retention.
//! Screenshots in target/screenshots/console-payments.png and console-conversion.png.

use std::time::Duration;

use chatpay_e2e::visitor::{demo_to_the_card, Visitor};
use chatpay_e2e::{connect_with_simulator, eventually, Browser, Chatpay, Scratch};
use chatpay_server::payments::report::{self, StripeLinks};
use chatpay_server::store::Store;
use chatpay_shared::protocol::{ClientFrame, ServerFrame};

const ORIGIN: &str = "http://shop.test";
const EMAIL: &str = "owner@shop.test";
const PASSWORD: &str = "a long enough password";
const KEY: &str = "sk_test_paymentspage00000000";

/// Pays a card's Checkout link on the simulator's hosted page.
async fn pay(url: &str) -> anyhow::Result<()> {
    let resp = reqwest::Client::new()
        .post(format!("{url}/pay"))
        .form(&[("outcome", "paid")])
        .send()
        .await?;
    anyhow::ensure!(
        resp.status().is_success() || resp.status().is_redirection(),
        "pay answered {}",
        resp.status()
    );
    Ok(())
}

/// A stand-in for the owner's order system: it keeps each POST's `Chatpay-Signature` and
/// body and answers 200.
async fn receiver() -> anyhow::Result<(String, Received)> {
    let got: Received = Default::default();
    let keep = std::sync::Arc::clone(&got);
    let app = axum::Router::new().route(
        "/orders/chatpay",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let keep = std::sync::Arc::clone(&keep);
            async move {
                let sig = headers
                    .get("chatpay-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Ok(mut k) = keep.lock() {
                    k.push((sig, body));
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{addr}/orders/chatpay"), got))
}

/// What the stand-in received: each POST's signature header and body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// The `data-payment` ids of the rows the page shows now.
async fn shown(browser: &Browser) -> anyhow::Result<Vec<String>> {
    let ids = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#payments tbody tr')].map(r => r.dataset.payment);",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(ids)?)
}

async fn wait_shown(browser: &Browser, want: &[&str]) -> anyhow::Result<()> {
    eventually(Duration::from_secs(10), || async {
        let now = shown(browser).await?;
        Ok(if now == want {
            Ok(())
        } else {
            Err(format!("the page shows {now:?}, not {want:?}"))
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payments_page_filters_links_and_downloads_what_the_store_holds() -> anyhow::Result<()> {
    let scratch = Scratch::new("payments-page");
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Acme Support", ORIGIN)?;
    chatpay.import_demo_workflow("shop")?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    let relay = chatpay
        .serve(&["--stripe-simulator", "--outbound-allow-private"])
        .await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let store = Store::connect(&chatpay.database_url).await?;
    let site = chatpay_server::domain::SiteId::parse("shop")?;

    // Three visitors: one pays, one is refunded at Stripe after paying, one leaves it.
    let paid = demo_to_the_card(&relay.base, "shop", ORIGIN, "Install help").await?;
    let refunded = demo_to_the_card(&relay.base, "shop", ORIGIN, "A refund later").await?;
    let pending = demo_to_the_card(&relay.base, "shop", ORIGIN, "Just looking").await?;
    pay(&paid.url).await?;
    pay(&refunded.url).await?;
    let intent = eventually(Duration::from_secs(10), || async {
        let p = store.payment(&refunded.payment).await?;
        Ok(p.and_then(|p| p.payment_intent)
            .ok_or_else(|| "not paid yet".to_owned()))
    })
    .await?;
    let resp = reqwest::Client::new()
        .post(format!("{}/simulator/stripe/v1/refunds", relay.base))
        .bearer_auth(KEY)
        .form(&[("payment_intent", intent.as_str())])
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "the refund: {}", resp.text().await?);
    eventually(Duration::from_secs(10), || async {
        let p = store.payment(&refunded.payment).await?;
        Ok(match p {
            Some(p) if p.refunded_minor == p.amount_minor => Ok(()),
            other => Err(format!("not refunded yet: {other:?}")),
        })
    })
    .await?;
    eventually(Duration::from_secs(10), || async {
        let p = store.payment(&paid.payment).await?;
        Ok(match p.map(|p| p.status) {
            Some(chatpay_shared::protocol::PaymentStatus::Paid) => Ok(()),
            other => Err(format!("first payment is {other:?}")),
        })
    })
    .await?;

    // Version 2 asks the visitor for the amount; one types one that is not an amount: no
    // payment, but a request the conversion counts.
    let v2 = scratch.0.join("v2.json");
    std::fs::write(
        &v2,
        r#"{"format":1,"start":"ask","nodes":[
            {"id":"ask","type":"ask","text":"How much?","variable":"amount","next":"pay"},
            {"id":"pay","type":"request_payment","amount":{"from_variable":"amount"},"currency":"USD",
             "description":"Custom amount","next":"done"},
            {"id":"done","type":"close","text":"Bye."}]}"#,
    )?;
    chatpay.import_workflow("shop", &v2)?;
    let (mut visitor, _) = Visitor::connect(&relay.base, "shop", ORIGIN, None, None).await?;
    visitor
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "How much?"))
        .await?;
    visitor
        .send(&ClientFrame::Text {
            client_id: "amount".into(),
            text: "12,50".into(),
        })
        .await?;
    visitor
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Bye."))
        .await?;

    let browser = Browser::start().await?;
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/payments", relay.base))
        .await?;
    wait_shown(&browser, &[&pending.payment, &refunded.payment, &paid.payment]).await?;
    let row = |id: &str| format!("#payments tr[data-payment=\"{id}\"]");
    let paid_text = browser.find(&row(&paid.payment)).await?.text().await?;
    assert!(paid_text.contains("paid"), "{paid_text}");
    assert!(paid_text.contains("workflow v1"), "who asked: {paid_text}");
    assert!(paid_text.contains("At Stripe"), "{paid_text}");
    let refunded_status = browser
        .find(&format!("{} .pill", row(&refunded.payment)))
        .await?
        .text()
        .await?;
    assert_eq!(refunded_status, "refunded");
    let usd = browser
        .find("#pay-totals tr[data-currency=\"USD\"]")
        .await?
        .text()
        .await?;
    assert!(usd.contains('3'), "three payments in USD: {usd}");
    assert_eq!(
        browser.accessibility_problems(Some(".main")).await?,
        Vec::<String>::new()
    );
    browser
        .client
        .execute(
            "document.getElementById('payments').scrollIntoView(); return true;",
            vec![],
        )
        .await?;
    browser.screenshot("console-payments").await?;

    // Filters: by status, then by dates (UTC days, both ends included).
    browser
        .find("#pay-status")
        .await?
        .select_by_value("pending")
        .await?;
    wait_shown(&browser, &[&pending.payment]).await?;
    browser
        .find("#pay-status")
        .await?
        .select_by_value("refunded")
        .await?;
    wait_shown(&browser, &[&refunded.payment]).await?;
    browser.find("#pay-status").await?.select_by_value("all").await?;
    browser
        .client
        .execute(
            "const i = document.getElementById('pay-to'); i.value = '2020-01-01'; \
             i.dispatchEvent(new Event('change', { bubbles: true })); return true;",
            vec![],
        )
        .await?;
    browser
        .wait_page_text("#no-payments", "No payments match.")
        .await?;
    browser
        .client
        .execute(
            "const i = document.getElementById('pay-to'); i.value = ''; \
             i.dispatchEvent(new Event('change', { bubbles: true })); return true;",
            vec![],
        )
        .await?;
    wait_shown(&browser, &[&pending.payment, &refunded.payment, &paid.payment]).await?;

    // The CSV the page links to, fetched as the browser would download it (with the
    // owner's cookie), holds the store's payments row for row.
    let csv = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(document.getElementById('pay-csv').href).then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![],
        )
        .await?;
    let csv = csv.as_str().unwrap_or_default().to_owned();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let got: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.map(|r| r.iter().map(str::to_owned).collect()))
        .collect::<Result<_, _>>()?;
    let stored = store.site_payments(&site, 0, i64::MAX, 100).await?;
    assert_eq!(got.len(), stored.len(), "{csv}");
    let links = StripeLinks::for_base(&format!("{}/simulator/stripe", relay.base));
    for (line, p) in got.iter().zip(&stored) {
        let want = report::row(p, &links);
        assert_eq!(line[1], p.id);
        assert_eq!(line[2], want.status);
        assert_eq!(line[4], want.amount);
        assert_eq!(line[5], p.currency);
        assert_eq!(line[6], want.refunded);
        assert_eq!(line[8], p.conversation_id.clone().unwrap_or_default());
        assert_eq!(line[9], "workflow v1");
        assert_eq!(line[10], want.stripe_url.clone().unwrap_or_default());
        // A description a spreadsheet would run as a formula is defused.
        let description = if p.description.starts_with('=') {
            format!("'{}", p.description)
        } else {
            p.description.clone()
        };
        assert_eq!(line[7], description);
    }
    assert_eq!(
        stored.iter().map(|p| p.amount_minor).sum::<i64>(),
        got.iter()
            .map(|l| (l[4].parse::<f64>().unwrap_or(0.0) * 100.0).round() as i64)
            .sum::<i64>(),
        "the amounts add up in major units"
    );

    // The conversion: the charts' figures are the store's, by day and by version.
    let want = report::conversion(
        &store.site_payments(&site, 0, i64::MAX, 100).await?,
        &store.site_refusals(&site, 0, i64::MAX).await?,
    );
    assert_eq!(
        (
            want.total.requests,
            want.total.paid,
            want.total.open,
            want.total.invalid_amount
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(
        want.by_version.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        ["v2", "v1"]
    );
    let figure = |table: &'static str, key: String, outcome: &'static str| {
        let browser = &browser;
        async move {
            browser
                .find(&format!(
                    "#{table} tr[data-key=\"{key}\"] td[data-outcome=\"{outcome}\"]"
                ))
                .await?
                .text()
                .await
                .map_err(anyhow::Error::from)
        }
    };
    let outcomes = [
        "requests",
        "paid",
        "declined",
        "expired",
        "failed",
        "invalid_amount",
        "open",
        "other",
    ];
    for f in want.by_day.iter().chain(std::iter::once(&want.total)) {
        for o in outcomes {
            assert_eq!(
                figure("conversion-days", f.key.clone(), o).await?,
                f.count(o).to_string(),
                "{} {o}",
                f.key
            );
        }
    }
    for f in &want.by_version {
        for o in outcomes {
            assert_eq!(
                figure("conversion-versions", f.key.clone(), o).await?,
                f.count(o).to_string(),
                "{} {o}",
                f.key
            );
        }
    }
    // One bar a day, one a version, each saying its figures.
    let bars = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#conversion-chart g.bar title, #version-chart g.bar title')].map(t => t.textContent);",
            vec![],
        )
        .await?;
    let bars: Vec<String> = serde_json::from_value(bars)?;
    assert_eq!(bars.len(), want.by_day.len() + want.by_version.len(), "{bars:?}");
    assert!(
        bars.contains(&"v2: 1 request — 1 invalid amount".to_owned()),
        "{bars:?}"
    );
    browser
        .client
        .execute(
            "document.getElementById('conversion').scrollIntoView(); return true;",
            vec![],
        )
        .await?;
    browser.screenshot("console-conversion").await?;

    // A row's transcript link opens that conversation in the inbox.
    browser
        .find(&format!("{} a[href*=\"/inbox/\"]", row(&paid.payment)))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(10), || async {
        let url = browser.client.current_url().await?;
        Ok(
            if url
                .as_str()
                .ends_with(&format!("#/sites/shop/inbox/{}", paid.conversation))
            {
                Ok(())
            } else {
                Err(format!("at {url}"))
            },
        )
    })
    .await?;
    browser.wait_page_text("#transcript", "Install help").await?;

    // The visitor asks for their data, then for it to be erased: Export JSON holds what they
    // said; Erase (confirmed) leaves "(erased)" in its place.
    let exported = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(document.getElementById('export-conversation').href).then(r => r.json()).then(done, e => done('failed: ' + e));",
            vec![],
        )
        .await?;
    assert_eq!(exported["format"], "chatpay.conversation.v1");
    assert_eq!(exported["conversation"]["id"], paid.conversation.as_str());
    assert!(exported.to_string().contains("Install help"), "{exported}");
    browser.find("#erase-conversation").await?.click().await?;
    browser.client.accept_alert().await?;
    browser
        .wait_page_text("#transcript", chatpay_server::store::erase::ERASED)
        .await?;
    let transcript = browser.find("#transcript").await?.text().await?;
    assert!(!transcript.contains("Install help"), "{transcript}");
    let kept = store.payment(&paid.payment).await?.expect("the payment stays");
    assert_eq!(kept.description, chatpay_server::store::erase::ERASED);
    assert_eq!(kept.amount_minor, 4999);

    // Retention in the site's settings: a bad number is named at its field, a good one kept.
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop", relay.base))
        .await?;
    browser.type_into("#privacy input[name=days]", "0").await?;
    browser.find("#save-retention").await?.click().await?;
    browser.wait_page_text("#privacy", "use 1 to 3650 days").await?;
    browser.type_into("#privacy input[name=days]", "90").await?;
    browser.find("#save-retention").await?.click().await?;
    browser.wait_page_text("#privacy", "Saved").await?;
    let site_now = store.site(&site).await?.expect("the site");
    assert_eq!(site_now.retention_days, Some(90));
    assert_eq!(
        browser.accessibility_problems(Some("#privacy")).await?,
        Vec::<String>::new()
    );

    // The owner's own system: a webhook URL, its secret shown once, and a test event that
    // arrives signed with it and shows as delivered in the log.
    let (hook_url, received) = receiver().await?;
    browser
        .type_into("#webhook input[name=hook_url]", &hook_url)
        .await?;
    browser.find("#save-hook").await?.click().await?;
    let secret = browser.wait_page_text("#hook-secret", "chs_").await?;
    browser.find("#test-hook").await?.click().await?;
    browser
        .wait_page_text("#hook-log tr[data-status=\"delivered\"]", "test")
        .await?;
    let (signature, body) = received
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .last()
        .cloned()
        .expect("the test event arrived");
    chatpay_server::stripe::signature::verify(
        body.as_bytes(),
        Some(&signature),
        &[secret.trim()],
        300,
        chatpay_server::store::now_ms() / 1000,
    )
    .map_err(|e| anyhow::anyhow!("the test event does not verify with the secret shown: {e:?}"))?;
    assert!(body.contains("\"type\":\"test\""), "{body}");
    assert_eq!(
        browser.accessibility_problems(Some("#webhook")).await?,
        Vec::<String>::new()
    );
    browser
        .client
        .execute(
            "document.getElementById('webhook').scrollIntoView(); return true;",
            vec![],
        )
        .await?;
    browser.screenshot("console-webhook").await?;
    browser.close().await?;
    Ok(())
}
