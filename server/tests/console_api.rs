//! The console API: accounts, sessions, CSRF protection, who may see what, the Stripe
//! wizard's answers, troubleshooting, and that no secret ever comes back out.

mod common;

use chatpay_server::assets::WidgetAssets;
use chatpay_server::stripe::signature;
use common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "a long enough password";

/// A console client: keeps the session cookie and sends the CSRF header.
struct Console {
    base: String,
    cookie: Option<String>,
    http: reqwest::Client,
    /// Every response body seen, to check that no secret ever appears.
    seen: std::cell::RefCell<String>,
}

impl Console {
    fn new(app: &TestApp) -> Console {
        Console {
            base: app.url(""),
            cookie: None,
            http: reqwest::Client::new(),
            seen: Default::default(),
        }
    }

    /// A console client whose requests come from another loopback address (another
    /// client, as far as the relay can tell).
    fn from_ip(app: &TestApp, ip: &str) -> Console {
        Console {
            http: reqwest::Client::builder()
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap(),
            ..Console::new(app)
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-chatpay-console", "1");
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        self.seen.borrow_mut().push_str(&text);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::GET, path, None).await;
        (s, v)
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::POST, path, Some(body)).await;
        (s, v)
    }
    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self.call(Method::PUT, path, Some(body)).await;
        (s, v)
    }

    /// Signs in (creating the account first through the store).
    async fn sign_in(&mut self, app: &TestApp, email: &str) {
        chatpay_server::accounts::create_account(&app.state.store, &app.state.hashers, email, PASSWORD)
            .await
            .ok();
        let (status, body, headers) = self
            .call(
                Method::POST,
                "/api/console/login",
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let set = headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
    }
}

fn field(v: &Value) -> (&str, &str) {
    (
        v["error"]["field"].as_str().unwrap_or(""),
        v["error"]["message"].as_str().unwrap_or(""),
    )
}

