//! The built-in Stripe simulator, through the real client over real HTTP: keys, required
//! parameters and their types, idempotency, and the objects it returns.

mod common;

use chatpay_server::stripe::client::{NewCheckoutSession, StripeError};
use chatpay_server::stripe::types::SessionStatus;
use common::{Backend, TestApp, STRIPE_KEY};
use std::time::Duration;

fn params<'a>(expires_at: i64) -> NewCheckoutSession<'a> {
    NewCheckoutSession {
        amount: 4999,
        currency: "usd".into(),
        description: "Support contract deposit",
        client_reference_id: "pay_sim",
        metadata: vec![("site", "shop"), ("payment", "pay_sim")],
        expires_at,
        success_url: "https://shop.example/ok",
        cancel_url: "https://shop.example/back",
        payment_method_configuration: None,
        return_to: None,
    }
}

fn now() -> i64 {
    chatpay_server::store::now_ms() / 1000
}

fn api_error(e: StripeError) -> (u16, String, Option<String>, Option<String>, String) {
    match e {
        StripeError::Api {
            status,
            kind,
            code,
            param,
            message,
            ..
        } => (status, kind, code, param, message),
        other => panic!("expected a Stripe API error, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_are_checked_like_stripe() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let stripe = &app.state.stripe;

    assert!(stripe.client(STRIPE_KEY).balance().await.is_ok());
    assert!(stripe
        .client("rk_test_shoptest000000000000")
        .balance()
        .await
        .is_ok());
    for (key, says) in [
        ("sk_live_abcdefghijklmnop", "live keys"),
        ("pk_test_abcdefghijklmnop", "publishable key"),
        ("sk_test_short", "Invalid API Key provided: sk_test_…"),
        ("xk_test_abcdefghijklmnop", "Invalid API Key provided"),
    ] {
        let (status, _, _, _, message) = api_error(stripe.client(key).balance().await.unwrap_err());
        assert_eq!(status, 401, "{key}");
        assert!(message.contains(says), "{key}: {message}");
        assert!(
            !message.contains(key) || key.len() < 20,
            "the full key is never echoed: {message}"
        );
    }
    let (status, _, _, _, message) = api_error(
        stripe
            .client("rk_test_readonlyshop000000")
            .create_checkout_session(&params(now() + 3600), "k-ro")
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 403);
    assert!(
        message.contains("does not have the required permissions"),
        "{message}"
    );

    // The key test: a restricted key must be able to create Checkout Sessions; the session
    // the test makes is expired at once, so nobody can pay it.
    use chatpay_server::stripe::client::KeyRefused;
    use chatpay_server::stripe::keys::check_secret_key;
    let may_write = "rk_test_shoptest000000000000";
    let kind = check_secret_key(may_write).unwrap();
    assert!(stripe.client(may_write).verify_key(kind).await.is_ok());
    let read_only = "rk_test_readonlyshop000000";
    match stripe
        .client(read_only)
        .verify_key(check_secret_key(read_only).unwrap())
        .await
    {
        Err(KeyRefused::LacksPermission(m)) => assert!(m.contains("rak_checkout_session_write"), "{m}"),
        other => panic!("expected the missing permission, got {other:?}"),
    }
    let listed: serde_json::Value = reqwest::Client::new()
        .get(app.url("/simulator/stripe/v1/checkout/sessions"))
        .bearer_auth(may_write)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let made = listed["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(made.len(), 1, "one test session: {listed}");
    assert_eq!(made[0]["status"], "expired", "nobody can pay it: {listed}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_are_created_retrieved_and_expired() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(STRIPE_KEY);

    let created = client
        .create_checkout_session(&params(now() + 3600), "k-1")
        .await
        .unwrap();
    assert!(created.id.starts_with("cs_test_"), "{}", created.id);
    assert_eq!(created.status, Some(SessionStatus::Open));
    assert_eq!(created.amount_total, Some(4999));
    assert_eq!(created.currency.as_deref(), Some("usd"));
    assert_eq!(created.client_reference_id.as_deref(), Some("pay_sim"));
    assert_eq!(
        created.metadata.get("payment").map(String::as_str),
        Some("pay_sim")
    );
    let url = created.url.clone().unwrap();
    assert_eq!(url, app.url(&format!("/simulator/checkout/{}", created.id)));

    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("TEST MODE"), "the hosted page is labelled");
    assert!(
        page.contains("Support contract deposit") && page.contains("49.99 USD"),
        "{page}"
    );

    let fetched = client.retrieve_checkout_session(&created.id).await.unwrap();
    assert_eq!(fetched.id, created.id);
    let expired = client.expire_checkout_session(&created.id).await.unwrap();
    assert_eq!(expired.status, Some(SessionStatus::Expired));
    // The client's expire is idempotent: asking again replays the same answer.
    let again = client.expire_checkout_session(&created.id).await.unwrap();
    assert_eq!(again.status, Some(SessionStatus::Expired));
    // A fresh request (another key) is refused: only open sessions can be expired.
    let resp = reqwest::Client::new()
        .post(app.url(&format!(
            "/simulator/stripe/v1/checkout/sessions/{}/expire",
            created.id
        )))
        .bearer_auth(STRIPE_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("status of \"expired\""),
        "{body}"
    );

    let (status, _, code, _, _) = api_error(
        client
            .retrieve_checkout_session("cs_test_nope")
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_deref()), (404, Some("resource_missing")));
    let other_account = app.state.stripe.client("sk_test_someoneelse00000");
    assert!(
        other_account
            .retrieve_checkout_session(&created.id)
            .await
            .is_err(),
        "accounts are separate"
    );
    app.stop().await;
}

#[tokio::test]
async fn required_params_types_and_limits_are_checked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(STRIPE_KEY);

    let mut small = params(now() + 3600);
    small.amount = 49;
    let (status, _, code, param, message) = api_error(
        client
            .create_checkout_session(&small, "k-small")
            .await
            .unwrap_err(),
    );
    assert_eq!((status, code.as_deref()), (400, Some("amount_too_small")));
    assert_eq!(param.as_deref(), Some("line_items[0][price_data][unit_amount]"));
    assert!(message.contains("0.50 usd"), "{message}");

    let mut odd = params(now() + 3600);
    odd.currency = "kwd".into();
    odd.amount = 5124;
    let (_, _, _, _, message) = api_error(client.create_checkout_session(&odd, "k-kwd").await.unwrap_err());
    assert!(message.contains("third decimal"), "{message}");

    let mut unknown = params(now() + 3600);
    unknown.currency = "xyz".into();
    let (_, _, _, param, _) = api_error(
        client
            .create_checkout_session(&unknown, "k-xyz")
            .await
            .unwrap_err(),
    );
    assert_eq!(param.as_deref(), Some("line_items[0][price_data][currency]"));

    let (_, _, _, param, message) = api_error(
        client
            .create_checkout_session(&params(now() + 600), "k-soon")
            .await
            .unwrap_err(),
    );
    assert_eq!(param.as_deref(), Some("expires_at"));
    assert!(message.contains("at least 30 minutes"), "{message}");
    let (_, _, _, _, message) = api_error(
        client
            .create_checkout_session(&params(now() + 90_000), "k-late")
            .await
            .unwrap_err(),
    );
    assert!(message.contains("less than 24 hours"), "{message}");

    let mut pmc = params(now() + 3600);
    pmc.payment_method_configuration = Some("pmc_missing");
    let (status, _, code, _, _) = api_error(client.create_checkout_session(&pmc, "k-pmc").await.unwrap_err());
    assert_eq!((status, code.as_deref()), (404, Some("resource_missing")));

    // Raw requests: a missing parameter, a wrong type, an unknown parameter.
    let raw = |body: &'static str| {
        reqwest::Client::new()
            .post(app.url("/simulator/stripe/v1/checkout/sessions"))
            .bearer_auth(STRIPE_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let resp = raw("mode=payment").await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(body["error"]["param"], "line_items[0][price_data][currency]");
    let body: serde_json::Value = raw(
        "mode=payment&line_items[0][quantity]=1&line_items[0][price_data][currency]=usd\
         &line_items[0][price_data][unit_amount]=abc&line_items[0][price_data][product_data][name]=x&success_url=https://a.b",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(body["error"]["message"], "Invalid integer: abc");
    let body: serde_json::Value = raw("mode=payment&colour=blue")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["message"], "Received unknown parameter: colour");
    let resp = reqwest::get(app.url("/simulator/stripe/v1/customers"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn idempotency_replays_the_same_request_and_refuses_a_different_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(STRIPE_KEY);
    let expires = now() + 3600;

    let first = client
        .create_checkout_session(&params(expires), "pay_same")
        .await
        .unwrap();
    let again = client
        .create_checkout_session(&params(expires), "pay_same")
        .await
        .unwrap();
    assert_eq!(first.id, again.id, "same key and parameters: the same session");

    let mut changed = params(expires);
    changed.amount = 5999;
    let (status, kind, _, _, message) = api_error(
        client
            .create_checkout_session(&changed, "pay_same")
            .await
            .unwrap_err(),
    );
    assert_eq!((status, kind.as_str()), (400, "idempotency_error"));
    assert!(message.contains("same parameters"), "{message}");

    let other = client
        .create_checkout_session(&params(expires), "pay_other")
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    app.stop().await;
}

#[tokio::test]
async fn payment_method_configurations_switch_wallets() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(STRIPE_KEY);

    let pmc = client
        .create_payment_method_configuration(true, false, "pmc-1")
        .await
        .unwrap();
    assert!(pmc.id.starts_with("pmc_"));
    assert_eq!(pmc.apple_pay.unwrap().display_preference.value, "on");
    assert_eq!(pmc.google_pay.unwrap().display_preference.value, "off");
    let updated = client
        .update_payment_method_configuration(&pmc.id, false, true)
        .await
        .unwrap();
    assert_eq!(updated.apple_pay.unwrap().display_preference.value, "off");
    assert_eq!(updated.google_pay.unwrap().display_preference.value, "on");

    let mut with_pmc = params(now() + 3600);
    with_pmc.payment_method_configuration = Some(&pmc.id);
    assert!(client
        .create_checkout_session(&with_pmc, "k-with-pmc")
        .await
        .is_ok());
    app.stop().await;
}

#[tokio::test]
async fn open_sessions_expire_by_themselves_at_expires_at() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;

    // Jump the simulator's clock past expires_at: it expires the session and tells us.
    app.advance_clock(3700).await;

    let p = app
        .wait_payment(&payment.id, chatpay_shared::protocol::PaymentStatus::Expired)
        .await;
    assert_eq!(p.resolved_by.as_deref(), Some("webhook"));
    app.stop().await;
}

/// The simulator cannot be turned against the relay's host: webhook endpoints only to this
/// relay's own webhook routes, the clock only with the token, and the hosted page sends
/// visitors only to the relay or an origin of the session's site.
#[tokio::test]
async fn the_simulator_cannot_be_used_against_the_relays_host() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(common::STRIPE_KEY);
    for target in [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:5432/",
        "https://evil.example/hook",
    ] {
        let refused = client
            .create_webhook_endpoint(target, &["*"], None)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("only to this relay's webhook routes"),
            "{refused}"
        );
    }
    // A URL that climbs out of the webhook routes once passed (the check compared text;
    // the HTTP client then resolved the dots): the simulator posted to the console's login.
    for climbing in [
        "/webhooks/stripe/../../api/console/login",
        "/webhooks/stripe/shop/../../../api/console/login",
        "/webhooks/stripe/%2e%2e/%2e%2e/api/console/login",
        "/webhooks/stripe/shop/extra",
        "/webhooks/stripe/",
    ] {
        let refused = client
            .create_webhook_endpoint(&app.url(climbing), &["*"], None)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("only to this relay's webhook routes"),
            "{climbing}: {refused}"
        );
    }
    assert!(client
        .create_webhook_endpoint(&app.url("/webhooks/stripe/shop"), &["*"], None)
        .await
        .is_ok());
    // Sixteen endpoints per account, as at Stripe (each event went to every one).
    for _ in 1..16 {
        client
            .create_webhook_endpoint(&app.url("/webhooks/stripe/shop"), &["*"], None)
            .await
            .unwrap();
    }
    let refused = client
        .create_webhook_endpoint(&app.url("/webhooks/stripe/shop"), &["*"], None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("maximum of 16"), "{refused}");

    // The clock: not without the token, and never past a sane bound.
    let resp = reqwest::Client::new()
        .post(app.url("/simulator/clock/advance?seconds=3700"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let before = app.state.simulator.as_ref().unwrap().now();
    app.advance_clock(i64::MAX).await;
    let after = app.state.simulator.as_ref().unwrap().now();
    assert!(
        (30 * 24 * 3600..=30 * 24 * 3600 + 5).contains(&(after - before)),
        "at most 30 days at a time, no overflow"
    );

    // A session made with some other test key, returning to a foreign site: no redirect.
    let stray = reqwest::Client::new()
        .post(app.url("/simulator/stripe/v1/checkout/sessions"))
        .bearer_auth("sk_test_attacker00000000")
        .form(&[
            ("mode", "payment"),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "500"),
            ("line_items[0][price_data][product_data][name]", "x"),
            ("success_url", "https://evil.example/phish"),
            ("cancel_url", "https://evil.example/phish"),
            ("metadata[site]", "shop"),
        ])
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let url = stray["url"].as_str().unwrap();
    let hosted = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(
        !hosted.contains("evil.example"),
        "no cancel link to a foreign site"
    );
    let resp = common::checkout(url, "paid").await;
    assert_eq!(resp.status(), 200, "not a redirect");
    assert!(resp.text().await.unwrap().contains("does not send you there"));
    app.stop().await;
}

