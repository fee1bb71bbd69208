//! The Stripe API client: form-encoded requests with `Authorization: Bearer`, a configurable
//! base URL (the real API or the built-in simulator), timeouts, and retries only where
//! Stripe's own SDKs retry — a connection failure or timeout, 409, 5xx, or
//! `Stripe-Should-Retry: true` (and never when it says `false`; a plain 429 is not
//! retried) — with exponential backoff and the same `Idempotency-Key` on every attempt.
//! A call, all its tries included, ends within [`StripeHttp::budget`], so whoever waits on
//! it knows the longest it can take (a lease on a payment outlives it).

use std::time::Duration;

use rand::Rng as _;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::form::Form;
use super::keys::KeyKind;
use super::types::{Balance, CheckoutSession, PaymentMethodConfiguration, Refund, WebhookEndpoint};

/// Where the key test's throwaway Checkout Session would send a visitor (nobody ever sees
/// it: the session is expired as soon as it is made).
const KEY_TEST_RETURN_URL: &str = "https://example.com/chatpay-key-test";

/// The API version chatpay is written against: the one Stripe's official SDKs pin today
/// (stripe-python 16.1.0, stripe-node 23.1.0). Sent as `Stripe-Version` on every request
/// and given as `api_version` to the webhook endpoints chatpay creates, so what Stripe
/// answers and what its events carry have one shape. The simulator speaks this version
/// only. Moving it: the README's "Upgrading Stripe's API version".
pub const API_VERSION: &str = "2026-10-28.endive";

/// Checkout's embedded page (`embedded` before 2026-03-25.dahlia), mounted by Stripe.js's
/// `createEmbeddedCheckoutPage` with the session's `client_secret`.
pub const UI_MODE_EMBEDDED: &str = "embedded_page";

/// Stripe.js of the release that matches [`API_VERSION`] (Stripe names each release;
/// `endive` goes with 2026-10-28.endive). Stripe forbids serving a copy of it.
pub const STRIPE_JS: &str = "https://js.stripe.com/endive/stripe.js";

/// The Stripe.js a page loads for the API at `api_base`: Stripe's, or the stand-in of the
/// simulator at `…/simulator/stripe` (served at `…/simulator/stripe.js`).
pub fn stripe_js_for(api_base: &str) -> String {
    match api_base.strip_suffix("/simulator/stripe") {
        Some(_) => format!("{api_base}.js"),
        None => STRIPE_JS.to_owned(),
    }
}

/// What a Stripe call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object.
    #[error("Stripe said: {message} (HTTP {status}, {kind}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Api {
        status: u16,
        /// Stripe's error `type`, like `invalid_request_error` or `idempotency_error`.
        kind: String,
        code: Option<String>,
        message: String,
        param: Option<String>,
        request_id: Option<String>,
    },
    /// Stripe could not be reached (after retries).
    #[error("cannot reach Stripe at {url}: {reason}")]
    Network { url: String, reason: String },
    /// Stripe answered something chatpay cannot read.
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
}

/// Why a key was not accepted by [`StripeClient::verify_key`].
#[derive(Debug)]
pub enum KeyRefused {
    /// Stripe does not accept the key (HTTP 401); Stripe's message.
    Unknown(String),
    /// A restricted key without a permission chatpay needs (HTTP 403); Stripe's message.
    LacksPermission(String),
    /// Stripe's livemode is not the one the key's prefix says.
    WrongMode { stripe_livemode: bool },
    /// Stripe could not be asked, or answered something else.
    NotTested(StripeError),
}

impl StripeError {
    /// Whether Stripe definitely did not act on the request: a 4xx other than 409
    /// (idempotency conflict) and 429 (rate limit). Stripe saves no idempotent result for a
    /// request that failed validation, so a new request (even with a new key) cannot double
    /// anything. Network failures, timeouts, 5xx and unreadable answers are not definitive:
    /// Stripe may have acted.
    pub fn is_definitive(&self) -> bool {
        matches!(self, StripeError::Api { status, .. } if (400..500).contains(status) && *status != 409 && *status != 429)
    }

