//! The widget with payments, end to end: a host page on another origin embeds the widget
//! with the script tag; the visitor walks the demo workflow in headless Chromium, pays in
//! Checkout in a new tab, and the card in the first tab turns Paid without a reload; the
//! decline path turns the card Expired and offers a new link. Screenshots of each state go
//! to target/screenshots/.

use chatpay_e2e::{connect_with_simulator, Browser, Chatpay, HostPage, Relay, Scratch};

const KEY: &str = "sk_test_widgete2e0000000000";

/// A shop site with the demo workflow, connected to the relay's simulator (which delivers
/// signed webhooks), and a host page on its own origin.
async fn shop(tag: &str) -> anyhow::Result<(Scratch, Relay, HostPage)> {
    let scratch = Scratch::new(tag);
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let page = HostPage::serve(listener, origin, HostPage::shop_html(&relay.base, "shop", ""));
    Ok((scratch, relay, page))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_in_a_new_tab_turns_the_card_paid_without_a_reload() -> anyhow::Result<()> {
    let (_scratch, _relay, page) = shop("widget-pay").await?;
    let browser = Browser::start().await?;
    browser
        .demo_chat_to_the_card(&page.origin, "My backups fail every night")
        .await?;

    // The card: description, amount in the visitor's locale, a countdown, Pay and Not now.
    browser
        .wait_texts(".cp-card .cp-desc", &["Support contract deposit"])
        .await?;
    browser.wait_texts(".cp-card .cp-amount", &["$49.99"]).await?;
    // A 30-minute link, with the margin Stripe's own expiry carries (the card and Checkout
    // agree on it).
    let countdown = browser.widget_texts(".cp-countdown").await?;
    assert!(
        countdown[0].starts_with("32:") || countdown[0].starts_with("31:"),
        "{countdown:?}"
    );
    browser.screenshot("widget-1-card-pending").await?;
    // A marker that a reload would erase.
    browser
        .client
        .execute("window.__noReload = 'still here'; return true;", vec![])
        .await?;

    // Pay opens Stripe Checkout in a new tab.
    let first = browser.client.window().await?;
    browser.click_in_widget("a.cp-pay").await?;
    let mut checkout = None;
    for _ in 0..50 {
        let windows = browser.client.windows().await?;
        if let Some(w) = windows.into_iter().find(|w| *w != first) {
            checkout = Some(w);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let checkout = checkout.ok_or_else(|| anyhow::anyhow!("Checkout did not open in a new tab"))?;
    browser.client.switch_to_window(checkout).await?;
    let pay = browser
        .client
        .wait()
        .for_element(fantoccini::Locator::Css("#pay"))
        .await?;
    let url = browser.client.current_url().await?;
    assert!(url.path().starts_with("/simulator/checkout/cs_test_"), "{url}");
    browser.screenshot("widget-2-checkout").await?;
    pay.click().await?;
    browser
        .client
        .wait()
        .for_element(fantoccini::Locator::Css("h1.ok"))
        .await?;
    browser.screenshot("widget-3-returned-from-checkout").await?;

    // Back in the shop's tab: Paid, and the thank-you message, live.
    browser.client.switch_to_window(first).await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    let bot = browser.widget_texts(".cp-bot .cp-bubble").await?;
    assert!(
        bot.iter()
            .any(|t| t.starts_with("Thank you, your deposit is in!")),
        "{bot:?}"
    );
    let marker = browser
        .client
        .execute("return window.__noReload;", vec![])
        .await?;
    assert_eq!(marker, "still here", "no reload happened");
    browser.screenshot("widget-4-card-paid").await?;

    // The workflow closed the chat: no composer, a way to start again.
    browser
        .wait_texts(".cp-ended strong", &["This conversation has ended."])
        .await?;
    assert!(browser.widget_texts("textarea").await?.is_empty());
    browser.screenshot("widget-4b-chat-ended").await?;

    // After a reload the card is still right, and the chat still ended.
    browser.client.refresh().await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    browser
        .wait_texts(".cp-ended strong", &["This conversation has ended."])
        .await?;

    // "Start a new chat": a fresh conversation from the workflow's start, kept on reload.
    browser.click_in_widget("button.cp-newchat").await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hi! I'm the chatpay demo bot.",
                "What do you need help with today?",
            ],
        )
        .await?;
    assert!(
        browser.widget_texts(".cp-card").await?.is_empty(),
        "the old card is gone"
    );
    browser.widget_element("textarea").await?;
    browser.screenshot("widget-4c-new-chat").await?;
    browser.client.refresh().await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hi! I'm the chatpay demo bot.",
                "What do you need help with today?",
            ],
        )
        .await?;
    assert!(browser.widget_texts(".cp-ended").await?.is_empty());
    browser.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_now_turns_the_card_expired_and_offers_a_new_link() -> anyhow::Result<()> {
    let (_scratch, _relay, page) = shop("widget-decline").await?;
    let browser = Browser::start().await?;
    browser
        .demo_chat_to_the_card(&page.origin, "My backups fail every night")
        .await?;

    browser.click_in_widget("button.cp-decline").await?;

    browser.wait_texts(".cp-card .cp-chip", &["Expired"]).await?;
    browser
        .wait_texts(".cp-card button.cp-newlink", &["Get a new link"])
        .await?;
    let bot = browser.widget_texts(".cp-bot .cp-bubble").await?;
    assert_eq!(
        bot.last().map(String::as_str),
        Some("No problem — want a new link or a person?"),
        "{bot:?}"
    );
    browser.screenshot("widget-5-card-expired").await?;

    // The workflow's retry path: a fresh link on a new card.
    browser.click_in_widget("button.cp-newlink").await?;
    browser
        .wait_texts(".cp-card .cp-chip", &["Expired", "Pending"])
        .await?;
    // Only the newest card offers a new link; the old one is history.
    assert!(
        browser
            .widget_texts(".cp-card button.cp-newlink")
            .await?
            .is_empty(),
        "the expired card above the new one still offers a link"
    );
    browser.screenshot("widget-6-new-link").await?;
    browser.close().await?;
    Ok(())
}