async fn every_console_api_needs_a_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anon = Console::new(&app);
    for (method, path) in [
        (Method::GET, "/api/console/me"),
        (Method::GET, "/api/console/sites"),
        (Method::POST, "/api/console/sites"),
        (Method::GET, "/api/console/sites/shop"),
        (Method::PUT, "/api/console/sites/shop"),
        (Method::GET, "/api/console/sites/shop/stripe"),
        (Method::POST, "/api/console/sites/shop/stripe/key"),
        (Method::PUT, "/api/console/sites/shop/stripe/settings"),
        (Method::PUT, "/api/console/sites/shop/stripe/webhook"),
        (Method::GET, "/api/console/sites/shop/troubleshoot"),
        (Method::GET, "/api/console/sites/shop/workflows"),
        (Method::POST, "/api/console/sites/shop/workflows"),
        (Method::POST, "/api/console/sites/shop/workflows/check"),
        (Method::GET, "/api/console/sites/shop/workflows/1"),
        (Method::GET, "/api/console/sites/shop/conversations"),
        (Method::GET, "/api/console/sites/shop/conversations/conv_x"),
        (Method::POST, "/api/console/sites/shop/conversations/conv_x/reply"),
        (
            Method::POST,
            "/api/console/sites/shop/conversations/conv_x/takeover",
        ),
        (
            Method::POST,
            "/api/console/sites/shop/conversations/conv_x/handback",
        ),
        (
            Method::POST,
            "/api/console/sites/shop/conversations/conv_x/payments",
        ),
        (Method::GET, "/api/console/sites/shop/live"),
    ] {
        let (status, body, _) = anon.call(method.clone(), path, Some(json!({}))).await;
        assert_eq!(status, 401, "{method} {path}: {body}");
    }
    let (status, body) = anon.get("/api/console/state").await;
    assert_eq!(
        (status, body["setup_needed"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    app.stop().await;
}
both!(every_console_api_needs_a_session);

async fn setup_login_logout_and_the_rate_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);

    // The first account comes from the one-time setup token.
    let token = chatpay_server::accounts::new_secret();
    app.state
        .store
        .create_setup_token(&chatpay_server::accounts::token_hash(&token), 60_000)
        .await
        .unwrap();
    let (s, b) = c
        .post(
            "/api/console/setup",
            json!({ "token": "wrong", "email": "owner@shop.test", "password": PASSWORD }),
        )
        .await;
    assert_eq!((s, field(&b).0), (StatusCode::BAD_REQUEST, "token"), "{b}");
    // Without the link the password is not even judged (judging a long l33t password took
    // a core for seconds, on the relay's event loop).
    let slow: String = "9[4[!1[$6%061+489872!06301<$5|1!2@!|([2|{[94<70596+86|$0%@07<(|<@<1!!7+6".repeat(14);
    let (s, b) = c
        .post(
            "/api/console/setup",
            json!({ "token": "wrong", "email": "owner@shop.test", "password": slow }),
        )
        .await;
    assert_eq!((s, field(&b).0), (StatusCode::BAD_REQUEST, "token"), "{b}");
    // A sign-in with a huge email is refused before it is counted or stored.
    let (s, b) = c
        .post(
            "/api/console/login",
            json!({ "email": format!("{}@shop.test", "a".repeat(100_000)), "password": "whatever it is" }),
        )
        .await;
    assert_eq!((s, field(&b).0), (StatusCode::BAD_REQUEST, "email"), "{b}");
    assert!(field(&b).1.contains("at most 254"), "{b}");
    let (s, b) = c
        .post(
            "/api/console/setup",
            json!({ "token": token, "email": "owner@shop.test", "password": "short" }),
        )
        .await;
    assert_eq!(
        field(&b),
        ("password", "use at least 10 characters for the password"),
        "{s} {b}"
    );
    let (s, b, headers) = c
        .call(
            Method::POST,
            "/api/console/setup",
            Some(json!({ "token": token, "email": "Owner@Shop.test", "password": PASSWORD })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["email"], "owner@shop.test");
    c.cookie = Some(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned(),
    );
    // The first account took the site the operator made before.
    let (_, sites) = c.get("/api/console/sites").await;
    assert_eq!(sites.as_array().unwrap().len(), 1);
    assert_eq!(sites[0]["id"], "shop");
    assert!(sites[0]["snippet"]
        .as_str()
        .unwrap()
        .contains("data-site=\"shop\""));
    // The token is used up.
    let (s, _) = Console::new(&app)
        .post(
            "/api/console/setup",
            json!({ "token": token, "email": "x@y.zz", "password": PASSWORD }),
        )
        .await;
    assert_eq!(s, 409);

    // Logout ends the session.
    let (s, _) = c.post("/api/console/logout", json!({})).await;
    assert_eq!(s, 200);
    let (s, _) = c.get("/api/console/me").await;
    assert_eq!(s, 401);

    // Five wrong passwords, then even the right one waits.
    let anon = Console::new(&app);
    for _ in 0..5 {
        let (s, b) = anon
            .post(
                "/api/console/login",
                json!({ "email": "owner@shop.test", "password": "wrong password!!" }),
            )
            .await;
        assert_eq!(s, 401, "{b}");
    }
    let (s, b) = anon
        .post(
            "/api/console/login",
            json!({ "email": "owner@shop.test", "password": PASSWORD }),
        )
        .await;
    assert_eq!(s, 429, "{b}");
    app.stop().await;
}
both!(setup_login_logout_and_the_rate_limit);

async fn writes_without_the_csrf_header_or_from_another_origin_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let http = reqwest::Client::new();
    let url = app.url("/api/console/sites/shop");
    let body = json!({ "name": "Hijacked", "origins": ["https://evil.test"], "greeting": "" });

    let resp = http
        .put(&url)
        .header("cookie", c.cookie.clone().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = http
        .put(&url)
        .header("cookie", c.cookie.clone().unwrap())
        .header("x-chatpay-console", "1")
        .header("origin", "https://evil.test")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("https://evil.test"));
    assert_eq!(
        app.state.store.site(&common::shop()).await.unwrap().unwrap().name,
        "The Shop",
        "nothing changed"
    );
    app.stop().await;
}
both!(writes_without_the_csrf_header_or_from_another_origin_are_refused);

