//! The console's workflow editor and agent inbox in headless Chromium: an owner builds a
//! payment workflow with the editor and publishes it, a visitor runs it to Paid and another
//! takes the invalid_amount branch; the bot hands off, a person replies and asks for a
//! payment by hand, the visitor pays, and both sides see Paid live. Screenshots in
//! target/screenshots/console-editor-*.png and console-inbox-*.png.

use chatpay_e2e::{connect_with_simulator, Browser, Chatpay, HostPage, Relay, Scratch};

const EMAIL: &str = "owner@shop.test";
const PASSWORD: &str = "a long enough password";
const KEY: &str = "sk_test_editorinbox000000000";

async fn shop(tag: &str, workflow: Option<&str>) -> anyhow::Result<(Scratch, Relay, HostPage)> {
    let scratch = Scratch::new(tag);
    let chatpay = Chatpay::new(&scratch.0)?;
    let (listener, origin) = HostPage::bind().await?;
    chatpay.add_site("shop", "Acme Support", &origin)?;
    if let Some(json) = workflow {
        let file = scratch.0.join("wf.json");
        std::fs::write(&file, json)?;
        chatpay.import_workflow("shop", &file)?;
    }
    chatpay.add_owner(EMAIL, PASSWORD)?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", KEY).await?;
    let page = HostPage::serve(listener, origin, HostPage::shop_html(&relay.base, "shop", ""));
    Ok((scratch, relay, page))
}

async fn sign_in(browser: &Browser, relay: &Relay, route: &str) -> anyhow::Result<()> {
    browser.sign_in(&relay.base, EMAIL, PASSWORD).await?;
    browser
        .client
        .goto(&format!("{}/console/#{route}", relay.base))
        .await?;
    Ok(())
}

async fn select(browser: &Browser, css: &str, value: &str) -> anyhow::Result<()> {
    browser.find(css).await?.select_by_value(value).await?;
    Ok(())
}

/// Pays the card in the widget through Checkout in a new tab, and comes back.
async fn pay_in_checkout(browser: &Browser) -> anyhow::Result<()> {
    let me = browser.pay_in_checkout().await?;
    browser.client.close_window().await?;
    browser.client.switch_to_window(me).await?;
    Ok(())
}

/// Opens the widget on the host page as a new visitor.
///
/// The visitor token is cleared on the origin's page without the widget: on the shop page
/// a widget still booting could save its token again after the clear.
async fn new_visitor(browser: &Browser, page: &HostPage) -> anyhow::Result<()> {
    browser.client.goto(&page.blank()).await?;
    browser
        .client
        .execute("localStorage.clear(); return true;", vec![])
        .await?;
    browser.client.goto(&page.origin).await?;
    browser.click_in_widget(".cp-launch:not(.cp-boot)").await?;
    Ok(())
}