/// The CSS of a host page that tries to restyle everything.
const HOSTILE: &str = "<style>* { font: 40px serif !important; color: red !important; }</style>";

/// Computed styles of the widget's parts, as one string per part.
const WIDGET_STYLES: &str = "return ['.cp-launch','.cp-head','.cp-title','.cp-bot .cp-bubble','textarea','.cp-send','.cp-panel'].map(s => {
    const e = root.querySelector(s); if (!e) return s + ': missing';
    const c = getComputedStyle(e);
    return [s, c.fontFamily, c.fontSize, c.color, c.lineHeight, c.backgroundColor, Math.round(e.getBoundingClientRect().width)].join(' | ');
});";

/// Computed styles of the host page's own elements.
const HOST_STYLES: &str = "return ['body','h1','p','button.cp-launch'].map(s => {
    const e = document.querySelector(s); const c = getComputedStyle(e);
    return [s, c.fontFamily, c.fontSize, c.color, c.position, c.backgroundColor, c.margin].join(' | ');
}).concat(['sheets ' + document.styleSheets.length]);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_host_css_changes_nothing_inside_and_the_widget_changes_nothing_outside() -> anyhow::Result<()>
{
    let scratch = Scratch::new("hostile");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (plain_listener, plain_origin) = HostPage::bind().await?;
    let (hostile_listener, hostile_origin) = HostPage::bind().await?;
    chatpay.cli(&[
        "site",
        "add",
        "--id",
        "css",
        "--name",
        "CSS Shop",
        "--origin",
        &plain_origin,
        "--origin",
        &hostile_origin,
    ])?;
    let relay = chatpay.serve(&[]).await?;
    // A host button that happens to use the widget's class name must stay a plain button.
    let body_extra = "<button class=\"cp-launch\">Host button</button>";
    let plain_html =
        HostPage::shop_html(&relay.base, "css", "").replace("</h1>", &format!("</h1>{body_extra}"));
    let hostile_html =
        HostPage::shop_html(&relay.base, "css", HOSTILE).replace("</h1>", &format!("</h1>{body_extra}"));
    let plain = HostPage::serve(plain_listener, plain_origin, plain_html);
    let hostile = HostPage::serve(hostile_listener, hostile_origin, hostile_html);
    let browser = Browser::start().await?;

    // The host page's styles with only the loader's bubble, then with the widget open.
    let mut widget_styles = Vec::new();
    for (name, page) in [("plain", &plain), ("hostile", &hostile)] {
        browser.client.goto(&page.origin).await?;
        let before = browser.client.execute(HOST_STYLES, vec![]).await?;
        browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
        browser
            .wait_texts(".cp-bot .cp-bubble", &["Hi! How can we help?"])
            .await?;
        let after = browser.client.execute(HOST_STYLES, vec![]).await?;
        assert_eq!(before, after, "{name}: the widget changed the host page's styles");
        widget_styles.push(browser.in_widget(WIDGET_STYLES, vec![]).await?);
        browser.screenshot(&format!("widget-7-host-css-{name}")).await?;
    }
    assert_eq!(
        widget_styles[0], widget_styles[1],
        "the hostile CSS reached inside the widget"
    );
    let text = widget_styles[0].to_string();
    assert!(!text.contains("missing"), "{text}");
    assert!(
        !text.contains("40px") && !text.contains("rgb(255, 0, 0)"),
        "{text}"
    );
    browser.close().await?;
    Ok(())
}

