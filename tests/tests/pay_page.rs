//! chatpay's pay page in a real browser: a site with a publishable key pays on Stripe's
//! embedded Checkout page (the simulator's stand-in for Stripe.js draws it in a frame). The
//! card's link opens the pay page, the checkout mounts in it, paying there says "Almost
//! there" (Stripe's `onComplete`), and the payment is Paid only when the signed webhook
//! comes: the visitor's chat hears it. Checked on a 375 px phone too, with axe-core.

use chatpay_e2e::visitor::demo_to_the_card;
use chatpay_e2e::{connect_with_simulator, Browser, Chatpay, Relay, Scratch};
use chatpay_server::domain::SiteId;
use chatpay_server::store::Store;
use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
use fantoccini::Locator;

const KEY: &str = "sk_test_paypage00000000000";
const PK: &str = "pk_test_paypage00000000000";
const ORIGIN: &str = "http://shop.test";

/// How the shop reaches Stripe in a test.
enum Webhooks {
    /// Through the simulator's endpoint: Stripe's events come by themselves.
    Delivered,
    /// A signing secret but no endpoint: no event comes until the test sends one.
    HeldBack(&'static str),
}

/// A shop site (allowed `origin`) with the demo workflow, served with the simulator as its
/// Stripe, and wizard step 2's test publishable key, written beside the serving relay.
async fn embedded_shop(
    tag: &str,
    origin: &str,
    hooks: Webhooks,
) -> anyhow::Result<(Scratch, Chatpay, Relay)> {
    let scratch = Scratch::new(tag);
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Acme Support", origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    match hooks {
        Webhooks::Delivered => {
            connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
        }
        Webhooks::HeldBack(whsec) => {
            let api = format!("{}/simulator/stripe", relay.base);
            chatpay.cli_env(
                &["stripe", "connect", "--site", "shop"],
                &[
                    ("CHATPAY_STRIPE_API_BASE", &api),
                    ("CHATPAY_STRIPE_SECRET_KEY", KEY),
                    ("CHATPAY_STRIPE_WEBHOOK_SECRET", whsec),
                ],
            )?;
        }
    }
    let store = Store::connect(&chatpay.database_url).await?;
    store
        .save_stripe_settings(&SiteId::parse("shop")?, Some(PK), None, None, true, true, None)
        .await?;
    store.close().await;
    Ok((scratch, chatpay, relay))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pay_page_mounts_embedded_checkout_and_paid_waits_for_the_webhook() -> anyhow::Result<()> {
    let (_scratch, _chatpay, relay) = embedded_shop("pay-page", ORIGIN, Webhooks::Delivered).await?;

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
    let problems = browser.accessibility_problems(None).await?;
    assert!(
        problems.is_empty(),
        "axe-core (pay-page-3-confirming): {problems:#?}"
    );

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
    let problems = browser.accessibility_problems(None).await?;
    assert!(problems.is_empty(), "axe-core (pay-page-4-paid): {problems:#?}");
    browser.close().await?;
    Ok(())
}

/// Pay inside the chat panel, on a shop of another origin that loaded its own (older)
/// Stripe.js: Pay opens the embedded checkout over the panel (no tab, the page's URL
/// unchanged), Stripe.js is not fetched before Pay, the shop's `window.Stripe` is put back,
/// Back and Pay again keep the one mounted session, a reload comes back to the same
/// session, paying says "Confirming…" while the
/// webhook is held back, and only the signed webhook turns the card Paid. A 375 px phone
/// gets it full screen; axe-core finds nothing serious with it open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_in_the_panel_mounts_the_checkout_and_paid_waits_for_the_webhook() -> anyhow::Result<()> {
    use chatpay_e2e::{deliver_event, stripe_events, HostPage};
    let (listener, origin) = HostPage::bind().await?;
    const WHSEC: &str = "whsec_paypanelheldback0000";
    let (_scratch, _chatpay, relay) = embedded_shop("pay-panel", &origin, Webhooks::HeldBack(WHSEC)).await?;
    let api = format!("{}/simulator/stripe", relay.base);
    // The shop's own Stripe.js, of a release without embedded Checkout.
    let theirs = "<script>window.Stripe = function () { return {}; }; window.Stripe.shops = 'own';</script>";
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "shop", theirs),
    );

    let browser = Browser::start().await?;
    browser.client.set_window_size(1280, 800).await?;
    browser
        .demo_chat_to_the_card(&page.origin, "My backups fail")
        .await?;
    let stripe_js = "return performance.getEntriesByType('resource').filter(e => e.name.includes('/simulator/stripe.js')).length;";
    assert_eq!(
        browser.client.execute(stripe_js, vec![]).await?,
        0,
        "no Stripe.js before Pay"
    );
    let windows = browser.client.windows().await?.len();
    let url = browser.client.current_url().await?;

    // Pay: the checkout over the panel, mounted in the page's light DOM.
    browser.click_in_widget("a.cp-pay").await?;
    let frame = browser.find("#chatpay #chatpay-checkout iframe").await?;
    browser.widget_element("section.cp-paying:not([hidden])").await?;
    let drawn = browser
        .in_widget(
            "return getComputedStyle(root.querySelector('section.cp-paying')).position;",
            vec![],
        )
        .await?;
    assert_eq!(drawn, "fixed", "the sheet is drawn over the panel");
    assert_eq!(
        browser.client.windows().await?.len(),
        windows,
        "no new tab or window"
    );
    assert_eq!(
        browser.client.current_url().await?,
        url,
        "the page stays where it was"
    );
    assert_eq!(
        browser.client.execute(stripe_js, vec![]).await?,
        1,
        "Stripe.js on Pay"
    );
    let shops = browser
        .client
        .execute("return window.Stripe.shops;", vec![])
        .await?;
    assert_eq!(shops, "own", "the shop's window.Stripe is put back");
    browser.screenshot("pay-panel-1-open").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(
        problems.is_empty(),
        "axe-core with the checkout open: {problems:#?}"
    );

    // On a 375 px phone the checkout fills the screen.
    browser.client.set_window_size(375, 740).await?;
    let fills = browser
        .in_widget(
            "const r = root.querySelector('section.cp-paying').getBoundingClientRect(); \
             return [r.left, r.width, window.innerWidth, document.documentElement.scrollWidth];",
            vec![],
        )
        .await?;
    let n = |i: usize| fills[i].as_f64().unwrap_or(-1.0);
    assert!(
        n(0) <= 0.5 && n(1) >= n(2) - 0.5,
        "full screen on a phone: {fills}"
    );
    assert!(n(3) <= n(2) + 0.5, "nothing scrolls sideways: {fills}");
    browser.screenshot("pay-panel-1b-phone").await?;
    browser.client.set_window_size(1280, 800).await?;

    // Back to the chat and Pay again: the same mounted checkout (not a new one).
    browser
        .client
        .execute(
            "document.querySelector('#chatpay-checkout iframe').dataset.mark = 'first';",
            vec![],
        )
        .await?;
    browser.click_in_widget("section.cp-paying .cp-back").await?;
    browser.widget_element("section.cp-paying[hidden]").await?;
    browser.wait_count(".cp-card", 1).await?;
    browser.screenshot("pay-panel-2-back").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(problems.is_empty(), "axe-core (pay-panel-2-back): {problems:#?}");
    browser.click_in_widget("a.cp-pay").await?;
    browser.widget_element("section.cp-paying:not([hidden])").await?;
    let mark = browser
        .client
        .execute(
            "return document.querySelector('#chatpay-checkout iframe').dataset.mark;",
            vec![],
        )
        .await?;
    assert_eq!(mark, "first", "the checkout was kept, not mounted again");

    // A reload mid-payment: the chat comes back with its card, and Pay opens the same
    // session again (one session for the payment, whatever the visitor does).
    let src = "return document.querySelector('#chatpay-checkout iframe').src;";
    let before = browser.client.execute(src, vec![]).await?;
    drop(frame);
    browser.client.refresh().await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    browser.click_in_widget("a.cp-pay").await?;
    let frame = browser.find("#chatpay #chatpay-checkout iframe").await?;
    assert_eq!(
        browser.client.execute(src, vec![]).await?,
        before,
        "the same session after a reload"
    );

    // Pay inside it: "Confirming…", and it stays so while the webhook is held back.
    frame.enter_frame().await?;
    browser.find("#pay").await?.click().await?;
    browser.find("h1.ok").await?;
    browser.client.enter_parent_frame().await?;
    browser
        .wait_texts(".cp-card .cp-note", &["Confirming the payment with Stripe…"])
        .await?;
    browser.widget_element("section.cp-paying[hidden]").await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        browser.widget_texts(".cp-card .cp-chip").await?,
        vec!["Pending".to_owned()],
        "never Paid on the browser's word"
    );
    browser.screenshot("pay-panel-3-confirming").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(
        problems.is_empty(),
        "axe-core (pay-panel-3-confirming): {problems:#?}"
    );

    // Stripe's signed webhook comes: Paid, live.
    let http = reqwest::Client::new();
    let completed = stripe_events(&http, &api, KEY)
        .await
        .into_iter()
        .find(|e| e["type"] == "checkout.session.completed")
        .ok_or_else(|| anyhow::anyhow!("the simulator made no checkout.session.completed event"))?;
    assert_eq!(
        deliver_event(&http, &relay.base, "shop", WHSEC, &completed).await,
        Some(200)
    );
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    browser.screenshot("pay-panel-4-paid").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(problems.is_empty(), "axe-core (pay-panel-4-paid): {problems:#?}");

    browser.close().await?;
    Ok(())
}