async fn say(browser: &Browser, text: &str) -> anyhow::Result<()> {
    let input = browser.widget_element("textarea").await?;
    input.send_keys(text).await?;
    input.send_keys("\u{E007}").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_builds_a_payment_workflow_and_visitors_run_it() -> anyhow::Result<()> {
    let (_scratch, relay, page) = shop("editor", None).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &relay, "/sites/shop/workflows").await?;

    // greet → ask the amount → Request Payment (from the variable) → Condition → two endings.
    browser
        .type_into(
            "section[data-node=greet] textarea[name=text]",
            "Hello! Let's settle your bill.",
        )
        .await?;
    for kind in [
        "ask",
        "request_payment",
        "condition",
        "send_message",
        "send_message",
    ] {
        select(&browser, "#add-node", kind).await?;
    }
    browser.find("section[data-node=node6]").await?;
    select(&browser, "section[data-node=greet] select[name=next]", "node2").await?;
    browser
        .type_into(
            "section[data-node=node2] textarea[name=text]",
            "How much would you like to pay (USD)?",
        )
        .await?;
    browser
        .type_into("section[data-node=node2] input[name=variable]", "amount")
        .await?;
    select(&browser, "section[data-node=node2] select[name=next]", "node3").await?;
    select(
        &browser,
        "section[data-node=node3] select[name=amount_mode]",
        "variable",
    )
    .await?;
    browser
        .wait_page_text(
            "section[data-node=node3] #amount-preview",
            "checked when the workflow runs",
        )
        .await?;
    browser
        .type_into("section[data-node=node3] input[name=description]", "Your bill")
        .await?;
    select(&browser, "section[data-node=node3] select[name=next]", "node4").await?;
    select(&browser, "section[data-node=node4] select[name=then]", "node5").await?;
    select(&browser, "section[data-node=node4] select[name=else]", "node6").await?;
    browser
        .type_into(
            "section[data-node=node5] textarea[name=text]",
            "Thank you, payment received!",
        )
        .await?;
    browser
        .type_into(
            "section[data-node=node6] textarea[name=text]",
            "No payment (<<paymentStatus>>).",
        )
        .await?;

    browser.find("#check-workflow").await?.click().await?;
    browser
        .wait_page_text("#editor-message", "No problems found")
        .await?;
    browser.screenshot("console-editor-1-built").await?;
    browser.find("#publish-workflow").await?.click().await?;
    browser
        .wait_page_text("#editor-message", "Published as version 1")
        .await?;

    // A visitor pays 49.99.
    browser.client.new_window(true).await?;
    let tabs = browser.client.windows().await?;
    browser
        .client
        .switch_to_window(tabs.last().cloned().unwrap())
        .await?;
    new_visitor(&browser, &page).await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hello! Let's settle your bill.",
                "How much would you like to pay (USD)?",
            ],
        )
        .await?;
    say(&browser, "49.99").await?;
    browser.wait_texts(".cp-card .cp-amount", &["$49.99"]).await?;
    pay_in_checkout(&browser).await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    let bot = browser.widget_texts(".cp-bot .cp-bubble").await?;
    assert_eq!(
        bot.last().map(String::as_str),
        Some("Thank you, payment received!"),
        "{bot:?}"
    );

    // Another visitor types an amount that cannot be charged: the invalid_amount branch.
    new_visitor(&browser, &page).await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hello! Let's settle your bill.",
                "How much would you like to pay (USD)?",
            ],
        )
        .await?;
    say(&browser, "49,999").await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hello! Let's settle your bill.",
                "How much would you like to pay (USD)?",
                "Sorry, I can't request a payment of '49,999': commas are not accepted; use a dot for decimals and no thousands separators, like 1000.50. Nothing was charged.",
                "No payment (invalid_amount).",
            ],
        )
        .await?;
    assert!(
        browser.widget_texts(".cp-card").await?.is_empty(),
        "no card, no session"
    );
    browser.screenshot("console-editor-2-invalid-amount").await?;

    // Back in the editor, a field error shows at its field.
    let tabs = browser.client.windows().await?;
    browser.client.switch_to_window(tabs[0].clone()).await?;
    browser
        .type_into("section[data-node=node3] input[name=lifetime_minutes]", "5")
        .await?;
    browser.find("#publish-workflow").await?.click().await?;
    browser
        .wait_page_text(
            "section[data-node=node3] .error[data-field=lifetime_minutes]",
            "30 to 1440",
        )
        .await?;
    browser.screenshot("console-editor-3-field-error").await?;
    browser.close().await?;
    Ok(())
}