/// The simulator is not a dead end: the link the relay prints opens its TEST MODE dashboard,
/// with the site's endpoint (its secret behind Reveal) and the payment's events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_dashboard_shows_the_endpoint_and_the_events() -> anyhow::Result<()> {
    let scratch = Scratch::new("sim-dashboard");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay
        .serve(&["--stripe-simulator", "--simulator-token", "dashboard-token-123"])
        .await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let page = HostPage::serve(listener, origin, HostPage::shop_html(&relay.base, "shop", ""));
    let browser = Browser::start().await?;
    browser
        .demo_chat_to_the_card(&page.origin, "My backups fail every night")
        .await?;
    browser.pay_in_checkout().await?;

    browser
        .client
        .goto(&format!("{}/simulator/?token=dashboard-token-123", relay.base))
        .await?;
    browser
        .wait_page_text("#endpoints", "/webhooks/stripe/shop")
        .await?;
    browser
        .wait_page_text("#events", "checkout.session.completed")
        .await?;
    let url = browser.client.current_url().await?;
    assert!(
        !url.as_str().contains("token"),
        "the token left the address bar: {url}"
    );
    browser.find("#endpoints summary").await?.click().await?;
    browser.wait_page_text("#endpoints", "whsec_").await?;
    browser.screenshot("simulator-dashboard").await?;
    browser.close().await?;
    Ok(())
}

/// A German page gets the chat in German (the card too); the owner's own words, saved in
/// the console, replace a shipped one after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_page_gets_a_german_chat_and_the_owners_words() -> anyhow::Result<()> {
    let scratch = Scratch::new("widget-german");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_owner("owner@shop.test", "a long enough password")?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let html = HostPage::shop_html(&relay.base, "shop", "").replacen("<html>", "<html lang=\"de\">", 1);
    let page = HostPage::serve(listener, origin, html);
    let browser = Browser::start().await?;
    browser
        .demo_chat_to_the_card(&page.origin, "Meine Backups schlagen fehl")
        .await?;
    browser.wait_texts(".cp-card a.cp-pay", &["Bezahlen"]).await?;
    browser
        .wait_texts(".cp-card button.cp-decline", &["Nicht jetzt"])
        .await?;
    browser.wait_texts(".cp-card .cp-chip", &["Offen"]).await?;
    let placeholder = browser
        .in_widget("return root.querySelector('textarea').placeholder;", vec![])
        .await?;
    assert_eq!(placeholder, "Nachricht schreiben…");
    browser.screenshot("widget-7-german-card").await?;

    // The owner says it their way.
    browser
        .sign_in(&relay.base, "owner@shop.test", "a long enough password")
        .await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop", relay.base))
        .await?;
    browser.find("#texts-lang").await?.select_by_value("de").await?;
    browser
        .type_into("input[name=text-pay]", "Jetzt sicher bezahlen")
        .await?;
    browser.find("#save-texts").await?.click().await?;
    browser.wait_page_text("#widget-texts", "Saved").await?;
    browser.screenshot("console-widget-texts").await?;

    browser.client.goto(&page.origin).await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    browser
        .wait_texts(".cp-card a.cp-pay", &["Jetzt sicher bezahlen"])
        .await?;
    browser.close().await?;
    Ok(())
}