    /// Whether Stripe refused the request for this parameter.
    pub fn is_about(&self, param: &str) -> bool {
        matches!(self, StripeError::Api { param: Some(p), .. } if p == param)
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            StripeError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
}

/// Shared HTTP settings; make a [`StripeClient`] per secret key with [`StripeHttp::client`].
#[derive(Debug, Clone)]
pub struct StripeHttp {
    http: reqwest::Client,
    base: String,
    max_retries: u32,
    first_backoff: Duration,
    /// The longest one try may take.
    per_try: Duration,
    /// The longest a whole call (every try and backoff) may take.
    budget: Duration,
}

impl StripeHttp {
    /// `base` is `https://api.stripe.com` or the simulator's `…/simulator/stripe`; each try
    /// takes at most `timeout`, a whole call at most three tries' worth (see
    /// [`StripeHttp::with_budget`]).
    pub fn new(base: &str, timeout: Duration) -> StripeHttp {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .user_agent(concat!("chatpay/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        StripeHttp {
            http,
            base: base.trim_end_matches('/').to_owned(),
            max_retries: 2,
            first_backoff: Duration::from_millis(500),
            per_try: timeout,
            budget: timeout.saturating_mul(3),
        }
    }

    /// Caps a whole call, every try included.
    pub fn with_budget(mut self, budget: Duration) -> StripeHttp {
        self.budget = budget;
        self
    }

    /// The longest a call takes, every try included.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Retry settings (tests use short backoffs).
    pub fn with_retries(mut self, max_retries: u32, first_backoff: Duration) -> StripeHttp {
        self.max_retries = max_retries;
        self.first_backoff = first_backoff;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn client(&self, secret_key: &str) -> StripeClient {
        StripeClient {
            http: self.clone(),
            key: secret_key.to_owned(),
        }
    }
}

/// Calls Stripe with one secret key.
#[derive(Clone)]
pub struct StripeClient {
    http: StripeHttp,
    key: String,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StripeClient({}, {})",
            self.http.base,
            crate::secrets::mask(&self.key)
        )
    }
}

/// What chatpay puts into a Checkout Session.
#[derive(Debug, Clone)]
pub struct NewCheckoutSession<'a> {
    /// Minor units, already checked against the currency's rules.
    pub amount: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// Shown on Checkout as the line item's name.
    pub description: &'a str,
    pub client_reference_id: &'a str,
    pub metadata: Vec<(&'a str, &'a str)>,
    /// Unix seconds, 30 min to 24 h from now.
    pub expires_at: i64,
    /// The hosted page's return URLs (not sent for an embedded session).
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub payment_method_configuration: Option<&'a str>,
    /// `Some(return_url)`: Stripe's embedded Checkout page ([`UI_MODE_EMBEDDED`]), which
    /// completes in place and sends only a redirect-based payment method to `return_url`
    /// (`redirect_on_completion=if_required`); Stripe refuses `success_url` and
    /// `cancel_url` there. `None`: the hosted page.
    pub return_to: Option<&'a str>,
}

impl StripeClient {
    /// `GET /v1/balance`: the cheapest call that proves a key works.
    pub async fn balance(&self) -> Result<Balance, StripeError> {
        self.request(Method::GET, "/v1/balance", None, None).await
    }

    /// Proves a key works for what chatpay does. A secret key (which may do anything) reads
    /// the balance. A restricted key (which often has no balance permission) must read and
    /// *write* Checkout Sessions: it lists them, then creates one (1.00 USD, nothing can be
    /// paid: it is expired at once). Stripe does not say whether it checks a key's
    /// permissions before a request's parameters, so only a complete, valid create proves the
    /// permission; a key without it gets 403 naming `rak_checkout_session_write`. Returns
    /// Stripe's `livemode` when it says.
    pub async fn test_key(&self, restricted: bool) -> Result<Option<bool>, StripeError> {
        if !restricted {
            return Ok(Some(self.balance().await?.livemode));
        }
        let _: serde_json::Value = self
            .request(Method::GET, "/v1/checkout/sessions?limit=1", None, None)
            .await?;
        let form = Form::new()
            .set("mode", "payment")
            .set("line_items[0][quantity]", 1)
            .set("line_items[0][price_data][currency]", "usd")
            .set("line_items[0][price_data][unit_amount]", 100)
            .set(
                "line_items[0][price_data][product_data][name]",
                "chatpay key test (expired at once, nothing is charged)",
            )
            .set("success_url", KEY_TEST_RETURN_URL)
            .set("cancel_url", KEY_TEST_RETURN_URL);
        let key = format!("chatpay-key-test-{}", crate::store::now_ms());
        let made: CheckoutSession = self
            .request(Method::POST, "/v1/checkout/sessions", Some(&form), Some(&key))
            .await?;
        // Nobody may pay it: expired now (a failure here leaves it to expire by itself).
        if let Err(e) = self.expire_checkout_session(&made.id).await {
            tracing::warn!(session = %made.id, error = %e, "the key test's session could not be expired; it expires by itself");
        }
        Ok(Some(made.livemode))
    }

