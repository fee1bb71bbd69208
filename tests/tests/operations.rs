//! What an operator runs the relay with (issue 15, operations): `--log-format json` writes one
//! JSON object per line, and every line logged while a request runs carries the request's id
//! (the caller's `X-Request-Id`, echoed back) and the site its URL names.

use chatpay_e2e::{connect_with_simulator, stripe_signature, Chatpay, Scratch};
use serde_json::Value;

/// A Checkout event for site `shop` signed with a secret that is not the site's (the relay
/// refuses it with 400), with `X-Request-Id` when given.
async fn badly_signed(base: &str, request_id: Option<&str>) -> anyhow::Result<reqwest::Response> {
    let body = r#"{"id":"evt_bad","object":"event","type":"checkout.session.completed"}"#;
    let mut req = reqwest::Client::new()
        .post(format!("{base}/webhooks/stripe/shop"))
        .header(
            "stripe-signature",
            stripe_signature(body, "whsec_not_the_secret", 1),
        )
        .body(body);
    if let Some(id) = request_id {
        req = req.header("x-request-id", id);
    }
    Ok(req.send().await?)
}

/// The fields of every span a JSON log line was written in.
fn spans(line: &Value) -> Vec<&serde_json::Map<String, Value>> {
    line["spans"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_the_site() -> anyhow::Result<()> {
    let scratch = Scratch::new("json-logs");
    let mut chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Shop", "http://shop.test")?;
    chatpay.env.push(("CHATPAY_LOG".into(), "info".into()));
    let log = scratch.0.join("relay.log");
    let relay = chatpay
        .serve_logged(0, &["--stripe-simulator", "--log-format", "json"], Some(&log))
        .await?;
    connect_with_simulator(&chatpay, &relay, "shop", "sk_test_jsonlogs000000000").await?;

    // A delivery with a bad signature: refused, and logged as such.
    let resp = badly_signed(&relay.base, Some("req-ops-1")).await?;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-request-id"], "req-ops-1", "the id comes back");
    // Without one, the relay makes one up and says which.
    let healthz = reqwest::get(format!("{}/healthz", relay.base)).await?;
    let made = healthz.headers()["x-request-id"].to_str()?.to_owned();
    assert!(made.starts_with("req_"), "{made}");
    drop(relay);

    let text = std::fs::read_to_string(&log)?;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("not JSON: {l:?}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    assert!(lines.len() >= 3, "{text}");
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            spans(l)
                .iter()
                .any(|s| s.get("request_id") == Some(&Value::from("req-ops-1")))
        })
        .collect();
    let messages: Vec<&str> = of_request
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("webhook refused")),
        "the refusal is logged inside the request: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("finished processing request")),
        "one line per answer: {messages:?}"
    );
    for line in &of_request {
        let request = spans(line)
            .into_iter()
            .find(|s| s.get("name") == Some(&Value::from("request")))
            .expect("the request's span");
        assert_eq!(request["site"], "shop");
        assert_eq!(request["path"], "/webhooks/stripe/shop");
        assert_eq!(request["method"], "POST");
    }
    assert!(
        lines.iter().any(|l| spans(l)
            .iter()
            .any(|s| s.get("request_id") == Some(&Value::from(made.as_str())))),
        "the made-up id is in the log too"
    );
    Ok(())
}

