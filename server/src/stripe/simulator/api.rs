//! The simulated Stripe API under `/simulator/stripe/v1/…`, answering like Stripe: the same
//! paths, form-encoded parameters, JSON objects and error envelopes
//! (`{"error": {"type", "code", "message", "param"}}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chatpay_shared::money::{Money, MoneyError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{events, stripe_id, SimState, Simulator};
use crate::client::ClientIp;
use crate::store::simulator::SavedResult;
use crate::stripe::form::Form;

const BASE: &str = "/simulator/stripe";

pub fn router(state: SimState) -> Router<SimState> {
    Router::new()
        .route("/simulator/stripe/v1/balance", get(balance))
        .route(
            "/simulator/stripe/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route(
            "/simulator/stripe/v1/checkout/sessions/{id}",
            get(retrieve_session),
        )
        .route(
            "/simulator/stripe/v1/checkout/sessions/{id}/expire",
            post(expire_session),
        )
        .route(
            "/simulator/stripe/v1/payment_method_configurations",
            post(create_pmc),
        )
        .route(
            "/simulator/stripe/v1/payment_method_configurations/{id}",
            post(update_pmc).get(retrieve_pmc),
        )
        .route(
            "/simulator/stripe/v1/webhook_endpoints",
            post(create_endpoint).get(list_endpoints),
        )
        .route(
            "/simulator/stripe/v1/webhook_endpoints/{id}",
            axum::routing::delete(delete_endpoint),
        )
        .route("/simulator/stripe/v1/refunds", post(create_refund))
        .route("/simulator/stripe/v1/events", get(list_events))
        .route("/simulator/stripe/{*rest}", axum::routing::any(unknown_path))
        .route("/simulator/clock/advance", post(advance_clock))
        .route_layer(axum::middleware::from_fn_with_state(state, budget_writes))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

/// Writes (POST) are budgeted per client address, answered like Stripe's rate limit: an
/// anonymous script once filled the database with sessions.
async fn budget_writes(
    ClientIp(ip): ClientIp,
    State(state): State<SimState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if req.method() == Method::POST {
        if let Err(refused) = state.limits.simulator_write(ip) {
            let mut resp = stripe_error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                refused.message(),
                None,
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&refused.retry_after_secs().to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
            return resp;
        }
    }
    next.run(req).await
}

/// A Stripe-shaped error: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug)]
pub(crate) struct SimError(Box<(StatusCode, Value)>);

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let (status, body) = *self.0;
        let mut resp = (status, Json(body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&stripe_id("req_")) {
            resp.headers_mut().insert("request-id", v);
        }
        resp
    }
}

pub(crate) fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> SimError {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(c) = code {
        error["code"] = json!(c);
    }
    if let Some(p) = param {
        error["param"] = json!(p);
    }
    SimError(Box::new((status, json!({ "error": error }))))
}

/// Stripe's longest string parameter (most take 5,000 characters).
const MAX_STRING: usize = 5000;
/// The largest request body the simulator reads: its requests are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// A request's form, refused like Stripe does when a value is longer than it takes.
fn decode(body: &[u8]) -> Result<Form, SimError> {
    let form = Form::decode(body);
    if let Some((k, v)) = form.fields().iter().find(|(_, v)| v.chars().count() > MAX_STRING) {
        let start: String = v.chars().take(20).collect();
        return Err(invalid(
            &format!(
                "Invalid string: {start}...; must be at most {MAX_STRING} characters (this one has {}).",
                v.chars().count()
            ),
            Some(k),
        ));
    }
    Ok(form)
}

fn invalid(message: &str, param: Option<&str>) -> SimError {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
        param,
    )
}

fn missing(param: &str) -> SimError {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
        Some(param),
    )
}

fn not_found(kind: &str, id: &str, param: &str) -> SimError {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
        Some(param),
    )
}

/// The account's stored object `id` when it is an `object`, else Stripe's resource_missing
/// error on `param`.
async fn fetch(
    sim: &Simulator,
    account: &Account,
    object: &str,
    id: &str,
    param: &str,
) -> Result<Value, SimError> {
    match sim.store.sim_get(&account.id, id).await.map_err(internal)? {
        Some(v) if v["object"] == object => Ok(v),
        _ => Err(not_found(object, id, param)),
    }
}

