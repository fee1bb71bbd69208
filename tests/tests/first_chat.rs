//! A visitor's first chat, end to end: the real `chatpay` binary, a host page on another
//! origin with the script tag, and headless Chromium.

use chatpay_e2e::{Browser, Chatpay, HostPage, Scratch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_reloads_and_finds_the_history() -> anyhow::Result<()> {
    // Arrange: a site that allows the host page's origin, the relay, the host page.
    let scratch = Scratch::new("first-chat");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.cli(&[
        "site",
        "add",
        "--id",
        "e2e-shop",
        "--name",
        "E2E Shop",
        "--origin",
        &origin,
        "--greeting",
        "Welcome to E2E Shop! Ask us anything.",
    ])?;
    let relay = chatpay.serve(&[]).await?;
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "e2e-shop", ""),
    );
    let browser = Browser::start().await?;

    // Act: open the page and the bubble.
    browser.client.goto(&page.origin).await?;
    browser
        .widget_element(".cp-launch:not(.cp-boot)")
        .await?
        .click()
        .await?;

    // Assert: the panel shows the site's name and greeting.
    browser
        .wait_texts(".cp-bot .cp-bubble", &["Welcome to E2E Shop! Ask us anything."])
        .await?;
    browser.wait_texts(".cp-title", &["E2E Shop"]).await?;
    browser.screenshot("first-chat-1-greeting").await?;

    // Act: type a message and press Enter.
    let input = browser.widget_element("textarea").await?;
    input.send_keys("Hi! Do you ship to Norway?").await?;
    input.send_keys("\u{E007}").await?; // WebDriver's Enter key

    // Assert: it is confirmed by the relay (no longer pending) and the input is cleared.
    browser
        .wait_texts(
            ".cp-me:not(.cp-pending) .cp-bubble",
            &["Hi! Do you ship to Norway?"],
        )
        .await?;
    let left = browser
        .in_widget("return root.querySelector('textarea').value;", vec![])
        .await?;
    assert_eq!(left, "");
    browser.screenshot("first-chat-2-sent").await?;

    // Act: reload the page and open the bubble again.
    browser.client.refresh().await?;
    browser
        .widget_element(".cp-launch:not(.cp-boot)")
        .await?
        .click()
        .await?;

    // Assert: the same conversation, in order (a site without a workflow is a live chat:
    // a person is asked for).
    browser
        .wait_texts(
            ".cp-bubble",
            &[
                "Welcome to E2E Shop! Ask us anything.",
                "Hi! Do you ship to Norway?",
                "I'm connecting you with a person. They will reply here.",
            ],
        )
        .await?;
    let shot = browser.screenshot("first-chat-3-after-reload").await?;
    assert!(
        std::fs::metadata(&shot)?.len() > 10_000,
        "a real screenshot at {}",
        shot.display()
    );

    browser.close().await?;
    drop(relay);
    Ok(())
}

