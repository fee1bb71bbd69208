//! `/metrics` scraped and parsed as Prometheus text: webhooks by outcome with their latency
//! histogram, Stripe calls by operation and result, open visitor sockets, budget refusals;
//! closed without the token, off (and saying how to turn it on) without one configured.
//!
//! One test in its own binary: the recorder is one per process, so the counts are exact.

mod common;

use std::collections::{BTreeMap, HashMap};

use chatpay_server::assets::WidgetAssets;
use common::{paid_event, Backend, TestApp};

const TOKEN: &str = "metrics-token-0123456789";

/// One sample per line: `name{a="x",b="y"} value`, keyed by the name and its labels in
/// sorted order (`name{a="x",b="y"}`), so a test does not depend on the label order.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let key = match series.split_once('{') {
            None => series.to_owned(),
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end with }");
                let sorted: BTreeMap<&str, &str> = labels
                    .split("\",")
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once('=').expect("label=value");
                        (k, v.trim_matches('"'))
                    })
                    .collect();
                let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                format!("{name}{{{}}}", inner.join(","))
            }
        };
        out.insert(key, value);
    }
    out
}

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scrapes_what_the_relay_did() {
    let app = TestApp::spawn_with(Backend::Sqlite, WidgetAssets::none(), None, |s| {
        s.metrics_token = Some(TOKEN.into())
    })
    .await;

    // Closed to anyone without the token.
    assert_eq!(scrape(&app, None).await.status(), 401);
    let wrong = scrape(&app, Some("metrics-token-0123456780")).await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("Authorization: Bearer"));

    // What a relay does: Stripe calls, a visitor, webhooks applied, repeated and refused.
    let whsec = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    let session = payment.session_id.clone().unwrap();
    let (_visitor, _) = app.visitor(None, None).await;
    let event = paid_event("evt_metrics_1", &payment.id, &session);
    assert_eq!(app.webhook(&whsec, &event).await.1["outcome"], "applied");
    assert_eq!(app.webhook(&whsec, &event).await.1["outcome"], "duplicate");
    assert_eq!(app.webhook("whsec_not_the_secret", &event).await.0, 400);

    let resp = scrape(&app, Some(TOKEN)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("# TYPE chatpay_webhook_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# HELP chatpay_webhooks_total"), "{text}");
    let m = parse(&text);
    let get = |k: &str| m.get(k).copied().unwrap_or_else(|| panic!("no {k} in\n{text}"));
    assert_eq!(get("chatpay_webhooks_total{outcome=\"applied\"}"), 1.0);
    assert_eq!(get("chatpay_webhooks_total{outcome=\"duplicate\"}"), 1.0);
    assert_eq!(get("chatpay_webhooks_total{outcome=\"refused\"}"), 1.0);
    assert_eq!(get("chatpay_webhook_seconds_count"), 3.0);
    assert_eq!(get("chatpay_webhook_seconds_bucket{le=\"+Inf\"}"), 3.0);
    assert!(get("chatpay_webhook_seconds_sum") > 0.0);
    assert_eq!(
        get("chatpay_stripe_calls_total{operation=\"POST /v1/checkout/sessions\",result=\"ok\"}"),
        1.0
    );
    assert!(get("chatpay_stripe_calls_total{operation=\"GET /v1/balance\",result=\"ok\"}") >= 1.0);
    assert!(get("chatpay_stripe_call_seconds_count{operation=\"POST /v1/checkout/sessions\"}") >= 1.0);
    assert_eq!(get("chatpay_sockets_open"), 1.0);
    assert_eq!(
        get("chatpay_budget_refusals_total{budget=\"conversations_per_ip\"}"),
        0.0
    );
    // No series is per payment or per session.
    assert!(!text.contains(&session) && !text.contains(&payment.id));

    // A relay with no token configured serves nothing there, and says how to turn it on.
    let off = TestApp::spawn(Backend::Sqlite).await;
    let resp = scrape(&off, Some(TOKEN)).await;
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("CHATPAY_METRICS_TOKEN"));
}