fn ok(value: Value) -> Response {
    let mut resp = Json(value).into_response();
    if let Ok(v) = HeaderValue::from_str(&stripe_id("req_")) {
        resp.headers_mut().insert("request-id", v);
    }
    resp
}

/// The simulated account behind an API key.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub key_masked: String,
    /// A restricted key that may only read.
    pub read_only: bool,
    /// A restricted key without the Checkout Sessions permission.
    pub no_checkout: bool,
}

/// Checks `Authorization: Bearer` like Stripe: test keys only, well-formed; a read-only
/// restricted key may not write (Checkout Sessions' write permission is the one named).
pub(crate) fn authenticate(headers: &HeaderMap, method: &Method) -> Result<Account, SimError> {
    authenticate_for(headers, method, "rak_checkout_session_write")
}

/// [`authenticate`], naming `write_permission` when a read-only restricted key writes.
pub(crate) fn authenticate_for(
    headers: &HeaderMap,
    method: &Method,
    write_permission: &str,
) -> Result<Account, SimError> {
    let unauthorized = |msg: String| {
        stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            &msg,
            None,
        )
    };
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(unauthorized(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
                .into(),
        ));
    };
    // `Bearer KEY`, or `Basic base64(KEY:)` as Stripe takes it (`curl -u sk_test_…:`).
    let basic;
    let key = match auth.strip_prefix("Basic ") {
        Some(b64) => {
            use base64::Engine as _;
            basic = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .unwrap_or_default();
            basic.split(':').next().unwrap_or("").trim()
        }
        None => auth.strip_prefix("Bearer ").unwrap_or("").trim(),
    };
    let masked = crate::secrets::mask(key);
    if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        return Err(unauthorized(format!(
            "This is the chatpay Stripe simulator (TEST MODE): live keys like {masked} are not accepted here; use a test key (sk_test_… or rk_test_…)."
        )));
    }
    if key.starts_with("pk_") {
        return Err(unauthorized(format!(
            "Invalid API Key provided: {masked}. This is a publishable key; use a secret key (sk_test_…) or a restricted key (rk_test_…)."
        )));
    }
    let (restricted, rest) = if let Some(r) = key.strip_prefix("sk_test_") {
        (false, r)
    } else if let Some(r) = key.strip_prefix("rk_test_") {
        (true, r)
    } else {
        return Err(unauthorized(format!("Invalid API Key provided: {masked}")));
    };
    if rest.len() < 10 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) || rest.contains("invalid") {
        return Err(unauthorized(format!("Invalid API Key provided: {masked}")));
    }
    let read_only = restricted && rest.contains("readonly");
    let no_checkout = restricted && rest.contains("nocheckout");
    let account = Account {
        id: rest.replace("readonly", "").replace("nocheckout", ""),
        key_masked: masked,
        read_only,
        no_checkout,
    };
    if account.read_only && method != Method::GET {
        return Err(stripe_error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            &format!(
                "The provided key '{}' does not have the required permissions for this endpoint on account 'acct_{}'. \
                 Having the '{write_permission}' permission would allow this request to continue.",
                account.key_masked, account.id
            ),
            None,
        ));
    }
    Ok(account)
}