/// `chatpay backup` beside a serving relay, restored into a fresh folder with the key: the
/// restored relay shows the same conversation (history and payment card) and still reaches
/// Stripe with the stored secret (a new visitor gets a Checkout link). Without the key, the
/// copy says plainly that its secrets cannot be opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_into_a_relay_that_still_reaches_stripe() -> anyhow::Result<()>
{
    use chatpay_e2e::visitor::{demo_to_the_card, Visitor};
    use chatpay_shared::protocol::ServerFrame;
    const ORIGIN: &str = "http://shop.test";

    let live = Scratch::new("backup-live");
    let chatpay = Chatpay::new(&live.0)?;
    chatpay.add_site("shop", "Shop", ORIGIN)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", "sk_test_backup0000000000000").await?;
    let first = demo_to_the_card(&relay.base, "shop", ORIGIN, "Backup my files").await?;
    assert!(first.url.contains("/simulator/checkout/"), "{}", first.url);
    let token = first.token.clone();

    // Taken while the relay serves.
    let copy = live.0.join("backup.db");
    let said = chatpay.cli(&["backup", copy.to_str().unwrap_or_default()])?;
    assert!(said.contains("backed up to"), "{said}");
    assert!(
        said.contains("secret.key"),
        "it names the key the secrets need: {said}"
    );
    let again = chatpay.cli(&["backup", copy.to_str().unwrap_or_default()]);
    assert!(
        again.is_err_and(|e| e.to_string().contains("already exists")),
        "a backup never overwrites"
    );
    drop(relay);

    // Restored with its key, in a fresh folder.
    let restored = Scratch::new("backup-restored");
    std::fs::copy(&copy, restored.0.join("chatpay.db"))?;
    std::fs::copy(live.0.join("secret.key"), restored.0.join("secret.key"))?;
    let back = Chatpay::new(&restored.0)?;
    let relay = back.serve(&["--stripe-simulator"]).await?;
    let (mut v, welcome) = Visitor::connect(&relay.base, "shop", ORIGIN, Some(&token), None).await?;
    assert!(matches!(&welcome, ServerFrame::Welcome { visitor_token, .. } if *visitor_token == token));
    let history = v.until(|f| matches!(f, ServerFrame::PaymentCard { .. })).await?;
    assert!(
        history
            .iter()
            .any(|f| matches!(f, ServerFrame::Message { text, .. } if text == "Backup my files")),
        "the same conversation: {history:?}"
    );
    // The stored Stripe secret opens: a new visitor gets a new Checkout link.
    let second = demo_to_the_card(&relay.base, "shop", ORIGIN, "Restore my files").await?;
    assert!(second.url.contains("/simulator/checkout/cs_"), "{}", second.url);
    drop(relay);

    // Without the key the copy cannot open its Stripe secrets, and says so.
    let keyless = Scratch::new("backup-keyless");
    std::fs::copy(&copy, keyless.0.join("chatpay.db"))?;
    let err = Chatpay::new(&keyless.0)?
        .cli(&["stripe", "status", "--site", "shop"])
        .expect_err("a copy without its key cannot open the secrets");
    assert!(err.to_string().contains("cannot decrypt"), "{err}");
    Ok(())
}

/// Every byte of the SQLite database and its WAL and shared-memory files, as one buffer.
fn database_bytes(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("chatpay.db") && !name.ends_with("serve-lock") {
            all.extend(std::fs::read(&path)?);
        }
    }
    Ok(all)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `chatpay conversation export` and `erase`: the export holds what the visitor said; after
