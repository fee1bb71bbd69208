//! Paying on Stripe's embedded Checkout page: a site with a publishable key gets its
//! sessions made with `ui_mode=embedded_page`, a return URL to chatpay's return page and no
//! success or cancel URL; the card and the message carry chatpay's pay page, which mounts
//! the session with Stripe.js (the simulator's stand-in here) under a CSP naming its
//! sources; the status still comes only from the signed webhook. A site without one keeps
//! Stripe's hosted page, and its pay page sends the visitor there. On SQLite and
//! PostgreSQL, through the real routes.

mod common;

use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
use common::{no_redirects, shop, Backend, TestApp};

const PK: &str = "pk_test_shopembedded0000";

/// Wizard step 2's publishable key for the shop (`None` removes it).
async fn publishable_key(app: &TestApp, key: Option<&str>) {
    app.state
        .store
        .save_stripe_settings(&shop(), key, None, None, true, true, None)
        .await
        .unwrap();
}

async fn embedded_sessions_are_paid_on_chatpays_pay_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    publishable_key(&app, Some(PK)).await;
    let (mut visitor, payment, link) = app.demo_to_the_card().await;

    // The card links to chatpay's pay page, not to a Stripe URL (an embedded session has
    // none), and the session is embedded with chatpay's return page.
    assert_eq!(link, app.url(&format!("/pay/{payment}")));
    let sessions = app.sessions_of(&payment).await;
    assert_eq!(sessions.len(), 1, "one session: {sessions:?}");
    let session = &sessions[0];
    assert_eq!(session["ui_mode"], "embedded_page", "{session}");
    assert_eq!(session["redirect_on_completion"], "if_required");
    assert!(
        session["success_url"].is_null() && session["cancel_url"].is_null(),
        "{session}"
    );
    let back = session["return_url"].as_str().unwrap();
    assert!(
        back.starts_with(&app.url("/checkout/return?payment=")) && back.contains("{CHECKOUT_SESSION_ID}"),
        "{back}"
    );
    let secret = session["client_secret"].as_str().unwrap().to_owned();
    let stored = app.payment(&payment).await;
    let sealed = stored.client_secret_enc.clone().unwrap();
    assert!(!sealed.contains(&secret), "the client secret is stored sealed");
    assert_eq!(
        stored.publishable_key.as_deref(),
        Some(PK),
        "fixed with the session"
    );

    // The owner removes the publishable key: this payment's session still mounts with the
    // key it was made for (new payments go to the hosted page).
    publishable_key(&app, None).await;

    // The pay page mounts it: the publishable key and the secret in its body (never in
    // the URL), the simulator's Stripe.js, and a CSP that names exactly where Stripe.js and
    // its frame come from.
    let resp = no_redirects().get(&link).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let page = resp.text().await.unwrap();
    assert!(page.contains(PK) && page.contains(&secret), "{page}");
    let stand_in = app.url("/simulator/stripe.js");
    assert!(page.contains(&format!("<script src=\"{stand_in}\">")), "{page}");
    let origin = app.url("");
    assert!(csp.contains(&format!("script-src 'self' {origin};")), "{csp}");
    assert!(csp.contains(&format!("frame-src {origin};")), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!link.contains(&secret));

    // The stand-in's frame draws the session; paying there completes it in place.
    let id = session["id"].as_str().unwrap();
    let frame_url = app.url(&format!("/simulator/checkout/{id}?embedded=1"));
    let frame = no_redirects().get(&frame_url).send().await.unwrap();
    assert_eq!(frame.status(), 200);
    assert!(
        frame.headers().get("x-frame-options").is_none(),
        "any page may frame it"
    );
    let frame_csp = frame.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(frame_csp.contains("frame-ancestors http: https:"), "{frame_csp}");
    let hosted = no_redirects()
        .get(app.url(&format!("/simulator/checkout/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(hosted.status(), 404, "an embedded session has no hosted page");
    let paid = no_redirects()
        .post(app.url(&format!("/simulator/checkout/{id}/pay?embedded=1")))
        .form(&[("outcome", "paid")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200, "completed in place, no redirect");
    assert!(paid.text().await.unwrap().contains("data-complete"));

    // Paid comes from the signed webhook, and the pay page says so afterwards.
    app.wait_payment(&payment, PaymentStatus::Paid).await;
    visitor
        .until(|f| {
            matches!(
                f,
                ServerFrame::PaymentUpdate {
                    status: PaymentStatus::Paid,
                    ..
                }
            )
        })
        .await;
    let after = no_redirects().get(&link).send().await.unwrap();
    let csp = after.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let after = after.text().await.unwrap();
    assert!(after.contains("Payment received"), "{after}");
    app.stop().await;
}
both!(embedded_sessions_are_paid_on_chatpays_pay_page);

async fn without_a_publishable_key_the_pay_page_sends_to_stripes_hosted_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.connect_stripe().await;
    let (_visitor, payment, link) = app.demo_to_the_card().await;
    let session = &app.sessions_of(&payment).await[0];
    assert_eq!(session["ui_mode"], "hosted_page");
    assert_eq!(
        link,
        session["url"].as_str().unwrap(),
        "the card links to Stripe's page"
    );
    let resp = no_redirects()
        .get(app.url(&format!("/pay/{payment}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], link.as_str());
    let unknown = no_redirects()
        .get(app.url("/pay/pay_nothere"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}
both!(without_a_publishable_key_the_pay_page_sends_to_stripes_hosted_page);

/// A redirect-based method leaves the pay page for the bank and comes back to chatpay's
/// return page, which knows the payment.
#[tokio::test]
async fn a_redirect_based_method_comes_back_to_chatpays_return_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.connect_stripe().await;
    publishable_key(&app, Some(PK)).await;
    let (_visitor, payment, _) = app.demo_to_the_card().await;
    let session = &app.sessions_of(&payment).await[0];
    let id = session["id"].as_str().unwrap();
    let resp = no_redirects()
        .post(app.url(&format!("/simulator/checkout/{id}/pay?embedded=1")))
        .form(&[("outcome", "redirect_paid")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let back = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        back,
        app.url(&format!("/checkout/return?payment={payment}&session_id={id}"))
    );
    let page = reqwest::get(&back).await.unwrap().text().await.unwrap();
    assert!(page.contains("Payment received"), "{page}");
    app.stop().await;
}

/// A publishable key of the other mode (a live one beside a test secret key) cannot mount
/// a session: the payment goes to the hosted page. Saving a secret key of the other mode
/// clears the site's publishable key.
#[tokio::test]
async fn a_publishable_key_of_the_other_mode_is_not_used() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.connect_stripe().await;
    publishable_key(&app, Some("pk_live_othermode0000000")).await;
    let (_visitor, payment, link) = app.demo_to_the_card().await;
    let session = &app.sessions_of(&payment).await[0];
    assert_eq!(session["ui_mode"], "hosted_page", "{session}");
    assert_eq!(link, session["url"].as_str().unwrap());

    publishable_key(&app, Some(PK)).await;
    app.state
        .store
        .save_stripe_keys(
            &app.state.cipher,
            &shop(),
            "sk_live_othermode00000000",
            true,
            None,
        )
        .await
        .unwrap();
    let account = app
        .state
        .store
        .stripe_account(&app.state.cipher, &shop())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        account.publishable_key, None,
        "a test key's pk goes with the test secret key"
    );
    app.stop().await;
}
