//! The console on a phone and an inbox left open: every console page fits a 375 px screen
//! (no sideways scroll, a folding site menu), an owner answers a waiting visitor from a
//! phone, and an open inbox comes back by itself after a relay restart, opening each
//! transcript at its newest line with long links wrapped. Screenshots in
//! target/screenshots/console-phone-*.png and console-inbox-restart-*.png.

use std::time::Duration;

use chatpay_e2e::visitor::Visitor;
use chatpay_e2e::{Browser, Chatpay, HostPage, Scratch};
use chatpay_shared::protocol::{Author, ServerFrame};

const EMAIL: &str = "owner@phone.test";
const PASSWORD: &str = "a long enough password 2";
const ORIGIN: &str = "https://phone-shop.example";

/// How far the page scrolls sideways, and how wide the page's main column is.
async fn widths(browser: &Browser) -> anyhow::Result<(i64, i64, i64)> {
    let v = browser
        .client
        .execute(
            "const m = document.querySelector('main'); \
             return [document.documentElement.scrollWidth, window.innerWidth, m ? Math.round(m.getBoundingClientRect().width) : 0];",
            vec![],
        )
        .await?;
    let n = |i: usize| v[i].as_i64().unwrap_or(-1);
    Ok((n(0), n(1), n(2)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_answers_a_waiting_visitor_from_a_phone() -> anyhow::Result<()> {
    let scratch = Scratch::new("console-phone");
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    chatpay.add_site("phone-shop", "Phone Shop", ORIGIN)?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    // A visitor writes; the site has no workflow, so the chat waits for a person.
    let (mut visitor, _) = Visitor::connect(&relay.base, "phone-shop", ORIGIN, None, None).await?;
    visitor
        .send(&chatpay_shared::protocol::ClientFrame::Text {
            client_id: "v1".into(),
            text: "Is anyone there? I need a refund for order https://phone-shop.example/orders/2026-12-02/abcdefghijklmnopqrstuvwxyz0123456789".into(),
        })
        .await?;
    visitor
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Bot,
                    ..
                }
            )
        })
        .await?;

    let browser = Browser::start().await?;
    browser.client.set_window_size(375, 812).await?;
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    for (route, name) in [
        ("/", "sites"),
        ("/sites/phone-shop", "settings"),
        ("/sites/phone-shop/workflows", "workflow"),
        ("/sites/phone-shop/stripe/1", "stripe"),
        ("/sites/phone-shop/troubleshoot", "troubleshoot"),
        ("/sites/phone-shop/inbox", "inbox"),
    ] {
        browser
            .client
            .goto(&format!("{}/console/#{route}", relay.base))
            .await?;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (scroll, inner, main) = widths(&browser).await?;
        browser.screenshot(&format!("console-phone-{name}")).await?;
        assert!(
            scroll <= inner,
            "{name}: the page scrolls sideways ({scroll} px in a {inner} px window)"
        );
        assert!(
            main >= inner - 40,
            "{name}: the content is {main} px wide in a {inner} px window"
        );
    }

    // The site menu folds away and opens on demand.
    let sites_shown = "return getComputedStyle(document.querySelector('aside .sites')).display !== 'none';";
    assert_eq!(browser.client.execute(sites_shown, vec![]).await?, false);
    browser.find("#menu").await?.click().await?;
    assert_eq!(browser.client.execute(sites_shown, vec![]).await?, true);
    browser.screenshot("console-phone-menu").await?;
    browser.find("#menu").await?.click().await?;

    // The owner answers the waiting visitor.
    browser
        .find("#inbox-filter")
        .await?
        .select_by_value("waiting")
        .await?;
    browser.find("li.conv.waiting").await?.click().await?;
    browser.wait_page_text("#transcript", "Is anyone there?").await?;
    let wraps = browser
        .client
        .execute(
            "const t = document.getElementById('transcript'); return t.scrollWidth <= t.clientWidth;",
            vec![],
        )
        .await?;
    assert_eq!(wraps, true, "the long link wraps inside the transcript");
    browser
        .type_into("textarea[name=reply]", "Yes! Let me look at that order.")
        .await?;
    browser.find("#send-reply").await?.click().await?;
    let heard = visitor
        .until(|f| {
            matches!(
                f,
                ServerFrame::Message {
                    from: Author::Agent,
                    ..
                }
            )
        })
        .await?;
    assert!(heard.iter().any(
        |f| matches!(f, ServerFrame::Message { from: Author::Agent, text, .. } if text == "Yes! Let me look at that order.")
    ));
    browser.wait_page_text("#conv-status", "With a person").await?;
    let (scroll, inner, _) = widths(&browser).await?;
    assert!(
        scroll <= inner,
        "the open conversation scrolls sideways ({scroll} > {inner})"
    );
    browser.screenshot("console-phone-answered").await?;
    browser.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_inbox_comes_back_after_a_relay_restart_at_the_newest_line() -> anyhow::Result<()> {
    let scratch = Scratch::new("inbox-restart");
    let chatpay = Chatpay::new(&scratch.0)?;
    let (_listener, origin) = HostPage::bind().await?;
    chatpay.add_owner(EMAIL, PASSWORD)?;
    chatpay.add_site("shop", "Shop", &origin)?;
    let relay = chatpay.serve(&[]).await?;
    let port = relay.port();
    let (mut visitor, welcome) = Visitor::connect(&relay.base, "shop", &origin, None, None).await?;
    let ServerFrame::Welcome { visitor_token, .. } = welcome else {
        anyhow::bail!("no welcome")
    };
    for i in 0..40 {
        visitor
            .send(&chatpay_shared::protocol::ClientFrame::Text {
                client_id: format!("v{i}"),
                text: format!("line {i} of a long conversation"),
            })
            .await?;
    }
    visitor
        .until(|f| matches!(f, ServerFrame::Message { text, .. } if text == "line 39 of a long conversation"))
        .await?;

    let browser = Browser::start().await?;
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/inbox", relay.base))
        .await?;
    browser.find("li.conv").await?.click().await?;
    browser.wait_page_text("#transcript", "line 39").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_bottom = "const t = document.getElementById('transcript'); \
                     return t.scrollHeight - t.scrollTop - t.clientHeight < 4;";
    assert_eq!(
        browser.client.execute(at_bottom, vec![]).await?,
        true,
        "the transcript opens at its newest line"
    );

    // The relay restarts while the inbox stays open.
    drop(visitor);
    drop(relay);
    let relay = chatpay.serve_on(port, &[]).await?;
    let (mut visitor, _) =
        Visitor::connect(&relay.base, "shop", &origin, Some(&visitor_token), Some(41)).await?;
    // Give the inbox's socket a moment to find the relay again (its backoff starts at 1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    visitor
        .send(&chatpay_shared::protocol::ClientFrame::Text {
            client_id: "after".into(),
            text: "still there after the restart?".into(),
        })
        .await?;
    browser
        .wait_page_text("#transcript", "still there after the restart?")
        .await?;
    assert_eq!(
        browser.client.execute(at_bottom, vec![]).await?,
        true,
        "a new line is shown at the bottom"
    );
    browser.screenshot("console-inbox-restart").await?;
    browser.close().await?;
    Ok(())
}