/// The owner pasted the snippet on a page the site does not allow, or mistyped `data-site`:
/// the visitor is told the chat is not set up for this page (not "reconnecting" forever),
/// the browser's console names the fix for the owner, the widget stops retrying, and the
/// owner's Troubleshooting lists the refused page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_the_chat_is_not_set_up_for_says_so_and_stops_retrying() -> anyhow::Result<()> {
    let scratch = Scratch::new("wrong-origin");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_owner("owner@locked.test", "a long enough password 1")?;
    chatpay.add_site("locked", "Locked", "https://only-here.example")?;
    let relay = chatpay.serve(&[]).await?;
    // The page keeps what the widget writes to the browser's console.
    let keep_errors = "<script>window.__errors = []; const e = console.error; \
         console.error = function (...a) { window.__errors.push(a.join(' ')); e.apply(console, a); };</script>";
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "locked", keep_errors),
    );
    let browser = Browser::start().await?;

    browser.client.goto(&page.origin).await?;
    // Click the loader's placeholder bubble at once, before the widget has loaded: the click
    // must not be lost in the hand-over.
    browser.widget_element(".cp-boot").await?;
    browser
        .in_widget("root.querySelector('.cp-launch').click(); return true;", vec![])
        .await?;

    // The visitor: plain words, no composer, no greeting.
    browser
        .wait_texts(".cp-ended strong", &["This chat isn't set up for this page."])
        .await?;
    assert!(browser.widget_texts(".cp-bubble").await?.is_empty());
    assert!(browser.widget_texts("textarea").await?.is_empty());
    // The owner, in the browser's console: the origin to add.
    let errors = browser.client.execute("return window.__errors;", vec![]).await?;
    let errors = errors.to_string();
    assert!(
        errors.contains(&format!(
            "the page's origin '{origin}' may not open the chat of site 'locked'"
        )) && errors.contains("allowed origins"),
        "{errors}"
    );
    browser.screenshot("not-set-up-origin").await?;

    // No retries: after the backoff's first steps (1 s, 2 s) it has still tried once.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    browser
        .wait_texts(".cp-ended strong", &["This chat isn't set up for this page."])
        .await?;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/api/console/login", relay.base))
        .header("x-chatpay-console", "1")
        .json(&serde_json::json!({ "email": "owner@locked.test", "password": "a long enough password 1" }))
        .send()
        .await?;
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let checks: serde_json::Value = http
        .get(format!("{}/api/console/sites/locked/troubleshoot", relay.base))
        .header("x-chatpay-console", "1")
        .header("cookie", cookie)
        .send()
        .await?
        .json()
        .await?;
    let origins = checks
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == "origins"))
        .cloned()
        .unwrap_or_default();
    let detail = origins["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with(&format!("{origin} (once,")), "{origins}");

    // A typo in data-site: the same words for the visitor, the typo for the owner.
    let (listener, typo_origin) = HostPage::bind().await?;
    let typo = HostPage::serve(
        listener,
        typo_origin,
        HostPage::shop_html(&relay.base, "lockd", keep_errors),
    );
    browser.client.goto(&typo.origin).await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    browser
        .wait_texts(".cp-ended strong", &["This chat isn't set up for this page."])
        .await?;
    let errors = browser.client.execute("return window.__errors;", vec![]).await?;
    assert!(
        errors
            .to_string()
            .contains("no site 'lockd' on this relay; check the script tag's data-site"),
        "{errors}"
    );
    browser.screenshot("not-set-up-site").await?;
    browser.close().await?;
    Ok(())
}

/// A host page with a strict Content-Security-Policy embeds the widget with exactly the
/// sources the README names, and the visitor chats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_page_with_a_strict_csp_embeds_the_widget() -> anyhow::Result<()> {
    let scratch = Scratch::new("csp-host");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.cli(&[
        "site",
        "add",
        "--id",
        "csp-shop",
        "--name",
        "CSP Shop",
        "--origin",
        &origin,
        "--greeting",
        "Hello under a strict CSP.",
    ])?;
    let relay = chatpay.serve(&[]).await?;
    let ws = relay.base.replacen("http", "ws", 1);
    let csp = format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; \
         script-src {r} 'wasm-unsafe-eval'; connect-src {r} {ws}; style-src {r}\">",
        r = relay.base
    );
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "csp-shop", &csp),
    );
    let browser = Browser::start().await?;
    browser.client.goto(&page.origin).await?;
    browser
        .widget_element(".cp-launch:not(.cp-boot)")
        .await?
        .click()
        .await?;
    browser
        .wait_texts(".cp-bot .cp-bubble", &["Hello under a strict CSP."])
        .await?;
    let input = browser.widget_element("textarea").await?;
    input.send_keys("Does it work with our CSP?").await?;
    input.send_keys("\u{E007}").await?;
    browser
        .wait_texts(
            ".cp-me:not(.cp-pending) .cp-bubble",
            &["Does it work with our CSP?"],
        )
        .await?;
    // The widget is styled (its stylesheet loaded): the launcher is a visible, sized button.
    let size = browser
        .in_widget("const b = root.querySelector('.cp-launch'); const r = b.getBoundingClientRect(); return [r.width, r.height];", vec![])
        .await?;
    assert!(size[0].as_f64().unwrap_or(0.0) >= 40.0, "{size}");
    browser.screenshot("csp-host-chat").await?;
    Ok(())
}