/// Runs a POST idempotently: the same key with the same parameters replays the saved
/// result; the same key with other parameters is an `idempotency_error`.
async fn idempotent<F, Fut>(
    sim: &Simulator,
    account: &Account,
    headers: &HeaderMap,
    path: &str,
    form: &Form,
    run: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, SimError>>,
{
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut fields: Vec<_> = form.fields().to_vec();
    fields.sort();
    let fingerprint = hex::encode(Sha256::digest(format!("POST {path}\n{fields:?}").as_bytes()));
    let replay = |saved: SavedResult| {
        if saved.fingerprint != fingerprint {
            let k = key.clone().unwrap_or_default();
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                None,
                &format!(
                    "Keys for idempotent requests can only be used with the same parameters they were first used with. \
                     Try using a key other than '{k}' if you meant to execute a different request."
                ),
                None,
            )
            .into_response();
        }
        let body: Value = serde_json::from_str(&saved.body).unwrap_or_default();
        let mut resp = (
            StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK),
            Json(body),
        )
            .into_response();
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        resp
    };
    if let Some(k) = &key {
        match sim.store.sim_saved_result(&account.id, k).await {
            Ok(Some(saved)) => return replay(saved),
            Ok(None) => {}
            Err(e) => return internal(e).into_response(),
        }
    }
    // Like Stripe, a key whose first request is still running answers 409 (try again).
    let _running = match &key {
        Some(k) => match sim.start_idempotent(&account.id, k) {
            Some(guard) => Some(guard),
            None => {
                return stripe_error(
                    StatusCode::CONFLICT,
                    "idempotency_error",
                    None,
                    &format!(
                        "There is currently another in-progress request using this Idempotent Key (that probably means \
                         you submitted twice, and the other request is still going through): {k}. Please try again later."
                    ),
                    None,
                )
                .into_response()
            }
        },
        None => None,
    };
    match run().await {
        Ok(value) => {
            if let Some(k) = &key {
                let saved = SavedResult {
                    fingerprint: fingerprint.clone(),
                    status: 200,
                    body: value.to_string(),
                };
                match sim.store.sim_save_result(&account.id, k, &saved).await {
                    Ok(true) => {}
                    // Another request with this key won the race: answer with its result.
                    Ok(false) => {
                        if let Ok(Some(first)) = sim.store.sim_saved_result(&account.id, k).await {
                            return replay(first);
                        }
                    }
                    Err(e) => return internal(e).into_response(),
                }
            }
            ok(value)
        }
        Err(e) => e.into_response(),
    }
}

fn internal(e: impl std::fmt::Display) -> SimError {
    tracing::error!(error = %e, "simulator failed");
    stripe_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "api_error",
        None,
        "An unknown error occurred (simulator).",
        None,
    )
}

async fn balance(headers: HeaderMap) -> Result<Response, SimError> {
    authenticate(&headers, &Method::GET)?;
    Ok(ok(json!({
        "object": "balance",
        "available": [{ "amount": 0, "currency": "usd", "source_types": { "card": 0 } }],
        "pending": [{ "amount": 0, "currency": "usd", "source_types": { "card": 0 } }],
        "livemode": false,
    })))
}

/// The parameters `POST /v1/checkout/sessions` accepts (plus any `metadata[…]`).
const SESSION_PARAMS: [&str; 13] = [
    "mode",
    "line_items[0][quantity]",
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][price_data][product_data][name]",
    "line_items[0][price_data][product_data][description]",
    "client_reference_id",
    "expires_at",
    "success_url",
    "cancel_url",
    "payment_method_configuration",
    "customer_email",
    "locale",
];

fn integer(form: &Form, param: &str) -> Result<Option<i64>, SimError> {
    match form.get(param) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(&format!("Invalid integer: {v}"), Some(param))),
    }
}

fn url_param(form: &Form, param: &str) -> Result<Option<String>, SimError> {
    match form.get(param) {
        None => Ok(None),
        Some(v) => match url::Url::parse(v) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(Some(v.to_owned())),
            _ => Err(invalid(&format!("Not a valid URL: {v}"), Some(param))),
        },
    }
}

async fn create_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    no_checkout(&account)?;
    let form = decode(&body)?;
    let path = "/v1/checkout/sessions";
    let resp = idempotent(&sim, &account, &headers, path, &form, || async {
        let session = validate_session(&sim, &account, &form).await?;
        let id = session["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "checkout.session", &id, &session)
            .await
            .map_err(internal)?;
        Ok(public(session))
    })
    .await;
    Ok(resp)
}