const HANDOFF: &str = r#"{"format":1,"name":"Straight to a person","start":"hi","nodes":[
    {"id":"hi","type":"send_message","text":"Hi! Let me get a person for you.","next":"h"},
    {"id":"h","type":"handoff","text":"A person will reply here shortly."}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_answers_and_the_payment_they_send_turns_paid_on_both_sides() -> anyhow::Result<()> {
    let (_scratch, relay, page) = shop("inbox", Some(HANDOFF)).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &relay, "/sites/shop/inbox").await?;
    let console = browser.client.window().await?;

    // The visitor arrives; the bot hands off.
    let visitor = browser.client.new_window(true).await?.handle;
    browser.client.switch_to_window(visitor.clone()).await?;
    new_visitor(&browser, &page).await?;
    browser
        .wait_texts(
            ".cp-bot .cp-bubble",
            &[
                "Hi! Let me get a person for you.",
                "A person will reply here shortly.",
            ],
        )
        .await?;
    say(&browser, "I was charged twice last month").await?;

    // The inbox shows the waiting conversation; the person opens it and answers.
    browser.client.switch_to_window(console.clone()).await?;
    select(&browser, "#inbox-filter", "waiting").await?;
    browser.find("li.conv.waiting").await?.click().await?;
    browser
        .wait_page_text("#transcript", "I was charged twice last month")
        .await?;
    browser
        .type_into(
            "textarea[name=reply]",
            "Sorry about that! I'm Sam; let me sort it out.",
        )
        .await?;
    browser.find("#send-reply").await?.click().await?;
    browser.wait_page_text("#conv-status", "With a person").await?;

    browser.client.switch_to_window(visitor.clone()).await?;
    browser
        .wait_texts(
            ".cp-agent .cp-bubble",
            &["Sorry about that! I'm Sam; let me sort it out."],
        )
        .await?;

    // The person asks for a payment by hand.
    browser.client.switch_to_window(console.clone()).await?;
    browser.type_into("input[name=pay_amount]", "25").await?;
    browser
        .type_into("input[name=pay_description]", "Account review")
        .await?;
    browser.find("#send-payment").await?.click().await?;
    browser.wait_page_text("#transcript", "Account review").await?;

    // The visitor pays; the card turns Paid on the visitor's side...
    browser.client.switch_to_window(visitor.clone()).await?;
    browser
        .wait_texts(".cp-card .cp-desc", &["Account review"])
        .await?;
    browser.wait_texts(".cp-card .cp-amount", &["$25.00"]).await?;
    pay_in_checkout(&browser).await?;
    browser.wait_texts(".cp-card .cp-chip", &["Paid ✓"]).await?;
    browser.screenshot("console-inbox-1-visitor-paid").await?;

    // ... and on the person's, live.
    browser.client.switch_to_window(console).await?;
    browser.wait_page_text("li.card-line", "paid").await?;
    browser.find("li.card-line [data-status=paid]").await?;
    browser.screenshot("console-inbox-2-agent-sees-paid").await?;
    browser.close().await?;
    Ok(())
}

/// Unpublished edits survive a tab switch and a reload (kept in the browser), leaving the
/// page with them asks first, and after Publish the header shows the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpublished_edits_survive_a_tab_switch_and_a_reload() -> anyhow::Result<()> {
    let demo =
        std::fs::read_to_string(chatpay_e2e::workspace_root().join("server/assets/demo-workflow.json"))?;
    let (_scratch, relay, _page) = shop("editor-draft", Some(&demo)).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &relay, "/sites/shop/workflows").await?;
    browser
        .wait_page_text("#draft-status", "Showing v1, as published.")
        .await?;
    let leaving_asks = "const e = new Event('beforeunload', { cancelable: true }); \
                        window.dispatchEvent(e); return e.defaultPrevented;";
    assert_eq!(browser.client.execute(leaving_asks, vec![]).await?, false);

    // An edit, then the Inbox tab and back.
    let greet = "section[data-node=greet] textarea[name=text]";
    browser.type_into(greet, "Hello from a draft!").await?;
    browser
        .wait_page_text("#draft-status", "Unpublished changes, based on v1.")
        .await?;
    assert_eq!(
        browser.client.execute(leaving_asks, vec![]).await?,
        true,
        "leaving with unpublished changes asks first"
    );
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/inbox", relay.base))
        .await?;
    browser.find("#inbox-filter").await?;
    browser
        .client
        .goto(&format!("{}/console/#/sites/shop/workflows", relay.base))
        .await?;
    browser
        .wait_page_text("#draft-status", "Unpublished changes, based on v1.")
        .await?;
    assert_eq!(
        browser.find(greet).await?.prop("value").await?.as_deref(),
        Some("Hello from a draft!")
    );

    // A reload (a person would be asked first; WebDriver accepts the question).
    browser.client.refresh().await?;
    browser
        .wait_page_text("#draft-status", "Unpublished changes, based on v1.")
        .await?;
    browser
        .wait_page_text("#editor-message", "kept in this browser")
        .await?;
    assert_eq!(
        browser.find(greet).await?.prop("value").await?.as_deref(),
        Some("Hello from a draft!")
    );
    browser.screenshot("console-editor-3-draft-kept").await?;

    // Published: the header says so, and leaving no longer asks.
    browser.find("#publish-workflow").await?.click().await?;
    browser
        .wait_page_text("#editor-message", "Published as version 2")
        .await?;
    browser
        .wait_page_text("#draft-status", "Showing v2, as published.")
        .await?;
    assert_eq!(browser.client.execute(leaving_asks, vec![]).await?, false);
    browser.client.refresh().await?;
    browser
        .wait_page_text("#draft-status", "Showing v2, as published.")
        .await?;
    assert_eq!(
        browser.find(greet).await?.prop("value").await?.as_deref(),
        Some("Hello from a draft!")
    );
    browser.close().await?;
    Ok(())
}

