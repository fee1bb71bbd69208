//! What an operator runs the relay with (issue 15, operations): `--log-format json` writes one
//! JSON object per line, and every line logged while a request runs carries the request's id
//! (the caller's `X-Request-Id`, echoed back) and the site its URL names.

use chatpay_e2e::{connect_with_simulator, stripe_signature, Chatpay, Scratch};
use serde_json::Value;

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
    let body = r#"{"id":"evt_logs","object":"event","type":"checkout.session.completed"}"#;
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/stripe/shop", relay.base))
        .header("x-request-id", "req-ops-1")
        .header(
            "stripe-signature",
            stripe_signature(body, "whsec_not_the_secret", 1),
        )
        .body(body)
        .send()
        .await?;
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