async fn validate_session(sim: &Simulator, account: &Account, form: &Form) -> Result<Value, SimError> {
    for (k, _) in form.fields() {
        if !SESSION_PARAMS.contains(&k.as_str()) && !k.starts_with("metadata[") {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_unknown"),
                &format!("Received unknown parameter: {k}"),
                Some(k),
            ));
        }
    }
    match form.get("mode") {
        None => return Err(missing("mode")),
        Some("payment") => {}
        Some(other) => {
            return Err(invalid(
                &format!("The simulator supports mode=payment only, not '{other}'."),
                Some("mode"),
            ))
        }
    }
    let currency = form
        .get("line_items[0][price_data][currency]")
        .ok_or_else(|| missing("line_items[0][price_data][currency]"))?;
    let unit = integer(form, "line_items[0][price_data][unit_amount]")?
        .ok_or_else(|| missing("line_items[0][price_data][unit_amount]"))?;
    let quantity =
        integer(form, "line_items[0][quantity]")?.ok_or_else(|| missing("line_items[0][quantity]"))?;
    if quantity < 1 {
        return Err(invalid(
            "This value must be greater than or equal to 1.",
            Some("line_items[0][quantity]"),
        ));
    }
    if unit < 0 {
        return Err(invalid(
            "This value must be greater than or equal to 0.",
            Some("line_items[0][price_data][unit_amount]"),
        ));
    }
    let name = form
        .get("line_items[0][price_data][product_data][name]")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| missing("line_items[0][price_data][product_data][name]"))?;
    let total = unit.checked_mul(quantity).unwrap_or(i64::MAX);
    if currency != currency.to_ascii_lowercase() {
        return Err(invalid(
            &format!("Invalid currency: {currency}. Currency codes must be lowercase."),
            Some("line_items[0][price_data][currency]"),
        ));
    }
    if let Err(e) = Money::from_minor(total, currency) {
        let param = Some("line_items[0][price_data][unit_amount]");
        return Err(match e {
            MoneyError::UnknownCurrency(_) => invalid(
                &format!("Invalid currency: {currency}."),
                Some("line_items[0][price_data][currency]"),
            ),
            MoneyError::BelowMinimum {
                minimum, currency, ..
            } => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_small"),
                &format!(
                    "The Checkout Session's total amount due must add up to at least {minimum} {}",
                    currency.to_lowercase()
                ),
                param,
            ),
            MoneyError::AboveMaximum {
                maximum, currency, ..
            } => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                &format!(
                    "The Checkout Session's total amount due must be no more than {maximum} {}",
                    currency.to_lowercase()
                ),
                param,
            ),
            other => invalid(&other.to_string(), param),
        });
    }
    let success_url = url_param(form, "success_url")?.ok_or_else(|| missing("success_url"))?;
    let cancel_url = url_param(form, "cancel_url")?;
    let now = sim.now();
    let expires_at = integer(form, "expires_at")?.unwrap_or(now + 86_400);
    if expires_at < now + 1800 {
        return Err(invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    if expires_at > now + 86_400 {
        return Err(invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    if form
        .get("client_reference_id")
        .is_some_and(|c| c.chars().count() > 200)
    {
        return Err(invalid(
            "client_reference_id must be at most 200 characters.",
            Some("client_reference_id"),
        ));
    }
    let mut metadata = BTreeMap::new();
    for (k, v) in form.entries_under("metadata") {
        if k.chars().count() > 40 || v.chars().count() > 500 {
            return Err(invalid(
                "Metadata keys are at most 40 characters and values at most 500.",
                Some("metadata"),
            ));
        }
        metadata.insert(k.to_owned(), v.to_owned());
    }
    if metadata.len() > 50 {
        return Err(invalid(
            "You can have at most 50 metadata keys.",
            Some("metadata"),
        ));
    }
    let pmc = match form.get("payment_method_configuration") {
        Some(id) => {
            fetch(
                sim,
                account,
                "payment_method_configuration",
                id,
                "payment_method_configuration",
            )
            .await?;
            json!({ "id": id, "parent": null })
        }
        None => Value::Null,
    };
    let id = stripe_id("cs_test_");
    Ok(json!({
        "id": id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "open",
        "payment_status": "unpaid",
        "amount_subtotal": total,
        "amount_total": total,
        "currency": currency,
        "client_reference_id": form.get("client_reference_id"),
        "customer_email": form.get("customer_email"),
        "metadata": metadata,
        "created": now,
        "expires_at": expires_at,
        "livemode": false,
        "payment_intent": null,
        "payment_method_configuration_details": pmc,
        "success_url": success_url,
        "cancel_url": cancel_url,
        "url": format!("{}/simulator/checkout/{id}", sim.public_url),
        // Not a Stripe field: what the hosted page shows as the line item.
        "x_simulator_description": name,
    }))
}

/// Drops the simulator's private fields before a session leaves the API.
pub(crate) fn public(mut session: Value) -> Value {
    if let Some(obj) = session.as_object_mut() {
        obj.retain(|k, _| !k.starts_with("x_simulator_"));
    }
    session
}

/// The 403 a restricted key without the Checkout Sessions permission gets.
fn no_checkout(account: &Account) -> Result<(), SimError> {
    if account.no_checkout {
        return Err(stripe_error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            &format!(
                "The provided key '{}' does not have the required permissions for this endpoint on account 'acct_{}'. \
                 Having the 'rak_checkout_session_read' permission would allow this request to continue.",
                account.key_masked, account.id
            ),
            None,
        ));
    }
    Ok(())
}

/// `GET /v1/checkout/sessions`: the account's sessions, newest first (`limit`, default 10).
async fn list_sessions(
    State(state): State<SimState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    no_checkout(&account)?;
    let limit = Form::decode(uri.query().unwrap_or("").as_bytes())
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let mut all = sim
        .store
        .sim_list(&account.id, "checkout.session")
        .await
        .map_err(internal)?;
    all.reverse();
    let has_more = all.len() > limit;
    let data: Vec<Value> = all.into_iter().take(limit).map(public).collect();
    Ok(ok(
        json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/checkout/sessions" }),
    ))
}

/// `GET /v1/checkout/sessions/{id}`, with `expand[]=payment_intent` inlining the intent.
async fn retrieve_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let mut session = fetch(&sim, &account, "checkout.session", &id, "session").await?;
    let query = Form::decode(uri.query().unwrap_or("").as_bytes());
    let expand = query
        .fields()
        .iter()
        .any(|(k, v)| k.starts_with("expand[") && v == "payment_intent");
    if expand {
        if let Some(pi) = session["payment_intent"].as_str().map(str::to_owned) {
            session["payment_intent"] =
                fetch(&sim, &account, "payment_intent", &pi, "payment_intent").await?;
        }
    }
    Ok(ok(public(session)))
}

async fn expire_session(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let path = format!("/v1/checkout/sessions/{id}/expire");
    let resp = idempotent(&sim, &account, &headers, &path, &form, || async {
        fetch(&sim, &account, "checkout.session", &id, "session").await?;
        match events::expire(&sim, &account.id, &id).await {
            Ok(expired) => Ok(public(expired)),
            Err(crate::error::AppError::Conflict(message)) => Err(invalid(&message, None)),
            Err(e) => Err(internal(e)),
        }
    })
    .await;
    Ok(resp)
}

fn wallet(form: &Form, name: &str, previous: Option<&Value>) -> Result<Value, SimError> {
    let param = format!("{name}[display_preference][preference]");
    let pref = match form.get(&param) {
        Some(p @ ("on" | "off" | "none")) => p.to_owned(),
        Some(other) => {
            return Err(invalid(
                &format!("Invalid {param}: must be one of on, off, or none (got '{other}')"),
                Some(&param),
            ))
        }
        None => previous
            .and_then(|p| p["display_preference"]["preference"].as_str())
            .unwrap_or("none")
            .to_owned(),
    };
    let value = if pref == "off" { "off" } else { "on" };
    Ok(
        json!({ "available": true, "display_preference": { "overridable": null, "preference": pref, "value": value } }),
    )
}

async fn create_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let resp = idempotent(
        &sim,
        &account,
        &headers,
        "/v1/payment_method_configurations",
        &form,
        || async {
            let id = stripe_id("pmc_");
            let pmc = json!({
                "id": id,
                "object": "payment_method_configuration",
                "active": true,
                "livemode": false,
                "name": form.get("name").unwrap_or("chatpay"),
                "apple_pay": wallet(&form, "apple_pay", None)?,
                "google_pay": wallet(&form, "google_pay", None)?,
            });
            sim.store
                .sim_put(&account.id, "payment_method_configuration", &id, &pmc)
                .await
                .map_err(internal)?;
            Ok(pmc)
        },
    )
    .await;
    Ok(resp)
}