/// The draft drawn as a graph above the cards: the demo's paid and not-paid branches are
/// labelled, clicking a box brings its card into view with its id field focused, and a node
/// nothing leads to is drawn dashed as unreachable (issue 15, "the workflow as a picture").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_opens_a_nodes_card_and_marks_an_unreachable_node() -> anyhow::Result<()> {
    let demo =
        std::fs::read_to_string(chatpay_e2e::workspace_root().join("server/assets/demo-workflow.json"))?;
    let (_scratch, relay, _page) = shop("graph", Some(&demo)).await?;
    let browser = Browser::start().await?;
    sign_in(&browser, &relay, "/sites/shop/workflows").await?;

    let nodes = [
        "greet", "need", "pay", "paid", "thanks", "done", "offer", "route", "person",
    ];
    for id in nodes {
        browser
            .find(&format!("#workflow-graph [data-graph-node=\"{id}\"]"))
            .await?;
    }
    let label = |edge: &'static str| {
        let browser = &browser;
        async move {
            browser
                .find(&format!("#workflow-graph [data-edge=\"{edge}\"] text"))
                .await?
                .text()
                .await
                .map_err(anyhow::Error::from)
        }
    };
    assert_eq!(label("paid>thanks").await?, "paid");
    assert_eq!(label("paid>offer").await?, "not paid");
    assert_eq!(label("greet>need").await?, "next");
    browser.wait_page_text(".graph-legend", "9 nodes").await?;
    let legend = browser.find(".graph-legend").await?.text().await?;
    assert!(
        !legend.contains("unreachable"),
        "the demo has no unreachable node: {legend}"
    );
    // Every box is a button with a name a screen reader can say.
    let problems = browser.accessibility_problems(Some("#workflow-graph")).await?;
    assert!(problems.is_empty(), "axe: {problems:#?}");
    browser
        .client
        .execute(
            "document.getElementById('workflow-graph').scrollIntoView(); return true;",
            vec![],
        )
        .await?;
    browser.screenshot("console-graph-demo").await?;

    // A click on a box opens its card: in view, marked, its id field focused.
    browser
        .find("#workflow-graph [data-graph-node=\"person\"]")
        .await?
        .click()
        .await?;
    browser
        .find("section.node.selected[data-node=\"person\"]")
        .await?;
    let in_view =
        "const c = document.querySelector('section.node[data-node=\"person\"]').getBoundingClientRect(); \
                   return c.top >= 0 && c.top < window.innerHeight;";
    assert_eq!(
        browser.client.execute(in_view, vec![]).await?,
        true,
        "the card is scrolled into view"
    );
    let focused = "return document.activeElement && document.activeElement.classList.contains('node-id') \
                   ? document.activeElement.value : null;";
    assert_eq!(browser.client.execute(focused, vec![]).await?, "person");
    browser.screenshot("console-graph-opened").await?;

    // A new node is linked from nowhere: drawn as unreachable, and counted.
    select(&browser, "#add-node", "send_message").await?;
    browser
        .find("#workflow-graph [data-graph-node=\"node10\"].unreachable")
        .await?;
    browser.wait_page_text(".graph-legend", "1 unreachable").await?;
    let reachable_marked = browser
        .client
        .execute(
            "return document.querySelectorAll('#workflow-graph .graph-node.unreachable').length;",
            vec![],
        )
        .await?;
    assert_eq!(reachable_marked, 1, "only the new node is unreachable");
    browser.screenshot("console-graph-unreachable").await?;
    browser.close().await
}
