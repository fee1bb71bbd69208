//! Accessibility, checked by axe-core in headless Chromium: the widget closed, open, and
//! with each card state, and every console page, have no serious or critical violation;
//! and a visitor who only uses the keyboard opens the chat, sends a message, reaches Pay and
//! Not now with a visible focus, declines, and closes the chat again.

use chatpay_e2e::{connect_with_simulator, Browser, Chatpay, HostPage, Scratch};

const KEY: &str = "sk_test_accessible0000000000";
const EMAIL: &str = "owner@shop.test";
const PASSWORD: &str = "a long enough password";

/// Lets the panel's opening animation end (axe reads colours as drawn).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
}

/// No serious or critical violation, or the list of them.
fn clean(what: &str, problems: Vec<String>) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{what}: {} accessibility problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    )
}

/// Presses keys on whatever has the focus (WebDriver's key codes: Tab \u{E004}, Enter \u{E007},
/// Escape \u{E00C}).
async fn press(browser: &Browser, keys: &str) -> anyhow::Result<()> {
    let active = browser
        .client
        .execute("return document.activeElement;", vec![])
        .await?;
    let id = active
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|v| v.as_str())
        .ok_or_else(|| anyhow::anyhow!("nothing has the focus"))?
        .to_owned();
    let el = fantoccini::elements::Element::from_element_id(
        browser.client.clone(),
        fantoccini::elements::ElementRef::from(id),
    );
    el.send_keys(keys).await?;
    Ok(())
}

/// The widget element that has the focus (inside its shadow root): its class, and whether
/// the focus is drawn (a visible outline).
async fn focused(browser: &Browser) -> anyhow::Result<(String, bool)> {
    let v = browser
        .in_widget(
            "const el = root.activeElement; if (!el) return ['', false]; \
             const s = getComputedStyle(el); \
             return [el.className, s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0];",
            vec![],
        )
        .await?;
    Ok((
        v[0].as_str().unwrap_or_default().to_owned(),
        v[1].as_bool().unwrap_or(false),
    ))
}

