//! The Stripe client against a scripted fake server: what it sends, when it retries
//! (exactly where Stripe's SDKs do), and the typed errors it returns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;
use chatpay_server::stripe::client::{NewCheckoutSession, StripeError, StripeHttp};

/// One recorded request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    stripe_version: Option<String>,
    idempotency_key: Option<String>,
    authorization: Option<String>,
    body: String,
}

/// A server that answers with the scripted `(status, should_retry header, body)` in turn.
async fn fake_stripe(
    script: Vec<(u16, Option<&'static str>, &'static str)>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let log = Arc::clone(&seen);
    let app = Router::new().fallback(any(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let log = Arc::clone(&log);
            let script = Arc::clone(&script);
            async move {
                log.lock().unwrap().push(Seen {
                    path: uri.path().to_owned(),
                    stripe_version: headers
                        .get("stripe-version")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    idempotency_key: headers
                        .get("idempotency-key")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    authorization: headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned()),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let (status, retry, body) = script.lock().unwrap().next().unwrap_or((500, None, "{}"));
                let mut resp = (StatusCode::from_u16(status).unwrap(), body.to_owned()).into_response();
                if let Some(r) = retry {
                    resp.headers_mut()
                        .insert("stripe-should-retry", r.parse().unwrap());
                }
                resp.headers_mut()
                    .insert("request-id", "req_123".parse().unwrap());
                resp
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

const SESSION: &str = r#"{"id":"cs_test_1","object":"checkout.session","status":"open","payment_status":"unpaid","url":"https://checkout.example/cs_test_1","amount_total":4999,"currency":"usd","client_reference_id":"pay_1","metadata":{"site":"shop"}}"#;
const SERVER_ERROR: &str = r#"{"error":{"type":"api_error","message":"boom"}}"#;

fn params() -> NewCheckoutSession<'static> {
    NewCheckoutSession {
        amount: 4999,
        currency: "usd".into(),
        description: "Support contract deposit",
        client_reference_id: "pay_1",
        metadata: vec![("site", "shop"), ("payment", "pay_1")],
        expires_at: 2_000_000_000,
        success_url: "https://shop.example/ok",
        cancel_url: "https://shop.example/back",
        payment_method_configuration: Some("pmc_1"),
        return_to: None,
    }
}

fn http(base: &str) -> StripeHttp {
    StripeHttp::new(base, Duration::from_secs(5)).with_retries(2, Duration::from_millis(10))
}

#[tokio::test]
async fn creates_a_session_with_bracketed_form_fields_and_bearer_auth() {
    let (base, seen) = fake_stripe(vec![(200, None, SESSION)]).await;

    let session = http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&params(), "pay_1")
        .await
        .unwrap();

    assert_eq!(session.id, "cs_test_1");
    assert_eq!(session.url.as_deref(), Some("https://checkout.example/cs_test_1"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/checkout/sessions");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk_test_abc"));
    assert_eq!(seen[0].idempotency_key.as_deref(), Some("pay_1"));
    let form: Vec<(String, String)> = url::form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| form.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    assert_eq!(get("mode"), Some("payment"));
    assert_eq!(get("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("4999"));
    assert_eq!(
        get("line_items[0][price_data][product_data][name]"),
        Some("Support contract deposit")
    );
    assert_eq!(get("line_items[0][quantity]"), Some("1"));
    assert_eq!(get("client_reference_id"), Some("pay_1"));
    assert_eq!(get("metadata[payment]"), Some("pay_1"));
    assert_eq!(get("expires_at"), Some("2000000000"));
    assert_eq!(get("payment_method_configuration"), Some("pmc_1"));
}

#[tokio::test]
async fn server_errors_and_conflicts_are_retried_with_the_same_idempotency_key() {
    let (base, seen) = fake_stripe(vec![
        (500, None, SERVER_ERROR),
        (409, None, SERVER_ERROR),
        (200, None, SESSION),
    ])
    .await;

    let session = http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&params(), "pay_1")
        .await
        .unwrap();

    assert_eq!(session.id, "cs_test_1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.idempotency_key.as_deref() == Some("pay_1")));
}

#[tokio::test]
async fn a_plain_429_is_not_retried_but_should_retry_true_is() {
    let (base, seen) = fake_stripe(vec![(
        429,
        None,
        r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#,
    )])
    .await;
    let err = http(&base).client("sk_test_abc").balance().await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(seen.lock().unwrap().len(), 1);

    let (base, seen) = fake_stripe(vec![
        (429, Some("true"), "{}"),
        (200, None, r#"{"livemode":false}"#),
    ])
    .await;
    let balance = http(&base).client("sk_test_abc").balance().await.unwrap();
    assert!(!balance.livemode);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn should_retry_false_stops_a_retry_even_on_a_500() {
    let (base, seen) = fake_stripe(vec![(500, Some("false"), SERVER_ERROR), (200, None, SESSION)]).await;
    let err = http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&params(), "pay_1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn retries_stop_after_the_limit() {
    let (base, seen) = fake_stripe(vec![(503, None, SERVER_ERROR); 5]).await;
    let err = http(&base).client("sk_test_abc").balance().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(seen.lock().unwrap().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn stripe_errors_become_typed_errors_with_the_message() {
    let body = r#"{"error":{"type":"invalid_request_error","code":"parameter_missing","param":"line_items[0][price_data][currency]","message":"Missing required param: line_items[0][price_data][currency]."}}"#;
    let (base, _) = fake_stripe(vec![(400, None, body)]).await;
    let err = http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&params(), "pay_1")
        .await
        .unwrap_err();
    match &err {
        StripeError::Api {
            status,
            kind,
            code,
            param,
            message,
            request_id,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(kind, "invalid_request_error");
            assert_eq!(code.as_deref(), Some("parameter_missing"));
            assert_eq!(param.as_deref(), Some("line_items[0][price_data][currency]"));
            assert!(message.starts_with("Missing required param"));
            assert_eq!(request_id.as_deref(), Some("req_123"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("Missing required param"), "{err}");
}

#[tokio::test]
async fn an_unreachable_stripe_is_retried_then_reported() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = http(&format!("http://127.0.0.1:{port}"))
        .client("sk_test_abc")
        .balance()
        .await
        .unwrap_err();
    match err {
        StripeError::Network { url, reason } => {
            assert!(url.ends_with("/v1/balance"), "{url}");
            assert_eq!(reason, "connection failed");
        }
        other => panic!("{other:?}"),
    }
}

/// Runs `tests/sdk/check_session_create.py` with the Python `cargo xtask test` installed
/// stripe-python into, on one create call: its verdict and what it printed.
fn stripe_python_says(stripe_version: &str, form: &[(String, String)]) -> (bool, String) {
    use std::io::Write as _;
    let python = std::env::var("CHATPAY_STRIPE_PYTHON").expect(
        "CHATPAY_STRIPE_PYTHON names a Python with stripe-python 16.1.0: run this test with `cargo xtask test`",
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sdk/check_session_create.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("stripe-python runs");
    let input = serde_json::json!({ "stripe_version": stripe_version, "form": form });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// What chatpay sends to create a Checkout Session is a call Stripe's own SDK could make at
/// the version it pins: every key is a parameter of stripe-python 16.1.0's
/// `SessionCreateParams` (nested ones through its types), every enum value one it lists,
/// and `Stripe-Version` is the one it pins. The checker refuses what the API no longer
/// takes (a removed `ui_mode` name, `payment_method_types`, the old version), so a pass
/// says something.
#[tokio::test]
async fn the_create_call_is_one_stripe_pythons_session_create_params_allow() {
    let (base, seen) = fake_stripe(vec![(200, None, SESSION)]).await;
    http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&params(), "pay_1")
        .await
        .unwrap();
    let call = seen.lock().unwrap()[0].clone();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    // The hosted page is Stripe's default and is not named: the request stays the one a
    // relay of the previous version sent under the same Idempotency-Key.
    assert!(!form.iter().any(|(k, _)| k == "ui_mode"), "{form:?}");
    let version = call.stripe_version.expect("a Stripe-Version header");

    let (valid, said) = stripe_python_says(&version, &form);
    assert!(valid, "stripe-python refuses chatpay's create call:\n{said}");
    assert!(said.contains("valid for stripe-python 16.1.0"), "{said}");

    // The embedded page's call: no success or cancel URL, a return URL and its redirect rule.
    let (base, seen) = fake_stripe(vec![(200, None, SESSION)]).await;
    let embedded = NewCheckoutSession {
        return_to: Some(
            "https://relay.example/checkout/return?payment=pay_1&session_id={CHECKOUT_SESSION_ID}",
        ),
        ..params()
    };
    http(&base)
        .client("sk_test_abc")
        .create_checkout_session(&embedded, "pay_1")
        .await
        .unwrap();
    let call = seen.lock().unwrap()[0].clone();
    let embedded_form: Vec<(String, String)> = url::form_urlencoded::parse(call.body.as_bytes())
        .into_owned()
        .collect();
    let sent = |k: &str| {
        embedded_form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(sent("ui_mode"), Some("embedded_page"));
    assert_eq!(sent("redirect_on_completion"), Some("if_required"));
    assert!(
        sent("success_url").is_none() && sent("cancel_url").is_none(),
        "{embedded_form:?}"
    );
    let (valid, said) =
        stripe_python_says(call.stripe_version.as_deref().unwrap_or_default(), &embedded_form);
    assert!(valid, "stripe-python refuses the embedded create call:\n{said}");

    let mut old = form.clone();
    old.push(("ui_mode".into(), "hosted".into()));
    old.push(("payment_method_types[0]".into(), "card".into()));
    let (valid, said) = stripe_python_says("2024-06-20", &old);
    assert!(!valid, "the checker must refuse an outdated call: {said}");
    for named in ["'2024-06-20'", "ui_mode='hosted'", "payment_method_types"] {
        assert!(said.contains(named), "the checker names {named}: {said}");
    }
}
