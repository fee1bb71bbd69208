//! The console's Stripe wizard in headless Chromium: a bad key is refused with Stripe's
//! reason, a good one is accepted; step 3 turns green when the simulator sends a signed
//! event; after the wizard a visitor pays the demo workflow to Paid. Screenshots of each
//! step go to target/screenshots/console-*.png.

use chatpay_e2e::{Browser, Chatpay, HostPage, Scratch};
use serde_json::Value;

const KEY: &str = "sk_test_consolee2e0000000000";
const EMAIL: &str = "owner@shop.test";
const PASSWORD: &str = "a long enough password";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stripe_wizard_from_a_refused_key_to_a_paid_visitor() -> anyhow::Result<()> {
    // A site with the demo workflow and its owner's account; Stripe not connected yet.
    let scratch = Scratch::new("console-wizard");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    let page = HostPage::serve(listener, origin, HostPage::shop_html(&relay.base, "shop", ""));
    let browser = Browser::start().await?;

    // Sign in and open the wizard.
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    browser.find(".site-card").await?.click().await?;
    browser.find("#snippet").await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/stripe/1", relay.base))
        .await?;

    // Step 1: a key Stripe refuses, with Stripe's reason; then a good one.
    browser
        .type_into("input[name=secret_key]", "sk_test_invalid000000000000")
        .await?;
    browser.find("#test-key").await?.click().await?;
    browser
        .wait_page_text(
            ".error[data-field=secret_key]",
            "Stripe refused this key: Invalid API Key provided",
        )
        .await?;
    browser.screenshot("console-1-key-refused").await?;
    browser.type_into("input[name=secret_key]", KEY).await?;
    browser.find("#test-key").await?.click().await?;
    browser.find("#step-settings").await?;
    browser.wait_page_text("#mode-badge", "Test").await?;
    browser.screenshot("console-2-settings").await?;

    // Step 2: a plain-http return URL is refused at the field; then saved.
    browser
        .type_into("input[name=success_url]", "http://shop.example/thanks")
        .await?;
    browser.find("#save-settings").await?.click().await?;
    browser
        .wait_page_text(".error[data-field=success_url]", "must use https")
        .await?;
    browser.type_into("input[name=success_url]", "").await?;
    browser.find("#save-settings").await?.click().await?;
    browser.find("#step-webhook").await?;
    browser.screenshot("console-3-webhook").await?;

    // Step 3: the owner adds the endpoint at "Stripe" (the simulator) and pastes its secret.
    let webhook_url = browser.find("#webhook-url").await?.text().await?;
    assert_eq!(webhook_url, format!("{}/webhooks/stripe/shop", relay.base));
    let endpoint: Value = reqwest::Client::new()
        .post(format!("{}/simulator/stripe/v1/webhook_endpoints", relay.base))
        .bearer_auth(KEY)
        .form(&[("url", webhook_url.as_str()), ("enabled_events[0]", "*")])
        .send()
        .await?
        .json()
        .await?;
    let whsec = endpoint["secret"].as_str().unwrap_or_default().to_owned();
    browser.type_into("input[name=secret]", &whsec).await?;
    browser.find("#save-whsec").await?.click().await?;
    browser
        .wait_page_text("#first-event", "Waiting for a first event")
        .await?;
    browser.screenshot("console-4-webhook-waiting").await?;

    // A visitor, in another tab, pays the demo workflow.
    let console_tab = browser.client.window().await?;
    let visitor_tab = browser.client.new_window(true).await?.handle;
    browser.client.switch_to_window(visitor_tab.clone()).await?;
    browser
        .demo_chat_to_the_card(&page.origin, "A support contract, please")
        .await?;
    browser.pay_in_checkout().await?;

    // The console's step 3 turns green by itself.
    browser.client.switch_to_window(console_tab).await?;
    browser
        .wait_page_text("#first-event", "Receiving events: checkout.session.completed")
        .await?;
    browser.screenshot("console-5-webhook-green").await?;
    browser.find("#to-done").await?.click().await?;
    browser
        .wait_page_text("#step-done", "Payments are set up")
        .await?;
    let summary = browser.find("#step-done").await?.text().await?;
    assert!(
        !summary.contains(KEY) && !summary.contains(&whsec),
        "no secret on the page"
    );
    browser.screenshot("console-6-done").await?;

    // And the visitor's card says Paid.
    browser.client.switch_to_window(visitor_tab).await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    let html = browser.client.source().await?;
    assert!(!html.contains(KEY));
    browser.close().await?;
    Ok(())
}

/// Step 3 in one click: the relay creates the webhook endpoint at "Stripe" (the simulator)
/// and saves its secret; the first event turns it green without copying anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_endpoint_is_created_in_one_click() -> anyhow::Result<()> {
    let scratch = Scratch::new("console-one-click");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    let page = HostPage::serve(listener, origin, HostPage::shop_html(&relay.base, "shop", ""));
    let browser = Browser::start().await?;
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/stripe/1", relay.base))
        .await?;
    browser.type_into("input[name=secret_key]", KEY).await?;
    browser.find("#test-key").await?.click().await?;
    browser.find("#save-settings").await?.click().await?;
    browser.find("#step-webhook").await?;

    browser.find("#create-webhook").await?.click().await?;
    browser.wait_page_text("#saved-whsec", "whsec_").await?;
    browser
        .wait_page_text("#webhook-endpoint", "Created by chatpay: we_")
        .await?;
    browser
        .wait_page_text("#first-event", "Waiting for a first event")
        .await?;
    browser.screenshot("console-4b-webhook-one-click").await?;

    let console_tab = browser.client.window().await?;
    let visitor_tab = browser.client.new_window(true).await?.handle;
    browser.client.switch_to_window(visitor_tab).await?;
    browser
        .demo_chat_to_the_card(&page.origin, "A support contract, please")
        .await?;
    browser.pay_in_checkout().await?;
    browser.client.switch_to_window(console_tab).await?;
    browser
        .wait_page_text("#first-event", "Receiving events: checkout.session.completed")
        .await?;
    browser.close().await?;
    Ok(())
}