async fn update_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let path = format!("/v1/payment_method_configurations/{id}");
    let resp = idempotent(&sim, &account, &headers, &path, &form, || async {
        let mut pmc = fetch(
            &sim,
            &account,
            "payment_method_configuration",
            &id,
            "configuration",
        )
        .await?;
        pmc["apple_pay"] = wallet(&form, "apple_pay", Some(&pmc["apple_pay"]))?;
        pmc["google_pay"] = wallet(&form, "google_pay", Some(&pmc["google_pay"]))?;
        sim.store
            .sim_put(&account.id, "payment_method_configuration", &id, &pmc)
            .await
            .map_err(internal)?;
        Ok(pmc)
    })
    .await;
    Ok(resp)
}

async fn retrieve_pmc(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let pmc = fetch(
        &sim,
        &account,
        "payment_method_configuration",
        &id,
        "configuration",
    )
    .await?;
    Ok(ok(pmc))
}

/// Webhook endpoints per account (Stripe's limit too).
const MAX_ENDPOINTS: usize = 16;

async fn create_endpoint(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate_for(&headers, &Method::POST, "rak_webhook_write")?;
    let form = decode(&body)?;
    let resp = idempotent(
        &sim,
        &account,
        &headers,
        "/v1/webhook_endpoints",
        &form,
        || async {
            let asked = url_param(&form, "url")?.ok_or_else(|| missing("url"))?;
            let Some(url) = sim.may_deliver_to(&asked) else {
                return Err(invalid(
                    &format!(
                        "The chatpay simulator delivers webhooks only to this relay's webhook routes ({}/webhooks/stripe/SITE), not to {asked}.",
                        sim.public_url
                    ),
                    Some("url"),
                ));
            };
            let existing = sim
                .store
                .sim_list(&account.id, "webhook_endpoint")
                .await
                .map_err(internal)?;
            if existing.len() >= MAX_ENDPOINTS {
                return Err(invalid(
                    &format!("You have reached the maximum of {MAX_ENDPOINTS} test webhook endpoints."),
                    Some("url"),
                ));
            }
            let events: Vec<&str> = form
                .fields()
                .iter()
                .filter(|(k, _)| k.starts_with("enabled_events["))
                .map(|(_, v)| v.as_str())
                .collect();
            if events.is_empty() {
                return Err(missing("enabled_events"));
            }
            let api_version = form.get("api_version").map(str::to_owned);
            let id = stripe_id("we_");
            let endpoint = json!({
                "id": id,
                "object": "webhook_endpoint",
                "url": url,
                "enabled_events": events,
                "api_version": api_version,
                "status": "enabled",
                "livemode": false,
                "secret": stripe_id("whsec_"),
            });
            sim.store
                .sim_put(&account.id, "webhook_endpoint", &id, &endpoint)
                .await
                .map_err(internal)?;
            Ok(endpoint)
        },
    )
    .await;
    Ok(resp)
}

