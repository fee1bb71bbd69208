//! chatpay's pay page in a real browser: a site with a publishable key pays on Stripe's
//! embedded Checkout page (the simulator's stand-in for Stripe.js draws it in a frame). The
//! card's link opens the pay page, the checkout mounts in it, paying there says "Almost
//! there" (Stripe's `onComplete`), and the payment is Paid only when the signed webhook
//! comes: the visitor's chat hears it. Checked on a 375 px phone too, with axe-core.

use chatpay_e2e::visitor::demo_to_the_card;
use chatpay_e2e::{connect_with_simulator, Browser, Chatpay, Scratch};
use chatpay_server::domain::SiteId;
use chatpay_server::store::Store;
use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
use fantoccini::Locator;

const KEY: &str = "sk_test_paypage00000000000";
const PK: &str = "pk_test_paypage00000000000";
const ORIGIN: &str = "http://shop.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pay_page_mounts_embedded_checkout_and_paid_waits_for_the_webhook() -> anyhow::Result<()> {
    let scratch = Scratch::new("pay-page");
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Shop", ORIGIN)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    // Wizard step 2's publishable key, written beside the serving relay.
    let store = Store::connect(&chatpay.database_url).await?;
    store
        .save_stripe_settings(&SiteId::parse("shop")?, Some(PK), None, None, true, true, None)
        .await?;
    store.close().await;

    let mut card = demo_to_the_card(&relay.base, "shop", ORIGIN, "My backups fail").await?;
    assert_eq!(card.url, format!("{}/pay/{}", relay.base, card.payment));

    let browser = Browser::start().await?;
    // A phone first: the page and the checkout fit 375 px.
    browser.client.set_window_size(375, 740).await?;
    browser.client.goto(&card.url).await?;
    let frame = browser
        .client
        .wait()
        .for_element(Locator::Css("#checkout iframe"))
        .await?;
    let wide = browser
        .client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await?;
    assert!(
        wide.as_i64().unwrap_or(9999) <= 375,
        "the pay page scrolls sideways: {wide}"
    );
    browser.screenshot("pay-page-1-phone").await?;
    let problems = browser.accessibility_problems(None).await?;
    assert!(problems.is_empty(), "axe-core on the pay page: {problems:#?}");
    browser.client.set_window_size(1280, 800).await?;
    browser.screenshot("pay-page-2-desktop").await?;

    // Pay inside the embedded checkout.
    frame.enter_frame().await?;
    browser
        .client
        .wait()
        .for_element(Locator::Css("#pay"))
        .await?
        .click()
        .await?;
    browser.client.wait().for_element(Locator::Css("h1.ok")).await?;
    browser.client.enter_parent_frame().await?;
    let note = browser.wait_page_text("#note", "Almost there").await?;
    assert!(note.contains("will update by itself"), "{note}");
    browser.screenshot("pay-page-3-confirming").await?;

    // The chat hears Paid from Stripe's webhook.
    card.visitor
        .until(|f| {
            matches!(f, ServerFrame::PaymentUpdate { payment, status: PaymentStatus::Paid, .. } if *payment == card.payment)
        })
        .await?;
    // The page, reloaded, says how it ended.
    browser.client.refresh().await?;
    browser.wait_page_text("h1", "Payment received").await?;
    browser.screenshot("pay-page-4-paid").await?;
    browser.close().await?;
    Ok(())
}