async fn an_account_sees_and_changes_only_its_own_sites(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = Console::new(&app);
    a.sign_in(&app, "a@shop.test").await; // first account: owns "shop"
    let mut b = Console::new(&app);
    b.sign_in(&app, "b@other.test").await;

    let (s, v) = b
        .post(
            "/api/console/sites",
            json!({ "id": "b-site", "name": "B's", "origins": ["https://b.test"], "greeting": "Hi" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, list) = b.get("/api/console/sites").await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["b-site"]
    );

    for path in [
        "/api/console/sites/shop",
        "/api/console/sites/shop/stripe",
        "/api/console/sites/shop/troubleshoot",
    ] {
        let (s, _) = b.get(path).await;
        assert_eq!(s, 404, "B reads A's {path}");
    }
    let (s, _) = b
        .put(
            "/api/console/sites/shop",
            json!({ "name": "Mine now", "origins": ["https://b.test"], "greeting": "" }),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = b
        .post(
            "/api/console/sites/shop/stripe/key",
            json!({ "secret_key": common::STRIPE_KEY }),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = b
        .put(
            "/api/console/sites/shop/stripe/webhook",
            json!({ "secret": "whsec_abcdefghijkl" }),
        )
        .await;
    assert_eq!(s, 404);
    // Creating a site with A's id is a clear error at the field, not a takeover.
    let (s, v) = b
        .post(
            "/api/console/sites",
            json!({ "id": "shop", "name": "x", "origins": ["https://b.test"] }),
        )
        .await;
    assert_eq!((s, field(&v).0), (StatusCode::BAD_REQUEST, "id"), "{v}");
    let (s, _) = a.get("/api/console/sites/shop").await;
    assert_eq!(s, 200);
    app.stop().await;
}
both!(an_account_sees_and_changes_only_its_own_sites);

async fn the_wizard_tests_keys_saves_settings_and_never_returns_a_secret(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let key = "/api/console/sites/shop/stripe/key";

    // Step 1: every kind of wrong key gets its own message at the field.
    for (input, says) in [
        ("", "empty"),
        ("pk_test_abcdefghijklmnopqrst", "publishable key"),
        ("sq_test_abcdefghijklmnopqrst", "starts with sk_live_"),
        (
            "sk_test_invalid0000000000000",
            "Stripe refused this key: Invalid API Key provided",
        ),
        (
            "rk_test_nocheckoutshop000000",
            "restricted key lacks a permission",
        ),
        // It may read Checkout Sessions but not create them: the first visitor would find
        // out. Stripe's message names the permission.
        ("rk_test_readonlyshop00000000", "rak_checkout_session_write"),
    ] {
        let (s, v) = c.post(key, json!({ "secret_key": input })).await;
        assert_eq!(
            (s, field(&v).0),
            (StatusCode::BAD_REQUEST, "secret_key"),
            "{input}: {v}"
        );
        assert!(field(&v).1.contains(says), "{input}: {v}");
    }
    let (s, v) = c
        .post(
            key,
            json!({ "secret_key": format!("  {}  ", common::STRIPE_KEY) }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mode"], "test");
    assert_eq!(v["secret_key"], "sk_test_…0000");
    assert_eq!(v["webhook_url"], app.url("/webhooks/stripe/shop"));
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        chatpay_server::payments::WEBHOOK_EVENTS.len()
    );

    // Step 2: a live publishable key for a test secret key, a plain-http URL: refused at the field.
    let settings = "/api/console/sites/shop/stripe/settings";
    let good = json!({ "display_name": "Acme Support", "publishable_key": "pk_test_abc", "success_url": "https://shop.example/thanks",
                       "cancel_url": "http://localhost:3000/back", "apple_pay": true, "google_pay": false });
    let mut bad = good.clone();
    bad["publishable_key"] = json!("pk_live_abc");
    let (_, v) = c.put(settings, bad).await;
    assert_eq!(field(&v).0, "publishable_key", "{v}");
    let mut bad = good.clone();
    bad["success_url"] = json!("http://shop.example/thanks");
    let (_, v) = c.put(settings, bad).await;
    assert_eq!(
        field(&v),
        (
            "success_url",
            "'http://shop.example/thanks' must use https (http only for localhost)"
        )
    );
    // Several mistakes: every one is said at once, each at its field.
    let mut bad = good.clone();
    bad["display_name"] = json!("");
    bad["publishable_key"] = json!("sk_test_oops");
    bad["success_url"] = json!("not a url");
    bad["cancel_url"] = json!("ftp://shop.example/back");
    let (s, v) = c.put(settings, bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        vec!["cancel_url", "display_name", "publishable_key", "success_url"],
        "{v}"
    );
    let (s, v) = c.put(settings, good).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["apple_pay"].as_bool(), v["google_pay"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(
        app.state.store.site(&common::shop()).await.unwrap().unwrap().name,
        "Acme Support"
    );
    let account = app
        .state
        .store
        .stripe_account(&app.state.cipher, &common::shop())
        .await
        .unwrap()
        .unwrap();
    let pmc = app
        .state
        .stripe
        .client(common::STRIPE_KEY)
        .update_payment_method_configuration(
            account.payment_method_configuration.as_ref().unwrap(),
            true,
            false,
        )
        .await
        .expect("the configuration exists at Stripe");
    assert_eq!(pmc.google_pay.unwrap().display_preference.value, "off");

    // Step 3: the signing secret; then a signed event shows in the health.
    let (_, v) = c
        .put(
            "/api/console/sites/shop/stripe/webhook",
            json!({ "secret": "sk_test_nope00000000" }),
        )
        .await;
    assert_eq!(field(&v).0, "secret");
    let whsec = "whsec_wizardsecret1234567890";
    let (s, v) = c
        .put(
            "/api/console/sites/shop/stripe/webhook",
            json!({ "secret": whsec }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["webhook_secret"], "whsec_…7890");
    assert!(
        v["health"]["last_event_at"].is_null(),
        "waiting for a first event"
    );
    let event = json!({ "id": "evt_first", "type": "checkout.session.completed", "data": { "object": { "id": "cs_x", "payment_status": "paid" } } }).to_string();
    reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header(
            "stripe-signature",
            signature::sign(event.as_bytes(), whsec, chatpay_server::store::now_ms() / 1000),
        )
        .body(event)
        .send()
        .await
        .unwrap();
    let (_, v) = c.get("/api/console/sites/shop/stripe").await;
    assert_eq!(v["health"]["last_event_type"], "checkout.session.completed");

    // Nothing the console received contains a secret.
    let seen = c.seen.borrow().clone();
    assert!(!seen.contains(common::STRIPE_KEY), "the secret key leaked");
    assert!(!seen.contains(whsec), "the webhook secret leaked");
    app.stop().await;
}
both!(the_wizard_tests_keys_saves_settings_and_never_returns_a_secret);

async fn troubleshooting_says_what_is_wrong(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let ok = |v: &Value, id: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| {
                (
                    c["ok"].as_bool().unwrap(),
                    c["title"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };

    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    assert_eq!(ok(&v, "key"), (false, "No Stripe key is saved".into()));
    assert!(!ok(&v, "webhook_secret").0);
    assert_eq!(ok(&v, "workflow"), (false, "No workflow is published".into()));

    // A key that Stripe later refuses, a bad delivery, a workflow with a payment node.
    app.state
        .store
        .save_stripe_keys(
            &app.state.cipher,
            &common::shop(),
            common::STRIPE_KEY,
            false,
            Some(&["whsec_right000000000".into()]),
        )
        .await
        .unwrap();
    app.state
        .store
        .note_stripe_error(
            &common::shop(),
            Some("Stripe said: Invalid API Key provided (HTTP 401)"),
        )
        .await
        .unwrap();
    reqwest::Client::new()
        .post(app.url("/webhooks/stripe/shop"))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    app.publish(chatpay_server::cli::DEMO_WORKFLOW).await;

    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    assert!(ok(&v, "key").0);
    assert_eq!(
        ok(&v, "stripe_error"),
        (false, "Stripe refused the last request".into())
    );
    assert_eq!(
        ok(&v, "signatures"),
        (false, "Webhook deliveries were refused".into())
    );
    assert!(ok(&v, "workflow").0);
    assert_eq!(
        ok(&v, "events"),
        (false, "No event from Stripe has arrived yet".into())
    );
    assert!(ok(&v, "apple_pay").0);
    app.stop().await;
}
both!(troubleshooting_says_what_is_wrong);

/// A site form with several mistakes says every one at once, each at its field, and
/// changes nothing.
async fn a_site_form_says_every_mistake_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let (s, v) = c
        .put(
            "/api/console/sites/shop",
            json!({ "name": "", "origins": ["shop.example"], "greeting": "x".repeat(501), "color": "purple" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let mut fields: Vec<(String, String)> = v["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fields.sort();
    let names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, vec!["color", "greeting", "name", "origins"], "{v}");
    assert!(fields[0].1.contains("'purple'"), "names the value: {v}");
    assert!(fields[3].1.contains("shop.example"), "names the value: {v}");
    assert_eq!(
        app.state.store.site(&common::shop()).await.unwrap().unwrap().name,
        "The Shop",
        "nothing half-written"
    );
    app.stop().await;
}
both!(a_site_form_says_every_mistake_at_once);

/// A refused delivery stops being a warning once a good one came after it; a payment left
/// processing without Stripe's async events is noticed, with the events to add.
async fn troubleshooting_clears_old_refusals_and_notices_missing_async_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let secret = app.connect_stripe().await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let check = |v: &Value, id: &str| {
        let c = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap();
        (
            c["ok"].as_bool().unwrap(),
            c["detail"].as_str().unwrap().to_owned(),
        )
    };
    let payment = app.create_payment(4999, "USD", None).await;
    let session = payment.session_id.clone().unwrap();

    // A refused delivery (an old secret, say)…
    let (s, _) = app
        .webhook(
            "whsec_old000000000000",
            &common::paid_event("evt_bad", &payment.id, &session),
        )
        .await;
    assert_eq!(s, 400);
    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    assert!(!check(&v, "signatures").0);
    // …then a good one: the bank transfer starts (processing).
    let completed = common::checkout_event(
        "evt_done",
        "checkout.session.completed",
        &payment.id,
        &session,
        "complete",
        "unpaid",
        4999,
        "usd",
    );
    let (s, _) = app.webhook(&secret, &completed).await;
    assert_eq!(s, 200);
    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    let (ok, detail) = check(&v, "signatures");
    assert!(ok, "a good delivery came after the refusal: {detail}");
    assert!(check(&v, "async_events").0, "processing for a moment is normal");

    // Twenty minutes later it is still processing, and no async event ever came.
    let mut tx = app.state.store.begin().await.unwrap();
    sqlx::query("UPDATE payments SET updated_at = updated_at - 1200000 WHERE id = $1")
        .bind(&payment.id)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    let (ok, detail) = check(&v, "async_events");
    assert!(!ok);
    assert!(
        detail.contains("checkout.session.async_payment_succeeded")
            && detail.contains("checkout.session.async_payment_failed"),
        "names the events to add: {detail}"
    );
    let succeeded = common::checkout_event(
        "evt_async",
        "checkout.session.async_payment_succeeded",
        &payment.id,
        &session,
        "complete",
        "paid",
        4999,
        "usd",
    );
    assert_eq!(app.webhook(&secret, &succeeded).await.0, 200);
    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    assert!(check(&v, "async_events").0, "the async events arrive now");
    app.stop().await;
}
both!(troubleshooting_clears_old_refusals_and_notices_missing_async_events);

/// A body the console would never send (not JSON, a field of the wrong type, no JSON
/// content type) was answered by axum in plain text (422, 415), which the console could only
/// show as "the relay answered 422": it is a 400 in the relay's error shape, naming what is
/// wrong, and nothing is changed.
async fn a_malformed_body_gets_the_relays_error_naming_what_is_wrong(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let (_, before) = c.get("/api/console/sites/shop").await;
    let send = |body: &'static str, json: bool| {
        let mut req = c
            .http
            .put(format!("{}/api/console/sites/shop", c.base))
            .header("x-chatpay-console", "1")
            .header("cookie", c.cookie.clone().unwrap())
            .body(body);
        if json {
            req = req.header("content-type", "application/json");
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (body, json, says) in [
        ("{not json", true, "not what this page expects"),
        (r#"{"name": 7}"#, true, "invalid type"),
        (r#"{"name": "x"}"#, false, "Content-Type: application/json"),
    ] {
        let (status, v) = send(body, json).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["error"]["code"], "bad_request", "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (_, after) = c.get("/api/console/sites/shop").await;
    assert_eq!(before, after, "nothing changed");
    // Someone else's site is not found, whatever the body: ownership is checked before a
    // body is read, so how a body is refused tells a stranger nothing.
    let mut stranger = Console::new(&app);
    stranger.sign_in(&app, "stranger@else.test").await;
    let resp = stranger
        .http
        .put(format!("{}/api/console/sites/shop", stranger.base))
        .header("x-chatpay-console", "1")
        .header("cookie", stranger.cookie.clone().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
both!(a_malformed_body_gets_the_relays_error_naming_what_is_wrong);

/// Pages the chat was refused on (an origin the site does not allow) reach the owner's
/// Troubleshooting with counts and the fix; anonymous callers cannot make the list grow
/// past a few origins a site, and a made-up site name adds nothing.
async fn troubleshooting_lists_pages_the_chat_was_refused_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let check = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "origins")
            .cloned()
            .expect("an origins check")
    };
    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    assert_eq!(check(&v)["ok"], true, "{v}");

    // A flood of made-up origins (anyone can send any Origin), then the owner's staging
    // page, three times: it is named, however full the list was.
    for i in 0..40 {
        let origin = format!("https://spam{i}.test");
        let mut s = app.socket("shop", Some(&origin)).await.unwrap();
        s.recv().await;
        let mut s = app.socket("made-up-site", Some(&origin)).await.unwrap();
        s.recv().await;
    }
    for _ in 0..3 {
        let mut s = app
            .socket("shop", Some("https://staging.shop.test"))
            .await
            .unwrap();
        s.recv().await;
    }

    let (_, v) = c.get("/api/console/sites/shop/troubleshoot").await;
    let got = check(&v);
    assert_eq!(got["ok"], false, "{got}");
    let detail = got["detail"].as_str().unwrap();
    assert!(
        detail.contains("https://staging.shop.test (3 times"),
        "the owner's origin and its count: {detail}"
    );
    assert!(detail.contains("allowed origins"), "the fix: {detail}");
    assert!(
        detail.contains("and 36 more attempts from other origins"),
        "the rest only counted: {detail}"
    );
    let listed = detail.matches("https://").count();
    assert!(listed <= 5, "at most five origins are named: {detail}");
    app.stop().await;
}
both!(troubleshooting_lists_pages_the_chat_was_refused_on);

async fn a_network_failure_while_testing_the_key_is_said_plainly(backend: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_custom(
        backend,
        chatpay_server::assets::WidgetAssets::none(),
        Some(format!("http://127.0.0.1:{port}")),
    )
    .await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let (s, v) = c
        .post(
            "/api/console/sites/shop/stripe/key",
            json!({ "secret_key": common::STRIPE_KEY }),
        )
        .await;
    assert_eq!(s, 502, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach Stripe"),
        "{v}"
    );
    app.stop().await;
}
both!(a_network_failure_while_testing_the_key_is_said_plainly);

/// Rotating the webhook signing secret keeps the replaced one for a bounded grace period
/// (shown with its end), "revoke now" ends it at once, and after the period it no longer
/// verifies anything.
async fn a_replaced_webhook_secret_stops_verifying_after_its_grace(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.webhook_secret_grace = std::time::Duration::from_secs(2)
    })
    .await;
    app.connect_stripe().await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let signed = |secret: &str, id: &str| {
        let event = json!({ "id": id, "type": "customer.created", "data": { "object": {} } }).to_string();
        let header = signature::sign(event.as_bytes(), secret, chatpay_server::store::now_ms() / 1000);
        let url = app.url("/webhooks/stripe/shop");
        async move {
            reqwest::Client::new()
                .post(url)
                .header("stripe-signature", header)
                .body(event)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let (first, second, third) = (
        "whsec_firstsecret00000001",
        "whsec_secondsecret0000002",
        "whsec_thirdsecret00000003",
    );
    c.put(
        "/api/console/sites/shop/stripe/webhook",
        json!({ "secret": first }),
    )
    .await;
    let before = chatpay_server::store::now_ms();
    let (s, v) = c
        .put(
            "/api/console/sites/shop/stripe/webhook",
            json!({ "secret": second }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["webhook_secret"], "whsec_…0002");
    assert_eq!(v["previous_webhook_secret"], "whsec_…0001");
    let until = v["previous_webhook_secret_until"].as_i64().unwrap();
    assert!((before + 2000..before + 3000).contains(&until), "{until}");

    // Within the grace both verify; after it only the current one.
    assert_eq!(signed(first, "evt_g1").await, 200);
    assert_eq!(signed(second, "evt_g2").await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        signed(first, "evt_g3").await,
        400,
        "the old secret no longer verifies"
    );
    assert_eq!(signed(second, "evt_g4").await, 200);
    let (_, v) = c.get("/api/console/sites/shop/stripe").await;
    assert!(v["previous_webhook_secret"].is_null(), "{v}");

    // Rotating again and revoking at once: the replaced one stops now.
    c.put(
        "/api/console/sites/shop/stripe/webhook",
        json!({ "secret": third }),
    )
    .await;
    assert_eq!(signed(second, "evt_g5").await, 200);
    let (s, v, _) = c
        .call(
            Method::DELETE,
            "/api/console/sites/shop/stripe/webhook/previous",
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["previous_webhook_secret"].is_null());
    assert_eq!(signed(second, "evt_g6").await, 400);
    assert_eq!(signed(third, "evt_g7").await, 200);
    app.stop().await;
}
both!(a_replaced_webhook_secret_stops_verifying_after_its_grace);

/// Five wrong passwords from somewhere else once locked the real owner out for 15 minutes.
/// Sign-ins are limited per client address and per (email, address), with backoff and a
/// Retry-After: the attacker is stopped, the owner signs in.
async fn an_attacker_elsewhere_cannot_lock_the_owner_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut owner = Console::new(&app);
    owner.sign_in(&app, "owner@shop.test").await;
    let attacker = Console::from_ip(&app, "127.0.0.2");
    let mut refused = None;
    for i in 0..12 {
        let (s, b, h) = attacker
            .call(
                Method::POST,
                "/api/console/login",
                Some(json!({ "email": "owner@shop.test", "password": format!("guess number {i}!") })),
            )
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, b, h));
            break;
        }
        assert_eq!(s, 401, "{b}");
    }
    let (after, body, headers) = refused.expect("the attacker is stopped");
    assert_eq!(after, 5, "five tries, then a wait");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert_eq!(body["error"]["code"], "rate_limited");

    // The owner, from their own address, is not locked out.
    let mut again = Console::new(&app);
    again.sign_in(&app, "owner@shop.test").await;
    app.stop().await;
}
both!(an_attacker_elsewhere_cannot_lock_the_owner_out);

/// Forty sign-ins at once once ran forty argon2 hashes at once (~19 MiB each). Hashes run a
/// few at a time (one per core); the rest wait briefly or are told to come back.
async fn parallel_sign_ins_hash_a_few_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    Console::new(&app).sign_in(&app, "owner@shop.test").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let ip: std::net::IpAddr = format!("127.0.10.{}", 1 + i).parse().unwrap();
        let http = reqwest::Client::builder().local_address(ip).build().unwrap();
        let url = app.url("/api/console/login");
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .header("x-chatpay-console", "1")
                .json(&json!({ "email": "owner@shop.test", "password": "not the password" }))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let peak = app.state.hashers.peak();
    assert!(peak <= cores, "{peak} hashes ran at once on {cores} cores");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    app.stop().await;
}
both!(parallel_sign_ins_hash_a_few_at_a_time);

/// Sign-ins a client gives up on (it closes the connection while its hash waits) once kept
/// their place in the argon2 queue for good: three bursts of twelve from one address and the
/// owner, anywhere, got "too many sign-ins at once" until a restart. And the abandoned
/// guesses were never counted.
async fn abandoned_sign_ins_neither_lock_the_owner_out_nor_go_uncounted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    Console::new(&app).sign_in(&app, "owner@shop.test").await;
    let http = reqwest::Client::builder()
        .local_address("127.0.0.30".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    for round in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..12 {
            let req = http
                .post(app.url("/api/console/login"))
                .header("x-chatpay-console", "1")
                .json(&json!({ "email": format!("guess{round}x{i}@shop.test"), "password": "not the password" }));
            tasks.push(tokio::spawn(async move {
                tokio::time::timeout(std::time::Duration::from_millis(150), req.send()).await
            }));
        }
        for t in tasks {
            let _ = t.await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Whatever was still hashing finishes; then the owner signs in from elsewhere.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut owner = Console::from_ip(&app, "127.0.1.2");
    owner.sign_in(&app, "owner@shop.test").await;
    let counted: i64 = sqlx::query_scalar("SELECT failures FROM signin_failures WHERE key = 'ip:127.0.0.30'")
        .fetch_optional(app.state.store.reader())
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(
        counted >= 30,
        "only {counted} of the abandoned guesses were counted"
    );
    app.stop().await;
}
both!(abandoned_sign_ins_neither_lock_the_owner_out_nor_go_uncounted);

/// Ten guesses at once from one address once all got a password check: the limit was read
/// before any of them was counted. Each attempt is counted before its hash, so only the free
/// tries are checked.
async fn parallel_guesses_from_one_address_get_only_the_free_tries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    Console::new(&app).sign_in(&app, "owner@shop.test").await;
    let http = reqwest::Client::builder()
        .local_address("127.0.0.31".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let req = http
            .post(app.url("/api/console/login"))
            .header("x-chatpay-console", "1")
            .json(&json!({ "email": "owner@shop.test", "password": format!("parallel guess {i}") }));
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().status() }));
    }
    let mut checked = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(checked, 5, "passwords checked for ten parallel guesses");
    app.stop().await;
}
both!(parallel_guesses_from_one_address_get_only_the_free_tries);

/// "Sign out everywhere" ends every session of the account; expired sessions and setup
/// links are purged by the sweep (they once stayed for ever).
async fn sign_out_everywhere_and_expired_sessions_go(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut laptop = Console::new(&app);
    laptop.sign_in(&app, "owner@shop.test").await;
    let mut phone = Console::new(&app);
    phone.sign_in(&app, "owner@shop.test").await;
    let (s, v) = phone.post("/api/console/logout-everywhere", json!({})).await;
    assert_eq!(
        (s, v["sessions_ended"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    assert_eq!(laptop.get("/api/console/me").await.0, 401);
    assert_eq!(phone.get("/api/console/me").await.0, 401);

    let store = &app.state.store;
    store
        .create_setup_token(&chatpay_server::accounts::token_hash("old"), -1000)
        .await
        .unwrap();
    let count = |sql: &'static str| async move {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(store.reader())
            .await
            .unwrap()
    };
    assert_eq!(count("SELECT COUNT(*) FROM setup_tokens").await, 1);
    chatpay_server::sweep::sweep(&app.state).await;
    assert_eq!(count("SELECT COUNT(*) FROM setup_tokens").await, 0);
    app.stop().await;
}
both!(sign_out_everywhere_and_expired_sessions_go);

/// The endpoints the simulator holds for the test key's account.
async fn endpoints(app: &TestApp) -> Vec<Value> {
    app.state
        .store
        .sim_list(
            common::STRIPE_KEY.trim_start_matches("sk_test_"),
            "webhook_endpoint",
        )
        .await
        .unwrap()
}

/// "Create the webhook for me": the relay registers its own webhook URL at Stripe with the
/// four events in its API version and saves the secret (Stripe's events then verify); a
/// double click makes one endpoint; running it again rolls the secret (a new endpoint, the
/// old one verifying through the grace period, then deleted at Stripe by the sweep); a key
/// that may not do it is told which permission, and nothing is created.
async fn the_webhook_is_created_in_one_click(backend: Backend) {
    let app = TestApp::spawn_with(backend, WidgetAssets::none(), None, |s| {
        s.webhook_secret_grace = std::time::Duration::from_secs(2)
    })
    .await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let create = "/api/console/sites/shop/stripe/webhook/endpoint";
    let (s, v) = c.post(create, json!({ "request_key": "click-1" })).await;
    assert_eq!(
        (s, v["error"]["message"].as_str().map(|m| m.contains("step 1"))),
        (StatusCode::CONFLICT, Some(true)),
        "{v}"
    );
    let (s, v) = c
        .post(
            "/api/console/sites/shop/stripe/key",
            json!({ "secret_key": common::STRIPE_KEY }),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // A double click: one endpoint.
    let (s, first) = c.post(create, json!({ "request_key": "click-1" })).await;
    assert_eq!(s, 200, "{first}");
    let (s, again) = c.post(create, json!({ "request_key": "click-1" })).await;
    assert_eq!(s, 200, "{again}");
    let made = endpoints(&app).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["url"], app.url("/webhooks/stripe/shop"));
    assert_eq!(
        made[0]["api_version"],
        chatpay_server::stripe::client::API_VERSION
    );
    let mut events: Vec<&str> = made[0]["enabled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    events.sort();
    let mut want = chatpay_server::payments::WEBHOOK_EVENTS.to_vec();
    want.sort();
    assert_eq!(events, want);
    assert_eq!(first["webhook_endpoint"], made[0]["id"]);
    assert!(first["webhook_secret"].as_str().unwrap().starts_with("whsec_"));

    // Stripe's events verify with the saved secret: a payment paid at Checkout arrives.
    let payment = app.create_payment(4999, "USD", None).await;
    common::pay(payment.checkout_url.as_deref().unwrap()).await;
    app.wait_payment(&payment.id, chatpay_shared::protocol::PaymentStatus::Paid)
        .await;
    let (_, v) = c.get("/api/console/sites/shop/stripe").await;
    assert!(v["health"]["events_received"].as_i64().unwrap() >= 1, "{v}");

    // Rolled: a new endpoint; the old one still verifies for the grace period, then goes.
    let (s, rolled) = c.post(create, json!({ "request_key": "click-2" })).await;
    assert_eq!(s, 200, "{rolled}");
    assert_ne!(rolled["webhook_endpoint"], first["webhook_endpoint"]);
    assert!(rolled["previous_webhook_secret"].is_string(), "{rolled}");
    assert_eq!(endpoints(&app).await.len(), 2);
    // The roll's button pressed again (a double click, or a retry after an error): Stripe
    // answers the same endpoint and secret again; the old secret keeps its grace and its
    // endpoint is not deleted.
    let (s, again) = c.post(create, json!({ "request_key": "click-2" })).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["webhook_endpoint"], rolled["webhook_endpoint"]);
    assert_eq!(
        again["previous_webhook_secret"], rolled["previous_webhook_secret"],
        "a repeated roll ended the old secret's grace: {again}"
    );
    assert_eq!(
        endpoints(&app).await.len(),
        2,
        "a repeated roll deleted the old endpoint"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    chatpay_server::sweep::sweep(&app.state).await;
    let left = endpoints(&app).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"], rolled["webhook_endpoint"]);

    // A key that may not create endpoints: told which permission; nothing made.
    app.state
        .store
        .save_stripe_keys(
            &app.state.cipher,
            &common::shop(),
            "rk_test_readonlyshop000000",
            false,
            None,
        )
        .await
        .unwrap();
    let (s, v) = c.post(create, json!({ "request_key": "click-3" })).await;
    assert_eq!(
        (s, field(&v).0),
        (StatusCode::BAD_REQUEST, "webhook_endpoint"),
        "{v}"
    );
    assert!(field(&v).1.contains("rak_webhook_write"), "{v}");
    assert_eq!(endpoints(&app).await.len(), 1);
    app.stop().await;
}
both!(the_webhook_is_created_in_one_click);

/// A relay whose address Stripe cannot reach (localhost) is told so before anything is
/// created at Stripe.
async fn an_unreachable_relay_address_is_named_before_anything_is_created(backend: Backend) {
    let (app, stripe) = TestApp::spawn_behind_standin(backend).await;
    let mut c = Console::new(&app);
    c.sign_in(&app, "owner@shop.test").await;
    let (s, v) = c
        .post(
            "/api/console/sites/shop/stripe/key",
            json!({ "secret_key": common::STRIPE_KEY }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let before = stripe.calls().len();
    let (s, v) = c
        .post("/api/console/sites/shop/stripe/webhook/endpoint", json!({}))
        .await;
    assert_eq!(
        (s, field(&v).0),
        (StatusCode::BAD_REQUEST, "webhook_endpoint"),
        "{v}"
    );
    assert!(field(&v).1.contains("is not an address on the internet"), "{v}");
    assert!(field(&v).1.contains("--public-url"), "the fix: {v}");
    assert_eq!(stripe.calls().len(), before, "nothing was asked of Stripe");
    app.stop().await;
}
both!(an_unreachable_relay_address_is_named_before_anything_is_created);