/// Strings are limited like Stripe's (5,000 characters; a request body of 64 KiB): one
/// address once stored 291 sessions with 1.5 MB names in 10 s (420 MB kept for a week).
#[tokio::test]
async fn oversized_strings_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let client = app.state.stripe.client(STRIPE_KEY);
    let long = "n".repeat(5_001);
    let mut named = params(now() + 3600);
    named.description = &long;
    let (status, _, _, param, message) = api_error(
        client
            .create_checkout_session(&named, "k-long")
            .await
            .unwrap_err(),
    );
    assert_eq!(status, 400);
    assert_eq!(
        param.as_deref(),
        Some("line_items[0][price_data][product_data][name]")
    );
    assert!(message.contains("at most 5000 characters"), "{message}");

    let huge = reqwest::Client::new()
        .post(app.url("/simulator/stripe/v1/checkout/sessions"))
        .bearer_auth(STRIPE_KEY)
        .body(format!("metadata[a]={}", "x".repeat(1_000_000)))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413, "a 1 MB request is refused");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM simulator_objects WHERE kind = 'checkout.session'")
            .fetch_one(app.state.store.reader())
            .await
            .unwrap();
    assert_eq!(stored, 0, "nothing was stored");
    app.stop().await;
}

/// Stripe takes the key as a Basic-auth user (`curl -u sk_test_…:`); so does the simulator.
#[tokio::test]
async fn the_key_may_come_as_a_basic_auth_user() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let balance = |key: &'static str| {
        let url = app.url("/simulator/stripe/v1/balance");
        async move {
            reqwest::Client::new()
                .get(url)
                .basic_auth(key, Some(""))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(balance(STRIPE_KEY).await, 200);
    assert_eq!(balance("sk_test_invalid0000000000").await, 401);
    app.stop().await;
}