/// the erase, what they said is gone from the database files' bytes
/// (not only from queries), the payment's amount and status stay, and the visitor's old token
/// no longer opens the conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_conversation_leaves_no_visitor_text_in_the_database_files() -> anyhow::Result<()> {
    use chatpay_e2e::visitor::{demo_to_the_card, Visitor};
    use chatpay_shared::protocol::{PaymentStatus, ServerFrame};
    const ORIGIN: &str = "http://shop.test";
    const MARKER: &str = "zebra-marker-8812 call me on 0170 5551234";

    let scratch = Scratch::new("erase");
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Shop", ORIGIN)?;
    chatpay.import_demo_workflow("shop")?;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    connect_with_simulator(&chatpay, &relay, "shop", "sk_test_erase00000000000000").await?;
    let at = demo_to_the_card(&relay.base, "shop", ORIGIN, MARKER).await?;
    let (visitor_token, conversation, payment) =
        (at.token.clone(), at.conversation.clone(), at.payment.clone());
    drop(at);
    assert!(
        contains(&database_bytes(&scratch.0)?, "zebra-marker-8812"),
        "the scan sees the visitor's words before the erase"
    );

    // The visitor's data request first: the export holds what they said and the payment.
    let exported = chatpay.cli(&["conversation", "export", "--site", "shop", "--id", &conversation])?;
    let doc: serde_json::Value = serde_json::from_str(&exported)?;
    assert_eq!(doc["format"], "chatpay.conversation.v1");
    assert!(exported.contains("zebra-marker-8812"), "{exported}");
    assert_eq!(doc["payments"][0]["id"], payment.as_str());
    assert_eq!(doc["payments"][0]["amount"], "49.99");

    // Erased beside the serving relay (which keeps the WAL open), scanned while it serves.
    let said = chatpay.cli(&["conversation", "erase", "--site", "shop", "--id", &conversation])?;
    assert!(said.contains("erased conversation"), "{said}");
    let bytes = database_bytes(&scratch.0)?;
    assert!(
        !contains(&bytes, "zebra-marker-8812"),
        "the visitor's words are gone from the files' bytes"
    );
    assert!(!contains(&bytes, "5551234"));
    drop(relay);

    // The accounts keep the payment; the old token opens a new conversation.
    let store = chatpay_server::store::Store::connect(&chatpay.database_url).await?;
    let kept = store.payment(&payment).await?.expect("the payment stays");
    assert_eq!((kept.amount_minor, kept.status), (4999, PaymentStatus::Pending));
    assert_eq!(kept.description, chatpay_server::store::erase::ERASED);
    store.close().await;
    let relay = chatpay.serve(&["--stripe-simulator"]).await?;
    let (_v, welcome) = Visitor::connect(&relay.base, "shop", ORIGIN, Some(&visitor_token), None).await?;
    assert!(
        matches!(&welcome, ServerFrame::Welcome { conversation: c, .. } if *c != conversation),
        "the old token no longer opens the erased conversation"
    );
    let again = chatpay.cli(&["conversation", "erase", "--site", "shop", "--id", "conv_nope"]);
    assert!(again.is_err_and(|e| e.to_string().contains("no conversation 'conv_nope'")));
    let exported = chatpay.cli(&["conversation", "export", "--site", "shop", "--id", &conversation])?;
    assert!(
        !exported.contains("zebra-marker-8812"),
        "the export after the erase: {exported}"
    );

    // Retention from the CLI: a number of days, a refusal naming the range, or keep.
    let said = chatpay.cli(&["site", "retention", "--id", "shop", "--days", "90"])?;
    assert!(said.contains("nobody touched for 90 days"), "{said}");
    let refused = chatpay.cli(&["site", "retention", "--id", "shop", "--days", "0"]);
    assert!(refused.is_err_and(|e| e.to_string().contains("use 1 to 3650 days")));
    let said = chatpay.cli(&["site", "retention", "--id", "shop", "--keep"])?;
    assert!(said.contains("keeps its conversations"), "{said}");
    Ok(())
}

/// `--metrics-listen`: a second address serves `/metrics` to a scraper without a token (and
/// nothing else), while the main address keeps it off without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_address_need_no_token_and_stay_off_the_main_one() -> anyhow::Result<()> {
    let scratch = Scratch::new("metrics-listen");
    let chatpay = Chatpay::new(&scratch.0)?;
    chatpay.add_site("shop", "Shop", "http://shop.test")?;
    let relay = chatpay
        .serve(&["--stripe-simulator", "--metrics-listen", "127.0.0.1:0"])
        .await?;
    let url = chatpay_e2e::eventually(std::time::Duration::from_secs(10), || async {
        let said = relay
            .said
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone();
        Ok(said
            .iter()
            .find_map(|l| l.strip_prefix("metrics (Prometheus text): ").map(str::to_owned))
            .ok_or_else(|| format!("the relay did not say where metrics are: {said:?}")))
    })
    .await?;
    // Something to count: a delivery with a bad signature.
    assert_eq!(badly_signed(&relay.base, None).await?.status(), 400);

    let scraped = reqwest::get(&url).await?;
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await?;
    assert!(text.contains("# TYPE chatpay_webhooks_total counter"), "{text}");
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("chatpay_webhooks_total{outcome=\"refused\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok());
    assert_eq!(count, Some(1.0), "{text}");
    // That address serves nothing else; the main one keeps metrics off without a token.
    let other = reqwest::get(url.replace("/metrics", "/healthz")).await?;
    assert_eq!(other.status(), 404);
    let main = reqwest::get(format!("{}/metrics", relay.base)).await?;
    assert_eq!(main.status(), 404);
    assert!(main.text().await?.contains("--metrics-listen"));
    Ok(())
}