/// `DELETE /v1/webhook_endpoints/{id}`: the endpoint and its secret are gone.
async fn delete_endpoint(
    State(state): State<SimState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate_for(&headers, &Method::DELETE, "rak_webhook_write")?;
    let deleted = sim
        .store
        .sim_delete(&account.id, "webhook_endpoint", &id)
        .await
        .map_err(internal)?;
    if !deleted {
        return Err(stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such webhook endpoint: '{id}'"),
            Some("id"),
        ));
    }
    Ok(ok(
        json!({ "id": id, "object": "webhook_endpoint", "deleted": true }),
    ))
}

/// `GET /v1/webhook_endpoints`: the account's endpoints (never their secrets).
async fn list_endpoints(State(state): State<SimState>, headers: HeaderMap) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let data: Vec<Value> = sim
        .store
        .sim_list(&account.id, "webhook_endpoint")
        .await
        .map_err(internal)?
        .into_iter()
        .map(|mut e| {
            if let Some(o) = e.as_object_mut() {
                o.remove("secret");
            }
            e
        })
        .collect();
    Ok(ok(
        json!({ "object": "list", "url": "/v1/webhook_endpoints", "has_more": false, "data": data }),
    ))
}

async fn unknown_path(method: Method, uri: Uri) -> SimError {
    let path = uri.path().strip_prefix(BASE).unwrap_or(uri.path());
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        &format!("Unrecognized request URL ({method}: {path}). The chatpay simulator implements only the endpoints chatpay uses."),
        None,
    )
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: i64,
    #[serde(default)]
    token: Option<String>,
}