/// A shop whose CSP lets the widget in but not Stripe.js: Pay still opens over the panel,
/// Stripe.js cannot load, and the panel says so and offers the payment's page, which opens
/// in a tab (with its own CSP) and pays; the card in the shop's tab turns Paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_stripe_js_offers_the_pay_page_in_a_tab() -> anyhow::Result<()> {
    use chatpay_e2e::HostPage;
    let (listener, origin) = HostPage::bind().await?;
    let (_scratch, _chatpay, relay) = embedded_shop("pay-blocked", &origin, Webhooks::Delivered).await?;
    // The README's CSP for the widget, with the relay's own files named one by one: the
    // simulator's Stripe.js (standing in for js.stripe.com) is not among them.
    let r = &relay.base;
    let ws = r.replacen("http://", "ws://", 1);
    let csp = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         script-src {r}/embed.js {r}/w/ {r}/pay-panel.js 'wasm-unsafe-eval'; \
         connect-src {r} {ws}; style-src {r}; img-src {r}\">"
    );
    let page = HostPage::serve(listener, origin, HostPage::shop_html(r, "shop", &csp));

    let browser = Browser::start().await?;
    browser
        .demo_chat_to_the_card(&page.origin, "My backups fail")
        .await?;
    let shop_tab = browser.client.window().await?;
    browser.click_in_widget("a.cp-pay").await?;
    browser
        .wait_texts(
            "section.cp-paying .cp-payfail",
            &["The payment form could not open here. Open the payment page"],
        )
        .await?;
    let drawn = browser
        .in_widget(
            "return getComputedStyle(root.querySelector('section.cp-paying')).position;",
            vec![],
        )
        .await?;
    assert_eq!(drawn, "fixed", "the sheet has its rules under the shop's CSP");
    browser.screenshot("pay-panel-6-blocked").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(
        problems.is_empty(),
        "axe-core with the fallback shown: {problems:#?}"
    );

    // The offered link: the pay page in a tab, where Stripe.js loads under its own CSP.
    let before = browser.client.windows().await?;
    browser.click_in_widget("section.cp-paying .cp-payfail a").await?;
    let tab = chatpay_e2e::eventually(std::time::Duration::from_secs(5), || async {
        let now = browser.client.windows().await?;
        Ok(now
            .into_iter()
            .find(|w| !before.contains(w))
            .ok_or_else(|| "the link opened no tab".to_owned()))
    })
    .await?;
    browser.client.switch_to_window(tab).await?;
    let frame = browser.find("#checkout iframe").await?;
    frame.enter_frame().await?;
    browser.find("#pay").await?.click().await?;
    browser.find("h1.ok").await?;
    browser.client.switch_to_window(shop_tab).await?;
    // The payment ended: the sheet goes by itself, and the card is Paid.
    browser.widget_element("section.cp-paying[hidden]").await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    browser.screenshot("pay-panel-7-paid-in-a-tab").await?;
    let problems = browser.accessibility_problems(Some("#chatpay")).await?;
    assert!(
        problems.is_empty(),
        "axe-core (pay-panel-7-paid-in-a-tab): {problems:#?}"
    );
    browser.close().await?;
    Ok(())
}