    /// Tests a key (see [`StripeClient::test_key`]) and checks that Stripe's mode matches the
    /// key's prefix. Returns the key's livemode; each way it can fail is its own variant, so
    /// the CLI and the console word it for their readers.
    pub async fn verify_key(&self, kind: KeyKind) -> Result<bool, KeyRefused> {
        let livemode = match self.test_key(kind.restricted).await {
            Ok(mode) => mode.unwrap_or(kind.livemode),
            Err(StripeError::Api {
                status: 401, message, ..
            }) => return Err(KeyRefused::Unknown(message)),
            Err(StripeError::Api {
                status: 403, message, ..
            }) => return Err(KeyRefused::LacksPermission(message)),
            Err(e) => return Err(KeyRefused::NotTested(e)),
        };
        if livemode != kind.livemode {
            return Err(KeyRefused::WrongMode {
                stripe_livemode: livemode,
            });
        }
        Ok(livemode)
    }

    /// `POST /v1/checkout/sessions`, idempotent under `idempotency_key` (the payment id).
    pub async fn create_checkout_session(
        &self,
        params: &NewCheckoutSession<'_>,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let form = Form::new()
            .set("mode", "payment")
            // The hosted page (`hosted_page` since 2026-03-25.dahlia) is the default and is not
            // named: a hosted call stays the request it was before the version moved, so a
            // retry under the same Idempotency-Key by a relay of another version matches
            // (Stripe refuses a key reused with other parameters).
            .set_opt("ui_mode", params.return_to.map(|_| UI_MODE_EMBEDDED))
            .set("line_items[0][quantity]", 1)
            .set("line_items[0][price_data][currency]", &params.currency)
            .set("line_items[0][price_data][unit_amount]", params.amount)
            .set(
                "line_items[0][price_data][product_data][name]",
                params.description,
            )
            .set("client_reference_id", params.client_reference_id)
            .map("metadata", params.metadata.iter().copied())
            .set("expires_at", params.expires_at);
        let form = match params.return_to {
            Some(back) => form
                .set("redirect_on_completion", "if_required")
                .set("return_url", back),
            None => form
                .set("success_url", params.success_url)
                .set("cancel_url", params.cancel_url),
        }
        .set_opt(
            "payment_method_configuration",
            params.payment_method_configuration,
        );
        self.request(
            Method::POST,
            "/v1/checkout/sessions",
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    /// `GET /v1/checkout/sessions/{id}?expand[]=payment_intent`: the session with its
    /// PaymentIntent, so a completed session whose delayed payment failed or succeeded since
    /// can be told from one still processing.
    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        self.request(
            Method::GET,
            &format!(
                "/v1/checkout/sessions/{}?expand%5B%5D=payment_intent",
                path_segment(id)
            ),
            None,
            None,
        )
        .await
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: the visitor declined.
    pub async fn expire_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        let path = format!("/v1/checkout/sessions/{}/expire", path_segment(id));
        self.request(
            Method::POST,
            &path,
            Some(&Form::new()),
            Some(&format!("expire-{id}")),
        )
        .await
    }

    /// `POST /v1/refunds` of a whole PaymentIntent (a second charge for one payment),
    /// idempotent under `idempotency_key`.
    pub async fn refund_payment_intent(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let form = Form::new()
            .set("payment_intent", payment_intent)
            .set("reason", "duplicate");
        self.request(Method::POST, "/v1/refunds", Some(&form), Some(idempotency_key))
            .await
    }

    /// `POST /v1/payment_method_configurations`: chatpay's own configuration with the
    /// wallets on or off.
    pub async fn create_payment_method_configuration(
        &self,
        apple_pay: bool,
        google_pay: bool,
        idempotency_key: &str,
    ) -> Result<PaymentMethodConfiguration, StripeError> {
        let form = wallet_form(apple_pay, google_pay).set("name", "chatpay");
        self.request(
            Method::POST,
            "/v1/payment_method_configurations",
            Some(&form),
            Some(idempotency_key),
        )
        .await
    }

    /// `POST /v1/payment_method_configurations/{id}`.
    pub async fn update_payment_method_configuration(
        &self,
        id: &str,
        apple_pay: bool,
        google_pay: bool,
    ) -> Result<PaymentMethodConfiguration, StripeError> {
        let path = format!("/v1/payment_method_configurations/{}", path_segment(id));
        self.request(
            Method::POST,
            &path,
            Some(&wallet_form(apple_pay, google_pay)),
            None,
        )
        .await
    }

    /// `POST /v1/webhook_endpoints`: registers a webhook URL for `events`, with events
    /// rendered in chatpay's [`API_VERSION`] (whatever the account's default), and returns
    /// the endpoint with its signing secret (Stripe shows it only now). Idempotent under
    /// `idempotency_key` when given.
    pub async fn create_webhook_endpoint(
        &self,
        url: &str,
        events: &[&str],
        idempotency_key: Option<&str>,
    ) -> Result<WebhookEndpoint, StripeError> {
        let mut form = Form::new().set("url", url).set("api_version", API_VERSION);
        for (i, e) in events.iter().enumerate() {
            form = form.set(format!("enabled_events[{i}]"), e);
        }
        self.request(
            Method::POST,
            "/v1/webhook_endpoints",
            Some(&form),
            idempotency_key,
        )
        .await
    }

    /// `DELETE /v1/webhook_endpoints/{id}`; one that is gone already counts as deleted.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<(), StripeError> {
        let path = format!("/v1/webhook_endpoints/{}", path_segment(id));
        match self
            .request::<serde_json::Value>(Method::DELETE, &path, None, None)
            .await
        {
            Ok(_) | Err(StripeError::Api { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One call, retried within the budget; counted and timed for `/metrics` by operation
    /// and result.
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let started = std::time::Instant::now();
        let answer = self.send(method.clone(), path, form, idempotency_key).await;
        let result = match &answer {
            Ok(_) => "ok",
            Err(StripeError::Api { status, .. }) if *status >= 500 => "api_5xx",
            Err(StripeError::Api { .. }) => "api_4xx",
            Err(StripeError::Network { .. }) => "network",
            Err(_) => "other",
        };
        crate::telemetry::stripe_call(method.as_str(), path, result, started.elapsed());
        answer
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: Option<&Form>,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let url = format!("{}{path}", self.http.base);
        // Every POST carries a key so a retry can never charge twice.
        let generated;
        let idempotency_key = match (idempotency_key, method == Method::POST) {
            (Some(k), _) => Some(k),
            (None, true) => {
                generated = crate::store::new_id("idem");
                Some(generated.as_str())
            }
            (None, false) => None,
        };
        let mut attempt = 0;
        let deadline = tokio::time::Instant::now() + self.http.budget;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mut req = self
                .http
                .http
                .request(method.clone(), &url)
                .timeout(self.http.per_try.min(left).max(Duration::from_millis(1)))
                .bearer_auth(&self.key)
                .header("Stripe-Version", API_VERSION);
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            if let Some(form) = form {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.encode());
            }
            let outcome = req.send().await;
            let retryable = match &outcome {
                Err(e) => e.is_connect() || e.is_timeout() || e.is_request(),
                Ok(resp) => should_retry(resp),
            };
            let backoff = self.backoff(attempt);
            let time_left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if retryable && attempt < self.http.max_retries && time_left > backoff + Duration::from_millis(50)
            {
                tokio::time::sleep(backoff).await;
                attempt += 1;
                continue;
            }
            let resp = outcome.map_err(|e| StripeError::Network {
                url: url.clone(),
                reason: short_reason(&e),
            })?;
            let status = resp.status();
            let request_id = resp
                .headers()
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = resp.bytes().await.map_err(|e| StripeError::Network {
                url: url.clone(),
                reason: short_reason(&e),
            })?;
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| StripeError::Decode(format!("{path}: {e}")));
            }
            return Err(match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(env) => StripeError::Api {
                    status: status.as_u16(),
                    kind: env.error.kind,
                    code: env.error.code,
                    message: env
                        .error
                        .message
                        .unwrap_or_else(|| format!("HTTP {status} without a message")),
                    param: env.error.param,
                    request_id,
                },
                Err(_) => StripeError::Api {
                    status: status.as_u16(),
                    kind: "api_error".into(),
                    code: None,
                    message: format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                    ),
                    param: None,
                    request_id,
                },
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .http
            .first_backoff
            .saturating_mul(2u32.saturating_pow(attempt));
        let capped = base.min(Duration::from_secs(8));
        // 75–100 % of the delay, so many clients do not retry in step.
        capped.mul_f64(rand::thread_rng().gen_range(0.75..=1.0))
    }
}

/// Stripe's SDK rule: the header decides when present; else 409 and 5xx retry.
fn should_retry(resp: &reqwest::Response) -> bool {
    match resp
        .headers()
        .get("stripe-should-retry")
        .and_then(|v| v.to_str().ok())
    {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    let status = resp.status().as_u16();
    status == 409 || status >= 500
}

fn wallet_form(apple_pay: bool, google_pay: bool) -> Form {
    let on = |b: bool| if b { "on" } else { "off" };
    Form::new()
        .set("apple_pay[display_preference][preference]", on(apple_pay))
        .set("google_pay[display_preference][preference]", on(google_pay))
}

/// Keeps an id from escaping its path segment.
fn path_segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn short_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        let mut s = e.to_string();
        s.truncate(200);
        s
    }
}