/// `GET /v1/events`: the account's events, newest first (`limit`, default 10, at most 100).
async fn list_events(
    State(state): State<SimState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::GET)?;
    let limit = Form::decode(uri.query().unwrap_or("").as_bytes())
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let mut all = sim.store.sim_list(&account.id, "event").await.map_err(internal)?;
    all.reverse();
    let has_more = all.len() > limit;
    let data: Vec<Value> = all.into_iter().take(limit).collect();
    Ok(ok(
        json!({ "object": "list", "data": data, "has_more": has_more, "url": "/v1/events" }),
    ))
}

/// `POST /v1/refunds`: refunds a whole PaymentIntent of a completed, paid session once.
async fn create_refund(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let account = authenticate(&headers, &Method::POST)?;
    let form = decode(&body)?;
    let resp = idempotent(&sim, &account, &headers, "/v1/refunds", &form, || async {
        for (k, _) in form.fields() {
            if !["payment_intent", "reason", "amount"].contains(&k.as_str()) && !k.starts_with("metadata[") {
                return Err(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("parameter_unknown"),
                    &format!("Received unknown parameter: {k}"),
                    Some(k),
                ));
            }
        }
        let pi = form
            .get("payment_intent")
            .ok_or_else(|| missing("payment_intent"))?;
        let reason = form.get("reason");
        if reason.is_some_and(|r| !["duplicate", "fraudulent", "requested_by_customer"].contains(&r)) {
            return Err(invalid(
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                Some("reason"),
            ));
        }
        let mut session = sim
            .store
            .sim_list(&account.id, "checkout.session")
            .await
            .map_err(internal)?
            .into_iter()
            .find(|s| s["payment_intent"] == pi && s["payment_status"] == "paid")
            .ok_or_else(|| not_found("payment_intent", pi, "payment_intent"))?;
        if session["x_simulator_refunded"] == true {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                &format!("Charge for {pi} has already been refunded."),
                None,
            ));
        }
        let refund = json!({
            "id": stripe_id("re_"),
            "object": "refund",
            "amount": session["amount_total"],
            "currency": session["currency"],
            "payment_intent": pi,
            "reason": reason,
            "status": "succeeded",
            "created": sim.now(),
        });
        let id = refund["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "refund", &id, &refund)
            .await
            .map_err(internal)?;
        session["x_simulator_refunded"] = json!(true);
        let sid = session["id"].as_str().unwrap_or_default().to_owned();
        sim.store
            .sim_put(&account.id, "checkout.session", &sid, &session)
            .await
            .map_err(internal)?;
        Ok(refund)
    })
    .await;
    Ok(resp)
}

/// Moves the simulator's clock forward and expires what became due (tests and demos).
async fn advance_clock(
    State(state): State<SimState>,
    headers: HeaderMap,
    Query(q): Query<Advance>,
) -> Result<Response, SimError> {
    let sim = Arc::clone(&state.sim);
    let token = headers
        .get("x-simulator-token")
        .and_then(|v| v.to_str().ok())
        .or(q.token.as_deref())
        .unwrap_or("");
    if !sim.token_ok(token) {
        return Err(stripe_error(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            None,
            "The simulator's clock needs the token the relay printed at start (X-Simulator-Token header or ?token=).",
            None,
        ));
    }
    sim.advance(q.seconds);
    events::expire_due_sessions(&sim).await.map_err(internal)?;
    Ok(Json(json!({ "now": sim.now() })).into_response())
}