/// On a 375 px phone the chat fills the screen; the launcher bubble lay over the Send button
/// (only Enter could send). While the panel is full-screen the launcher steps aside (the
/// header's × closes), and a tap on Send sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_send_button_can_be_tapped() -> anyhow::Result<()> {
    let scratch = Scratch::new("phone");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("phone-shop", "Phone Shop", &origin)?;
    let relay = chatpay.serve(&[]).await?;
    let page = HostPage::serve(
        listener,
        origin.clone(),
        HostPage::shop_html(&relay.base, "phone-shop", ""),
    );
    let browser = Browser::start().await?;
    browser.client.set_window_size(375, 812).await?;
    browser.client.goto(&page.origin).await?;
    let width = browser
        .client
        .execute("return window.innerWidth;", vec![])
        .await?;
    anyhow::ensure!(
        width.as_u64().is_some_and(|w| w <= 480),
        "the page is phone-sized: {width}"
    );
    browser
        .widget_element(".cp-launch:not(.cp-boot)")
        .await?
        .click()
        .await?;
    browser.widget_element(".cp-panel").await?;
    // WebDriver taps where a finger would: it fails when something else lies over Send.
    browser
        .widget_element("textarea")
        .await?
        .send_keys("Sent with a tap")
        .await?;
    browser.widget_element(".cp-send").await?.click().await?;
    browser
        .wait_texts(".cp-me:not(.cp-pending) .cp-bubble", &["Sent with a tap"])
        .await?;
    browser.screenshot("phone-375-chat").await?;
    browser.close().await?;
    Ok(())
}

/// The relay's demo page fits a 375 px phone (its snippet made it 478 px wide and pushed
/// the chat bubble off the screen), and its card is paid inside the chat out of the box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_fits_a_phone() -> anyhow::Result<()> {
    let scratch = Scratch::new("demo-phone");
    let chatpay = Chatpay::new(&scratch.0)?;
    let relay = chatpay.serve(&["--demo", "--stripe-simulator"]).await?;
    let browser = Browser::start().await?;
    browser.client.set_window_size(375, 812).await?;
    browser.client.goto(&format!("{}/demo", relay.base)).await?;
    browser.widget_element(".cp-launch").await?;
    let sizes = browser
        .client
        .execute(
            "const b = document.getElementById('chatpay').shadowRoot.querySelector('.cp-launch').getBoundingClientRect(); \
             return [document.documentElement.scrollWidth, window.innerWidth, b.right];",
            vec![],
        )
        .await?;
    let n = |i: usize| sizes[i].as_f64().unwrap_or(f64::MAX);
    browser.screenshot("demo-page-375").await?;
    assert!(n(0) <= n(1), "the demo page scrolls sideways on a phone: {sizes}");
    assert!(n(2) <= n(1), "the chat bubble is on the screen: {sizes}");

    // Out of the box the demo pays inside the chat: Pay opens the checkout over the panel,
    // full screen, in the same tab.
    let demo = format!("{}/demo", relay.base);
    browser.demo_chat_to_the_card(&demo, "My backups fail").await?;
    let tabs = browser.client.windows().await?.len();
    browser.click_in_widget("a.cp-pay").await?;
    browser.find("#chatpay-checkout iframe").await?;
    browser.widget_element("section.cp-paying:not([hidden])").await?;
    assert_eq!(browser.client.windows().await?.len(), tabs, "no new tab");
    browser.screenshot("demo-pay-in-panel-375").await?;
    browser.close().await?;
    Ok(())
}
