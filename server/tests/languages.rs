//! The visitor's language: the widget's words come in the language the tab asks for (with
//! the site owner's overrides on top), and the Checkout return pages speak the browser's
//! language. On SQLite and PostgreSQL.

mod common;

use chatpay_shared::protocol::{ClientFrame, ServerFrame};
use chatpay_shared::texts::Text;
use common::{Backend, TestApp, ORIGIN, SITE};
use serde_json::json;

/// The `texts` of the Welcome a tab asking for `lang` gets.
async fn welcome_texts(app: &TestApp, lang: Option<&str>) -> Vec<String> {
    let mut c = app.socket(SITE, Some(ORIGIN)).await.unwrap();
    c.send(&ClientFrame::Hello {
        site: SITE.into(),
        visitor_token: None,
        last_seq: None,
        lang: lang.map(str::to_owned),
    })
    .await;
    match c.recv().await {
        ServerFrame::Welcome { texts, .. } => texts,
        other => panic!("expected Welcome, got {other:?}"),
    }
}

async fn the_widget_speaks_the_visitors_language_with_the_owners_words(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // English needs nothing: the widget has its English words.
    assert!(welcome_texts(&app, None).await.is_empty());
    assert!(welcome_texts(&app, Some("en-GB")).await.is_empty());
    assert!(
        welcome_texts(&app, Some("sv-SE")).await.is_empty(),
        "not shipped: English"
    );
    let de = welcome_texts(&app, Some("de-AT")).await;
    assert_eq!(de.len(), chatpay_shared::texts::COUNT);
    assert_eq!(de[Text::Pay as usize], "Bezahlen");
    let ja = welcome_texts(&app, Some("ja")).await;
    assert_eq!(ja[Text::NotNow as usize], "今はしない");

    // The owner's words, from the console: every mistake at once, then saved.
    let cookie = common::owner_cookie(&app).await;
    let put = |body: serde_json::Value| {
        let (url, cookie) = (app.url("/api/console/sites/shop/texts"), cookie.clone());
        async move {
            let resp = reqwest::Client::new()
                .put(url)
                .header("x-chatpay-console", "1")
                .header("cookie", cookie)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, v) =
        put(json!({ "de": { "pay": "Jetzt zahlen", "nonsense": "x" }, "sv": { "pay": "Betala" } })).await;
    assert_eq!(s, 400, "{v}");
    let all = v["error"]["fields"].to_string();
    assert!(all.contains("'nonsense'") && all.contains("'sv'"), "{v}");
    let (s, v) =
        put(json!({ "de": { "pay": "Jetzt zahlen", "not_now": "  " }, "en": { "pay": "Pay securely" } }))
            .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["overrides"]["de"]["pay"], "Jetzt zahlen");
    assert!(
        v["overrides"]["de"]["not_now"].is_null(),
        "an empty text goes back to the shipped one"
    );
    assert_eq!(v["defaults"]["fr"][Text::Pay as usize], "Payer");

    let de = welcome_texts(&app, Some("de")).await;
    assert_eq!(de[Text::Pay as usize], "Jetzt zahlen");
    assert_eq!(de[Text::NotNow as usize], "Nicht jetzt");
    let en = welcome_texts(&app, Some("en")).await;
    assert_eq!(en[Text::Pay as usize], "Pay securely");
    assert_eq!(en[Text::NotNow as usize], "Not now");
    app.stop().await;
}
both!(the_widget_speaks_the_visitors_language_with_the_owners_words);

async fn the_return_page_speaks_the_browsers_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let payment = app.create_payment(4999, "EUR", None).await;
    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, chatpay_shared::protocol::PaymentStatus::Paid)
        .await;
    let page = |lang: &'static str| {
        let url = app.url(&format!("/checkout/return?payment={}", payment.id));
        async move {
            reqwest::Client::new()
                .get(url)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let de = page("de-DE,de;q=0.9,en;q=0.5").await;
    assert!(
        de.contains("Zahlung erhalten ✓") && de.contains("<html lang=\"de\">"),
        "{de}"
    );
    let fr = page("sv,fr;q=0.8").await;
    assert!(fr.contains("Paiement reçu ✓"), "{fr}");
    let en = page("zz").await;
    assert!(en.contains("Payment received ✓"), "{en}");
    app.stop().await;
}
both!(the_return_page_speaks_the_browsers_language);