/// The TEST MODE dashboard: closed without the token; the printed link opens it (the token
/// moves into a cookie); it shows the keys, the endpoint and its secret, the events with
/// their deliveries and the sessions; Resend delivers an event again; Advance moves the
/// clock.
#[tokio::test]
async fn the_simulator_dashboard_shows_what_happened_behind_its_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let secret = app.connect_stripe().await;
    let payment = app.create_payment(4999, "USD", None).await;
    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, chatpay_shared::protocol::PaymentStatus::Paid)
        .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let closed = http.get(app.url("/simulator/")).send().await.unwrap();
    assert_eq!(closed.status(), 401);
    assert!(!closed.text().await.unwrap().contains(&secret));
    let wrong = http.get(app.url("/simulator/?token=nope")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);

    let entry = http
        .get(app.url(&format!("/simulator/?token={}", common::SIMULATOR_TOKEN)))
        .send()
        .await
        .unwrap();
    assert_eq!(entry.status(), 303);
    assert_eq!(entry.headers()["location"], "/simulator/");
    let cookie = entry.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let page = |path: &'static str| {
        let (http, url, cookie) = (http.clone(), app.url(path), cookie.clone());
        async move { http.get(url).header("cookie", cookie).send().await.unwrap() }
    };
    let shown = page("/simulator/").await;
    assert_eq!(shown.status(), 200);
    let html = shown.text().await.unwrap();
    assert!(html.contains("TEST MODE"));
    assert!(html.contains("sk_test_"), "which keys work");
    assert!(html.contains(&secret), "the endpoint's secret, behind Reveal");
    assert!(html.contains(&app.url("/webhooks/stripe/shop")));
    assert!(html.contains("checkout.session.completed"));
    assert!(
        html.contains(payment.session_id.as_deref().unwrap()),
        "the session"
    );
    assert!(html.contains("delivered"), "the delivery's outcome");

    // Resend: the same event arrives again (a duplicate to the relay).
    let before = app
        .state
        .store
        .webhook_health(&common::shop())
        .await
        .unwrap()
        .duplicates;
    let delivery = html
        .split("data-delivery=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let resent = http
        .post(app.url(&format!("/simulator/deliveries/{delivery}/resend")))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resent.status(), 303);
    common::eventually(Duration::from_secs(10), || async {
        let health = app.state.store.webhook_health(&common::shop()).await.unwrap();
        (health.duplicates > before)
            .then_some(())
            .ok_or_else(|| "the event was not delivered again".to_owned())
    })
    .await;
    // Without the cookie, nothing happens.
    let refused = http
        .post(app.url(&format!("/simulator/deliveries/{delivery}/resend")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // Advance the clock by an hour.
    let sim = app.state.simulator.clone().unwrap();
    let then = sim.now();
    // A form on another page of the same site (another port, a sibling subdomain: SameSite
    // lets the cookie through) cannot press the dashboard's buttons.
    for origin in ["https://evil.example", "http://127.0.0.1:1", "null"] {
        let forged = http
            .post(app.url("/simulator/clock"))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .form(&[("seconds", "3600")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{origin}");
        let forged = http
            .post(app.url(&format!("/simulator/deliveries/{delivery}/resend")))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{origin}");
    }
    assert!(sim.now() < then + 3600, "a forged form moved the clock");
    let moved = http
        .post(app.url("/simulator/clock"))
        .header("cookie", cookie.clone())
        .header("origin", app.state.settings.own_origin())
        .form(&[("seconds", "3600")])
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 303);
    assert!(sim.now() >= then + 3600);
    app.stop().await;
}

/// chatpay speaks Stripe's API of 2026-10-28.endive (what stripe-python 16.1.0 and
/// stripe-node 23.1.0 pin), and the simulator answers in that version only: it refuses
/// another `Stripe-Version`, the `ui_mode` names 2026-03-25.dahlia removed, and the
/// parameters each page refuses, with Stripe's error shape.
#[tokio::test]
async fn the_simulator_speaks_one_api_version_and_its_ui_modes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http = reqwest::Client::new();
    let create = |fields: Vec<(&'static str, String)>, version: Option<&'static str>| {
        let mut req = http
            .post(app.url("/simulator/stripe/v1/checkout/sessions"))
            .bearer_auth(STRIPE_KEY);
        if let Some(v) = version {
            req = req.header("stripe-version", v);
        }
        let mut form: Vec<(&str, String)> = vec![
            ("mode", "payment".into()),
            ("line_items[0][quantity]", "1".into()),
            ("line_items[0][price_data][currency]", "usd".into()),
            ("line_items[0][price_data][unit_amount]", "4999".into()),
            ("line_items[0][price_data][product_data][name]", "Deposit".into()),
        ];
        form.extend(fields);
        async move {
            let resp = req.form(&form).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let version = "2026-10-28.endive";
    assert_eq!(chatpay_server::stripe::client::API_VERSION, version);

    // Another version is refused, naming the one the simulator speaks.
    let (status, body) = create(
        vec![("success_url", "https://shop.example/ok".into())],
        Some("2024-06-20"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(version) && message.contains("2024-06-20"),
        "{message}"
    );

    // The names dahlia removed fail, as at Stripe.
    for old in ["hosted", "embedded", "custom"] {
        let (status, body) = create(
            vec![
                ("ui_mode", old.into()),
                ("success_url", "https://shop.example/ok".into()),
            ],
            Some(version),
        )
        .await;
        assert_eq!(status, 400, "{old}: {body}");
        assert_eq!(body["error"]["param"], "ui_mode");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("hosted_page, embedded_page"),
            "{body}"
        );
    }

    // The embedded page takes no success or cancel URL, and needs a return URL unless it
    // never redirects.
    let (status, body) = create(
        vec![
            ("ui_mode", "embedded_page".into()),
            ("return_url", "https://shop.example/back".into()),
            ("success_url", "https://shop.example/ok".into()),
        ],
        Some(version),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "The following parameters are not supported with 'ui_mode: embedded_page': success_url."
    );
    let (status, body) = create(vec![("ui_mode", "embedded_page".into())], Some(version)).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("return_url")),
        "{body}"
    );
    let (status, body) = create(
        vec![
            ("ui_mode", "embedded_page".into()),
            ("redirect_on_completion", "never".into()),
            ("return_url", "https://shop.example/back".into()),
        ],
        Some(version),
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("return_url")),
        "{body}"
    );

    // An embedded session has a client secret and no URL; a hosted one the reverse.
    let (status, embedded) = create(
        vec![
            ("ui_mode", "embedded_page".into()),
            ("redirect_on_completion", "if_required".into()),
            (
                "return_url",
                "https://shop.example/back?session={CHECKOUT_SESSION_ID}".into(),
            ),
        ],
        Some(version),
    )
    .await;
    assert_eq!(status, 200, "{embedded}");
    assert_eq!(embedded["ui_mode"], "embedded_page");
    assert!(embedded["url"].is_null(), "{embedded}");
    let secret = embedded["client_secret"].as_str().unwrap();
    assert!(secret.starts_with(embedded["id"].as_str().unwrap()), "{secret}");
    let (status, body) = create(
        vec![
            ("ui_mode", "hosted_page".into()),
            ("success_url", "https://shop.example/ok".into()),
            ("return_url", "https://shop.example/back".into()),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("return_url")),
        "{body}"
    );

    // What chatpay itself sends: the hosted page, named, in its version.
    let made = app
        .state
        .stripe
        .client(STRIPE_KEY)
        .create_checkout_session(&params(now() + 3600), "k-version")
        .await
        .unwrap();
    let stored: serde_json::Value = http
        .get(app.url(&format!("/simulator/stripe/v1/checkout/sessions/{}", made.id)))
        .bearer_auth(STRIPE_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["ui_mode"], "hosted_page", "{stored}");
    assert!(
        stored["client_secret"].is_null() && stored["url"].is_string(),
        "{stored}"
    );

    // A webhook endpoint is made in chatpay's version; another is refused.
    let endpoint = |v: &'static str| {
        http.post(app.url("/simulator/stripe/v1/webhook_endpoints"))
            .bearer_auth(STRIPE_KEY)
            .form(&[
                ("url", app.url("/webhooks/stripe/shop").as_str()),
                ("enabled_events[0]", "*"),
                ("api_version", v),
            ])
            .send()
    };
    let refused = endpoint("2024-06-20").await.unwrap();
    assert_eq!(refused.status(), 400);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["param"], "api_version", "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains(version),
        "{refused}"
    );
    let made: serde_json::Value = endpoint(version).await.unwrap().json().await.unwrap();
    assert_eq!(made["api_version"], version, "{made}");
    app.stop().await;
}