/// Tabs until the widget's element with `class` has the focus (at most 12 presses).
async fn tab_to(browser: &Browser, class: &str) -> anyhow::Result<bool> {
    for _ in 0..12 {
        if focused(browser).await?.0.split(' ').any(|c| c == class) {
            return Ok(true);
        }
        press(browser, "\u{E004}").await?;
    }
    Ok(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_is_accessible_and_works_from_the_keyboard() -> anyhow::Result<()> {
    let scratch = Scratch::new("a11y-widget");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "shop", "").replacen("<html>", "<html lang=\"en\">", 1),
    );
    let browser = Browser::start().await?;
    browser.client.goto(&page.origin).await?;
    browser.widget_element(".cp-launch:not(.cp-boot)").await?;
    clean(
        "the closed widget",
        browser.accessibility_problems(Some("#chatpay")).await?,
    )?;

    // Keyboard only: Tab to the bubble, Enter opens the chat with the focus in the composer.
    browser.find("h1").await?.click().await?;
    let mut reached = false;
    for _ in 0..6 {
        press(&browser, "\u{E004}").await?;
        if focused(&browser).await?.0.contains("cp-launch") {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches the chat bubble");
    assert!(focused(&browser).await?.1, "the bubble's focus is visible");
    press(&browser, "\u{E007}").await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hi! I'm the chatpay demo bot.",
                "What do you need help with today?",
            ],
        )
        .await?;
    assert_eq!(
        focused(&browser).await?.0,
        "",
        "the composer (a textarea, no class) has the focus"
    );
    let tag = browser
        .in_widget("return root.activeElement && root.activeElement.tagName;", vec![])
        .await?;
    assert_eq!(tag, "TEXTAREA");
    settle().await;
    clean(
        "the open widget",
        browser.accessibility_problems(Some("#chatpay")).await?,
    )?;
    press(&browser, "My printer is on fire\u{E007}").await?;
    browser.wait_count(".cp-card .cp-chip.cp-pending", 1).await?;
    clean(
        "a pending card",
        browser.accessibility_problems(Some("#chatpay")).await?,
    )?;

    // Pay and Not now are reachable, with a visible focus; Not now declines.
    assert!(tab_to(&browser, "cp-pay").await?, "Tab reaches Pay");
    assert!(focused(&browser).await?.1, "Pay's focus is visible");
    assert!(tab_to(&browser, "cp-decline").await?, "Tab reaches Not now");
    assert!(focused(&browser).await?.1, "Not now's focus is visible");
    press(&browser, "\u{E007}").await?;
    browser.wait_count(".cp-card .cp-chip.cp-expired", 1).await?;
    // The change is announced: the chip is a live region.
    let live = browser
        .in_widget(
            "return root.querySelector('.cp-card .cp-chip').getAttribute('role');",
            vec![],
        )
        .await?;
    assert_eq!(live, "status");
    clean(
        "an expired card",
        browser.accessibility_problems(Some("#chatpay")).await?,
    )?;

    // A new link, paid: the paid card and the closed chat.
    browser.click_in_widget("button.cp-newlink").await?;
    browser.wait_count(".cp-card .cp-chip.cp-pending", 1).await?;
    let me = browser.pay_in_checkout().await?;
    browser.client.close_window().await?;
    browser.client.switch_to_window(me).await?;
    browser.wait_count(".cp-card .cp-chip.cp-paid", 1).await?;
    browser.wait_count(".cp-ended", 1).await?;
    clean(
        "a paid card and a closed chat",
        browser.accessibility_problems(Some("#chatpay")).await?,
    )?;

    // Escape closes the chat.
    browser.click_in_widget("button.cp-newchat").await?;
    browser.widget_element("textarea").await?;
    browser
        .in_widget("root.querySelector('textarea').focus(); return true;", vec![])
        .await?;
    press(&browser, "\u{E00C}").await?;
    browser.wait_count(".cp-panel", 0).await?;
    browser.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_is_accessible() -> anyhow::Result<()> {
    let scratch = Scratch::new("a11y-console");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (_listener, origin) = HostPage::bind().await?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    // A conversation for the inbox.
    let (mut v, _) = chatpay_e2e::visitor::Visitor::connect(&relay.base, "shop", &origin, None, None).await?;
    v.send(&chatpay_shared::protocol::ClientFrame::Text {
        client_id: "v1".into(),
        text: "Hello there".into(),
    })
    .await?;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{}/console/#/login", relay.base))
        .await?;
    browser.find("input[name=email]").await?;
    clean("the sign-in page", browser.accessibility_problems(None).await?)?;
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    for (route, what, ready) in [
        ("/", "the sites", ".site-card"),
        ("/sites/shop", "the site settings", "#widget-texts"),
        ("/sites/shop/workflows", "the workflow editor", "#draft-status"),
        ("/sites/shop/stripe/1", "Stripe step 1", "input[name=secret_key]"),
        ("/sites/shop/stripe/2", "Stripe step 2", "#step-settings"),
        ("/sites/shop/stripe/3", "Stripe step 3", "#step-webhook"),
        ("/sites/shop/stripe/4", "Stripe step 4", "#step-done"),
        ("/sites/shop/troubleshoot", "Troubleshooting", ".checks"),
        ("/sites/shop/inbox", "the inbox", "li.conv"),
    ] {
        browser
            .client
            .goto(&format!("{}/console/#{route}", relay.base))
            .await?;
        browser.find(ready).await?;
        if route.ends_with("inbox") {
            browser.find("li.conv").await?.click().await?;
            browser.find("#transcript").await?;
        }
        clean(what, browser.accessibility_problems(None).await?)?;
    }
    browser.close().await?;
    Ok(())
}
